"""Mercado Pago adapter (official ``mercadopago`` SDK): Checkout Pro preferences, signed webhooks
confirmed by fetching the payment.

- **Checkout**: ``POST /checkout/preferences`` with one item for what is owed on the invoice, our
  checkout id as ``external_reference`` and in ``metadata``, ``back_urls`` to the subscriber's
  checkout page, ``notification_url`` to the tenant's webhook URL, expiring in 24 h. The customer
  goes to ``init_point`` (``sandbox_init_point`` with test credentials).
- **Webhooks**: ``x-signature: ts=<unix>,v1=<hex>`` where v1 is the HMAC-SHA256, keyed with the
  application's secret signature, of the manifest ``id:<data.id>;request-id:<x-request-id>;ts:<ts>;``
  (``data.id`` from the query string, lower-cased when alphanumeric) — verified with the SDK's
  validator and a 5-minute tolerance. The notification only names the payment: its status is read
  with ``GET /v1/payments/{id}``, so a forged or stale body can never state one.
- **Statuses**: ``approved`` → paid (with ``transaction_amount_refunded`` > 0 → refunded, cumulative);
  ``pending``/``in_process``/``authorized`` → pending; ``refunded`` → refunded; ``charged_back`` →
  charge-back while its ``status_detail`` is ``in_process`` or ``settled`` (decided against the
  seller), dispute won when it is ``reimbursed`` (decided for the seller, or covered by Mercado Pago);
  a payment ``approved`` again after a charge-back has no charge-back standing (won as well); anything
  else (rejected, cancelled, in mediation) is acknowledged without effect.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import mercadopago
from mercadopago.config import RequestOptions
from mercadopago.http import HttpClient
from mercadopago.webhook import InvalidWebhookSignatureError, WebhookSignatureValidator

from core.errors import UnauthorizedError, ValidationError
from core.ids import utcnow
from core.money import exponent, to_decimal
from services.billing.online.gateway import (
    CHARGED_BACK,
    CHECKOUT_TTL_S,
    DISPUTE_WON,
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

DEFAULT_API_BASE = "https://api.mercadopago.com"
_ALNUM = re.compile(r"^[A-Za-z0-9]+$")


class _BaseUrlClient(HttpClient):  # type: ignore[misc]
    """The SDK's own HTTP client, pointed at another base URL (a local double in tests)."""

    def __init__(self, base: str) -> None:
        self._base = base.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if url.startswith(DEFAULT_API_BASE):
            url = self._base + url[len(DEFAULT_API_BASE) :]
        return super().request(method, url, *args, **kwargs)


def _sdk(rt: Runtime, account: ProviderAccount) -> Any:
    options = RequestOptions(
        access_token=account.api_key,
        connection_timeout=float(rt.settings.payment_provider_timeout_s),
        max_retries=1,
    )
    base = rt.settings.mercadopago_api_base
    client = _BaseUrlClient(base) if base else None
    return mercadopago.SDK(account.api_key, http_client=client, request_options=options)


def _result(call: Any, what: str) -> dict[str, Any]:
    """The response body of an SDK call, or a typed failure."""
    try:
        result = call()
    except Exception as exc:  # the SDK raises requests' and its own errors
        raise ProviderCallError(f"Mercado Pago could not be reached ({what}): {type(exc).__name__}") from exc
    status = int(result.get("status") or 0)
    body = result.get("response")
    if status in (401, 403):
        raise ProviderCallError("Mercado Pago refused the access token", refused=True)
    if not 200 <= status < 300 or not isinstance(body, dict):
        message = body.get("message") if isinstance(body, dict) else None
        raise ProviderCallError(
            f"Mercado Pago answered {status} to {what}" + (f": {message}" if message else ""),
            refused=400 <= status < 500,
        )
    return body


def _number(amount: Decimal, currency: str) -> int | float:
    """Mercado Pago takes JSON numbers; an amount already rounded to the currency is exact in them."""
    return int(amount) if exponent(currency) == 0 else float(amount)


