"""Payments (SPEC S5): the one operation that applies money to invoices, once per idempotency key."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from core import money
from core.billing_calendar import (
    BillingOptions,
    RechargeOffsets,
    local_date,
    next_issue_date,
    recharge_days,
    with_own_days,
)
from core.errors import ConflictError, NotFoundError, ValidationError
from core.ids import now_iso, utcnow
from core.invoice_ids import from_path
from core.paging import Signer, comes_after, decode_key, encode_key, newest_first_page, position_of
from core.statuses import Status
from services.audit import record_audit
from services.billing.context import (
    UNPAID,
    TenantContext,
    client_options,
    load_context,
    require_subscriber,
    tenant_day_bounds,
)
from services.billing.credit import settle_credit, unpaid_oldest_first
from services.billing.reconnection import add_fee, overdue_invoices, plan_reconnection, reconnect
from shared.observability import get_logger
from shared.runtime import Runtime
from store import billing as repo
from store.billing import TransactionFailed, TxOp
from store.models import Invoice, Payment, Subscriber

log = get_logger("billing")


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
        "reversed_amount": p.reversed_amount or "0",
        "reversals": dict(p.reversals or {}),
        "created_by": p.created_by,
        "created_at": p.created_at,
    }


def payment_id_for(tenant_id: str, idempotency_key: str) -> str:
    """The payment id derived from the idempotency key: the same request twice is one payment."""
    key = (idempotency_key or "").strip()
    if not 1 <= len(key) <= 200:
        raise ValidationError("idempotency_key must be 1 to 200 characters", field="idempotency_key")
    return "pay_" + hashlib.sha256(f"{tenant_id}|{key}".encode()).hexdigest()[:32]


def fingerprint_of(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


def _payment_order(unpaid: list[Invoice], target: Invoice | None) -> list[Invoice]:
    """The invoices a payment pays, in order: the one it was made for, then the oldest unpaid."""
    if target is None or target.status not in UNPAID:
        return unpaid
    return [target, *(i for i in unpaid if i.id != target.id)]


def replay(payment_id: str, fingerprint: str) -> PaymentResult:
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


@dataclass
class _Request:
    """One register_payment call, as checked: what every attempt of it writes from."""

    pid: str
    fingerprint: str
    tenant_id: str
    subscriber_id: str
    amount: Decimal
    method: str
    reference: str | None
    activate: bool
    paid_on: date | None
    notes: str | None
    source: str
    target_id: str | None
    actor_id: str
    actor_kind: str


@dataclass
class _Applied:
    """How a payment's amount spreads over the invoices (the invoice writes and what is left)."""

    remaining: Decimal
    still_owed: dict[str, Decimal]
    ops: list[TxOp] = field(default_factory=list)
    applied: list[dict[str, Any]] = field(default_factory=list)
    late: list[Invoice] = field(default_factory=list)  # internet invoices paid after their payment date


