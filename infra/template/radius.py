"""RADIUS: the container image's repository, the Fargate service and the internal UDP load
balancer the VPN hub forwards the routers' requests to."""

from __future__ import annotations

import json
from typing import Any

from infra.template.common import assume, getatt, ref, sub
from infra.template.functions import environment
from infra.template.iam import access_statements

# moto's CloudFormation cannot create non-HTTP NLB listeners; the deploy test leaves out exactly these
UDP_LISTENERS = ("RadiusAuthListener", "RadiusAcctListener")


def radius_resources() -> dict[str, Any]:
    return {
        **_radius_repository(),
        **_radius_roles(),
        **_radius_task_definition(),
        **_radius_security_groups(),
        **_radius_load_balancer(),
        **_radius_service(),
    }


def _radius_repository() -> dict[str, Any]:
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
        "Properties": {"RetentionInDays": ref("LogRetentionDays")},
    }
    return r


def _radius_roles() -> dict[str, Any]:
    from infra.package import radius_package

    r: dict[str, Any] = {}
    r["RadiusExecutionRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": assume("ecs-tasks.amazonaws.com"),
            "ManagedPolicyArns": [
                sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")
            ],
        },
    }
    r["RadiusTaskRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": assume("ecs-tasks.amazonaws.com"),
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
    return r


def _radius_task_definition() -> dict[str, Any]:
    r: dict[str, Any] = {}
    env = [{"Name": k, "Value": v} for k, v in environment().items() if k != "WISP_PUBLIC_BASE_URL"]
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
            "ExecutionRoleArn": getatt("RadiusExecutionRole", "Arn"),
            "TaskRoleArn": getatt("RadiusTaskRole", "Arn"),
            "ContainerDefinitions": [
                {
                    "Name": "radius",
                    # before the first image is pushed the service runs no task (make deploy)
                    "Image": {
                        "Fn::If": [
                            "HasRadiusImage",
                            sub(repo_uri + ":${RadiusImageTag}"),
                            sub(repo_uri + ":none"),
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
                            "awslogs-group": ref("RadiusLogGroup"),
                            "awslogs-region": ref("AWS::Region"),
                            "awslogs-stream-prefix": "radius",
                        },
                    },
                }
            ],
        },
    }
    return r


def _radius_security_groups() -> dict[str, Any]:
    r: dict[str, Any] = {}
    r["RadiusLoadBalancerSecurityGroup"] = {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {
            "GroupDescription": "RADIUS load balancer: requests from the router tunnel addresses (via the hub)",
            "VpcId": ref("Vpc"),
            "SecurityGroupIngress": [
                {"IpProtocol": "udp", "FromPort": 1812, "ToPort": 1813, "CidrIp": ref("VpnCidr")}
            ],
        },
    }
    r["RadiusSecurityGroup"] = {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {
            "GroupDescription": "RADIUS tasks: UDP 1812/1813 and the health check only from the load balancer",
            "VpcId": ref("Vpc"),
            "SecurityGroupIngress": [
                {
                    "IpProtocol": "udp",
                    "FromPort": 1812,
                    "ToPort": 1813,
                    "SourceSecurityGroupId": ref("RadiusLoadBalancerSecurityGroup"),
                },
                {
                    "IpProtocol": "tcp",
                    "FromPort": 8080,
                    "ToPort": 8080,
                    "SourceSecurityGroupId": ref("RadiusLoadBalancerSecurityGroup"),
                },
            ],
        },
    }
    return r


def _radius_load_balancer() -> dict[str, Any]:
    r: dict[str, Any] = {}
    r["RadiusLoadBalancer"] = {
        "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "Properties": {
            "Type": "network",
            # internal: routers reach RADIUS only through the VPN hub, so the NAS address is its tunnel address
            "Scheme": "internal",
            "Subnets": [ref("PrivateSubnetA"), ref("PrivateSubnetB")],
            "SecurityGroups": [ref("RadiusLoadBalancerSecurityGroup")],
        },
    }
    for name, port in (("Auth", 1812), ("Acct", 1813)):
        r[f"Radius{name}TargetGroup"] = {
            "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
            "Properties": {
                "Port": port,
                "Protocol": "UDP",
                "TargetType": "ip",
                "VpcId": ref("Vpc"),
                "HealthCheckProtocol": "HTTP",
                "HealthCheckPort": "8080",
                "HealthCheckPath": "/health",
                "TargetGroupAttributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}],
            },
        }
        r[f"Radius{name}Listener"] = {
            "Type": "AWS::ElasticLoadBalancingV2::Listener",
            "Properties": {
                "LoadBalancerArn": ref("RadiusLoadBalancer"),
                "Port": port,
                "Protocol": "UDP",
                "DefaultActions": [{"Type": "forward", "TargetGroupArn": ref(f"Radius{name}TargetGroup")}],
            },
        }
    return r


def _radius_service() -> dict[str, Any]:
    r: dict[str, Any] = {}
    r["RadiusService"] = {
        "Type": "AWS::ECS::Service",
        "DependsOn": list(UDP_LISTENERS),
        "Properties": {
            "Cluster": ref("RadiusCluster"),
            "TaskDefinition": ref("RadiusTaskDefinition"),
            "LaunchType": "FARGATE",
            "DesiredCount": {"Fn::If": ["HasRadiusImage", ref("RadiusTaskCount"), 0]},
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
                    "Subnets": [ref("PrivateSubnetA"), ref("PrivateSubnetB")],
                    "SecurityGroups": [ref("RadiusSecurityGroup")],
                }
            },
            "LoadBalancers": [
                {
                    "ContainerName": "radius",
                    "ContainerPort": 1812,
                    "TargetGroupArn": ref("RadiusAuthTargetGroup"),
                },
                {
                    "ContainerName": "radius",
                    "ContainerPort": 1813,
                    "TargetGroupArn": ref("RadiusAcctTargetGroup"),
                },
            ],
        },
    }
    return r