class MercadoPagoProvider:
    name = "mercadopago"
    keyed_by_payment = True

    def create_checkout(
        self, rt: Runtime, account: ProviderAccount, request: CheckoutRequest
    ) -> CheckoutSession:
        expires = utcnow() + timedelta(seconds=CHECKOUT_TTL_S)
        preference: dict[str, Any] = {
            "items": [
                {
                    "id": request.invoice_id,
                    "title": request.description[:120],
                    "quantity": 1,
                    "currency_id": request.currency,
                    "unit_price": _number(request.amount, request.currency),
                }
            ],
            "external_reference": request.reference,
            "metadata": {
                "wisp_checkout": request.reference,
                "tenant_id": request.tenant_id,
                "subscriber_id": request.subscriber_id,
                "invoice_id": request.invoice_id,
            },
            "back_urls": {
                "success": request.return_url + "?result=success",
                "pending": request.return_url + "?result=pending",
                "failure": request.return_url + "?result=failure",
            },
            "auto_return": "approved",
            "notification_url": request.notify_url + "?source_news=webhooks",
            "expires": True,
            "expiration_date_to": expires.isoformat(timespec="milliseconds"),
        }
        if request.customer_email:
            preference["payer"] = {"email": request.customer_email}
        sdk = _sdk(rt, account)
        body = _result(lambda: sdk.preference().create(preference), "the checkout preference")
        url = body.get("sandbox_init_point") if account.mode == "test" else body.get("init_point")
        url = url or body.get("init_point")
        if not url:
            raise ProviderCallError("Mercado Pago returned a preference without a checkout URL")
        return CheckoutSession(
            request.reference, self.name, str(url), int(expires.timestamp()), str(body.get("id") or "")
        )

    def parse_webhook(
        self, rt: Runtime, tenant_id: str, account: ProviderAccount, request: WebhookRequest
    ) -> WebhookEvent:
        try:
            payload = json.loads(request.body) if request.body.strip() else {}
        except ValueError as exc:
            raise ValidationError("webhook body is not JSON", field="body") from exc
        if not isinstance(payload, dict):
            raise ValidationError("webhook body must be an object", field="body")
        data: dict[str, Any] = payload["data"] if isinstance(payload.get("data"), dict) else {}
        data_id = request.query.get("data.id") or request.query.get("id") or str(data.get("id") or "")
        topic = request.query.get("type") or request.query.get("topic") or str(payload.get("type") or "")
        if not data_id:
            raise ValidationError("data.id is required", field="data.id")
        # the manifest takes data.id lower-cased when it is alphanumeric (documented rule)
        signed_id = data_id.lower() if _ALNUM.match(data_id) else data_id
        if not account.webhook_secret:
            raise UnauthorizedError("no Mercado Pago secret signature is configured for this account")
        try:
            WebhookSignatureValidator.validate(
                request.headers.get("x-signature"),
                request.headers.get("x-request-id"),
                signed_id,
                account.webhook_secret,
                tolerance_seconds=SIGNATURE_TOLERANCE_S,
                now=lambda: int(request.now * 1000),
            )
        except InvalidWebhookSignatureError as exc:
            raise UnauthorizedError(f"Mercado Pago signature refused: {exc.reason.value}") from exc
        notification_id = str(payload.get("id") or request.headers.get("x-request-id") or data_id)
        created = int(request.now)
        if topic != "payment":
            return WebhookEvent(
                id=notification_id,
                type=f"mercadopago.{topic or 'unknown'}",
                created=created,
                reference=None,
                provider_payment_id=None,
                amount=None,
                currency=None,
            )
        sdk = _sdk(rt, account)
        payment = _result(lambda: sdk.payment().get(data_id), "the payment lookup")
        return payment_event(notification_id, created, payment)

    def test_connection(self, rt: Runtime, account: ProviderAccount) -> ConnectionCheck:
        sdk = _sdk(rt, account)
        try:
            me = _result(lambda: sdk.user().get(), "the account lookup")
        except ProviderCallError as exc:
            return ConnectionCheck(False, account.mode, None, None, str(exc))
        livemode = account.api_key.startswith("APP_USR-")
        label = f"{me.get('id')}" + (
            f" ({me.get('nickname')}, {me.get('site_id')})" if me.get("nickname") else ""
        )
        return ConnectionCheck(True, account.mode, livemode, label, "the access token is accepted")


def payment_event(notification_id: str, created: int, payment: dict[str, Any]) -> WebhookEvent:
    """Map a fetched Mercado Pago payment (``GET /v1/payments/{id}``) to our event."""
    status = str(payment.get("status") or "")
    currency = str(payment.get("currency_id") or "").upper() or None
    metadata = {str(k): str(v) for k, v in (payment.get("metadata") or {}).items()}
    amount = to_decimal(str(payment.get("transaction_amount") or "0"), "transaction_amount")
    refunded = to_decimal(
        str(payment.get("transaction_amount_refunded") or "0"), "transaction_amount_refunded"
    )
    kind = f"mercadopago.{status or 'unknown'}"
    reversed_total: Decimal | None = None
    if status == "approved":
        kind = REFUNDED if refunded > 0 else PAID
        reversed_total = refunded if refunded > 0 else None
    elif status in ("pending", "in_process", "authorized"):
        kind = PENDING
    elif status == "refunded":
        kind, reversed_total = REFUNDED, refunded if refunded > 0 else amount
    elif status == "charged_back":
        kind, reversed_total = CHARGED_BACK, amount
        if payment.get("status_detail") == "reimbursed":  # the charge-back was decided for the seller
            kind = DISPUTE_WON
    payment_id = str(payment.get("id") or "") or None
    return WebhookEvent(
        id=notification_id,
        type=kind,
        created=created,
        reference=str(payment.get("external_reference") or "") or metadata.get("wisp_checkout"),
        provider_payment_id=payment_id,
        amount=amount if amount > 0 else None,
        currency=currency,
        metadata=metadata,
        reversed_total=reversed_total,
        reversal_id=payment_id,
        won_total=amount if kind == DISPUTE_WON else None,
        chargeback_cleared=status == "approved",
        captured=status in ("approved", "refunded", "charged_back"),
    )
