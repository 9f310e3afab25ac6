"""POST /admin/auth/login (password → expiring bearer token) and GET /admin/me."""

from __future__ import annotations

from chalice import Blueprint

from api.routing import RequestContext, route
from api.schemas.auth import LoginIn, LoginOut, MeOut, OperatorOut
from services import auth as svc

bp = Blueprint(__name__)


@route(
    bp,
    "/admin/auth/login",
    "POST",
    summary="Log in with e-mail and password",
    tags=["auth"],
    body=LoginIn,
    response=LoginOut,
    auth="public",
    description="Returns a signed bearer token with its expiry. 10 failed attempts per e-mail in this and "
    "the previous 15-minute window lock the e-mail (429 with retry_after_s, when it opens again).",
)
def handle_login(ctx: RequestContext) -> LoginOut:
    res = svc.login(ctx.rt, ctx.body.email, ctx.body.password)
    return LoginOut(
        token=res.token,
        expires_at=res.expires_at,
        operator=OperatorOut.model_validate(svc.operator_dict(res.operator)),
    )


@route(
    bp,
    "/admin/me",
    "GET",
    summary="Who am I: operator or API key, role and tenant",
    tags=["auth"],
    response=MeOut,
)
def handle_get_me(ctx: RequestContext) -> MeOut:
    p = ctx.p
    tenant = p.tenant()
    op = p.extra.get("operator")
    return MeOut.model_validate(
        {
            "actor_id": p.actor_id,
            "actor_kind": p.actor_kind,
            "role": p.role,
            "role_description": svc.ROLE_DESCRIPTIONS.get(p.role, ""),
            "tenant": {
                "id": p.tenant_id,
                "name": tenant.name if tenant else "",
                "kind": tenant.kind if tenant else "",
                "parent_id": tenant.parent_id if tenant else None,
            },
            "ancestor_tenant_ids": list(p.ancestor_tenants),
            "operator": svc.operator_dict(op) if op else None,
        }
    )
