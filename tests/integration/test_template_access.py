"""Least privilege: each function's role (and the RADIUS task's) grants the table access its code has,
derived from the store calls the code can reach, and nothing more."""

from __future__ import annotations

from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

from infra.access import DELETE_ACTIONS, WRITE_ACTIONS, package_access
from infra.package import all_packages

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict:
    return cfn_yaml.load(str(ROOT / "template.yaml"))


def _tables(template: dict) -> dict[str, str]:
    """Table logical id → base name."""
    out = {}
    for lid, r in template["Resources"].items():
        if r["Type"] == "AWS::DynamoDB::Table":
            out[lid] = r["Properties"]["TableName"]["Fn::Sub"].removeprefix("${AWS::StackName}-")
    return out


def _statements(template: dict, name: str) -> list[dict]:
    res = template["Resources"]
    if name == "radius":
        return res["RadiusTaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    out = []
    for policy in res[name]["Properties"]["Policies"]:
        out += policy.get("Statement", [])
    return out


def granted(template: dict, name: str) -> dict[str, set[str]]:
    """Table base name → DynamoDB actions the role allows (read from template.yaml)."""
    tables = _tables(template)
    out: dict[str, set[str]] = {}
    for st in _statements(template, name):
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        if not any(a.startswith("dynamodb:") for a in actions):
            continue
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        for ref in resources:
            lid = ref["Fn::GetAtt"][0] if "Fn::GetAtt" in ref else ref["Fn::Sub"][2:].split(".")[0]
            assert lid in tables, f"{name}: {ref} is not a table of the stack (no wildcard table access)"
            out.setdefault(tables[lid], set()).update(actions)
    return out


@pytest.mark.parametrize("pkg", all_packages(), ids=lambda p: p.name)
def test_each_role_grants_exactly_the_table_access_of_its_code(template, pkg):
    access = package_access(pkg)
    want = {t: set(access.actions(t)) for t in access.tables}
    assert granted(template, pkg.name) == want


def test_one_role_per_function(template):
    functions = [n for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]
    assert {p.name for p in all_packages()} == {*functions, "radius"}
    for fn in functions:
        assert "Role" not in template["Resources"][fn]["Properties"]  # SAM makes one role from its policies


def test_the_radius_task_reads_the_catalogue_and_writes_only_subscribers_sessions_and_reboots(template):
    g = granted(template, "radius")
    assert {"subscribers", "policies", "products", "gateways", "sessions"} <= set(g)
    writes = {t for t, actions in g.items() if set(WRITE_ACTIONS) & actions}
    # gateways: the Accounting-On of a rebooted router is recorded on its gateway; vouchers: a card whose
    # login starts its first session is marked used; usage_hours: hourly traffic of modulated policies;
    # tallies: the totals counters (first use, first/last open session)
    assert writes == {"subscribers", "sessions", "gateways", "vouchers", "usage_hours", "tallies"}
    assert not any(set(DELETE_ACTIONS) & actions for actions in g.values())
    assert "audit" not in g and "operators" not in g and "invoices" not in g


def test_no_function_deletes_the_audit_log_and_the_notice_run_keeps_operators(template):
    for pkg in all_packages():
        g = granted(template, pkg.name)
        assert "dynamodb:DeleteItem" not in g.get("audit", set()), pkg.name
    notice = granted(template, "NoticeRunFunction")
    assert "dynamodb:DeleteItem" not in notice.get("operators", set())
    assert not set(WRITE_ACTIONS) & notice.get("operators", set())
    # functions that never record an audit entry cannot write the log
    for name in ("SessionReaperFunction", "ModulationRunFunction", "VpnPeersFunction"):
        assert not set(WRITE_ACTIONS) & granted(template, name).get("audit", set()), name


def test_the_peer_source_only_reads(template):
    g = granted(template, "VpnPeersFunction")
    assert "gateways" in g
    for table, actions in g.items():
        assert not (set(WRITE_ACTIONS) | set(DELETE_ACTIONS)) & actions, table
