"""Internet invoice drafts: the deterministic id of a cycle's invoice, what earlier invoices say
about it, its lines (service, prorating, extras), tax and the balance in favour used."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from core import money
from core.billing_calendar import (
    BillingDays,
    Cycle,
    parse_date,
    period_of,
    previous_cycle,
)
from core.ids import now_iso
from core.installments import ExtraTerms, charge_for
from core.invoice_ids import internet_invoice_id, legacy_internet_invoice_id
from core.proration import service_charges
from services.billing.context import TenantContext, local_day_of, service_exists_from
from store import billing as repo
from store.billing import InvoiceWrite, TxOp
from store.models import ExtraProduct, Invoice, Product, Subscriber


def invoice_id(subscriber_id: str, cycle: Cycle) -> str:
    """The one id the internet invoice of this client and cycle can have (keyed by the issue month)."""
    return internet_invoice_id(subscriber_id, period_of(cycle.issue_date))


def legacy_invoice_id(subscriber_id: str, cycle: Cycle) -> str:
    """The id the same invoice had before URL-safe ids: a client billed then must not be billed twice."""
    return legacy_internet_invoice_id(subscriber_id, cycle.period)


@dataclass(frozen=True)
class PriorInvoices:
    """What a client's earlier internet invoices say about the cycle about to be invoiced."""

    same_month: bool = False  # an invoice issued in this cycle's issue month exists (an old-form id)
    previous_invoiced: bool = False  # the previous cycle has an invoice (any status)
    billed_through: date | None = None  # the last day the previous invoice covers (not cancelled)


def prior_invoices(items: Sequence[tuple[Subscriber, Cycle, BillingDays]]) -> dict[str, PriorInvoices]:
    """For each (client, cycle, days): the client's invoice of the previous cycle, in one batched read.

    Invoices are keyed by issue month, so the previous cycle's invoice is found even when the billing
    days moved since (it was issued the month before). Invoices with old-form ids (keyed by the month
    of the payment date) are looked up too, for the previous and for this cycle, so clients invoiced
    before URL-safe ids are neither invoiced twice nor left with a gap.
    """
    keys: dict[str, tuple[str, ...]] = {}
    for sub, cycle, days in items:
        prev = previous_cycle(cycle, days)
        keys[sub.id] = (
            invoice_id(sub.id, prev),
            legacy_invoice_id(sub.id, prev),
            legacy_invoice_id(sub.id, cycle),
        )
    found = {i.id: i for i in repo.invoice_heads(k for ks in keys.values() for k in ks)}
    out: dict[str, PriorInvoices] = {}
    for sub, cycle, _ in items:
        month = period_of(cycle.issue_date)
        earlier: list[Invoice] = []
        same_month = False
        for inv in (found[k] for k in keys[sub.id] if k in found):
            if inv.kind != "internet":
                continue
            if (inv.issue_date or "")[:7] == month:
                same_month = True
            else:
                earlier.append(inv)
        ends = [parse_date(i.service_end) for i in earlier if i.status != "cancelled" and i.service_end]
        out[sub.id] = PriorInvoices(same_month, bool(earlier), max(ends) if ends else None)
    return out


def invoice_line(description: str, amount: Decimal, currency: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "quantity": "1",
        "unit_price": money.fmt(amount, currency),
        "amount": money.fmt(amount, currency),
        "kind": kind,
        **{k: v for k, v in extra.items() if v is not None},
    }


def _extra_terms(extra: ExtraProduct) -> ExtraTerms:
    return ExtraTerms(
        name=extra.name,
        description=extra.description,
        price=money.to_decimal(extra.price, "price"),
        mode=extra.mode,
        installments=int(extra.installments or 0),
        billed_count=int(extra.billed_count or 0),
        start=parse_date(extra.start_date) if extra.start_date else None,
        end=parse_date(extra.end_date) if extra.end_date else None,
        active=bool(extra.active),
    )


@dataclass
class Draft:
    """An internet invoice about to be written, with the writes that must go with it."""

    write: InvoiceWrite
    subscriber: Subscriber


def _totals(lines: list[dict[str, Any]], ctx: TenantContext) -> tuple[Decimal, Decimal, Decimal]:
    subtotal = sum((money.to_decimal(line["amount"]) for line in lines), money.ZERO)
    tax = money.tax_for(subtotal, ctx.tax_rate, ctx.currency)
    return money.quantize(subtotal, ctx.currency), tax, money.quantize(subtotal + tax, ctx.currency)


