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
    max_body: int = MAX_BODY_BYTES


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


def _authenticate(spec: RouteSpec, rt: Runtime, headers: dict[str, str], request_id: str) -> Principal | None:
    """The caller, by the route's authenticator (none for public routes); raises when not authenticated."""
    if spec.auth == "public":
        return None
    principal = AUTHENTICATORS[spec.auth](rt, headers)
    principal.request_id = request_id
    return principal


def _parse(spec: RouteSpec, data: bytes, query_params: dict[str, str]) -> tuple[Any, Any]:
    """The validated JSON body (not for raw-body routes) and query parameters of a request."""
    parsed_body: Any = None
    if spec.body is not None and not spec.raw_body:
        parsed_body = validate(spec.body, load_json_object(data))
        if spec.method == "PATCH" and not parsed_body.model_fields_set:
            raise ValidationError("give at least one field to change", field="body")
    parsed_query: Any = None
    if spec.query is not None:
        parsed_query = validate(spec.query, query_params, where="query")
    return parsed_body, parsed_query


def _dispatch(
    spec: RouteSpec, fn: Callable[..., Any], request: Any, request_id: str, params: dict[str, str]
) -> Any:
    """Authenticate, check the role and the body size, validate, call the handler, serialize its result."""
    rt = get_runtime()
    headers = dict(request.headers or {})
    principal = _authenticate(spec, rt, headers, request_id)
    if principal is not None and spec.auth == "operator" and not principal.has_role(spec.min_role):
        return error_response(403, "forbidden", f"this action needs the {spec.min_role} role or higher")
    raw = request.raw_body or b""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > spec.max_body:
        return error_response(
            413, "too_large", f"request body is larger than {spec.max_body} bytes", field="body"
        )
    parsed_body, parsed_query = _parse(spec, data, dict(request.query_params or {}))
    ident = (request.context or {}).get("identity") or {}
    ctx = RequestContext(
        rt, principal, parsed_body, parsed_query, headers, data, ident.get("sourceIp"), request_id, params
    )
    result = fn(ctx, **params)
    if isinstance(result, Response):
        return result
    return json_response(_jsonable(result), spec.status)


def _serve(bp: Blueprint, spec: RouteSpec, fn: Callable[..., Any], params: dict[str, str]) -> Any:
    """One request: a correlation id, then the handler; a domain error becomes its 4xx, anything else a 500."""
    request = bp.current_request
    request_id = (request.context or {}).get("requestId") or uuid.uuid4().hex
    set_correlation_id(request_id)
    try:
        return _dispatch(spec, fn, request, request_id, params)
    except DomainError as exc:
        return domain_error_response(exc)
    except Exception:
        log.exception("unhandled error", extra={"path": spec.path, "method": spec.method})
        return error_response(500, "internal", "internal error", request_id=request_id)


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
    max_body: int = MAX_BODY_BYTES,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a Chalice route plus its OpenAPI description. ``raw_body`` routes get the bytes
    (uploads, webhooks) instead of a parsed JSON body; ``max_body`` is the largest body it takes."""
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
        max_body,
    )
    ROUTES.append(spec)

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        def view(**params: str) -> Any:
            return _serve(bp, spec, fn, params)

        view.__name__ = fn.__name__
        view.__doc__ = fn.__doc__
        bp.route(
            path,
            methods=[spec.method],
            content_types=RAW_CONTENT_TYPES if raw_body else ["application/json"],
        )(view)
        return fn

    return decorator
