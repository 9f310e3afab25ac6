"""Billing routes (SPEC S5): invoices, payments, promises, extras, sales reports, billing runs.

Invoice ids are URL-safe (``inv_<subscriber_id>_<issue month>``, ``oth_<hex>``); every invoice carries
the form to put in a path as ``path_id`` (the id itself, or ``~`` for ``#`` in ids written before).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from chalice import Blueprint, Response
from pydantic import Field, StringConstraints

from api.routing import RequestContext, route
from api.schemas.billing import BillingRunPage, InvoicePage, PaymentPage
from api.schemas.common import Cursor, Email, Id, In, JsonDate, Money, Query, ShortText, Text
from api.schemas.reports import SalesReportOut, UserSalesOut
from core.errors import ValidationError
from services.billing.cutoffs import rerun_cutoff, run_promise_expiry, run_tenant_cutoffs
from services.billing.delivery import invoice_pdf, send_invoice
from services.billing.extras import add_extra, extra_dict, list_extras, remove_extra, update_extra
from services.billing.invoice_run import run_tenant_invoices
from services.billing.invoices import (
    cancel_invoice,
    cancel_pending_invoices,
    create_internet_invoice,
    create_other_invoice,
    get_invoice,
    invoice_dict,
    list_invoices,
)
from services.billing.notices import run_tenant_notices
from services.billing.payments import get_payment, list_payments, payment_dict, register_payment
from services.billing.promises import register_promise
from services.billing.reports import sales_report, sales_to_user
from services.billing.reversals import reverse_manually
from services.billing.runs import get_run, list_runs, run_moment
from services.subscribers import get_subscriber
from services.tenants import tenant_filter
from store.models import Subscriber

bp = Blueprint(__name__)

Period = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
IdemKey = Annotated[str, StringConstraints(min_length=8, max_length=200)]
InvoiceStatus = Literal["pending", "partial", "paid", "cancelled"]


# ---------------------------------------------------------------- models
class InvoiceQuery(Query):
    tenant_id: Id | None = None
    subscriber_id: Id | None = None
    status: InvoiceStatus | None = None
    kind: Literal["internet", "other"] | None = None
    period: Period | None = None
    since: date | None = None
    until: date | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: Cursor | None = None


class LineIn(In):
    description: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    quantity: Money = "1"
    unit_price: Money


class InvoiceIn(In):
    subscriber_id: Id
    kind: Literal["internet", "other"]
    period: Period | None = Field(None, description="internet: the service month YYYY-MM")
    amount: Money | None = Field(None, description="internet: fixed amount; 0 = free month")
    lines: list[LineIn] = Field(default_factory=list, max_length=100, description="other income lines")
    due_date: JsonDate | None = None
    notes: Text | None = None


class InvoiceSendIn(In):
    to: Email | None = None


class PaymentQuery(Query):
    tenant_id: Id | None = None
    subscriber_id: Id | None = None
    since: date | None = None
    until: date | None = None
    limit: int = Field(200, ge=1, le=1000)
    cursor: Cursor | None = None


class PaymentIn(In):
    subscriber_id: Id
    amount: Money
    method: Annotated[str, StringConstraints(min_length=1, max_length=40)] = "cash"
    reference: ShortText | None = None
    idempotency_key: IdemKey | None = Field(None, description="or the Idempotency-Key header")
    activate: bool = Field(
        True,
        description="reactivate a suspended client when the tenant's rule allows it "
        "(default: once nothing overdue remains; the response's 'reconnection' says why)",
    )
    paid_on: JsonDate | None = None
    notes: Text | None = None
    invoice_id: Annotated[str, StringConstraints(min_length=1, max_length=300)] | None = Field(
        None, description="the invoice this payment is for: paid first (its id or path_id)"
    )


class ReverseIn(In):
    amount: Money | None = Field(None, description="how much to take back (default: all that is left)")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)] = Field(
        description="why (kept in the audit log and on the reversal)"
    )
    reopen_invoices: bool = Field(
        True,
        description="re-open the invoices the payment paid (they owe again); false leaves them paid "
        "(what was given back is forgiven). Balance in favour the payment left is taken back first either way",
    )
    idempotency_key: IdemKey | None = Field(None, description="or the Idempotency-Key header")


class PromiseIn(In):
    until: JsonDate
    activate: bool = True
    idempotency_key: IdemKey | None = None
    notes: Text | None = None


class ExtraIn(In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    description: ShortText | None = None
    price: Money
    mode: Literal["recurring", "one_payment", "installments"] = "recurring"
    installments: int = Field(0, ge=0, le=24)
    start_date: JsonDate | None = None
    end_date: JsonDate | None = None


class ExtraPatch(In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    description: ShortText | None = None
    price: Money | None = None
    mode: Literal["recurring", "one_payment", "installments"] | None = None
    installments: int | None = Field(None, ge=0, le=24)
    start_date: JsonDate | None = None
    end_date: JsonDate | None = None
    active: bool | None = None


class SalesQuery(Query):
    tenant_id: Id | None = None
    group_by: Literal["product", "manager"] = "product"
    since: date | None = None
    until: date | None = None


class RunsQuery(Query):
    tenant_id: Id | None = None
    kind: Literal["billing_invoices", "billing_notices", "billing_cutoff"] | None = None
    limit: int = Field(50, ge=1, le=200)
    cursor: Cursor | None = None


class RunIn(In):
    kind: Literal["invoices", "notices", "cutoff", "promise_expiry"]
    tenant_id: Id | None = None
    on_date: JsonDate | None = Field(None, description="run as of this past day (a day the schedule missed)")


class RerunIn(In):
    gateway_id: Id | None = None
    only_failed: bool = True


# ---------------------------------------------------------------- helpers
def _tenants(ctx: RequestContext, tenant_id: str | None) -> frozenset[str]:
    return frozenset(tenant_filter(ctx.p, tenant_id))


def _invoice_out(inv: Any) -> dict[str, Any]:
    return invoice_dict(inv)


def _subscriber(ctx: RequestContext, subscriber_id: str) -> Subscriber:
    return get_subscriber(ctx.p, subscriber_id)


def _idempotency_key(ctx: RequestContext, body_key: str | None) -> str:
    header = {k.lower(): v for k, v in ctx.headers.items()}.get("idempotency-key")
    key = body_key or header
    if not key or not 8 <= len(key) <= 200:
        raise ValidationError(
            "send an idempotency key (8-200 characters) in idempotency_key or the Idempotency-Key header",
            field="idempotency_key",
        )
    return key


# ---------------------------------------------------------------- invoices
@route(
    bp,
    "/admin/invoices",
    "GET",
    summary="List invoices (filters: status, kind, client, period, dates)",
    tags=["billing"],
    query=InvoiceQuery,
    response=InvoicePage,
    description="Newest first (those of one instant by id), a page of limit at a time: pass next_cursor "
    "back as cursor for the next page.",
)
def handle_list_invoices(ctx: RequestContext) -> dict[str, Any]:
    q: InvoiceQuery = ctx.query
    if q.subscriber_id:
        _subscriber(ctx, q.subscriber_id)
    items, nxt = list_invoices(
        ctx.rt.signer,
        _tenants(ctx, q.tenant_id),
        status=q.status,
        kind=q.kind,
        subscriber_id=q.subscriber_id,
        period=q.period,
        since=q.since,
        until=q.until,
        limit=q.limit,
        cursor=q.cursor,
    )
    return {"items": [_invoice_out(i) for i in items], "next_cursor": nxt}


@route(
    bp,
    "/admin/invoices",
    "POST",
    summary="Create an invoice by hand: internet (period; amount 0 = free month) or other income (lines)",
    tags=["billing"],
    body=InvoiceIn,
    min_role="operator",
    status=201,
)
def handle_create_invoice(ctx: RequestContext) -> dict[str, Any]:
    b: InvoiceIn = ctx.body
    sub = _subscriber(ctx, b.subscriber_id)
    if b.kind == "internet":
        if not b.period:
            raise ValidationError("period is required for an internet invoice", field="period")
        inv = create_internet_invoice(
            ctx.rt,
            sub.tenant_id,
            sub.id,
            b.period,
            ctx.p.actor_id,
            ctx.p.actor_kind,
            amount=Decimal(b.amount) if b.amount is not None else None,
            notes=b.notes,
        )
    else:
        inv = create_other_invoice(
            ctx.rt,
            sub.tenant_id,
            sub.id,
            [line.model_dump() for line in b.lines],
            ctx.p.actor_id,
            ctx.p.actor_kind,
            due_date=b.due_date,
            notes=b.notes,
        )
    return _invoice_out(inv)


@route(bp, "/admin/invoices/{invoice_id}", "GET", summary="View an invoice", tags=["billing"])
def handle_get_invoice(ctx: RequestContext, invoice_id: str) -> dict[str, Any]:
    return _invoice_out(get_invoice(invoice_id, ctx.p.visible_tenants))


@route(
    bp,
    "/admin/invoices/{invoice_id}/cancel",
    "POST",
    summary="Cancel an unpaid invoice (its number is kept)",
    tags=["billing"],
    min_role="operator",
)
def handle_cancel_invoice(ctx: RequestContext, invoice_id: str) -> dict[str, Any]:
    inv = get_invoice(invoice_id, ctx.p.visible_tenants)
    return _invoice_out(cancel_invoice(ctx.rt, inv.id, ctx.p.actor_id, ctx.p.actor_kind))


@route(
    bp,
    "/admin/invoices/{invoice_id}/pdf",
    "GET",
    summary="The invoice as a PDF",
    tags=["billing"],
    content_type="application/pdf",
    description="Send Accept: application/pdf.",
)
def handle_invoice_pdf(ctx: RequestContext, invoice_id: str) -> Response:
    data, name = invoice_pdf(invoice_id, ctx.p.visible_tenants)
    return Response(
        body=data,
        status_code=200,
        headers={
            "Content-Type": "application/pdf",
            "Content-Disposition": f'inline; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )


@route(
    bp,
    "/admin/invoices/{invoice_id}/send",
    "POST",
    summary="E-mail the invoice to the client",
    tags=["billing"],
    body=InvoiceSendIn,
    min_role="operator",
)
def handle_send_invoice(ctx: RequestContext, invoice_id: str) -> dict[str, Any]:
    return send_invoice(
        ctx.rt, invoice_id, ctx.p.visible_tenants, ctx.p.actor_id, ctx.body.to, ctx.p.actor_kind
    )


@route(
    bp,
    "/admin/subscribers/{subscriber_id}/invoices/cancel-pending",
    "POST",
    summary="Cancel every pending invoice of a client",
    tags=["billing"],
    min_role="operator",
)
def handle_cancel_pending(ctx: RequestContext, subscriber_id: str) -> dict[str, Any]:
    sub = _subscriber(ctx, subscriber_id)
    return {
        "cancelled": cancel_pending_invoices(ctx.rt, sub.tenant_id, sub.id, ctx.p.actor_id, ctx.p.actor_kind)
    }


# ---------------------------------------------------------------- payments and promises
@route(
    bp,
    "/admin/payments",
    "GET",
    summary="List payments and promises",
    tags=["billing"],
    query=PaymentQuery,
    response=PaymentPage,
    description="Newest first (those of one instant by id), a page of limit at a time: pass next_cursor "
    "back as cursor for the next page.",
)
def handle_list_payments(ctx: RequestContext) -> dict[str, Any]:
    q: PaymentQuery = ctx.query
    if q.subscriber_id:
        _subscriber(ctx, q.subscriber_id)
    items, nxt = list_payments(
        ctx.rt.signer, _tenants(ctx, q.tenant_id), q.subscriber_id, q.since, q.until, q.limit, q.cursor
    )
    return {"items": [payment_dict(p) for p in items], "next_cursor": nxt}


@route(
    bp,
    "/admin/payments",
    "POST",
    summary="Register a payment (once per idempotency key; the given invoice first, then the oldest; "
    "balance in favour; reactivation by the tenant's reconnection rule)",
    tags=["billing"],
    body=PaymentIn,
    min_role="operator",
    status=201,
)
def handle_register_payment(ctx: RequestContext) -> dict[str, Any]:
    b: PaymentIn = ctx.body
    sub = _subscriber(ctx, b.subscriber_id)
    result = register_payment(
        ctx.rt,
        sub.tenant_id,
        sub.id,
        Decimal(b.amount),
        _idempotency_key(ctx, b.idempotency_key),
        ctx.p.actor_id,
        ctx.p.actor_kind,
        method=b.method,
        reference=b.reference,
        activate=b.activate,
        paid_on=b.paid_on,
        notes=b.notes,
        invoice_id=b.invoice_id,
    )
    return result.as_dict()


@route(bp, "/admin/payments/{payment_id}", "GET", summary="View a payment", tags=["billing"])
def handle_get_payment(ctx: RequestContext, payment_id: str) -> dict[str, Any]:
    return payment_dict(get_payment(payment_id, ctx.p.visible_tenants))


@route(
    bp,
    "/admin/payments/{payment_id}/reverse",
    "POST",
    summary="Reverse (part of) a payment: a refund or charge-back the provider did not report, or a "
    "correction (once per idempotency key; never suspends; the tenant is e-mailed)",
    tags=["billing"],
    body=ReverseIn,
    min_role="manager",
    status=201,
)
def handle_reverse_payment(ctx: RequestContext, payment_id: str) -> dict[str, Any]:
    b: ReverseIn = ctx.body
    result = reverse_manually(
        ctx.rt,
        ctx.p.visible_tenants,
        payment_id,
        Decimal(b.amount) if b.amount is not None else None,
        b.reason,
        b.reopen_invoices,
        _idempotency_key(ctx, b.idempotency_key),
        ctx.p.actor_id,
        ctx.p.actor_kind,
    )
    payment = get_payment(payment_id, ctx.p.visible_tenants)
    return {**result.as_dict(), "payment": payment_dict(payment)}


@route(
    bp,
    "/admin/subscribers/{subscriber_id}/payment-promise",
    "POST",
    summary="Register a payment promise: no cutoff until the date",
    tags=["billing"],
    body=PromiseIn,
    min_role="operator",
    status=201,
)
def handle_promise(ctx: RequestContext, subscriber_id: str) -> dict[str, Any]:
    b: PromiseIn = ctx.body
    sub = _subscriber(ctx, subscriber_id)
    result = register_promise(
        ctx.rt,
        sub.tenant_id,
        sub.id,
        b.until,
        ctx.p.actor_id,
        ctx.p.actor_kind,
        activate=b.activate,
        idempotency_key=b.idempotency_key,
        notes=b.notes,
    )
    return result.as_dict()


# ---------------------------------------------------------------- extras
@route(
    bp,
    "/admin/subscribers/{subscriber_id}/extras",
    "GET",
    summary="A client's extra products/services",
    tags=["billing"],
)
def handle_list_extras(ctx: RequestContext, subscriber_id: str) -> dict[str, Any]:
    sub = _subscriber(ctx, subscriber_id)
    return {"items": [extra_dict(e) for e in list_extras(ctx.p.visible_tenants, sub.id)]}


@route(
    bp,
    "/admin/subscribers/{subscriber_id}/extras",
    "POST",
    summary="Add an extra product/service to the monthly invoice (recurring, one payment, 2-24 installments)",
    tags=["billing"],
    body=ExtraIn,
    min_role="operator",
    status=201,
)
def handle_add_extra(ctx: RequestContext, subscriber_id: str) -> dict[str, Any]:
    b: ExtraIn = ctx.body
    sub = _subscriber(ctx, subscriber_id)
    extra = add_extra(
        ctx.rt,
        sub.tenant_id,
        sub.id,
        b.name,
        Decimal(b.price),
        ctx.p.actor_id,
        ctx.p.actor_kind,
        mode=b.mode,
        installments=b.installments,
        description=b.description,
        start_date=b.start_date,
        end_date=b.end_date,
    )
    return extra_dict(extra)


@route(
    bp,
    "/admin/extras/{extra_id}",
    "PATCH",
    summary="Edit an extra product/service",
    tags=["billing"],
    body=ExtraPatch,
    min_role="operator",
)
def handle_update_extra(ctx: RequestContext, extra_id: str) -> dict[str, Any]:
    changes = ctx.body.model_dump(exclude_unset=True)
    # null clears only the dates; for the other fields it means "unchanged"
    changes = {
        k: v for k, v in changes.items() if v is not None or k in ("start_date", "end_date", "description")
    }
    extra = update_extra(ctx.rt, extra_id, ctx.p.visible_tenants, changes, ctx.p.actor_id, ctx.p.actor_kind)
    return extra_dict(extra)


@route(
    bp,
    "/admin/extras/{extra_id}",
    "DELETE",
    summary="Stop an extra product/service",
    tags=["billing"],
    min_role="operator",
)
def handle_remove_extra(ctx: RequestContext, extra_id: str) -> dict[str, Any]:
    return extra_dict(remove_extra(ctx.rt, extra_id, ctx.p.visible_tenants, ctx.p.actor_id, ctx.p.actor_kind))


# ---------------------------------------------------------------- reports
@route(
    bp,
    "/admin/reports/sales",
    "GET",
    summary="Sales per product or per manager",
    tags=["billing"],
    query=SalesQuery,
    response=SalesReportOut,
    description="A row per product (or manager) and currency: amounts of different currencies are never "
    "added together. by_currency gives the totals of each currency; currency is the report's one currency, "
    "or null when its invoices are in several.",
)
def handle_sales_report(ctx: RequestContext) -> SalesReportOut:
    q: SalesQuery = ctx.query
    return SalesReportOut.model_validate(
        sales_report(_tenants(ctx, q.tenant_id), q.group_by, q.since, q.until)
    )


@route(
    bp,
    "/admin/subscribers/{subscriber_id}/sales-by-product",
    "GET",
    summary="Sales to the user: invoiced lines grouped by product with the manager's revenue",
    tags=["billing"],
    response=UserSalesOut,
    description="A row per product and currency, with the totals of each currency (by_currency); currency "
    "is null when the client's invoices are in several currencies.",
)
def handle_sales_to_user(ctx: RequestContext, subscriber_id: str) -> UserSalesOut:
    sub = _subscriber(ctx, subscriber_id)
    return UserSalesOut.model_validate(sales_to_user(ctx.p.visible_tenants, sub.id))


# ---------------------------------------------------------------- billing runs (task log)
@route(
    bp,
    "/admin/billing/runs",
    "GET",
    summary="Billing run log (invoices, notices, cutoffs per router)",
    tags=["billing"],
    query=RunsQuery,
    response=BillingRunPage,
    description="Newest first across the tenants (those of one instant by id), a page of limit at a time: "
    "pass next_cursor back as cursor for the next page.",
)
def handle_list_runs(ctx: RequestContext) -> dict[str, Any]:
    q: RunsQuery = ctx.query
    items, nxt = list_runs(ctx.rt.signer, _tenants(ctx, q.tenant_id), q.kind, q.limit, q.cursor)
    return {"items": items, "next_cursor": nxt}


@route(
    bp,
    "/admin/billing/runs/{run_id}",
    "GET",
    summary="One billing run with its router tasks",
    tags=["billing"],
)
def handle_get_run(ctx: RequestContext, run_id: str) -> dict[str, Any]:
    return get_run(run_id, ctx.p.visible_tenants)


@route(
    bp,
    "/admin/billing/runs",
    "POST",
    summary="Run invoices, notices, cutoff or promise expiry now (safe to repeat)",
    tags=["billing"],
    body=RunIn,
    min_role="manager",
)
def handle_start_run(ctx: RequestContext) -> dict[str, Any]:
    b: RunIn = ctx.body
    tenants = sorted(_tenants(ctx, b.tenant_id))
    actor, kind = ctx.p.actor_id, ctx.p.actor_kind
    now = run_moment(tenants, b.on_date)
    if b.kind == "invoices":
        invoices = [run_tenant_invoices(ctx.rt, t, now, actor=actor, actor_kind=kind) for t in tenants]
        return {"results": [r.as_dict() for r in invoices]}
    if b.kind == "notices":
        notices = [run_tenant_notices(ctx.rt, t, now, actor=actor, actor_kind=kind) for t in tenants]
        return {"results": [r.as_dict() for r in notices]}
    if b.kind == "cutoff":
        cutoffs = [run_tenant_cutoffs(ctx.rt, t, now, actor=actor, actor_kind=kind) for t in tenants]
        return {"results": [r.as_dict() for r in cutoffs]}
    expired = run_promise_expiry(ctx.rt, now, tenant_ids=tenants, actor=actor, actor_kind=kind)
    return {"results": [r.as_dict() for r in expired]}


@route(
    bp,
    "/admin/billing/runs/{run_id}/rerun",
    "POST",
    summary="Re-run a cutoff's router tasks (the failed ones, or one router)",
    tags=["billing"],
    body=RerunIn,
    min_role="operator",
)
def handle_rerun(ctx: RequestContext, run_id: str) -> dict[str, Any]:
    b: RerunIn = ctx.body
    return rerun_cutoff(
        ctx.rt,
        run_id,
        ctx.p.visible_tenants,
        ctx.p.actor_id,
        b.gateway_id,
        b.only_failed,
        actor_kind=ctx.p.actor_kind,
    )
