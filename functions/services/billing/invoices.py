"""Invoices by hand and their life: internet and other-income invoices, lookup, listing, cancelling."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from core import money
from core.billing_calendar import (
    cycle_for_period,
    local_date,
)
from core.errors import ConflictError, InvalidStateError, NotFoundError, ValidationError
from core.ids import new_id, now_iso, utcnow
from core.invoice_ids import from_path, path_id
from core.paging import Position, Signer, decode_key, encode_key, newest_first_across, position_of
from services.audit import record_audit
from services.billing.context import (
    UNPAID,
    TenantContext,
    client_days,
    load_context,
    require_subscriber,
    service_exists_from,
    tenant_day_bounds,
)
from services.billing.credit import settle_credit, settle_new_invoices
from services.billing.drafts import (
    apply_credit,
    build_internet_draft,
    invoice_id,
    invoice_line,
    new_invoice,
    prior_invoices,
)
from shared.runtime import Runtime
from store import billing as repo
from store.billing import InvoiceWrite, TransactionFailed
from store.models import Invoice


def _snapshot(inv: Invoice) -> dict[str, Any]:
    return {
        "id": inv.id,
        "number": inv.number,
        "status": inv.status,
        "total": inv.total,
        "paid": inv.paid,
        "period": inv.period,
        "kind": inv.kind,
    }


def invoice_dict(inv: Invoice) -> dict[str, Any]:
    """The API shape of an invoice."""
    total = money.to_decimal(inv.total)
    paid = money.to_decimal(inv.paid)
    return {
        "id": inv.id,
        "path_id": path_id(inv.id),
        "tenant_id": inv.tenant_id,
        "subscriber_id": inv.subscriber_id,
        "subscriber_name": inv.subscriber_name,
        "number": int(inv.number) if inv.number is not None else None,
        "kind": inv.kind,
        "period": inv.period,
        "status": inv.status,
        "issue_date": inv.issue_date,
        "notice_date": inv.notice_date,
        "due_date": inv.due_date,
        "cutoff_date": inv.cutoff_date,
        "service_start": inv.service_start,
        "service_end": inv.service_end,
        "currency": inv.currency,
        "subtotal": inv.subtotal,
        "tax": inv.tax,
        "total": inv.total,
        "paid": inv.paid,
        "due": money.fmt(money.amount_due(total, paid), inv.currency) if inv.status != "cancelled" else "0",
        "lines": list(inv.lines or []),
        "notes": inv.notes,
        "zone_id": inv.zone_id,
        "product_id": inv.product_id,
        "paid_at": inv.paid_at,
        "notified_at": inv.notified_at,
        "sent_at": inv.sent_at,
        "cutoff_at": inv.cutoff_at,
        "cancelled_at": inv.cancelled_at,
        "created_by": inv.created_by,
        "created_at": inv.created_at,
    }


def create_internet_invoice(
    rt: Runtime,
    tenant_id: str,
    subscriber_id: str,
    period: str,
    actor_id: str,
    actor_kind: str = "operator",
    amount: Decimal | None = None,
    notes: str | None = None,
) -> Invoice:
    """Create a client's internet invoice for ``period`` (``YYYY-MM``) by hand.

    Without ``amount`` it is what the run would make (prorated first invoice, extras). With ``amount``
    it has one service line of that amount — ``0`` is the *free month*: no other internet invoice is
    generated for that period (SPEC S5). A second internet invoice for the same period is a conflict.
    """
    ctx = load_context(tenant_id)
    sub = require_subscriber(tenant_id, subscriber_id)
    days = client_days(ctx, sub)
    cycle = cycle_for_period(days, period)
    inv_id = invoice_id(sub.id, cycle)
    prior = prior_invoices([(sub, cycle, days)])[sub.id]
    if prior.same_month:
        raise ConflictError(f"the client already has an internet invoice for {cycle.period}", field="period")
    exists_from = service_exists_from(sub, ctx.tz(sub.zone_id))
    if exists_from is not None and exists_from > cycle.service_end:
        raise InvalidStateError(
            f"the client's service began on {exists_from.isoformat()}, after the period {cycle.period}",
            field="period",
        )
    if amount is not None:
        money.require_non_negative(amount)
        label = "Free month" if amount == 0 else "Internet service"
        line = invoice_line(
            f"{label} {cycle.service_start.isoformat()} – {cycle.service_end.isoformat()}",
            money.quantize(amount, ctx.currency),
            ctx.currency,
            "service",
            product_id=sub.product_id,
        )
        inv = new_invoice(
            ctx, sub, inv_id, "internet", [line], cycle.issue_date, actor_id, cycle, notes=notes
        )
        write = InvoiceWrite(inv, apply_credit(ctx, sub, inv))
    else:
        products = repo.get_products([sub.product_id or ""])
        extras = [e for e in repo.extras_of_subscriber(sub.id) if e.active]
        draft = build_internet_draft(
            ctx, sub, products.get(sub.product_id or ""), cycle, days, extras, prior, actor_id
        )
        if draft is None:
            raise InvalidStateError(
                "nothing to invoice: the client has no plan or is not installed in that period"
            )
        draft.write.invoice.notes = notes
        write = draft.write
    outcome = repo.create_numbered_invoices(tenant_id, [write])
    if outcome.existing:
        raise ConflictError(f"the client already has an internet invoice for {cycle.period}", field="period")
    if not outcome.created:
        raise ConflictError("the client's extras or balance changed meanwhile; try again")
    inv = outcome.created[0]
    record_audit(actor_id, actor_kind, tenant_id, "invoice", inv.id, "create", None, _snapshot(inv))
    return _with_credit_landed_meanwhile(rt, ctx, inv, (actor_id, actor_kind))


def create_other_invoice(
    rt: Runtime,
    tenant_id: str,
    subscriber_id: str,
    lines: Sequence[dict[str, Any]],
    actor_id: str,
    actor_kind: str = "operator",
    due_date: date | None = None,
    notes: str | None = None,
) -> Invoice:
    """An *other income* invoice (equipment, other services), made by hand only: never generated by the
    run and never cut off for (SPEC S5). ``lines``: ``{description, quantity, unit_price}``."""
    ctx = load_context(tenant_id)
    sub = require_subscriber(tenant_id, subscriber_id)
    if not lines:
        raise ValidationError("an invoice needs at least one line", field="lines")
    out_lines = []
    for i, raw in enumerate(lines):
        desc = str(raw.get("description") or "").strip()
        if not desc:
            raise ValidationError("description is required", field=f"lines.{i}.description")
        qty = money.to_decimal(raw.get("quantity", "1"), f"lines.{i}.quantity")
        unit = money.to_decimal(raw.get("unit_price"), f"lines.{i}.unit_price")
        if qty <= 0:
            raise ValidationError("quantity must be greater than zero", field=f"lines.{i}.quantity")
        money.require_non_negative(unit, f"lines.{i}.unit_price")
        amount = money.quantize(qty * unit, ctx.currency)
        out_lines.append(
            {
                "description": desc,
                "quantity": f"{qty.normalize():f}",
                "unit_price": money.fmt(unit, ctx.currency),
                "amount": money.fmt(amount, ctx.currency),
                "kind": "other",
            }
        )
    today = local_date(utcnow(), ctx.tz(sub.zone_id))
    inv = new_invoice(
        ctx, sub, new_id("oth"), "other", out_lines, today, actor_id, None, due_date or today, notes
    )
    outcome = repo.create_numbered_invoices(tenant_id, [InvoiceWrite(inv, apply_credit(ctx, sub, inv))])
    if not outcome.created:
        raise ConflictError("the client's balance changed meanwhile; try again")
    record_audit(actor_id, actor_kind, tenant_id, "invoice", inv.id, "create", None, _snapshot(inv))
    return _with_credit_landed_meanwhile(rt, ctx, outcome.created[0], (actor_id, actor_kind))


def _with_credit_landed_meanwhile(
    rt: Runtime, ctx: TenantContext, inv: Invoice, by: tuple[str, str]
) -> Invoice:
    """The invoice just made, paid from the client's balance in favour when credit landed while it was
    drafted (it used the balance as read); as it stands then."""
    if inv.id in settle_new_invoices(rt, ctx, [inv], by):
        return repo.get_invoice(inv.id) or inv
    return inv


def find_invoice(invoice_id_: str) -> Invoice | None:
    """The invoice an id names, in any form a URL path carries it (:mod:`core.invoice_ids`)."""
    stored = from_path(invoice_id_)
    return repo.get_invoice(stored) if stored is not None else None


def get_invoice(invoice_id_: str, visible: frozenset[str] | set[str] | None = None) -> Invoice:
    inv = find_invoice(invoice_id_)
    if inv is None or (visible is not None and inv.tenant_id not in visible):
        raise NotFoundError("invoice not found")
    return inv


INVOICE_LIST = "admin:invoices"  # the signed cursor's scope: a position in time in the invoice list


def list_invoices(
    signer: Signer,
    tenant_ids: Iterable[str],
    *,
    status: str | None = None,
    kind: str | None = None,
    subscriber_id: str | None = None,
    period: str | None = None,
    since: date | None = None,
    until: date | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Invoice], str | None]:
    """Invoices of the given tenants, newest first (invoices made in the same instant by id), filtered;
    returns a page and the next cursor. ``since`` and ``until`` are days of each tenant's time zone."""
    tenants = set(tenant_ids)
    position = position_of(decode_key(signer, cursor, INVOICE_LIST))
    bounds = {tid: tenant_day_bounds(tid, since, until) for tid in tenants}

    def keep(inv: Invoice) -> bool:
        if inv.tenant_id not in tenants:
            return False
        lower, upper = bounds[inv.tenant_id]
        if lower and inv.created_at < lower:
            return False
        if upper and inv.created_at >= upper:
            return False
        return (
            (status is None or inv.status == status)
            and (kind is None or inv.kind == kind)
            and (period is None or inv.period == period)
        )

    streams: Iterable[Iterable[Invoice]]
    if subscriber_id:
        mine = sorted(repo.invoices_of_subscriber(subscriber_id), key=invoice_position, reverse=True)
        streams = [filter(keep, mine)]
    else:
        cond: Any = None
        for attr, value in ((Invoice.status, status), (Invoice.kind, kind), (Invoice.period, period)):
            if value is not None:
                cond = attr == value if cond is None else cond & (attr == value)
        streams = (_tenant_stream(tid, bounds[tid], position, cond, keep, limit) for tid in sorted(tenants))
    page, last = newest_first_across(streams, limit, position, invoice_position)
    return page, encode_key(signer, last, INVOICE_LIST)


