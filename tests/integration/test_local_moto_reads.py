"""The local moto server answers a DynamoDB read with an item as a whole write left it, never halfway
through one (DynamoDB's item-level atomicity): reads are served under the lock writes are applied
under (infra/local/persistence.py). A writer sets many attributes to one value per update while
readers read the item; every read must find them all equal."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.local import moto_updates
from infra.local.moto_http import KeepAliveHandler, stop_serving
from infra.local.moto_lane import DynamoLane
from infra.local.moto_speed import plain_results_walked_directly, speed_up_dispatch, speed_up_dynamodb_answers
from infra.local.persistence import Journal, PersistentApp

ATTRIBUTES = 150
UPDATES = 120
READERS = 3


@pytest.fixture
def endpoint(tmp_path: Path) -> Any:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    updates_were_installed = moto_updates.installed()
    speed_up_dispatch()
    speed_up_dynamodb_answers()
    plain_results_walked_directly()
    moto_updates.speed_up_update_items()  # the server's own path: reads beside planned updates
    journal = Journal(tmp_path)
    app = DomainDispatcherApplication(create_backend_app)
    journal.load(app)
    server = make_server(
        "127.0.0.1",
        0,
        PersistentApp(DynamoLane(app), journal),
        threaded=True,
        request_handler=KeepAliveHandler,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    stop_serving(server)
    server.server_close()
    journal.close(compact=False)
    if not updates_were_installed:
        moto_updates.uninstall()


def _client(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_a_read_never_sees_an_update_halfway(endpoint: str):
    c = _client(endpoint)
    c.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    names = {f"#a{i}": f"a{i}" for i in range(ATTRIBUTES)}
    expression = "SET " + ", ".join(f"#a{i} = :v" for i in range(ATTRIBUTES))
    c.update_item(
        TableName="t",
        Key={"k": {"S": "x"}},
        UpdateExpression=expression,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={":v": {"N": "0"}},
    )
    torn: list[set[str]] = []
    reads = [0]
    done = threading.Event()

    def read() -> None:
        reader = _client(endpoint)
        while not done.is_set():
            item = reader.get_item(TableName="t", Key={"k": {"S": "x"}}, ConsistentRead=True)["Item"]
            values = {item[f"a{i}"]["N"] for i in range(ATTRIBUTES)}
            reads[0] += 1
            if len(values) != 1:
                torn.append(values)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads switch as often as they can: a half-applied update shows
    readers = [threading.Thread(target=read) for _ in range(READERS)]
    try:
        for t in readers:
            t.start()
        for n in range(1, UPDATES + 1):
            c.update_item(
                TableName="t",
                Key={"k": {"S": "x"}},
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":v": {"N": str(n)}},
            )
    finally:
        done.set()
        for t in readers:
            t.join(60)
        sys.setswitchinterval(interval)
    assert reads[0] >= READERS
    assert torn == []
