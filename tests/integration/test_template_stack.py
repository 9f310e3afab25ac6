"""The deployable stack runs and survives: schedules, retention, RADIUS service, VPN hub, alarms, web."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

from infra.local import scheduler
from infra.template import hub, web
from infra.template.functions import FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict:
    return cfn_yaml.load(str(ROOT / "template.yaml"))


@pytest.fixture(scope="module")
def res(template) -> dict:
    return template["Resources"]


# ---------------------------------------------------------------- schedules (issue 12, item 18)
def _local_jobs(monkeypatch) -> set[str]:
    """The jobs the local scheduler runs: one tick of ``run_scheduler`` with every operation recorded."""
    seen: set[str] = set()

    class _Stop(threading.Event):
        def wait(self, timeout=None):  # one tick, then stop
            self.set()
            return True

    monkeypatch.setattr(scheduler, "run_modulation_now", lambda rt, now: seen.add("modulation"))
    monkeypatch.setattr(scheduler, "reap_stale_sessions", lambda rt, now: seen.add("reaper"))
    monkeypatch.setattr(
        scheduler, "run_billing_once", lambda rt, now=None: seen.update(scheduler_billing_jobs()) or {}
    )
    scheduler.run_scheduler(object(), _Stop(), interval_s=0, billing_every_s=0)  # type: ignore[arg-type]
    return seen


def scheduler_billing_jobs() -> set[str]:
    # the billing runs report one entry per job; with no usable runtime each one fails and is logged
    return set(ORIGINAL_RUN_BILLING_ONCE(object()))  # type: ignore[arg-type]


ORIGINAL_RUN_BILLING_ONCE = scheduler.run_billing_once


def test_every_job_of_the_local_scheduler_is_a_scheduled_function(res, monkeypatch):
    jobs = _local_jobs(monkeypatch)
    assert {"modulation", "reaper", "invoices", "promise_expiry", "inactivity"} <= jobs
    assert jobs == set(scheduler.CLOUD_HANDLERS), "a local job without a cloud handler (or the reverse)"
    scheduled = {
        r["Properties"]["Handler"]
        for r in res.values()
        if r["Type"] == "AWS::Serverless::Function" and "Schedule" in (r["Properties"].get("Events") or {})
    }
    for job, handler in scheduler.CLOUD_HANDLERS.items():
        assert handler in scheduled, f"local job {job} ({handler}) is not deployed"
        module, _, name = handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name))


# ---------------------------------------------------------------- re-deploys
def test_stateful_resources_are_retained_except_when_a_first_create_fails(res):
    stateful = [
        n for n, r in res.items() if r["Type"] in ("AWS::DynamoDB::Table", "AWS::KMS::Key", "AWS::S3::Bucket")
    ]
    assert len(stateful) > 20
    for name in stateful:
        assert res[name]["DeletionPolicy"] == "RetainExceptOnCreate", name
    assert not any(r.get("DeletionPolicy") == "Retain" for r in res.values())
    # retained resources with a fixed name would collide on the next create
    assert "BucketName" not in res["DocumentsBucket"]["Properties"]
    assert "BucketName" not in res["WebBucket"]["Properties"]


# ---------------------------------------------------------------- RADIUS
def test_radius_service_rolls_back_a_bad_image_and_runs_the_stacks_image(res, template):
    svc = res["RadiusService"]["Properties"]
    assert svc["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    image = res["RadiusTaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Image"]["Fn::If"]
    assert image[0] == "HasRadiusImage"
    assert "${RadiusRepository}:${RadiusImageTag}" in image[1]["Fn::Sub"]
    assert svc["DesiredCount"] == {"Fn::If": ["HasRadiusImage", {"Ref": "RadiusTaskCount"}, 0]}
    assert template["Parameters"]["RadiusImageTag"]["Default"] == ""


def test_radius_tasks_are_private_and_reachable_only_from_the_load_balancer(res):
    net = res["RadiusService"]["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert net["AssignPublicIp"] == "DISABLED"
    assert net["Subnets"] == [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}]
    for rule in res["RadiusSecurityGroup"]["Properties"]["SecurityGroupIngress"]:
        assert rule == {**rule, "SourceSecurityGroupId": {"Ref": "RadiusLoadBalancerSecurityGroup"}}
        assert "CidrIp" not in rule
    assert res["RadiusLoadBalancer"]["Properties"]["SecurityGroups"] == [
        {"Ref": "RadiusLoadBalancerSecurityGroup"}
    ]
    lb_rules = res["RadiusLoadBalancerSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert lb_rules == [{"IpProtocol": "udp", "FromPort": 1812, "ToPort": 1813, "CidrIp": {"Ref": "VpnCidr"}}]
    # private subnets reach ECR and logs without a NAT
    for name in ("EcrApiEndpoint", "EcrDockerEndpoint", "LogsEndpoint", "S3Endpoint"):
        assert name in res


def test_radius_image_installs_only_what_radius_imports():
    dockerfile = (ROOT / "radius_container" / "Dockerfile").read_text()
    assert "radius_container/requirements.txt" in dockerfile
    reqs = (ROOT / "radius_container" / "requirements.txt").read_text()
    for absent in ("chalice", "reportlab", "openpyxl", "pillow", "pydantic", "qrcode", "librouteros"):
        assert absent not in reqs, absent
    assert "pyrad" in reqs and "pynamodb" in reqs


# ---------------------------------------------------------------- VPN hub
def test_vpn_hub_image_access_and_recovery(res, template):
    assert template["Parameters"]["VpnHubImageId"] == {
        **template["Parameters"]["VpnHubImageId"],
        "Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
        "Default": hub.HUB_AMI_PARAMETER,
    }
    inst = res["VpnHubInstance"]["Properties"]
    assert "KeyName" not in inst  # no SSH: Session Manager
    role = res["VpnHubRole"]["Properties"]
    assert any("AmazonSSMManagedInstanceCore" in str(a) for a in role["ManagedPolicyArns"])
    sg = res["VpnSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert not any(r["IpProtocol"] == "tcp" and r["FromPort"] <= 22 <= r["ToPort"] for r in sg)
    actions = res["VpnHubRecoveryAlarm"]["Properties"]["AlarmActions"]
    assert {"Fn::Sub": "arn:${AWS::Partition}:automate:${AWS::Region}:ec2:recover"} in actions
    # the hub pulls its peers from the function; the functions read the key the hub publishes
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert {
        "Effect": "Allow",
        "Action": "lambda:InvokeFunction",
        "Resource": {"Fn::GetAtt": ["VpnPeersFunction", "Arn"]},
    } in statements
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["WISP_VPN_HUB_KEY_PARAMETER"] == {"Fn::Sub": "/wispcloud/${AWS::StackName}/vpn/hub-public-key"}
    assert "hub-public-key" in str(statements)


def test_vpn_hub_configuration_survives_a_reboot():
    data = hub.hub_user_data()
    assert "systemctl enable --now wisp-hub.service wisp-hub-sync.timer" in data
    assert "WantedBy=multi-user.target" in hub.HUB_UNITS["wisp-hub.service"]
    assert "OnUnitActiveSec=30s" in hub.HUB_UNITS["wisp-hub-sync.timer"]
    # RADIUS goes to the load balancer by name, resolved on every sync
    assert "RADIUS_NAME=${RadiusLoadBalancer.DNSName}" in data
    assert 'getent ahostsv4 "$RADIUS_NAME"' in hub.HUB_SYNC
    assert "wg syncconf wg0" in hub.HUB_SYNC


@pytest.mark.parametrize("script", ["HUB_UP", "HUB_SYNC"])
def test_vpn_hub_scripts_are_valid_bash(script, tmp_path):
    path = tmp_path / "script.sh"
    path.write_text(getattr(hub, script))
    proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    user_data = tmp_path / "user-data.sh"
    user_data.write_text(hub.hub_user_data())
    assert subprocess.run(["bash", "-n", str(user_data)]).returncode == 0


# ---------------------------------------------------------------- operations
def test_every_function_has_alarms_and_logs_that_expire(res):
    functions = [n for n, r in res.items() if r["Type"] == "AWS::Serverless::Function"]
    assert len(functions) == len(FUNCTIONS)
    for fn in functions:
        props = res[fn]["Properties"]
        group = props["LoggingConfig"]["LogGroup"]["Ref"]
        assert res[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        for kind in ("Errors", "Throttles"):
            alarm = res[f"{fn}{kind}Alarm"]["Properties"]
            assert alarm["MetricName"] == kind and alarm["Dimensions"] == [
                {"Name": "FunctionName", "Value": {"Ref": fn}}
            ]
    assert res["RadiusLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    for name in (
        "ProvisionDeadLetterAlarm",
        "RadiusAuthUnhealthyAlarm",
        "RadiusAcctUnhealthyAlarm",
        "VpnHubRecoveryAlarm",
        "VpnHubSyncAlarm",
        "EmailBounceAlarm",
    ):
        assert res[name]["Type"] == "AWS::CloudWatch::Alarm"
    for name, r in res.items():
        if r["Type"] == "AWS::CloudWatch::Alarm":
            assert {"Ref": "AlarmTopic"} in r["Properties"]["AlarmActions"], name
    assert res["Dashboard"]["Type"] == "AWS::CloudWatch::Dashboard"


def test_every_alarm_is_explained_in_the_operations_guide(res):
    guide = (ROOT / "docs" / "operations.md").read_text()
    for r in res.values():
        if r["Type"] == "AWS::CloudWatch::Alarm":
            section = r["Properties"]["AlarmDescription"].split("docs/operations.md: ")[1].rstrip(")")
            assert f"### {section}" in guide.lower() or f"### {section}".lower() in guide.lower(), section


# ---------------------------------------------------------------- web console
def test_console_and_api_share_one_distribution(res):
    dist = res["WebDistribution"]["Properties"]["DistributionConfig"]
    origins = {o["Id"]: o for o in dist["Origins"]}
    assert origins["api"]["OriginPath"] == "/v1"
    assert "OriginAccessControlId" in origins["web"]
    behaviours = {b["PathPattern"]: b for b in dist["CacheBehaviors"]}
    assert set(behaviours) == {"/admin/*", "/portal/*", "/health", "/openapi.json"}
    for b in behaviours.values():
        assert b["TargetOriginId"] == "api" and b["CachePolicyId"] == web.CACHING_DISABLED
        assert "POST" in b["AllowedMethods"]
    assert dist["DefaultCacheBehavior"]["TargetOriginId"] == "web"
    # no distribution-wide error page: the API's own 404s must reach the client as they are
    assert "CustomErrorResponses" not in dist


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize(
    ("uri", "served"),
    [
        ("/", "/index.html"),
        ("/subscribers/sub_42", "/index.html"),
        ("/my/service", "/index.html"),
        ("/my/card", "/index.html"),
        ("/assets/index-3f2a.js", "/assets/index-3f2a.js"),
        ("/favicon.ico", "/favicon.ico"),
    ],
)
def test_single_page_fallback_of_the_console(uri, served):
    code = web.WEB_REWRITE + f"console.log(handler({{request: {{uri: {uri!r}}}}}).uri);"
    out = subprocess.run(["node", "-e", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == served


# ---------------------------------------------------------------- egress to the payment providers
PROVIDER_ADAPTERS = {"services.billing.online.stripe_gateway", "services.billing.online.mercadopago_gateway"}


def test_functions_that_call_payment_providers_have_an_egress_path(res, template):
    from infra.package import lambda_packages

    callers = [p.name for p in lambda_packages() if PROVIDER_ADAPTERS <= p.closure.modules]
    assert "ApiFunction" in callers
    hub_if = {"Ref": "VpnHubInterface"}
    for lid in callers:
        vpc = res[lid]["Properties"].get("VpcConfig")
        if vpc is None:
            continue  # outside a VPC a function has Lambda's own internet access
        # every subnet of the function routes the internet to the hub's interface
        tables = {
            r["Properties"]["RouteTableId"]["Ref"]
            for r in res.values()
            if r["Type"] == "AWS::EC2::SubnetRouteTableAssociation"
            and r["Properties"]["SubnetId"] in vpc["SubnetIds"]
        }
        assert len(tables) >= 1
        for table in tables:
            defaults = [
                r["Properties"]
                for r in res.values()
                if r["Type"] == "AWS::EC2::Route"
                and r["Properties"]["RouteTableId"] == {"Ref": table}
                and r["Properties"]["DestinationCidrBlock"] == "0.0.0.0/0"
            ]
            assert [d.get("NetworkInterfaceId") for d in defaults] == [hub_if], (lid, table)
        # the hub's interface forwards, has the public address, and admits HTTPS from the function
        nic = res["VpnHubInterface"]["Properties"]
        assert nic["SourceDestCheck"] is False and nic["SubnetId"] == {"Ref": "PublicSubnetA"}
        assert res["VpnHubElasticIpAssociation"]["Properties"]["NetworkInterfaceId"] == hub_if
        ingress = res["VpnSecurityGroup"]["Properties"]["SecurityGroupIngress"]
        for group in vpc["SecurityGroupIds"]:
            assert {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "SourceSecurityGroupId": group,
            } in ingress
    # the RADIUS tasks are not let out: only the functions' group may use the NAT
    assert not any(r.get("FromPort") == 443 and "CidrIp" in r for r in ingress)
    # the hub masquerades the VPC's HTTPS out of its uplink and forwards nothing else from the VPC
    assert f"VPC_CIDR={res['Vpc']['Properties']['CidrBlock']}" in hub.hub_user_data()
    up = hub.HUB_UP
    vpc_out = '-s "$VPC_CIDR" ! -d "$VPC_CIDR" -o "$uplink"'
    accept = up.index(f"iptables -I FORWARD 1 {vpc_out} -p tcp --dport 443 -j ACCEPT")
    assert accept < up.index(f"iptables -A FORWARD {vpc_out} -j DROP")
    assert f"iptables -t nat -A POSTROUTING {vpc_out} -j MASQUERADE" in up
    assert "${" not in up  # the user data is an Fn::Sub: no shell braces
