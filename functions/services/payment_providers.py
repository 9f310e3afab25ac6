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
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from core.errors import (
    ConflictError,
    InvalidStateError,
    NotFoundError,
    UnauthorizedError,
    UnavailableError,
    ValidationError,
)
from core.ids import new_id, now_iso
from core.invoice_ids import from_path
from core.money import quantize, to_decimal
from services import payment_reversals
from services.audit import record_audit
from services.payment_gateway import (
    CHARGED_BACK,
    EXPIRED,
    MODES,
    PAID,
    PENDING,
    REFUNDED,
    CheckoutRequest,
    CheckoutSession,
    ConnectionCheck,
    PaymentProvider,
    ProviderAccount,
    ProviderCallError,
    WebhookEvent,
    WebhookRequest,
)
from services.payment_mercadopago import MercadoPagoProvider
from services.payment_stripe import StripeProvider
from shared.crypto import CryptoError
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
    """The local/demo provider: a redirect (hosted page) gateway with HMAC-signed webhooks. It needs
    no account anywhere, so ``make run`` completes a payment end to end."""

    name = "hosted"
    keyed_by_payment = False  # its events name the checkout; one payment per checkout
    default_checkout_url = "https://checkout.wisppay.example/pay"

    def create_checkout(
        self, rt: Runtime, account: ProviderAccount, request: CheckoutRequest
    ) -> CheckoutSession:
        expires = int(time.time()) + CHECKOUT_TTL_S
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
            return _money(str(data[key]), currency or "USD", f"data.{key}")

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


PROVIDERS: dict[str, PaymentProvider] = {
    p.name: p for p in (HostedCheckoutProvider(), StripeProvider(), MercadoPagoProvider())
}
# the providers that need a tenant's own account (keys entered by the operator)
ACCOUNT_PROVIDERS = (StripeProvider.name, MercadoPagoProvider.name)


def payment_config(tenant: Tenant) -> dict[str, Any]:
    """The tenant's online-payment settings (``Tenant.settings["payments"]``)."""
    cfg = (tenant.settings or {}).get("payments") or {}
    return dict(cfg) if isinstance(cfg, dict) else {}


