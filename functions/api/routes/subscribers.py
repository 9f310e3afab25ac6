"""Subscribers: create (random password by default), read, edit, lists with filters, pagination and sort,
totals per status, the Online list, CSV export of every list."""

from __future__ import annotations

from dataclasses import asdict

from chalice import Blueprint, Response

from api.http import export_response, patch_changes
from api.routing import RequestContext, route
from api.schemas.subscribers import (
    CancellationQuery,
    CancellationsOut,
    CredentialsOut,
    EquipmentSecretsOut,
    OnlineExportQuery,
    OnlineOut,
    OnlineQuery,
    OnlineRow,
    SubscriberCreated,
    SubscriberExportQuery,
    SubscriberIn,
    SubscriberOut,
    SubscriberPage,
    SubscriberPatch,
    SubscriberQuery,
    SubscriberUpdated,
    TotalsExportQuery,
    TotalsOut,
    TotalsQuery,
)
from core.listing import SubscriberFilter, to_csv
from services import subscribers as svc
from services.tenants import reject_nulls
from store.models import Subscriber

bp = Blueprint(__name__)


def _filter(q: object) -> SubscriberFilter:
    return SubscriberFilter(
        status=getattr(q, "status", None),
        zone_id=getattr(q, "zone_id", None),
        gateway_id=getattr(q, "gateway_id", None),
        product_id=getattr(q, "product_id", None),
        connection_type=getattr(q, "connection_type", None),
        q=getattr(q, "q", None),
    )


def _sub(sub: Subscriber) -> SubscriberOut:
    return SubscriberOut.model_validate(svc.subscriber_dict(sub))


@route(
    bp,
    "/admin/subscribers",
    "GET",
    summary="List subscribers",
    tags=["subscribers"],
    query=SubscriberQuery,
    response=SubscriberPage,
    description="Filters: status (incl. online, online_24h; blocked = suspended), zone, router, plan, "
    "connection type, search q: the start of the username, name, phone or IP (case-insensitive). Sort "
    "with sort=<field> or -<field>. Keyset pagination: pass next_cursor back as cursor. Username order "
    "with no filter, one status, online, one router or a search reads one page from an index, whatever "
    "the size of the tenant.",
)
def handle_list_subscribers(ctx: RequestContext) -> SubscriberPage:
    q = ctx.query
    page = svc.list_subscribers(ctx.rt.signer, ctx.p, _filter(q), q.tenant_id, q.sort, q.limit, q.cursor)
    return SubscriberPage.model_validate(
        {"items": page.items, "next_cursor": page.next_cursor, "total": page.total}
    )


@route(
    bp,
    "/admin/subscribers",
    "POST",
    summary="Create a subscriber",
    tags=["subscribers"],
    body=SubscriberIn,
    response=SubscriberCreated,
    min_role="operator",
    status=201,
    description="The username is unique per tenant (case-insensitive). The network password is random "
    "unless given and is returned in this response. A router assigned to the subscriber gets it through "
    "a provisioning task (router.task_id), or a warning says the router API is disabled.",
)
def handle_create_subscriber(ctx: RequestContext) -> SubscriberCreated:
    data = {k: v for k, v in ctx.body.model_dump().items() if v is not None}
    res = svc.create_subscriber(ctx.rt, ctx.p, data)
    return SubscriberCreated.model_validate(
        {
            "subscriber": svc.subscriber_dict(res.subscriber),
            "password": res.password,
            "system": res.system,
            "router": asdict(res.router),
            "warnings": res.warnings,
        }
    )


@route(
    bp,
    "/admin/subscribers/export",
    "GET",
    summary="Export the subscriber list as CSV (or XLSX with format=xlsx)",
    tags=["subscribers"],
    query=SubscriberExportQuery,
    content_type="text/csv",
)
def handle_export_subscribers(ctx: RequestContext) -> Response:
    q = ctx.query
    text = svc.export_subscribers(ctx.p, _filter(q), q.tenant_id, q.sort)
    return export_response(text, "subscribers", q.format)


@route(
    bp,
    "/admin/subscribers/totals",
    "GET",
    summary="Customers per status with the sums of their services",
    tags=["subscribers"],
    query=TotalsQuery,
    response=TotalsOut,
    description="A service's price is in its tenant's currency, and prices of different currencies are "
    "never added together: statuses has the counts of every customer, with the sums when they are all of "
    "one currency (else null); by_currency has each currency's totals.",
)
def handle_subscriber_totals(ctx: RequestContext) -> TotalsOut:
    q = ctx.query
    return TotalsOut.model_validate(svc.subscriber_totals(ctx.p, _filter(q), q.tenant_id))


