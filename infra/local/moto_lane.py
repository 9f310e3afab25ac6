"""DynamoDB requests handed to moto's DynamoDB handler without going through Flask.

moto's HTTP app is a Flask app per service behind a dispatcher: for each request it picks the
service's app from the headers, pushes a request context, matches the URL map, calls the view —
moto's ``convert_to_flask_response`` around ``DynamoHandler.dispatch`` — and runs flask-cors on the
answer. For a DynamoDB call (``X-Amz-Target: DynamoDB_20120810.*``, signed for ``dynamodb``,
``POST /``) that is about a sixth of moto's time per call here. :class:`DynamoLane` makes the same
call to the same handler with moto's own request class and builds the answer Flask would: the
status with its reason, moto's headers in order, ``Content-Length``, the default content type when
moto sets none, and flask-cors's ``Access-Control-Allow-Origin: *``. A request with an ``Origin``
(a browser's, whose CORS answers depend on more) and anything else go to moto's app as before.
``tests/integration/test_local_moto_lane.py`` compares both answers request by request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
TARGET_PREFIX = "DynamoDB_20120810."
DEFAULT_CONTENT_TYPE = "text/html; charset=utf-8"  # Flask's, for an answer that names none


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.upper()
    except ValueError:
        return "UNKNOWN"


class DynamoLane:
    """WSGI middleware in front of moto's app; see the module's text."""

    def __init__(self, app: WsgiApp) -> None:
        from moto.core.request import Request
        from moto.dynamodb.responses import DynamoHandler
        from moto.moto_api import recorder

        class LaneRequest(Request):  # type: ignore[misc]
            from_wsgi_server = True  # as moto's Flask request class: a real server sets the Date

        self.app = app
        self.request_class = LaneRequest
        self.handler = DynamoHandler
        self.recorder = recorder
        self.client_error: tuple[type[BaseException], ...] = (_botocore_client_error(),)
        self.served = 0  # requests answered here (the rest went to moto's app)

    @staticmethod
    def eligible(environ: dict[str, Any]) -> bool:
        auth = environ.get("HTTP_AUTHORIZATION") or ""
        return (
            str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith(TARGET_PREFIX)
            and environ.get("REQUEST_METHOD") == "POST"
            and environ.get("PATH_INFO") == "/"
            and not environ.get("QUERY_STRING")
            and "HTTP_ORIGIN" not in environ
            and "/dynamodb/aws4_request" in auth
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not self.eligible(environ):
            return self.app(environ, start_response)
        request = self.request_class(environ)
        self.recorder._record_request(request)
        try:
            result = self.handler.dispatch(request, request.raw_url, dict(request.headers))
        except self.client_error as exc:  # as moto's Flask view answers a botocore ClientError
            result = 400, {}, exc.response["Error"]["Message"]  # type: ignore[attr-defined]
        if len(result) == 3:
            status, headers, content = result
        else:
            status, headers, content = 200, {}, result
        body = content.encode("utf-8") if isinstance(content, str) else bytes(content or b"")
        out: list[tuple[str, str]] = []
        has_type = False
        for name, value in headers.items():
            if name.lower() == "content-length":
                continue
            has_type = has_type or name.lower() == "content-type"
            out.append((name, str(value)))
        if not has_type:
            out.append(("Content-Type", DEFAULT_CONTENT_TYPE))
        out.append(("Content-Length", str(len(body))))
        out.append(("Access-Control-Allow-Origin", "*"))
        self.served += 1
        start_response(f"{int(status)} {_reason(int(status))}", out)
        return [body]


def _botocore_client_error() -> type[BaseException]:
    from botocore.exceptions import ClientError

    return ClientError
