"""The local moto server keeps connections open (infra/local/moto_http.py): the same requests get the
same answers as from werkzeug's stock handler, on one connection; requests it cannot delimit, or whose
client asks for it, still close the connection; a stopping server serves nothing more."""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from moto.core.base_backend import BackendDict
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from infra.local.moto_http import KeepAliveHandler, stop_serving

AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, "
    "SignedHeaders=host;x-amz-target, Signature=0"
)
# headers that differ between two runs whatever the handler (time, random ids) or that say how the
# connection is handled, which is the point
VOLATILE = {"date", "x-amzn-requestid", "x-amz-request-id", "x-amz-id-2", "connection", "last-modified"}


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[BaseWSGIServer] = []

    def start(handler: type) -> BaseWSGIServer:
        BackendDict.reset()
        app = DomainDispatcherApplication(create_backend_app)
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        if not getattr(server, "wisp_stopping", False):
            server.shutdown()
        server.server_close()
    BackendDict.reset()


def _dynamodb(op: str, body: dict[str, Any]) -> tuple[str, str, bytes, dict[str, str]]:
    return (
        "POST",
        "/",
        json.dumps(body).encode(),
        {
            "X-Amz-Target": f"DynamoDB_20120810.{op}",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": AUTH.format(service="dynamodb"),
        },
    )


def _s3(method: str, path: str, body: bytes = b"") -> tuple[str, str, bytes, dict[str, str]]:
    headers = {"Authorization": AUTH.format(service="s3"), "Host": "s3.amazonaws.com"}
    if body or method == "PUT":
        headers["Content-Length"] = str(len(body))
    return method, path, body, headers


REQUESTS = [
    _dynamodb(
        "CreateTable",
        {
            "TableName": "t",
            "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    ),
    _dynamodb("PutItem", {"TableName": "t", "Item": {"k": {"S": "a"}, "n": {"N": "1"}}}),
    _dynamodb("GetItem", {"TableName": "t", "Key": {"k": {"S": "a"}}}),
    _dynamodb(
        "UpdateItem",
        {
            "TableName": "t",
            "Key": {"k": {"S": "a"}},
            "UpdateExpression": "ADD n :one",
            "ConditionExpression": "n = :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
            "ReturnValues": "ALL_NEW",
        },
    ),
    _dynamodb(  # the condition no longer holds: an error answer, the connection stays usable
        "UpdateItem",
        {
            "TableName": "t",
            "Key": {"k": {"S": "a"}},
            "UpdateExpression": "ADD n :one",
            "ConditionExpression": "n = :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        },
    ),
    _dynamodb("GetItem", {"TableName": "missing", "Key": {"k": {"S": "a"}}}),
    _s3("PUT", "/bucket"),
    _s3("PUT", "/bucket/doc.txt", b"hello " * 1000),
    _s3("GET", "/bucket/doc.txt"),
    _s3("HEAD", "/bucket/doc.txt"),
    _s3("GET", "/bucket/missing.txt"),
    _s3("DELETE", "/bucket/doc.txt"),
    _dynamodb("Scan", {"TableName": "t"}),
]


def _answer(response: http.client.HTTPResponse, method: str) -> tuple[int, dict[str, str], bytes]:
    body = response.read()
    headers = {k.lower(): v for k, v in response.getheaders() if k.lower() not in VOLATILE}
    if "transfer-encoding" in headers:  # how the body was framed, not what it is
        del headers["transfer-encoding"]
        headers["content-length"] = str(len(body))
    body = re.sub(rb"<(RequestId|HostId)>[^<]*<", rb"<\1>-<", body)  # random ids
    return response.status, headers, body if method != "HEAD" else b""


def _run(server: BaseWSGIServer) -> tuple[list[Any], set[int]]:
    """The requests in order on one client connection (reopened when the server closes it)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    answers, sockets = [], set()
    for method, path, body, headers in REQUESTS:
        conn.request(method, path, body=body or None, headers=headers)
        sockets.add(conn.sock.getsockname()[1])  # the client port: one per connection
        answers.append(_answer(conn.getresponse(), method))
    conn.close()
    return answers, sockets


def test_the_same_answers_on_one_connection(serve):
    stock, stock_sockets = _run(serve(MotoRequestHandler))
    kept, kept_sockets = _run(serve(KeepAliveHandler))
    assert kept[0][0] == stock[0][0] == 200  # CreateTable: its body (and length) has the creation time
    assert kept[1:] == stock[1:]
    assert [status for status, _, _ in stock] == [200] * 4 + [400, 400] + [200] * 4 + [404, 204, 200]
    assert len(stock_sockets) == len(REQUESTS)  # werkzeug: a connection per request
    assert len(kept_sockets) == 1


def test_requests_without_a_known_length_or_asking_to_close_close_the_connection(serve):
    server = serve(KeepAliveHandler)
    method, path, body, headers = REQUESTS[0]
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    conn.request(method, path, body=iter([body[:10], body[10:]]), headers=headers)  # chunked
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    assert response.getheader("Connection") == "close"

    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    method, path, body, headers = REQUESTS[2]
    conn.request(method, path, body=body, headers={**headers, "Connection": "close"})
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    assert response.getheader("Connection") == "close"

    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    assert response.getheader("Connection") is None  # HTTP/1.1: stays open


def test_a_stopping_server_does_not_serve_a_connection_opened_before(serve):
    server = serve(KeepAliveHandler)
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    for method, path, body, headers in REQUESTS[:2]:
        conn.request(method, path, body=body, headers=headers)
        assert conn.getresponse().read()
    stop_serving(server)
    method, path, body, headers = REQUESTS[2]
    conn.request(method, path, body=body, headers=headers)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        conn.getresponse()
