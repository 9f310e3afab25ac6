"""Refunds, charge-backs, manual reversals and won disputes: taking back (part of) a recorded payment,
and giving it back (SPEC S5).

A provider reports how much of a payment has been given back so far, per kind — ``refund``,
``chargeback``, and ``dispute_won`` (a charge-back the merchant won: the money is the ISP's again):
cumulative figures, so events may arrive late, twice or out of order and the payment still ends where
the provider says. What stands taken back is :func:`net_reversed`: refunds and manual reversals, plus the
charge-backs not won back, never more than the payment.

When that grows, the payment's effects are undone, last effect first: the part that was left as balance
in favour comes back out of the balance, then the invoices it paid are re-opened, the last one paid first
(they owe again what was taken back). If the balance in favour was already used by later invoices, the
balance goes below zero: the client owes it and the next payment covers it first. The subscriber is
**never suspended by a reversal**: the tenant's contact is e-mailed what was taken back, which invoices
are open again and whether they are overdue, so an operator decides.

When it shrinks (a won dispute), the same slice of the payment's effects is applied again: to the
invoices the charge-back re-opened (what one of them no longer owes goes to the balance in favour), and
the balance part back to the balance. Like any payment it reconnects a suspended subscriber only under
the tenant's reconnection rule; the tenant is e-mailed.

Every change is one transaction conditional on the payment's ``reversal_version``: two concurrent
deliveries of the same report record it once (the loser recomputes and finds nothing new).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core import money
from core.billing_calendar import local_date
from core.errors import ConflictError, NotFoundError, ValidationError
from core.ids import now_iso, utcnow
from core.money import currency_or_default
from core.statuses import Status
from services.audit import record_audit
from services.billing.context import UNPAID, load_context, subscriber_today
from services.billing.credit import settle_credit, unpaid_oldest_first
from services.billing.reconnection import overdue_invoices, reconnect, reconnection_decision
from services.billing.reversal_notices import notify_operator
from shared.observability import get_logger
from shared.runtime import Runtime
from store import billing as repo
from store.billing import TransactionFailed, TxOp
from store.models import Invoice, Payment, Subscriber

log = get_logger("payments")

WON = "dispute_won"  # a charge-back the merchant won: given back
KINDS = ("refund", "chargeback", "manual", WON)


def net_reversed(totals: dict[str, Decimal], amount: Decimal) -> Decimal:
    """What stands taken back from a payment of ``amount`` with these cumulative totals."""
    zero = money.ZERO
    chargeback = max(totals.get("chargeback", zero) - totals.get(WON, zero), zero)
    return min(totals.get("refund", zero) + totals.get("manual", zero) + chargeback, amount)


@dataclass
class ReversalResult:
    payment_id: str
    duplicate: bool
    amount: str  # taken back (or given back) by this call (zero when nothing changed)
    reversed_total: str  # what stands taken back from the payment now
    reversal_id: str | None = None  # the reversal or reinstatement row written
    reopened: list[dict[str, Any]] = field(default_factory=list)
    balance_taken: str = "0.00"
    overdue: list[str] = field(default_factory=list)  # re-opened internet invoices past their date
    notified: bool = False
    direction: str = "none"  # reversed | reinstated | none (totals recorded, nothing moved)
    reapplied: list[dict[str, Any]] = field(default_factory=list)
    balance_returned: str = "0.00"
    reconnection: dict[str, Any] | None = None
    sync: dict[str, Any] | None = None
    kinds: list[str] = field(default_factory=list)  # the kinds whose totals moved

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _steps(payment: Payment) -> list[tuple[str | None, Decimal]]:
    """What the payment did, last effect first: (None = balance in favour | invoice id, amount)."""
    applied = [(str(a["invoice_id"]), money.to_decimal(a["amount"])) for a in (payment.applied or [])]
    credit = money.to_decimal(payment.amount) - sum((amt for _, amt in applied), money.ZERO)
    steps: list[tuple[str | None, Decimal]] = [(None, credit)] if credit > 0 else []
    return steps + list(reversed(applied))


def _slice(
    steps: list[tuple[str | None, Decimal]], start: Decimal, end: Decimal
) -> list[tuple[str | None, Decimal]]:
    """The parts of the steps that fall in [start, end) of the amount taken back so far."""
    out: list[tuple[str | None, Decimal]] = []
    pos = money.ZERO
    for target, amt in steps:
        lo, hi = max(start, pos), min(end, pos + amt)
        if hi > lo:
            out.append((target, hi - lo))
        pos += amt
    return out


def stored_totals(payment: Payment) -> dict[str, Decimal]:
    return {k: money.to_decimal(v) for k, v in (payment.reversals or {}).items()}


# ---------------------------------------------------------------- operations
def reverse_payment(
    rt: Runtime,
    tenant_id: str,
    payment_id: str,
    kind: str,
    cumulative: Decimal,
    provider_ref: str | None,
    actor_id: str,
    actor_kind: str = "system",
) -> ReversalResult:
    """Take back from ``payment_id`` up to ``cumulative`` for ``kind``: only what is new since the last
    report counts, so the same report twice, or an older one late, changes nothing."""
    return settle_reversals(rt, tenant_id, payment_id, {kind: cumulative}, provider_ref, actor_id, actor_kind)


def settle_reversals(
    rt: Runtime,
    tenant_id: str,
    payment_id: str,
    reported: dict[str, Decimal],
    provider_ref: str | None,
    actor_id: str,
    actor_kind: str = "system",
) -> ReversalResult:
    """Bring ``payment_id`` to the cumulative totals a provider reports (each kind only grows): take
    back what is newly reversed, or apply again what a won dispute gives back."""
    for kind in reported:
        if kind not in KINDS:
            raise ValidationError(f"kind must be one of {', '.join(KINDS)}", field="kind")
    by = _Reverser(tenant_id, provider_ref, actor_id, actor_kind)

    def report(payment: Payment) -> dict[str, Decimal]:
        return reported

    return _settle(rt, by, tenant_id, payment_id, report)


def reverse_manually(
    rt: Runtime,
    visible_tenants: Iterable[str],
    payment_id: str,
    amount: Decimal | None,
    reason: str,
    reopen_invoices: bool,
    idempotency_key: str,
    actor_id: str,
    actor_kind: str = "operator",
) -> ReversalResult:
    """An operator takes back ``amount`` of a payment (default: all that is left), once per idempotency
    key. ``reopen_invoices`` False leaves the invoices paid (the ISP forgives what it gave back); the part
    left as balance in favour comes out of the balance either way."""
    payment = repo.get_payment(payment_id)
    if payment is None or payment.tenant_id not in set(visible_tenants) or payment.kind != "payment":
        raise NotFoundError("payment not found", field="payment_id")
    key = (idempotency_key or "").strip()
    row_id = "rev_" + hashlib.sha256(f"{payment.id}|manual|{key}".encode()).hexdigest()[:32]
    fingerprint = hashlib.sha256(f"{amount}|{reason}|{reopen_invoices}".encode()).hexdigest()[:32]
    existing = repo.get_payment(row_id)
    if existing is not None:
        return _replay(payment, existing, fingerprint)
    cur = currency_or_default(payment.currency)
    wanted = None if amount is None else money.quantize(amount, cur)
    if wanted is not None and wanted <= 0:
        raise ValidationError("amount must be more than 0", field="amount")

    def report(fresh: Payment) -> dict[str, Decimal]:
        totals = stored_totals(fresh)
        left = money.to_decimal(fresh.amount) - net_reversed(totals, money.to_decimal(fresh.amount))
        if left <= 0:
            raise ConflictError("the payment is already fully reversed", field="payment_id")
        if wanted is not None and wanted > left:
            raise ValidationError(
                f"amount is more than what is left to reverse ({money.fmt(left, cur)})", field="amount"
            )
        return {"manual": totals.get("manual", money.ZERO) + (left if wanted is None else wanted)}

    by = _Reverser(
        payment.tenant_id, None, actor_id, actor_kind, row_id, reopen_invoices, reason, fingerprint
    )
    return _settle(rt, by, payment.tenant_id, payment.id, report)


def _replay(payment: Payment, row: Payment, fingerprint: str) -> ReversalResult:
    """The answer to a manual reversal sent again with the same idempotency key."""
    effects = dict(row.effects or {})
    if effects.get("reverses") != payment.id or effects.get("fingerprint") != fingerprint:
        raise ConflictError(
            "this idempotency key was already used for a different reversal", field="idempotency_key"
        )
    cur = currency_or_default(payment.currency)
    return ReversalResult(
        payment.id,
        True,
        row.amount,
        money.fmt(money.to_decimal(payment.reversed_amount), cur),
        row.id,
        list(effects.get("reopened") or []),
        str(effects.get("balance_taken") or money.fmt(money.ZERO, cur)),
        direction="reversed",
        balance_returned=money.fmt(money.ZERO, cur),
    )


def _settle(
    rt: Runtime,
    by: _Reverser,
    tenant_id: str,
    payment_id: str,
    report: Callable[[Payment], dict[str, Decimal]],
) -> ReversalResult:
    for _attempt in range(6):
        payment = repo.get_payment(payment_id)
        if payment is None or payment.tenant_id != tenant_id or payment.kind != "payment":
            raise NotFoundError("payment not found", field="payment_id")
        planned = by.plan(payment, report(payment))
        if isinstance(planned, ReversalResult):
            return planned
        try:
            repo.transact(planned.ops)
        except TransactionFailed:
            continue  # another delivery or a payment changed something meanwhile: recompute
        return by.recorded(rt, planned)
    raise ConflictError("the payment kept changing; try again")


# ---------------------------------------------------------------- planning
@dataclass
class _Planned:
    """One change ready to be written in one transaction."""

    payment: Payment
    cur: str
    before: Decimal
    after: Decimal
    row_id: str | None
    ops: list[TxOp]
    reopened: list[dict[str, Any]] = field(default_factory=list)
    from_balance: Decimal = money.ZERO
    reapplied: list[dict[str, Any]] = field(default_factory=list)
    to_balance: Decimal = money.ZERO
    sub: Subscriber | None = None
    reactivate: bool = False
    reconnection: dict[str, Any] | None = None
    kinds: list[str] = field(default_factory=list)  # the kinds whose totals this change moves


@dataclass(frozen=True)
class _Reverser:
    """Who changes what: the fixed arguments of one operation."""

    tenant_id: str
    provider_ref: str | None
    actor_id: str
    actor_kind: str
    row_id: str | None = None  # a manual reversal's row (from its idempotency key)
    reopen: bool = True
    reason: str | None = None
    fingerprint: str | None = None

    def plan(self, payment: Payment, reported: dict[str, Decimal]) -> _Planned | ReversalResult:
        """The writes bringing the payment to the reported totals (a duplicate result when nothing is new)."""
        cur = currency_or_default(payment.currency)
        amount = money.to_decimal(payment.amount)
        stored = stored_totals(payment)
        totals = dict(stored)
        for kind, value in reported.items():
            new = money.quantize(max(value, money.ZERO), cur)
            totals[kind] = max(stored.get(kind, money.ZERO), new)
        before, after = net_reversed(stored, amount), net_reversed(totals, amount)
        if totals == stored:
            zero = money.fmt(money.ZERO, cur)
            return ReversalResult(
                payment.id, True, zero, money.fmt(before, cur), balance_taken=zero, balance_returned=zero
            )
        sub = repo.get_subscriber_by_id(payment.subscriber_id)
        if sub is None:
            raise NotFoundError("the payment's subscriber no longer exists", field="payment_id")
        signature = json.dumps({k: str(v) for k, v in sorted(totals.items())})
        digest = hashlib.sha256(f"{payment.id}|{signature}".encode()).hexdigest()[:32]
        now = now_iso()
        planned = _Planned(payment, cur, before, after, None, [])
        planned.kinds = sorted(k for k in totals if totals[k] != stored.get(k))
        if after > before:
            self._take_back(planned, sub, self.row_id or "rev_" + digest, now)
        elif after < before:
            self._give_back(planned, sub, "rin_" + digest, now)
        planned.ops.append(_payment_update(payment, totals, after, amount, cur))
        return planned

    def _take_back(self, p: _Planned, sub: Subscriber, row_id: str, now: str) -> None:
        today = subscriber_today(sub, utcnow()).isoformat()
        ops, p.reopened, p.from_balance = _reopen_invoices(
            p.payment, p.before, p.after, p.cur, now, today, self.reopen
        )
        if p.from_balance > 0:
            balance = money.fmt(money.to_decimal(sub.balance) - p.from_balance, p.cur)
            ops.append(
                TxOp(
                    "update",
                    sub,
                    ("subscriber",),
                    Subscriber.balance == sub.balance,
                    [Subscriber.balance.set(balance), Subscriber.updated_at.set(now)],
                )
            )
        p.row_id = row_id
        negative = [{"invoice_id": r["invoice_id"], "amount": "-" + r["amount"]} for r in p.reopened]
        row = self._row(p, row_id, "reversal", negative if self.reopen else [], now)
        row.effects = {
            **(row.effects or {}),
            "reverses": p.payment.id,
            "balance_taken": money.fmt(p.from_balance, p.cur),
            "reopened": p.reopened,
        }
        p.ops = [TxOp("put", row, ("reversal",), Payment.id.does_not_exist()), *ops]

    def _give_back(self, p: _Planned, sub: Subscriber, row_id: str, now: str) -> None:
        """A won dispute: [after, before) of the payment's effects applied again, and reconnection under
        the tenant's rule."""
        ops, p.reapplied, p.to_balance = _reapply_invoices(p.payment, p.after, p.before, p.cur, now)
        ctx = load_context(self.tenant_id)
        unpaid = unpaid_oldest_first(sub.id)
        still_owed = {i.id: money.amount_due(i.total, i.paid) for i in unpaid}
        for r in p.reapplied:
            if r["invoice_id"] in still_owed:
                still_owed[r["invoice_id"]] -= money.to_decimal(r["amount"])
        today = local_date(utcnow(), ctx.tz(sub.zone_id))
        p.reactivate, p.reconnection = reconnection_decision(
            ctx, sub, True, overdue_invoices(unpaid, today), still_owed
        )
        balance = money.to_decimal(sub.balance) + p.to_balance
        ops.append(
            repo.subscriber_money_op(
                sub,
                now,
                balance=money.fmt(balance, p.cur) if p.to_balance > 0 else None,
                status=Status.ACTIVE.value if p.reactivate else None,
            )
        )
        if p.reactivate:
            ops.extend(repo.status_tally_ops(sub, Status.ACTIVE.value))
        p.sub, p.row_id = sub, row_id
        positive = [{"invoice_id": r["invoice_id"], "amount": r["amount"]} for r in p.reapplied]
        row = self._row(p, row_id, "reinstatement", positive, now)
        row.effects = {
            **(row.effects or {}),
            "reinstates": p.payment.id,
            "balance_returned": money.fmt(p.to_balance, p.cur),
            "reactivated": p.reactivate,
            "reconnection": p.reconnection,
        }
        p.ops = [TxOp("put", row, ("reversal",), Payment.id.does_not_exist()), *ops]

    def _row(self, p: _Planned, row_id: str, kind: str, applied: list[dict[str, Any]], now: str) -> Payment:
        """The change's own payment row (negative applications for a reversal)."""
        what = "dispute won" if kind == "reinstatement" else self.reason or "reversal"
        return Payment(
            id=row_id,
            tenant_id=self.tenant_id,
            subscriber_id=p.payment.subscriber_id,
            amount=money.fmt(abs(p.after - p.before), p.cur),
            currency=p.cur,
            method=p.payment.method,
            reference=self.provider_ref or p.payment.reference,
            kind=kind,
            status="applied",
            source="webhook" if self.actor_kind == "system" else "operator",
            applied=applied,
            created_by=self.actor_id,
            notes=f"{what} of payment {p.payment.id}"[:500],
            effects={"kinds": p.kinds, **({"fingerprint": self.fingerprint} if self.fingerprint else {})},
            created_at=now,
        )

    def recorded(self, rt: Runtime, p: _Planned) -> ReversalResult:
        """After the write: the result, audited, the router told of a reconnection, the tenant e-mailed."""
        cur = p.cur
        direction = "reversed" if p.after > p.before else "reinstated" if p.after < p.before else "none"
        result = ReversalResult(
            p.payment.id,
            False,
            money.fmt(abs(p.after - p.before), cur),
            money.fmt(p.after, cur),
            p.row_id,
            p.reopened,
            money.fmt(p.from_balance, cur),
            [r["invoice_id"] for r in p.reopened if r["overdue"]],
            direction=direction,
            reapplied=p.reapplied,
            balance_returned=money.fmt(p.to_balance, cur),
            reconnection=p.reconnection,
            kinds=p.kinds,
        )
        if direction == "none":
            return result  # only the totals moved (a won dispute reported before its charge-back)
        action = {"reversed": "reverse", "reinstated": "dispute_won"}[direction]
        after: dict[str, Any] = {"reversed_amount": result.reversed_total, "row_id": p.row_id}
        after.update({"reopened": p.reopened} if direction == "reversed" else {"reapplied": p.reapplied})
        if self.reason:
            after["reason"] = self.reason
        record_audit(
            self.actor_id,
            self.actor_kind,
            self.tenant_id,
            "payment",
            p.payment.id,
            action,
            {"reversed_amount": money.fmt(p.before, cur)},
            after,
        )
        if p.reactivate and p.sub is not None:
            self._reconnect(rt, p, result)
        if p.to_balance > 0 and p.sub is not None:  # given back as credit: it pays what the client owes
            settle_credit(rt, load_context(self.tenant_id), p.sub.id, (self.actor_id, self.actor_kind))
        result.notified = notify_operator(rt, self.tenant_id, p.payment, result)
        log.info(
            "payment reversal settled",
            extra={
                "payment_id": p.payment.id,
                "row_id": p.row_id,
                "direction": direction,
                "amount": result.amount,
            },
        )
        return result

    def _reconnect(self, rt: Runtime, p: _Planned, result: ReversalResult) -> None:
        sub = p.sub
        assert sub is not None
        record_audit(
            self.actor_id,
            self.actor_kind,
            self.tenant_id,
            "subscriber",
            sub.id,
            "payment",
            {"status": sub.status},
            {"status": Status.ACTIVE.value, "reinstatement": p.row_id},
        )
        result.sync = reconnect(rt, sub, f"dispute won {p.row_id}", self.actor_id)


