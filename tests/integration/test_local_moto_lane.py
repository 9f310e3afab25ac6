"""DynamoDB calls answered by the local moto server's lane (infra/local/moto_lane.py) get the answer
moto's Flask app gives: the same requests, signed as boto3 signs them, run through both on fresh
state, then status, headers and body are compared call by call (the request id aside)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto import mock_aws
from werkzeug.test import Client

from infra.local.moto_lane import DynamoLane
from infra.local.moto_speed import speed_up_dispatch, speed_up_dynamodb_answers

Call = tuple[str, dict[str, Any]]
TABLE = {
    "TableName": "t",
    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}
CALLS: list[Call] = [
    ("CreateTable", TABLE),
    ("PutItem", {"TableName": "t", "Item": {"id": {"S": "a"}, "n": {"N": "1"}, "b": {"B": "AAEC"}}}),
    ("GetItem", {"TableName": "t", "Key": {"id": {"S": "a"}}}),
    ("GetItem", {"TableName": "t", "Key": {"id": {"S": "missing"}}}),
    ("GetItem", {"TableName": "nope", "Key": {"id": {"S": "a"}}}),
    ("GetItem", {"TableName": "t", "Key": {"other": {"S": "a"}}}),
    ("GetItem", {"TableName": "t", "Key": {"id": {"S": ""}}}),
    (
        "GetItem",
        {
            "TableName": "t",
            "Key": {"id": {"S": "a"}},
            "ProjectionExpression": "#n",
            "ExpressionAttributeNames": {"#n": "n"},
        },
    ),
    (
        "UpdateItem",
        {
            "TableName": "t",
            "Key": {"id": {"S": "a"}},
            "UpdateExpression": "SET #n = if_not_exists(#n, :z) + :one, m = :m",
            "ExpressionAttributeNames": {"#n": "n"},
            "ExpressionAttributeValues": {
                ":z": {"N": "0"},
                ":one": {"N": "1"},
                ":m": {"M": {"k": {"S": "v"}}},
            },
            "ReturnValues": "ALL_NEW",
        },
    ),
    (
        "UpdateItem",
        {
            "TableName": "t",
            "Key": {"id": {"S": "a"}},
            "UpdateExpression": "SET m.k = :v",
            "ConditionExpression": "n = :wrong",
            "ExpressionAttributeValues": {":v": {"S": "w"}, ":wrong": {"N": "99"}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
    ),
    ("UpdateItem", {"TableName": "t", "Key": {"id": {"S": "a"}}, "UpdateExpression": "SET x = :missing"}),
    ("UpdateItem", {"TableName": "t", "Key": {"id": {"S": "b"}}, "UpdateExpression": "SET x = = :v"}),
    (
        "Query",
        {
            "TableName": "t",
            "KeyConditionExpression": "id = :a",
            "ExpressionAttributeValues": {":a": {"S": "a"}},
        },
    ),
    ("Scan", {"TableName": "t"}),
    ("DescribeTable", {"TableName": "t"}),
    ("DeleteItem", {"TableName": "t", "Key": {"id": {"S": "a"}}, "ReturnValues": "ALL_OLD"}),
    ("NoSuchOperation", {"TableName": "t"}),
]


def _signed(target: str, body: dict[str, Any], origin: bool = False) -> tuple[bytes, dict[str, str]]:
    data = json.dumps(body).encode()
    headers = {"X-Amz-Target": f"DynamoDB_20120810.{target}", "Content-Type": "application/x-amz-json-1.0"}
    if origin:
        headers["Origin"] = "http://localhost:8080"
    request = AWSRequest(method="POST", url="http://127.0.0.1:5000/", data=data, headers=headers)
    SigV4Auth(Credentials("testing", "testing"), "dynamodb", "us-east-1").add_auth(request)
    return data, dict(request.headers.items())


def _run(app: Any, origin: bool = False) -> list[tuple[Any, ...]]:
    out = []
    with mock_aws():
        client = Client(app)
        for target, body in CALLS:
            data, headers = _signed(target, body, origin)
            try:
                r = client.post("/", data=data, headers=headers)
            except Exception as exc:  # moto failing in its own code: the server answers 500 either way
                out.append((target, "raised", type(exc).__name__))
                continue
            kept = [(k, v) for k, v in r.headers.items() if k.lower() != "x-amzn-requestid"]
            body = r.get_data()
            if target in ("CreateTable", "DescribeTable"):  # the creation time and table id differ
                kept = [(k, v) for k, v in kept if k.lower() not in ("x-amz-crc32", "content-length")]
                body = json.dumps(_timeless(json.loads(body)), sort_keys=True).encode()
            out.append((target, r.status, kept, body))
    return out


def _timeless(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k not in ("CreationDateTime", "TableId")}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


@pytest.fixture
def moto_app() -> Iterator[Any]:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    speed_up_dispatch()
    speed_up_dynamodb_answers()
    yield DomainDispatcherApplication(create_backend_app)


def test_the_lane_answers_as_moto_flask_app(moto_app):
    lane = DynamoLane(moto_app)
    through_flask = _run(moto_app)
    through_lane = _run(lane)
    assert through_lane == through_flask
    assert lane.served == len(CALLS) - 1  # the unknown operation raises in moto, as through Flask
    statuses = [r[1] for r in through_flask]
    assert statuses.count("200 OK") >= 9 and "400 BAD REQUEST" in statuses  # answers and errors both


def test_browser_requests_and_other_services_go_to_moto_app(moto_app):
    lane = DynamoLane(moto_app)
    assert _run(lane, origin=True) == _run(moto_app, origin=True)
    assert lane.served == 0
    with mock_aws():
        data = b"Action=ListQueues&Version=2012-11-05"
        request = AWSRequest(
            method="POST",
            url="http://127.0.0.1:5000/",
            data=data,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        SigV4Auth(Credentials("testing", "testing"), "sqs", "us-east-1").add_auth(request)
        r = Client(lane).post("/", data=data, headers=dict(request.headers.items()))
        assert r.status == "200 OK"
    assert lane.served == 0