@route(
    bp,
    "/admin/subscribers/cancellations",
    "GET",
    summary="Cancellation statistics: services cancelled per month and per zone",
    tags=["subscribers"],
    query=CancellationQuery,
    response=CancellationsOut,
    description="The monthly sums of the cancelled services' prices are per currency (by_currency); beside "
    "the counts only when the cancellations are all of one currency (else null).",
)
def handle_cancellation_stats(ctx: RequestContext) -> CancellationsOut:
    q = ctx.query
    return CancellationsOut.model_validate(svc.cancellation_stats(ctx.p, _filter(q), q.tenant_id, q.months))


@route(
    bp,
    "/admin/subscribers/totals/export",
    "GET",
    summary="Export the totals per status as CSV (or XLSX with format=xlsx)",
    tags=["subscribers"],
    query=TotalsExportQuery,
    content_type="text/csv",
    description="A line per status and currency, with the currency of its sum.",
)
def handle_export_totals(ctx: RequestContext) -> Response:
    q = ctx.query
    totals = svc.subscriber_totals(ctx.p, _filter(q), q.tenant_id)
    groups = totals["by_currency"] or [{"currency": totals["currency"], "statuses": totals["statuses"]}]
    rows = [{"status": k, **v, "currency": g["currency"]} for g in groups for k, v in g["statuses"].items()]
    columns = ("status", "count", "services_total", "currency")
    return export_response(to_csv(columns, rows), "totals", q.format)


@route(
    bp,
    "/admin/subscribers/online",
    "GET",
    summary="Sessions open now (from accounting)",
    tags=["subscribers"],
    query=OnlineQuery,
    response=OnlineOut,
)
def handle_online_subscribers(ctx: RequestContext) -> OnlineOut:
    q = ctx.query
    page = svc.online_page(ctx.rt.signer, ctx.p, q.tenant_id, q.q, q.limit, q.cursor)
    return OnlineOut(
        items=[OnlineRow.model_validate(r) for r in page.items],
        total=page.total,
        next_cursor=page.next_cursor,
    )


@route(
    bp,
    "/admin/subscribers/online/export",
    "GET",
    summary="Export the Online list as CSV (or XLSX with format=xlsx)",
    tags=["subscribers"],
    query=OnlineExportQuery,
    content_type="text/csv",
)
def handle_export_online(ctx: RequestContext) -> Response:
    rows = svc.online_rows(ctx.p, ctx.query.tenant_id, ctx.query.q)
    return export_response(to_csv(svc.ONLINE_COLUMNS, rows), "online", ctx.query.format)


@route(
    bp,
    "/admin/subscribers/{subscriber_id}",
    "GET",
    summary="Get a subscriber",
    tags=["subscribers"],
    response=SubscriberOut,
)
def handle_get_subscriber(ctx: RequestContext, subscriber_id: str) -> SubscriberOut:
    return _sub(svc.get_subscriber(ctx.p, subscriber_id))


@route(
    bp,
    "/admin/subscribers/{subscriber_id}",
    "PATCH",
    summary="Edit a subscriber",
    tags=["subscribers"],
    body=SubscriberPatch,
    response=SubscriberUpdated,
    min_role="operator",
)
def handle_update_subscriber(ctx: RequestContext, subscriber_id: str) -> SubscriberUpdated:
    changes = patch_changes(ctx.body)
    # null equipment data is handled by the service: it keeps the router's ARP binding
    reject_nulls(Subscriber, changes, skip=("portal_password", "advanced"))
    res = svc.update_subscriber(ctx.rt, ctx.p, subscriber_id, changes)
    return SubscriberUpdated.model_validate(
        {
            "subscriber": svc.subscriber_dict(res.subscriber),
            "changed": res.changed,
            "router": asdict(res.router),
        }
    )


@route(
    bp,
    "/admin/subscribers/{subscriber_id}/credentials",
    "GET",
    summary="Network username and password (print card, send credentials); audited",
    tags=["subscribers"],
    response=CredentialsOut,
    min_role="operator",
)
def handle_get_credentials(ctx: RequestContext, subscriber_id: str) -> CredentialsOut:
    return CredentialsOut.model_validate(svc.credentials(ctx.p, ctx.rt, subscriber_id))


@route(
    bp,
    "/admin/subscribers/{subscriber_id}/equipment-secrets",
    "GET",
    summary="The equipment passwords (antenna, modem, Wi-Fi) in clear; audited",
    tags=["subscribers"],
    response=EquipmentSecretsOut,
    min_role="manager",
    description="For managers and above (403 for lower roles). Reads and lists show only whether each "
    "password is set (advanced.*.password_set); this read gives them in clear, with the withheld "
    "password-like fields of equipment data recorded before it had fields (advanced.other_withheld). "
    "Each read is in the subscriber's history.",
)
def handle_get_equipment_secrets(ctx: RequestContext, subscriber_id: str) -> EquipmentSecretsOut:
    return EquipmentSecretsOut.model_validate(svc.equipment_secrets(ctx.p, ctx.rt, subscriber_id))
