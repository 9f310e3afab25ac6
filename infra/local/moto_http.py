"""Keep-alive connections for the local moto server.

Werkzeug's development server answers every request with ``Connection: close``: each DynamoDB call
of the API, the RADIUS service and the workers opens a TCP connection, and the server starts a
thread for it. With a RADIUS accounting packet making three or four DynamoDB calls, that is a
connection set-up and a thread start per call on both sides.

:class:`KeepAliveHandler` keeps the connection open when that is safe: the request states its body
length (``Content-Length``, or no body at all; no ``Transfer-Encoding``, no ``Expect``). The body is read
before the application runs, so the next request line is never confused with unread body bytes; the
connection is then left open unless the client asked to close it. Any other request is served as
before, connection closed. The answers themselves (status, headers, body) are werkzeug's, unchanged:
``tests/integration/test_local_moto_http.py`` compares them with the stock handler's.

When the server stops (:func:`stop_serving`), a request arriving on a connection opened before is
not served (the connection is closed without an answer), as a new connection would not be.
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import http.client
import io
import logging
import re
import socket
import time
from typing import Any

from moto.moto_server.werkzeug_app import MotoRequestHandler


class KeepAliveHandler(MotoRequestHandler):
    """moto's request handler, with HTTP/1.1 persistent connections for requests of known length."""

    _keep_alive = False

    def setup(self) -> None:
        super().setup()
        # an answer is written in two parts (head, body): without this, on a connection kept open,
        # the body waits for the client's delayed acknowledgement of the head (tens of ms)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def run_wsgi(self) -> None:
        if getattr(self.server, "wisp_stopping", False):
            # the server is stopping: this request (on a connection opened before) is not served, as a
            # new connection would not be; the client sees the connection closed without an answer
            self.close_connection = True
            return
        length = self.headers.get("Content-Length", "0")  # none: no body (a GET, a HEAD)
        self._keep_alive = (
            length.isdigit()
            and "Transfer-Encoding" not in self.headers
            and "Expect" not in self.headers
            and not self.close_connection
        )
        if not self._keep_alive:
            super().run_wsgi()
            return
        connection_file = self.rfile
        body = connection_file.read(int(length))
        if len(body) < int(length):  # the client went away in the middle of its request
            self.close_connection = True
            return
        # werkzeug's application input and its after-response drain read this copy of the body, never
        # the bytes of the next request on the connection
        self.rfile = io.BytesIO(body)  # type: ignore[assignment]
        connection_out = self.wfile
        self.wfile = _Coalesced(connection_out)  # type: ignore[assignment]
        try:
            super().run_wsgi()
        finally:
            self.wfile.flush()
            self.rfile, self.wfile = connection_file, connection_out
            self._keep_alive = False

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # werkzeug formats the access-log line (path, time, colours) before its logger drops it
        if access_log_off():
            return
        super().log_request(code, size)

    def date_time_string(self, timestamp: float | None = None) -> str:
        if timestamp is not None:
            return super().date_time_string(timestamp)
        return _http_date(int(time.time()))

    def send_header(self, keyword: str, value: str) -> None:
        if self._keep_alive and keyword.lower() == "connection" and value.lower() == "close":
            return  # werkzeug closes every connection; this one stays open
        super().send_header(keyword, value)


class _Coalesced:
    """The connection's output, sent at each ``flush()``: werkzeug writes an answer's head and body
    separately, then flushes; on a kept connection that is one packet instead of two."""

    def __init__(self, out: Any) -> None:
        self._out = out
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._pending.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        if self._pending:
            data, self._pending = b"".join(self._pending), []
            self._out.write(data)
        self._out.flush()


def access_log_off() -> bool:
    """werkzeug's access log would be dropped: its logger has a level of its own above INFO (with
    no level, werkzeug gives it INFO on first use and logs)."""
    logger = logging.getLogger("werkzeug")
    return logger.level != logging.NOTSET and not logger.isEnabledFor(logging.INFO)


_DATE: tuple[int, str] = (-1, "")  # the second and its Date header text, replaced as one


def _http_date(second: int) -> str:
    """``Date`` header text: the same for every answer within one second (it counts whole seconds)."""
    global _DATE
    cached = _DATE
    if cached[0] != second:
        cached = (second, email.utils.formatdate(second, usegmt=True))
        _DATE = cached
    return cached[1]


# ---------------------------------------------------------------- request headers
# A header line the email parser reads as "name: value" and nothing else: a name of the characters
# it accepts in one, a value of printable ASCII, tabs and spaces, one line ending.
_PLAIN_LINE = re.compile(rb"([!-9;-~]+):([\t -~]*)\r?\n")
STOCK_PARSE_HEADERS = http.client.parse_headers  # the standard library's, for comparison


def parse_headers(fp: Any, _class: Any = http.client.HTTPMessage) -> Any:
    """``http.client.parse_headers`` (how the server reads a request's headers) with the same result
    built directly for plain header blocks: every line ``Name: value``, a blank line at the end, no
    folded lines, no multipart or message body type. The email package's parser (a feed parser,
    line splitting, policy calls) is about a tenth of moto's time per DynamoDB call; any other
    block goes through it as before."""
    lines = http.client._read_headers(fp)  # type: ignore[attr-defined]
    message = _plain_message(lines, _class)
    if message is not None:
        return message
    return email.parser.Parser(_class=_class).parsestr(b"".join(lines).decode("iso-8859-1"))


def _plain_message(lines: list[bytes], message_class: Any) -> Any:
    if message_class is not http.client.HTTPMessage or not lines or lines[-1] not in (b"\r\n", b"\n"):
        return None
    headers: list[tuple[str, str]] = []
    for line in lines[:-1]:
        match = _PLAIN_LINE.fullmatch(line)
        if match is None:
            return None
        name = match.group(1).decode("ascii")
        value = match.group(2).decode("ascii").lstrip(" \t")
        if name.lower() == "content-type" and ("multipart" in value.lower() or "message" in value.lower()):
            return None  # the parser reads such a body's parts
        headers.append((name, value))
    message = message_class(policy=email.policy.compat32)
    for name, value in headers:
        message.set_raw(name, value)
    message.set_payload("")
    return message


def use_plain_header_parsing() -> None:
    """Install :func:`parse_headers` in this process (the local moto server's)."""
    http.client.parse_headers = parse_headers


def stop_serving(server: Any) -> None:
    """Stop accepting connections and requests (``server.shutdown()`` stops only the former)."""
    server.wisp_stopping = True
    server.shutdown()
