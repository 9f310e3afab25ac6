"""Capacity of the tables in template.yaml: the accounting tables run on-demand or provisioned with auto
scaling of the table and of every index (a stack parameter); every other table stays on-demand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.decode import cfn_yaml

from infra.template.capacity import ACCOUNTING_TABLES, PROVISIONED
from infra.template.tables import table_logical_id

ROOT = Path(__file__).resolve().parents[2]
DIMENSIONS = ("ReadCapacityUnits", "WriteCapacityUnits")


@pytest.fixture(scope="module")
def template() -> dict:
    return cfn_yaml.load(str(ROOT / "template.yaml"))


def _resolve(node: Any, provisioned: bool) -> Any:
    """The template's value with the capacity condition decided (``Fn::If`` / ``AWS::NoValue``)."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"} and node["Fn::If"][0] == PROVISIONED:
            return _resolve(node["Fn::If"][1 if provisioned else 2], provisioned)
        out = {k: _resolve(v, provisioned) for k, v in node.items()}
        return {k: v for k, v in out.items() if v != {"Ref": "AWS::NoValue"}}
    if isinstance(node, list):
        return [_resolve(v, provisioned) for v in node]
    return node


def _scaling(template: dict, resource_id: str) -> dict[str, tuple[dict, dict]]:
    """Scalable targets (with their policies) of one table or index, by scalable dimension."""
    res = template["Resources"]
    out: dict[str, tuple[dict, dict]] = {}
    for name, target in res.items():
        if target["Type"] != "AWS::ApplicationAutoScaling::ScalableTarget":
            continue
        if target["Properties"]["ResourceId"] != {"Fn::Sub": resource_id}:
            continue
        policies = [
            p
            for p in res.values()
            if p["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"
            and p["Properties"]["ScalingTargetId"] == {"Ref": name}
        ]
        assert len(policies) == 1, name
        out[target["Properties"]["ScalableDimension"]] = (target, policies[0])
    return out


def test_accounting_tables_scale_reads_and_writes_of_the_table_and_every_index(template):
    params = template["Parameters"]
    assert params["AccountingCapacityMode"]["AllowedValues"] == ["PAY_PER_REQUEST", "PROVISIONED"]
    assert params["AccountingTargetUtilization"]["Default"] == 70
    for base in ACCOUNTING_TABLES:
        logical = table_logical_id(base)
        table = template["Resources"][logical]["Properties"]
        assert table["BillingMode"] == {"Ref": "AccountingCapacityMode"}, base
        indexes = [g["IndexName"] for g in table.get("GlobalSecondaryIndexes", [])]
        if base != "usage_hours":
            assert indexes, base  # subscribers and sessions are read through indexes
        for index in [None, *indexes]:
            kind = "index" if index else "table"
            resource = f"table/${{{logical}}}" + (f"/index/{index}" if index else "")
            found = _scaling(template, resource)
            assert set(found) == {f"dynamodb:{kind}:{d}" for d in DIMENSIONS}, resource
            for dimension, (target, policy) in found.items():
                unit = "Read" if dimension.endswith("ReadCapacityUnits") else "Write"
                assert target["Condition"] == policy["Condition"] == PROVISIONED
                props = target["Properties"]
                assert props["ServiceNamespace"] == "dynamodb"
                assert props["MaxCapacity"] == {"Ref": f"Accounting{'Max'}{unit}Units"}
                least = "AccountingIndexMinUnits" if index else f"AccountingMin{unit}Units"
                assert props["MinCapacity"] == {"Ref": least}
                tracking = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
                assert policy["Properties"]["PolicyType"] == "TargetTrackingScaling"
                assert tracking["TargetValue"] == {"Ref": "AccountingTargetUtilization"}
                metric = tracking["PredefinedMetricSpecification"]["PredefinedMetricType"]
                assert metric == f"DynamoDB{unit}CapacityUtilization", resource


def test_provisioned_tables_give_the_table_and_every_index_a_starting_throughput(template):
    for base in ACCOUNTING_TABLES:
        raw = template["Resources"][table_logical_id(base)]["Properties"]
        on_demand, provisioned = _resolve(raw, False), _resolve(raw, True)
        assert "ProvisionedThroughput" not in on_demand
        assert all("ProvisionedThroughput" not in g for g in on_demand.get("GlobalSecondaryIndexes", []))
        assert provisioned["ProvisionedThroughput"] == {
            "ReadCapacityUnits": {"Ref": "AccountingMinReadUnits"},
            "WriteCapacityUnits": {"Ref": "AccountingMinWriteUnits"},
        }
        for gsi in provisioned.get("GlobalSecondaryIndexes", []):
            assert set(gsi["ProvisionedThroughput"]) == set(DIMENSIONS), gsi["IndexName"]


def test_every_other_table_stays_on_demand_without_scaling(template):
    res = template["Resources"]
    scaled = {
        r["Properties"]["ResourceId"]["Fn::Sub"].split("/")[1].strip("${}")
        for r in res.values()
        if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
    }
    assert scaled == {table_logical_id(b) for b in ACCOUNTING_TABLES}
    for name, r in res.items():
        if r["Type"] == "AWS::DynamoDB::Table" and name not in scaled:
            assert r["Properties"]["BillingMode"] == "PAY_PER_REQUEST", name
            assert "ProvisionedThroughput" not in r["Properties"], name


def test_cfn_lint_reports_no_errors_with_provisioned_accounting_tables(template, tmp_path):
    # the scaling resources exist only under the PROVISIONED condition: lint the stack with it as default
    text = (ROOT / "template.yaml").read_text()
    doc = yaml.safe_load(text)
    doc["Parameters"]["AccountingCapacityMode"]["Default"] = "PROVISIONED"
    path = tmp_path / "provisioned.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=120))
    proc = subprocess.run([sys.executable, "-m", "cfnlint", str(path)], capture_output=True, text=True)
    assert proc.returncode & 2 == 0, proc.stdout + proc.stderr
