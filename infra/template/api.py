"""The API: one greedy proxy resource in front of Chalice's own router."""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

from infra.template.common import ROOT, getatt, ref, sub


def api_routes() -> list[tuple[str, str]]:
    """(path, method) for every route of the Chalice app."""
    sys.path.insert(0, str(ROOT / "functions"))
    from api.app import app

    return sorted((path, method) for path, methods in app.routes.items() for method in methods)


def _proxy_method(resource: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::ApiGateway::Method",
        "Properties": {
            "RestApiId": ref("RestApi"),
            "ResourceId": resource,
            "HttpMethod": "ANY",
            "AuthorizationType": "NONE",
            "Integration": {
                "Type": "AWS_PROXY",
                "IntegrationHttpMethod": "POST",
                "Uri": sub(
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
                "Name": sub("${AWS::StackName}-api"),
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
                "RestApiId": ref("RestApi"),
                "ParentId": getatt("RestApi", "RootResourceId"),
                "PathPart": "{proxy+}",
            },
        },
        "ApiRootMethod": _proxy_method(getatt("RestApi", "RootResourceId")),
        "ApiProxyMethod": _proxy_method(ref("ApiProxyResource")),
    }
    digest = hashlib.sha256(json.dumps(api, sort_keys=True).encode()).hexdigest()[:10]
    deployment = f"ApiDeployment{digest}"
    api[deployment] = {
        "Type": "AWS::ApiGateway::Deployment",
        "DependsOn": ["ApiRootMethod", "ApiProxyMethod"],
        "Properties": {"RestApiId": ref("RestApi"), "Description": f"API definition {digest}"},
    }
    api["ApiStage"] = {
        "Type": "AWS::ApiGateway::Stage",
        "Properties": {
            "RestApiId": ref("RestApi"),
            "DeploymentId": ref(deployment),
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
            "FunctionName": getatt("ApiFunction", "Arn"),
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": sub(
                "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${RestApi}/*"
            ),
        },
    }
    return api
