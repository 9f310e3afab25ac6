"""Refunds and charge-backs: taking back (part of) a recorded payment (SPEC S5).

A provider reports how much of a payment has been given back so far, per kind (refunds, disputes):
cumulative figures, so events may arrive late, twice or out of order and the payment is still
reversed exactly by what the provider says. The reversal undoes what the payment did, last effect
first: the part that was left as balance in favour comes back out of the balance, then the invoices it
paid are re-opened, the last one paid first (they owe again what was taken back). If the balance in
favour was already used by later invoices, the balance goes below zero: the client owes it and the
next payment covers it first.

The subscriber is **never suspended by a reversal**: the tenant's contact is e-mailed what was taken
back, which invoices are open again and whether they are overdue (the next cutoff run would suspend
for them), so an operator decides. One conditional write on the payment's reversed total makes two
concurrent deliveries of the same refund record it once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core import money
from core.errors import ConflictError, NotFoundError, ValidationError
from core.ids import now_iso
from core.money import currency_or_default
from services.audit import record_audit
from shared.observability import get_logger
from shared.runtime import Runtime
from store import billing as repo
from store import operators as operator_store
from store.billing import TransactionFailed, TxOp
from store.models import Invoice, Payment, Subscriber

log = get_logger("payments")

KINDS = ("refund", "chargeback")


@dataclass
class ReversalResult:
    payment_id: str
    duplicate: bool
    amount: str  # taken back by this call ("0.00" when nothing new)
    reversed_total: str  # taken back from the payment so far
    reversal_id: str | None = None
    reopened: list[dict[str, Any]] = field(default_factory=list)
    balance_taken: str = "0.00"
    overdue: list[str] = field(default_factory=list)  # re-opened internet invoices past their date
    notified: bool = False

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
    """Take back from ``payment_id`` up to ``cumulative`` for ``kind`` (refund | chargeback): only what
    is new since the last call counts, so the same report twice, or an older one late, changes nothing."""
    if kind not in KINDS:
        raise ValidationError(f"kind must be one of {', '.join(KINDS)}", field="kind")
    by = _Reverser(tenant_id, kind, provider_ref, actor_id, actor_kind)
    for _attempt in range(6):
        payment = repo.get_payment(payment_id)
        if payment is None or payment.tenant_id != tenant_id or payment.kind != "payment":
            raise NotFoundError("payment not found", field="payment_id")
        planned = by.plan(payment, cumulative)
        if isinstance(planned, ReversalResult):
            return planned
        try:
            repo.transact(planned.ops)
        except TransactionFailed:
            continue  # another delivery or a payment changed something meanwhile: recompute
        break
    else:
        raise ConflictError("the payment kept changing; try again")
    return by.recorded(rt, planned)


@dataclass
class _Planned:
    """One reversal ready to be written in one transaction."""

    payment: Payment
    cur: str
    before: Decimal
    after: Decimal
    rev_id: str
    reopened: list[dict[str, Any]]
    from_balance: Decimal
    ops: list[TxOp]


@dataclass(frozen=True)
class _Reverser:
    """Who takes back what: the fixed arguments of one :func:`reverse_payment` call."""

    tenant_id: str
    kind: str
    provider_ref: str | None
    actor_id: str
    actor_kind: str

    def plan(self, payment: Payment, cumulative: Decimal) -> _Planned | ReversalResult:
        """The writes taking back what is new in ``cumulative`` (a duplicate result when nothing is)."""
        kind = self.kind
        cur = currency_or_default(payment.currency)
        amount = money.to_decimal(payment.amount)
        totals = {k: money.to_decimal(v) for k, v in (payment.reversals or {}).items()}
        before = min(sum(totals.values(), money.ZERO), amount)
        totals[kind] = max(totals.get(kind, money.ZERO), money.quantize(max(cumulative, money.ZERO), cur))
        after = min(sum(totals.values(), money.ZERO), amount)
        if after <= before:
            return ReversalResult(payment.id, True, money.fmt(money.ZERO, cur), money.fmt(before, cur))
        sub = repo.get_subscriber_by_id(payment.subscriber_id)
        if sub is None:
            raise NotFoundError("the payment's subscriber no longer exists", field="payment_id")
        now = now_iso()
        ops, reopened, from_balance = _reopen_invoices(payment, before, after, cur, now)
        if from_balance > 0:
            ops.append(
                TxOp(
                    "update",
                    sub,
                    ("subscriber",),
                    Subscriber.balance == sub.balance,
                    [
                        Subscriber.balance.set(money.fmt(money.to_decimal(sub.balance) - from_balance, cur)),
                        Subscriber.updated_at.set(now),
                    ],
                )
            )
        rev_id = "rev_" + hashlib.sha256(f"{payment.id}|{kind}|{totals[kind]}".encode()).hexdigest()[:32]
        row = self._row(payment, rev_id, after - before, cur, reopened, from_balance, now)
        ops.insert(0, TxOp("put", row, ("reversal",), Payment.id.does_not_exist()))
        ops.append(_payment_update(payment, totals, after, amount, cur))
        return _Planned(payment, cur, before, after, rev_id, reopened, from_balance, ops)

    def _row(
        self,
        payment: Payment,
        rev_id: str,
        delta: Decimal,
        cur: str,
        reopened: list[dict[str, Any]],
        from_balance: Decimal,
        now: str,
    ) -> Payment:
        """The reversal's own payment row (negative applications on the re-opened invoices)."""
        return Payment(
            id=rev_id,
            tenant_id=self.tenant_id,
            subscriber_id=payment.subscriber_id,
            amount=money.fmt(delta, cur),
            currency=cur,
            method=payment.method,
            reference=self.provider_ref or payment.reference,
            kind="reversal",
            status="applied",
            source="webhook" if self.actor_kind == "system" else "operator",
            applied=[{"invoice_id": r["invoice_id"], "amount": "-" + r["amount"]} for r in reopened],
            created_by=self.actor_id,
            notes=f"{self.kind} of payment {payment.id}",
            effects={
                "reverses": payment.id,
                "kind": self.kind,
                "balance_taken": money.fmt(from_balance, cur),
            },
            created_at=now,
        )

    def recorded(self, rt: Runtime, p: _Planned) -> ReversalResult:
        """After the write: the result, audited, and the tenant e-mailed."""
        cur = p.cur
        result = ReversalResult(
            p.payment.id,
            False,
            money.fmt(p.after - p.before, cur),
            money.fmt(p.after, cur),
            p.rev_id,
            p.reopened,
            money.fmt(p.from_balance, cur),
            [r["invoice_id"] for r in p.reopened if r["overdue"]],
        )
        record_audit(
            self.actor_id,
            self.actor_kind,
            self.tenant_id,
            "payment",
            p.payment.id,
            self.kind,
            {"reversed_amount": money.fmt(p.before, cur)},
            {"reversed_amount": result.reversed_total, "reversal_id": p.rev_id, "reopened": p.reopened},
        )
        result.notified = _notify_operator(rt, self.tenant_id, p.payment, self.kind, result)
        log.info(
            "payment reversed",
            extra={
                "payment_id": p.payment.id,
                "reversal_id": p.rev_id,
                "reversal_kind": self.kind,
                "amount": result.amount,
            },
        )
        return result


