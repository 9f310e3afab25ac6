"""Hosted checkouts: opening one for what is owed on an invoice, its status, and applying a payment a
provider (or an operator checking a transfer) confirmed through the billing payment operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from core.errors import (
    InvalidStateError,
    NotFoundError,
    UnavailableError,
)
from core.ids import epoch_seconds, new_id, now_iso
from core.money import amount_due, currency_or_default, quantize
from services.billing.online.accounts import active_tenant, provider_account, provider_for, webhook_url
from services.billing.online.gateway import (
    CHECKOUT_TTL_S,
    CheckoutRequest,
    CheckoutSession,
    ProviderCallError,
)
from shared.observability import get_logger
from shared.runtime import Runtime
from store import portal as portal_store
from store.models import Invoice, Subscriber, Tenant

log = get_logger("payments")

CHECKOUT_RECORD_TTL_S = 120 * 24 * 3600  # kept long after: late webhooks still find their checkout
UNPAID = ("pending", "partial")


# ---------------------------------------------------------------- checkout
def checkout_key(reference: str) -> str:
    return f"checkout#{reference}"


def start_checkout(
    rt: Runtime, sub: Subscriber, invoice: Invoice, provider_name: str | None = None
) -> CheckoutSession:
    """Open a hosted checkout for what is still owed on one of the subscriber's invoices, with the
    tenant's default provider or the one the subscriber chose among those enabled."""
    if invoice.status not in UNPAID:
        raise InvalidStateError(f"the invoice is {invoice.status}; nothing to pay", field="invoice_id")
    currency = currency_or_default(invoice.currency)
    due = quantize(amount_due(invoice.total, invoice.paid), currency)
    if due <= 0:
        raise InvalidStateError("nothing is owed on this invoice", field="invoice_id")
    tenant = active_tenant(sub.tenant_id)
    require_account_currency(tenant, currency)
    provider = provider_for(tenant, provider_name)
    account = provider_account(rt, tenant, provider.name)
    reference = new_id("chk")
    base = rt.settings.public_base_url.rstrip("/")
    request = CheckoutRequest(
        reference=reference,
        tenant_id=sub.tenant_id,
        subscriber_id=sub.id,
        invoice_id=invoice.id,
        amount=due,
        currency=currency,
        description=f"Invoice {invoice.number or invoice.id}",
        notify_url=webhook_url(rt, sub.tenant_id, provider.name),
        return_url=f"{base}/my/checkout/{reference}",  # the page showing the checkout's status
        customer_email=sub.email or None,
    )
    # recorded before the provider is called: its webhook may come back before this call returns
    record = {
        "provider": provider.name,
        "tenant_id": sub.tenant_id,
        "subscriber_id": sub.id,
        "invoice_id": invoice.id,
        "amount": str(due),
        "currency": currency,
        "status": "open",
        "expires_at": int(epoch_seconds()) + CHECKOUT_TTL_S,
        "created_at": now_iso(),
    }
    portal_store.put_record_once(
        checkout_key(reference), "checkout", record, CHECKOUT_RECORD_TTL_S, tenant_id=sub.tenant_id
    )
    try:
        session = provider.create_checkout(rt, account, request)
    except ProviderCallError as exc:
        set_checkout(reference, {"status": "failed"}, only_from=("open",))
        log.warning("checkout could not be opened", extra={"provider": provider.name, "error": str(exc)})
        if exc.refused:
            raise InvalidStateError(
                f"the payment provider refused the checkout; the operator must check the {provider.name} "
                "account",
                field="provider",
            ) from exc
        raise UnavailableError("the payment provider cannot be reached; try again", field="provider") from exc
    set_checkout(
        reference,
        {"expires_at": session.expires_at, "provider_checkout_id": session.provider_checkout_id},
        only_from=("open",),
    )
    log.info(
        "checkout opened", extra={"reference": reference, "invoice_id": invoice.id, "provider": provider.name}
    )
    return session


def require_account_currency(tenant: Tenant, currency: str) -> None:
    """Online payments are in the tenant's currency (every payment is applied in it): an invoice in
    another one (from before the tenant's currency changed) is refused, never charged and then taken as
    the tenant's currency."""
    account = currency_or_default(tenant.currency)
    if currency != account:
        raise InvalidStateError(
            f"the invoice is in {currency} and payments here are in {account}: it cannot be paid online or "
            "reported; contact your internet provider",
            field="invoice_id",
            details={"invoice_currency": currency, "currency": account},
        )


def checkout_status(sub: Subscriber, reference: str) -> dict[str, Any]:
    rec = portal_store.get_record(checkout_key(reference))
    data = dict(rec.data or {}) if rec is not None else {}
    if rec is None or data.get("subscriber_id") != sub.id:
        raise NotFoundError("checkout not found", field="checkout_id")
    return {
        "checkout_id": reference,
        **{
            k: data.get(k)
            for k in (
                "status",
                "invoice_id",
                "amount",
                "currency",
                "expires_at",
                "payment_id",
                "paid_at",
                "reconnection",
            )
        },
    }


def set_checkout(reference: str, update: dict[str, Any], only_from: tuple[str, ...]) -> None:
    """Move a checkout record's status (optimistic, retried); statuses outside ``only_from`` stay."""
    for _ in range(5):
        rec = portal_store.get_record(checkout_key(reference))
        if rec is None:
            return
        data = dict(rec.data or {})
        if data.get("status") not in only_from:
            return
        if portal_store.set_record_data(rec, {**data, **update}):
            return


# ---------------------------------------------------------------- applying payments
@dataclass(frozen=True)
class AppliedPayment:
    payment_id: str
    duplicate: bool
    reactivated: bool
    reconnection: dict[str, Any] | None = None  # the rule applied to a suspended subscriber, and why


def apply_confirmed_payment(
    rt: Runtime,
    *,
    tenant_id: str,
    subscriber_id: str,
    amount: Decimal,
    idempotency_key: str,
    method: str,
    reference: str | None,
    notes: str | None,
    source: str,
    actor_id: str,
    actor_kind: str,
    paid_on: date | None = None,
    invoice_id: str | None = None,
) -> AppliedPayment:
    """Record a payment a provider (or an operator checking a transfer) confirmed, through the billing
    payment operation (:func:`services.billing.payments.register_payment`): once per idempotency key, paying
    ``invoice_id`` (the invoice the checkout or report was for) first and then the oldest unpaid, and
    reactivating a suspended subscriber when the tenant's reconnection rule allows it (status + router
    task). Every provider adapter applies money through this function."""
    from services.billing.payments import register_payment

    result = register_payment(
        rt,
        tenant_id,
        subscriber_id,
        amount,
        idempotency_key,
        actor_id,
        actor_kind=actor_kind,
        method=method,
        reference=reference,
        activate=True,
        paid_on=paid_on,
        notes=notes,
        source=source,
        invoice_id=invoice_id,
    )
    return AppliedPayment(
        str(result.payment.id), bool(result.replayed), bool(result.reactivated), result.reconnection
    )
