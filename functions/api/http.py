"""HTTP plumbing shared by every route: body parsing and validation, error mapping, JSON responses.

Domain errors map to status codes here and only here; every error body has the same shape:
``{"error": {"code": ..., "message": ..., "field": ...}}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from chalice import Chalice, Response
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from core.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidStateError,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
    UnavailableError,
    ValidationError,
)
from services.spreadsheet import XLSX_CONTENT_TYPE, csv_to_xlsx
from shared.observability import get_logger

log = get_logger("api")

MAX_BODY_BYTES = 1_000_000

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    ValidationError: 422,
    NotFoundError: 404,
    ConflictError: 409,
    ForbiddenError: 403,
    UnauthorizedError: 401,
    InvalidStateError: 409,
    RateLimitedError: 429,
    UnavailableError: 503,
}

M = TypeVar("M", bound=BaseModel)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, default=str),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def error_response(status: int, code: str, message: str, field: str | None = None, **extra: Any) -> Response:
    err: dict[str, Any] = {"code": code, "message": message}
    if field:
        err["field"] = field
    err.update(extra)
    return json_response({"error": err}, status)


def domain_error_response(exc: DomainError) -> Response:
    status = 400
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            status = STATUS_BY_ERROR[cls]  # type: ignore[index]
            break
    return error_response(
        status, exc.code, exc.message, exc.field, **({"details": exc.details} if exc.details else {})
    )


def raw_body(app: Chalice) -> bytes:
    req = app.current_request
    body = req.raw_body if req is not None else b""
    data = body.encode() if isinstance(body, str) else (body or b"")
    if len(data) > MAX_BODY_BYTES:
        raise ValidationError(f"request body is larger than {MAX_BODY_BYTES} bytes", field="body")
    return data


# No request body of this API nests deeper; deeper documents are refused before they are decoded
MAX_JSON_DEPTH = 32


def _json_depth_exceeded(data: bytes, limit: int) -> bool:
    """True when brackets outside strings nest deeper than ``limit`` (a linear scan, no recursion)."""
    depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def load_json(body: bytes) -> Any:
    """Decode a JSON request body; malformed or too deeply nested → 422 naming the body."""
    if not body.strip():
        return {}
    if _json_depth_exceeded(body, MAX_JSON_DEPTH):
        raise ValidationError(f"body nests deeper than {MAX_JSON_DEPTH} levels", field="body")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValidationError(f"body is not valid JSON: {exc}", field="body") from exc


def load_json_object(body: bytes) -> dict[str, Any]:
    """:func:`load_json` for bodies that must be a JSON object."""
    data = load_json(body)
    if not isinstance(data, dict):
        raise ValidationError("body must be a JSON object", field="body")
    return data


def validate(model: type[M], data: dict[str, Any], where: str = "") -> M:
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "body"
        if where:
            loc = f"{where}.{loc}"
        raise ValidationError(f"{loc}: {first['msg']}", field=loc, details={"errors": _errors(exc)}) from exc


def _errors(exc: PydanticValidationError) -> list[dict[str, str]]:
    return [{"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in exc.errors()[:20]]


def query_params(app: Chalice) -> dict[str, str]:
    req = app.current_request
    return dict(req.query_params or {}) if req is not None else {}


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a route: domain errors become their status, anything unexpected a logged 500 without details."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            return domain_error_response(exc)
        except Exception:
            log.exception("unhandled error")
            return error_response(500, "internal", "internal error")

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def csv_response(text: str, filename: str) -> Response:
    """A CSV download (UTF-8 with BOM so spreadsheet programs detect the encoding)."""
    return Response(
        body="\ufeff" + text,
        status_code=200,
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


def export_response(text: str, name: str, fmt: str = "csv") -> Response:
    """A list export as CSV, or as an XLSX workbook (``fmt="xlsx"``) with the same header and rows."""
    if fmt == "xlsx":
        return Response(
            body=csv_to_xlsx(text, name),
            status_code=200,
            headers={
                "Content-Type": XLSX_CONTENT_TYPE,
                "Content-Disposition": f'attachment; filename="{name}.xlsx"',
            },
        )
    return csv_response(text, f"{name}.csv")


def patch_changes(body: BaseModel) -> dict[str, Any]:
    """The fields a PATCH body actually sent (an explicit null is kept: it clears the field)."""
    return body.model_dump(exclude_unset=True)
