"""The local/demo payment provider (a hosted checkout page with HMAC-signed webhooks) and the
signature scheme it shares with the tests and the local stack.

The checkout URL carries the merchant (tenant), our checkout reference, amount, currency and the
notify/return URLs, signed with the tenant's secret so the amount cannot be edited in the browser. The
webhook carries ``Wisp-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` (several
``v1`` values are accepted during a secret rotation); a timestamp older or newer than
:data:`SIGNATURE_TOLERANCE_S` is refused, so a captured request cannot be replayed later.

The webhook secret of a tenant is derived from the root data key (``wisp-webhook-<tenant id>``); the
operator copies it into the provider's dashboard (admin route).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from core.errors import (
    UnauthorizedError,
    ValidationError,
)
from core.ids import epoch_seconds
from core.money import currency_or_default, quantize, to_decimal
from services.billing.online.gateway import (
    CHECKOUT_TTL_S,
    SIGNATURE_TOLERANCE_S,
    CheckoutRequest,
    CheckoutSession,
    ConnectionCheck,
    ProviderAccount,
    WebhookEvent,
    WebhookRequest,
)
from shared.observability import get_logger
from shared.runtime import Runtime

log = get_logger("payments")

SIGNATURE_HEADER = "wisp-signature"


def webhook_secret(rt: Runtime, tenant_id: str) -> str:
    """The tenant's webhook signing secret (the operator enters it in the provider's dashboard)."""
    return "whsec_" + rt.box.derive(b"wisp-webhook-" + tenant_id.encode()).hex()


def sign_payload(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<ts>,v1=<hex>``: what the provider sends (tests and the local stack sign with it too)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def _parse_signature_header(value: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    macs: list[str] = []
    for part in value.split(","):
        k, _, v = part.strip().partition("=")
        if k == "t":
            try:
                timestamp = int(v)
            except ValueError as exc:
                raise UnauthorizedError("malformed signature header") from exc
        elif k == "v1" and v:
            macs.append(v.strip())
    if timestamp is None or not macs:
        raise UnauthorizedError("malformed signature header")
    return timestamp, macs


def positive_amount(value: Any, currency: str, what: str) -> Decimal:
    amount = to_decimal(value, what)
    if amount <= 0:
        raise ValidationError(f"{what} must be positive", field=what)
    return quantize(amount, currency)


class HostedCheckoutProvider:
    """The local/demo provider: a redirect (hosted page) gateway with HMAC-signed webhooks. It needs
    no account anywhere, so ``make run`` completes a payment end to end."""

    name = "hosted"
    keyed_by_payment = False  # its events name the checkout; one payment per checkout
    default_checkout_url = "https://checkout.wisppay.example/pay"

    def create_checkout(
        self, rt: Runtime, account: ProviderAccount, request: CheckoutRequest
    ) -> CheckoutSession:
        expires = int(epoch_seconds()) + CHECKOUT_TTL_S
        params = {
            "merchant": account.api_key or request.tenant_id,
            "reference": request.reference,
            "amount": str(request.amount),
            "currency": request.currency,
            "description": request.description[:120],
            "notify_url": request.notify_url,
            "return_url": request.return_url,
            "expires": str(expires),
            "m_subscriber_id": request.subscriber_id,
            "m_invoice_id": request.invoice_id,
            "m_tenant_id": request.tenant_id,
        }
        canonical = "&".join(f"{k}={params[k]}" for k in sorted(params))
        params["signature"] = hmac.new(
            account.webhook_secret.encode(), canonical.encode(), hashlib.sha256
        ).hexdigest()
        base = str(account.options.get("checkout_url") or self.default_checkout_url)
        return CheckoutSession(request.reference, self.name, f"{base}?{urlencode(params)}", expires)

    def parse_webhook(
        self, rt: Runtime, tenant_id: str, account: ProviderAccount, request: WebhookRequest
    ) -> WebhookEvent:
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            raise UnauthorizedError("missing Wisp-Signature header")
        timestamp, macs = _parse_signature_header(header)
        body = request.body
        expected = hmac.new(
            account.webhook_secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
        ).hexdigest()
        if not any(hmac.compare_digest(expected, m) for m in macs):
            raise UnauthorizedError("webhook signature does not match")
        if abs(request.now - timestamp) > SIGNATURE_TOLERANCE_S:
            raise UnauthorizedError("webhook timestamp outside the tolerance window (possible replay)")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ValidationError("webhook body is not JSON", field="body") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            raise ValidationError("webhook body must be an object with data", field="data")
        event_id, event_type = payload.get("id"), payload.get("type")
        if not isinstance(event_id, str) or not 1 <= len(event_id) <= 200:
            raise ValidationError("event id is required", field="id")
        if not isinstance(event_type, str) or not event_type:
            raise ValidationError("event type is required", field="type")
        data = payload["data"]
        currency = str(data.get("currency") or "").upper() or None

        def amount(key: str) -> Decimal | None:
            if data.get(key) is None:
                return None
            return positive_amount(str(data[key]), currency_or_default(currency), f"data.{key}")

        metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        created = payload.get("created")
        return WebhookEvent(
            id=event_id,
            type=event_type,
            created=int(created) if isinstance(created, int) else timestamp,
            reference=str(data["reference"]) if data.get("reference") else None,
            provider_payment_id=str(data["payment_id"]) if data.get("payment_id") else None,
            amount=amount("amount"),
            currency=currency,
            metadata={str(k): str(v) for k, v in metadata.items()},
            reversed_total=amount("amount_reversed"),
            reversal_id=str(data["reversal_id"]) if data.get("reversal_id") else None,
        )

    def test_connection(self, rt: Runtime, account: ProviderAccount) -> ConnectionCheck:
        return ConnectionCheck(
            True, account.mode, False, account.api_key or None, "the local checkout needs no account"
        )
