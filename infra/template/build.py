"""Generates ``template.yaml`` (SAM) from the code: DynamoDB tables from the pynamodb models, one
role per function with the table access its code has (``infra/access.py``), each function's code
from its import graph (``infra/package.py``), the scheduled jobs of the local scheduler, plus the
hand-written rest of the stack (one module per resource group in this package).

``make template`` rewrites the file; ``tests/integration/test_template.py`` fails when the committed
template differs from what this module generates (one schema, no drift).

Usage: python -m infra.template [--check]
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from infra.template.api import api_resources
from infra.template.capacity import capacity_conditions, capacity_parameters
from infra.template.common import ROOT, TEMPLATE_PATH, getatt, ref, sub
from infra.template.functions import environment, function_resources
from infra.template.hub import HUB_AMI_PARAMETER, hub_resources
from infra.template.network import network_resources
from infra.template.operations import operations_resources
from infra.template.radius import radius_resources
from infra.template.storage import storage_resources
from infra.template.tables import table_resources
from infra.template.web import web_resources


def resources() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group in (
        table_resources,
        storage_resources,
        function_resources,
        network_resources,
        hub_resources,
        radius_resources,
        web_resources,
        operations_resources,
        api_resources,
    ):
        out.update(group())
    return out


def build_template() -> dict[str, Any]:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": "WispCloud: subscribers, hosted RADIUS, billing, customer portal and router provisioning",
        "Parameters": _parameters(),
        "Conditions": {
            "HasRadiusImage": {"Fn::Not": [{"Fn::Equals": [ref("RadiusImageTag"), ""]}]},
            "HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [ref("AlarmEmail"), ""]}]},
            **capacity_conditions(),
        },
        "Globals": {
            "Function": {
                "Runtime": "python3.11",
                "Architectures": ["x86_64"],
                "Timeout": 30,
                "MemorySize": 512,
                "Tracing": "Active",
                "Environment": {"Variables": environment()},
            }
        },
        "Resources": dict(sorted(resources().items())),
        "Outputs": _outputs(),
    }


def _parameters() -> dict[str, Any]:
    return {
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
        **capacity_parameters(),
    }


def _outputs() -> dict[str, Any]:
    return {
        "ConsoleUrl": {
            "Description": "The web console (/), subscriber pages (/my/) and the API on one origin",
            "Value": sub("https://${WebDistribution.DomainName}"),
        },
        "ApiUrl": {"Value": sub("https://${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/v1")},
        "WebBucketName": {"Value": ref("WebBucket")},
        "WebDistributionId": {"Value": ref("WebDistribution")},
        "RadiusRepositoryUri": {
            "Value": sub("${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/${RadiusRepository}")
        },
        "RadiusAddress": {"Value": getatt("RadiusLoadBalancer", "DNSName")},
        "VpnHubEndpoint": {"Value": sub("${VpnHubElasticIp}:51820")},
        "VpnHubInstanceId": {"Value": ref("VpnHubInstance")},
        "VpnHubPublicKeyParameter": {"Value": sub("/wispcloud/${AWS::StackName}/vpn/hub-public-key")},
        "AlarmTopicArn": {"Value": ref("AlarmTopic")},
        "ProvisionQueueUrl": {"Value": ref("ProvisionQueue")},
    }


HEADER = "# Generated by `make template` (infra/template/) from the code: do not edit by hand.\n"


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
