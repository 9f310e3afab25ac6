"""The tenant tree: resellers and managers, within the caller's scope."""

from __future__ import annotations

from chalice import Blueprint

from api.http import patch_changes
from api.routing import RequestContext, route
from api.schemas.common import Deleted
from api.schemas.tenants import TenantIn, TenantListQuery, TenantOut, TenantPatch
from services import tenants as svc

bp = Blueprint(__name__)

SETTINGS_RULES = (
    "settings merge key by key (null removes a key) and templates name by name (null: the default). "
    f"Known keys: {', '.join(svc.SETTING_KEYS)}; others are refused (422). Only billing templates are set "
    f"here; credential templates with {svc.CREDENTIAL_TEMPLATES_ENDPOINT}, online payments with "
    f"{svc.PAYMENT_ENDPOINTS} (their values are accepted back unchanged, as a read shows them). Key "
    "material (*_enc) is never accepted."
)


def _out(t: object) -> TenantOut:
    return TenantOut.model_validate(svc.tenant_dict(t))  # type: ignore[arg-type]


@route(
    bp,
    "/admin/tenants",
    "GET",
    summary="The caller's tenant and its subtree",
    tags=["tenants"],
    query=TenantListQuery,
    response=TenantOut,
    response_is_list=True,
)
def handle_list_tenants(ctx: RequestContext) -> list[TenantOut]:
    return [_out(t) for t in svc.list_tenants(ctx.p, ctx.query.parent_id, ctx.query.kind)]


@route(
    bp,
    "/admin/tenants",
    "POST",
    summary="Create a reseller or a manager",
    tags=["tenants"],
    body=TenantIn,
    response=TenantOut,
    min_role="reseller",
    status=201,
    description=SETTINGS_RULES,
)
def handle_create_tenant(ctx: RequestContext) -> TenantOut:
    return _out(svc.create_tenant(ctx.p, ctx.body.model_dump()))


@route(bp, "/admin/tenants/{tenant_id}", "GET", summary="Get a tenant", tags=["tenants"], response=TenantOut)
def handle_get_tenant(ctx: RequestContext, tenant_id: str) -> TenantOut:
    return _out(svc.get_tenant(ctx.p, tenant_id))


@route(
    bp,
    "/admin/tenants/{tenant_id}",
    "PATCH",
    summary="Edit a tenant (settings merge key by key)",
    tags=["tenants"],
    body=TenantPatch,
    response=TenantOut,
    min_role="manager",
    description=SETTINGS_RULES,
)
def handle_update_tenant(ctx: RequestContext, tenant_id: str) -> TenantOut:
    if tenant_id != ctx.p.tenant_id:
        ctx.p.require_role("reseller")  # a manager edits only its own tenant
    return _out(svc.update_tenant(ctx.p, tenant_id, patch_changes(ctx.body)))


@route(
    bp,
    "/admin/tenants/{tenant_id}",
    "DELETE",
    summary="Delete an empty tenant",
    tags=["tenants"],
    response=Deleted,
    min_role="reseller",
)
def handle_delete_tenant(ctx: RequestContext, tenant_id: str) -> Deleted:
    svc.delete_tenant(ctx.p, tenant_id)
    return Deleted(id=tenant_id)
