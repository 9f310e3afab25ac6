"""The local moto's snapshot + journal (infra/local/persistence.py), driven through moto's own WSGI app
with DynamoDB requests as boto3 sends them: what is journaled, what a restart brings back, a torn
last line, compaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from moto.core.base_backend import BackendDict
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.test import Client

from infra.local.persistence import SNAPSHOT, Journal, PersistentApp

AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host;x-amz-target, Signature=0"
)


@pytest.fixture(autouse=True)
def fresh_moto():
    BackendDict.reset()
    yield
    BackendDict.reset()


def _server(directory: Path, compact_after: int = 1000) -> tuple[Client, Journal]:
    BackendDict.reset()  # a new process: nothing in memory
    app = DomainDispatcherApplication(create_backend_app)
    journal = Journal(directory, compact_after=compact_after)
    journal.load(app)
    return Client(PersistentApp(app, journal)), journal


def _call(client: Client, op: str, body: dict) -> tuple[int, dict]:
    resp = client.post(
        "/",
        base_url="http://127.0.0.1:5000",
        headers={
            "X-Amz-Target": f"DynamoDB_20120810.{op}",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": AUTH,
        },
        data=json.dumps(body),
    )
    return resp.status_code, json.loads(resp.data or b"{}")


def _create(client: Client) -> None:
    status, _ = _call(
        client,
        "CreateTable",
        {
            "TableName": "t",
            "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )
    assert status == 200


def _put(client: Client, key: str, value: int, **extra) -> int:
    return _call(
        client, "PutItem", {"TableName": "t", "Item": {"k": {"S": key}, "v": {"N": str(value)}}, **extra}
    )[0]


def _keys(client: Client) -> dict[str, str]:
    status, body = _call(client, "Scan", {"TableName": "t"})
    assert status == 200
    return {item["k"]["S"]: item["v"]["N"] for item in body["Items"]}


def _lines(directory: Path) -> list[dict]:
    return [json.loads(x) for p in directory.glob("journal-*.log") for x in p.read_text().splitlines()]


def test_only_successful_writes_are_journaled_and_a_restart_replays_them(tmp_path):
    client, journal = _server(tmp_path)
    _create(client)
    assert _put(client, "a", 1) == 200
    assert _put(client, "b", 2) == 200
    # a conditional write that fails changes nothing and is not journaled; reads are not journaled
    assert _put(client, "a", 9, ConditionExpression="attribute_not_exists(k)") == 400
    assert _keys(client) == {"a": "1", "b": "2"}
    ops = [e["h"]["X-Amz-Target"].split(".")[1] for e in _lines(tmp_path)]
    assert ops == ["CreateTable", "PutItem", "PutItem"]
    assert journal.stats["journaled"] == 3 and journal.stats["fsyncs"] >= 1

    # the process dies without a clean stop (no snapshot): the journal alone brings the data back
    client, journal = _server(tmp_path)
    assert _keys(client) == {"a": "1", "b": "2"}
    # the replayed journal was folded into a snapshot at start
    assert (tmp_path / SNAPSHOT).exists() and _lines(tmp_path) == []


def test_a_torn_last_line_is_skipped_and_the_rest_is_kept(tmp_path):
    client, _ = _server(tmp_path)
    _create(client)
    _put(client, "a", 1)
    path = next(tmp_path.glob("journal-*.log"))
    with path.open("ab") as fh:
        fh.write(b'{"m":"POST","p":"/","q":"","h":{"X-Amz-Tar')  # a write cut short by a crash
    BackendDict.reset()
    app = DomainDispatcherApplication(create_backend_app)
    report = Journal(tmp_path).load(app)
    assert (report.replayed, report.failed, report.torn) == (2, 0, 1)
    assert _keys(Client(app)) == {"a": "1"}


def test_compaction_bounds_the_journal_and_a_clean_stop_leaves_only_a_snapshot(tmp_path):
    client, journal = _server(tmp_path, compact_after=5)
    _create(client)
    for i in range(12):
        assert _put(client, f"k{i}", i) == 200
    assert journal.stats["compactions"] == 2 and journal.generation == 2
    assert len(_lines(tmp_path)) == 3  # 13 writes: 5 + 5 in snapshots, 3 in the journal
    journal.close(compact=True)
    assert _lines(tmp_path) == [] and journal.generation == 3
    client, _ = _server(tmp_path)
    assert _keys(client) == {f"k{i}": str(i) for i in range(12)}
    assert len(list(tmp_path.glob("journal-*.log"))) == 1


S3_AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"
)


def _s3(client: Client, method: str, path: str, data: bytes = b"") -> tuple[int, bytes]:
    resp = client.open(
        path, method=method, base_url="http://127.0.0.1:5000", headers={"Authorization": S3_AUTH}, data=data
    )
    return resp.status_code, resp.data


def test_documents_come_back_and_creating_the_bucket_again_at_start_keeps_them(tmp_path):
    client, journal = _server(tmp_path)
    assert _s3(client, "PUT", "/docs")[0] == 200
    assert _s3(client, "PUT", "/docs/contracts/c1.pdf", b"%PDF-1.7 contract")[0] == 200
    journal.close(compact=True)  # a clean stop: the bucket now lives in the snapshot only
    for _ in range(2):  # two restarts from the snapshot, each creating the bucket as the stack's start does
        client, journal = _server(tmp_path)
        status, body = _s3(client, "PUT", "/docs")
        assert status in (200, 409), body  # us-east-1 answers 200 for a bucket of one's own
        assert _s3(client, "GET", "/docs/contracts/c1.pdf") == (200, b"%PDF-1.7 contract")
        journal.close(compact=True)


def test_a_multipart_upload_journaled_before_a_crash_is_whole_after_the_restart(tmp_path):
    client, _ = _server(tmp_path)
    assert _s3(client, "PUT", "/docs")[0] == 200
    status, body = _s3(client, "POST", "/docs/jobs/export.csv?uploads")
    assert status == 200
    upload = body.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
    first, last = b"a" * (5 * 1024 * 1024), b"the last rows\n"
    etags = []
    for n, part in enumerate((first, last), start=1):
        resp = client.open(
            f"/docs/jobs/export.csv?partNumber={n}&uploadId={upload}",
            method="PUT",
            base_url="http://127.0.0.1:5000",
            headers={"Authorization": S3_AUTH},
            data=part,
        )
        assert resp.status_code == 200
        etags.append(resp.headers["ETag"])
    complete = (
        "<CompleteMultipartUpload>"
        + "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
            for n, etag in enumerate(etags, start=1)
        )
        + "</CompleteMultipartUpload>"
    )
    assert _s3(client, "POST", f"/docs/jobs/export.csv?uploadId={upload}", complete.encode())[0] == 200
    # killed: no clean stop, the journal alone has the upload (moto draws a new upload id on replay)
    client, _ = _server(tmp_path)
    assert _s3(client, "GET", "/docs/jobs/export.csv") == (200, first + last)


def test_the_stats_count_requests_and_cpu_per_operation(tmp_path):
    client, _ = _server(tmp_path)
    _create(client)
    for i in range(3):
        _put(client, f"k{i}", i)
    _keys(client)
    stats = json.loads(client.get("/_local/stats").data)
    assert stats["requests"] == {"CreateTable": 1, "PutItem": 3, "Scan": 1}
    assert set(stats["cpu_seconds"]) == set(stats["requests"])
    assert all(seconds > 0 for seconds in stats["cpu_seconds"].values())
    assert stats["process_cpu_seconds"] >= sum(stats["cpu_seconds"].values())
    assert stats["journal"]["journaled"] == 4
