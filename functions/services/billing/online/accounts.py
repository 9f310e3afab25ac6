"""A tenant's online-payment settings (``Tenant.settings["payments"]``): which providers are enabled,
the default one, and the Stripe / Mercado Pago accounts (keys encrypted at rest, write-only).
"""

from __future__ import annotations

from typing import Any

from core.errors import (
    InvalidStateError,
    NotFoundError,
    ValidationError,
)
from core.ids import now_iso
from services.audit import record_audit
from services.billing.online.gateway import (
    MODES,
    ConnectionCheck,
    PaymentProvider,
    ProviderAccount,
)
from services.billing.online.hosted import HostedCheckoutProvider, webhook_secret
from services.billing.online.mercadopago_gateway import MercadoPagoProvider
from services.billing.online.stripe_gateway import StripeProvider
from shared.crypto import CryptoError
from shared.observability import get_logger
from shared.runtime import Runtime
from store import portal as portal_store
from store import tenants as tenant_store
from store.models import Subscriber, Tenant

log = get_logger("payments")

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


def active_tenant(tenant_id: str) -> Tenant:
    tenant = tenant_store.get_tenant(tenant_id) if portal_store.usable_key(tenant_id) else None
    if tenant is None or not tenant.active:
        raise NotFoundError("tenant not found", field="tenant_id")
    return tenant


def tenant_of(sub: Subscriber) -> Tenant:
    return active_tenant(sub.tenant_id)


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
    actor_kind: str = "operator",
) -> None:
    settings = dict(tenant.settings or {})
    settings["payments"] = after
    tenant_store.update_tenant(tenant, {"settings": settings})
    record_audit(
        actor_id,
        actor_kind,
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
    rt: Runtime,
    tenant: Tenant,
    changes: dict[str, Any],
    actor_id: str,
    request_id: str | None = None,
    actor_kind: str = "operator",
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
    _save_config(tenant, before, after, actor_id, "configure_payments", request_id, actor_kind)
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
    actor_kind: str = "operator",
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
    _save_config(tenant, before, after, actor_id, "configure_payment_account", request_id, actor_kind)
    return {
        "provider": provider,
        **account_view_fields(acct),
        "webhook_url": webhook_url(rt, tenant.id, provider),
    }


def remove_account(
    tenant: Tenant,
    provider: str,
    actor_id: str,
    request_id: str | None = None,
    actor_kind: str = "operator",
) -> None:
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
    _save_config(tenant, before, after, actor_id, "remove_payment_account", request_id, actor_kind)


def check_account(
    rt: Runtime,
    tenant: Tenant,
    provider: str,
    actor_id: str,
    request_id: str | None = None,
    actor_kind: str = "operator",
) -> dict[str, Any]:
    """ "Test connection": one harmless authenticated call to the provider with the stored keys; the
    result is kept on the account (shown with the settings) and audited on the tenant."""
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
    record_audit(
        actor_id,
        actor_kind,
        tenant.id,
        "tenant",
        tenant.id,
        "check_payment_account",
        None,
        {k: out[k] for k in ("provider", "ok", "mode", "detail", "checked_at")},
        request_id,
    )
    log.info("payment account checked", extra={"provider": provider, "ok": check.ok, "actor_id": actor_id})
    return out
