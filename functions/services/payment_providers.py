"""Online payments (SPEC S5) and bank-transfer reports.

**Provider interface.** A :class:`PaymentProvider` creates a *hosted checkout* (the customer pays on the
provider's page; no card data ever reaches us) and turns the provider's webhook request into a verified
:class:`WebhookEvent`. :class:`HostedCheckoutProvider` is shaped like the common gateways (Stripe
Checkout, Mercado Pago, PayU WebCheckout):

- the checkout URL carries the merchant (tenant), our checkout reference, amount, currency and the
  notify/return URLs, signed with the tenant's secret so the amount cannot be edited in the browser;
- the webhook carries ``Wisp-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``
  (several ``v1`` values are accepted during a secret rotation); a timestamp older or newer than
  :data:`SIGNATURE_TOLERANCE_S` is refused, so a captured request cannot be replayed later.

**Applying a payment exactly once.** Providers deliver webhooks at least once, retry, and do not
keep order. Each event id is recorded (conditional write) and a processed event is answered
``duplicate`` without effect; the payment itself goes through the billing payment operation with the
idempotency key ``checkout:<reference>``, so two *different* events for the same checkout (completed
twice, or a retry of a half-processed event) still record one payment. An ``expired`` event never
undoes a payment, and a ``completed`` event that arrives after ``expired`` is still applied: a
customer who paid is never left cut off. The billing operation pays the checkout's invoice first and
reactivates a suspended subscriber once nothing overdue remains (or as the tenant's reconnection rule
says; the checkout status states the decision).

**Bank transfers.** The customer reports a payment (amount, reference, date); an operator confirms it
(applied through the same billing operation, key ``report:<id>``) or rejects it.

The webhook secret of a tenant is derived from the root data key (``wisp-webhook-<tenant id>``); the
operator copies it into the provider's dashboard (admin route).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlencode

from core.errors import (
    ConflictError,
    InvalidStateError,
    NotFoundError,
    UnauthorizedError,
    ValidationError,
)
from core.ids import new_id, now_iso
from core.invoice_ids import from_path
from core.money import quantize, to_decimal
from services.audit import record_audit
from shared.observability import get_logger
from shared.runtime import Runtime
from store import portal as portal_store
from store import tenants as tenant_store
from store.models import Invoice, Payment, Subscriber, Tenant

log = get_logger("payments")

SIGNATURE_HEADER = "wisp-signature"
SIGNATURE_TOLERANCE_S = 300
CHECKOUT_TTL_S = 24 * 3600  # the provider page accepts the payment for a day
CHECKOUT_RECORD_TTL_S = 120 * 24 * 3600  # kept long after: late webhooks still find their checkout
EVENT_RECORD_TTL_S = 120 * 24 * 3600
UNPAID = ("pending", "partial")
REPORT_METHODS = ("bank_transfer", "deposit", "cash", "other")


# ---------------------------------------------------------------- provider interface
@dataclass(frozen=True)
class CheckoutRequest:
    reference: str  # our checkout id: the provider echoes it in every event
    tenant_id: str
    subscriber_id: str
    invoice_id: str
    amount: Decimal
    currency: str
    description: str
    notify_url: str
    return_url: str


@dataclass(frozen=True)
class CheckoutSession:
    reference: str
    provider: str
    url: str
    expires_at: int


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str  # checkout.completed | checkout.expired | anything else (ignored)
    created: int
    reference: str | None
    provider_payment_id: str | None
    amount: Decimal | None
    currency: str | None
    metadata: dict[str, str] = field(default_factory=dict)


class PaymentProvider(Protocol):
    name: str

    def create_checkout(
        self, rt: Runtime, config: dict[str, Any], request: CheckoutRequest
    ) -> CheckoutSession:
        """Open a hosted checkout for the request; returns where to send the customer."""
        ...

    def parse_webhook(
        self, rt: Runtime, tenant_id: str, headers: dict[str, str], body: bytes, now: float
    ) -> WebhookEvent:
        """Verify the request came from the provider (signature, freshness) and parse it."""
        ...


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


def _money(value: Any, currency: str, what: str) -> Decimal:
    amount = to_decimal(value, what)
    if amount <= 0:
        raise ValidationError(f"{what} must be positive", field=what)
    return quantize(amount, currency)


class HostedCheckoutProvider:
    """A redirect (hosted page) gateway with HMAC-signed webhooks."""

    name = "hosted"
    default_checkout_url = "https://checkout.wisppay.example/pay"

    def create_checkout(
        self, rt: Runtime, config: dict[str, Any], request: CheckoutRequest
    ) -> CheckoutSession:
        expires = int(time.time()) + CHECKOUT_TTL_S
        params = {
            "merchant": str(config.get("merchant_id") or request.tenant_id),
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
            webhook_secret(rt, request.tenant_id).encode(), canonical.encode(), hashlib.sha256
        ).hexdigest()
        base = str(config.get("checkout_url") or self.default_checkout_url)
        return CheckoutSession(request.reference, self.name, f"{base}?{urlencode(params)}", expires)

    def parse_webhook(
        self, rt: Runtime, tenant_id: str, headers: dict[str, str], body: bytes, now: float
    ) -> WebhookEvent:
        lower = {k.lower(): v for k, v in headers.items()}
        header = lower.get(SIGNATURE_HEADER)
        if not header:
            raise UnauthorizedError("missing Wisp-Signature header")
        timestamp, macs = _parse_signature_header(header)
        secret = webhook_secret(rt, tenant_id).encode()
        expected = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        if not any(hmac.compare_digest(expected, m) for m in macs):
            raise UnauthorizedError("webhook signature does not match")
        if abs(now - timestamp) > SIGNATURE_TOLERANCE_S:
            raise UnauthorizedError("webhook timestamp outside the tolerance window (possible replay)")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
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
        amount = None
        if data.get("amount") is not None:
            amount = _money(str(data["amount"]), currency or "USD", "data.amount")
        metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        created = payload.get("created")
        return WebhookEvent(
            id=event_id,
            type=event_type,
            created=int(created) if isinstance(created, int) else timestamp,
            reference=str(data["reference"]) if data.get("reference") else None,
            provider_payment_id=str(data["payment_id"]) if data.get("payment_id") else None,
            amount=amount,
            currency=currency,
            metadata={str(k): str(v) for k, v in metadata.items()},
        )


PROVIDERS: dict[str, PaymentProvider] = {HostedCheckoutProvider.name: HostedCheckoutProvider()}


def payment_config(tenant: Tenant) -> dict[str, Any]:
    """The tenant's online-payment settings (``Tenant.settings["payments"]``)."""
    cfg = (tenant.settings or {}).get("payments") or {}
    return dict(cfg) if isinstance(cfg, dict) else {}