def new_invoice(
    ctx: TenantContext,
    sub: Subscriber,
    inv_id: str,
    kind: str,
    lines: list[dict[str, Any]],
    issue: date,
    actor: str,
    cycle: Cycle | None = None,
    due: date | None = None,
    notes: str | None = None,
) -> Invoice:
    subtotal, tax, total = _totals(lines, ctx)
    now = now_iso()
    inv = Invoice(
        id=inv_id,
        tenant_id=sub.tenant_id,
        subscriber_id=sub.id,
        kind=kind,
        period=cycle.period if cycle else None,
        status="paid" if total == 0 else "pending",
        issue_date=issue.isoformat(),
        notice_date=cycle.notice_date.isoformat() if cycle else None,
        due_date=(cycle.payment_date if cycle else due or issue).isoformat(),
        cutoff_date=cycle.cutoff_date.isoformat() if cycle else None,
        service_start=cycle.service_start.isoformat() if cycle else None,
        service_end=cycle.service_end.isoformat() if cycle else None,
        currency=ctx.currency,
        subtotal=money.fmt(subtotal, ctx.currency),
        tax=money.fmt(tax, ctx.currency),
        total=money.fmt(total, ctx.currency),
        paid="0",
        lines=lines,
        notes=notes,
        subscriber_login=sub.login,
        subscriber_name=sub.name or sub.username,
        zone_id=sub.zone_id,
        gateway_id=sub.gateway_id,
        product_id=sub.product_id,
        paid_at=now if total == 0 else None,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    return inv


def apply_credit(ctx: TenantContext, sub: Subscriber, inv: Invoice) -> list[TxOp]:
    """Use the client's balance in favour on a new invoice, in the same transaction."""
    balance = money.to_decimal(sub.balance)
    total = money.to_decimal(inv.total)
    if balance <= 0 or total <= 0 or inv.status != "pending":
        return []
    used = min(balance, total)
    inv.paid = money.fmt(used, ctx.currency)
    inv.status = "paid" if used >= total else "partial"
    if inv.status == "paid":
        inv.paid_at = inv.created_at
    left = money.fmt(balance - used, ctx.currency)
    return [
        TxOp(
            "update",
            sub,
            ("companion", inv.id, "balance"),
            Subscriber.balance == sub.balance,
            [Subscriber.balance.set(left), Subscriber.updated_at.set(now_iso())],
        )
    ]


def build_internet_draft(
    ctx: TenantContext,
    sub: Subscriber,
    product: Product | None,
    cycle: Cycle,
    days: BillingDays,
    extras: Sequence[ExtraProduct],
    prior: PriorInvoices,
    actor: str,
) -> Draft | None:
    """The internet invoice of ``cycle`` for one client: service (prorated on the first invoice, and
    from the day after the previous invoice ends), extras due on the issue date, tax, and the balance in
    favour used; None when nothing is due yet."""
    if product is None:
        return None
    tz = ctx.tz(sub.zone_id)
    price = money.to_decimal(sub.price_override or product.price, "price")
    installed = local_day_of(sub.installed_at, tz)
    charges = service_charges(
        price,
        cycle,
        previous_cycle(cycle, days),
        installed,
        ctx.currency,
        prior.previous_invoiced,
        prior.billed_through,
        service_exists_from(sub, tz),
    )
    if not charges:
        return None
    inv_id = invoice_id(sub.id, cycle)
    lines = []
    for ch in charges:
        label = f"{product.name} {ch.start.isoformat()} – {ch.end.isoformat()}"
        if ch.is_partial:
            label += f" (prorated {ch.days}/{ch.period_days} days)"
        lines.append(
            invoice_line(
                label,
                ch.amount,
                ctx.currency,
                ch.kind,
                product_id=product.id,
                days=ch.days,
                period_days=ch.period_days,
            )
        )
    ops: list[TxOp] = []
    for extra in sorted(extras, key=lambda e: (e.created_at, e.id)):
        charge = charge_for(_extra_terms(extra), cycle.issue_date, ctx.currency)
        if charge is None:
            continue
        lines.append(
            invoice_line(
                charge.description,
                charge.amount,
                ctx.currency,
                "extra",
                extra_id=extra.id,
                part=charge.part or None,
            )
        )
        ops.append(
            TxOp(
                "update",
                extra,
                ("companion", inv_id, extra.id),
                (ExtraProduct.billed_count == int(extra.billed_count or 0)) & (ExtraProduct.active == True),  # noqa: E712
                [
                    ExtraProduct.billed_count.set(charge.billed_count),
                    ExtraProduct.active.set(charge.still_active),
                    ExtraProduct.last_billed_period.set(cycle.period),
                    ExtraProduct.updated_at.set(now_iso()),
                ],
            )
        )
    inv = new_invoice(ctx, sub, inv_id, "internet", lines, cycle.issue_date, actor, cycle)
    inv.service_start = min(ch.start for ch in charges).isoformat()  # what this invoice covers
    ops.extend(apply_credit(ctx, sub, inv))
    return Draft(InvoiceWrite(inv, ops), sub)
