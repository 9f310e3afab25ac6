"""Provisioning: tasks (list, re-run one, re-run a router's failed ones), drift (dry run), export clients
to router, block rules, live router reads (PPP / hotspot active connections, ARP) and the onboarding
script of a new router. Thin: validate, check tenant scope, call ``services.network.provisioning``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from chalice import Blueprint
from pydantic import Field

from api.routing import RequestContext, route
from api.schemas.common import Cursor, Id, In, Query
from api.schemas.provisioning import ProvisioningTaskPage
from services.network import provisioning as svc
from services.tenants import target_tenant
from store.models import Gateway

bp = Blueprint(__name__)

TAGS = ["provisioning"]
TaskStatus = Literal["queued", "running", "succeeded", "failed", "dead"]


class TaskQuery(Query):
    gateway_id: Id | None = None
    tenant_id: Id | None = Field(default=None, description="default: the caller's tenant")
    status: TaskStatus | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    next_token: Cursor | None = None


class GatewayTaskQuery(Query):
    status: TaskStatus | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    next_token: Cursor | None = None


class ExportIn(In):
    subscriber_ids: Annotated[list[Id], Field(min_length=1, max_length=1000)] | None = Field(
        default=None, description="the services to export; omitted: every service of the router"
    )
    adopt: bool = Field(
        default=False,
        description="take over objects made by hand that hold a service's name "
        "or address (they get the system's values)",
    )
    prune: bool = Field(
        default=False,
        description="whole router only: remove the provisioner's objects of "
        "services no longer assigned to this router",
    )


class OnboardingIn(In):
    rotate_api_password: bool = False


def _gateway(ctx: RequestContext, gateway_id: str) -> Gateway:
    return svc.get_gateway(ctx.p, gateway_id)


@route(
    bp,
    "/admin/tasks",
    "GET",
    summary="Provisioning tasks (newest first) of a router or a tenant",
    tags=TAGS,
    query=TaskQuery,
    response=ProvisioningTaskPage,
)
def handle_list_tasks(ctx: RequestContext) -> dict[str, Any]:
    q: TaskQuery = ctx.query
    if q.gateway_id:
        gw = _gateway(ctx, q.gateway_id)
        return svc.list_tasks(
            ctx.rt, gateway_id=gw.id, status=q.status, limit=q.limit, next_token=q.next_token
        )
    return svc.list_tasks(
        ctx.rt,
        tenant_id=target_tenant(ctx.p, q.tenant_id),
        status=q.status,
        limit=q.limit,
        next_token=q.next_token,
    )


@route(bp, "/admin/tasks/{task_id}", "GET", summary="One provisioning task", tags=TAGS)
def handle_get_task(ctx: RequestContext, task_id: str) -> dict[str, Any]:
    task = svc.find_task_or_404(ctx.p, task_id)
    return svc.task_view(task)


@route(
    bp,
    "/admin/tasks/{task_id}/rerun",
    "POST",
    summary="Re-run a provisioning task",
    tags=TAGS,
    min_role="operator",
    status=202,
)
def handle_rerun_task(ctx: RequestContext, task_id: str) -> dict[str, Any]:
    task = svc.find_task_or_404(ctx.p, task_id)
    return svc.rerun_task(ctx.rt, task, ctx.p.actor_id, ctx.p.actor_kind)


@route(
    bp,
    "/admin/gateways/{gateway_id}/tasks",
    "GET",
    summary="Provisioning tasks of a router",
    tags=TAGS,
    query=GatewayTaskQuery,
    response=ProvisioningTaskPage,
)
def handle_list_gateway_tasks(ctx: RequestContext, gateway_id: str) -> dict[str, Any]:
    gw = _gateway(ctx, gateway_id)
    q: GatewayTaskQuery = ctx.query
    return svc.list_tasks(ctx.rt, gateway_id=gw.id, status=q.status, limit=q.limit, next_token=q.next_token)


@route(
    bp,
    "/admin/gateways/{gateway_id}/tasks/rerun-failed",
    "POST",
    summary="Re-run every failed task of a router",
    tags=TAGS,
    min_role="operator",
    status=202,
)
def handle_rerun_failed(ctx: RequestContext, gateway_id: str) -> dict[str, Any]:
    return svc.rerun_failed(ctx.rt, _gateway(ctx, gateway_id), ctx.p.actor_id, ctx.p.actor_kind)


@route(
    bp,
    "/admin/gateways/{gateway_id}/drift",
    "GET",
    summary="Difference between the system and the router (dry run)",
    tags=TAGS,
    min_role="operator",
)
def handle_drift(ctx: RequestContext, gateway_id: str) -> dict[str, Any]:
    return svc.drift(ctx.rt, _gateway(ctx, gateway_id))


@route(
    bp,
    "/admin/gateways/{gateway_id}/export",
    "POST",
    summary="Export clients to the router (all, or the chosen services)",
    tags=TAGS,
    body=ExportIn,
    min_role="operator",
    status=202,
)
def handle_export(ctx: RequestContext, gateway_id: str) -> dict[str, Any]:
    body: ExportIn = ctx.body
    return svc.export_to_router(
        ctx.rt,
        _gateway(ctx, gateway_id),
        ctx.p.actor_id,
        body.subscriber_ids,
        adopt=body.adopt,
        prune=body.prune,
        actor_kind=ctx.p.actor_kind,
    )


@route(
    bp,
    "/admin/gateways/{gateway_id}/block-rules",
    "POST",
    summary="Install the blocked-list firewall filter and NAT rules on the router",
    tags=TAGS,
    min_role="manager",
    status=202,
)
def handle_install_block_rules(ctx: RequestContext, gateway_id: str) -> dict[str, Any]:
    return svc.install_block_rules(ctx.rt, _gateway(ctx, gateway_id), ctx.p.actor_id, ctx.p.actor_kind)


@route(
    bp,
    "/admin/gateways/{gateway_id}/active-connections",
    "GET",
    summary="PPP and hotspot active connections, read from the router",
    tags=TAGS,
    min_role="operator",
)
def handle_active_connections(ctx: RequestContext, gateway_id: str) -> dict[str, Any]:
    return svc.active_connections(ctx.rt, _gateway(ctx, gateway_id))


@route(
    bp,
    "/admin/gateways/{gateway_id}/arp",
    "GET",
    summary="The router's ARP table, matched to the services holding each IP",
    tags=TAGS,
    min_role="operator",
)
def handle_arp(ctx: RequestContext, gateway_id: str) -> dict[str, Any]:
    return svc.arp_table(ctx.rt, _gateway(ctx, gateway_id))


@route(
    bp,
    "/admin/gateways/{gateway_id}/onboarding-script",
    "POST",
    summary="RouterOS script joining a new router (VPN, RADIUS, API user, block rules)",
    tags=TAGS,
    body=OnboardingIn,
    min_role="manager",
)
def handle_onboarding_script(ctx: RequestContext, gateway_id: str) -> dict[str, Any]:
    body: OnboardingIn = ctx.body
    return svc.onboarding_script(
        ctx.rt,
        _gateway(ctx, gateway_id),
        ctx.p.actor_id,
        rotate_api_password=body.rotate_api_password,
        actor_kind=ctx.p.actor_kind,
    )
