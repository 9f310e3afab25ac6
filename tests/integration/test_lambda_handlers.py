"""The Lambda entry points named in template.yaml run with powertools logging, tracing and metrics."""

from __future__ import annotations

import json
from dataclasses import dataclass

from api.app import handle_http
from billing_cron.reaper import handle_reap_stale_sessions
from provisioner.handler import handle_provision_batch


@dataclass
class LambdaContext:
    function_name: str = "wisp-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:wisp-test"
    aws_request_id: str = "req-123"


def _rest_event(path: str, method: str = "GET", headers: dict[str, str] | None = None) -> dict:
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers or {},
        "multiValueHeaders": {k: [v] for k, v in (headers or {}).items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "requestId": "apigw-req-1",
            "identity": {"sourceIp": "203.0.113.9"},
            "stage": "v1",
        },
        "body": None,
        "isBase64Encoded": False,
    }


def test_api_handler_serves_health_and_refuses_unauthenticated_admin_calls(runtime, capsys):
    resp = handle_http(_rest_event("/health"), LambdaContext())
    assert resp["statusCode"] == 200 and json.loads(resp["body"])["datastore"] == "ok"
    denied = handle_http(_rest_event("/admin/me"), LambdaContext())
    assert denied["statusCode"] == 401 and json.loads(denied["body"])["error"]["code"] == "unauthorized"
    # powertools metrics were flushed as CloudWatch embedded metrics
    out = capsys.readouterr().out
    assert '"ApiRequests"' in out


def _sqs_record(message_id: str, body: dict) -> dict:
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": json.dumps(body),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1795312000000",
            "MessageGroupId": body.get("gateway_id", "g"),
            "MessageDeduplicationId": message_id,
            "SequenceNumber": "1",
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:wisp-test-provision.fifo",
        "awsRegion": "us-east-1",
    }


def test_provisioner_and_reaper_handlers_run_under_powertools(demo):
    # Given the local trigger queue exists
    from services.network.triggers import ensure_queues

    ensure_queues(demo_runtime())
    # a trigger for a gateway that no longer exists has nothing to do: acknowledged, not retried
    bad = _sqs_record(
        "m-2",
        {
            "v": 1,
            "kind": "reconcile_router",
            "task_id": "task_x",
            "run": 1,
            "tenant_id": demo.tenant_id,
            "gateway_id": "gw_missing",
        },
    )
    out = handle_provision_batch({"Records": [bad]}, LambdaContext())
    assert out == {"batchItemFailures": []}
    assert handle_reap_stale_sessions({}, LambdaContext()) == {"closed": 0}


def demo_runtime():
    from composition import get_runtime

    return get_runtime()
