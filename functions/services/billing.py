"""Billing operations (SPEC S5): invoice run, notices, cutoffs, payments, promises, extras, reports.

Every operation here is callable from the admin API, the scheduled Lambda functions, the local
stack's scheduler and tests alike. The scheduled runs are safe to repeat: invoices have a
deterministic id per client and period, notices and cutoffs set once-only markers, payments carry an
idempotency key.

Clients in status Free or Cancelled are never invoiced, notified or cut off automatically (S3/S4).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from core import money
from core.billing_calendar import (
    BillingDays,
    BillingOptions,
    Cycle,
    RechargeOffsets,
    cycle_for_period,
    cycle_issued_on,
    local_date,
    next_issue_date,
    parse_date,
    period_of,
    previous_cycle,
    recharge_days,
    with_own_days,
)
from core.errors import ConflictError, InvalidStateError, NotFoundError, ValidationError
from core.ids import iso, new_id, now_iso, utcnow
from core.installments import ExtraTerms, charge_for, validate_terms
from core.invoice_ids import from_path, internet_invoice_id, legacy_internet_invoice_id, path_id
from core.proration import service_charges
from core.statuses import Status
from core.templates import DEFAULT_TEMPLATES, fit_sms, render_template
from services.audit import record_audit
from shared.observability import get_logger
from shared.runtime import Runtime
from store import billing as repo
from store.billing import InvoiceWrite, TransactionFailed, TxOp
from store.models import ExtraProduct, Gateway, Invoice, Job, Payment, Product, Subscriber, Tenant, Zone

log = get_logger("billing")

UNPAID = ("pending", "partial")
NEVER_BILLED = frozenset({Status.FREE.value, Status.CANCELLED.value})
# Statuses a cutoff moves to suspended (Free, Cancelled, Inactive and already Suspended are left alone).
CUTTABLE = frozenset({Status.ACTIVE.value, Status.NEW.value})
DEFAULT_DAYS = BillingDays(1, 3, 5, 10)
# How far back the notice and cutoff runs look for unpaid invoices (by creation date).
NOTICE_WINDOW_DAYS = 62
CUTOFF_WINDOW_DAYS = 100
RUN_KINDS = ("billing_invoices", "billing_notices", "billing_cutoff")


# ---------------------------------------------------------------- tenant context
@dataclass
class TenantContext:
    """What the runs need about a tenant, read once per run."""

    tenant: Tenant
    zones: dict[str, Zone]
    options: dict[str, Any]

    @property
    def currency(self) -> str:
        return self.tenant.currency or "USD"

    @property
    def tax_rate(self) -> Decimal:
        return money.parse_rate(self.tenant.tax_rate)

    @property
    def company(self) -> str:
        return self.tenant.company_name or self.tenant.name

    def zone(self, zone_id: str | None) -> Zone | None:
        return self.zones.get(zone_id) if zone_id else None

    def zone_days(self, zone_id: str | None) -> BillingDays:
        z = self.zone(zone_id)
        if z is not None:
            return BillingDays.of(z.issue_day, z.notice_day, z.payment_day, z.cutoff_day)
        default = self.options.get("default_days")
        if isinstance(default, dict):
            return BillingDays.of(
                default.get("issue_day"),
                default.get("notice_day"),
                default.get("payment_day"),
                default.get("cutoff_day"),
            )
        return DEFAULT_DAYS

    def tz(self, zone_id: str | None) -> str:
        z = self.zone(zone_id)
        return (z.timezone if z is not None else None) or self.tenant.timezone or "UTC"

    def auto_invoicing(self, zone_id: str | None) -> bool:
        z = self.zone(zone_id)
        return True if z is None else bool(z.auto_invoicing)

    def auto_cutoff(self, zone_id: str | None) -> bool:
        z = self.zone(zone_id)
        return True if z is None else bool(z.auto_cutoff)

    def fee(self, name: str) -> Decimal:
        return money.to_decimal(self.options.get(name) or "0", name)

    def template(self, name: str) -> str:
        templates = (self.tenant.settings or {}).get("templates") or {}
        return str(templates.get(name) or DEFAULT_TEMPLATES[name])


def load_context(tenant_id: str) -> TenantContext:
    tenant = repo.get_tenant(tenant_id)
    if tenant is None:
        raise NotFoundError("tenant not found")
    options = (tenant.settings or {}).get("billing") or {}
    return TenantContext(tenant, repo.zones_of(tenant_id), dict(options) if isinstance(options, dict) else {})


def _options(sub: Subscriber) -> BillingOptions:
    try:
        return BillingOptions.from_map(sub.billing)
    except ValidationError:
        log.warning("client has invalid own billing dates; using the zone's", extra={"subscriber_id": sub.id})
        return BillingOptions()


def _client_days(ctx: TenantContext, sub: Subscriber) -> BillingDays:
    return _options(sub).days(ctx.zone_days(sub.zone_id))


def _local_day(value: str | None, tz: str) -> date | None:
    if not value:
        return None
    if len(value) == 10:
        return parse_date(value, "installed_at")
    try:
        return local_date(datetime.fromisoformat(value.replace("Z", "+00:00")), tz)
    except ValueError:
        return None


def invoice_id(subscriber_id: str, cycle: Cycle) -> str:
    """The one id the internet invoice of this client and cycle can have (keyed by the issue month)."""
    return internet_invoice_id(subscriber_id, period_of(cycle.issue_date))


def legacy_invoice_id(subscriber_id: str, cycle: Cycle) -> str:
    """The id the same invoice had before URL-safe ids: a client billed then must not be billed twice."""
    return legacy_internet_invoice_id(subscriber_id, cycle.period)


def _exists_from(sub: Subscriber, tz: str) -> date | None:
    """The first day of the client's service: its installation, or else the day it was created."""
    return _local_day(sub.installed_at, tz) or _local_day(sub.created_at, tz)


def _created_after(sub: Subscriber, day: date, tz: str) -> bool:
    """The client's record did not exist yet on ``day`` (a run back-dated to before its creation)."""
    created = _local_day(sub.created_at, tz)
    return created is not None and created > day


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
        "due": money.fmt(max(total - paid, money.ZERO), inv.currency) if inv.status != "cancelled" else "0",
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


# ---------------------------------------------------------------- invoice drafts
def _line(description: str, amount: Decimal, currency: str, kind: str, **extra: Any) -> dict[str, Any]:
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


