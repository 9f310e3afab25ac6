"""template.yaml is valid, deployable (moto CloudFormation) and in step with the code."""

from __future__ import annotations

import copy
import importlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import pytest
from cfnlint.decode import cfn_yaml
from moto import mock_aws
from samtranslator.translator.transform import transform

from infra import template_gen
from store.db import table_schema
from store.models import ALL_MODELS

ROOT = Path(__file__).resolve().parents[2]
STACK = "wisp-ci"


@pytest.fixture(scope="module")
def template() -> dict:
    return cfn_yaml.load(str(ROOT / "template.yaml"))


def test_template_is_generated_from_the_current_code():
    # Tables come from the pynamodb models and API methods from Chalice's route table
    assert (ROOT / "template.yaml").read_text() == template_gen.render(), "run `make template`"


def test_cfn_lint_reports_no_errors():
    proc = subprocess.run(
        [sys.executable, "-m", "cfnlint", str(ROOT / "template.yaml")], capture_output=True, text=True
    )
    # cfn-lint exit codes: 2 = errors (4 = warnings, 8 = informational)
    assert proc.returncode & 2 == 0, proc.stdout + proc.stderr


def _template_routes(template: dict) -> set[tuple[str, str]]:
    res = template["Resources"]

    def path_of(ref: object) -> str:
        if isinstance(ref, dict) and "Ref" in ref:
            props = res[ref["Ref"]]["Properties"]
            return path_of(props["ParentId"]) + "/" + props["PathPart"]
        return ""  # the API root

    return {
        (path_of(r["Properties"]["ResourceId"]), str(r["Properties"]["HttpMethod"]))
        for r in res.values()
        if r["Type"] == "AWS::ApiGateway::Method"
    }


def test_template_exposes_exactly_the_chalice_routes(template):
    assert _template_routes(template) == set(template_gen.api_routes())


def test_every_handler_in_the_template_exists(template):
    for name, res in template["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        module, _, attr = res["Properties"]["Handler"].rpartition(".")
        assert callable(getattr(importlib.import_module(module), attr)), f"{name}: {module}.{attr}"


def test_udp_listeners_left_out_of_the_moto_deploy_are_correct_in_the_template(template):
    res = template["Resources"]
    for name, port in (("RadiusAuthListener", 1812), ("RadiusAcctListener", 1813)):
        props = res[name]["Properties"]
        assert props["Protocol"] == "UDP" and props["Port"] == port
        assert props["LoadBalancerArn"] == {"Ref": "RadiusLoadBalancer"}
        tg = props["DefaultActions"][0]["TargetGroupArn"]["Ref"]
        assert res[tg]["Properties"]["Protocol"] == "UDP" and res[tg]["Properties"]["Port"] == port
    assert res["RadiusLoadBalancer"]["Properties"]["Type"] == "network"


def _translated(template: dict) -> dict:
    tpl = copy.deepcopy(template)
    tpl["Globals"]["Function"]["CodeUri"] = "s3://wisp-artifacts/functions.zip"

    class _NoManagedPolicies:
        def load(self) -> dict:
            return {}

    out = transform(tpl, {}, _NoManagedPolicies())
    resources = out["Resources"]
    for name in template_gen.UDP_LISTENERS:
        del resources[name]
    for res in resources.values():
        deps = res.get("DependsOn")
        if isinstance(deps, list):
            res["DependsOn"] = [d for d in deps if d not in template_gen.UDP_LISTENERS]
            if not res["DependsOn"]:
                del res["DependsOn"]
    return out


@pytest.mark.slow
def test_stack_deploys_to_moto_with_the_tables_the_models_use(template, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="wisp-artifacts")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("api/app.py", "app = None\n")
        s3.put_object(Bucket="wisp-artifacts", Key="functions.zip", Body=buf.getvalue())
        translated = _translated(template)
        cf = boto3.client("cloudformation", region_name="us-east-1")
        cf.create_stack(
            StackName=STACK,
            TemplateBody=json.dumps(translated),
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        stack = cf.describe_stacks(StackName=STACK)["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")

        # Nothing else was left out: every translated resource exists in the stack
        created = set()
        for page in cf.get_paginator("list_stack_resources").paginate(StackName=STACK):
            created |= {
                r["LogicalResourceId"]
                for r in page["StackResourceSummaries"]
                if r["ResourceStatus"] == "CREATE_COMPLETE"
            }
        assert set(translated["Resources"]) - created == set()

        ddb = boto3.client("dynamodb", region_name="us-east-1")
        for model in ALL_MODELS:
            name = f"{STACK}-{model.Meta.base_name}"
            desc = ddb.describe_table(TableName=name)["Table"]
            want = table_schema(model)
            assert desc["KeySchema"] == want["KeySchema"], name
            assert (
                sorted(desc["AttributeDefinitions"], key=lambda a: a["AttributeName"])
                == want["AttributeDefinitions"]
            )
            got_gsis = sorted(
                (
                    {
                        "IndexName": g["IndexName"],
                        "KeySchema": g["KeySchema"],
                        "Projection": {"ProjectionType": g["Projection"]["ProjectionType"]},
                    }
                    for g in desc.get("GlobalSecondaryIndexes", [])
                ),
                key=lambda g: g["IndexName"],
            )
            assert got_gsis == want.get("GlobalSecondaryIndexes", []), name


def test_api_index_in_docs_is_current():
    from infra import api_index

    assert api_index.DOC_PATH.read_text() == api_index.render(), "run `make template`"