def _reopen_invoices(
    payment: Payment, before: Decimal, after: Decimal, cur: str, now: str
) -> tuple[list[TxOp], list[dict[str, Any]], Decimal]:
    """The invoice writes re-opening what [before, after) of the payment paid, the invoices re-opened,
    and what comes out of the balance instead (the credit part, or an invoice since cancelled)."""
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
        status = "partial" if new_paid > 0 else "pending"
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
        overdue = inv.kind == "internet" and bool(inv.due_date) and str(inv.due_date) < now[:10]
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


def _payment_update(
    payment: Payment, totals: dict[str, Decimal], after: Decimal, amount: Decimal, cur: str
) -> TxOp:
    """The reversed totals on the payment, guarded by the total read (two deliveries write once)."""
    version = (
        Payment.reversed_amount.does_not_exist()
        if payment.reversed_amount is None
        else Payment.reversed_amount == payment.reversed_amount
    )
    return TxOp(
        "update",
        payment,
        ("payment",),
        version,
        [
            Payment.reversals.set({k: money.fmt(v, cur) for k, v in totals.items()}),
            Payment.reversed_amount.set(money.fmt(after, cur)),
            Payment.status.set("reversed" if after >= amount else "partially_reversed"),
        ],
    )


def _notify_operator(
    rt: Runtime, tenant_id: str, payment: Payment, kind: str, result: ReversalResult
) -> bool:
    tenant = repo.get_tenant(tenant_id)
    recipients = [tenant.contact_email] if tenant is not None and tenant.contact_email else []
    if not recipients:  # no contact address: the tenant's managers
        managers = [o for o in operator_store.list_operators(tenant_id) if o.role in ("admin", "manager")]
        recipients = sorted({o.email for o in managers if o.email})[:5]
    if not recipients:
        log.warning("nobody to e-mail about a payment reversal", extra={"tenant_id": tenant_id})
        return False
    what = "refunded" if kind == "refund" else "charged back"
    cur = currency_or_default(payment.currency)
    lines = [
        f"{result.amount} {cur} of payment {payment.id} ({payment.amount} {cur}, subscriber "
        f"{payment.subscriber_id}) was {what} by the payment provider.",
        "",
    ]
    for r in result.reopened:
        late = " - past its payment date" if r["overdue"] else ""
        lines.append(
            f"- invoice {r['number'] or r['invoice_id']} owes {r['amount']} again ({r['status']}){late}"
        )
    if money.to_decimal(result.balance_taken) > 0:
        lines.append(f"- {result.balance_taken} {cur} taken from the subscriber's balance")
    lines += [
        "",
        "The subscriber has not been suspended. "
        + (
            "An invoice open again is past its payment date: the next cutoff run will suspend the "
            "subscriber unless it is paid or you register a payment promise."
            if result.overdue
            else "If the invoices stay unpaid, the usual cutoff applies after their payment date."
        ),
    ]
    try:
        for to in recipients:
            rt.notifier.send_email(to, f"Payment {what}: {result.amount} {cur}", "\n".join(lines))
    except Exception:  # the reversal is recorded and audited; the e-mail is best effort
        log.exception("could not e-mail a payment reversal", extra={"payment_id": payment.id})
        return False
    return True