def provider_for(tenant: Tenant) -> tuple[PaymentProvider, dict[str, Any]]:
    cfg = payment_config(tenant)
    if not cfg.get("enabled"):
        raise InvalidStateError("online payments are not enabled by your provider", field="payments")
    provider = PROVIDERS.get(str(cfg.get("provider") or HostedCheckoutProvider.name))
    if provider is None:
        raise InvalidStateError("the configured payment provider is not available", field="payments")
    return provider, cfg


def _tenant(tenant_id: str) -> Tenant:
    tenant = tenant_store.get_tenant(tenant_id) if portal_store.usable_key(tenant_id) else None
    if tenant is None or not tenant.active:
        raise NotFoundError("tenant not found", field="tenant_id")
    return tenant


def webhook_url(rt: Runtime, tenant_id: str, provider: str = HostedCheckoutProvider.name) -> str:
    """Where the provider sends its events for this tenant."""
    return f"{rt.settings.public_base_url.rstrip('/')}/portal/payments/webhooks/{provider}/{tenant_id}"


def configure_payments(
    rt: Runtime, tenant: Tenant, changes: dict[str, Any], actor_id: str, request_id: str | None = None
) -> dict[str, Any]:
    """Enable/disable online payments for a tenant and set the provider's checkout URL and merchant id."""
    before = payment_config(tenant)
    after = {**before, **{k: v for k, v in changes.items() if v is not None}}
    if "provider" in after and after["provider"] not in PROVIDERS:
        raise ValidationError(f"provider must be one of {', '.join(PROVIDERS)}", field="provider")
    settings = dict(tenant.settings or {})
    settings["payments"] = after
    tenant_store.update_tenant(tenant, {"settings": settings})
    record_audit(
        actor_id, "operator", tenant.id, "tenant", tenant.id, "configure_payments", before, after, request_id
    )
    return after


