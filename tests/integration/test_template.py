"""template.yaml is valid, deployable (moto CloudFormation) and in step with the code."""

from __future__ import annotations

import copy
import importlib
import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import pytest
from cfnlint.decode import cfn_yaml
from moto import mock_aws
from samtranslator.translator.transform import transform

from infra.template import api, build, radius
from store.db import table_schema
from store.models import ALL_MODELS

ROOT = Path(__file__).resolve().parents[2]
STACK = "wisp-ci"


@pytest.fixture(scope="module")
def template() -> dict:
    return cfn_yaml.load(str(ROOT / "template.yaml"))


def test_template_is_generated_from_the_current_code():
    # Tables come from the pynamodb models and API methods from Chalice's route table
    assert (ROOT / "template.yaml").read_text() == build.render(), "run `make template`"


def test_cfn_lint_reports_no_errors():
    proc = subprocess.run(
        [sys.executable, "-m", "cfnlint", str(ROOT / "template.yaml")], capture_output=True, text=True
    )
    # cfn-lint exit codes: 2 = errors (4 = warnings, 8 = informational)
    assert proc.returncode & 2 == 0, proc.stdout + proc.stderr


def test_api_is_one_proxy_in_front_of_the_chalice_router(template):
    res = template["Resources"]
    api_types = [r["Type"] for r in res.values() if r["Type"].startswith("AWS::ApiGateway::")]
    want = ["RestApi", "Resource", "Method", "Method", "Deployment", "Stage"]
    assert sorted(api_types) == sorted(f"AWS::ApiGateway::{t}" for t in want)
    assert res["ApiProxyResource"]["Properties"]["PathPart"] == "{proxy+}"
    for name in ("ApiRootMethod", "ApiProxyMethod"):
        props = res[name]["Properties"]
        assert props["HttpMethod"] == "ANY"
        assert props["Integration"]["Type"] == "AWS_PROXY"
        assert "${ApiFunction.Arn}" in props["Integration"]["Uri"]["Fn::Sub"]
    # every route of the code is below the root, so the greedy proxy reaches it
    routes = api.api_routes()
    assert len(routes) > 100 and all(path.startswith("/") and len(path) > 1 for path, _ in routes)


def test_the_stage_follows_every_change_of_the_api_definition(monkeypatch):
    def deployment(resources: dict) -> str:
        (name,) = [k for k, v in resources.items() if v["Type"] == "AWS::ApiGateway::Deployment"]
        assert resources["ApiStage"]["Properties"]["DeploymentId"] == {"Ref": name}
        return name

    before = deployment(api.api_resources())
    original = api._proxy_method

    def changed(resource):
        out = original(resource)
        out["Properties"]["ApiKeyRequired"] = True
        return out

    monkeypatch.setattr(api, "_proxy_method", changed)
    assert deployment(api.api_resources()) != before


def test_stack_stays_well_under_the_resource_limit(template, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    count = len(_sam_transform(template)["Resources"])
    assert count < 300, count


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


# Resource types moto's CloudFormation cannot create: the deploy test leaves them out (references to
# them become placeholders); the other tests here check them in the template itself.
MOTO_UNSUPPORTED = {
    "AWS::ApiGateway::Stage",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::CloudFront::Distribution",
    "AWS::CloudFront::Function",
    "AWS::CloudFront::OriginAccessControl",
    "AWS::CloudWatch::Alarm",
    "AWS::EC2::EIPAssociation",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::Subscription",
}
# attributes moto does not resolve (the dashboard's metric dimensions)
MOTO_NO_ATTRIBUTE = {"TargetGroupFullName", "LoadBalancerFullName"}


def _without(node: object, gone: set[str]) -> object:
    """``node`` with every Ref/GetAtt/Sub reference to a resource in ``gone`` replaced by a placeholder."""
    if isinstance(node, dict):
        if "Ref" in node and node["Ref"] in gone:
            return f"placeholder-{node['Ref'].lower()}"
        if "Fn::GetAtt" in node and (
            node["Fn::GetAtt"][0] in gone or node["Fn::GetAtt"][1] in MOTO_NO_ATTRIBUTE
        ):
            return "placeholder.example.com"
        if "Fn::Sub" in node and isinstance(node["Fn::Sub"], str):
            text = node["Fn::Sub"]
            for name in gone:
                text = re.sub(r"\$\{" + name + r"(\.[A-Za-z]+)?\}", "placeholder", text)
            for attr in MOTO_NO_ATTRIBUTE:
                text = re.sub(r"\$\{[A-Za-z0-9]+\." + attr + r"\}", "placeholder", text)
            return {"Fn::Sub": text}
        return {k: _without(v, gone) for k, v in node.items()}
    if isinstance(node, list):
        return [_without(v, gone) for v in node]
    return node


def _sam_transform(template: dict) -> dict:
    """What CloudFormation deploys: the template after the SAM transform."""
    tpl = copy.deepcopy(template)
    for res in tpl["Resources"].values():
        if res["Type"] == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = "s3://wisp-artifacts/functions.zip"

    class _NoManagedPolicies:
        def load(self) -> dict:
            return {}

    return transform(tpl, {}, _NoManagedPolicies())


def _translated(template: dict) -> dict:
    out = _sam_transform(template)
    resources = out["Resources"]
    gone = set(radius.UDP_LISTENERS) | {
        name for name, res in resources.items() if res["Type"] in MOTO_UNSUPPORTED
    }
    for name in gone:
        del resources[name]
    out = _without(out, gone)  # type: ignore[assignment]
    # CloudFormation generates lower-case repository names; moto keeps the logical id's capitals
    out["Resources"]["RadiusRepository"]["Properties"]["RepositoryName"] = f"{STACK}-radius"
    for res in out["Resources"].values():
        deps = res.get("DependsOn")
        if isinstance(deps, list):
            res["DependsOn"] = [d for d in deps if d not in gone]
            if not res["DependsOn"]:
                del res["DependsOn"]
        elif isinstance(deps, str) and deps in gone:
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
                        "Projection": {
                            k: sorted(v) if isinstance(v, list) else v for k, v in g["Projection"].items()
                        },
                    }
                    for g in desc.get("GlobalSecondaryIndexes", [])
                ),
                key=lambda g: g["IndexName"],
            )
            for g in want.get("GlobalSecondaryIndexes", []):
                if "NonKeyAttributes" in g["Projection"]:
                    g["Projection"]["NonKeyAttributes"] = sorted(g["Projection"]["NonKeyAttributes"])
            assert got_gsis == want.get("GlobalSecondaryIndexes", []), name


def test_api_index_in_docs_is_current():
    from infra import api_index

    assert api_index.DOC_PATH.read_text() == api_index.render(), "run `make template`"
