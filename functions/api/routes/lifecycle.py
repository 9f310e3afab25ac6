"""Lifecycle actions on a subscriber (SPEC S4), single and bulk, plus its logs, dashboard and sales.

Every action answers what was done in the system (``system``) and what is pending on the router
(``router``: a provisioning task id, or the warning that the router API is disabled).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from chalice import Blueprint, Response
from pydantic import BaseModel, Field

from api.http import export_response
from api.routing import RequestContext, route
from api.schemas.common import ExportQuery, Query
from api.schemas.lifecycle import (
    ActionResult,
    BindIpMacIn,
    BulkCancelIn,
    BulkDeleteIn,
    BulkMigrateIn,
    BulkReasonIn,
    BulkRechargeIn,
    BulkResult,
    CancelIn,
    ChangePasswordIn,
    ChangeUsernameIn,
    ConnectionLog,
    DashboardOut,
    DashboardQuery,
    DeleteIn,
    MacIn,
    MigrateIn,
    PageQuery,
    ReasonIn,
    RechargeIn,
    SalesOut,
)
from core.listing import to_csv
from services.subscribers import activity
from services.subscribers import lifecycle as svc

bp = Blueprint(__name__)


def _result(o: svc.Outcome) -> ActionResult:
    return ActionResult.model_validate(asdict(o))


# (action, path segment, body model, bulk body model or None, min role, summary)
SINGLE: list[tuple[str, str, type[BaseModel], type[BaseModel] | None, str, str]] = [
    (
        "activate",
        "activate",
        ReasonIn,
        BulkReasonIn,
        "operator",
        "Activate: off the router's blocked list (or back on the router after a cancellation)",
    ),
    (
        "suspend",
        "suspend",
        ReasonIn,
        BulkReasonIn,
        "operator",
        "Suspend: the service goes to the router's blocked list",
    ),
    (
        "free",
        "free",
        ReasonIn,
        BulkReasonIn,
        "operator",
        "Free status: never invoiced, never notified, never cut off automatically",
    ),
    (
        "cancel",
        "cancel",
        CancelIn,
        BulkCancelIn,
        "operator",
        "Cancel: optional cancel pending invoices; release the IP (S4 rewrite, router entry removed) or keep it "
        "suspended on the router",
    ),
    (
        "delete",
        "delete",
        DeleteIn,
        BulkDeleteIn,
        "manager",
        "Delete (for mistakes): system only, or system + router with confirm=eliminar_clientes (single only)",
    ),
    (
        "recharge",
        "recharge",
        RechargeIn,
        BulkRechargeIn,
        "operator",
        "Recharge: assign a new product keeping the residual time and traffic",
    ),
    (
        "migrate",
        "migrate",
        MigrateIn,
        BulkMigrateIn,
        "operator",
        "Migrate to another router/zone (same plan type; other types report what blocks them)",
    ),
    (
        "disconnect",
        "disconnect",
        ReasonIn,
        BulkReasonIn,
        "operator",
        "Disconnect: Disconnect-Request to the gateway and sessions closed in the RADIUS data",
    ),
    (
        "change_username",
        "change-username",
        ChangeUsernameIn,
        None,
        "operator",
        "Change the username (renamed on the router)",
    ),
    (
        "change_password",
        "change-password",
        ChangePasswordIn,
        None,
        "operator",
        "Change the network and/or portal password (random by default, returned once)",
    ),
    (
        "bind_ip_mac",
        "bind-ip-mac",
        BindIpMacIn,
        None,
        "operator",
        "IP/MAC binding: store the MAC and make the router's ARP entry static",
    ),
    (
        "disassociate_mac",
        "disassociate-mac",
        MacIn,
        None,
        "operator",
        "Disassociate a device MAC (a MAC-authenticated user named by it is deleted)",
    ),
]


def _register(
    action: str, segment: str, body: type[BaseModel], bulk: type[BaseModel] | None, role: str, summary: str
) -> None:
    def single(ctx: RequestContext, subscriber_id: str) -> ActionResult:
        return _result(svc.run_action(ctx.rt, ctx.p, action, subscriber_id, ctx.body.model_dump()))

    single.__name__ = f"handle_{action}"
    route(
        bp,
        f"/admin/subscribers/{{subscriber_id}}/{segment}",
        "POST",
        summary=summary,
        tags=["lifecycle"],
        body=body,
        response=ActionResult,
        min_role=role,
    )(single)
    if bulk is None:
        return

    def many(ctx: RequestContext) -> BulkResult:
        options: dict[str, Any] = ctx.body.model_dump()
        ids = options.pop("subscriber_ids")
        results = svc.run_bulk(ctx.rt, ctx.p, action, ids, options)
        ok = sum(1 for r in results if r.ok)
        return BulkResult(
            action=action,
            total=len(results),
            succeeded=ok,
            failed=len(results) - ok,
            results=[_result(r) for r in results],
        )

    many.__name__ = f"handle_bulk_{action}"
    route(
        bp,
        f"/admin/subscribers/bulk/{segment}",
        "POST",
        summary=f"Bulk: {summary}",
        tags=["lifecycle"],
        body=bulk,
        response=BulkResult,
        min_role=role,
        description="One result per subscriber: a failure (not found, wrong status...) does not stop the others.",
    )(many)


for _spec in SINGLE:
    _register(*_spec)


# ---------------------------------------------------------------- logs, dashboard, sales
@route(
    bp,
    "/admin/subscribers/{subscriber_id}/connections",
    "GET",
    summary="Connection log, newest first",
    tags=["lifecycle"],
    query=PageQuery,
    response=ConnectionLog,
)
def handle_connection_log(ctx: RequestContext, subscriber_id: str) -> ConnectionLog:
    rows, nxt = activity.connection_log(ctx.rt, ctx.p, subscriber_id, ctx.query.limit, ctx.query.cursor)
    return ConnectionLog.model_validate({"items": rows, "next_cursor": nxt})


class LocateQuery(Query):
    connections: int = Field(default=50, ge=1, le=200, description="how many recent Wi-Fi connections")


@route(
    bp,
    "/admin/subscribers/{subscriber_id}/locate",
    "GET",
    summary="Locate on the Wi-Fi heatmap: gateways and access points of the last Wi-Fi connections",
    tags=["lifecycle"],
    query=LocateQuery,
)
def handle_locate_subscriber(ctx: RequestContext, subscriber_id: str) -> dict[str, Any]:
    return activity.locate(ctx.p, subscriber_id, ctx.query.connections)


@route(
    bp,
    "/admin/subscribers/{subscriber_id}/wifi-connections",
    "GET",
    summary="Wi-Fi connection log",
    tags=["lifecycle"],
    query=PageQuery,
    response=ConnectionLog,
)
def handle_wifi_connection_log(ctx: RequestContext, subscriber_id: str) -> ConnectionLog:
    rows, nxt = activity.connection_log(
        ctx.rt, ctx.p, subscriber_id, ctx.query.limit, ctx.query.cursor, wifi_only=True
    )
    return ConnectionLog.model_validate({"items": rows, "next_cursor": nxt})


@route(
    bp,
    "/admin/subscribers/{subscriber_id}/connections/export",
    "GET",
    summary="Connection log as CSV (or XLSX with format=xlsx)",
    tags=["lifecycle"],
    query=ExportQuery,
    content_type="text/csv",
)
def handle_export_connection_log(ctx: RequestContext, subscriber_id: str) -> Response:
    rows: list[dict[str, Any]] = []
    cursor = None
    while len(rows) < 100_000:
        page, cursor = activity.connection_log(ctx.rt, ctx.p, subscriber_id, 500, cursor)
        rows.extend(page)
        if not cursor:
            break
    return export_response(
        to_csv(activity.LOG_COLUMNS, rows), f"connections-{subscriber_id}", ctx.query.format
    )


@route(
    bp,
    "/admin/subscribers/{subscriber_id}/dashboard",
    "GET",
    summary="Dashboard: traffic and time per day, connections, sales",
    tags=["lifecycle"],
    query=DashboardQuery,
    response=DashboardOut,
)
def handle_dashboard(ctx: RequestContext, subscriber_id: str) -> DashboardOut:
    return DashboardOut.model_validate(activity.dashboard(ctx.p, subscriber_id, ctx.query.days))


@route(
    bp,
    "/admin/subscribers/{subscriber_id}/sales",
    "GET",
    summary="Sales to the user grouped by product",
    tags=["lifecycle"],
    response=SalesOut,
)
def handle_sales(ctx: RequestContext, subscriber_id: str) -> SalesOut:
    return SalesOut.model_validate(activity.sales(ctx.p, subscriber_id))