# ---------------------------------------------------------------- invoice writes
def _reopen_invoices(
    payment: Payment, before: Decimal, after: Decimal, cur: str, now: str, today: str, reopen: bool = True
) -> tuple[list[TxOp], list[dict[str, Any]], Decimal]:
    """The invoice writes re-opening what [before, after) of the payment paid, the invoices touched,
    and what comes out of the balance instead (the credit part, or an invoice since cancelled). With
    ``reopen`` False the invoices stay paid and are listed with status ``paid``. A re-opened internet
    invoice is overdue when its due date is before ``today`` (the client's zone's date)."""
    ops: list[TxOp] = []
    reopened: list[dict[str, Any]] = []
    from_balance = money.ZERO
    for target, part in _slice(_steps(payment), before, after):
        inv = repo.get_invoice(target) if target else None
        if inv is None or inv.status not in ("paid", "partial") or money.to_decimal(inv.paid) <= 0:
            from_balance += part  # the credit part, or an invoice since cancelled (credited back)
            continue
        take = min(part, money.to_decimal(inv.paid))
        from_balance += part - take
        new_paid = money.to_decimal(inv.paid) - take
        status = ("partial" if new_paid > 0 else "pending") if reopen else inv.status
        if reopen:
            ops.append(
                TxOp(
                    "update",
                    inv,
                    ("invoice", inv.id),
                    (Invoice.paid == inv.paid) & (Invoice.status == inv.status),
                    [
                        Invoice.paid.set(money.fmt(new_paid, cur)),
                        Invoice.status.set(status),
                        Invoice.paid_at.remove(),
                        Invoice.updated_at.set(now),
                    ],
                )
            )
        overdue = reopen and inv.kind == "internet" and bool(inv.due_date) and str(inv.due_date) < today
        reopened.append(
            {
                "invoice_id": inv.id,
                "number": inv.number,
                "amount": money.fmt(take, cur),
                "status": status,
                "due_date": inv.due_date,
                "overdue": overdue,
            }
        )
    return ops, reopened, from_balance


