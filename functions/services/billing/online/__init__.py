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

One module per concern: :mod:`.gateway` (the provider interface), :mod:`.hosted`,
:mod:`.stripe_gateway` and :mod:`.mercadopago_gateway` (the adapters), :mod:`.accounts` (a tenant's
settings and provider accounts), :mod:`.checkout`, :mod:`.webhooks` and :mod:`.reports` (bank
transfers). The operations the entry points call are importable from this package.
"""

from services.billing.online.accounts import (
    PROVIDERS,
    account_views,
    active_tenant,
    check_account,
    configure_account,
    configure_payments,
    enabled_providers,
    payment_config,
    remove_account,
    tenant_of,
    webhook_url,
)
from services.billing.online.checkout import (
    AppliedPayment,
    apply_confirmed_payment,
    checkout_status,
    start_checkout,
)
from services.billing.online.hosted import sign_payload, webhook_secret
from services.billing.online.reports import (
    confirm_report,
    get_report,
    list_reports,
    reject_report,
    report_payment,
    visible_report,
)
from services.billing.online.webhooks import WebhookOutcome, handle_webhook

__all__ = [
    "PROVIDERS",
    "AppliedPayment",
    "WebhookOutcome",
    "account_views",
    "active_tenant",
    "apply_confirmed_payment",
    "check_account",
    "checkout_status",
    "configure_account",
    "configure_payments",
    "confirm_report",
    "enabled_providers",
    "get_report",
    "handle_webhook",
    "list_reports",
    "payment_config",
    "reject_report",
    "remove_account",
    "report_payment",
    "sign_payload",
    "start_checkout",
    "tenant_of",
    "visible_report",
    "webhook_secret",
    "webhook_url",
]
