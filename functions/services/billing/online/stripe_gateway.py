"""Stripe adapter (official ``stripe`` SDK): Checkout Sessions, signed webhooks, refunds and disputes.

- **Checkout**: ``POST /v1/checkout/sessions`` in ``payment`` mode with one line item for what is owed
  on the invoice (amount in the currency's minor unit), our checkout id as ``client_reference_id``
  and in the metadata of the session and of its PaymentIntent (so refunds and disputes carry it),
  ``success_url``/``cancel_url`` back to the subscriber's checkout page, expiring in 24 h.
- **Webhooks**: ``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` with the
  endpoint's signing secret (``whsec_…``), refused outside a 5-minute tolerance — verified by the SDK.
- **Events**: ``checkout.session.completed`` (paid) and ``checkout.session.async_payment_succeeded``
  → paid; a completed session still ``unpaid`` (bank debits, vouchers) → pending;
  ``checkout.session.expired`` / ``async_payment_failed`` → expired; ``charge.refunded`` → refunded
  (``amount_refunded`` is cumulative); ``charge.dispute.created`` / ``funds_withdrawn`` → charge-back
  (an inquiry — status ``warning_*`` — withdraws nothing and is acknowledged without effect);
  ``charge.dispute.closed`` with status ``won``, or ``charge.dispute.funds_reinstated`` → dispute won
  (the disputed amount is given back); ``charge.dispute.closed`` ``lost`` → charge-back (nothing new
  when the withdrawal was already recorded). The provider payment id is the PaymentIntent: every event
  of one payment names it.
"""

from __future__ import annotations

import json
from decimal import ROUND_CEILING, Decimal
from typing import Any

import stripe

from core.errors import UnauthorizedError, ValidationError
from core.ids import epoch_seconds
from core.money import currency_or_default
from services.billing.online.gateway import (
    CHARGED_BACK,
    CHECKOUT_TTL_S,
    DISPUTE_WON,
    EXPIRED,
    PAID,
    PENDING,
    REFUNDED,
    SIGNATURE_TOLERANCE_S,
    CheckoutRequest,
    CheckoutSession,
    ConnectionCheck,
    ProviderAccount,
    ProviderCallError,
    WebhookEvent,
    WebhookRequest,
)
from shared.runtime import Runtime

# Stripe's minor units (its currency guide): the zero-decimal currencies are sent as the whole amount,
# the three-decimal ones in thousandths whose last digit is 0; every other currency in hundredths (ISK
# too: whole krónur sent as multiples of 100).
ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])


def minor_exponent(currency: str) -> int:
    """How many decimals one unit of Stripe's ``amount`` is for ``currency``."""
    code = (currency or "").upper()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def to_minor(amount: Decimal, currency: str) -> int:
    """An amount in the currency's smallest unit as Stripe counts it. An amount finer than Stripe takes
    (a fraction of a zero-decimal currency, the last fils of a three-decimal one) is rounded up, so a
    checkout for what is owed pays all of it."""
    step = 10 if (currency or "").upper() in THREE_DECIMAL else 1
    units = (amount.scaleb(minor_exponent(currency)) / step).to_integral_value(rounding=ROUND_CEILING)
    return int(units) * step


def from_minor(value: Any, currency: str) -> Decimal:
    return Decimal(int(value)).scaleb(-minor_exponent(currency))


def _client(rt: Runtime, account: ProviderAccount) -> stripe.StripeClient:
    base = rt.settings.stripe_api_base
    return stripe.StripeClient(
        account.api_key,
        base_addresses={"api": base} if base else None,
        max_network_retries=1,
        http_client=stripe.RequestsClient(timeout=rt.settings.payment_provider_timeout_s),
    )


def _call_failed(exc: Exception) -> ProviderCallError:
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return ProviderCallError("Stripe refused the secret key", refused=True)
    if isinstance(exc, stripe.InvalidRequestError):
        return ProviderCallError(f"Stripe refused the request: {exc.user_message or exc}", refused=True)
    return ProviderCallError(f"Stripe could not be reached: {type(exc).__name__}")


