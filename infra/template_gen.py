"""Generates ``template.yaml`` (SAM) from the code: DynamoDB tables from the pynamodb models and one
API Gateway method per Chalice route, plus the hand-written rest of the stack below.

``make template`` rewrites the file; ``tests/integration/test_template.py`` fails when the committed
template differs from what this module generates (one schema, no drift).

Usage: python -m infra.template_gen [--check]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"

# Scheduled functions: (logical id, handler, schedule expression, description)
SCHEDULED_FUNCTIONS: list[tuple[str, str, str, str]] = [
    (
        "InvoiceRunFunction",
        "billing_cron.handlers.handle_invoice_run",
        "cron(0 * * * ? *)",
        "Hourly: issue internet invoices for zones whose local issue day has started",
    ),
    (
        "NoticeRunFunction",
        "billing_cron.handlers.handle_notice_run",
        "cron(15 * * * ? *)",
        "Hourly: payment reminders on the notice day",
    ),
    (
        "CutoffRunFunction",
        "billing_cron.handlers.handle_cutoff_run",
        "cron(30 * * * ? *)",
        "Hourly: suspend clients with unpaid internet invoices after the cutoff day",
    ),
    (
        "SessionReaperFunction",
        "billing_cron.reaper.handle_reap_stale_sessions",
        "rate(5 minutes)",
        "Closes accounting sessions whose gateway stopped sending updates",
    ),
    (
        "ModulationRunFunction",
        "billing_cron.modulation.handle_modulation_run",
        "cron(0/15 * * * ? *)",
        "Every quarter-hour: dynamic rate modulation windows where a gateway's local hour starts "
        "(disconnect/CoA users whose rate changes)",
    ),
    (
        "RouterSweepFunction",
        "provisioner.handler.handle_sweep",
        "rate(6 hours)",
        "Reconciles every router with the system state (drift repair)",
    ),
]

API_HANDLER = "api.app.handle_http"
PROVISIONER_HANDLER = "provisioner.handler.handle_provision_batch"
# moto's CloudFormation cannot create non-HTTP NLB listeners; the deploy test leaves out exactly these
UDP_LISTENERS = ("RadiusAuthListener", "RadiusAcctListener")


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def _ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def _getatt(name: str, attr: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, attr]}


def _logical(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text) if part)


def table_resources() -> dict[str, Any]:
    from store.db import table_schema, ttl_attribute
    from store.models import ALL_MODELS

    out: dict[str, Any] = {}
    for model in ALL_MODELS:
        base = model.Meta.base_name  # type: ignore[attr-defined]
        props: dict[str, Any] = {
            "TableName": _sub("${AWS::StackName}-" + base),
            "BillingMode": "PAY_PER_REQUEST",
            **table_schema(model),
            "SSESpecification": {"SSEEnabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        }
        ttl = ttl_attribute(model)
        if ttl:
            props["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
        out[_logical(base) + "Table"] = {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": props,
        }
    return out


def api_routes() -> list[tuple[str, str]]:
    """(path, method) for every route of the Chalice app."""
    sys.path.insert(0, str(ROOT / "functions"))
    from api.app import app

    return sorted((path, method) for path, methods in app.routes.items() for method in methods)


def api_resources() -> dict[str, Any]:
    resources: dict[str, Any] = {}
    path_ids: dict[str, str] = {}
    methods: list[str] = []
    for path, method in api_routes():
        parent: dict[str, Any] = _getatt("RestApi", "RootResourceId")
        built = ""
        for part in path.strip("/").split("/"):
            built += "/" + part
            if built not in path_ids:
                lid = "Res" + _logical(built.replace("{", "By/").replace("}", ""))
                path_ids[built] = lid
                resources[lid] = {
                    "Type": "AWS::ApiGateway::Resource",
                    "Properties": {"RestApiId": _ref("RestApi"), "ParentId": parent, "PathPart": part},
                }
            parent = _ref(path_ids[built])
        mid = "Method" + method.capitalize() + path_ids[built][3:]
        methods.append(mid)
        params = {f"method.request.path.{p}": True for p in re.findall(r"{([^}]+)}", path)}
        method_props: dict[str, Any] = {
            "RestApiId": _ref("RestApi"),
            "ResourceId": parent,
            "HttpMethod": method,
            "AuthorizationType": "NONE",
            "Integration": {
                "Type": "AWS_PROXY",
                "IntegrationHttpMethod": "POST",
                "Uri": _sub(
                    "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
                    "${ApiFunction.Arn}/invocations"
                ),
            },
        }
        if params:
            method_props["RequestParameters"] = params
        resources[mid] = {"Type": "AWS::ApiGateway::Method", "Properties": method_props}
    resources["RestApi"] = {
        "Type": "AWS::ApiGateway::RestApi",
        "Properties": {
            "Name": _sub("${AWS::StackName}-api"),
            "Description": "WispCloud admin and portal API",
            "BinaryMediaTypes": [
                "application~1pdf",
                "application~1octet-stream",
                "image~1png",
                "multipart~1form-data",
            ],
            "EndpointConfiguration": {"Types": ["REGIONAL"]},
        },
    }
    resources["ApiDeployment"] = {
        "Type": "AWS::ApiGateway::Deployment",
        "DependsOn": methods,
        "Properties": {
            "RestApiId": _ref("RestApi"),
            "StageName": "v1",
            "Description": f"{len(methods)} routes",
        },
    }
    resources["ApiInvokePermission"] = {
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
    return resources


def _data_policy() -> list[dict[str, Any]]:
    return [
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": [
                        "dynamodb:GetItem",
                        "dynamodb:PutItem",
                        "dynamodb:UpdateItem",
                        "dynamodb:DeleteItem",
                        "dynamodb:Query",
                        "dynamodb:Scan",
                        "dynamodb:BatchGetItem",
                        "dynamodb:BatchWriteItem",
                        "dynamodb:ConditionCheckItem",
                        "dynamodb:DescribeTable",
                    ],
                    "Resource": [
                        _sub(
                            "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${AWS::StackName}-*"
                        ),
                        _sub(
                            "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${AWS::StackName}-*/index/*"
                        ),
                    ],
                },
                {
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": _getatt("DataKey", "Arn"),
                },
                {
                    "Effect": "Allow",
                    "Action": ["ssm:GetParameter", "ssm:PutParameter"],
                    "Resource": _sub(
                        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/wispcloud/${AWS::StackName}/*"
                    ),
                },
                {
                    "Effect": "Allow",
                    "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"],
                    "Resource": [_getatt("ProvisionQueue", "Arn")],
                },
                {
                    "Effect": "Allow",
                    "Action": ["ses:SendEmail", "ses:SendRawEmail", "sns:Publish"],
                    "Resource": "*",
                },
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    "Resource": _sub("arn:${AWS::Partition}:s3:::${DocumentsBucket}/*"),
                },
            ]
        }
    ]


def _environment() -> dict[str, Any]:
    return {
        "WISP_STAGE": _ref("Stage"),
        "WISP_TABLE_PREFIX": _sub("${AWS::StackName}-"),
        "WISP_KMS_KEY_ID": _ref("DataKey"),
        "WISP_DATA_KEY_PARAMETER": _sub("/wispcloud/${AWS::StackName}/data-key"),
        "WISP_PROVISION_QUEUE_URL": _ref("ProvisionQueue"),
        "WISP_PROVISION_QUEUE_NAME": _getatt("ProvisionQueue", "QueueName"),
        "WISP_PROVISION_DLQ_NAME": _getatt("ProvisionDeadLetterQueue", "QueueName"),
        "WISP_PUBLIC_BASE_URL": _sub("https://${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/v1"),
        "WISP_EMAIL_SENDER": _ref("EmailSender"),
        "WISP_DOCUMENTS_BUCKET": _ref("DocumentsBucket"),
        "WISP_VPN_ENDPOINT": _sub("${VpnHubElasticIp}:51820"),
        "WISP_VPN_HUB_PUBLIC_KEY": _ref("VpnHubPublicKey"),
        "WISP_VPN_HUB_ADDRESS": _ref("VpnHubAddress"),
        "WISP_VPN_CIDR": _ref("VpnCidr"),
        "POWERTOOLS_SERVICE_NAME": "wispcloud",
        "POWERTOOLS_METRICS_NAMESPACE": "WispCloud",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def static_resources() -> dict[str, Any]:
    r: dict[str, Any] = {}
    r["DataKey"] = {
        "Type": "AWS::KMS::Key",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
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
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BucketName": _sub("${AWS::StackName}-documents-${AWS::AccountId}"),
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
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
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
    r["ApiFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "Handler": API_HANDLER,
            "Description": "Admin and customer-portal HTTP API (Chalice)",
            "MemorySize": 1024,
            "Timeout": 29,
            "Policies": _data_policy(),
            # in the VPC: "disconnect user" sends RFC 5176 requests to routers through the VPN
            "VpcConfig": {
                "SubnetIds": [_ref("PrivateSubnetA"), _ref("PrivateSubnetB")],
                "SecurityGroupIds": [_ref("LambdaSecurityGroup")],
            },
        },
    }
    r["ProvisionerFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "Handler": PROVISIONER_HANDLER,
            "Description": "Applies provisioning triggers to routers through the VPN (RouterOS API)",
            "Timeout": 300,
            "ReservedConcurrentExecutions": 5,
            "Policies": [
                *_data_policy(),
                {"SQSPollerPolicy": {"QueueName": _getatt("ProvisionQueue", "QueueName")}},
            ],
            "VpcConfig": {
                "SubnetIds": [_ref("PrivateSubnetA"), _ref("PrivateSubnetB")],
                "SecurityGroupIds": [_ref("LambdaSecurityGroup")],
            },
            "Events": {
                "Queue": {
                    "Type": "SQS",
                    "Properties": {
                        "Queue": _getatt("ProvisionQueue", "Arn"),
                        "BatchSize": 10,
                        "FunctionResponseTypes": ["ReportBatchItemFailures"],
                    },
                }
            },
        },
    }
    for lid, handler, schedule, desc in SCHEDULED_FUNCTIONS:
        props: dict[str, Any] = {
            "Handler": handler,
            "Description": desc,
            "Timeout": 900,
            "MemorySize": 1024,
            "Policies": _data_policy(),
            "Events": {"Schedule": {"Type": "Schedule", "Properties": {"Schedule": schedule}}},
        }
        if lid in ("ModulationRunFunction", "SessionReaperFunction", "RouterSweepFunction"):
            # these talk to gateways (CoA/Disconnect, RouterOS API) through the VPN
            props["VpcConfig"] = {
                "SubnetIds": [_ref("PrivateSubnetA"), _ref("PrivateSubnetB")],
                "SecurityGroupIds": [_ref("LambdaSecurityGroup")],
            }
        r[lid] = {"Type": "AWS::Serverless::Function", "Properties": props}
    r.update(network_resources())
    r.update(radius_resources())
    return r


def network_resources() -> dict[str, Any]:
    r: dict[str, Any] = {}
    r["Vpc"] = {
        "Type": "AWS::EC2::VPC",
        "Properties": {"CidrBlock": "10.80.0.0/16", "EnableDnsSupport": True, "EnableDnsHostnames": True},
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
                "MapPublicIpOnLaunch": True,
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
    # Routers are reached through the WireGuard hub: traffic to the VPN range goes to its interface
    r["VpnRoute"] = {
        "Type": "AWS::EC2::Route",
        "Properties": {
            "RouteTableId": _ref("PrivateRouteTable"),
            "DestinationCidrBlock": _ref("VpnCidr"),
            "NetworkInterfaceId": _ref("VpnHubInterface"),
        },
    }
    # RADIUS tasks (public subnets) answer routers through the hub too
    r["VpnRoutePublic"] = {
        "Type": "AWS::EC2::Route",
        "Properties": {
            "RouteTableId": _ref("PublicRouteTable"),
            "DestinationCidrBlock": _ref("VpnCidr"),
            "NetworkInterfaceId": _ref("VpnHubInterface"),
        },
    }
    r["S3Endpoint"] = {
        "Type": "AWS::EC2::VPCEndpoint",
        "Properties": {
            "VpcId": _ref("Vpc"),
            "VpcEndpointType": "Gateway",
            "ServiceName": _sub("com.amazonaws.${AWS::Region}.s3"),
            "RouteTableIds": [_ref("PrivateRouteTable")],
        },
    }
    r["DynamoDbEndpoint"] = {
        "Type": "AWS::EC2::VPCEndpoint",
        "Properties": {
            "VpcId": _ref("Vpc"),
            "VpcEndpointType": "Gateway",
            "ServiceName": _sub("com.amazonaws.${AWS::Region}.dynamodb"),
            "RouteTableIds": [_ref("PrivateRouteTable")],
        },
    }
    for name, svc in (
        ("SqsEndpoint", "sqs"),
        ("KmsEndpoint", "kms"),
        ("SsmEndpoint", "ssm"),
        ("EmailEndpoint", "email"),
        ("SnsEndpoint", "sns"),
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
            "GroupDescription": "Functions that reach routers through the VPN",
            "VpcId": _ref("Vpc"),
            "SecurityGroupIngress": [
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "10.80.0.0/16"}
            ],
        },
    }
    r["VpnSecurityGroup"] = {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {
            "GroupDescription": "WireGuard hub: routers connect here",
            "VpcId": _ref("Vpc"),
            "SecurityGroupIngress": [
                {"IpProtocol": "udp", "FromPort": 51820, "ToPort": 51820, "CidrIp": "0.0.0.0/0"},
                # forwarded to routers: RouterOS API (8728/8729) and RADIUS CoA/Disconnect (3799)
                {"IpProtocol": "tcp", "FromPort": 8728, "ToPort": 8729, "CidrIp": "10.80.0.0/16"},
                {"IpProtocol": "udp", "FromPort": 3799, "ToPort": 3799, "CidrIp": "10.80.0.0/16"},
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
    r["VpnHubElasticIp"] = {
        "Type": "AWS::EC2::EIP",
        "Properties": {"Domain": "vpc", "InstanceId": _ref("VpnHubInstance")},
    }
    r["VpnHubInstance"] = {
        "Type": "AWS::EC2::Instance",
        "Properties": {
            "ImageId": _ref("VpnHubImageId"),
            "InstanceType": "t3.nano",
            "NetworkInterfaces": [{"NetworkInterfaceId": _ref("VpnHubInterface"), "DeviceIndex": "0"}],
            "UserData": {
                "Fn::Base64": _sub(
                    "#!/bin/bash\n"
                    "dnf install -y wireguard-tools iptables || apt-get install -y wireguard iptables\n"
                    "sysctl -w net.ipv4.ip_forward=1\n"
                    "ip link add wg0 type wireguard && ip address add ${VpnHubAddress}/32 dev wg0\n"
                    "umask 077; wg genkey > /etc/wireguard/hub.key\n"
                    "wg set wg0 listen-port 51820 private-key /etc/wireguard/hub.key && ip link set wg0 up\n"
                    "ip route add ${VpnCidr} dev wg0\n"
                    "# functions reach routers as the hub address (router API users only accept it)\n"
                    "iptables -t nat -A POSTROUTING -o wg0 -j MASQUERADE\n"
                    "# routers send RADIUS to the hub address: forward it to the internal load balancer\n"
                    "NLB=$(getent hosts ${RadiusLoadBalancer.DNSName} | awk '{print $1}' | head -1)\n"
                    "iptables -t nat -A PREROUTING -i wg0 -p udp --dport 1812:1813 -j DNAT --to-destination $NLB\n"
                    "# router peers are written by the onboarding flow (docs/provisioner.md, VPN)\n"
                )
            },
        },
    }
    return r


def radius_resources() -> dict[str, Any]:
    r: dict[str, Any] = {}
    r["RadiusCluster"] = {
        "Type": "AWS::ECS::Cluster",
        "Properties": {"ClusterName": _sub("${AWS::StackName}-radius")},
    }
    r["RadiusLogGroup"] = {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"LogGroupName": _sub("/wispcloud/${AWS::StackName}/radius"), "RetentionInDays": 30},
    }
    r["RadiusExecutionRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "ManagedPolicyArns": [
                _sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")
            ],
        },
    }
    r["RadiusTaskRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "Policies": [
                {
                    "PolicyName": "radius-data",
                    "PolicyDocument": {"Version": "2012-10-17", **_data_policy()[0]},
                }
            ],
        },
    }
    env = [{"Name": k, "Value": v} for k, v in _environment().items() if k not in ("WISP_PUBLIC_BASE_URL",)]
    env += [
        {"Name": "WISP_RADIUS_BIND", "Value": "0.0.0.0"},
        {"Name": "WISP_RADIUS_HEALTH_PORT", "Value": "8080"},
    ]
    r["RadiusTaskDefinition"] = {
        "Type": "AWS::ECS::TaskDefinition",
        "Properties": {
            "Family": _sub("${AWS::StackName}-radius"),
            "RequiresCompatibilities": ["FARGATE"],
            "NetworkMode": "awsvpc",
            "Cpu": "512",
            "Memory": "1024",
            "ExecutionRoleArn": _getatt("RadiusExecutionRole", "Arn"),
            "TaskRoleArn": _getatt("RadiusTaskRole", "Arn"),
            "ContainerDefinitions": [
                {
                    "Name": "radius",
                    "Image": _ref("RadiusImage"),
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
    r["RadiusSecurityGroup"] = {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {
            "GroupDescription": "RADIUS tasks: UDP 1812/1813 from the NLB, health check on 8080",
            "VpcId": _ref("Vpc"),
            "SecurityGroupIngress": [
                {"IpProtocol": "udp", "FromPort": 1812, "ToPort": 1813, "CidrIp": "0.0.0.0/0"},
                {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "CidrIp": "10.80.0.0/16"},
            ],
        },
    }
    r["RadiusLoadBalancer"] = {
        "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "Properties": {
            "Type": "network",
            # internal: routers reach RADIUS only through the VPN hub, so the NAS address is its tunnel address
            "Scheme": "internal",
            "Subnets": [_ref("PublicSubnetA"), _ref("PublicSubnetB")],
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
            "DesiredCount": _ref("RadiusTaskCount"),
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {
                    "AssignPublicIp": "ENABLED",
                    "Subnets": [_ref("PublicSubnetA"), _ref("PublicSubnetB")],
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
            "RadiusImage": {
                "Type": "String",
                "Description": "Container image URI of radius_container/Dockerfile",
                "Default": "public.ecr.aws/wispcloud/radius:latest",
            },
            "RadiusTaskCount": {"Type": "Number", "Default": 2, "MinValue": 1},
            "EmailSender": {
                "Type": "String",
                "Default": "noreply@example.com",
                "Description": "SES-verified sender address",
            },
            "VpnCidr": {
                "Type": "String",
                "Default": "10.99.0.0/16",
                "Description": "Address range of the WireGuard tunnels to the routers",
            },
            "VpnHubAddress": {"Type": "String", "Default": "10.99.0.1"},
            "VpnHubPublicKey": {
                "Type": "String",
                "Default": "",
                "Description": "WireGuard public key of the hub (`wg show wg0 public-key` after the first deploy); "
                "router onboarding scripts need it",
            },
            "VpnHubImageId": {
                "Type": "AWS::EC2::Image::Id",
                "Default": "ami-0c02fb55956c7d316",
                "Description": "Linux image for the WireGuard hub",
            },
        },
        "Globals": {
            "Function": {
                "Runtime": "python3.11",
                "CodeUri": "functions/",
                "Architectures": ["x86_64"],
                "Timeout": 30,
                "MemorySize": 512,
                "Tracing": "Active",
                "Environment": {"Variables": _environment()},
            }
        },
        "Resources": dict(sorted(resources.items())),
        "Outputs": {
            "ApiUrl": {"Value": _sub("https://${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/v1")},
            "RadiusAddress": {"Value": _getatt("RadiusLoadBalancer", "DNSName")},
            "VpnHubPublicIp": {"Value": _getatt("VpnHubInstance", "PublicIp")},
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
