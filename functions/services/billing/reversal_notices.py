"""The e-mail telling a tenant that a payment was taken back or given back (a refund, a charge-back, a
manual reversal, a won dispute): what moved, which invoices owe again or are paid again, and what the
subscriber's service does next. Sent to the tenant's contact address, or else its managers."""

from __future__ import annotations

from typing import Any

from core import money
from core.money import currency_or_default
from shared.observability import get_logger
from shared.runtime import Runtime
from store import billing as repo
from store import operators as operator_store
from store.models import Payment

log = get_logger("payments")


def recipients(tenant_id: str) -> list[str]:
    tenant = repo.get_tenant(tenant_id)
    if tenant is not None and tenant.contact_email:
        return [tenant.contact_email]
    managers = [o for o in operator_store.list_operators(tenant_id) if o.role in ("admin", "manager")]
    return sorted({o.email for o in managers if o.email})[:5]


def _what(kinds: list[str]) -> str:
    if "manual" in kinds:
        return "reversed by an operator"
    if "chargeback" in kinds:
        return "charged back"
    return "refunded"


def _reversal_lines(payment: Payment, result: Any, cur: str, kinds: list[str]) -> list[str]:
    lines = [
        f"{result.amount} {cur} of payment {payment.id} ({payment.amount} {cur}, subscriber "
        f"{payment.subscriber_id}) was {_what(kinds)}.",
        "",
    ]
    for r in result.reopened:
        if r["status"] == "paid":
            lines.append(f"- invoice {r['number'] or r['invoice_id']} stays paid ({r['amount']} forgiven)")
            continue
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
    return lines


def _reinstatement_lines(payment: Payment, result: Any, cur: str) -> list[str]:
    lines = [
        f"The dispute over payment {payment.id} ({payment.amount} {cur}, subscriber {payment.subscriber_id}) "
        f"was won: {result.amount} {cur} is yours again and has been applied again.",
        "",
    ]
    for r in result.reapplied:
        lines.append(
            f"- invoice {r['number'] or r['invoice_id']}: {r['amount']} applied again ({r['status']})"
        )
    if money.to_decimal(result.balance_returned) > 0:
        lines.append(f"- {result.balance_returned} {cur} back to the subscriber's balance")
    rec = result.reconnection
    if rec is not None:
        lines += [
            "",
            "The suspended subscriber was reconnected."
            if rec["reactivated"]
            else f"The subscriber stays suspended: {rec['overdue_left']} {cur} is still overdue "
            f"(reconnection rule: {rec['rule']}).",
        ]
    return lines


def notify_operator(rt: Runtime, tenant_id: str, payment: Payment, result: Any) -> bool:
    """E-mail the change (best effort: it is already recorded and audited)."""
    to = recipients(tenant_id)
    if not to:
        log.warning("nobody to e-mail about a payment reversal", extra={"tenant_id": tenant_id})
        return False
    cur = currency_or_default(payment.currency)
    if result.direction == "reinstated":
        subject = f"Dispute won: {result.amount} {cur} applied again"
        lines = _reinstatement_lines(payment, result, cur)
    else:
        kinds = list(result.kinds or [])
        subject = f"Payment {_what(kinds)}: {result.amount} {cur}"
        lines = _reversal_lines(payment, result, cur, kinds)
    try:
        for address in to:
            rt.notifier.send_email(address, subject, "\n".join(lines))
    except Exception:  # the change is recorded and audited; the e-mail is best effort
        log.exception("could not e-mail a payment reversal", extra={"payment_id": payment.id})
        return False
    return True
