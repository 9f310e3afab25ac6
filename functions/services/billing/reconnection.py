"""Reconnecting a suspended client when money pays what it owes (SPEC S5): one decision under the
tenant's reconnection rule and one way of doing it, whether the money is a payment or the client's
balance in favour.

The decision (:func:`reconnection_decision`) and the writes that go with it (:func:`plan_reconnection`:
the status, the status counters and the reconnection fee) are part of the transaction that applies the
money, conditional on the client's status as read; once it is recorded, :func:`reconnect` asks the
router for the change (the status itself is what RADIUS answers from).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from core import money
from core.ids import now_iso
from core.statuses import Status
from services.billing.context import UNPAID, TenantContext, client_options
from shared.observability import get_logger
from shared.runtime import Runtime
from store import billing as repo
from store.billing import TxOp
from store.models import ExtraProduct, Invoice, Subscriber

log = get_logger("billing")

RECONNECT_RULES = ("nothing_overdue", "any_payment")


def reconnect_rule(ctx: TenantContext) -> str:
    """When money reconnects a suspended client: ``nothing_overdue`` (default: only once no overdue
    internet invoice remains) or ``any_payment`` (tenant setting ``billing.reconnect_rule``)."""
    rule = str(ctx.options.get("reconnect_rule") or RECONNECT_RULES[0])
    return rule if rule in RECONNECT_RULES else RECONNECT_RULES[0]


def overdue_invoices(invoices: Iterable[Invoice], today: date) -> list[Invoice]:
    """Unpaid internet invoices past their payment date (what a cutoff suspends for), oldest first."""
    return [
        i
        for i in invoices
        if i.kind == "internet" and i.status in UNPAID and i.due_date and i.due_date < today.isoformat()
    ]


def cut_off_for(unpaid: Iterable[Invoice]) -> bool:
    """Whether the client was cut off for non-payment: one of its unpaid invoices carries the cutoff's
    mark (a client suspended by hand has none)."""
    return any(i.cutoff_at for i in unpaid)


def reconnection_decision(
    ctx: TenantContext,
    sub: Subscriber,
    activate: bool,
    overdue_before: list[Invoice],
    still_owed: dict[str, Decimal],
) -> tuple[bool, dict[str, Any] | None]:
    """Whether the money reactivates a suspended client under the tenant's rule, and why: what is still
    overdue in the tenant's currency, and (when there is) in each other currency, never added together."""
    if not (activate and sub.status == Status.SUSPENDED.value):
        return False, None
    left: dict[str, Decimal] = {}  # what is still overdue, per currency (never added across them)
    for inv in overdue_before:
        currency = money.currency_or_default(inv.currency)
        left[currency] = left.get(currency, money.ZERO) + still_owed.get(inv.id, money.ZERO)
    overdue_left = left.pop(ctx.currency, money.ZERO)
    others = {c: money.fmt(v, c) for c, v in sorted(left.items()) if v > 0}
    rule = reconnect_rule(ctx)
    reactivate = (overdue_left <= 0 and not others) or rule == "any_payment"
    decision: dict[str, Any] = {
        "rule": rule,
        "reactivated": reactivate,
        "overdue_left": money.fmt(overdue_left, ctx.currency),
    }
    if others:  # invoices in another currency than the tenant's (from before its currency changed)
        decision["overdue_left_other_currencies"] = others
    return reactivate, decision


@dataclass
class Reconnection:
    """A reconnection decided with the money that pays for it: the decision, and the writes that go in
    the same transaction besides the client's own (which sets :attr:`status`)."""

    reactivate: bool = False
    decision: dict[str, Any] | None = None
    ops: list[TxOp] = field(default_factory=list)  # the reconnection fee and the status counters
    fees: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str | None:
        """The client's new status (None: it stays)."""
        return Status.ACTIVE.value if self.reactivate else None


def plan_reconnection(
    ctx: TenantContext,
    sub: Subscriber,
    activate: bool,
    overdue_before: list[Invoice],
    still_owed: dict[str, Decimal],
    actor: str,
    period_key: str,
) -> Reconnection:
    """Decide whether the money reconnects ``sub`` (:func:`reconnection_decision`) and, when it does, the
    writes: the status counters and, for clients with the option on, the tenant's reconnection fee (a
    one-payment extra on the next invoice) once per overdue period — keyed by the oldest overdue invoice
    (``period_key`` when none is)."""
    reactivate, decision = reconnection_decision(ctx, sub, activate, overdue_before, still_owed)
    out = Reconnection(reactivate, decision)
    if not reactivate:
        return out
    if client_options(sub).reconnection_fee and ctx.fee("reconnection_fee") > 0:
        key = overdue_before[0].id if overdue_before else period_key
        xid = "xp_reconn_" + hashlib.sha256(f"{sub.id}|{key}".encode()).hexdigest()[:24]
        add_fee(ctx, sub, xid, "Reconnection fee", "reconnection_fee", actor, out.ops, out.fees)
    out.ops.extend(repo.status_tally_ops(sub, Status.ACTIVE.value))
    return out


def add_fee(
    ctx: TenantContext,
    sub: Subscriber,
    xid: str,
    name: str,
    kind: str,
    actor: str,
    ops: list[TxOp],
    fees: list[dict[str, Any]],
) -> None:
    """A fee (the tenant's ``kind`` amount) as a one-payment extra on the next invoice; once per ``xid``."""
    if repo.get_extra(xid) is not None:
        return
    extra = _fee_extra(ctx, sub, xid, name, ctx.fee(kind), kind, actor)
    ops.append(repo.new_extra_op(extra, ("fee", xid)))
    fees.append({"extra_id": xid, "kind": kind, "amount": extra.price})


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


def reconnect(rt: Runtime, sub: Subscriber, reason: str, actor: str) -> dict[str, Any]:
    """Once the reconnection is recorded: the client as active, and the router asked to lift the block
    (the router task, or why there is none)."""
    sub.status = Status.ACTIVE.value
    return sync_subscriber(rt, sub, reason, actor)


def sync_subscriber(rt: Runtime, sub: Subscriber, reason: str, actor: str) -> dict[str, Any]:
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