@dataclass
class _Attempt:
    """Everything one attempt decided, and the transaction that records it."""

    sub: Subscriber
    payment: Payment
    ops: list[TxOp]
    applied: list[dict[str, Any]]
    reactivate: bool
    reconnection: dict[str, Any] | None
    fees: list[dict[str, Any]]
    billing: dict[str, Any]
    moved: dict[str, Any] | None
    credited: Decimal = money.ZERO  # what the payment left as balance in favour


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
    next invoices). A payment is in the tenant's currency and pays invoices of that currency only: one
    made for an invoice of another currency is refused (409), other such invoices are left owing. When
    the invoice it was made for was paid or cancelled before the payment landed, the payment's effects
    say so (``invoice_status``). In one transaction with the payment: the invoices, the balance, the
    recharge-type date move (payment day = day paid, issue/notice/cutoff by the configured offsets),
    the late fee (paying an internet invoice after its payment date; once per invoice) and the
    reconnection fee (when the payment reactivates a suspended client; once per overdue period, keyed by
    the oldest overdue invoice) — fees only for clients with those options on, added to the next invoice.

    ``activate`` reactivates a suspended client (status + router task) when the tenant's reconnection
    rule allows it (:func:`services.billing.reconnection.reconnect_rule`): by default only once nothing overdue remains; the result's
    ``reconnection`` states the rule, the decision and what is still overdue.
    """
    money.require_positive(amount)
    pid = payment_id_for(tenant_id, idempotency_key)
    ctx = load_context(tenant_id)
    amount = money.quantize(amount, ctx.currency)
    fingerprint = fingerprint_of(
        subscriber_id, money.fmt(amount, ctx.currency), method, reference or "", "payment"
    )
    if repo.get_payment(pid) is not None:
        return replay(pid, fingerprint)
    target_id = from_path(invoice_id) if invoice_id else None
    if invoice_id and target_id is None:
        raise NotFoundError("invoice not found", field="invoice_id")
    req = _Request(
        pid, fingerprint, tenant_id, subscriber_id, amount, method, reference, activate, paid_on, notes, source,
        target_id, actor_id, actor_kind,
    )  # fmt: skip
    for _attempt in range(6):
        attempt = _attempt_payment(rt, ctx, req)
        try:
            repo.transact(attempt.ops)
        except TransactionFailed as exc:
            if ("payment",) in exc.failed:
                return replay(pid, fingerprint)
            continue  # an invoice, the balance or a fee changed meanwhile: recompute from fresh data
        result = _after_payment(rt, req, attempt)
        if attempt.credited > 0:
            # an invoice made while the payment was decided did not see its surplus: it pays it now
            settle_credit(rt, ctx, attempt.sub.id, (req.actor_id, req.actor_kind))
        return result
    raise ConflictError("the client's invoices kept changing; try again")


def _attempt_payment(rt: Runtime, ctx: TenantContext, req: _Request) -> _Attempt:
    """Decide a payment from fresh data: the invoices it pays, fees, reconnection, dates, balance."""
    sub = require_subscriber(req.tenant_id, req.subscriber_id)
    target = repo.get_invoice(req.target_id) if req.target_id else None
    if req.target_id and (target is None or target.subscriber_id != sub.id):
        raise NotFoundError("invoice not found", field="invoice_id")
    invoice_currency = money.currency_or_default(target.currency) if target is not None else ctx.currency
    if invoice_currency != ctx.currency:
        # money in one currency is never taken as another's: the payment is in the tenant's currency
        raise ConflictError(
            f"the invoice is in {invoice_currency} and payments are taken in {ctx.currency}, the tenant's "
            "currency: it cannot be paid with this payment",
            field="invoice_id",
            details={"invoice_currency": invoice_currency, "currency": ctx.currency},
        )
    opts = client_options(sub)
    today = req.paid_on or local_date(utcnow(), ctx.tz(sub.zone_id))
    now = now_iso()
    unpaid = unpaid_oldest_first(sub.id)
    overdue_before = overdue_invoices(unpaid, today)
    paid = _apply_to_invoices(ctx, unpaid, target, req.amount, today, now)
    ops = paid.ops
    fees: list[dict[str, Any]] = []
    if opts.late_fee and ctx.fee("late_fee") > 0:
        for inv in paid.late:
            xid = "xp_late_" + hashlib.sha256(inv.id.encode()).hexdigest()[:24]
            add_fee(ctx, sub, xid, f"Late fee (invoice {inv.number})", "late_fee", req.actor_id, ops, fees)
    reconnection = plan_reconnection(
        ctx, sub, req.activate, overdue_before, paid.still_owed, req.actor_id, req.pid
    )
    ops.extend(reconnection.ops)
    fees.extend(reconnection.fees)
    settled = sum(1 for a in paid.applied if a["status"] == "paid")
    billing, moved = _billing_after(rt, sub, opts, today, settled == len(unpaid))
    new_balance = money.fmt(money.to_decimal(sub.balance) + paid.remaining, ctx.currency)
    ops.append(
        repo.subscriber_money_op(
            sub,
            now,
            balance=new_balance,
            billing=billing if billing != (sub.billing or {}) else None,
            status=reconnection.status,
        )
    )
    effects = {
        "reactivated": reconnection.reactivate,
        "reconnection": reconnection.decision,
        "invoice_id": req.target_id,
        "fees": fees,
        "billing_dates": moved,
        "paid_on": today.isoformat(),
    }
    if target is not None and target.status not in UNPAID:
        # the invoice it was made for was paid or cancelled before it landed: the money went to the
        # client's other invoices and balance in favour, and the payment says so
        effects["invoice_status"] = target.status
    payment = _payment_record(ctx, req, sub, paid.applied, new_balance, effects, now)
    ops.insert(0, repo.new_payment_op(payment))
    return _Attempt(
        sub,
        payment,
        ops,
        paid.applied,
        reconnection.reactivate,
        reconnection.decision,
        fees,
        billing,
        moved,
        paid.remaining,
    )


def _apply_to_invoices(
    ctx: TenantContext, unpaid: list[Invoice], target: Invoice | None, amount: Decimal, today: date, now: str
) -> _Applied:
    """Spread ``amount`` over the invoice it was made for, then the oldest unpaid (at most 90), those in
    the payment's currency (the tenant's) only: an invoice in another currency is left owing."""
    out = _Applied(amount, {i.id: money.amount_due(i.total, i.paid) for i in unpaid})
    payable = [i for i in unpaid if money.currency_or_default(i.currency) == ctx.currency]
    for inv in _payment_order(payable, target)[:90]:
        if out.remaining <= 0:
            break
        due_amt = money.amount_due(inv.total, inv.paid)
        if due_amt <= 0:
            continue
        take = min(due_amt, out.remaining)
        out.remaining -= take
        out.still_owed[inv.id] = due_amt - take
        new_paid = money.to_decimal(inv.paid) + take
        status = "paid" if new_paid >= money.to_decimal(inv.total) else "partial"
        out.ops.append(repo.invoice_payment_op(inv, money.fmt(new_paid, inv.currency), status, now))
        out.applied.append(
            {
                "invoice_id": inv.id,
                "number": inv.number,
                "amount": money.fmt(take, ctx.currency),
                "status": status,
            }
        )
        if inv.kind == "internet" and inv.due_date and inv.due_date < today.isoformat():
            out.late.append(inv)
    return out


def _billing_after(
    rt: Runtime, sub: Subscriber, opts: BillingOptions, today: date, settled_all: bool
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The client's billing options after the payment: recharge-type dates moved to the day paid, and
    a promise dropped once nothing is left owing; with the moved dates (None when they stay)."""
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
    if "promise_until" in billing and settled_all:  # nothing left owing: the promise is kept
        billing.pop("promise_until")
    return billing, moved