def _reapply_invoices(
    payment: Payment, start: Decimal, end: Decimal, cur: str, now: str
) -> tuple[list[TxOp], list[dict[str, Any]], Decimal]:
    """The invoice writes applying [start, end) of the payment again, the invoices paid again, and what
    goes to the balance in favour (the credit part, or what an invoice paid meanwhile no longer owes)."""
    ops: list[TxOp] = []
    reapplied: list[dict[str, Any]] = []
    to_balance = money.ZERO
    for target, part in _slice(_steps(payment), start, end):
        inv = repo.get_invoice(target) if target else None
        due = (
            money.amount_due(inv.total, inv.paid) if inv is not None and inv.status in UNPAID else money.ZERO
        )
        take = min(part, max(due, money.ZERO))
        to_balance += part - take
        if inv is None or take <= 0:
            continue
        new_paid = money.to_decimal(inv.paid) + take
        status = "paid" if new_paid >= money.to_decimal(inv.total) else "partial"
        ops.append(repo.invoice_payment_op(inv, money.fmt(new_paid, cur), status, now))
        reapplied.append(
            {"invoice_id": inv.id, "number": inv.number, "amount": money.fmt(take, cur), "status": status}
        )
    return ops, reapplied, to_balance


def _payment_update(
    payment: Payment, totals: dict[str, Decimal], after: Decimal, amount: Decimal, cur: str
) -> TxOp:
    """The totals on the payment, guarded by the version read (two deliveries write once)."""
    version = payment.reversal_version
    guard = (
        Payment.reversal_version.does_not_exist() if version is None else Payment.reversal_version == version
    )
    status = "reversed" if after >= amount else "partially_reversed" if after > 0 else "applied"
    return TxOp(
        "update",
        payment,
        ("payment",),
        guard,
        [
            Payment.reversals.set({k: money.fmt(v, cur) for k, v in totals.items()}),
            Payment.reversed_amount.set(money.fmt(after, cur)),
            Payment.reversal_version.set(int(version or 0) + 1),
            Payment.status.set(status),
        ],
    )