def _new_invoice(
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


def _apply_credit(ctx: TenantContext, sub: Subscriber, inv: Invoice) -> list[TxOp]:
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
    installed = _local_day(sub.installed_at, tz)
    charges = service_charges(
        price,
        cycle,
        previous_cycle(cycle, days),
        installed,
        ctx.currency,
        prior.previous_invoiced,
        prior.billed_through,
        _exists_from(sub, tz),
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
            _line(
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
            _line(
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
    inv = _new_invoice(ctx, sub, inv_id, "internet", lines, cycle.issue_date, actor, cycle)
    inv.service_start = min(ch.start for ch in charges).isoformat()  # what this invoice covers
    ops.extend(_apply_credit(ctx, sub, inv))
    return Draft(InvoiceWrite(inv, ops), sub)


# ---------------------------------------------------------------- invoice run
@dataclass
class InvoiceRunResult:
    tenant_id: str
    examined: int = 0
    due_today: int = 0
    created: int = 0
    existing: int = 0
    skipped: int = 0
    not_yet: int = 0  # clients whose service did not exist yet on the run's day
    failed: int = 0
    invoice_ids: list[str] = field(default_factory=list)
    requests: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "invoice_ids"}
        out["invoice_ids"] = self.invoice_ids[:100]
        return out


def _billable(sub: Subscriber) -> bool:
    return sub.status not in NEVER_BILLED and not sub.free_user and bool(sub.product_id)


def run_tenant_invoices(
    rt: Runtime, tenant_id: str, now: datetime | None = None, actor: str = "system", record_run: bool = True
) -> InvoiceRunResult:
    """Create today's internet invoices of one tenant (the daily invoice run, SPEC S5).

    Every client whose issue day is today in its zone's time zone gets the invoice of the cycle issued
    today — at most one per period whatever else runs: a repeated, retried or concurrent run creates
    none (deterministic id + conditional transaction). Free and Cancelled clients are never invoiced;
    zones with automatic invoicing off are skipped unless the client has its own billing dates.
    """
    now = now or utcnow()
    ctx = load_context(tenant_id)
    result = InvoiceRunResult(tenant_id)
    due: list[tuple[Subscriber, Cycle, BillingDays]] = []
    for sub in repo.tenant_subscribers(tenant_id):
        result.examined += 1
        if not _billable(sub):
            continue
        opts = _options(sub)
        if opts.own_days is None and not ctx.auto_invoicing(sub.zone_id):
            continue
        days = opts.days(ctx.zone_days(sub.zone_id))
        today = local_date(now, ctx.tz(sub.zone_id))
        cycle = cycle_issued_on(days, today)
        if cycle is None:
            continue
        if _created_after(sub, today, ctx.tz(sub.zone_id)):
            result.not_yet += 1  # a back-dated run: the service did not exist on that day
            continue
        due.append((sub, cycle, days))
    result.due_today = len(due)
    if due:
        products = repo.get_products(s.product_id for s, _, _ in due if s.product_id)
        extras = repo.active_extras(tenant_id)
        prior = prior_invoices(due)  # one batched read: where each client's previous invoice ends
        writes = []
        for sub, cycle, days in due:
            if prior[sub.id].same_month:
                result.existing += 1
                continue
            draft = build_internet_draft(
                ctx,
                sub,
                products.get(sub.product_id or ""),
                cycle,
                days,
                extras.get(sub.id, []),
                prior[sub.id],
                actor,
            )
            if draft is None:
                result.skipped += 1
            else:
                writes.append(draft.write)
        _create_with_rebuild(ctx, writes, due, products, actor, result)
    if record_run and (result.due_today or actor != "system"):  # an operator's run is always logged
        _record_run(
            tenant_id,
            "billing_invoices",
            actor,
            result.as_dict(),
            total=result.due_today,
            done=result.created,
        )
    log.info("invoice run", extra={"tenant_id": tenant_id, "result": result.as_dict()})
    return result


def _create_with_rebuild(
    ctx: TenantContext,
    writes: list[InvoiceWrite],
    due: list[tuple[Subscriber, Cycle, BillingDays]],
    products: dict[str, Product],
    actor: str,
    result: InvoiceRunResult,
) -> None:
    """Create the invoices; drafts whose extras or balance changed meanwhile are rebuilt from fresh data."""
    by_id = {invoice_id(s.id, c): (s, c, d) for s, c, d in due}
    for attempt in range(3):
        outcome = repo.create_numbered_invoices(ctx.tenant.id, writes)
        result.requests += outcome.requests
        result.created += len(outcome.created)
        result.existing += len(outcome.existing)
        result.invoice_ids.extend(i.id for i in outcome.created)
        if not outcome.stale:
            return
        writes = []
        for stale in outcome.stale:
            sub, cycle, days = by_id[stale.invoice.id]
            fresh = repo.get_subscriber(sub.login)
            if attempt == 2 or fresh is None or not _billable(fresh):
                result.failed += 1 if attempt == 2 else 0
                continue
            extras = [e for e in repo.extras_of_subscriber(fresh.id) if e.active]
            draft = build_internet_draft(
                ctx,
                fresh,
                products.get(fresh.product_id or ""),
                cycle,
                days,
                extras,
                prior_invoices([(fresh, cycle, days)])[fresh.id],
                actor,
            )
            if draft is not None:
                writes.append(draft.write)
        if not writes:
            return


R = TypeVar("R")


def _each_tenant(
    what: str,
    run: Callable[[Runtime, str, datetime | None], R],
    rt: Runtime,
    now: datetime | None,
    tenant_ids: Iterable[str] | None,
) -> list[R]:
    """Run a per-tenant operation over every tenant (or the given ones): one tenant's failure does not
    stop the others; it is logged with its id."""
    out = []
    for tid in tenant_ids or repo.all_tenant_ids():
        try:
            out.append(run(rt, tid, now))
        except Exception:
            log.exception(f"{what} run failed for a tenant", extra={"tenant_id": tid})
    return out


def run_invoices(
    rt: Runtime, now: datetime | None = None, tenant_ids: Iterable[str] | None = None
) -> list[InvoiceRunResult]:
    """The scheduled invoice run over every tenant (or the given ones); a tenant's failure does not stop the others."""
    return _each_tenant("invoice", run_tenant_invoices, rt, now, tenant_ids)


def _record_run(
    tenant_id: str,
    kind: str,
    actor: str,
    result: dict[str, Any],
    total: int = 0,
    done: int = 0,
    failed: int = 0,
) -> Job:
    now = now_iso()
    job = Job(
        id=new_id("run"),
        tenant_id=tenant_id,
        kind=kind,
        status="done",
        total=total,
        done=done,
        failed=failed,
        result=result,
        created_by=actor,
        created_at=now,
    )
    repo.save_job(job)
    # one audit entry per run (not per invoice: the run log holds the detail)
    summary = {k: v for k, v in result.items() if isinstance(v, int | str | None)}
    record_audit(
        actor,
        "system" if actor == "system" else "operator",
        tenant_id,
        "billing_run",
        job.id,
        kind,
        None,
        summary,
    )
    return job


# ---------------------------------------------------------------- manual invoices
def _require_subscriber(tenant_id: str, subscriber_id: str) -> Subscriber:
    sub = repo.get_subscriber_by_id(subscriber_id)
    if sub is None or sub.tenant_id != tenant_id:
        raise NotFoundError("client not found")
    return sub


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
    sub = _require_subscriber(tenant_id, subscriber_id)
    days = _client_days(ctx, sub)
    cycle = cycle_for_period(days, period)
    inv_id = invoice_id(sub.id, cycle)
    prior = prior_invoices([(sub, cycle, days)])[sub.id]
    if prior.same_month:
        raise ConflictError(f"the client already has an internet invoice for {cycle.period}", field="period")
    exists_from = _exists_from(sub, ctx.tz(sub.zone_id))
    if exists_from is not None and exists_from > cycle.service_end:
        raise InvalidStateError(
            f"the client's service began on {exists_from.isoformat()}, after the period {cycle.period}",
            field="period",
        )
    if amount is not None:
        money.require_non_negative(amount)
        label = "Free month" if amount == 0 else "Internet service"
        line = _line(
            f"{label} {cycle.service_start.isoformat()} – {cycle.service_end.isoformat()}",
            money.quantize(amount, ctx.currency),
            ctx.currency,
            "service",
            product_id=sub.product_id,
        )
        inv = _new_invoice(
            ctx, sub, inv_id, "internet", [line], cycle.issue_date, actor_id, cycle, notes=notes
        )
        write = InvoiceWrite(inv, _apply_credit(ctx, sub, inv))
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
    return inv


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
    sub = _require_subscriber(tenant_id, subscriber_id)
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
    inv = _new_invoice(
        ctx, sub, new_id("oth"), "other", out_lines, today, actor_id, None, due_date or today, notes
    )
    outcome = repo.create_numbered_invoices(tenant_id, [InvoiceWrite(inv, _apply_credit(ctx, sub, inv))])
    if not outcome.created:
        raise ConflictError("the client's balance changed meanwhile; try again")
    record_audit(actor_id, actor_kind, tenant_id, "invoice", inv.id, "create", None, _snapshot(inv))
    return outcome.created[0]


# ---------------------------------------------------------------- list, view, cancel
def find_invoice(invoice_id_: str) -> Invoice | None:
    """The invoice an id names, in any form a URL path carries it (:mod:`core.invoice_ids`)."""
    stored = from_path(invoice_id_)
    return repo.get_invoice(stored) if stored is not None else None


def get_invoice(invoice_id_: str, visible: frozenset[str] | set[str] | None = None) -> Invoice:
    inv = find_invoice(invoice_id_)
    if inv is None or (visible is not None and inv.tenant_id not in visible):
        raise NotFoundError("invoice not found")
    return inv


def _encode_cursor(inv: Invoice) -> str:
    return base64.urlsafe_b64encode(json.dumps([inv.created_at, inv.id]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, _ = json.loads(raw)
        return str(created)
    except (ValueError, TypeError) as exc:
        raise ValidationError("cursor is not valid", field="cursor") from exc


def list_invoices(
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
    """Invoices of the given tenants, newest first, filtered; returns a page and the next cursor."""
    tenants = set(tenant_ids)
    before = _decode_cursor(cursor)
    upper = iso(datetime.combine(until + timedelta(days=1), datetime.min.time(), UTC)) if until else None
    if before and (upper is None or before < upper):
        upper = before
    lower = iso(datetime.combine(since, datetime.min.time(), UTC)) if since else None

    def keep(inv: Invoice) -> bool:
        if inv.tenant_id not in tenants:
            return False
        if before and inv.created_at >= before:
            return False
        if lower and inv.created_at < lower:
            return False
        if upper and inv.created_at >= upper:
            return False
        return (
            (status is None or inv.status == status)
            and (kind is None or inv.kind == kind)
            and (period is None or inv.period == period)
        )

    found: list[Invoice] = []
    if subscriber_id:
        found = [i for i in repo.invoices_of_subscriber(subscriber_id) if keep(i)]
    else:
        cond: Any = None
        for attr, value in ((Invoice.status, status), (Invoice.kind, kind), (Invoice.period, period)):
            if value is not None:
                cond = attr == value if cond is None else cond & (attr == value)
        for tid in sorted(tenants):
            # newest first, at most one page more than asked per tenant; the bound itself is dropped by keep()
            items, _ = repo.tenant_invoices(
                tid, since=lower, until=upper, newest_first=True, filter_condition=cond, limit=limit + 2
            )
            found.extend(i for i in items if keep(i))
    found.sort(key=lambda i: i.created_at, reverse=True)
    page = found[:limit]
    nxt = _encode_cursor(page[-1]) if len(found) > limit and page else None
    return page, nxt


def cancel_invoice(rt: Runtime, invoice_id_: str, actor_id: str, actor_kind: str = "operator") -> Invoice:
    """Cancel an unpaid or partly paid invoice. It keeps its number (no gaps) and its period stays
    taken; what was already paid on it goes to the client's balance in favour."""
    inv = find_invoice(invoice_id_)
    if inv is None:
        raise NotFoundError("invoice not found")
    if inv.status not in UNPAID:
        raise InvalidStateError(
            f"only pending or partly paid invoices can be cancelled; this one is {inv.status}"
        )
    before = _snapshot(inv)
    paid = money.to_decimal(inv.paid)
    now = now_iso()
    ok = repo.update_invoice(
        inv,
        [Invoice.status.set("cancelled"), Invoice.cancelled_at.set(now), Invoice.cancelled_by.set(actor_id)],
        (Invoice.status == inv.status) & (Invoice.paid == inv.paid),
    )
    if not ok:
        raise InvalidStateError("the invoice changed meanwhile; reload it")
    if paid > 0:
        _credit_balance(inv.subscriber_id, paid, inv.currency)
    inv.status, inv.cancelled_at, inv.cancelled_by = "cancelled", now, actor_id
    record_audit(actor_id, actor_kind, inv.tenant_id, "invoice", inv.id, "cancel", before, _snapshot(inv))
    return inv


def _credit_balance(subscriber_id: str, amount: Decimal, currency: str) -> None:
    for _ in range(10):
        sub = repo.get_subscriber_by_id(subscriber_id)
        if sub is None:
            return
        new = money.fmt(money.to_decimal(sub.balance) + amount, currency)
        if repo.update_subscriber(sub, [Subscriber.balance.set(new)], Subscriber.balance == sub.balance):
            return
    raise InvalidStateError("the client's balance kept changing; try again")


def cancel_pending_invoices(rt: Runtime, tenant_id: str, subscriber_id: str, actor_id: str) -> int:
    """Cancel every pending or partly paid invoice of a client (the "cancel service" option, SPEC S4).

    Returns how many invoices were cancelled."""
    count = 0
    for inv in repo.invoices_of_subscriber(subscriber_id):
        if inv.tenant_id != tenant_id or inv.status not in UNPAID:
            continue
        try:
            cancel_invoice(rt, inv.id, actor_id)
        except InvalidStateError:
            continue  # paid or cancelled meanwhile
        count += 1
    return count


# ---------------------------------------------------------------- notices
@dataclass
class NoticeRunResult:
    tenant_id: str
    due: int = 0
    emails: int = 0
    sms: int = 0
    skipped_free: int = 0
    no_contact: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _autologin_link(rt: Runtime, sub: Subscriber) -> str:
    try:
        from services.portal_auth import issue_autologin_link  # the portal owns auto-login links
    except ImportError:  # pragma: no cover - the portal is part of every deployment
        return f"{rt.settings.public_base_url.rstrip('/')}/my/"
    return issue_autologin_link(rt, sub)


def template_context(rt: Runtime, ctx: TenantContext, sub: Subscriber, inv: Invoice | None) -> dict[str, Any]:
    """Values for ``{{ placeholders }}`` in billing templates."""
    out: dict[str, Any] = {
        "empresa": ctx.company,
        "nombre": sub.name or sub.username,
        "usuario": sub.username,
        "url_autologin": _autologin_link(rt, sub),
        "moneda": ctx.currency,
    }
    if inv is not None:
        due = max(money.to_decimal(inv.total) - money.to_decimal(inv.paid), money.ZERO)
        out.update(
            total=f"{inv.total} {inv.currency}",
            saldo=f"{money.fmt(due, inv.currency)} {inv.currency}",
            factura=str(inv.number or ""),
            fecha_pago=inv.due_date or "",
            fecha_corte=inv.cutoff_date or "",
            periodo=inv.period or "",
        )
    return out


def run_tenant_notices(rt: Runtime, tenant_id: str, now: datetime | None = None) -> NoticeRunResult:
    """Send payment reminders (e-mail and SMS from the tenant's templates) for unpaid internet invoices
    whose notice day has come and whose payment day has not passed; once per invoice; never to Free
    or Cancelled clients."""
    now = now or utcnow()
    ctx = load_context(tenant_id)
    result = NoticeRunResult(tenant_id)
    since = iso(now - timedelta(days=NOTICE_WINDOW_DAYS))
    cond = Invoice.status.is_in(*UNPAID) & (Invoice.kind == "internet") & Invoice.notified_at.does_not_exist()
    due = []
    for inv in repo.iter_tenant_invoices(tenant_id, since, cond):
        today = local_date(now, ctx.tz(inv.zone_id))
        if inv.notice_date and inv.notice_date <= today.isoformat() <= (inv.due_date or inv.notice_date):
            due.append(inv)
    result.due = len(due)
    subs = repo.subscribers_by_login(i.subscriber_login or "" for i in due)
    for inv in due:
        sub = subs.get(inv.subscriber_login or "")
        if sub is None or sub.status in NEVER_BILLED:
            result.skipped_free += 1
            continue
        if not sub.email and not sub.phone:
            result.no_contact += 1
            continue
        if not repo.claim_invoice_flag(inv, "notified_at", now_iso()):
            continue  # another run sent it
        values = template_context(rt, ctx, sub, inv)
        try:
            if sub.email:
                rt.notifier.send_email(
                    sub.email,
                    render_template(ctx.template("invoice_notice_email_subject"), values),
                    render_template(ctx.template("invoice_notice_email"), values),
                )
                result.emails += 1
            if sub.phone:
                rt.notifier.send_sms(
                    sub.phone, fit_sms(render_template(ctx.template("invoice_notice_sms"), values))
                )
                result.sms += 1
        except Exception:
            result.errors += 1
            log.exception("payment reminder not sent", extra={"invoice_id": inv.id})
    if result.due:
        _record_run(
            tenant_id,
            "billing_notices",
            "system",
            result.as_dict(),
            total=result.due,
            done=result.emails + result.sms,
            failed=result.errors,
        )
    return result


def run_notices(
    rt: Runtime, now: datetime | None = None, tenant_ids: Iterable[str] | None = None
) -> list[NoticeRunResult]:
    """The scheduled notice run over every tenant (or the given ones)."""
    return _each_tenant("notice", run_tenant_notices, rt, now, tenant_ids)


# ---------------------------------------------------------------- cutoffs
@dataclass
class CutoffRunResult:
    tenant_id: str
    run_id: str | None = None
    overdue_clients: int = 0
    suspended: list[str] = field(default_factory=list)
    skipped_free: int = 0
    skipped_promise: int = 0
    skipped_other: int = 0
    routers: list[dict[str, Any]] = field(default_factory=list)
    # online clients cut: what reached their live sessions (CoA / Disconnect) and the S4 warnings
    live_sessions: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["suspended"] = list(self.suspended)
        return out


def _cut_live_sessions(rt: Runtime, sub: Subscriber, result: CutoffRunResult) -> None:
    """A client cut while online is cut at once (SPEC S4, as a manual suspend): CoA with the blocked
    list or Disconnect; a gateway that does not answer leaves the S4 warning in the run log."""
    from services.live_sessions import LiveChange, apply_change_now

    try:
        report = apply_change_now(rt, sub.tenant_id, sub.username, LiveChange.SUSPEND)
    except Exception as exc:  # the status is saved; the run log says the session was not reached
        log.exception("cutoff live session change failed", extra={"subscriber_id": sub.id})
        result.warnings.append(f"{sub.username}: live session not reached ({type(exc).__name__})")
        return
    if report is None:
        return
    result.live_sessions[sub.id] = [s.as_dict() for s in report.sessions]
    if report.warning:
        result.warnings.append(f"{sub.username}: {report.warning}")


def _request_router(rt: Runtime, gateway: Gateway, reason: str, actor: str) -> dict[str, Any]:
    from services.network.triggers import request_router_sync

    req = request_router_sync(rt, gateway, reason, actor)
    return {"status": req.status, "task_id": req.task_id, "warning": req.warning}


def run_tenant_cutoffs(
    rt: Runtime,
    tenant_id: str,
    now: datetime | None = None,
    actor: str = "system",
    only_subscribers: set[str] | None = None,
) -> CutoffRunResult:
    """Suspend clients with an unpaid internet invoice whose cutoff day has come (SPEC S5).

    Never Free or Cancelled clients; a payment promise still running delays it; other-income invoices
    never cause a cutoff; zones with automatic cutoff off are skipped unless the client has its own
    dates. The status change is the RADIUS side; each router with clients cut gets one provisioning
    task (the per-router task log: succeeded, or failed with a connection error, re-runnable).
    """
    now = now or utcnow()
    ctx = load_context(tenant_id)
    result = CutoffRunResult(tenant_id)
    since = iso(now - timedelta(days=CUTOFF_WINDOW_DAYS))
    cond = Invoice.status.is_in(*UNPAID) & (Invoice.kind == "internet")
    overdue: dict[str, list[Invoice]] = {}
    for inv in repo.iter_tenant_invoices(tenant_id, since, cond):
        if only_subscribers is not None and inv.subscriber_id not in only_subscribers:
            continue
        today = local_date(now, ctx.tz(inv.zone_id))
        if inv.cutoff_date and inv.cutoff_date <= today.isoformat() and inv.subscriber_login:
            overdue.setdefault(inv.subscriber_login, []).append(inv)
    result.overdue_clients = len(overdue)
    subs = repo.subscribers_by_login(overdue)
    by_gateway: dict[str, list[str]] = {}
    for login, invoices in overdue.items():
        sub = subs.get(login)
        if sub is None:
            continue
        if sub.status in NEVER_BILLED:
            result.skipped_free += 1
            continue
        opts = _options(sub)
        today = local_date(now, ctx.tz(sub.zone_id))
        exists_from = _exists_from(sub, ctx.tz(sub.zone_id))
        if _created_after(sub, today, ctx.tz(sub.zone_id)) or (
            exists_from is not None
            and all(exists_from > parse_date(i.service_end or i.issue_date) for i in invoices)
        ):
            # a back-dated run, or only invoices for periods before the service existed: never a cutoff
            result.skipped_other += 1
            continue
        if opts.promise_active(today):
            result.skipped_promise += 1
            continue
        if sub.status not in CUTTABLE or (opts.own_days is None and not ctx.auto_cutoff(sub.zone_id)):
            result.skipped_other += 1
            continue
        before = {"status": sub.status}
        if not repo.update_subscriber(
            sub,
            [Subscriber.status.set(Status.SUSPENDED.value)],
            Subscriber.status == sub.status,
            new_status=Status.SUSPENDED.value,
        ):
            result.skipped_other += 1  # changed meanwhile (paid, set Free…): the next run decides again
            continue
        stamp = now_iso()
        for inv in invoices:
            repo.claim_invoice_flag(inv, "cutoff_at", stamp)
        record_audit(
            actor,
            "system" if actor == "system" else "operator",
            tenant_id,
            "subscriber",
            sub.id,
            "cutoff",
            before,
            {"status": Status.SUSPENDED.value, "invoices": [i.id for i in invoices]},
        )
        result.suspended.append(sub.id)
        by_gateway.setdefault(sub.gateway_id or "", []).append(sub.id)
        if sub.open_sessions:
            _cut_live_sessions(rt, sub, result)
    gateways = repo.get_gateways(by_gateway)
    reason = f"cutoff {local_date(now, ctx.tenant.timezone).isoformat()}"
    for gw_id, sub_ids in sorted(by_gateway.items()):
        gw = gateways.get(gw_id)
        entry: dict[str, Any] = {
            "gateway_id": gw_id or None,
            "gateway_name": gw.name if gw else None,
            "subscribers": sub_ids,
        }
        if gw is None:
            entry.update(status="no_gateway", task_id=None, warning=None)
        else:
            try:
                entry.update(_request_router(rt, gw, reason, actor))
            except Exception as exc:  # statuses are saved; the run log shows the router as not reached
                log.exception("cutoff trigger failed", extra={"gateway_id": gw_id})
                entry.update(
                    status="error",
                    task_id=None,
                    warning=f"could not queue the router change: {type(exc).__name__}",
                )
        result.routers.append(entry)
    if result.suspended or result.overdue_clients:
        job = _record_run(
            tenant_id,
            "billing_cutoff",
            actor,
            result.as_dict(),
            total=result.overdue_clients,
            done=len(result.suspended),
        )
        result.run_id = job.id
    return result


def run_cutoffs(
    rt: Runtime, now: datetime | None = None, tenant_ids: Iterable[str] | None = None
) -> list[CutoffRunResult]:
    """The scheduled cutoff run over every tenant (or the given ones)."""
    return _each_tenant("cutoff", run_tenant_cutoffs, rt, now, tenant_ids)


def run_promise_expiry(
    rt: Runtime, now: datetime | None = None, tenant_ids: Iterable[str] | None = None
) -> list[CutoffRunResult]:
    """Clear payment promises whose date has passed and run the cutoff for those clients at once."""
    now = now or utcnow()
    out = []
    for tid in tenant_ids or repo.all_tenant_ids():
        try:
            ctx = load_context(tid)
        except NotFoundError:
            continue
        expired: set[str] = set()
        for sub in repo.tenant_subscribers(tid):
            promise = (sub.billing or {}).get("promise_until")
            if not promise:
                continue
            try:
                until = parse_date(promise)
            except ValidationError:
                until = date.min
            if until < local_date(now, ctx.tz(sub.zone_id)):
                billing = {k: v for k, v in (sub.billing or {}).items() if k != "promise_until"}
                if repo.update_subscriber(
                    sub, [Subscriber.billing.set(billing)], Subscriber.status == sub.status
                ):
                    expired.add(sub.id)
        if expired:
            out.append(run_tenant_cutoffs(rt, tid, now, only_subscribers=expired))
    return out


def list_runs(tenant_ids: Iterable[str], kind: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The billing run log (newest first) with each router task's current outcome."""
    kinds = (kind,) if kind else RUN_KINDS
    jobs: list[Job] = []
    for tid in tenant_ids:
        jobs.extend(repo.tenant_jobs(tid, kinds, limit))
    jobs.sort(key=lambda j: j.created_at, reverse=True)
    jobs = jobs[:limit]
    task_ids = [
        r.get("task_id") for j in jobs for r in (j.result or {}).get("routers", []) if r.get("task_id")
    ]
    tasks = repo.get_tasks(task_ids)
    return [_run_dict(j, tasks) for j in jobs]


def _run_dict(job: Job, tasks: dict[str, Any]) -> dict[str, Any]:
    result = dict(job.result or {})
    routers = []
    for r in result.get("routers", []):
        entry = dict(r)
        task = tasks.get(r.get("task_id") or "")
        if task is not None:
            entry["task_status"] = task.status
            entry["error_category"] = task.error_category
            entry["last_error"] = task.last_error
            entry["outcome"] = _outcome(task.status, task.error_category)
        else:
            entry["outcome"] = {
                "api_disabled": "router not changed (API disabled)",
                "no_gateway": "no router",
            }.get(r.get("status") or "", "not queued")
        routers.append(entry)
    if routers:
        result["routers"] = routers
    return {
        "id": job.id,
        "tenant_id": job.tenant_id,
        "kind": job.kind,
        "status": job.status,
        "total": int(job.total or 0),
        "done": int(job.done or 0),
        "failed": int(job.failed or 0),
        "created_by": job.created_by,
        "created_at": job.created_at,
        "result": result,
    }


def _outcome(status: str, category: str | None) -> str:
    if status == "succeeded":
        return "success"
    if status in ("failed", "dead"):
        return (
            "connection error"
            if category in ("unreachable", "timeout")
            else f"error ({category or 'unknown'})"
        )
    return status


def get_run(run_id: str, visible: Iterable[str]) -> dict[str, Any]:
    job = repo.get_job(run_id)
    if job is None or job.tenant_id not in set(visible) or job.kind not in RUN_KINDS:
        raise NotFoundError("billing run not found")
    task_ids = [r.get("task_id") for r in (job.result or {}).get("routers", []) if r.get("task_id")]
    return _run_dict(job, repo.get_tasks(task_ids))


def rerun_cutoff(
    rt: Runtime,
    run_id: str,
    visible: Iterable[str],
    actor_id: str,
    gateway_id: str | None = None,
    only_failed: bool = True,
) -> dict[str, Any]:
    """Re-run a cutoff's router tasks: the failed ones (bulk) or one router's. The statuses are already
    suspended; re-running asks the router to apply them again."""
    from services.network.triggers import request_rerun

    run = get_run(run_id, visible)
    if run["kind"] != "billing_cutoff":
        raise InvalidStateError("only cutoff runs have router tasks to re-run")
    job = repo.get_job(run_id)
    assert job is not None
    tasks = repo.get_tasks(r.get("task_id") for r in run["result"].get("routers", []))
    gateways = repo.get_gateways(r.get("gateway_id") for r in run["result"].get("routers", []))
    rerun: list[dict[str, Any]] = []
    stored = list((job.result or {}).get("routers", []))
    for entry in stored:
        if gateway_id and entry.get("gateway_id") != gateway_id:
            continue
        task = tasks.get(entry.get("task_id") or "")
        if only_failed and not gateway_id and task is not None and task.status not in ("failed", "dead"):
            continue
        gw = gateways.get(entry.get("gateway_id") or "")
        if gw is None:
            continue
        if task is not None:
            req = request_rerun(rt, task, actor_id)
            entry.update(status=req.status, warning=req.warning)
        else:
            entry.update(_request_router(rt, gw, f"cutoff re-run {run_id}", actor_id))
        rerun.append(
            {
                "gateway_id": gw.id,
                "task_id": entry.get("task_id"),
                "status": entry.get("status"),
                "warning": entry.get("warning"),
            }
        )
    if gateway_id and not rerun:
        raise NotFoundError("that router is not part of this run")
    job.result = {**(job.result or {}), "routers": stored}
    repo.save_job(job)
    record_audit(
        actor_id, "operator", job.tenant_id, "billing_run", job.id, "rerun", None, {"routers": rerun}
    )
    return {"run_id": run_id, "rerun": rerun}


# ---------------------------------------------------------------- payments
@dataclass
class PaymentResult:
    payment: Payment
    replayed: bool
    invoices: list[dict[str, Any]] = field(default_factory=list)
    reactivated: bool = False
    sync: dict[str, Any] | None = None
    billing_dates: dict[str, Any] | None = None
    fees: list[dict[str, Any]] = field(default_factory=list)
    reconnection: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "payment": payment_dict(self.payment),
            "replayed": self.replayed,
            "reactivated": self.reactivated,
            "reconnection": self.reconnection,
            "sync": self.sync,
            "billing_dates": self.billing_dates,
            "fees": self.fees,
        }


def payment_dict(p: Payment) -> dict[str, Any]:
    return {
        "id": p.id,
        "tenant_id": p.tenant_id,
        "subscriber_id": p.subscriber_id,
        "amount": p.amount,
        "currency": p.currency,
        "method": p.method,
        "reference": p.reference,
        "kind": p.kind,
        "status": p.status,
        "source": p.source,
        "applied": list(p.applied or []),
        "balance_after": p.balance_after,
        "promise_until": p.promise_until,
        "notes": p.notes,
        "effects": dict(p.effects or {}),
        "created_by": p.created_by,
        "created_at": p.created_at,
    }


def payment_id_for(tenant_id: str, idempotency_key: str) -> str:
    """The payment id derived from the idempotency key: the same request twice is one payment."""
    key = (idempotency_key or "").strip()
    if not 1 <= len(key) <= 200:
        raise ValidationError("idempotency_key must be 1 to 200 characters", field="idempotency_key")
    return "pay_" + hashlib.sha256(f"{tenant_id}|{key}".encode()).hexdigest()[:32]


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


def _unpaid_oldest_first(subscriber_id: str) -> list[Invoice]:
    listed = [i.id for i in repo.invoices_of_subscriber(subscriber_id) if i.status in UNPAID]
    invoices = [i for i in repo.invoices_current(listed) if i.status in UNPAID]
    return sorted(invoices, key=lambda i: (i.due_date or i.issue_date, int(i.number or 0), i.created_at))


def _payment_order(unpaid: list[Invoice], target: Invoice | None) -> list[Invoice]:
    """The invoices a payment pays, in order: the one it was made for, then the oldest unpaid."""
    if target is None or target.status not in UNPAID:
        return unpaid
    return [target, *(i for i in unpaid if i.id != target.id)]


def _owed(inv: Invoice) -> Decimal:
    return max(money.to_decimal(inv.total) - money.to_decimal(inv.paid), money.ZERO)


def _overdue(invoices: Iterable[Invoice], today: date) -> list[Invoice]:
    """Unpaid internet invoices past their payment date (what a cutoff suspends for), oldest first."""
    return [
        i
        for i in invoices
        if i.kind == "internet" and i.status in UNPAID and i.due_date and i.due_date < today.isoformat()
    ]


RECONNECT_RULES = ("nothing_overdue", "any_payment")


def reconnect_rule(ctx: TenantContext) -> str:
    """When a payment reconnects a suspended client: ``nothing_overdue`` (default: only once no overdue
    internet invoice remains) or ``any_payment`` (tenant setting ``billing.reconnect_rule``)."""
    rule = str(ctx.options.get("reconnect_rule") or RECONNECT_RULES[0])
    return rule if rule in RECONNECT_RULES else RECONNECT_RULES[0]


def _replay(payment_id: str, fingerprint: str) -> PaymentResult:
    existing = repo.get_payment(payment_id)
    if existing is None:
        raise ConflictError("the payment is being recorded by another request; retry")
    if existing.request_fingerprint and existing.request_fingerprint != fingerprint:
        raise ConflictError(
            "this idempotency key was already used for a different payment", field="idempotency_key"
        )
    effects = dict(existing.effects or {})
    return PaymentResult(
        existing,
        True,
        list(existing.applied or []),
        bool(effects.get("reactivated")),
        effects.get("sync"),
        effects.get("billing_dates"),
        list(effects.get("fees") or []),
        effects.get("reconnection"),
    )


def _fee_extra(
    ctx: TenantContext, sub: Subscriber, extra_id: str, name: str, amount: Decimal, source: str, actor: str
) -> ExtraProduct:
    now = now_iso()
    return ExtraProduct(
        id=extra_id,
        tenant_id=sub.tenant_id,
        subscriber_id=sub.id,
        name=name,
        description=name,
        price=money.fmt(amount, ctx.currency),
        mode="one_payment",
        installments=0,
        billed_count=0,
        active=True,
        source=source,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )


def register_payment(
    rt: Runtime,
    tenant_id: str,
    subscriber_id: str,
    amount: Decimal,
    idempotency_key: str,
    actor_id: str,
    actor_kind: str = "operator",
    method: str = "cash",
    reference: str | None = None,
    activate: bool = False,
    paid_on: date | None = None,
    notes: str | None = None,
    source: str = "operator",
    invoice_id: str | None = None,
) -> PaymentResult:
    """Register a payment (full or partial) once per idempotency key (SPEC S5). This is the one
    operation that applies money to invoices: operators, online checkouts (any provider) and confirmed
    transfer reports all come through it.

    The amount pays ``invoice_id`` first when given (the invoice a checkout or report was for), then the
    client's other unpaid invoices oldest first; what is left stays as balance in favour (used by the
    next invoices). In one transaction with the payment: the invoices, the balance, the recharge-type
    date move (payment day = day paid, issue/notice/cutoff by the configured offsets), the late fee
    (paying an internet invoice after its payment date; once per invoice) and the reconnection fee
    (when the payment reactivates a suspended client; once per overdue period, keyed by the oldest
    overdue invoice) — fees only for clients with those options on, added to the next invoice.

    ``activate`` reactivates a suspended client (status + router task) when the tenant's reconnection
    rule allows it (:func:`reconnect_rule`): by default only once nothing overdue remains; the result's
    ``reconnection`` states the rule, the decision and what is still overdue.
    """
    money.require_positive(amount)
    pid = payment_id_for(tenant_id, idempotency_key)
    ctx = load_context(tenant_id)
    amount = money.quantize(amount, ctx.currency)
    fingerprint = _fingerprint(
        subscriber_id, money.fmt(amount, ctx.currency), method, reference or "", "payment"
    )
    if repo.get_payment(pid) is not None:
        return _replay(pid, fingerprint)
    target_id = from_path(invoice_id) if invoice_id else None
    if invoice_id and target_id is None:
        raise NotFoundError("invoice not found", field="invoice_id")
    for _attempt in range(6):
        sub = _require_subscriber(tenant_id, subscriber_id)
        target = repo.get_invoice(target_id) if target_id else None
        if target_id and (target is None or target.subscriber_id != sub.id):
            raise NotFoundError("invoice not found", field="invoice_id")
        opts = _options(sub)
        today = paid_on or local_date(utcnow(), ctx.tz(sub.zone_id))
        remaining = amount
        ops: list[TxOp] = []
        applied: list[dict[str, Any]] = []
        late_invoices: list[Invoice] = []
        now = now_iso()
        unpaid = _unpaid_oldest_first(sub.id)
        overdue_before = _overdue(unpaid, today)
        still_owed = {i.id: _owed(i) for i in unpaid}
        for inv in _payment_order(unpaid, target)[:90]:
            if remaining <= 0:
                break
            due_amt = money.to_decimal(inv.total) - money.to_decimal(inv.paid)
            if due_amt <= 0:
                continue
            take = min(due_amt, remaining)
            remaining -= take
            still_owed[inv.id] = due_amt - take
            new_paid = money.to_decimal(inv.paid) + take
            status = "paid" if new_paid >= money.to_decimal(inv.total) else "partial"
            actions = [
                Invoice.paid.set(money.fmt(new_paid, inv.currency)),
                Invoice.status.set(status),
                Invoice.updated_at.set(now),
            ]
            if status == "paid":
                actions.append(Invoice.paid_at.set(now))
            ops.append(
                TxOp(
                    "update",
                    inv,
                    ("invoice", inv.id),
                    (Invoice.paid == inv.paid) & (Invoice.status == inv.status),
                    actions,
                )
            )
            applied.append(
                {
                    "invoice_id": inv.id,
                    "number": inv.number,
                    "amount": money.fmt(take, ctx.currency),
                    "status": status,
                }
            )
            if inv.kind == "internet" and inv.due_date and inv.due_date < today.isoformat():
                late_invoices.append(inv)
        new_balance = money.to_decimal(sub.balance) + remaining
        fees: list[dict[str, Any]] = []
        if opts.late_fee and ctx.fee("late_fee") > 0:
            for inv in late_invoices:
                xid = "xp_late_" + hashlib.sha256(inv.id.encode()).hexdigest()[:24]
                if repo.get_extra(xid) is None:
                    extra = _fee_extra(
                        ctx,
                        sub,
                        xid,
                        f"Late fee (invoice {inv.number})",
                        ctx.fee("late_fee"),
                        "late_fee",
                        actor_id,
                    )
                    ops.append(TxOp("put", extra, ("fee", xid), ExtraProduct.id.does_not_exist()))
                    fees.append({"extra_id": xid, "kind": "late_fee", "amount": extra.price})
        reconnection: dict[str, Any] | None = None
        reactivate = False
        if activate and sub.status == Status.SUSPENDED.value:
            overdue_left = sum((still_owed[i.id] for i in overdue_before), money.ZERO)
            rule = reconnect_rule(ctx)
            reactivate = overdue_left <= 0 or rule == "any_payment"
            reconnection = {
                "rule": rule,
                "reactivated": reactivate,
                "overdue_left": money.fmt(overdue_left, ctx.currency),
            }
        if reactivate and opts.reconnection_fee and ctx.fee("reconnection_fee") > 0:
            # one fee per overdue period: keyed by the invoice whose lateness cut the client off
            period_key = overdue_before[0].id if overdue_before else pid
            xid = "xp_reconn_" + hashlib.sha256(f"{sub.id}|{period_key}".encode()).hexdigest()[:24]
            if repo.get_extra(xid) is None:
                extra = _fee_extra(
                    ctx,
                    sub,
                    xid,
                    "Reconnection fee",
                    ctx.fee("reconnection_fee"),
                    "reconnection_fee",
                    actor_id,
                )
                ops.append(TxOp("put", extra, ("fee", xid), ExtraProduct.id.does_not_exist()))
                fees.append({"extra_id": xid, "kind": "reconnection_fee", "amount": extra.price})
        billing = dict(sub.billing or {})
        moved: dict[str, Any] | None = None
        if opts.recharge and opts.own_days is not None:
            offsets = RechargeOffsets(
                rt.settings.recharge_issue_offset_days,
                rt.settings.recharge_notice_offset_days,
                rt.settings.recharge_cutoff_offset_days,
            )
            new_days = recharge_days(today, offsets)
            billing = with_own_days(billing, new_days)
            moved = {**new_days.as_dict(), "next_issue_date": next_issue_date(new_days, today).isoformat()}
        settled = sum(1 for a in applied if a["status"] == "paid")
        if "promise_until" in billing and settled == len(unpaid):  # nothing left owing: the promise is kept
            billing.pop("promise_until")
        sub_actions = [Subscriber.balance.set(money.fmt(new_balance, ctx.currency))]
        if billing != (sub.billing or {}):
            sub_actions.append(Subscriber.billing.set(billing))
        if reactivate:
            sub_actions.append(Subscriber.status.set(Status.ACTIVE.value))
        sub_actions.append(Subscriber.updated_at.set(now))
        ops.append(
            TxOp(
                "update",
                sub,
                ("subscriber",),
                (Subscriber.balance == sub.balance) & (Subscriber.status == sub.status),
                sub_actions,
            )
        )
        if reactivate:
            ops.extend(repo.status_tally_ops(sub, Status.ACTIVE.value))
        payment = Payment(
            id=pid,
            tenant_id=tenant_id,
            subscriber_id=sub.id,
            amount=money.fmt(amount, ctx.currency),
            currency=ctx.currency,
            method=method,
            reference=reference,
            kind="payment",
            status="applied",
            source=source,
            applied=applied,
            balance_after=money.fmt(new_balance, ctx.currency),
            created_by=actor_id,
            request_fingerprint=fingerprint,
            notes=notes,
            effects={
                "reactivated": reactivate,
                "reconnection": reconnection,
                "invoice_id": target_id,
                "fees": fees,
                "billing_dates": moved,
                "paid_on": today.isoformat(),
            },
            created_at=now,
        )
        ops.insert(0, TxOp("put", payment, ("payment",), Payment.id.does_not_exist()))
        try:
            repo.transact(ops)
        except TransactionFailed as exc:
            if ("payment",) in exc.failed:
                return _replay(pid, fingerprint)
            continue  # an invoice, the balance or a fee changed meanwhile: recompute from fresh data
        break
    else:
        raise ConflictError("the client's invoices kept changing; try again")
    result = PaymentResult(payment, False, applied, reactivate, None, moved, fees, reconnection)
    record_audit(actor_id, actor_kind, tenant_id, "payment", pid, "create", None, payment_dict(payment))
    if reactivate or moved:
        record_audit(
            actor_id,
            actor_kind,
            tenant_id,
            "subscriber",
            sub.id,
            "payment",
            {"status": sub.status, "billing": sub.billing or {}},
            {"status": Status.ACTIVE.value if reactivate else sub.status, "billing": billing},
        )
    if reactivate:
        sub.status = Status.ACTIVE.value
        result.sync = _sync_subscriber(rt, sub, f"payment {pid}", actor_id)
        payment.effects = {**(payment.effects or {}), "sync": result.sync}
        try:
            payment.update(actions=[Payment.effects.set(payment.effects)])
        except Exception:  # the payment is recorded; the router task id is only informative
            log.exception("could not store the router task of a payment", extra={"payment_id": pid})
    return result


def _sync_subscriber(rt: Runtime, sub: Subscriber, reason: str, actor: str) -> dict[str, Any]:
    from services.network.triggers import request_subscriber_sync

    try:
        req = request_subscriber_sync(rt, sub, reason, actor)
    except Exception as exc:  # the status is saved; the router sweep or a re-run applies it
        log.exception("router trigger failed", extra={"subscriber_id": sub.id})
        return {
            "status": "error",
            "task_id": None,
            "gateway_id": sub.gateway_id,
            "warning": f"could not queue the router change: {type(exc).__name__}",
        }
    return {
        "status": req.status,
        "task_id": req.task_id,
        "gateway_id": req.gateway_id,
        "warning": req.warning,
    }


def register_promise(
    rt: Runtime,
    tenant_id: str,
    subscriber_id: str,
    until: date,
    actor_id: str,
    actor_kind: str = "operator",
    activate: bool = True,
    idempotency_key: str | None = None,
    notes: str | None = None,
) -> PaymentResult:
    """Register a payment promise: no cutoff until ``until`` (inclusive); a suspended client is
    reactivated at once when ``activate``. Needs an unpaid invoice."""
    ctx = load_context(tenant_id)
    sub = _require_subscriber(tenant_id, subscriber_id)
    today = local_date(utcnow(), ctx.tz(sub.zone_id))
    max_days = int(ctx.options.get("promise_max_days") or 31)
    if until < today:
        raise ValidationError("the promise date cannot be in the past", field="until")
    if until > today + timedelta(days=max_days):
        raise ValidationError(f"a promise can last at most {max_days} days", field="until")
    unpaid = _unpaid_oldest_first(sub.id)
    if not unpaid:
        raise InvalidStateError("the client has no unpaid invoice to promise a payment for")
    key = idempotency_key or f"promise|{sub.id}|{until.isoformat()}|{now_iso()}"
    pid = payment_id_for(tenant_id, key)
    fingerprint = _fingerprint(sub.id, until.isoformat(), "promise")
    if repo.get_payment(pid) is not None:
        return _replay(pid, fingerprint)
    reactivate = activate and sub.status == Status.SUSPENDED.value
    billing = {**(sub.billing or {}), "promise_until": until.isoformat()}
    now = now_iso()
    promise = Payment(
        id=pid,
        tenant_id=tenant_id,
        subscriber_id=sub.id,
        amount="0",
        currency=ctx.currency,
        method="promise",
        kind="promise",
        status="pending_confirmation",
        source="operator",
        promise_until=until.isoformat(),
        applied=[{"invoice_id": i.id, "number": i.number, "amount": "0", "status": i.status} for i in unpaid],
        balance_after=sub.balance,
        created_by=actor_id,
        request_fingerprint=fingerprint,
        notes=notes,
        effects={"reactivated": reactivate},
        created_at=now,
    )
    actions = [Subscriber.billing.set(billing), Subscriber.updated_at.set(now)]
    if reactivate:
        actions.append(Subscriber.status.set(Status.ACTIVE.value))
    try:
        repo.transact(
            [
                TxOp("put", promise, ("payment",), Payment.id.does_not_exist()),
                TxOp("update", sub, ("subscriber",), Subscriber.status == sub.status, actions),
                *(repo.status_tally_ops(sub, Status.ACTIVE.value) if reactivate else []),
            ]
        )
    except TransactionFailed as exc:
        if ("payment",) in exc.failed:
            return _replay(pid, fingerprint)
        raise ConflictError("the client changed meanwhile; try again") from exc
    record_audit(
        actor_id,
        actor_kind,
        tenant_id,
        "subscriber",
        sub.id,
        "payment_promise",
        {"status": sub.status, "promise_until": (sub.billing or {}).get("promise_until")},
        {"status": Status.ACTIVE.value if reactivate else sub.status, "promise_until": until.isoformat()},
    )
    result = PaymentResult(promise, False, list(promise.applied or []), reactivate)
    if reactivate:
        sub.status = Status.ACTIVE.value
        result.sync = _sync_subscriber(rt, sub, f"payment promise until {until.isoformat()}", actor_id)
    return result


def list_payments(
    tenant_ids: Iterable[str],
    subscriber_id: str | None = None,
    since: date | None = None,
    until: date | None = None,
    limit: int = 200,
) -> list[Payment]:
    tenants = set(tenant_ids)
    lower = since.isoformat() if since else None
    upper = (until + timedelta(days=1)).isoformat() if until else None
    if subscriber_id:
        found = [p for p in repo.payments_of_subscriber(subscriber_id) if p.tenant_id in tenants]
    else:
        found = [p for tid in sorted(tenants) for p in repo.tenant_payments(tid, lower, upper)]
    found = [p for p in found if (not lower or p.created_at >= lower) and (not upper or p.created_at < upper)]
    found.sort(key=lambda p: p.created_at, reverse=True)
    return found[:limit]


def get_payment(payment_id: str, visible: Iterable[str]) -> Payment:
    p = repo.get_payment(payment_id)
    if p is None or p.tenant_id not in set(visible):
        raise NotFoundError("payment not found")
    return p


# ---------------------------------------------------------------- extras
def extra_dict(e: ExtraProduct) -> dict[str, Any]:
    return {
        "id": e.id,
        "tenant_id": e.tenant_id,
        "subscriber_id": e.subscriber_id,
        "name": e.name,
        "description": e.description or e.name,
        "price": e.price,
        "mode": e.mode,
        "installments": int(e.installments or 0),
        "billed_count": int(e.billed_count or 0),
        "start_date": e.start_date,
        "end_date": e.end_date,
        "active": bool(e.active),
        "last_billed_period": e.last_billed_period,
        "source": e.source,
        "created_at": e.created_at,
    }


def add_extra(
    rt: Runtime,
    tenant_id: str,
    subscriber_id: str,
    name: str,
    price: Decimal,
    actor_id: str,
    actor_kind: str = "operator",
    mode: str = "recurring",
    installments: int = 0,
    description: str | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
) -> ExtraProduct:
    """Add an extra product/service to a client's monthly invoices (recurring, one payment, or 2–24
    installments of the price), between optional payment start/end dates; description defaults to the name."""
    sub = _require_subscriber(tenant_id, subscriber_id)
    name = (name or "").strip()
    if not name:
        raise ValidationError("name is required", field="name")
    money.require_non_negative(price, "price")
    validate_terms(mode, installments, start_date, end_date)
    ctx = load_context(tenant_id)
    now = now_iso()
    extra = ExtraProduct(
        id=new_id("xp"),
        tenant_id=tenant_id,
        subscriber_id=sub.id,
        name=name,
        description=(description or "").strip() or name,
        price=money.fmt(price, ctx.currency),
        mode=mode,
        installments=installments if mode == "installments" else 0,
        billed_count=0,
        start_date=start_date.isoformat() if start_date else None,
        end_date=end_date.isoformat() if end_date else None,
        active=True,
        source="operator",
        created_by=actor_id,
        created_at=now,
        updated_at=now,
    )
    repo.save_extra(extra, must_be_new=True)
    record_audit(
        actor_id, actor_kind, tenant_id, "extra_product", extra.id, "create", None, extra_dict(extra)
    )
    return extra


def list_extras(tenant_ids: Iterable[str], subscriber_id: str) -> list[ExtraProduct]:
    tenants = set(tenant_ids)
    return [e for e in repo.extras_of_subscriber(subscriber_id) if e.tenant_id in tenants]


def get_extra(extra_id: str, visible: Iterable[str]) -> ExtraProduct:
    e = repo.get_extra(extra_id)
    if e is None or e.tenant_id not in set(visible):
        raise NotFoundError("extra product not found")
    return e


def update_extra(
    rt: Runtime,
    extra_id: str,
    visible: Iterable[str],
    changes: dict[str, Any],
    actor_id: str,
    actor_kind: str = "operator",
) -> ExtraProduct:
    """Edit an extra (name, description, price, dates, active); billed parts are not changed."""
    extra = get_extra(extra_id, visible)
    before = extra_dict(extra)
    mode = changes.get("mode", extra.mode)
    installments = int(changes.get("installments", extra.installments or 0))
    start = changes.get("start_date", parse_date(extra.start_date) if extra.start_date else None)
    end = changes.get("end_date", parse_date(extra.end_date) if extra.end_date else None)
    validate_terms(mode, installments, start, end)
    if mode == "installments" and installments < int(extra.billed_count or 0):
        raise ValidationError(
            "installments cannot be fewer than the parts already billed", field="installments"
        )
    actions = []
    if "name" in changes:
        if not str(changes["name"]).strip():
            raise ValidationError("name is required", field="name")
        actions.append(ExtraProduct.name.set(str(changes["name"]).strip()))
    if "description" in changes:
        actions.append(
            ExtraProduct.description.set(
                str(changes["description"] or "").strip() or str(changes.get("name") or extra.name)
            )
        )
    if "price" in changes:
        price = money.require_non_negative(money.to_decimal(changes["price"], "price"), "price")
        actions.append(ExtraProduct.price.set(money.fmt(price, load_context(extra.tenant_id).currency)))
    if "mode" in changes:
        actions.append(ExtraProduct.mode.set(mode))
    if "installments" in changes or "mode" in changes:
        actions.append(ExtraProduct.installments.set(installments if mode == "installments" else 0))
    if "start_date" in changes:
        actions.append(
            ExtraProduct.start_date.set(start.isoformat()) if start else ExtraProduct.start_date.remove()
        )
    if "end_date" in changes:
        actions.append(ExtraProduct.end_date.set(end.isoformat()) if end else ExtraProduct.end_date.remove())
    if "active" in changes:
        actions.append(ExtraProduct.active.set(bool(changes["active"])))
    if actions:
        repo.update_extra(extra, actions, ExtraProduct.billed_count == int(extra.billed_count or 0))
    extra = get_extra(extra_id, visible)
    record_audit(
        actor_id, actor_kind, extra.tenant_id, "extra_product", extra.id, "update", before, extra_dict(extra)
    )
    return extra


def remove_extra(
    rt: Runtime, extra_id: str, visible: Iterable[str], actor_id: str, actor_kind: str = "operator"
) -> ExtraProduct:
    """Stop an extra (it stays in the history of the invoices that carried it)."""
    return update_extra(rt, extra_id, visible, {"active": False}, actor_id, actor_kind)


# ---------------------------------------------------------------- reports
def _range_invoices(tenant_ids: Iterable[str], since: date | None, until: date | None) -> list[Invoice]:
    lower = iso(datetime.combine(since, datetime.min.time(), UTC)) if since else None
    upper = iso(datetime.combine(until + timedelta(days=1), datetime.min.time(), UTC)) if until else None
    out: list[Invoice] = []
    for tid in sorted(set(tenant_ids)):
        items, _ = repo.tenant_invoices(tid, since=lower, until=upper, newest_first=False)
        out.extend(i for i in items if i.status != "cancelled" and (upper is None or i.created_at < upper))
    return out


def sales_report(
    tenant_ids: Iterable[str], group_by: str = "product", since: date | None = None, until: date | None = None
) -> dict[str, Any]:
    """Sales (invoiced and collected, before tax) per product or per manager (tenant) over a date range.
    Collected amounts are each invoice's payments spread over its lines in proportion."""
    if group_by not in ("product", "manager"):
        raise ValidationError("group_by must be product or manager", field="group_by")
    invoices = _range_invoices(tenant_ids, since, until)
    rows: dict[str, dict[str, Any]] = {}
    product_ids = {
        line.get("product_id") for inv in invoices for line in inv.lines or [] if line.get("product_id")
    }
    products = repo.get_products(p for p in product_ids if p)
    tenants = (
        {t: repo.get_tenant(t) for t in {i.tenant_id for i in invoices}} if group_by == "manager" else {}
    )
    currency = invoices[0].currency if invoices else "USD"
    for inv in invoices:
        total = money.to_decimal(inv.total)
        ratio = money.to_decimal(inv.paid) / total if total > 0 else money.ZERO
        for line in inv.lines or []:
            amount = money.to_decimal(line.get("amount"))
            if group_by == "product":
                key = line.get("product_id") or (
                    f"extra:{line.get('description')}"
                    if line.get("extra_id")
                    else f"other:{line.get('description')}"
                )
                prod = products.get(line.get("product_id") or "")
                name = prod.name if prod else str(line.get("description") or "")
            else:
                key = inv.tenant_id
                tenant = tenants.get(inv.tenant_id)
                name = tenant.name if tenant else inv.tenant_id
            row = rows.setdefault(
                key,
                {
                    "key": key,
                    "name": name,
                    "lines": 0,
                    "invoiced": money.ZERO,
                    "collected": money.ZERO,
                    "invoices": set(),
                },
            )
            row["lines"] += 1
            row["invoiced"] += amount
            row["collected"] += amount * ratio
            row["invoices"].add(inv.id)
    out = []
    for row in sorted(rows.values(), key=lambda r: r["invoiced"], reverse=True):
        out.append(
            {
                "key": row["key"],
                "name": row["name"],
                "lines": row["lines"],
                "invoices": len(row["invoices"]),
                "invoiced": money.fmt(row["invoiced"], currency),
                "collected": money.fmt(row["collected"], currency),
            }
        )
    return {
        "group_by": group_by,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "currency": currency,
        "rows": out,
    }


def sales_to_user(tenant_ids: Iterable[str], subscriber_id: str) -> dict[str, Any]:
    """ "Sales to user" (SPEC S4): one client's invoiced lines grouped by product, with the revenue of
    the manager that sold them (and its cost when the product has one)."""
    tenants = set(tenant_ids)
    invoices = [
        i
        for i in repo.invoices_of_subscriber(subscriber_id)
        if i.tenant_id in tenants and i.status != "cancelled"
    ]
    if not invoices:
        sub = repo.get_subscriber_by_id(subscriber_id)
        if sub is None or sub.tenant_id not in tenants:
            raise NotFoundError("client not found")
    products = repo.get_products(
        line.get("product_id") for i in invoices for line in i.lines or [] if line.get("product_id")
    )
    rows: dict[str, dict[str, Any]] = {}
    currency = invoices[0].currency if invoices else "USD"
    for inv in invoices:
        total = money.to_decimal(inv.total)
        ratio = money.to_decimal(inv.paid) / total if total > 0 else money.ZERO
        for line in inv.lines or []:
            pid = line.get("product_id")
            key = pid or str(line.get("description"))
            prod = products.get(pid or "")
            row = rows.setdefault(
                key,
                {
                    "product_id": pid,
                    "name": prod.name if prod else line.get("description"),
                    "manager_id": inv.tenant_id,
                    "count": 0,
                    "revenue": money.ZERO,
                    "collected": money.ZERO,
                    "cost": None,
                },
            )
            amount = money.to_decimal(line.get("amount"))
            row["count"] += 1
            row["revenue"] += amount
            row["collected"] += amount * ratio
            unit_cost = getattr(prod, "cost", None) if prod else None
            if unit_cost:
                row["cost"] = (row["cost"] or money.ZERO) + money.to_decimal(unit_cost)
    out = []
    for row in rows.values():
        cost = row["cost"]
        out.append(
            {
                **row,
                "revenue": money.fmt(row["revenue"], currency),
                "collected": money.fmt(row["collected"], currency),
                "cost": money.fmt(cost, currency) if cost is not None else None,
                "margin": money.fmt(row["revenue"] - cost, currency) if cost is not None else None,
            }
        )
    out.sort(key=lambda r: money.to_decimal(r["revenue"]), reverse=True)
    return {"subscriber_id": subscriber_id, "currency": currency, "rows": out}


# ---------------------------------------------------------------- send by e-mail
def send_invoice(
    rt: Runtime,
    invoice_id_: str,
    visible: Iterable[str],
    actor_id: str,
    to: str | None = None,
    actor_kind: str = "operator",
) -> dict[str, Any]:
    """E-mail an invoice to the client (or ``to``) from the tenant's template, with its lines and a
    link to the customer portal where the PDF can be downloaded."""
    inv = get_invoice(invoice_id_, frozenset(visible))
    ctx = load_context(inv.tenant_id)
    sub = repo.get_subscriber_by_id(inv.subscriber_id)
    if sub is None:
        raise NotFoundError("client not found")
    recipient = (to or sub.email or "").strip()
    if not recipient or "@" not in recipient:
        raise ValidationError("the client has no e-mail address; give one in 'to'", field="to")
    values = template_context(rt, ctx, sub, inv)
    body = render_template(ctx.template("invoice_email"), values)
    lines = "\n".join(f"  {line['description']}: {line['amount']} {inv.currency}" for line in inv.lines or [])
    text = f"{body}\n\n{lines}\n  Tax: {inv.tax} {inv.currency}\n  Total: {inv.total} {inv.currency}\n"
    from services.invoice_pdf import render_invoice_pdf

    pdf = render_invoice_pdf(inv, ctx.tenant, sub)
    name = f"invoice-{inv.number or path_id(inv.id)}.pdf"
    sent = rt.notifier.send_email(
        recipient,
        render_template(ctx.template("invoice_email_subject"), values),
        text,
        attachments=[(name, pdf, "application/pdf")],
    )
    stamp = now_iso()
    repo.update_invoice(inv, [Invoice.sent_at.set(stamp)])
    record_audit(actor_id, actor_kind, inv.tenant_id, "invoice", inv.id, "send", None, {"to": recipient})
    return {"invoice_id": inv.id, "to": recipient, "message_id": sent.message_id, "sent_at": stamp}


# ---------------------------------------------------------------- PDF
def invoice_pdf(invoice_id_: str, visible: Iterable[str]) -> tuple[bytes, str]:
    """The invoice as a PDF and its file name."""
    from services.invoice_pdf import render_invoice_pdf

    inv = get_invoice(invoice_id_, frozenset(visible))
    tenant = repo.get_tenant(inv.tenant_id)
    if tenant is None:
        raise NotFoundError("tenant not found")
    sub = (
        repo.get_subscriber(inv.subscriber_login)
        if inv.subscriber_login
        else repo.get_subscriber_by_id(inv.subscriber_id)
    )
    name = f"invoice-{int(inv.number)}.pdf" if inv.number is not None else f"invoice-{path_id(inv.id)}.pdf"
    return render_invoice_pdf(inv, tenant, sub), name
