"""Operators, their roles, and API keys for external procedures (the secret is shown once)."""

from __future__ import annotations

from chalice import Blueprint

from api.http import patch_changes
from api.routing import RequestContext, route
from api.schemas.auth import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    OperatorIn,
    OperatorOut,
    OperatorPatch,
    RoleIn,
    RoleOut,
)
from api.schemas.common import Deleted, TenantQuery
from services import auth as svc
from services.identity.actors import ROLE_RANK, ROLES
from services.tenants import tenant_filter

bp = Blueprint(__name__)


def _op(o: object) -> OperatorOut:
    return OperatorOut.model_validate(svc.operator_dict(o))  # type: ignore[arg-type]


@route(
    bp,
    "/admin/roles",
    "GET",
    summary="The roles and what each may do",
    tags=["operators"],
    response=RoleOut,
    response_is_list=True,
)
def handle_list_roles(ctx: RequestContext) -> list[RoleOut]:
    return [
        RoleOut(
            name=r,
            rank=ROLE_RANK[r],
            description=svc.ROLE_DESCRIPTIONS[r],
            tenant_kinds=list(svc.ROLE_TENANT_KINDS[r]),
        )
        for r in ROLES
    ]


@route(
    bp,
    "/admin/operators",
    "GET",
    summary="List operators",
    tags=["operators"],
    query=TenantQuery,
    response=OperatorOut,
    response_is_list=True,
    min_role="manager",
)
def handle_list_operators(ctx: RequestContext) -> list[OperatorOut]:
    return [_op(o) for o in svc.list_operators(ctx.p, tenant_filter(ctx.p, ctx.query.tenant_id))]


@route(
    bp,
    "/admin/operators",
    "POST",
    summary="Create an operator",
    tags=["operators"],
    body=OperatorIn,
    response=OperatorOut,
    min_role="manager",
    status=201,
)
def handle_create_operator(ctx: RequestContext) -> OperatorOut:
    return _op(svc.create_operator(ctx.p, ctx.body.model_dump()))


@route(
    bp,
    "/admin/operators/{operator_id}",
    "GET",
    summary="Get an operator",
    tags=["operators"],
    response=OperatorOut,
    min_role="manager",
)
def handle_get_operator(ctx: RequestContext, operator_id: str) -> OperatorOut:
    return _op(svc.get_operator(ctx.p, operator_id))


@route(
    bp,
    "/admin/operators/{operator_id}",
    "PATCH",
    summary="Edit an operator (name, e-mail, role, password, active)",
    tags=["operators"],
    body=OperatorPatch,
    response=OperatorOut,
    min_role="manager",
)
def handle_update_operator(ctx: RequestContext, operator_id: str) -> OperatorOut:
    return _op(svc.update_operator(ctx.p, operator_id, patch_changes(ctx.body)))


@route(
    bp,
    "/admin/operators/{operator_id}/role",
    "PUT",
    summary="Assign a role to an operator",
    tags=["operators"],
    body=RoleIn,
    response=OperatorOut,
    min_role="manager",
)
def handle_set_operator_role(ctx: RequestContext, operator_id: str) -> OperatorOut:
    return _op(svc.update_operator(ctx.p, operator_id, {"role": ctx.body.role}))


@route(
    bp,
    "/admin/operators/{operator_id}",
    "DELETE",
    summary="Delete an operator",
    tags=["operators"],
    response=Deleted,
    min_role="manager",
)
def handle_delete_operator(ctx: RequestContext, operator_id: str) -> Deleted:
    svc.delete_operator(ctx.p, operator_id)
    return Deleted(id=operator_id)


@route(
    bp,
    "/admin/api-keys",
    "GET",
    summary="List API keys (never their secrets)",
    tags=["api-keys"],
    query=TenantQuery,
    response=ApiKeyOut,
    response_is_list=True,
    min_role="manager",
)
def handle_list_api_keys(ctx: RequestContext) -> list[ApiKeyOut]:
    keys = svc.list_api_keys(ctx.p, tenant_filter(ctx.p, ctx.query.tenant_id))
    return [ApiKeyOut.model_validate(svc.api_key_dict(k)) for k in keys]


@route(
    bp,
    "/admin/api-keys",
    "POST",
    summary="Create an API key; the key is shown only in this response",
    tags=["api-keys"],
    body=ApiKeyIn,
    response=ApiKeyCreated,
    min_role="manager",
    status=201,
)
def handle_create_api_key(ctx: RequestContext) -> ApiKeyCreated:
    key, full = svc.create_api_key(ctx.p, ctx.body.model_dump())
    return ApiKeyCreated.model_validate({**svc.api_key_dict(key), "key": full})


@route(
    bp,
    "/admin/api-keys/{key_id}",
    "GET",
    summary="Get an API key",
    tags=["api-keys"],
    response=ApiKeyOut,
    min_role="manager",
)
def handle_get_api_key(ctx: RequestContext, key_id: str) -> ApiKeyOut:
    return ApiKeyOut.model_validate(svc.api_key_dict(svc.get_api_key(ctx.p, key_id)))


@route(
    bp,
    "/admin/api-keys/{key_id}",
    "DELETE",
    summary="Revoke an API key",
    tags=["api-keys"],
    response=ApiKeyOut,
    min_role="manager",
)
def handle_revoke_api_key(ctx: RequestContext, key_id: str) -> ApiKeyOut:
    return ApiKeyOut.model_validate(svc.api_key_dict(svc.revoke_api_key(ctx.p, key_id)))
