"""Bank-transfer reports: the customer reports a payment (amount, reference, date); an operator
confirms it (applied through the billing payment operation, key ``report:<id>``) or rejects it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from core.errors import (
    ConflictError,
    InvalidStateError,
    NotFoundError,
    ValidationError,
)
from core.ids import new_id, now_iso, utcnow
from core.invoice_ids import from_path
from core.money import currency_or_default
from core.paging import Signer, decode_key, encode_key, newest_first_across, position_of
from services.audit import record_audit
from services.billing.context import subscriber_today
from services.billing.currencies import tenant_currencies
from services.billing.online.accounts import active_tenant
from services.billing.online.checkout import (
    UNPAID,
    AppliedPayment,
    apply_confirmed_payment,
    require_account_currency,
)
from services.billing.online.hosted import positive_amount
from services.identity.actors import Principal
from services.tenants import tenant_filter
from shared.observability import get_logger
from shared.runtime import Runtime
from store import portal as portal_store
from store.models import Payment, Subscriber

log = get_logger("payments")

REPORT_METHODS = ("bank_transfer", "deposit", "cash", "other")


# ---------------------------------------------------------------- bank-transfer reports
def report_payment(
    sub: Subscriber,
    *,
    amount: Any,
    method: str,
    reference: str,
    paid_on: date,
    invoice_id: str | None,
    note: str | None,
    request_id: str | None = None,
) -> Payment:
    """The customer says they paid (bank transfer, deposit…): recorded pending an operator's check."""
    if method not in REPORT_METHODS:
        raise ValidationError(f"method must be one of {', '.join(REPORT_METHODS)}", field="method")
    tenant = active_tenant(sub.tenant_id)
    currency = currency_or_default(tenant.currency)
    if invoice_id:
        stored = from_path(invoice_id)
        inv = portal_store.find_invoice(stored) if stored is not None else None
        if inv is None or inv.subscriber_id != sub.id:
            raise NotFoundError("invoice not found", field="invoice_id")
        if inv.status not in UNPAID:
            raise InvalidStateError(f"the invoice is {inv.status}; nothing to pay", field="invoice_id")
        currency = currency_or_default(inv.currency)
        require_account_currency(tenant, currency)
    value = positive_amount(amount, currency, "amount")
    today = subscriber_today(sub, utcnow())
    if paid_on > today:
        raise ValidationError(
            f"paid_on cannot be in the future (today is {today} in your zone)", field="paid_on"
        )
    payment = Payment(
        id=new_id("rpt"),
        tenant_id=sub.tenant_id,
        subscriber_id=sub.id,
        amount=str(value),
        currency=currency,
        method=method,
        reference=reference,
        kind="reported",
        status="pending_confirmation",
        source="portal",
        applied=[],
        created_by=f"subscriber:{sub.id}",
        notes=(note or "")[:500] or None,
        effects={"report": {"invoice_id": invoice_id, "paid_on": paid_on.isoformat()}},
        created_at=now_iso(),
    )
    portal_store.create_payment_row(payment)
    record_audit(
        sub.id,
        "subscriber",
        sub.tenant_id,
        "payment",
        payment.id,
        "report_payment",
        None,
        {"amount": payment.amount, "method": method, "reference": reference},
        request_id,
    )
    return payment


def get_report(payment_id: str) -> Payment:
    payment = portal_store.find_payment(payment_id) if 0 < len(payment_id) <= 128 else None
    if payment is None or payment.kind != "reported":
        raise NotFoundError("payment report not found", field="payment_id")
    return payment


def visible_report(actor: Principal, payment_id: str) -> Payment:
    """A customer's payment report in the caller's tenant subtree (404 otherwise)."""
    report = get_report(payment_id)
    actor.require_visible(report.tenant_id, "payment report")
    return report


REPORT_LIST = "admin:payment-reports"  # the signed cursor's scope: a position in time in the list


