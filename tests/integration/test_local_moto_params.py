"""moto's JSON request parsing with the shapes decided once (infra/local/moto_params.py) gives the
parameters moto's own walk gives — or fails as it fails — for generated DynamoDB request bodies of
every operation the stack uses, well-formed or not, and the whole DynamoDB API answers the same."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws
from moto.core import parse
from moto.core.utils import get_service_model

from infra.local import moto_params

OPERATIONS = (
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "TransactGetItems",
    "CreateTable",
)


def _outcome(operation: str, body: bytes, fast: bool) -> Any:
    if fast:
        moto_params.parse_json_faster()
    else:
        moto_params.uninstall()
    model = get_service_model("dynamodb").operation_model(operation)
    parser = parse.JSONParser(model, map_type=dict)
    try:
        return (
            "ok",
            parser.parse({"method": "POST", "values": {}, "headers": {}, "body": body, "url_path": "/"}),
        )
    except Exception as exc:  # the same failure both ways
        return ("error", type(exc).__name__, str(exc))


@pytest.fixture(autouse=True)
def _restore():
    was = "json_body" in moto_params._ORIGINAL
    yield
    if was:
        moto_params.parse_json_faster()
    else:
        moto_params.uninstall()


def _same(operation: str, document: Any) -> Any:
    body = json.dumps(document).encode()
    stock = _outcome(operation, body, fast=False)
    assert _outcome(operation, body, fast=True) == stock, (operation, document)
    return stock


_B64 = st.binary(max_size=6).map(lambda b: base64.b64encode(b).decode())
_JUNK = st.one_of(st.none(), st.integers(-3, 3), st.text(max_size=3), st.booleans(), st.just([]), st.just({}))
_GOOD = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(max_size=4)),
    st.builds(lambda n: {"N": n}, st.sampled_from(["1", "-2.5", "x"])),
    st.builds(lambda b: {"B": b}, _B64),
    st.builds(lambda s: {"SS": s}, st.lists(st.text(max_size=2), max_size=3)),
    st.builds(lambda s: {"NS": s}, st.lists(st.sampled_from(["1", "2"]), max_size=2)),
    st.builds(lambda s: {"BS": s}, st.lists(_B64, max_size=2)),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
    st.just({"NULL": True}),
    st.just({"S": None}),  # a member given as null: skipped
    st.just({"S": "a", "N": "1"}),  # two members
    st.just({"Z": "unknown member"}),
    st.just({}),
)
_BAD = st.one_of(
    st.builds(lambda v: {"S": v}, _JUNK),  # a value of the wrong type
    st.builds(lambda k, v: {k: v}, st.sampled_from(["s", "M", "L", "B"]), _JUNK),
    st.just({"B": "not base64!"}),
    _JUNK,
)
_SCALAR = st.one_of(_GOOD, _GOOD, _GOOD, _GOOD, _BAD)
_VALUE = st.recursive(
    _SCALAR,
    lambda inner: st.one_of(
        st.builds(lambda m: {"M": m}, st.dictionaries(st.text(max_size=3), inner, max_size=3)),
        st.builds(lambda items: {"L": items}, st.lists(inner, max_size=3)),
    ),
    max_leaves=8,
)
_MAP = st.dictionaries(st.text(max_size=3), _VALUE, max_size=4)
_ITEM = st.one_of(_MAP, _MAP, _MAP, _MAP, _JUNK)


def _body(draw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"TableName": draw(st.sampled_from(["t", "", 5]))}
    for name in ("Key", "Item", "ExpressionAttributeValues", "ExclusiveStartKey"):
        if draw(st.booleans()):
            body[name] = draw(_ITEM)
    if draw(st.booleans()):
        body["ExpressionAttributeNames"] = draw(
            st.dictionaries(st.text(max_size=3), st.text(max_size=3) | _JUNK)
        )
    if draw(st.booleans()):
        body["Limit"] = draw(st.one_of(st.integers(0, 50), st.just("7"), st.just("x"), st.just(None)))
    if draw(st.booleans()):
        body["ConsistentRead"] = draw(st.booleans() | _JUNK)
    if draw(st.booleans()):
        body["Unknown"] = draw(_JUNK)
    return body


@st.composite
def _request(draw: Any) -> tuple[str, Any]:
    operation = draw(st.sampled_from(OPERATIONS))
    body = _body(draw)
    if operation in ("BatchGetItem", "BatchWriteItem"):
        requests = [{"PutRequest": {"Item": draw(_ITEM)}}, {"DeleteRequest": {"Key": draw(_ITEM)}}]
        body = {"RequestItems": {"t": requests if operation == "BatchWriteItem" else {"Keys": [draw(_ITEM)]}}}
    elif operation.startswith("Transact"):
        body = {
            "TransactItems": [
                {"Put": _body(draw)},
                {"Update": _body(draw)},
                {"Get": _body(draw)},
                draw(_JUNK),
            ]
        }
    if draw(st.integers(0, 9)) == 0:
        return operation, draw(_JUNK)  # a body that is not an object
    return operation, body


@settings(max_examples=400, deadline=None, derandomize=True)
@given(_request())
def test_generated_request_bodies_parse_or_fail_as_with_moto(request):
    operation, document = request
    _same(operation, document)


def test_the_store_shaped_requests_parse_as_with_moto():
    """Both outcomes on the requests the accounting path sends, and a body moto cannot walk."""
    update = {
        "TableName": "wisp-local-subscribers",
        "Key": {"login": {"S": "t#u"}},
        "UpdateExpression": "SET #a = :a, #u.#k = if_not_exists(#u.#k, :z) + :d",
        "ConditionExpression": "attribute_exists (#a)",
        "ExpressionAttributeNames": {"#a": "last_seen_at", "#u": "usage", "#k": "d:2026-12-07:i"},
        "ExpressionAttributeValues": {
            ":a": {"S": "2026-12-07T20:00:00Z"},
            ":z": {"N": "0"},
            ":d": {"N": "1500"},
            ":m": {"M": {"x": {"L": [{"B": base64.b64encode(b"\x00\xff").decode()}, {"NULL": True}]}}},
        },
        "ReturnValues": "ALL_OLD",
    }
    before = dict(moto_params.STATS)
    ok = _same("UpdateItem", update)
    assert moto_params.STATS["fast"] == before["fast"] + 1 and moto_params.STATS["moto"] == before["moto"]
    assert ok[0] == "ok" and ok[1]["ExpressionAttributeValues"][":m"]["M"]["x"]["L"][0] == {"B": b"\x00\xff"}
    assert _same("GetItem", {"TableName": "t", "Key": ["not", "a", "map"]})[0] == "error"


def test_the_dynamodb_api_answers_the_same():
    """Calls through boto3 against moto, with and without the faster walk: the same answers."""
    results = []
    for fast in (False, True):
        if fast:
            moto_params.parse_json_faster()
        else:
            moto_params.uninstall()
        with mock_aws():
            c = boto3.client("dynamodb", region_name="us-east-1")
            c.create_table(
                TableName="t",
                KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            item = {
                "k": {"S": "a"},
                "b": {"B": b"\x01"},
                "m": {"M": {"l": {"L": [{"N": "1"}, {"BS": [b"x"]}]}}},
            }
            c.put_item(TableName="t", Item=item)
            c.update_item(
                TableName="t",
                Key={"k": {"S": "a"}},
                UpdateExpression="SET n = if_not_exists(n, :z) + :one",
                ExpressionAttributeValues={":z": {"N": "0"}, ":one": {"N": "1"}},
            )
            got = c.get_item(TableName="t", Key={"k": {"S": "a"}}, ConsistentRead=True)["Item"]
            page = c.query(
                TableName="t",
                KeyConditionExpression="k = :k",
                ExpressionAttributeValues={":k": {"S": "a"}},
                Limit=1,
            )["Items"]
            results.append((got, page))
    assert results[0] == results[1]
    assert results[0][0]["b"] == {"B": b"\x01"} and results[0][0]["n"] == {"N": "1"}
