"""The one way to declare a route: validation, authentication, error mapping and OpenAPI in one place.

    @route(bp, "/admin/zones/{zone_id}", "GET", summary="Get a zone", tags=["zones"], response=ZoneOut)
    def handle_get_zone(ctx: RequestContext, zone_id: str) -> ZoneOut: ...

The handler receives a :class:`RequestContext` and the path parameters; it returns a pydantic model,
a dict/list (serialized as JSON), or a Chalice ``Response`` (files, custom status).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalice import Blueprint, Response
from pydantic import BaseModel

from api.auth import AUTHENTICATORS
from api.http import domain_error_response, error_response, json_response, load_json_object, log, validate
from composition import get_runtime
from core.errors import DomainError, ValidationError
from services.identity.actors import ROLE_RANK, Principal
from shared.observability import set_correlation_id
from shared.runtime import Runtime

MAX_BODY_BYTES = 1_000_000
RAW_CONTENT_TYPES = [
    "application/json",
    "application/octet-stream",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "text/csv",
    "text/plain",
    "image/png",
    "image/jpeg",
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
]


@dataclass
class RouteSpec:
    path: str
    method: str
    summary: str
    tags: list[str]
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    auth: str
    min_role: str
    status: int
    content_type: str
    description: str = ""
    raw_body: bool = False
    response_is_list: bool = False


ROUTES: list[RouteSpec] = []


@dataclass
class RequestContext:
    rt: Runtime
    principal: Principal | None
    body: Any
    query: Any
    headers: dict[str, str]
    raw_body: bytes
    source_ip: str | None
    request_id: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def p(self) -> Principal:
        """The authenticated principal (routes with auth="public" have none)."""
        assert self.principal is not None
        return self.principal


def _jsonable(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    if isinstance(result, list):
        return [_jsonable(r) for r in result]
    if isinstance(result, dict):
        return {k: _jsonable(v) for k, v in result.items()}
    return result


def route(
    bp: Blueprint,
    path: str,
    method: str,
    *,
    summary: str,
    tags: list[str],
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    response_is_list: bool = False,
    auth: str = "operator",
    min_role: str = "read_only",
    status: int = 200,
    content_type: str = "application/json",
    raw_body: bool = False,
    description: str = "",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a Chalice route plus its OpenAPI description. ``raw_body`` routes get the bytes
    (uploads, webhooks) instead of a parsed JSON body."""
    if min_role not in ROLE_RANK:
        raise ValueError(f"unknown role {min_role}")
    spec = RouteSpec(
        path,
        method.upper(),
        summary,
        tags,
        body,
        query,
        response,
        auth,
        min_role,
        status,
        content_type,
        description,
        raw_body,
        response_is_list,
    )
    ROUTES.append(spec)

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        def view(**params: str) -> Any:
            request = bp.current_request
            request_id = (request.context or {}).get("requestId") or uuid.uuid4().hex
            set_correlation_id(request_id)
            try:
                rt = get_runtime()
                headers = dict(request.headers or {})
                principal = None
                if auth != "public":
                    principal = AUTHENTICATORS[auth](rt, headers)
                    principal.request_id = request_id
                    if auth == "operator" and not principal.has_role(min_role):
                        return error_response(
                            403, "forbidden", f"this action needs the {min_role} role or higher"
                        )
                raw = request.raw_body or b""
                data = raw.encode() if isinstance(raw, str) else raw
                if len(data) > MAX_BODY_BYTES:
                    return error_response(
                        413, "too_large", f"request body is larger than {MAX_BODY_BYTES} bytes", field="body"
                    )
                parsed_body: Any = None
                if body is not None and not raw_body:
                    payload = load_json_object(data)
                    parsed_body = validate(body, payload)
                    if method.upper() == "PATCH" and not parsed_body.model_fields_set:
                        raise ValidationError("give at least one field to change", field="body")
                parsed_query: Any = None
                if query is not None:
                    parsed_query = validate(query, dict(request.query_params or {}), where="query")
                ident = (request.context or {}).get("identity") or {}
                ctx = RequestContext(
                    rt,
                    principal,
                    parsed_body,
                    parsed_query,
                    headers,
                    data,
                    ident.get("sourceIp"),
                    request_id,
                    params,
                )
                result = fn(ctx, **params)
                if isinstance(result, Response):
                    return result
                return json_response(_jsonable(result), status)
            except DomainError as exc:
                return domain_error_response(exc)
            except Exception:
                log.exception("unhandled error", extra={"path": path, "method": method})
                return error_response(500, "internal", "internal error", request_id=request_id)

        view.__name__ = fn.__name__
        view.__doc__ = fn.__doc__
        bp.route(
            path,
            methods=[method.upper()],
            content_types=RAW_CONTENT_TYPES if raw_body else ["application/json"],
        )(view)
        return fn

    return decorator
