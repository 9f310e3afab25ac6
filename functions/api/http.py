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


def parse_json(app: Chalice) -> Any:
    body = raw_body(app)
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"body is not valid JSON: {exc}", field="body") from exc


def parse_model(app: Chalice, model: type[M]) -> M:
    """Validate the JSON body against a pydantic model; the first error names its field."""
    data = parse_json(app)
    if not isinstance(data, dict):
        raise ValidationError("body must be a JSON object", field="body")
    return validate(model, data)


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


def patch_changes(body: BaseModel) -> dict[str, Any]:
    """The fields a PATCH body actually sent (an explicit null is kept: it clears the field)."""
    return body.model_dump(exclude_unset=True)