def list_reports(
    signer: Signer,
    actor: Principal,
    tenant_id: str | None,
    status: str | None,
    limit: int,
    cursor: str | None = None,
) -> tuple[list[Payment], str | None]:
    """Payment reports of the caller's subtree (or one tenant of it), newest first across the tenants
    (those of one instant by id): a page of ``limit`` and the next cursor."""
    position = position_of(decode_key(signer, cursor, REPORT_LIST))
    until = position[0] if position else None
    streams = (
        portal_store.iter_tenant_payments(tid, status, "reported", until, limit + 1)
        for tid in tenant_filter(actor, tenant_id)
    )
    page, last = newest_first_across(streams, limit, position, lambda p: (p.created_at, p.id))
    return page, encode_key(signer, last, REPORT_LIST)


def confirm_report(
    rt: Runtime,
    report: Payment,
    actor_id: str,
    actor_kind: str,
    amount: Any = None,
    request_id: str | None = None,
) -> AppliedPayment:
    """An operator confirms a reported payment: it is applied through billing (once, even if two
    operators confirm at the same time) and reactivates a suspended subscriber."""
    if report.status not in ("pending_confirmation", "confirming"):
        raise InvalidStateError(f"the report is {report.status}", field="status")
    reported_in = currency_or_default(report.currency)
    tenant_currency = currency_or_default(tenant_currencies([report.tenant_id]).get(report.tenant_id))
    if reported_in != tenant_currency:
        # checked before the report is claimed: it stays pending and can be rejected
        raise ConflictError(
            f"the report is in {reported_in} and payments are applied in {tenant_currency}, the tenant's "
            "currency: reject it, and register the payment in that currency",
            field="currency",
            details={"report_currency": reported_in, "currency": tenant_currency},
        )
    value = positive_amount(amount if amount is not None else report.amount, report.currency, "amount")
    # claim the report so a concurrent rejection cannot interleave (a crashed claim can be confirmed again)
    if report.status == "pending_confirmation" and not portal_store.set_payment_status(
        report, "confirming", "pending_confirmation", {}
    ):
        fresh = get_report(report.id)
        if fresh.status not in ("confirming", "confirmed"):
            raise ConflictError(f"the report was {fresh.status} meanwhile", field="status")
    info = dict((report.effects or {}).get("report") or {})
    paid_on = date.fromisoformat(info["paid_on"]) if info.get("paid_on") else None
    applied = apply_confirmed_payment(
        rt,
        tenant_id=report.tenant_id,
        subscriber_id=report.subscriber_id,
        amount=value,
        idempotency_key=f"report:{report.id}",
        method=report.method,
        reference=report.reference,
        notes=f"reported payment {report.id}"
        + (f", invoice {info['invoice_id']}" if info.get("invoice_id") else ""),
        source="portal",
        actor_id=actor_id,
        actor_kind=actor_kind,
        paid_on=paid_on,
        invoice_id=info.get("invoice_id"),
    )
    effects = {
        **(report.effects or {}),
        "applied_payment_id": applied.payment_id,
        "confirmed_by": actor_id,
        "confirmed_at": now_iso(),
        "confirmed_amount": str(value),
    }
    portal_store.set_payment_status(report, "confirmed", "confirming", {"effects": effects})
    record_audit(
        actor_id,
        actor_kind,
        report.tenant_id,
        "payment",
        report.id,
        "confirm_report",
        {"status": "pending_confirmation"},
        {"status": "confirmed", "payment_id": applied.payment_id},
        request_id,
    )
    return applied


def reject_report(
    report: Payment, actor_id: str, actor_kind: str, reason: str, request_id: str | None = None
) -> Payment:
    """An operator rejects a reported payment (nothing is applied)."""
    effects = {
        **(report.effects or {}),
        "rejected_by": actor_id,
        "rejected_at": now_iso(),
        "reason": reason[:500],
    }
    if not portal_store.set_payment_status(report, "rejected", "pending_confirmation", {"effects": effects}):
        fresh = get_report(report.id)
        raise InvalidStateError(f"the report is {fresh.status}", field="status")
    record_audit(
        actor_id,
        actor_kind,
        report.tenant_id,
        "payment",
        report.id,
        "reject_report",
        {"status": "pending_confirmation"},
        {"status": "rejected", "reason": reason[:500]},
        request_id,
    )
    return report
