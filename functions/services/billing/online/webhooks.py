"""Provider webhooks (SPEC S5): a verified event applied exactly once.

Providers deliver webhooks at least once, retry, and do not keep order. Each event id is recorded
(conditional write) and a processed event is answered ``duplicate`` without effect; the payment itself
goes through the billing payment operation with the idempotency key ``checkout:<reference>`` (or the
provider's payment id), so two *different* events for the same checkout (completed twice, or a retry of
a half-processed event) still record one payment. An ``expired`` event never undoes a payment, and a
``completed`` event that arrives after ``expired`` is still applied: a customer who paid is never left
cut off. Refunds, charge-backs and won disputes reported before their payment are remembered and
applied right after it lands (:mod:`services.billing.reversals`); a won dispute applies the money again
to the invoices the charge-back re-opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.errors import (
    InvalidStateError,
    NotFoundError,
    UnauthorizedError,
    UnavailableError,
    ValidationError,
)
from core.ids import epoch_seconds, now_iso
from core.money import currency_or_default, to_decimal
from services.billing import reversals
from services.billing.online.accounts import PROVIDERS, active_tenant, provider_account
from services.billing.online.checkout import apply_confirmed_payment, checkout_key, set_checkout
from services.billing.online.gateway import (
    CHARGED_BACK,
    DISPUTE_WON,
    EXPIRED,
    PAID,
    PENDING,
    REFUNDED,
    PaymentProvider,
    ProviderCallError,
    WebhookEvent,
    WebhookRequest,
)
from shared.observability import get_logger
from shared.runtime import Runtime
from store import billing as billing_store
from store import portal as portal_store

log = get_logger("payments")

EVENT_RECORD_TTL_S = 120 * 24 * 3600


@dataclass(frozen=True)
class WebhookOutcome:
    status: str  # applied | duplicate | ignored | expired | pending | reversed | deferred
    event_id: str
    payment_id: str | None = None


def handle_webhook(
    rt: Runtime,
    tenant_id: str,
    provider_name: str,
    headers: dict[str, str],
    body: bytes,
    now: float | None = None,
    query: dict[str, str] | None = None,
) -> WebhookOutcome:
    """Verify and process one provider callback. Safe to receive twice, late or out of order."""
    provider = PROVIDERS.get(provider_name)
    if provider is None:
        raise NotFoundError("unknown payment provider", field="provider")
    tenant = active_tenant(tenant_id)
    try:
        account = provider_account(rt, tenant, provider.name)
    except InvalidStateError as exc:
        raise UnauthorizedError(f"no {provider.name} account is connected for this tenant") from exc
    request = WebhookRequest(
        {k.lower(): v for k, v in headers.items()},
        dict(query or {}),
        body,
        epoch_seconds() if now is None else now,
    )
    try:
        event = provider.parse_webhook(rt, tenant_id, account, request)
    except ProviderCallError as exc:  # the provider retries a delivery we could not confirm
        raise UnavailableError(f"the payment could not be confirmed with {provider.name}; retry") from exc
    marker = f"whevt#{tenant_id}#{provider.name}#{event.id}"
    if not portal_store.put_record_once(
        marker,
        "webhook-event",
        {"status": "processing", "type": event.type},
        EVENT_RECORD_TTL_S,
        tenant_id=tenant_id,
    ):
        rec = portal_store.get_record(marker)
        if rec is not None and (rec.data or {}).get("status") == "done":
            log.info("webhook event already processed", extra={"event_id": event.id})
            return WebhookOutcome("duplicate", event.id, (rec.data or {}).get("payment_id"))
        # a delivery that failed half-way, or one running now: process (the payment key keeps it single)
    outcome = _process_event(rt, tenant_id, provider, event)
    rec = portal_store.get_record(marker)
    if rec is not None:
        portal_store.set_record_data(
            rec,
            {
                "status": "done",
                "type": event.type,
                "outcome": outcome.status,
                "payment_id": outcome.payment_id,
            },
        )
    return outcome


def _payment_key(provider: PaymentProvider, event: WebhookEvent) -> str:
    """The idempotency key of the payment an event is about: the provider's payment id (one payment
    per money movement, whatever the number of events), or our checkout for the local provider."""
    if provider.keyed_by_payment:
        if not event.provider_payment_id:
            raise ValidationError("the event names no payment", field="data.payment_id")
        return f"{provider.name}:{event.provider_payment_id}"
    if not event.reference:
        raise ValidationError("data.reference is required", field="data.reference")
    return f"checkout:{event.reference}"


def _process_event(
    rt: Runtime, tenant_id: str, provider: PaymentProvider, event: WebhookEvent
) -> WebhookOutcome:
    if event.type == EXPIRED:
        if event.reference:
            set_checkout(event.reference, {"status": "expired"}, only_from=("open", "pending"))
        return WebhookOutcome("expired", event.id)
    if event.type == PENDING:
        if event.reference:
            set_checkout(event.reference, {"status": "pending"}, only_from=("open", "expired"))
        return WebhookOutcome("pending", event.id)
    if event.type in (REFUNDED, CHARGED_BACK, DISPUTE_WON):
        return _process_reversal(rt, tenant_id, provider, event)
    if event.type != PAID:
        return WebhookOutcome("ignored", event.id)
    outcome = _apply_paid(rt, tenant_id, provider, event)
    if event.chargeback_cleared and outcome.payment_id and outcome.status == "duplicate":
        won = _clear_chargeback(rt, tenant_id, provider, event, outcome.payment_id)
        if won is not None:
            return WebhookOutcome(won, event.id, outcome.payment_id)
    return outcome


def _apply_paid(
    rt: Runtime, tenant_id: str, provider: PaymentProvider, event: WebhookEvent
) -> WebhookOutcome:
    rec = portal_store.get_record(checkout_key(event.reference)) if event.reference else None
    data = dict(rec.data or {}) if rec is not None else {}
    if not data and not event.metadata.get("subscriber_id") and provider.keyed_by_payment:
        # an account shared with other sales: a payment that is not one of our checkouts
        log.info("payment of no checkout ignored", extra={"event_id": event.id, "provider": provider.name})
        return WebhookOutcome("ignored", event.id)
    key = _payment_key(provider, event)
    # The checkout record is authoritative; a very late event falls back to the signed metadata.
    subscriber_id = data.get("subscriber_id") or event.metadata.get("subscriber_id")
    invoice_id = data.get("invoice_id") or event.metadata.get("invoice_id")
    record_tenant = data.get("tenant_id") or event.metadata.get("tenant_id") or tenant_id
    if not subscriber_id or record_tenant != tenant_id:
        raise ValidationError("the event names no checkout of this account", field="data.reference")
    sub = portal_store.find_subscriber(str(subscriber_id))
    if sub is None or sub.tenant_id != tenant_id:
        raise ValidationError("the event names no subscriber of this account", field="data.reference")
    tenant_currency = currency_or_default(active_tenant(tenant_id).currency).upper()
    currency = event.currency or data.get("currency") or tenant_currency
    if currency != tenant_currency or (data.get("currency") and currency != data["currency"]):
        raise ValidationError("the event currency differs from the account's", field="data.currency")
    amount = event.amount if event.amount is not None else to_decimal(data.get("amount"))
    if amount <= 0:
        raise ValidationError("the event has no amount", field="data.amount")
    applied = apply_confirmed_payment(
        rt,
        tenant_id=tenant_id,
        subscriber_id=sub.id,
        amount=amount,
        idempotency_key=key,
        method=f"online:{provider.name}",
        reference=event.reference or event.provider_payment_id,
        notes=f"invoice {invoice_id}" if invoice_id else None,
        source="webhook",
        actor_id=f"provider:{provider.name}",
        actor_kind="system",
        invoice_id=str(invoice_id) if invoice_id else None,
    )
    if event.reference:
        set_checkout(
            event.reference,
            {
                "status": "paid",
                "payment_id": applied.payment_id,
                "paid_at": now_iso(),
                "reconnection": applied.reconnection,
            },
            only_from=("open", "pending", "expired", "failed"),
        )
    log.info(
        "online payment applied",
        extra={"event_id": event.id, "payment_id": applied.payment_id, "duplicate": applied.duplicate},
    )
    _apply_remembered_reversals(rt, tenant_id, provider, key, applied.payment_id)
    return WebhookOutcome("duplicate" if applied.duplicate else "applied", event.id, applied.payment_id)


# ---------------------------------------------------------------- refunds, charge-backs, won disputes
def _reversal_key(tenant_id: str, payment_key: str) -> str:
    return f"prerev#{tenant_id}#{payment_key}"


def _reported(event: WebhookEvent) -> dict[str, Decimal]:
    """The cumulative totals an event reports, per kind of reversal."""
    if event.reversed_total is None:
        raise ValidationError("the event does not say how much was taken back", field="data.amount_reversed")
    if event.type == REFUNDED:
        return {"refund": event.reversed_total}
    reported = {"chargeback": event.reversed_total}
    if event.type == DISPUTE_WON:
        reported[reversals.WON] = event.won_total if event.won_total is not None else event.reversed_total
    return reported


def _remember_reversal(tenant_id: str, payment_key: str, reported: dict[str, Decimal]) -> None:
    """Reversals reported before their payment: kept (highest total per kind) until the payment lands."""
    key = _reversal_key(tenant_id, payment_key)
    first = {kind: str(total) for kind, total in reported.items()}
    if portal_store.put_record_once(key, "payment-reversal", first, EVENT_RECORD_TTL_S, tenant_id):
        return
    for _ in range(5):
        rec = portal_store.get_record(key)
        if rec is None:
            return
        data = dict(rec.data or {})
        merged = {**data, **{k: str(max(v, to_decimal(data.get(k)))) for k, v in reported.items()}}
        if merged == data or portal_store.set_record_data(rec, merged):
            return


def _apply_remembered_reversals(
    rt: Runtime, tenant_id: str, provider: PaymentProvider, payment_key: str, payment_id: str
) -> reversals.ReversalResult | None:
    rec = portal_store.get_record(_reversal_key(tenant_id, payment_key), consistent=True)
    remembered = {k: to_decimal(v) for k, v in dict(rec.data or {}).items()} if rec is not None else {}
    if not remembered:
        return None
    return reversals.settle_reversals(
        rt, tenant_id, payment_id, remembered, None, f"provider:{provider.name}"
    )


def _process_reversal(
    rt: Runtime, tenant_id: str, provider: PaymentProvider, event: WebhookEvent
) -> WebhookOutcome:
    from services.billing.payments import payment_id_for

    key = _payment_key(provider, event)
    reported = _reported(event)
    payment_id = payment_id_for(tenant_id, key)
    if portal_store.find_payment(payment_id) is None:
        # reported before the payment itself: remembered, and applied right after the payment lands
        _remember_reversal(tenant_id, key, reported)
        if event.captured:  # applied, then the remembered reversals (nothing taken back if all won)
            paid = _apply_paid(rt, tenant_id, provider, event)
            if paid.status != "ignored":
                found = billing_store.get_payment(payment_id)
                taken = found is not None and to_decimal(found.reversed_amount) > 0
                return WebhookOutcome("reversed" if taken else paid.status, event.id, paid.payment_id)
        # the payment may have landed meanwhile, looking for remembered reversals before this one was
        # remembered: read again (consistently) and settle it here; settling twice records it once
        if billing_store.get_payment(payment_id) is None:
            return WebhookOutcome("deferred", event.id, None)
    result = reversals.settle_reversals(
        rt, tenant_id, payment_id, reported, event.reversal_id, f"provider:{provider.name}"
    )
    status = _settled(event, result)
    if event.chargeback_cleared:  # refunded in part, and no charge-back stands any more
        status = _clear_chargeback(rt, tenant_id, provider, event, payment_id) or status
    return WebhookOutcome(status, event.id, payment_id)


def _settled(event: WebhookEvent, result: reversals.ReversalResult) -> str:
    """The outcome of a settled reversal, and the checkout's status after it."""
    if result.duplicate:
        return "duplicate"
    if event.reference and result.direction == "reinstated":
        set_checkout(event.reference, {"status": "paid", "reversed_total": result.reversed_total},
                     only_from=("charged_back", "reversed"))  # fmt: skip
    elif event.reference and result.direction == "reversed":
        status = "reversed" if event.type == REFUNDED else "charged_back"
        set_checkout(event.reference, {"status": status, "reversed_total": result.reversed_total},
                     only_from=("paid", "reversed", "charged_back"))  # fmt: skip
    return {"reversed": "reversed", "reinstated": "reinstated"}.get(result.direction, "recorded")


def _clear_chargeback(
    rt: Runtime, tenant_id: str, provider: PaymentProvider, event: WebhookEvent, payment_id: str
) -> str | None:
    """The provider says no charge-back stands on a payment we recorded as charged back: it was won."""
    payment = billing_store.get_payment(payment_id)
    totals = reversals.stored_totals(payment) if payment is not None else {}
    standing = totals.get("chargeback", Decimal(0))
    if standing <= totals.get(reversals.WON, Decimal(0)):
        return None
    result = reversals.settle_reversals(
        rt, tenant_id, payment_id, {reversals.WON: standing}, event.reversal_id, f"provider:{provider.name}"
    )
    return _settled(event, result)