class StripeProvider:
    name = "stripe"
    keyed_by_payment = True

    def create_checkout(
        self, rt: Runtime, account: ProviderAccount, request: CheckoutRequest
    ) -> CheckoutSession:
        expires = int(epoch_seconds()) + CHECKOUT_TTL_S
        metadata = {
            "wisp_checkout": request.reference,
            "tenant_id": request.tenant_id,
            "subscriber_id": request.subscriber_id,
            "invoice_id": request.invoice_id,
        }
        params: dict[str, Any] = {
            "mode": "payment",
            "client_reference_id": request.reference,
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": request.currency.lower(),
                        "unit_amount": to_minor(request.amount, request.currency),
                        "product_data": {"name": request.description[:120]},
                    },
                }
            ],
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata, "description": request.description[:120]},
            "success_url": request.return_url + "?result=success",
            "cancel_url": request.return_url + "?result=cancelled",
            "expires_at": expires,
        }
        if request.customer_email:
            params["customer_email"] = request.customer_email
        try:
            session = _client(rt, account).v1.checkout.sessions.create(
                params,  # type: ignore[arg-type]
                {"idempotency_key": f"wisp-checkout-{request.reference}"},
            )
        except stripe.StripeError as exc:
            raise _call_failed(exc) from exc
        if not session.url:
            raise ProviderCallError("Stripe returned a checkout without a URL")
        return CheckoutSession(
            request.reference, self.name, str(session.url), int(session.expires_at or expires), session.id
        )

    def parse_webhook(
        self, rt: Runtime, tenant_id: str, account: ProviderAccount, request: WebhookRequest
    ) -> WebhookEvent:
        header = request.headers.get("stripe-signature")
        if not header:
            raise UnauthorizedError("missing Stripe-Signature header")
        if not account.webhook_secret:
            raise UnauthorizedError("no Stripe signing secret is configured for this account")
        try:
            stripe.WebhookSignature.verify_header(
                request.body.decode("utf-8"), header, account.webhook_secret, SIGNATURE_TOLERANCE_S
            )
        except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError, IndexError) as exc:
            raise UnauthorizedError(f"Stripe signature refused: {exc}") from exc
        # verify_header checks the tolerance against the process clock; hold it to ours too
        timestamp = _signature_timestamp(header)
        if abs(request.now - timestamp) > SIGNATURE_TOLERANCE_S:
            raise UnauthorizedError("webhook timestamp outside the tolerance window (possible replay)")
        try:
            event = json.loads(request.body)
        except ValueError as exc:
            raise ValidationError("webhook body is not JSON", field="body") from exc
        return parse_event(event)

    def test_connection(self, rt: Runtime, account: ProviderAccount) -> ConnectionCheck:
        try:
            acct = _client(rt, account).v1.accounts.retrieve_current()
        except stripe.StripeError as exc:
            failed = _call_failed(exc)
            return ConnectionCheck(False, account.mode, None, None, str(failed))
        livemode = account.api_key.startswith(("sk_live_", "rk_live_"))
        name = None
        profile = getattr(acct, "business_profile", None)
        if profile is not None:
            name = getattr(profile, "name", None)
        label = f"{acct.id}" + (f" ({name})" if name else "")
        return ConnectionCheck(True, account.mode, livemode, label, "the secret key is accepted")


def _signature_timestamp(header: str) -> int:
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                return int(value)
            except ValueError:
                break
    raise UnauthorizedError("malformed Stripe-Signature header")


def parse_event(event: Any) -> WebhookEvent:
    """Map a Stripe event (``{"id", "type", "created", "data": {"object": …}}``) to ours."""
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        raise ValidationError("webhook body must be a Stripe event", field="data")
    event_id, kind = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= 200:
        raise ValidationError("event id is required", field="id")
    if not isinstance(kind, str):
        raise ValidationError("event type is required", field="type")
    obj = event["data"].get("object")
    if not isinstance(obj, dict):
        raise ValidationError("data.object is required", field="data.object")
    created: int = event["created"] if isinstance(event.get("created"), int) else int(epoch_seconds())
    metadata = {str(k): str(v) for k, v in (obj.get("metadata") or {}).items()}
    currency = str(obj.get("currency") or "").upper() or None

    def amount(field: str) -> Decimal | None:
        value = obj.get(field)
        return from_minor(value, currency_or_default(currency)) if isinstance(value, int) else None

    def ours(type_: str, **extra: Any) -> WebhookEvent:
        return WebhookEvent(
            id=event_id,
            type=type_,
            created=created,
            reference=obj.get("client_reference_id") or metadata.get("wisp_checkout"),
            provider_payment_id=extra.pop("payment_id", None),
            amount=extra.pop("amount", None),
            currency=currency,
            metadata=metadata,
            **extra,
        )

    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        paid = obj.get("payment_status") in ("paid", "no_payment_required")
        return ours(
            PAID if paid else PENDING, payment_id=obj.get("payment_intent"), amount=amount("amount_total")
        )
    if kind in ("checkout.session.expired", "checkout.session.async_payment_failed"):
        return ours(EXPIRED)
    if kind == "charge.refunded":
        return ours(
            REFUNDED,
            payment_id=obj.get("payment_intent"),
            amount=amount("amount"),
            reversed_total=amount("amount_refunded"),
            reversal_id=obj.get("id"),
        )
    if kind.startswith("charge.dispute."):
        return _dispute_event(kind, obj, ours, amount("amount"))
    return ours(kind)


DISPUTE_TAKEN = ("charge.dispute.created", "charge.dispute.funds_withdrawn")


def _dispute_event(kind: str, obj: dict[str, Any], ours: Any, disputed: Decimal | None) -> WebhookEvent:
    """A dispute event (its object is the Dispute: ``amount``, ``status``, ``payment_intent``)."""
    status = str(obj.get("status") or "")
    won = kind == "charge.dispute.funds_reinstated" or (kind == "charge.dispute.closed" and status == "won")
    lost = kind == "charge.dispute.closed" and status == "lost"
    taken = kind in DISPUTE_TAKEN and not status.startswith("warning_")
    if not (won or lost or taken):  # an inquiry, an update, a closed inquiry: no money moved
        return ours(f"stripe.{kind}.{status or 'unknown'}")
    ids = {"payment_id": obj.get("payment_intent"), "reversal_id": obj.get("id")}
    if won:  # the charge-back was taken and is given back: both cumulative totals are the amount
        return ours(DISPUTE_WON, reversed_total=disputed, won_total=disputed, **ids)
    return ours(CHARGED_BACK, reversed_total=disputed, **ids)
