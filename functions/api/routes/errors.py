"""One error shape for every response: Chalice's own errors (unsupported media type 415, method not
allowed 405, ...) come as ``{"Code", "Message"}``; this middleware rewrites them to the API's
``{"error": {"code", "message"}}`` so clients and the OpenAPI document see a single shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalice import Blueprint, Response

bp = Blueprint(__name__)

_CODES = {
    "UnsupportedMediaType": "unsupported_media_type",
    "MethodNotAllowedError": "method_not_allowed",
    "BadRequest": "bad_request",
    "NotFoundError": "not_found",
    "ForbiddenError": "forbidden",
    "UnauthorizedError": "unauthorized",
    "InternalServerError": "internal",
}


def normalise_platform_error(response: Response) -> Response:
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body and "Message" in body:
        response.body = json.dumps(
            {"error": {"code": _CODES.get(str(body["Code"]), "error"), "message": str(body["Message"])}}
        )
        response.headers = {**(response.headers or {}), "Content-Type": "application/json"}
    return response


@bp.middleware("http")
def handle_platform_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
    return normalise_platform_error(get_response(event))
