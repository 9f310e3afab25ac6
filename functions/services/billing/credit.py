"""Balance in favour used on what the client owes: a client never holds credit beside an unpaid invoice
of the same currency.

A new invoice uses the balance in favour when it is made (:func:`services.billing.drafts.apply_credit`).
Credit can still land beside an unpaid invoice when it arrives while that invoice is being made (a
payment's surplus, what a cancelled invoice had paid, a won dispute): so every operation that adds to the
balance, and every operation that makes an invoice, looks again once it is written — whichever of the two
writes second finds the other's — and the notice and cutoff runs use credit before they remind or suspend.

Credit is used the way an invoice uses it when it is made: the invoices' paid amount and status and the
balance change in one transaction, conditional on the invoices' paid amounts and the balance read, and
decided again on fresh data when either moved. Each use is audited on the invoice and on the client.

Credit paying the invoices of a client cut off for non-payment reconnects it as a payment of the same
money would (:mod:`services.billing.reconnection`: the tenant's rule, the status in the same transaction,
the reconnection fee, the router task); a client suspended by hand stays suspended.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core import money
from core.billing_calendar import local_date
from core.ids import now_iso, utcnow
from core.money import currency_or_default
from services.audit import record_audit
from services.billing.context import UNPAID, TenantContext
from services.billing.reconnection import (
    Reconnection,
    cut_off_for,
    overdue_invoices,
    plan_reconnection,
    reconnect,
)
from shared.observability import get_logger
from shared.runtime import Runtime
from store import billing as repo
from store.billing import TransactionFailed, TxOp
from store.models import Invoice, Subscriber

log = get_logger("billing")

# Invoices paid in one transaction (with the client's balance: well within the 100 items of one).
MAX_INVOICES = 90


@dataclass
class CreditUsed:
    """What the client's balance in favour paid: the invoices and the client as it stands after, and
    whether that reconnected it (the decision under the tenant's rule and the router task)."""

    sub: Subscriber | None
    applied: list[dict[str, Any]] = field(default_factory=list)
    reconnection: dict[str, Any] | None = None
    sync: dict[str, Any] | None = None

    @property
    def reconnected(self) -> bool:
        return bool(self.reconnection and self.reconnection["reactivated"])

    @property
    def invoice_ids(self) -> set[str]:
        return {str(a["invoice_id"]) for a in self.applied}


def unpaid_oldest_first(subscriber_id: str) -> list[Invoice]:
    """A client's pending and partly paid invoices, read consistently, by payment date (then number)."""
    listed = [i.id for i in repo.invoices_of_subscriber(subscriber_id) if i.status in UNPAID]
    invoices = [i for i in repo.invoices_current(listed) if i.status in UNPAID]
    return sorted(invoices, key=lambda i: (i.due_date or i.issue_date, int(i.number or 0), i.created_at))


def has_credit(sub: Subscriber | None) -> bool:
    return sub is not None and money.to_decimal(sub.balance) > 0


@dataclass
class _Plan:
    ops: list[TxOp]
    applied: list[dict[str, Any]]
    before: dict[str, dict[str, Any]]
    left: Decimal
    reconnection: Reconnection


def _plan(
    ctx: TenantContext, sub: Subscriber, unpaid: list[Invoice], owing: list[Invoice], now: str, actor: str
) -> _Plan:
    """The balance spread over ``owing`` in order: never more than an invoice owes nor than the balance;
    and, for a client cut off for its ``unpaid`` invoices, the reconnection a payment of the same money
    would make."""
    remaining = money.to_decimal(sub.balance)
    ops: list[TxOp] = []
    applied: list[dict[str, Any]] = []
    before: dict[str, dict[str, Any]] = {}
    still_owed = {i.id: money.amount_due(i.total, i.paid) for i in unpaid}
    for inv in owing:
        take = min(money.amount_due(inv.total, inv.paid), remaining)
        if take <= 0:
            continue
        remaining -= take
        still_owed[inv.id] -= take
        paid = money.to_decimal(inv.paid) + take
        status = "paid" if paid >= money.to_decimal(inv.total) else "partial"
        ops.append(repo.invoice_payment_op(inv, money.fmt(paid, ctx.currency), status, now))
        before[inv.id] = {"status": inv.status, "paid": inv.paid}
        applied.append(
            {
                "invoice_id": inv.id,
                "number": inv.number,
                "amount": money.fmt(take, ctx.currency),
                "paid": money.fmt(paid, ctx.currency),
                "status": status,
            }
        )
    today = local_date(utcnow(), ctx.tz(sub.zone_id))
    overdue_before = overdue_invoices(unpaid, today)
    period_key = next((i.id for i in unpaid if i.cutoff_at), sub.id)
    reconnection = plan_reconnection(
        ctx, sub, cut_off_for(unpaid), overdue_before, still_owed, actor, period_key
    )
    ops.extend(reconnection.ops)
    left = money.fmt(remaining, ctx.currency)
    ops.append(repo.subscriber_money_op(sub, now, balance=left, status=reconnection.status))
    return _Plan(ops, applied, before, Decimal(left), reconnection)


def _owing(ctx: TenantContext, unpaid: list[Invoice]) -> list[Invoice]:
    """The client's unpaid invoices its balance can pay: of its tenant, in the tenant's currency."""
    return [
        i
        for i in unpaid
        if i.tenant_id == ctx.tenant.id
        and currency_or_default(i.currency) == ctx.currency
        and money.amount_due(i.total, i.paid) > 0
    ]


def use_balance_in_favour(
    rt: Runtime, ctx: TenantContext, subscriber_id: str, by: tuple[str, str], attempts: int = 6
) -> CreditUsed:
    """Pay the client's unpaid invoices (oldest first, in the tenant's currency) from its balance in
    favour, as far as it goes; read fresh, and decided again on fresh data when an invoice, the balance or
    the client's status moved meanwhile. A client cut off for non-payment is reconnected as a payment of
    the same money would reconnect it, in the same transaction. Nothing is written when the client has no
    credit or owes nothing: running it again uses nothing twice. ``by``: who the audit entries name
    (actor id, actor kind)."""
    out = CreditUsed(None)
    for _attempt in range(attempts):
        sub = repo.get_subscriber_by_id(subscriber_id)
        out.sub = sub
        if sub is None or sub.tenant_id != ctx.tenant.id or not has_credit(sub):
            return out
        unpaid = unpaid_oldest_first(sub.id)
        owing = _owing(ctx, unpaid)
        if not owing:
            return out
        plan = _plan(ctx, sub, unpaid, owing[:MAX_INVOICES], now_iso(), by[0])
        try:
            repo.transact(plan.ops)
        except TransactionFailed:
            continue  # paid, cancelled, credited or reconnected meanwhile: decide again
        _audit(ctx, sub, plan, by)
        out.applied.extend(plan.applied)
        out.reconnection = plan.reconnection.decision or out.reconnection
        sub.balance = money.fmt(plan.left, ctx.currency)
        if plan.reconnection.reactivate:
            out.sync = reconnect(rt, sub, "balance in favour used", by[0])
        if plan.left <= 0 or len(owing) <= MAX_INVOICES:
            return out
    log.warning(
        "balance in favour not applied: the client's invoices kept changing",
        extra={"subscriber_id": subscriber_id},
    )
    return out


def _audit(ctx: TenantContext, sub: Subscriber, plan: _Plan, by: tuple[str, str]) -> None:
    actor_id, actor_kind = by
    for a in plan.applied:
        record_audit(
            actor_id,
            actor_kind,
            ctx.tenant.id,
            "invoice",
            a["invoice_id"],
            "credit_applied",
            plan.before[a["invoice_id"]],
            {"status": a["status"], "paid": a["paid"], "credit_used": a["amount"]},
        )
    before: dict[str, Any] = {"balance": sub.balance}
    after: dict[str, Any] = {
        "balance": money.fmt(plan.left, ctx.currency),
        "invoices": [{"invoice_id": a["invoice_id"], "amount": a["amount"]} for a in plan.applied],
    }
    reconnection = plan.reconnection
    if reconnection.decision is not None:  # a client cut off for non-payment: what the credit decided
        before["status"] = sub.status
        after.update(
            status=reconnection.status or sub.status,
            reconnection=reconnection.decision,
            fees=reconnection.fees,
        )
    record_audit(actor_id, actor_kind, ctx.tenant.id, "subscriber", sub.id, "credit_applied", before, after)


def settle_credit(
    rt: Runtime, ctx: TenantContext, subscriber_id: str, by: tuple[str, str]
) -> CreditUsed | None:
    """:func:`use_balance_in_favour` after a write that is already recorded: a failure here is logged and
    left to the next notice or cutoff run (None), never reported as the recorded operation's failure."""
    try:
        return use_balance_in_favour(rt, ctx, subscriber_id, by)
    except Exception:
        log.exception("balance in favour not applied", extra={"subscriber_id": subscriber_id})
        return None


def settle_new_invoices(
    rt: Runtime, ctx: TenantContext, invoices: Iterable[Invoice], by: tuple[str, str]
) -> set[str]:
    """After invoices were made: the clients whose credit landed while their invoice was drafted (the
    draft used the balance as it was read) have it used now. One consistent batched read of the balances
    of the clients whose new invoice is unpaid; the invoices paid from credit are returned."""
    unpaid = {i.subscriber_login: i for i in invoices if i.status in UNPAID and i.subscriber_login}
    if not unpaid:
        return set()
    try:
        balances = repo.current_balances(unpaid)
    except Exception:  # the invoices are made; the notice and cutoff runs use the credit before they act
        log.exception("balances in favour not read after invoicing", extra={"tenant_id": ctx.tenant.id})
        return set()
    paid: set[str] = set()
    for sub in balances:
        if has_credit(sub):
            used = settle_credit(rt, ctx, sub.id, by)
            paid |= used.invoice_ids if used is not None else set()
    return paid
