"""Costs of moto's HTTP app that the local stack removes (behaviour unchanged).

* moto's dispatcher lists its package directory on every request (about 1.5 ms, a third of a
  DynamoDB write here); the list never changes while the server runs. Each request also lists the
  handler class's methods with ``inspect.getmembers`` (about 0.1 ms) to check that the action is
  one of them; a class's methods do not change either, so the list is kept per class.
* moto 5 serialises every DynamoDB answer by walking the botocore output shape, member by member,
  with alias lookups (about 20 ms for an UpdateItem returning a subscriber item: most of the local
  stack's write time). The item operations' results are already DynamoDB's wire format
  (``{"S": ...}``, ``{"N": "..."}``, binary as bytes), so ``json.dumps`` with binary as base64 gives
  the same document (members outside the operation's output shape left out, as moto's serializer
does). Other operations (tables, TTL, backups: timestamps and aliases) keep moto's
  serializer. ``tests/integration/test_local_moto_speed.py`` compares both answers operation by
  operation.
* Every DynamoDB result goes through ``dynamo_to_dict`` before it is serialised: for an UpdateItem's
  old item that is a walk of plain dicts and strings asking each node whether it is a date, a
  DynamoDB value or has ``to_json``. :func:`plain_results_walked_directly` walks plain dicts, lists
  and strings directly and hands every other node to moto's function (same result).
* moto's SQS long poll spins for its whole wait when a queue's visible messages cannot be taken (a
  FIFO group with a message in flight): :func:`wait_for_sqs_messages_without_spinning` makes it
  wait (``tests/integration/test_local_moto_sqs_wait.py``).
"""

from __future__ import annotations

import base64
import functools
import json
from typing import Any

# DynamoDB operations whose result is items, keys and counts only.
ITEM_OPERATIONS = frozenset(
    {
        "BatchGetItem",
        "BatchWriteItem",
        "DeleteItem",
        "GetItem",
        "PutItem",
        "Query",
        "Scan",
        "TransactGetItems",
        "TransactWriteItems",
        "UpdateItem",
    }
)
JSON_10 = {"Content-Type": "application/x-amz-json-1.0"}


def _wire(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not part of DynamoDB's wire format")


def dynamodb_wire_json(result: Any) -> str:
    """A DynamoDB item operation's result as the JSON DynamoDB answers with."""
    return json.dumps(result, default=_wire, separators=(",", ":"))


def speed_up_dispatch() -> None:
    import moto.backends as backends
    import moto.core.responses as responses

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = functools.cache(lambda: modules)  # type: ignore[assignment]
    if not hasattr(responses.method_names_from_class, "cache_info"):
        responses.method_names_from_class = functools.cache(responses.method_names_from_class)


def speed_up_dynamodb_answers() -> None:
    from moto.dynamodb.responses import DynamoResult

    if getattr(DynamoResult.execute_result, "wire_json", False):
        return
    moto_serializer = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name not in ITEM_OPERATIONS:
            return moto_serializer(self, context)
        members = context.operation_model.output_shape.members
        result = self.result
        if isinstance(result, dict):  # moto adds keys of the old API (ConsumedCapacityUnits): not answered
            result = {k: v for k, v in result.items() if k in members}
        try:
            body = dynamodb_wire_json(result)
        except (TypeError, ValueError):  # something that is not wire format: moto's serializer decides
            return moto_serializer(self, context)
        return 200, dict(JSON_10), body

    execute_result.wire_json = True  # type: ignore[attr-defined]
    execute_result.__wrapped__ = moto_serializer  # type: ignore[attr-defined]
    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]


_PLAIN = frozenset({str, int, float, bool, type(None)})


def plain_results_walked_directly() -> None:
    """Install :func:`dynamo_to_dict` where moto's DynamoDB answers call it (idempotent)."""
    from moto.dynamodb import responses
    from moto.dynamodb.models import utilities

    if getattr(responses.dynamo_to_dict, "walks_plain_nodes", False):
        return
    moto_dynamo_to_dict = utilities.dynamo_to_dict

    def dynamo_to_dict(obj: Any) -> Any:
        """moto's ``dynamo_to_dict``: a plain dict or list (exactly those types) is walked here,
        a string, number, boolean or None is itself (moto's last case: none is a date, a DynamoDB
        value or has ``to_json``), anything else is moto's to convert."""
        kind = type(obj)
        if kind is dict:
            return {k: dynamo_to_dict(v) for k, v in obj.items()}
        if kind is list:
            return [dynamo_to_dict(item) for item in obj]
        if kind in _PLAIN:
            return obj
        return moto_dynamo_to_dict(obj)

    dynamo_to_dict.walks_plain_nodes = True  # type: ignore[attr-defined]
    dynamo_to_dict.__wrapped__ = moto_dynamo_to_dict  # type: ignore[attr-defined]
    responses.dynamo_to_dict = dynamo_to_dict


def wait_for_sqs_messages_without_spinning() -> None:
    """moto's SQS long poll, waiting instead of spinning.

    ``ReceiveMessage`` with ``WaitTimeSeconds`` loops: take what can be taken, else
    ``Queue.wait_for_messages(1)``, which returns at once when the queue holds any visible message.
    When the visible messages cannot be taken — a FIFO queue's messages whose group has one in flight
    (a router's provisioning task waiting behind the one being retried), or messages past the
    retention period — it returns at once every time and the poll spins for its whole wait: one core
    of moto's process (every DynamoDB call waits behind it) for as long as the group stays busy, with
    the provisioner polling every second. Here it waits for a new message or one second, whichever
    comes first; a message sent wakes it as before (``add_message`` notifies), a group freed or a
    message becoming visible again is seen within the second instead of at once. Answers unchanged.
    """
    from moto.sqs.models import Queue

    if getattr(Queue.wait_for_messages, "wisp_waits", False):
        return

    def wait_for_messages(self: Any, timeout: int) -> None:
        with self._messages_lock:
            self._messages_lock.wait(timeout=timeout)

    wait_for_messages.wisp_waits = True  # type: ignore[attr-defined]
    Queue.wait_for_messages = wait_for_messages  # type: ignore[method-assign]