def _accounts(cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    accounts = cfg.get("accounts")
    return (
        {k: dict(v) for k, v in accounts.items() if isinstance(v, dict)} if isinstance(accounts, dict) else {}
    )


def provider_account(rt: Runtime, tenant: Tenant, provider: str) -> ProviderAccount:
    """The tenant's credentials for ``provider``, decrypted (the hosted one derives its secret)."""
    cfg = payment_config(tenant)
    if provider == HostedCheckoutProvider.name:
        return ProviderAccount(
            provider,
            "test",
            str(cfg.get("merchant_id") or tenant.id),
            webhook_secret(rt, tenant.id),
            {"checkout_url": cfg.get("checkout_url")},
        )
    acct = _accounts(cfg).get(provider)
    if not acct or not acct.get("api_key_enc"):
        raise InvalidStateError(f"no {provider} account is connected", field="provider")
    try:
        api_key = rt.box.decrypt(str(acct["api_key_enc"]))
        secret = rt.box.decrypt(str(acct["webhook_secret_enc"])) if acct.get("webhook_secret_enc") else ""
    except CryptoError as exc:
        raise InvalidStateError(
            f"the {provider} keys cannot be read; enter them again", field="provider"
        ) from exc
    return ProviderAccount(provider, str(acct.get("mode") or "test"), api_key, secret)


def enabled_providers(tenant: Tenant) -> list[str]:
    """The providers a subscriber of the tenant can pay with, the default first."""
    cfg = payment_config(tenant)
    if not cfg.get("enabled"):
        return []
    default = str(cfg.get("provider") or HostedCheckoutProvider.name)
    accounts = _accounts(cfg)
    names = [default] + [p for p in ACCOUNT_PROVIDERS if p != default and accounts.get(p, {}).get("enabled")]
    return [n for n in names if n == HostedCheckoutProvider.name or accounts.get(n, {}).get("api_key_enc")]


def provider_for(tenant: Tenant, requested: str | None = None) -> PaymentProvider:
    names = enabled_providers(tenant)
    if not names:
        raise InvalidStateError("online payments are not enabled by your provider", field="payments")
    name = requested or names[0]
    if name not in names or name not in PROVIDERS:
        raise ValidationError(f"provider must be one of {', '.join(names)}", field="provider")
    return PROVIDERS[name]


def _tenant(tenant_id: str) -> Tenant:
    tenant = tenant_store.get_tenant(tenant_id) if portal_store.usable_key(tenant_id) else None
    if tenant is None or not tenant.active:
        raise NotFoundError("tenant not found", field="tenant_id")
    return tenant


def tenant_of(sub: Subscriber) -> Tenant:
    return _tenant(sub.tenant_id)


def webhook_url(rt: Runtime, tenant_id: str, provider: str = HostedCheckoutProvider.name) -> str:
    """Where the provider sends its events for this tenant."""
    return f"{rt.settings.public_base_url.rstrip('/')}/portal/payments/webhooks/{provider}/{tenant_id}"


def _save_config(
    tenant: Tenant,
    before: dict[str, Any],
    after: dict[str, Any],
    actor_id: str,
    action: str,
    request_id: str | None,
) -> None:
    settings = dict(tenant.settings or {})
    settings["payments"] = after
    tenant_store.update_tenant(tenant, {"settings": settings})
    record_audit(
        actor_id,
        "operator",
        tenant.id,
        "tenant",
        tenant.id,
        action,
        _redacted(before),
        _redacted(after),
        request_id,
    )


def _redacted(cfg: dict[str, Any]) -> dict[str, Any]:
    """Settings as the audit log keeps them: no key material, not even encrypted."""
    out = {k: v for k, v in cfg.items() if k != "accounts"}
    out["accounts"] = {p: account_view_fields(a) for p, a in _accounts(cfg).items()}
    return out


def configure_payments(
    rt: Runtime, tenant: Tenant, changes: dict[str, Any], actor_id: str, request_id: str | None = None
) -> dict[str, Any]:
    """Enable/disable online payments for a tenant, choose the default provider, and set the local
    checkout's URL and merchant id."""
    before = payment_config(tenant)
    after = {**before, **{k: v for k, v in changes.items() if v is not None}}
    provider = after.get("provider")
    if provider is not None and provider not in PROVIDERS:
        raise ValidationError(f"provider must be one of {', '.join(PROVIDERS)}", field="provider")
    if provider in ACCOUNT_PROVIDERS and not _accounts(after).get(str(provider), {}).get("api_key_enc"):
        raise ValidationError(
            f"connect a {provider} account first (PUT /admin/payment-settings/accounts/{provider})",
            field="provider",
        )
    _save_config(tenant, before, after, actor_id, "configure_payments", request_id)
    return after


# ---------------------------------------------------------------- provider accounts
KEY_PREFIXES: dict[str, dict[str, tuple[str, ...]]] = {
    # provider: {mode: accepted secret-key prefixes}
    "stripe": {"test": ("sk_test_", "rk_test_"), "live": ("sk_live_", "rk_live_")},
    "mercadopago": {"test": ("TEST-",), "live": ("APP_USR-",)},
}


def _hint(value: str) -> str:
    return "…" + value[-4:] if len(value) >= 12 else "…"


def account_view_fields(acct: dict[str, Any]) -> dict[str, Any]:
    return {
        "mode": acct.get("mode") or "test",
        "enabled": bool(acct.get("enabled")),
        "configured": bool(acct.get("api_key_enc")),
        "key_hint": acct.get("key_hint"),
        "webhook_secret_set": bool(acct.get("webhook_secret_enc")),
        "updated_at": acct.get("updated_at"),
        "last_check": acct.get("last_check"),
    }


def account_views(rt: Runtime, tenant: Tenant) -> list[dict[str, Any]]:
    """What the operator sees of each provider account: never a key, only whether one is set."""
    accounts = _accounts(payment_config(tenant))
    return [
        {
            "provider": name,
            **account_view_fields(accounts.get(name, {})),
            "webhook_url": webhook_url(rt, tenant.id, name),
        }
        for name in ACCOUNT_PROVIDERS
    ]


def configure_account(
    rt: Runtime,
    tenant: Tenant,
    provider: str,
    changes: dict[str, Any],
    actor_id: str,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Connect or update a tenant's Stripe / Mercado Pago account. Keys are encrypted at rest and
    write-only: nothing returns them. The key must belong to the chosen mode (test or live)."""
    if provider not in ACCOUNT_PROVIDERS:
        raise NotFoundError(f"provider must be one of {', '.join(ACCOUNT_PROVIDERS)}", field="provider")
    before = payment_config(tenant)
    accounts = _accounts(before)
    acct = dict(accounts.get(provider, {}))
    mode = str(changes.get("mode") or acct.get("mode") or "test")
    if mode not in MODES:
        raise ValidationError("mode must be test or live", field="mode")
    api_key = changes.get("api_key")
    if api_key is None and acct.get("api_key_enc") and mode != acct.get("mode"):
        raise ValidationError(f"a {mode} key is needed to switch to {mode} mode", field="api_key")
    if api_key is not None:
        api_key = str(api_key).strip()
        if not api_key.startswith(KEY_PREFIXES[provider][mode]):
            raise ValidationError(
                f"a {provider} {mode} key starts with {' or '.join(KEY_PREFIXES[provider][mode])}",
                field="api_key",
            )
        acct["api_key_enc"] = rt.box.encrypt(api_key)
        acct["key_hint"] = _hint(api_key)
    secret = changes.get("webhook_secret")
    if secret is not None:
        secret = str(secret).strip()
        if provider == "stripe" and not secret.startswith("whsec_"):
            raise ValidationError("a Stripe signing secret starts with whsec_", field="webhook_secret")
        acct["webhook_secret_enc"] = rt.box.encrypt(secret)
    if not acct.get("api_key_enc"):
        raise ValidationError("api_key is required to connect an account", field="api_key")
    acct["mode"] = mode
    if changes.get("enabled") is not None:
        acct["enabled"] = bool(changes["enabled"])
    else:
        acct.setdefault("enabled", True)
    acct["updated_at"] = now_iso()
    after = {**before, "accounts": {**accounts, provider: acct}}
    if not acct["enabled"] and after.get("provider") == provider:
        after["provider"] = HostedCheckoutProvider.name  # the default cannot be a disabled account
    _save_config(tenant, before, after, actor_id, "configure_payment_account", request_id)
    return {
        "provider": provider,
        **account_view_fields(acct),
        "webhook_url": webhook_url(rt, tenant.id, provider),
    }


def remove_account(tenant: Tenant, provider: str, actor_id: str, request_id: str | None = None) -> None:
    """Disconnect a provider account (its keys are deleted). Checkouts already open stay payable:
    their webhooks are refused until an account is connected again, and the provider retries."""
    if provider not in ACCOUNT_PROVIDERS:
        raise NotFoundError(f"provider must be one of {', '.join(ACCOUNT_PROVIDERS)}", field="provider")
    before = payment_config(tenant)
    accounts = _accounts(before)
    if provider not in accounts:
        raise NotFoundError(f"no {provider} account is connected", field="provider")
    accounts.pop(provider)
    after = {**before, "accounts": accounts}
    if after.get("provider") == provider:
        after["provider"] = HostedCheckoutProvider.name
    _save_config(tenant, before, after, actor_id, "remove_payment_account", request_id)


def check_account(rt: Runtime, tenant: Tenant, provider: str, actor_id: str) -> dict[str, Any]:
    """ "Test connection": one harmless authenticated call to the provider with the stored keys; the
    result is kept on the account (shown with the settings)."""
    if provider not in PROVIDERS:
        raise NotFoundError(f"provider must be one of {', '.join(PROVIDERS)}", field="provider")
    account = provider_account(rt, tenant, provider)
    check = PROVIDERS[provider].test_connection(rt, account)
    if check.ok and check.livemode is not None and check.livemode != (account.mode == "live"):
        check = ConnectionCheck(
            False, check.mode, check.livemode, check.account, f"the key is not a {account.mode}-mode key"
        )
    out = {
        "provider": provider,
        "ok": check.ok,
        "mode": check.mode,
        "livemode": check.livemode,
        "account": check.account,
        "detail": check.detail,
        "webhook_url": webhook_url(rt, tenant.id, provider),
        "webhook_secret_set": bool(account.webhook_secret),
        "checked_at": now_iso(),
    }
    if provider in ACCOUNT_PROVIDERS:
        cfg = payment_config(tenant)
        accounts = _accounts(cfg)
        accounts[provider] = {
            **accounts.get(provider, {}),
            "last_check": {k: out[k] for k in ("ok", "detail", "checked_at")},
        }
        settings = dict(tenant.settings or {})
        settings["payments"] = {**cfg, "accounts": accounts}
        tenant_store.update_tenant(tenant, {"settings": settings})
    log.info("payment account checked", extra={"provider": provider, "ok": check.ok, "actor_id": actor_id})
    return out


# ---------------------------------------------------------------- checkout
def _checkout_key(reference: str) -> str:
    return f"checkout#{reference}"


def start_checkout(
    rt: Runtime, sub: Subscriber, invoice: Invoice, provider_name: str | None = None
) -> CheckoutSession:
    """Open a hosted checkout for what is still owed on one of the subscriber's invoices, with the
    tenant's default provider or the one the subscriber chose among those enabled."""
    if invoice.status not in UNPAID:
        raise InvalidStateError(f"the invoice is {invoice.status}; nothing to pay", field="invoice_id")
    currency = invoice.currency or "USD"
    due = quantize(to_decimal(invoice.total) - to_decimal(invoice.paid), currency)
    if due <= 0:
        raise InvalidStateError("nothing is owed on this invoice", field="invoice_id")
    tenant = _tenant(sub.tenant_id)
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
        "expires_at": int(time.time()) + CHECKOUT_TTL_S,
        "created_at": now_iso(),
    }
    portal_store.put_record_once(
        _checkout_key(reference), "checkout", record, CHECKOUT_RECORD_TTL_S, tenant_id=sub.tenant_id
    )
    try:
        session = provider.create_checkout(rt, account, request)
    except ProviderCallError as exc:
        _set_checkout(reference, {"status": "failed"}, only_from=("open",))
        log.warning("checkout could not be opened", extra={"provider": provider.name, "error": str(exc)})
        if exc.refused:
            raise InvalidStateError(
                f"the payment provider refused the checkout; the operator must check the {provider.name} "
                "account",
                field="provider",
            ) from exc
        raise UnavailableError("the payment provider cannot be reached; try again", field="provider") from exc
    _set_checkout(
        reference,
        {"expires_at": session.expires_at, "provider_checkout_id": session.provider_checkout_id},
        only_from=("open",),
    )
    log.info(
        "checkout opened", extra={"reference": reference, "invoice_id": invoice.id, "provider": provider.name}
    )
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
    tenant = _tenant(tenant_id)
    try:
        account = provider_account(rt, tenant, provider.name)
    except InvalidStateError as exc:
        raise UnauthorizedError(f"no {provider.name} account is connected for this tenant") from exc
    request = WebhookRequest(
        {k.lower(): v for k, v in headers.items()},
        dict(query or {}),
        body,
        time.time() if now is None else now,
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
            _set_checkout(event.reference, {"status": "expired"}, only_from=("open", "pending"))
        return WebhookOutcome("expired", event.id)
    if event.type == PENDING:
        if event.reference:
            _set_checkout(event.reference, {"status": "pending"}, only_from=("open", "expired"))
        return WebhookOutcome("pending", event.id)
    if event.type in (REFUNDED, CHARGED_BACK):
        return _process_reversal(rt, tenant_id, provider, event)
    if event.type != PAID:
        return WebhookOutcome("ignored", event.id)
    return _apply_paid(rt, tenant_id, provider, event)


def _apply_paid(
    rt: Runtime, tenant_id: str, provider: PaymentProvider, event: WebhookEvent
) -> WebhookOutcome:
    rec = portal_store.get_record(_checkout_key(event.reference)) if event.reference else None
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
    tenant_currency = (_tenant(tenant_id).currency or "USD").upper()
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
        _set_checkout(
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


# ---------------------------------------------------------------- refunds and charge-backs
def _reversal_key(tenant_id: str, payment_key: str) -> str:
    return f"prerev#{tenant_id}#{payment_key}"


def _remember_reversal(tenant_id: str, payment_key: str, kind: str, total: Decimal) -> None:
    """A refund reported before its payment: kept (highest total per kind) until the payment lands."""
    key = _reversal_key(tenant_id, payment_key)
    if portal_store.put_record_once(
        key, "payment-reversal", {kind: str(total)}, EVENT_RECORD_TTL_S, tenant_id
    ):
        return
    for _ in range(5):
        rec = portal_store.get_record(key)
        if rec is None:
            return
        data = dict(rec.data or {})
        if to_decimal(data.get(kind)) >= total or portal_store.set_record_data(
            rec, {**data, kind: str(total)}
        ):
            return


def _apply_remembered_reversals(
    rt: Runtime, tenant_id: str, provider: PaymentProvider, payment_key: str, payment_id: str
) -> None:
    rec = portal_store.get_record(_reversal_key(tenant_id, payment_key))
    for kind, total in sorted(dict(rec.data or {}).items() if rec is not None else []):
        payment_reversals.reverse_payment(
            rt, tenant_id, payment_id, kind, to_decimal(total), None, f"provider:{provider.name}"
        )


def _process_reversal(
    rt: Runtime, tenant_id: str, provider: PaymentProvider, event: WebhookEvent
) -> WebhookOutcome:
    from services.billing.payments import payment_id_for

    key = _payment_key(provider, event)
    kind = "chargeback" if event.type == CHARGED_BACK else "refund"
    if event.reversed_total is None:
        raise ValidationError("the event does not say how much was taken back", field="data.amount_reversed")
    payment_id = payment_id_for(tenant_id, key)
    if portal_store.find_payment(payment_id) is None:
        # reported before the payment itself: remembered, and applied right after the payment lands
        _remember_reversal(tenant_id, key, kind, event.reversed_total)
        if event.captured:
            paid = _apply_paid(rt, tenant_id, provider, event)
            if paid.status != "ignored":
                return WebhookOutcome("reversed", event.id, paid.payment_id)
        return WebhookOutcome("deferred", event.id, None)
    result = payment_reversals.reverse_payment(
        rt, tenant_id, payment_id, kind, event.reversed_total, event.reversal_id, f"provider:{provider.name}"
    )
    if event.reference and not result.duplicate:
        _set_checkout(
            event.reference,
            {
                "status": "reversed" if kind == "refund" else "charged_back",
                "reversed_total": result.reversed_total,
            },
            only_from=("paid", "reversed", "charged_back"),
        )
    return WebhookOutcome("duplicate" if result.duplicate else "reversed", event.id, payment_id)


def reverse_online_payment(
    rt: Runtime, tenant_id: str, payment_id: str, kind: str, cumulative: Decimal, actor_id: str
) -> payment_reversals.ReversalResult:
    """An operator records a refund or charge-back the provider's webhook did not bring."""
    return payment_reversals.reverse_payment(
        rt, tenant_id, payment_id, kind, cumulative, None, actor_id, "operator"
    )


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