def _payment_record(
    ctx: TenantContext,
    req: _Request,
    sub: Subscriber,
    applied: list[dict[str, Any]],
    balance_after: str,
    effects: dict[str, Any],
    now: str,
) -> Payment:
    return Payment(
        id=req.pid,
        tenant_id=req.tenant_id,
        subscriber_id=sub.id,
        amount=money.fmt(req.amount, ctx.currency),
        currency=ctx.currency,
        method=req.method,
        reference=req.reference,
        kind="payment",
        status="applied",
        source=req.source,
        applied=applied,
        balance_after=balance_after,
        created_by=req.actor_id,
        request_fingerprint=req.fingerprint,
        notes=req.notes,
        effects=effects,
        created_at=now,
    )


def _after_payment(rt: Runtime, req: _Request, attempt: _Attempt) -> PaymentResult:
    """Once recorded: the audit entries, and the router task of a reactivated client."""
    sub, payment, reactivate = attempt.sub, attempt.payment, attempt.reactivate
    result = PaymentResult(
        payment, False, attempt.applied, reactivate, None, attempt.moved, attempt.fees, attempt.reconnection
    )
    record_audit(
        req.actor_id, req.actor_kind, req.tenant_id, "payment", req.pid, "create", None, payment_dict(payment)
    )
    if reactivate or attempt.moved:
        record_audit(
            req.actor_id,
            req.actor_kind,
            req.tenant_id,
            "subscriber",
            sub.id,
            "payment",
            {"status": sub.status, "billing": sub.billing or {}},
            {"status": Status.ACTIVE.value if reactivate else sub.status, "billing": attempt.billing},
        )
    if reactivate:
        result.sync = reconnect(rt, sub, f"payment {req.pid}", req.actor_id)
        payment.effects = {**(payment.effects or {}), "sync": result.sync}
        try:
            repo.set_payment_effects(payment, payment.effects)
        except Exception:  # the payment is recorded; the router task id is only informative
            log.exception("could not store the router task of a payment", extra={"payment_id": req.pid})
    return result


PAYMENT_LIST = "admin:payments"  # the signed cursor's scope: a position in time in the payment list


def list_payments(
    signer: Signer,
    tenant_ids: Iterable[str],
    subscriber_id: str | None = None,
    since: date | None = None,
    until: date | None = None,
    limit: int = 200,
    cursor: str | None = None,
) -> tuple[list[Payment], str | None]:
    """The payments of the tenants (or of one client), newest first (those of one instant by id), a page
    and the next cursor; ``since`` and ``until`` are days of each tenant's time zone."""
    tenants = set(tenant_ids)
    position = position_of(decode_key(signer, cursor, PAYMENT_LIST))
    bounds = {tid: tenant_day_bounds(tid, since, until) for tid in tenants}
    if subscriber_id:
        found = [p for p in repo.payments_of_subscriber(subscriber_id) if p.tenant_id in tenants]
    else:
        found = []
        for tid in sorted(tenants):
            lower, upper = bounds[tid]
            tops = [t for t in (upper, position[0] if position else None) if t]
            found.extend(repo.tenant_payments(tid, lower, min(tops) if tops else None))

    def within(p: Payment) -> bool:
        lower, upper = bounds[p.tenant_id]
        return (
            (not lower or p.created_at >= lower)
            and (not upper or p.created_at < upper)
            and comes_after(p.created_at, p.id, position)
        )

    page, last = newest_first_page([p for p in found if within(p)], limit, lambda p: (p.created_at, p.id))
    return page, encode_key(signer, last, PAYMENT_LIST)


def get_payment(payment_id: str, visible: Iterable[str]) -> Payment:
    p = repo.get_payment(payment_id)
    if p is None or p.tenant_id not in set(visible):
        raise NotFoundError("payment not found")
    return p
