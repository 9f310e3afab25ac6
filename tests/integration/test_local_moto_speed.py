"""The local moto server answers DynamoDB item operations with ``json.dumps`` instead of moto's shape
walker (infra/local/moto_speed.py): the answers must be the same documents, operation by operation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.responses import DynamoResult

from infra.local import moto_speed


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every DynamoDB answer computed both ways and compared; yields the operations seen."""
    installed = DynamoResult.execute_result
    moto_serializer = getattr(installed, "__wrapped__", installed)  # the suite may run with the fast path
    monkeypatch.setattr(DynamoResult, "execute_result", moto_serializer)
    moto_speed.speed_up_dynamodb_answers()
    fast = DynamoResult.execute_result
    seen: list[str] = []

    def both(self: Any, context: Any) -> Any:
        slow_status, slow_headers, slow_body = moto_serializer(self, context)
        status, headers, body = fast(self, context)
        name = context.operation_model.name
        assert (status, headers) == (slow_status, slow_headers), name
        assert json.loads(body) == json.loads(slow_body), name
        seen.append(name)
        return status, headers, body

    monkeypatch.setattr(DynamoResult, "execute_result", both)
    with mock_aws():
        yield seen


ITEM = {
    "pk": {"S": "a"},
    "sk": {"N": "1"},
    "s": {"S": "ñandú ✓"},
    "n": {"N": "12.50"},
    "b": {"B": b"\x00\x01\xff"},
    "ss": {"SS": ["x", "y"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"\x01", b"\x02"]},
    "m": {"M": {"deep": {"L": [{"S": "v"}, {"N": "3"}, {"NULL": True}, {"BOOL": False}]}}},
}


def test_item_operations_answer_the_same_documents(compared: list[str]):
    c = boto3.client("dynamodb", region_name="us-east-1")
    c.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    c.put_item(TableName="t", Item=ITEM, ReturnConsumedCapacity="TOTAL")
    for i in range(2, 6):
        c.put_item(TableName="t", Item={"pk": {"S": "a"}, "sk": {"N": str(i)}, "b": {"B": bytes([i])}})
    assert (
        c.get_item(TableName="t", Key={"pk": {"S": "a"}, "sk": {"N": "1"}})["Item"]["b"]["B"]
        == b"\x00\x01\xff"
    )
    c.get_item(TableName="t", Key={"pk": {"S": "none"}, "sk": {"N": "1"}})
    c.update_item(
        TableName="t",
        Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
        UpdateExpression="SET n = n + :one, m.deep[0] = :v",
        ExpressionAttributeValues={":one": {"N": "1"}, ":v": {"S": "w"}},
        ReturnValues="ALL_NEW",
    )
    c.update_item(
        TableName="t",
        Key={"pk": {"S": "a"}, "sk": {"N": "2"}},
        UpdateExpression="ADD c :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
        ReturnValues="UPDATED_OLD",
    )
    page = c.query(
        TableName="t",
        KeyConditionExpression="pk = :a",
        ExpressionAttributeValues={":a": {"S": "a"}},
        Limit=2,
    )
    assert "LastEvaluatedKey" in page
    c.query(
        TableName="t",
        KeyConditionExpression="pk = :a",
        ExpressionAttributeValues={":a": {"S": "a"}},
        ExclusiveStartKey=page["LastEvaluatedKey"],
        Select="COUNT",
    )
    c.scan(TableName="t", FilterExpression="attribute_exists(b)", ProjectionExpression="pk, sk, b")
    c.batch_get_item(
        RequestItems={
            "t": {"Keys": [{"pk": {"S": "a"}, "sk": {"N": "1"}}, {"pk": {"S": "x"}, "sk": {"N": "9"}}]}
        }
    )
    c.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": {"pk": {"S": "b"}, "sk": {"N": "1"}}}}]})
    c.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "c"}, "sk": {"N": "1"}}}},
            {
                "Update": {
                    "TableName": "t",
                    "Key": {"pk": {"S": "a"}, "sk": {"N": "3"}},
                    "UpdateExpression": "SET z = :z",
                    "ExpressionAttributeValues": {":z": {"BOOL": True}},
                }
            },
        ]
    )
    c.transact_get_items(
        TransactItems=[{"Get": {"TableName": "t", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}}}]
    )
    c.delete_item(TableName="t", Key={"pk": {"S": "a"}, "sk": {"N": "5"}}, ReturnValues="ALL_OLD")
    c.describe_table(TableName="t")  # not an item operation: moto's serializer answers (timestamps)
    assert {
        "PutItem",
        "GetItem",
        "UpdateItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "TransactGetItems",
        "DeleteItem",
        "DescribeTable",
    } <= set(compared)


def test_binary_goes_out_as_base64_and_anything_else_is_refused():
    assert json.loads(moto_speed.dynamodb_wire_json({"B": b"\x00\xff"})) == {"B": "AP8="}
    with pytest.raises(TypeError):
        moto_speed.dynamodb_wire_json({"when": object()})


def test_the_dispatch_shortcuts_give_what_moto_computes(monkeypatch: pytest.MonkeyPatch):
    import moto.backends as backends
    import moto.core.responses as responses
    from moto.core.utils import method_names_from_class
    from moto.dynamodb.responses import DynamoHandler
    from moto.s3.responses import S3Response
    from moto.sqs.responses import SQSResponse

    monkeypatch.setattr(backends, "list_of_moto_modules", backends.list_of_moto_modules)
    monkeypatch.setattr(responses, "method_names_from_class", responses.method_names_from_class)
    modules = list(backends.list_of_moto_modules())
    moto_speed.speed_up_dispatch()
    assert list(backends.list_of_moto_modules()) == modules
    for handler in (DynamoHandler, S3Response, SQSResponse):
        assert responses.method_names_from_class(handler) == method_names_from_class(handler)
        assert responses.method_names_from_class(handler) is responses.method_names_from_class(handler)


def test_results_are_converted_as_moto_converts_them():
    """The direct walk of plain nodes gives moto's ``dynamo_to_dict`` result for results mixing
    plain dicts, lists and strings with DynamoDB values (binary included), items, dates and
    other objects."""
    from datetime import datetime

    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.models.utilities import dynamo_to_dict as moto_dynamo_to_dict

    moto_speed.plain_results_walked_directly()
    from moto.dynamodb import responses

    class Custom(dict):  # a dict subclass with to_json: moto's rules apply, not the plain walk
        def to_json(self) -> dict[str, Any]:
            return {"custom": {"S": "x"}}

    item = Item(DynamoType({"S": "k"}), None, {key: value for key, value in ITEM.items() if key != "b"})
    result = {
        "Attributes": {"b": {"B": "AAH/"}, "n": {"N": "1"}, "l": [{"S": "x"}, 1, 2.5, True, None]},
        "Item": item,
        "Typed": DynamoType({"B": b"\x00\xff"}),
        "TypedSet": DynamoType({"BS": ["AAE=", b"\x02"]}),
        "Map": DynamoType({"M": {"x": {"L": [{"N": "1"}]}}}),
        "When": datetime(2026, 12, 7, 20, 0),
        "Custom": Custom(a=1),
        "Count": 3,
        "Nested": [[{"S": "y"}], {"deep": [DynamoType({"S": "z"})]}],
    }
    fast = responses.dynamo_to_dict(result)
    assert fast == moto_dynamo_to_dict(result)
    assert fast["Typed"] == {"B": b"\x00\xff"} and fast["Custom"] == {"custom": {"S": "x"}}
    assert getattr(responses.dynamo_to_dict, "walks_plain_nodes", False)
