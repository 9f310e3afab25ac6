"""The local moto server reads request headers into the same message as the standard library
(infra/local/moto_http.py ``parse_headers``): every attribute of the message is compared, for the
headers the SDKs send, for blocks the direct path must leave to the email parser, and for generated
blocks of every awkward character."""

from __future__ import annotations

import io
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from infra.local import moto_http

BOTOCORE = (
    b"Host: 127.0.0.1:5000\r\n"
    b"Accept-Encoding: identity\r\n"
    b"X-Amz-Target: DynamoDB_20120810.UpdateItem\r\n"
    b"Content-Type: application/x-amz-json-1.0\r\n"
    b"User-Agent: Botocore/1.44.18 ua/2.1 os/linux#6.18 md/arch#x86_64 lang/python#3.11.7 cfg/retry-mode#standard\r\n"
    b"X-Amz-Date: 20261207T194500Z\r\n"
    b"Authorization: AWS4-HMAC-SHA256 Credential=testing/20261207/us-east-1/dynamodb/aws4_request, "
    b"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123abcd\r\n"
    b"amz-sdk-invocation-id: 7a3c\r\n"
    b"amz-sdk-request: attempt=1\r\n"
    b"Content-Length: 310\r\n"
    b"\r\n"
)

BLOCKS = (
    BOTOCORE,
    BOTOCORE.replace(b"\r\n", b"\n"),
    b"\r\n",  # no headers at all
    b"A: 1\r\nA: 2\r\na:3\r\n\r\n",  # repeated names, no space after the colon
    b"X:    \r\nY:\t\tvalue with  spaces  \r\nZ:\r\n\r\n",  # blank and padded values
    b"Folded: first\r\n  second\r\n\r\n",  # a continuation line: the email parser's
    b"Content-Type: multipart/form-data; boundary=x\r\n\r\n",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"From nobody Mon Dec  7 19:00:00 2026\r\nA: 1\r\n\r\n",
    b"No colon here\r\nA: 1\r\n\r\n",
    b": no name\r\n\r\n",
    b"Bad Name: x\r\n\r\n",
    b"Latin: caf\xe9\r\n\r\n",
    b"Cr: a\rb\r\n\r\n",
    b"Tab\tName: x\r\n\r\n",
    b"A: 1\r\n",  # the connection ended before the blank line
    b"",
)


def _read(parse: Any, block: bytes) -> dict[str, Any]:
    stream = io.BytesIO(block + b"the body")
    message = parse(stream)
    return {"message": _fields(message), "class": type(message), "left": stream.read()}


def _fields(message: Any) -> Any:
    """A message's attributes as comparable values (defects and parts compare by identity)."""
    fields = dict(vars(message))
    fields["defects"] = [(type(d).__name__, str(d)) for d in message.defects]
    if isinstance(fields["_payload"], list):
        fields["_payload"] = [_fields(part) for part in fields["_payload"]]
    return fields


def _same(block: bytes) -> None:
    assert _read(moto_http.parse_headers, block) == _read(moto_http.STOCK_PARSE_HEADERS, block), block


def test_known_header_blocks_read_as_the_standard_library_reads_them():
    for block in BLOCKS:
        _same(block)
    plain = moto_http._plain_message(
        moto_http.http.client._read_headers(io.BytesIO(BOTOCORE)), moto_http.http.client.HTTPMessage
    )  # type: ignore[attr-defined]
    assert plain is not None  # the SDK's headers take the direct path
    assert plain["x-amz-target"] == "DynamoDB_20120810.UpdateItem"
    folded = moto_http._plain_message(
        [b"Folded: first\r\n", b"  second\r\n", b"\r\n"], moto_http.http.client.HTTPMessage
    )  # type: ignore[attr-defined]
    assert folded is None  # left to the email parser


_CHARS = st.sampled_from(list(b'aZ09-_:; \t\r\n\x0b\x0c\x1c\x85\xe9\x00~!"(),/@[]{}'))
_LINE = st.lists(_CHARS, max_size=12).map(bytes)
_NAME = st.sampled_from([b"Host", b"X-Amz-Target", b"content-type", b"Content-Type", b"A", b"From", b"x_y"])
_VALUE = (
    st.sampled_from([b"", b" v", b"application/json", b" multipart/mixed", b"message/x", b" a  b "]) | _LINE
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    st.lists(
        st.one_of(
            st.tuples(_NAME, _VALUE).map(lambda nv: nv[0] + b":" + nv[1] + b"\r\n"),
            _LINE.map(lambda line: line + b"\r\n"),
            _LINE,
        ),
        max_size=6,
    ),
    st.sampled_from([b"\r\n", b"\n", b""]),
)
def test_generated_header_blocks_read_as_the_standard_library_reads_them(lines, end):
    _same(b"".join(lines) + end)


def test_the_date_header_and_the_access_log_switch_follow_the_standard_library_and_werkzeug():
    import email.utils
    import logging

    for second in (0, 1_765_137_600, 1_765_137_601, 1_765_137_600):  # a repeated second comes from the cache
        assert moto_http._http_date(second) == email.utils.formatdate(second, usegmt=True)
    logger = logging.getLogger("werkzeug")
    level = logger.level
    try:
        logger.setLevel(logging.ERROR)
        assert moto_http.access_log_off()  # werkzeug would format the line and drop it
        logger.setLevel(logging.NOTSET)
        assert not moto_http.access_log_off()  # werkzeug sets INFO on first use and logs
        logger.setLevel(logging.INFO)
        assert not moto_http.access_log_off()
    finally:
        logger.setLevel(level)