# ---------------------------------------------------------------- checkout
def _checkout_key(reference: str) -> str:
    return f"checkout#{reference}"


def start_checkout(rt: Runtime, sub: Subscriber, invoice: Invoice) -> CheckoutSession:
    """Open a hosted checkout for what is still owed on one of the subscriber's invoices."""
    if invoice.status not in UNPAID:
        raise InvalidStateError(f"the invoice is {invoice.status}; nothing to pay", field="invoice_id")
    currency = invoice.currency or "USD"
    due = quantize(to_decimal(invoice.total) - to_decimal(invoice.paid), currency)
    if due <= 0:
        raise InvalidStateError("nothing is owed on this invoice", field="invoice_id")
    tenant = _tenant(sub.tenant_id)
    provider, cfg = provider_for(tenant)
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
        return_url=f"{base}/portal/payments/checkouts/{reference}",
    )
    session = provider.create_checkout(rt, cfg, request)
    portal_store.put_record_once(
        _checkout_key(reference),
        "checkout",
        {
            "provider": provider.name,
            "tenant_id": sub.tenant_id,
            "subscriber_id": sub.id,
            "invoice_id": invoice.id,
            "amount": str(due),
            "currency": currency,
            "status": "open",
            "expires_at": session.expires_at,
            "created_at": now_iso(),
        },
        CHECKOUT_RECORD_TTL_S,
        tenant_id=sub.tenant_id,
    )
    log.info("checkout opened", extra={"reference": reference, "invoice_id": invoice.id})
    return session


def checkout_status(sub: Subscriber, reference: str) -> dict[str, Any]:
    rec = portal_store.get_record(_checkout_key(reference))
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


