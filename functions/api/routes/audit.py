"""The audit log: who changed what and when, with before/after, per object or per tenant."""

from __future__ import annotations

from chalice import Blueprint, Response

from api.http import export_response
from api.routing import RequestContext, route
from api.schemas.audit import AuditExportQuery, AuditPage, AuditQuery
from api.schemas.lifecycle import PageQuery
from core.listing import to_csv
from services import audit as svc
from services.subscribers import get_subscriber

bp = Blueprint(__name__)

COLUMNS = (
    "at",
    "tenant_id",
    "entity_type",
    "entity_id",
    "action",
    "actor_kind",
    "actor_id",
    "before",
    "after",
    "request_id",
)


@route(
    bp,
    "/admin/audit",
    "GET",
    summary="Audit log of an object (entity_id) or of a tenant",
    tags=["audit"],
    query=AuditQuery,
    response=AuditPage,
    min_role="operator",
)
def handle_query_audit(ctx: RequestContext) -> AuditPage:
    q = ctx.query
    items, nxt = svc.query_audit(
        ctx.rt,
        ctx.p,
        entity_id=q.entity_id,
        tenant_id=q.tenant_id,
        since=q.since,
        until=q.until,
        limit=q.limit,
        cursor=q.cursor,
    )
    return AuditPage.model_validate({"items": items, "next_cursor": nxt})


@route(
    bp,
    "/admin/audit/export",
    "GET",
    summary="Audit log as CSV (or XLSX with format=xlsx)",
    tags=["audit"],
    query=AuditExportQuery,
    min_role="operator",
    content_type="text/csv",
)
def handle_export_audit(ctx: RequestContext) -> Response:
    q = ctx.query
    rows: list[dict[str, object]] = []
    cursor = None
    while len(rows) < 50_000:
        page, cursor = svc.query_audit(
            ctx.rt,
            ctx.p,
            entity_id=q.entity_id,
            tenant_id=q.tenant_id,
            since=q.since,
            until=q.until,
            limit=500,
            cursor=cursor,
        )
        rows.extend(page)
        if not cursor:
            break
    return export_response(to_csv(COLUMNS, rows), "audit", q.format)


@route(
    bp,
    "/admin/subscribers/{subscriber_id}/audit",
    "GET",
    summary="Audit log of a subscriber",
    tags=["audit"],
    query=PageQuery,
    response=AuditPage,
    min_role="operator",
)
def handle_subscriber_audit(ctx: RequestContext, subscriber_id: str) -> AuditPage:
    sub = get_subscriber(ctx.p, subscriber_id)
    items, nxt = svc.query_audit(
        ctx.rt,
        ctx.p,
        entity_id=sub.id,
        tenant_id=None,
        since=None,
        until=None,
        limit=ctx.query.limit,
        cursor=ctx.query.cursor,
    )
    return AuditPage.model_validate({"items": items, "next_cursor": nxt})