def invoice_position(inv: Invoice) -> Position:
    return inv.created_at, inv.id


def _tenant_stream(
    tenant_id: str,
    bounds: tuple[str | None, str | None],
    position: Position | None,
    cond: Any,
    keep: Callable[[Invoice], bool],
    limit: int,
) -> Iterator[Invoice]:
    """A tenant's invoices that ``keep`` keeps, newest first from the position's instant (or the upper
    bound) back, read a page of the index at a time as the list goes."""
    lower, upper = bounds
    tops = [t for t in (upper, position[0] if position else None) if t]
    top = min(tops) if tops else None
    return filter(keep, repo.iter_tenant_invoices_newest_first(tenant_id, lower, top, cond, limit + 1))


def cancel_invoice(
    rt: Runtime, invoice_id_: str, actor_id: str, actor_kind: str = "operator", use_credit: bool = True
) -> Invoice:
    """Cancel an unpaid or partly paid invoice. It keeps its number (no gaps) and its period stays
    taken; what was already paid on it goes to the client's balance in favour, which then pays what the
    client still owes (``use_credit`` False: the caller does that once it is done)."""
    inv = find_invoice(invoice_id_)
    if inv is None:
        raise NotFoundError("invoice not found")
    if inv.status not in UNPAID:
        raise InvalidStateError(
            f"only pending or partly paid invoices can be cancelled; this one is {inv.status}"
        )
    before = _snapshot(inv)
    paid = money.to_decimal(inv.paid)
    for _attempt in range(10):
        now = now_iso()
        ops = [repo.cancel_invoice_op(inv, actor_id, now)]
        sub = repo.get_subscriber_by_id(inv.subscriber_id) if paid > 0 else None
        if sub is not None:  # what was paid on it becomes balance in favour, in the same write
            balance = money.fmt(money.to_decimal(sub.balance) + paid, inv.currency)
            ops.append(repo.subscriber_money_op(sub, now, balance=balance))
        try:
            repo.transact(ops)
        except TransactionFailed as exc:
            if ("invoice", inv.id) in exc.failed:
                raise InvalidStateError("the invoice changed meanwhile; reload it") from exc
            continue  # the client's balance moved: read it again
        break
    else:
        raise InvalidStateError("the client's balance kept changing; try again")
    inv.status, inv.cancelled_at, inv.cancelled_by = "cancelled", now, actor_id
    record_audit(actor_id, actor_kind, inv.tenant_id, "invoice", inv.id, "cancel", before, _snapshot(inv))
    if sub is not None and use_credit:  # what it had paid is credit: it pays what the client owes
        settle_credit(rt, load_context(inv.tenant_id), sub.id, (actor_id, actor_kind))
    return inv


def cancel_pending_invoices(
    rt: Runtime, tenant_id: str, subscriber_id: str, actor_id: str, actor_kind: str = "operator"
) -> int:
    """Cancel every pending or partly paid invoice of a client (the "cancel service" option, SPEC S4).

    Returns how many invoices were cancelled. What they had paid becomes balance in favour, used on
    anything still owed once they are all cancelled (not on the invoices about to be cancelled)."""
    count = 0
    for inv in repo.invoices_of_subscriber(subscriber_id):
        if inv.tenant_id != tenant_id or inv.status not in UNPAID:
            continue
        try:
            cancel_invoice(rt, inv.id, actor_id, actor_kind, use_credit=False)
        except InvalidStateError:
            continue  # paid or cancelled meanwhile
        count += 1
    if count:
        settle_credit(rt, load_context(tenant_id), subscriber_id, (actor_id, actor_kind))
    return count
