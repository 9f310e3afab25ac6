"""Billing operations (SPEC S5): invoice run, notices, cutoffs, payments, promises, extras, reports."""

from __future__ import annotations

from decimal import Decimal

from core import money
from core.errors import InvalidStateError, NotFoundError
from core.ids import now_iso
from services.audit import record_audit
from shared.runtime import Runtime
from store import billing as repo
from store.models import Invoice, Subscriber

UNPAID = ("pending", "partial")


def _invoice_snapshot(inv: Invoice) -> dict[str, object]:
    return {
        "id": inv.id,
        "number": inv.number,
        "status": inv.status,
        "total": inv.total,
        "paid": inv.paid,
        "period": inv.period,
        "kind": inv.kind,
    }


def cancel_invoice(rt: Runtime, invoice_id: str, actor_id: str, actor_kind: str = "operator") -> Invoice:
    """Cancel an unpaid or partly paid invoice. It keeps its number (no gaps); what was already paid on
    it goes to the client's balance in favour."""
    inv = repo.get_invoice(invoice_id)
    if inv is None:
        raise NotFoundError("invoice not found")
    if inv.status not in UNPAID:
        raise InvalidStateError(f"only pending or partly paid invoices can be cancelled; this one is {inv.status}")
    before = _invoice_snapshot(inv)
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
    record_audit(actor_id, actor_kind, inv.tenant_id, "invoice", inv.id, "cancel", before, _invoice_snapshot(inv))
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
