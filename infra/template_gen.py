"""Generates ``template.yaml`` (SAM) from the code: DynamoDB tables from the pynamodb models, one
role per function with the table access its code has (``infra/access.py``), each function's code
from its import graph (``infra/package.py``), the scheduled jobs of the local scheduler, plus the
hand-written rest of the stack below.

``make template`` rewrites the file; ``tests/integration/test_template.py`` fails when the committed
template differs from what this module generates (one schema, no drift).

Usage: python -m infra.template_gen [--check]
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"
VPC_CIDR = "10.80.0.0/16"


@dataclass(frozen=True)
class Function:
    lid: str
    handler: str
    description: str
    schedule: str | None = None
    vpc: bool = False  # reaches routers through the VPN (RouterOS API, CoA/Disconnect)
    timeout: int = 900
    memory: int = 1024
    env: dict[str, str] = field(default_factory=dict)


# Every scheduled job of the local scheduler (billing_cron/scheduler.py: CLOUD_HANDLERS), the API,
# the provisioner, its sweep and the VPN hub's peer source.
FUNCTIONS: tuple[Function, ...] = (
    Function(
        "ApiFunction",
        "api.app.handle_http",
        "Admin and customer-portal HTTP API (Chalice)",
        vpc=True,  # "disconnect user" sends RFC 5176 requests to routers through the VPN
        timeout=29,
        # API Gateway and Lambda trace every request (active tracing); the X-Ray SDK's subsegments
        # are left out of the API: importing the SDK costs about a fifth of a cold start
        env={"POWERTOOLS_TRACE_DISABLED": "true"},
    ),
    Function(
        "ProvisionerFunction",
        "provisioner.handler.handle_provision_batch",
        "Applies provisioning triggers to routers through the VPN (RouterOS API)",
        vpc=True,
        timeout=300,
        memory=512,
    ),
    Function(
        "InvoiceRunFunction",
        "billing_cron.handlers.handle_invoice_run",
        "Hourly: issue internet invoices for zones whose local issue day has started",
        "cron(0 * * * ? *)",
    ),
    Function(
        "NoticeRunFunction",
        "billing_cron.handlers.handle_notice_run",
        "Hourly: payment reminders on the notice day",
        "cron(15 * * * ? *)",
    ),
    Function(
        "CutoffRunFunction",
        "billing_cron.handlers.handle_cutoff_run",
        "Hourly: suspend clients with unpaid internet invoices after the cutoff day",
        "cron(30 * * * ? *)",
    ),
    Function(
        "PromiseExpiryRunFunction",
        "billing_cron.handlers.handle_promise_expiry",
        "Hourly: suspend clients whose payment promise ran out unpaid",
        "cron(45 * * * ? *)",
    ),
    Function(
        "InactivityRunFunction",
        "billing_cron.inactivity.handle_inactivity_run",
        "Hourly: Inactive status after the tenant's grace period without a connection",
        "cron(20 * * * ? *)",
    ),
    Function(
        "SessionReaperFunction",
        "billing_cron.reaper.handle_reap_stale_sessions",
        "Closes accounting sessions whose gateway stopped sending updates",
        "rate(5 minutes)",
        vpc=True,
    ),
    Function(
        "ModulationRunFunction",
        "billing_cron.modulation.handle_modulation_run",
        "Every quarter-hour: dynamic rate modulation windows where a gateway's local hour starts "
        "(disconnect/CoA users whose rate changes)",
        "cron(0/15 * * * ? *)",
        vpc=True,
    ),
    Function(
        "RouterSweepFunction",
        "provisioner.handler.handle_sweep",
        "Reconciles every router with the system state (drift repair)",
        "rate(6 hours)",
        vpc=True,
    ),
    Function(
        "VpnPeersFunction",
        "provisioner.vpn_hub.handle_hub_peers",
        "The VPN hub's WireGuard peers (one per onboarded gateway); the hub pulls them every 30 s",
        timeout=20,
        memory=256,
    ),
)

# moto's CloudFormation cannot create non-HTTP NLB listeners; the deploy test leaves out exactly these
UDP_LISTENERS = ("RadiusAuthListener", "RadiusAcctListener")
# API paths served by the API behind the web distribution; everything else is the web console
API_PATHS = ("/admin/*", "/portal/*", "/health", "/openapi.json")
HUB_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
RETAIN = {"DeletionPolicy": "RetainExceptOnCreate", "UpdateReplacePolicy": "Retain"}
# CloudFront managed policies
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


def function_handlers() -> dict[str, str]:
    return {f.lid: f.handler for f in FUNCTIONS}


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def _ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def _getatt(name: str, attr: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, attr]}


def _logical(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text) if part)


def table_logical_id(base: str) -> str:
    return _logical(base) + "Table"


def table_resources() -> dict[str, Any]:
    from store.db import table_schema, ttl_attribute
    from store.models import ALL_MODELS

    out: dict[str, Any] = {}
    for model in ALL_MODELS:
        base = model.Meta.base_name  # type: ignore[attr-defined]
        props: dict[str, Any] = {
            # the code addresses tables as ``WISP_TABLE_PREFIX + base name``: the names stay fixed, and
            # RetainExceptOnCreate removes them again when a first create fails
            "TableName": _sub("${AWS::StackName}-" + base),
            "BillingMode": "PAY_PER_REQUEST",
            **table_schema(model),
            "SSESpecification": {"SSEEnabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        }
        ttl = ttl_attribute(model)
        if ttl:
            props["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
        out[table_logical_id(base)] = {"Type": "AWS::DynamoDB::Table", **RETAIN, "Properties": props}
    return out


def api_routes() -> list[tuple[str, str]]:
    """(path, method) for every route of the Chalice app."""
    sys.path.insert(0, str(ROOT / "functions"))
    from api.app import app

    return sorted((path, method) for path, methods in app.routes.items() for method in methods)


def _proxy_method(resource: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::ApiGateway::Method",
        "Properties": {
            "RestApiId": _ref("RestApi"),
            "ResourceId": resource,
            "HttpMethod": "ANY",
            "AuthorizationType": "NONE",
            "Integration": {
                "Type": "AWS_PROXY",
                "IntegrationHttpMethod": "POST",
                "Uri": _sub(
                    "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
                    "${ApiFunction.Arn}/invocations"
                ),
            },
        },
    }


def api_resources() -> dict[str, Any]:
    """One greedy proxy resource in front of Chalice's own router.

    Every route, its methods and its authentication live in the code (Chalice routes them in
    process), so adding a route changes no API Gateway resource and the stage never serves a stale
    route table; the API costs 6 resources instead of one per path and method (348 for 180 routes,
    most of CloudFormation's 500). The deployment's logical id still carries a hash of the API's
    definition, so any change to it (binary types, methods) reaches the stage on the next deploy.
    Unknown paths reach the function, which answers them (404)."""
    api: dict[str, Any] = {
        "RestApi": {
            "Type": "AWS::ApiGateway::RestApi",
            "Properties": {
                "Name": _sub("${AWS::StackName}-api"),
                "Description": "WispCloud admin and portal API",
                "BinaryMediaTypes": [
                    "application~1pdf",
                    "application~1octet-stream",
                    "image~1png",
                    "multipart~1form-data",
                    "application~1vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                ],
                "EndpointConfiguration": {"Types": ["REGIONAL"]},
            },
        },
        "ApiProxyResource": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "RestApiId": _ref("RestApi"),
                "ParentId": _getatt("RestApi", "RootResourceId"),
                "PathPart": "{proxy+}",
            },
        },
        "ApiRootMethod": _proxy_method(_getatt("RestApi", "RootResourceId")),
        "ApiProxyMethod": _proxy_method(_ref("ApiProxyResource")),
    }
    digest = hashlib.sha256(json.dumps(api, sort_keys=True).encode()).hexdigest()[:10]
    deployment = f"ApiDeployment{digest}"
    api[deployment] = {
        "Type": "AWS::ApiGateway::Deployment",
        "DependsOn": ["ApiRootMethod", "ApiProxyMethod"],
        "Properties": {"RestApiId": _ref("RestApi"), "Description": f"API definition {digest}"},
    }
    api["ApiStage"] = {
        "Type": "AWS::ApiGateway::Stage",
        "Properties": {
            "RestApiId": _ref("RestApi"),
            "DeploymentId": _ref(deployment),
            "StageName": "v1",
            "TracingEnabled": True,
            "MethodSettings": [
                {
                    "ResourcePath": "/*",
                    "HttpMethod": "*",
                    "MetricsEnabled": True,
                    "ThrottlingBurstLimit": 200,
                    "ThrottlingRateLimit": 100,
                }
            ],
        },
    }
    api["ApiInvokePermission"] = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": _getatt("ApiFunction", "Arn"),
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": _sub(
                "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${RestApi}/*"
            ),
        },
    }
    return api


# ---------------------------------------------------------------- least privilege
def _table_arns(base: str) -> list[Any]:
    lid = table_logical_id(base)
    return [_getatt(lid, "Arn"), _sub("${" + lid + ".Arn}/index/*")]


def access_statements(pkg: Any) -> list[dict[str, Any]]:
    """IAM statements for what the package's code touches (infra/access.py)."""
    from infra.access import package_access

    access = package_access(pkg)
    by_actions: dict[tuple[str, ...], list[str]] = {}
    for table in sorted(access.tables):
        by_actions.setdefault(tuple(access.actions(table)), []).append(table)
    out: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Action": list(actions),
            "Resource": [arn for table in tables for arn in _table_arns(table)],
        }
        for actions, tables in sorted(by_actions.items(), key=lambda kv: (-len(kv[0]), kv[1]))
    ]
    # every function opens the data key (secrets, network passwords)
    out.append(
        {
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": _getatt("DataKey", "Arn"),
        }
    )
    out.append(
        {
            "Effect": "Allow",
            "Action": ["ssm:GetParameter", "ssm:PutParameter"],
            "Resource": _sub(
                "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/wispcloud/${AWS::StackName}/data-key"
            ),
        }
    )
    if "sqs" in access.services:
        out.append(
            {
                "Effect": "Allow",
                "Action": ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"],
                "Resource": [_getatt("ProvisionQueue", "Arn"), _getatt("ProvisionDeadLetterQueue", "Arn")],
            }
        )
    if "s3" in access.services:
        out.append(
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": _sub("arn:${AWS::Partition}:s3:::${DocumentsBucket}/*"),
            }
        )
    if "ses" in access.services:
        out.append({"Effect": "Allow", "Action": ["ses:SendEmail", "ses:SendRawEmail"], "Resource": "*"})
    if "sns" in access.services:  # SMS to phone numbers: no topic to name
        out.append({"Effect": "Allow", "Action": ["sns:Publish"], "Resource": "*"})
    return out


@cache
def _packages() -> dict[str, Any]:
    from infra.package import all_packages

    return {p.name: p for p in all_packages()}


def _environment() -> dict[str, Any]:
    return {
        "WISP_STAGE": _ref("Stage"),
        "WISP_TABLE_PREFIX": _sub("${AWS::StackName}-"),
        "WISP_KMS_KEY_ID": _ref("DataKey"),
        "WISP_DATA_KEY_PARAMETER": _sub("/wispcloud/${AWS::StackName}/data-key"),
        "WISP_PROVISION_QUEUE_URL": _ref("ProvisionQueue"),
        "WISP_PROVISION_QUEUE_NAME": _getatt("ProvisionQueue", "QueueName"),
        "WISP_PROVISION_DLQ_NAME": _getatt("ProvisionDeadLetterQueue", "QueueName"),
        "WISP_PUBLIC_BASE_URL": _sub("https://${WebDistribution.DomainName}"),
        "WISP_EMAIL_SENDER": _ref("EmailSender"),
        "WISP_DOCUMENTS_BUCKET": _ref("DocumentsBucket"),
        "WISP_VPN_ENDPOINT": _sub("${VpnHubElasticIp}:51820"),
        "WISP_VPN_HUB_KEY_PARAMETER": _sub("/wispcloud/${AWS::StackName}/vpn/hub-public-key"),
        "WISP_VPN_HUB_ADDRESS": _ref("VpnHubAddress"),
        "WISP_VPN_CIDR": _ref("VpnCidr"),
        "POWERTOOLS_SERVICE_NAME": "wispcloud",
        "POWERTOOLS_METRICS_NAMESPACE": "WispCloud",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def _vpc_config() -> dict[str, Any]:
    return {
        "SubnetIds": [_ref("PrivateSubnetA"), _ref("PrivateSubnetB")],
        "SecurityGroupIds": [_ref("LambdaSecurityGroup")],
    }


def function_resources() -> dict[str, Any]:
    r: dict[str, Any] = {}
    for fn in FUNCTIONS:
        props: dict[str, Any] = {
            "Handler": fn.handler,
            "CodeUri": f"build/stage/{fn.lid}/",
            "Description": fn.description,
            "Timeout": fn.timeout,
            "MemorySize": fn.memory,
            "Policies": [{"Statement": access_statements(_packages()[fn.lid])}],
            "LoggingConfig": {"LogGroup": _ref(f"{fn.lid}LogGroup")},
        }
        if fn.env:
            props["Environment"] = {"Variables": {**_environment(), **fn.env}}
        if fn.vpc:
            props["VpcConfig"] = _vpc_config()
        if fn.schedule:
            props["Events"] = {"Schedule": {"Type": "Schedule", "Properties": {"Schedule": fn.schedule}}}
        r[fn.lid] = {"Type": "AWS::Serverless::Function", "Properties": props}
        r[f"{fn.lid}LogGroup"] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"RetentionInDays": _ref("LogRetentionDays")},
        }
    api = r["ApiFunction"]["Properties"]
    api["Description"] = "Admin and customer-portal HTTP API (Chalice)"
    prov = r["ProvisionerFunction"]["Properties"]
    prov["ReservedConcurrentExecutions"] = 5
    prov["Policies"].append({"SQSPollerPolicy": {"QueueName": _getatt("ProvisionQueue", "QueueName")}})
    prov["Events"] = {
        "Queue": {
            "Type": "SQS",
            "Properties": {
                "Queue": _getatt("ProvisionQueue", "Arn"),
                "BatchSize": 10,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
            },
        }
    }
    return r


def static_resources() -> dict[str, Any]:
    r: dict[str, Any] = {}
    r["DataKey"] = {
        "Type": "AWS::KMS::Key",
        **RETAIN,
        "Properties": {
            "Description": "WispCloud data key: wraps the key that encrypts secrets and network passwords",
            "EnableKeyRotation": True,
            "KeyPolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "AccountAdmin",
                        "Effect": "Allow",
                        "Principal": {"AWS": _sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
                        "Action": "kms:*",
                        "Resource": "*",
                    }
                ],
            },
        },
    }
    r["DocumentsBucket"] = {
        "Type": "AWS::S3::Bucket",
        **RETAIN,
        "Properties": {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": _ref("DataKey"),
                        }
                    }
                ]
            },
            "PublicAccessBlockConfiguration": _private_bucket(),
        },
    }
    r["ProvisionDeadLetterQueue"] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {
            "QueueName": _sub("${AWS::StackName}-provision-dlq.fifo"),
            "FifoQueue": True,
            "MessageRetentionPeriod": 1209600,
        },
    }
    r["ProvisionQueue"] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {
            "QueueName": _sub("${AWS::StackName}-provision.fifo"),
            "FifoQueue": True,
            "VisibilityTimeout": 360,
            "RedrivePolicy": {
                "deadLetterTargetArn": _getatt("ProvisionDeadLetterQueue", "Arn"),
                "maxReceiveCount": 5,
            },
        },
    }
    r.update(function_resources())
    r.update(network_resources())
    r.update(hub_resources())
    r.update(radius_resources())
    r.update(web_resources())
    r.update(operations_resources())
    return r


def _private_bucket() -> dict[str, bool]:
    return {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }


def network_resources() -> dict[str, Any]:
    r: dict[str, Any] = {}
    r["Vpc"] = {
        "Type": "AWS::EC2::VPC",
        "Properties": {"CidrBlock": VPC_CIDR, "EnableDnsSupport": True, "EnableDnsHostnames": True},
    }
    r["InternetGateway"] = {"Type": "AWS::EC2::InternetGateway"}
    r["GatewayAttachment"] = {
        "Type": "AWS::EC2::VPCGatewayAttachment",
        "Properties": {"VpcId": _ref("Vpc"), "InternetGatewayId": _ref("InternetGateway")},
    }
    for suffix, cidr, az in (("A", "10.80.1.0/24", 0), ("B", "10.80.2.0/24", 1)):
        r[f"PublicSubnet{suffix}"] = {
            "Type": "AWS::EC2::Subnet",
            "Properties": {
                "VpcId": _ref("Vpc"),
                "CidrBlock": cidr,
                "MapPublicIpOnLaunch": False,
                "AvailabilityZone": {"Fn::Select": [az, {"Fn::GetAZs": ""}]},
            },
        }
        r[f"PublicRouteAssoc{suffix}"] = {
            "Type": "AWS::EC2::SubnetRouteTableAssociation",
            "Properties": {
                "SubnetId": _ref(f"PublicSubnet{suffix}"),
                "RouteTableId": _ref("PublicRouteTable"),
            },
        }
    for suffix, cidr, az in (("A", "10.80.11.0/24", 0), ("B", "10.80.12.0/24", 1)):
        r[f"PrivateSubnet{suffix}"] = {
            "Type": "AWS::EC2::Subnet",
            "Properties": {
                "VpcId": _ref("Vpc"),
                "CidrBlock": cidr,
                "AvailabilityZone": {"Fn::Select": [az, {"Fn::GetAZs": ""}]},
            },
        }
        r[f"PrivateRouteAssoc{suffix}"] = {
            "Type": "AWS::EC2::SubnetRouteTableAssociation",
            "Properties": {
                "SubnetId": _ref(f"PrivateSubnet{suffix}"),
                "RouteTableId": _ref("PrivateRouteTable"),
            },
        }
    r["PublicRouteTable"] = {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": _ref("Vpc")}}
    r["PublicDefaultRoute"] = {
        "Type": "AWS::EC2::Route",
        "DependsOn": "GatewayAttachment",
        "Properties": {
            "RouteTableId": _ref("PublicRouteTable"),
            "DestinationCidrBlock": "0.0.0.0/0",
            "GatewayId": _ref("InternetGateway"),
        },
    }
    r["PrivateRouteTable"] = {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": _ref("Vpc")}}
    # Functions and RADIUS tasks (private subnets) reach routers through the WireGuard hub
    r["VpnRoute"] = {
        "Type": "AWS::EC2::Route",
        "Properties": {
            "RouteTableId": _ref("PrivateRouteTable"),
            "DestinationCidrBlock": _ref("VpnCidr"),
            "NetworkInterfaceId": _ref("VpnHubInterface"),
        },
    }
    for name, svc in (("S3Endpoint", "s3"), ("DynamoDbEndpoint", "dynamodb")):
        r[name] = {
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {
                "VpcId": _ref("Vpc"),
                "VpcEndpointType": "Gateway",
                "ServiceName": _sub("com.amazonaws.${AWS::Region}." + svc),
                "RouteTableIds": [_ref("PrivateRouteTable")],
            },
        }
    # no NAT: the private subnets reach AWS through endpoints (ECR and logs for the RADIUS tasks)
    for name, svc in (
        ("SqsEndpoint", "sqs"),
        ("KmsEndpoint", "kms"),
        ("SsmEndpoint", "ssm"),
        ("EmailEndpoint", "email"),
        ("SnsEndpoint", "sns"),
        ("EcrApiEndpoint", "ecr.api"),
        ("EcrDockerEndpoint", "ecr.dkr"),
        ("LogsEndpoint", "logs"),
    ):
        r[name] = {
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {
                "VpcId": _ref("Vpc"),
                "VpcEndpointType": "Interface",
                "PrivateDnsEnabled": True,
                "ServiceName": _sub("com.amazonaws.${AWS::Region}." + svc),
                "SubnetIds": [_ref("PrivateSubnetA"), _ref("PrivateSubnetB")],
                "SecurityGroupIds": [_ref("LambdaSecurityGroup")],
            },
        }
    r["LambdaSecurityGroup"] = {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {
            "GroupDescription": "Functions in the VPC and the AWS endpoints they use",
            "VpcId": _ref("Vpc"),
            "SecurityGroupIngress": [
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": VPC_CIDR}
            ],
        },
    }
    return r


# ---------------------------------------------------------------- VPN hub
HUB_UP = """#!/bin/bash
# Brings up wg0 (boot, restart): the key pair survives the instance in SSM, the public key is
# published for the onboarding scripts.
set -euo pipefail
umask 077
. /etc/wispcloud/hub.env
export AWS_DEFAULT_REGION=$REGION
mkdir -p /etc/wireguard /run/wispcloud
if ! aws ssm get-parameter --name "$KEY_PARAMETER" --with-decryption \\
    --query Parameter.Value --output text >/etc/wireguard/hub.key 2>/dev/null; then
  wg genkey >/etc/wireguard/hub.key
  aws ssm put-parameter --name "$KEY_PARAMETER" --type SecureString \\
    --value "$(cat /etc/wireguard/hub.key)" >/dev/null
fi
aws ssm put-parameter --name "$PUBLIC_KEY_PARAMETER" --type String --overwrite \\
  --value "$(wg pubkey </etc/wireguard/hub.key)" >/dev/null
ip link show wg0 >/dev/null 2>&1 || ip link add wg0 type wireguard
ip address replace "$HUB_ADDRESS/32" dev wg0
wg set wg0 listen-port 51820 private-key /etc/wireguard/hub.key
ip link set wg0 up
ip route replace "$VPN_CIDR" dev wg0
# functions reach routers as the hub address (the router's API user and CoA port accept only it)
iptables -t nat -C POSTROUTING -o wg0 -j MASQUERADE 2>/dev/null \\
  || iptables -t nat -A POSTROUTING -o wg0 -j MASQUERADE
"""

HUB_SYNC = """#!/bin/bash
# Every 30 s: the peers of the onboarded gateways (wg syncconf keeps the unchanged tunnels up) and
# RADIUS forwarded to the load balancer's current addresses, resolved by name.
set -euo pipefail
umask 077
. /etc/wispcloud/hub.env
export AWS_DEFAULT_REGION=$REGION
mkdir -p /run/wispcloud
aws lambda invoke --function-name "$PEERS_FUNCTION" --cli-read-timeout 25 /run/wispcloud/peers.json >/dev/null
python3 -c 'import json, sys; sys.stdout.write(json.load(open(sys.argv[1]))["config"])' \\
  /run/wispcloud/peers.json >/run/wispcloud/peers.conf
{
  printf '[Interface]\\nPrivateKey = %s\\nListenPort = 51820\\n\\n' "$(cat /etc/wireguard/hub.key)"
  cat /run/wispcloud/peers.conf
} >/run/wispcloud/wg0.conf
wg syncconf wg0 /run/wispcloud/wg0.conf
addrs=$(getent ahostsv4 "$RADIUS_NAME" | awk '{print $1}' | sort -u | tr '\\n' ' ')
if [ -n "$addrs" ] && [ "$addrs" != "$(cat /run/wispcloud/radius-addrs 2>/dev/null || true)" ]; then
  iptables -t nat -N WISP_RADIUS 2>/dev/null || true
  iptables -t nat -F WISP_RADIUS
  # shellcheck disable=SC2086
  set -- $addrs
  left=$#
  for a in "$@"; do
    if [ "$left" -gt 1 ]; then
      iptables -t nat -A WISP_RADIUS -m statistic --mode nth --every "$left" --packet 0 \\
        -j DNAT --to-destination "$a"
    else
      iptables -t nat -A WISP_RADIUS -j DNAT --to-destination "$a"
    fi
    left=$((left - 1))
  done
  echo "$addrs" >/run/wispcloud/radius-addrs
fi
iptables -t nat -C PREROUTING -i wg0 -p udp --dport 1812:1813 -j WISP_RADIUS 2>/dev/null \\
  || iptables -t nat -A PREROUTING -i wg0 -p udp --dport 1812:1813 -j WISP_RADIUS
"""

HUB_UNITS = {
    "wisp-hub.service": """[Unit]
Description=WispCloud WireGuard hub (wg0)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/wisp-hub-up
Restart=on-failure
RestartSec=10

[Install]
WantedBy=multi-user.target
""",
    "wisp-hub-sync.service": """[Unit]
Description=WispCloud hub: router peers and RADIUS forwarding
Requires=wisp-hub.service
After=wisp-hub.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/wisp-hub-sync
""",
    "wisp-hub-sync.timer": """[Unit]
Description=WispCloud hub sync every 30 seconds

[Timer]
OnBootSec=20s
OnUnitActiveSec=30s
AccuracySec=1s

[Install]
WantedBy=timers.target
""",
}


def hub_user_data() -> str:
    """First boot: packages, the scripts and systemd units; everything after runs from the units,
    on every boot."""
    parts = [
        "#!/bin/bash",
        "set -euxo pipefail",
        "dnf install -y wireguard-tools iptables-nft",
        "echo 'net.ipv4.ip_forward = 1' >/etc/sysctl.d/90-wispcloud.conf",
        "sysctl --system",
        "mkdir -p /etc/wispcloud",
        "cat >/etc/wispcloud/hub.env <<'EOF'",
        "REGION=${AWS::Region}",
        "PEERS_FUNCTION=${VpnPeersFunction}",
        "KEY_PARAMETER=/wispcloud/${AWS::StackName}/vpn/hub-private-key",
        "PUBLIC_KEY_PARAMETER=/wispcloud/${AWS::StackName}/vpn/hub-public-key",
        "HUB_ADDRESS=${VpnHubAddress}",
        "VPN_CIDR=${VpnCidr}",
        "RADIUS_NAME=${RadiusLoadBalancer.DNSName}",
        "EOF",
    ]
    for name, text in (("wisp-hub-up", HUB_UP), ("wisp-hub-sync", HUB_SYNC)):
        parts += [
            f"cat >/usr/local/sbin/{name} <<'EOF'",
            text.rstrip("\n"),
            "EOF",
            f"chmod 755 /usr/local/sbin/{name}",
        ]
    for name, text in HUB_UNITS.items():
        parts += [f"cat >/etc/systemd/system/{name} <<'EOF'", text.rstrip("\n"), "EOF"]
    parts += ["systemctl daemon-reload", "systemctl enable --now wisp-hub.service wisp-hub-sync.timer", ""]
    return "\n".join(parts)


def _assume(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def hub_resources() -> dict[str, Any]:
    r: dict[str, Any] = {}
    r["VpnSecurityGroup"] = {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {
            "GroupDescription": "WireGuard hub: routers connect here",
            "VpcId": _ref("Vpc"),
            "SecurityGroupIngress": [
                {"IpProtocol": "udp", "FromPort": 51820, "ToPort": 51820, "CidrIp": "0.0.0.0/0"},
                # forwarded to routers: RouterOS API (8728/8729), RADIUS CoA/Disconnect (3799) and the
                # RADIUS answers to the routers' requests
                {"IpProtocol": "tcp", "FromPort": 8728, "ToPort": 8729, "CidrIp": VPC_CIDR},
                {"IpProtocol": "udp", "FromPort": 0, "ToPort": 65535, "CidrIp": VPC_CIDR},
            ],
        },
    }
    r["VpnHubInterface"] = {
        "Type": "AWS::EC2::NetworkInterface",
        "Properties": {
            "SubnetId": _ref("PublicSubnetA"),
            "SourceDestCheck": False,
            "GroupSet": [_ref("VpnSecurityGroup")],
            "Description": "WireGuard hub interface (routes the VPN range)",
        },
    }
    r["VpnHubElasticIp"] = {"Type": "AWS::EC2::EIP", "Properties": {"Domain": "vpc"}}
    r["VpnHubElasticIpAssociation"] = {
        "Type": "AWS::EC2::EIPAssociation",
        "Properties": {
            "AllocationId": _getatt("VpnHubElasticIp", "AllocationId"),
            "NetworkInterfaceId": _ref("VpnHubInterface"),
        },
    }
    r["VpnHubRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": _assume("ec2.amazonaws.com"),
            # Session Manager is the way in (no SSH key, no port 22)
            "ManagedPolicyArns": [_sub("arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore")],
            "Policies": [
                {
                    "PolicyName": "vpn-hub",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["ssm:GetParameter", "ssm:PutParameter"],
                                "Resource": [
                                    _sub(
                                        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
                                        "/wispcloud/${AWS::StackName}/vpn/" + name
                                    )
                                    for name in ("hub-private-key", "hub-public-key")
                                ],
                            },
                            {
                                "Effect": "Allow",
                                "Action": "lambda:InvokeFunction",
                                "Resource": _getatt("VpnPeersFunction", "Arn"),
                            },
                        ],
                    },
                }
            ],
        },
    }
    r["VpnHubInstanceProfile"] = {
        "Type": "AWS::IAM::InstanceProfile",
        "Properties": {"Roles": [_ref("VpnHubRole")]},
    }
    r["VpnHubInstance"] = {
        "Type": "AWS::EC2::Instance",
        "Properties": {
            "ImageId": _ref("VpnHubImageId"),
            "InstanceType": _ref("VpnHubInstanceType"),
            "IamInstanceProfile": _ref("VpnHubInstanceProfile"),
            "NetworkInterfaces": [{"NetworkInterfaceId": _ref("VpnHubInterface"), "DeviceIndex": "0"}],
            "MetadataOptions": {"HttpTokens": "required"},
            "UserData": {"Fn::Base64": _sub(hub_user_data())},
            "Tags": [{"Key": "Name", "Value": _sub("${AWS::StackName}-vpn-hub")}],
        },
    }
    return r


# ---------------------------------------------------------------- RADIUS
def radius_resources() -> dict[str, Any]:
    from infra.package import radius_package

    r: dict[str, Any] = {}
    r["RadiusRepository"] = {
        "Type": "AWS::ECR::Repository",
        "Properties": {
            "EmptyOnDelete": True,
            "ImageScanningConfiguration": {"ScanOnPush": True},
            "LifecyclePolicy": {
                "LifecyclePolicyText": json.dumps(
                    {
                        "rules": [
                            {
                                "rulePriority": 1,
                                "description": "keep the last 20 images",
                                "selection": {
                                    "tagStatus": "any",
                                    "countType": "imageCountMoreThan",
                                    "countNumber": 20,
                                },
                                "action": {"type": "expire"},
                            }
                        ]
                    }
                )
            },
        },
    }
    r["RadiusCluster"] = {"Type": "AWS::ECS::Cluster"}
    r["RadiusLogGroup"] = {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"RetentionInDays": _ref("LogRetentionDays")},
    }
    r["RadiusExecutionRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": _assume("ecs-tasks.amazonaws.com"),
            "ManagedPolicyArns": [
                _sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")
            ],
        },
    }
    r["RadiusTaskRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": _assume("ecs-tasks.amazonaws.com"),
            "Policies": [
                {
                    "PolicyName": "radius",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": access_statements(radius_package()),
                    },
                }
            ],
        },
    }
    env = [{"Name": k, "Value": v} for k, v in _environment().items() if k != "WISP_PUBLIC_BASE_URL"]
    env += [
        {"Name": "WISP_RADIUS_BIND", "Value": "0.0.0.0"},
        {"Name": "WISP_RADIUS_HEALTH_PORT", "Value": "8080"},
    ]
    repo_uri = "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/${RadiusRepository}"
    r["RadiusTaskDefinition"] = {
        "Type": "AWS::ECS::TaskDefinition",
        "Properties": {
            "RequiresCompatibilities": ["FARGATE"],
            "NetworkMode": "awsvpc",
            "Cpu": "512",
            "Memory": "1024",
            "ExecutionRoleArn": _getatt("RadiusExecutionRole", "Arn"),
            "TaskRoleArn": _getatt("RadiusTaskRole", "Arn"),
            "ContainerDefinitions": [
                {
                    "Name": "radius",
                    # before the first image is pushed the service runs no task (make deploy)
                    "Image": {
                        "Fn::If": [
                            "HasRadiusImage",
                            _sub(repo_uri + ":${RadiusImageTag}"),
                            _sub(repo_uri + ":none"),
                        ]
                    },
                    "Essential": True,
                    "Environment": env,
                    "PortMappings": [
                        {"ContainerPort": 1812, "Protocol": "udp"},
                        {"ContainerPort": 1813, "Protocol": "udp"},
                        {"ContainerPort": 8080, "Protocol": "tcp"},
                    ],
                    "LogConfiguration": {
                        "LogDriver": "awslogs",
                        "Options": {
                            "awslogs-group": _ref("RadiusLogGroup"),
                            "awslogs-region": _ref("AWS::Region"),
                            "awslogs-stream-prefix": "radius",
                        },
                    },
                }
            ],
        },
    }
    r["RadiusLoadBalancerSecurityGroup"] = {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {
            "GroupDescription": "RADIUS load balancer: requests from the router tunnel addresses (via the hub)",
            "VpcId": _ref("Vpc"),
            "SecurityGroupIngress": [
                {"IpProtocol": "udp", "FromPort": 1812, "ToPort": 1813, "CidrIp": _ref("VpnCidr")}
            ],
        },
    }
    r["RadiusSecurityGroup"] = {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {
            "GroupDescription": "RADIUS tasks: UDP 1812/1813 and the health check only from the load balancer",
            "VpcId": _ref("Vpc"),
            "SecurityGroupIngress": [
                {
                    "IpProtocol": "udp",
                    "FromPort": 1812,
                    "ToPort": 1813,
                    "SourceSecurityGroupId": _ref("RadiusLoadBalancerSecurityGroup"),
                },
                {
                    "IpProtocol": "tcp",
                    "FromPort": 8080,
                    "ToPort": 8080,
                    "SourceSecurityGroupId": _ref("RadiusLoadBalancerSecurityGroup"),
                },
            ],
        },
    }
    r["RadiusLoadBalancer"] = {
        "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "Properties": {
            "Type": "network",
            # internal: routers reach RADIUS only through the VPN hub, so the NAS address is its tunnel address
            "Scheme": "internal",
            "Subnets": [_ref("PrivateSubnetA"), _ref("PrivateSubnetB")],
            "SecurityGroups": [_ref("RadiusLoadBalancerSecurityGroup")],
        },
    }
    for name, port in (("Auth", 1812), ("Acct", 1813)):
        r[f"Radius{name}TargetGroup"] = {
            "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
            "Properties": {
                "Port": port,
                "Protocol": "UDP",
                "TargetType": "ip",
                "VpcId": _ref("Vpc"),
                "HealthCheckProtocol": "HTTP",
                "HealthCheckPort": "8080",
                "HealthCheckPath": "/health",
                "TargetGroupAttributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}],
            },
        }
        r[f"Radius{name}Listener"] = {
            "Type": "AWS::ElasticLoadBalancingV2::Listener",
            "Properties": {
                "LoadBalancerArn": _ref("RadiusLoadBalancer"),
                "Port": port,
                "Protocol": "UDP",
                "DefaultActions": [{"Type": "forward", "TargetGroupArn": _ref(f"Radius{name}TargetGroup")}],
            },
        }
    r["RadiusService"] = {
        "Type": "AWS::ECS::Service",
        "DependsOn": list(UDP_LISTENERS),
        "Properties": {
            "Cluster": _ref("RadiusCluster"),
            "TaskDefinition": _ref("RadiusTaskDefinition"),
            "LaunchType": "FARGATE",
            "DesiredCount": {"Fn::If": ["HasRadiusImage", _ref("RadiusTaskCount"), 0]},
            # a task that does not become healthy rolls the deployment back instead of waiting for hours
            "DeploymentConfiguration": {
                "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
                "MinimumHealthyPercent": 100,
                "MaximumPercent": 200,
            },
            "HealthCheckGracePeriodSeconds": 60,
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {
                    "AssignPublicIp": "DISABLED",
                    "Subnets": [_ref("PrivateSubnetA"), _ref("PrivateSubnetB")],
                    "SecurityGroups": [_ref("RadiusSecurityGroup")],
                }
            },
            "LoadBalancers": [
                {
                    "ContainerName": "radius",
                    "ContainerPort": 1812,
                    "TargetGroupArn": _ref("RadiusAuthTargetGroup"),
                },
                {
                    "ContainerName": "radius",
                    "ContainerPort": 1813,
                    "TargetGroupArn": _ref("RadiusAcctTargetGroup"),
                },
            ],
        },
    }
    return r


# ---------------------------------------------------------------- web console
WEB_REWRITE = """function handler(event) {
  var request = event.request;
  var last = request.uri.split('/').pop();
  // client-side routes (/subscribers/42, /my/service) are the single-page application
  if (last.indexOf('.') === -1) {
    request.uri = '/index.html';
  }
  return request;
}
"""


def web_resources() -> dict[str, Any]:
    """The console (web/dist) from a private bucket and the API under the same origin."""
    r: dict[str, Any] = {}
    r["WebBucket"] = {
        "Type": "AWS::S3::Bucket",
        **RETAIN,
        "Properties": {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": _private_bucket(),
        },
    }
    r["WebOriginAccessControl"] = {
        "Type": "AWS::CloudFront::OriginAccessControl",
        "Properties": {
            "OriginAccessControlConfig": {
                "Name": _sub("${AWS::StackName}-web"),
                "OriginAccessControlOriginType": "s3",
                "SigningBehavior": "always",
                "SigningProtocol": "sigv4",
            }
        },
    }
    r["WebBucketPolicy"] = {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": _ref("WebBucket"),
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudfront.amazonaws.com"},
                        "Action": "s3:GetObject",
                        "Resource": _sub("arn:${AWS::Partition}:s3:::${WebBucket}/*"),
                        "Condition": {
                            "StringEquals": {
                                "AWS:SourceArn": _sub(
                                    "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${WebDistribution}"
                                )
                            }
                        },
                    }
                ],
            },
        },
    }
    r["WebRewriteFunction"] = {
        "Type": "AWS::CloudFront::Function",
        "Properties": {
            "Name": _sub("${AWS::StackName}-spa"),
            "AutoPublish": True,
            "FunctionCode": WEB_REWRITE,
            "FunctionConfig": {"Comment": "single-page application fallback", "Runtime": "cloudfront-js-2.0"},
        },
    }
    api_behaviours = [
        {
            "PathPattern": path,
            "TargetOriginId": "api",
            "ViewerProtocolPolicy": "https-only",
            "AllowedMethods": ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
            "CachedMethods": ["GET", "HEAD"],
            "CachePolicyId": CACHING_DISABLED,
            "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST,
            "Compress": True,
        }
        for path in API_PATHS
    ]
    r["WebDistribution"] = {
        "Type": "AWS::CloudFront::Distribution",
        "Properties": {
            "DistributionConfig": {
                "Enabled": True,
                "Comment": _sub("${AWS::StackName}: console, subscriber pages and API"),
                "DefaultRootObject": "index.html",
                "HttpVersion": "http2and3",
                "PriceClass": _ref("WebPriceClass"),
                "Origins": [
                    {
                        "Id": "web",
                        "DomainName": _getatt("WebBucket", "RegionalDomainName"),
                        "OriginAccessControlId": _getatt("WebOriginAccessControl", "Id"),
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    },
                    {
                        "Id": "api",
                        "DomainName": _sub("${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"),
                        "OriginPath": "/v1",
                        "CustomOriginConfig": {
                            "OriginProtocolPolicy": "https-only",
                            "OriginSSLProtocols": ["TLSv1.2"],
                        },
                    },
                ],
                "DefaultCacheBehavior": {
                    "TargetOriginId": "web",
                    "ViewerProtocolPolicy": "redirect-to-https",
                    "CachePolicyId": CACHING_OPTIMIZED,
                    "Compress": True,
                    "FunctionAssociations": [
                        {
                            "EventType": "viewer-request",
                            "FunctionARN": _getatt("WebRewriteFunction", "FunctionARN"),
                        }
                    ],
                },
                "CacheBehaviors": api_behaviours,
            }
        },
    }
    return r


# ---------------------------------------------------------------- operations
def _alarm(description: str, namespace: str, metric: str, dims: dict[str, Any], **kw: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "AlarmDescription": description,
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
        "Statistic": kw.pop("Statistic", "Sum"),
        "Period": kw.pop("Period", 300),
        "EvaluationPeriods": kw.pop("EvaluationPeriods", 1),
        "Threshold": kw.pop("Threshold", 0),
        "ComparisonOperator": kw.pop("ComparisonOperator", "GreaterThanThreshold"),
        "TreatMissingData": kw.pop("TreatMissingData", "notBreaching"),
        "AlarmActions": [*kw.pop("Actions", []), _ref("AlarmTopic")],
        "OKActions": [_ref("AlarmTopic")],
    }
    props.update(kw)
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": props}


def alarm_resources() -> dict[str, Any]:
    r: dict[str, Any] = {}
    for fn in FUNCTIONS:
        r[f"{fn.lid}ErrorsAlarm"] = _alarm(
            f"{fn.lid} failed (docs/operations.md: function errors)",
            "AWS/Lambda",
            "Errors",
            {"FunctionName": _ref(fn.lid)},
        )
        r[f"{fn.lid}ThrottlesAlarm"] = _alarm(
            f"{fn.lid} was throttled (docs/operations.md: throttles)",
            "AWS/Lambda",
            "Throttles",
            {"FunctionName": _ref(fn.lid)},
        )
    r["ProvisionDeadLetterAlarm"] = _alarm(
        "Provisioning triggers gave up after 5 attempts (docs/operations.md: dead-letter queue)",
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        {"QueueName": _getatt("ProvisionDeadLetterQueue", "QueueName")},
        Statistic="Maximum",
    )
    r["Api5xxAlarm"] = _alarm(
        "The API answered 5xx (docs/operations.md: API errors)",
        "AWS/ApiGateway",
        "5XXError",
        {"ApiName": _sub("${AWS::StackName}-api"), "Stage": "v1"},
        Threshold=5,
    )
    for name in ("Auth", "Acct"):
        dims = {
            "TargetGroup": _getatt(f"Radius{name}TargetGroup", "TargetGroupFullName"),
            "LoadBalancer": _getatt("RadiusLoadBalancer", "LoadBalancerFullName"),
        }
        r[f"Radius{name}UnhealthyAlarm"] = _alarm(
            f"A RADIUS task failed its health check ({name.lower()}; docs/operations.md: RADIUS)",
            "AWS/NetworkELB",
            "UnHealthyHostCount",
            dims,
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=3,
        )
        r[f"Radius{name}NoHealthyAlarm"] = _alarm(
            f"No healthy RADIUS task ({name.lower()}): every login fails (docs/operations.md: RADIUS)",
            "AWS/NetworkELB",
            "HealthyHostCount",
            dims,
            Statistic="Minimum",
            Period=60,
            EvaluationPeriods=2,
            Threshold=1,
            ComparisonOperator="LessThanThreshold",
            TreatMissingData="breaching",
            Condition=None,
        )
        del r[f"Radius{name}NoHealthyAlarm"]["Properties"]["Condition"]
        r[f"Radius{name}NoHealthyAlarm"]["Condition"] = "HasRadiusImage"
    hub = {"InstanceId": _ref("VpnHubInstance")}
    r["VpnHubRecoveryAlarm"] = _alarm(
        "The VPN hub's host failed: EC2 recovers the instance (same address and disk; docs/operations.md: VPN hub)",
        "AWS/EC2",
        "StatusCheckFailed_System",
        hub,
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=2,
        Actions=[_sub("arn:${AWS::Partition}:automate:${AWS::Region}:ec2:recover")],
    )
    r["VpnHubStatusAlarm"] = _alarm(
        "The VPN hub's system failed its status check: EC2 reboots it (docs/operations.md: VPN hub)",
        "AWS/EC2",
        "StatusCheckFailed_Instance",
        hub,
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=3,
        Actions=[
            _sub(
                "arn:${AWS::Partition}:swf:${AWS::Region}:${AWS::AccountId}:action/actions/AWS_EC2.InstanceId.Reboot/1.0"
            )
        ],
    )
    r["VpnHubSyncAlarm"] = _alarm(
        "The VPN hub stopped pulling its peers (docs/operations.md: VPN hub)",
        "AWS/Lambda",
        "Invocations",
        {"FunctionName": _ref("VpnPeersFunction")},
        Period=300,
        EvaluationPeriods=2,
        Threshold=1,
        ComparisonOperator="LessThanThreshold",
        TreatMissingData="breaching",
    )
    r["EmailBounceAlarm"] = _alarm(
        "E-mail bounce rate at 5 % (SES reviews the account at 5 %, pauses it at 10 %; docs/operations.md: e-mail)",
        "AWS/SES",
        "Reputation.BounceRate",
        {},
        Statistic="Maximum",
        Period=3600,
        Threshold=0.05,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    r["EmailComplaintAlarm"] = _alarm(
        "E-mail complaint rate at 0.1 % (docs/operations.md: e-mail)",
        "AWS/SES",
        "Reputation.ComplaintRate",
        {},
        Statistic="Maximum",
        Period=3600,
        Threshold=0.001,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    for res in r.values():
        if not res["Properties"]["Dimensions"]:
            del res["Properties"]["Dimensions"]
    return r


def dashboard_body() -> str:
    """CloudWatch dashboard JSON (with ${} references for Fn::Sub)."""

    def widget(title: str, metrics: list[list[Any]], x: int, y: int, stat: str = "Sum") -> dict[str, Any]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": "${AWS::Region}",
                "stat": stat,
                "period": 300,
                "metrics": metrics,
            },
        }

    fn_errors = [["AWS/Lambda", "Errors", "FunctionName", "${" + f.lid + "}"] for f in FUNCTIONS]
    nlb = "${RadiusLoadBalancer.LoadBalancerFullName}"
    widgets = [
        widget(
            "API requests and errors",
            [
                ["AWS/ApiGateway", "Count", "ApiName", "${AWS::StackName}-api", "Stage", "v1"],
                ["AWS/ApiGateway", "4XXError", "ApiName", "${AWS::StackName}-api", "Stage", "v1"],
                ["AWS/ApiGateway", "5XXError", "ApiName", "${AWS::StackName}-api", "Stage", "v1"],
            ],
            0,
            0,
        ),
        widget(
            "API latency (p95)",
            [["AWS/ApiGateway", "Latency", "ApiName", "${AWS::StackName}-api", "Stage", "v1"]],
            12,
            0,
            "p95",
        ),
        widget("Function errors", fn_errors, 0, 6),
        widget(
            "Provisioning queue",
            [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${ProvisionQueue.QueueName}"],
                [
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    "QueueName",
                    "${ProvisionDeadLetterQueue.QueueName}",
                ],
            ],
            12,
            6,
            "Maximum",
        ),
        widget(
            "RADIUS healthy tasks",
            [
                [
                    "AWS/NetworkELB",
                    "HealthyHostCount",
                    "TargetGroup",
                    "${RadiusAuthTargetGroup.TargetGroupFullName}",
                    "LoadBalancer",
                    nlb,
                ],
                [
                    "AWS/NetworkELB",
                    "HealthyHostCount",
                    "TargetGroup",
                    "${RadiusAcctTargetGroup.TargetGroupFullName}",
                    "LoadBalancer",
                    nlb,
                ],
            ],
            0,
            12,
            "Minimum",
        ),
        widget(
            "VPN hub",
            [
                ["AWS/EC2", "StatusCheckFailed", "InstanceId", "${VpnHubInstance}"],
                ["AWS/Lambda", "Invocations", "FunctionName", "${VpnPeersFunction}"],
            ],
            12,
            12,
        ),
    ]
    return json.dumps({"widgets": widgets}, separators=(",", ":"))


def operations_resources() -> dict[str, Any]:
    r: dict[str, Any] = {
        "AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "WispCloud alarms"}},
        "AlarmEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasAlarmEmail",
            "Properties": {
                "TopicArn": _ref("AlarmTopic"),
                "Protocol": "email",
                "Endpoint": _ref("AlarmEmail"),
            },
        },
        "Dashboard": {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {"DashboardBody": _sub(dashboard_body())},
        },
    }
    r.update(alarm_resources())
    return r


def build_template() -> dict[str, Any]:
    resources: dict[str, Any] = {}
    resources.update(table_resources())
    resources.update(static_resources())
    resources.update(api_resources())
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": "WispCloud: subscribers, hosted RADIUS, billing, customer portal and router provisioning",
        "Parameters": {
            "Stage": {"Type": "String", "Default": "prod", "AllowedPattern": "[a-z0-9-]+"},
            "RadiusImageTag": {
                "Type": "String",
                "Default": "",
                "Description": "Tag of the RADIUS image in the stack's repository (RadiusRepositoryUri); "
                "empty: no RADIUS task runs yet (make deploy pushes the image and sets it)",
            },
            "RadiusTaskCount": {"Type": "Number", "Default": 2, "MinValue": 1},
            "EmailSender": {
                "Type": "String",
                "Default": "noreply@example.com",
                "Description": "SES-verified sender address",
            },
            "AlarmEmail": {
                "Type": "String",
                "Default": "",
                "Description": "Address subscribed to the alarm topic (confirm the e-mail SNS sends); empty: none",
            },
            "LogRetentionDays": {
                "Type": "Number",
                "Default": 90,
                "AllowedValues": [7, 14, 30, 60, 90, 180, 365, 731],
                "Description": "Days the functions' and RADIUS tasks' logs are kept",
            },
            "VpnCidr": {
                "Type": "String",
                "Default": "10.99.0.0/16",
                "Description": "Address range of the WireGuard tunnels to the routers",
            },
            "VpnHubAddress": {
                "Type": "String",
                "Default": "10.99.0.1",
                "Description": "The hub's tunnel address (inside VpnCidr)",
            },
            "VpnHubImageId": {
                "Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
                "Default": HUB_AMI_PARAMETER,
                "Description": "Public SSM parameter naming the hub's image (Amazon Linux 2023, current in every region)",
            },
            "VpnHubInstanceType": {"Type": "String", "Default": "t3.micro"},
            "WebPriceClass": {
                "Type": "String",
                "Default": "PriceClass_100",
                "AllowedValues": ["PriceClass_100", "PriceClass_200", "PriceClass_All"],
                "Description": "CloudFront edge locations serving the console",
            },
        },
        "Conditions": {
            "HasRadiusImage": {"Fn::Not": [{"Fn::Equals": [_ref("RadiusImageTag"), ""]}]},
            "HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [_ref("AlarmEmail"), ""]}]},
        },
        "Globals": {
            "Function": {
                "Runtime": "python3.11",
                "Architectures": ["x86_64"],
                "Timeout": 30,
                "MemorySize": 512,
                "Tracing": "Active",
                "Environment": {"Variables": _environment()},
            }
        },
        "Resources": dict(sorted(resources.items())),
        "Outputs": {
            "ConsoleUrl": {
                "Description": "The web console (/), subscriber pages (/my/) and the API on one origin",
                "Value": _sub("https://${WebDistribution.DomainName}"),
            },
            "ApiUrl": {"Value": _sub("https://${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/v1")},
            "WebBucketName": {"Value": _ref("WebBucket")},
            "WebDistributionId": {"Value": _ref("WebDistribution")},
            "RadiusRepositoryUri": {
                "Value": _sub(
                    "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/${RadiusRepository}"
                )
            },
            "RadiusAddress": {"Value": _getatt("RadiusLoadBalancer", "DNSName")},
            "VpnHubEndpoint": {"Value": _sub("${VpnHubElasticIp}:51820")},
            "VpnHubInstanceId": {"Value": _ref("VpnHubInstance")},
            "VpnHubPublicKeyParameter": {"Value": _sub("/wispcloud/${AWS::StackName}/vpn/hub-public-key")},
            "AlarmTopicArn": {"Value": _ref("AlarmTopic")},
            "ProvisionQueueUrl": {"Value": _ref("ProvisionQueue")},
        },
    }


HEADER = "# Generated by `make template` (infra/template_gen.py) from the code: do not edit by hand.\n"


def render() -> str:
    return HEADER + yaml.safe_dump(build_template(), sort_keys=False, width=120)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not TEMPLATE_PATH.exists() or TEMPLATE_PATH.read_text() != text:
            print("template.yaml is out of date: run `make template`", file=sys.stderr)
            return 1
        return 0
    TEMPLATE_PATH.write_text(text)
    print(f"wrote {TEMPLATE_PATH.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
