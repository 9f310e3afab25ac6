"""The VPC: public subnets (the VPN hub), private subnets (functions in the VPC, RADIUS tasks), their
routes and the AWS endpoints the private subnets use; their way to the internet (HTTPS to the payment
providers' APIs) is the VPN hub as NAT instance (``hub.py``; docs/cost.md, *Egress*)."""

from __future__ import annotations

from typing import Any

from infra.template.common import VPC_CIDR, ref, sub


def network_resources() -> dict[str, Any]:
    return {**_subnets(), **_route_tables(), **_endpoints(), **_lambda_security_group()}


def _subnets() -> dict[str, Any]:
    r: dict[str, Any] = {}
    r["Vpc"] = {
        "Type": "AWS::EC2::VPC",
        "Properties": {"CidrBlock": VPC_CIDR, "EnableDnsSupport": True, "EnableDnsHostnames": True},
    }
    r["InternetGateway"] = {"Type": "AWS::EC2::InternetGateway"}
    r["GatewayAttachment"] = {
        "Type": "AWS::EC2::VPCGatewayAttachment",
        "Properties": {"VpcId": ref("Vpc"), "InternetGatewayId": ref("InternetGateway")},
    }
    for suffix, cidr, az in (("A", "10.80.1.0/24", 0), ("B", "10.80.2.0/24", 1)):
        r[f"PublicSubnet{suffix}"] = {
            "Type": "AWS::EC2::Subnet",
            "Properties": {
                "VpcId": ref("Vpc"),
                "CidrBlock": cidr,
                "MapPublicIpOnLaunch": False,
                "AvailabilityZone": {"Fn::Select": [az, {"Fn::GetAZs": ""}]},
            },
        }
        r[f"PublicRouteAssoc{suffix}"] = {
            "Type": "AWS::EC2::SubnetRouteTableAssociation",
            "Properties": {
                "SubnetId": ref(f"PublicSubnet{suffix}"),
                "RouteTableId": ref("PublicRouteTable"),
            },
        }
    for suffix, cidr, az in (("A", "10.80.11.0/24", 0), ("B", "10.80.12.0/24", 1)):
        r[f"PrivateSubnet{suffix}"] = {
            "Type": "AWS::EC2::Subnet",
            "Properties": {
                "VpcId": ref("Vpc"),
                "CidrBlock": cidr,
                "AvailabilityZone": {"Fn::Select": [az, {"Fn::GetAZs": ""}]},
            },
        }
        r[f"PrivateRouteAssoc{suffix}"] = {
            "Type": "AWS::EC2::SubnetRouteTableAssociation",
            "Properties": {
                "SubnetId": ref(f"PrivateSubnet{suffix}"),
                "RouteTableId": ref("PrivateRouteTable"),
            },
        }
    return r


def _route_tables() -> dict[str, Any]:
    r: dict[str, Any] = {}
    r["PublicRouteTable"] = {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": ref("Vpc")}}
    r["PublicDefaultRoute"] = {
        "Type": "AWS::EC2::Route",
        "DependsOn": "GatewayAttachment",
        "Properties": {
            "RouteTableId": ref("PublicRouteTable"),
            "DestinationCidrBlock": "0.0.0.0/0",
            "GatewayId": ref("InternetGateway"),
        },
    }
    r["PrivateRouteTable"] = {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": ref("Vpc")}}
    # Functions and RADIUS tasks (private subnets) reach routers through the WireGuard hub
    r["VpnRoute"] = {
        "Type": "AWS::EC2::Route",
        "Properties": {
            "RouteTableId": ref("PrivateRouteTable"),
            "DestinationCidrBlock": ref("VpnCidr"),
            "NetworkInterfaceId": ref("VpnHubInterface"),
        },
    }
    # ... and the internet through the hub too, which forwards only HTTPS from the functions (the
    # payment providers' APIs) and masquerades it behind its Elastic IP; AWS services stay on the
    # endpoints below (their routes and addresses are more specific)
    r["EgressRoute"] = {
        "Type": "AWS::EC2::Route",
        "Properties": {
            "RouteTableId": ref("PrivateRouteTable"),
            "DestinationCidrBlock": "0.0.0.0/0",
            "NetworkInterfaceId": ref("VpnHubInterface"),
        },
    }
    return r


def _endpoints() -> dict[str, Any]:
    r: dict[str, Any] = {}
    for name, svc in (("S3Endpoint", "s3"), ("DynamoDbEndpoint", "dynamodb")):
        r[name] = {
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {
                "VpcId": ref("Vpc"),
                "VpcEndpointType": "Gateway",
                "ServiceName": sub("com.amazonaws.${AWS::Region}." + svc),
                "RouteTableIds": [ref("PrivateRouteTable")],
            },
        }
    # the private subnets reach AWS through endpoints (ECR and logs for the RADIUS tasks), not the hub
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
                "VpcId": ref("Vpc"),
                "VpcEndpointType": "Interface",
                "PrivateDnsEnabled": True,
                "ServiceName": sub("com.amazonaws.${AWS::Region}." + svc),
                "SubnetIds": [ref("PrivateSubnetA"), ref("PrivateSubnetB")],
                "SecurityGroupIds": [ref("LambdaSecurityGroup")],
            },
        }
    return r


def _lambda_security_group() -> dict[str, Any]:
    r: dict[str, Any] = {}
    r["LambdaSecurityGroup"] = {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {
            "GroupDescription": "Functions in the VPC and the AWS endpoints they use",
            "VpcId": ref("Vpc"),
            "SecurityGroupIngress": [
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": VPC_CIDR}
            ],
        },
    }
    return r