def _set_checkout(reference: str, update: dict[str, Any], only_from: tuple[str, ...]) -> None:
    """Move a checkout record's status (optimistic, retried); statuses outside ``only_from`` stay."""
    for _ in range(5):
        rec = portal_store.get_record(_checkout_key(reference))
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
    payment operation (:func:`services.billing.register_payment`): once per idempotency key, paying
    ``invoice_id`` (the invoice the checkout or report was for) first and then the oldest unpaid, and
    reactivating a suspended subscriber when the tenant's reconnection rule allows it (status + router
    task). Every provider adapter applies money through this function."""
    from services import billing

    result = billing.register_payment(
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


@dataclass(frozen=True)
class WebhookOutcome:
    status: str  # applied | duplicate | ignored | expired
    event_id: str
    payment_id: str | None = None


def handle_webhook(
    rt: Runtime,
    tenant_id: str,
    provider_name: str,
    headers: dict[str, str],
    body: bytes,
    now: float | None = None,
) -> WebhookOutcome:
    """Verify and process one provider callback. Safe to receive twice, late or out of order."""
    provider = PROVIDERS.get(provider_name)
    if provider is None:
        raise NotFoundError("unknown payment provider", field="provider")
    _tenant(tenant_id)
    event = provider.parse_webhook(rt, tenant_id, headers, body, time.time() if now is None else now)
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
        # a delivery that failed half-way: process again (the payment key keeps it single)
    outcome = _process_event(rt, tenant_id, provider.name, event)
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


def _process_event(rt: Runtime, tenant_id: str, provider: str, event: WebhookEvent) -> WebhookOutcome:
    if event.type == "checkout.expired":
        if event.reference:
            _set_checkout(event.reference, {"status": "expired"}, only_from=("open",))
        return WebhookOutcome("expired", event.id)
    if event.type != "checkout.completed":
        return WebhookOutcome("ignored", event.id)
    if not event.reference:
        raise ValidationError("data.reference is required", field="data.reference")
    rec = portal_store.get_record(_checkout_key(event.reference))
    data = dict(rec.data or {}) if rec is not None else {}
    # The checkout record is authoritative; a very late event falls back to the signed metadata.
    subscriber_id = data.get("subscriber_id") or event.metadata.get("subscriber_id")
    invoice_id = data.get("invoice_id") or event.metadata.get("invoice_id")
    record_tenant = data.get("tenant_id") or event.metadata.get("tenant_id") or tenant_id
    if not subscriber_id or record_tenant != tenant_id:
        raise ValidationError("the event names no checkout of this account", field="data.reference")
    sub = portal_store.find_subscriber(str(subscriber_id))
    if sub is None or sub.tenant_id != tenant_id:
        raise ValidationError("the event names no subscriber of this account", field="data.reference")
    tenant_currency = (_tenant(tenant_id).currency or "USD").upper()
    currency = event.currency or data.get("currency") or tenant_currency
    if currency != tenant_currency or (data.get("currency") and currency != data["currency"]):
        raise ValidationError("the event currency differs from the account's", field="data.currency")
    amount = event.amount if event.amount is not None else to_decimal(data.get("amount"))
    if amount <= 0:
        raise ValidationError("the event has no amount", field="data.amount")
    # The reference is the checkout (stable across the provider's events): the billing operation sees
    # every event of one checkout as the same request.
    applied = apply_confirmed_payment(
        rt,
        tenant_id=tenant_id,
        subscriber_id=sub.id,
        amount=amount,
        idempotency_key=f"checkout:{event.reference}",
        method=f"online:{provider}",
        reference=event.reference,
        notes=f"invoice {invoice_id}" if invoice_id else None,
        source="webhook",
        actor_id=f"provider:{provider}",
        actor_kind="system",
        invoice_id=str(invoice_id) if invoice_id else None,
    )
    _set_checkout(
        event.reference,
        {
            "status": "paid",
            "payment_id": applied.payment_id,
            "paid_at": now_iso(),
            "reconnection": applied.reconnection,
        },
        only_from=("open", "expired"),
    )
    log.info(
        "online payment applied",
        extra={"event_id": event.id, "payment_id": applied.payment_id, "duplicate": applied.duplicate},
    )
    return WebhookOutcome("duplicate" if applied.duplicate else "applied", event.id, applied.payment_id)


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
    tenant = _tenant(sub.tenant_id)
    currency = tenant.currency or "USD"
    if invoice_id:
        stored = from_path(invoice_id)
        inv = portal_store.find_invoice(stored) if stored is not None else None
        if inv is None or inv.subscriber_id != sub.id:
            raise NotFoundError("invoice not found", field="invoice_id")
        if inv.status not in UNPAID:
            raise InvalidStateError(f"the invoice is {inv.status}; nothing to pay", field="invoice_id")
        currency = inv.currency or currency
    value = _money(amount, currency, "amount")
    if paid_on > date.today():
        raise ValidationError("paid_on cannot be in the future", field="paid_on")
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
    payment = portal_store.find_payment(payment_id)
    if payment is None or payment.kind != "reported":
        raise NotFoundError("payment report not found", field="payment_id")
    return payment


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
    value = _money(amount if amount is not None else report.amount, report.currency, "amount")
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
