"""The payment-provider interface: what every online-payment adapter (the local hosted checkout,
Stripe, Mercado Pago) offers the payment operations, and the values that cross it.

An adapter opens a *hosted checkout* for one invoice (the customer pays on the provider's page; no
card data reaches us), turns a provider's webhook request into one verified :class:`WebhookEvent`
in our vocabulary, and checks a tenant's credentials ("test connection"). Adapters never touch
invoices or payments: :mod:`services.billing.online` applies what they report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from shared.runtime import Runtime

# Event types every adapter maps its provider's events to.
PAID = "checkout.completed"  # the money was captured: apply it
PENDING = "payment.pending"  # accepted but not captured yet (cash voucher, bank debit): wait
EXPIRED = "checkout.expired"  # the checkout page closed without a payment
REFUNDED = "payment.refunded"  # some or all of a captured payment was given back
CHARGED_BACK = "payment.charged_back"  # the card holder's bank took the money back
DISPUTE_WON = "payment.dispute_won"  # the merchant won the charge-back: the money is the ISP's again
EVENT_TYPES = (PAID, PENDING, EXPIRED, REFUNDED, CHARGED_BACK, DISPUTE_WON)

MODES = ("test", "live")

CHECKOUT_TTL_S = 24 * 3600  # a provider page accepts the payment for a day
SIGNATURE_TOLERANCE_S = 300  # a webhook signed longer ago (or later) than this is refused: no replay


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
    customer_email: str | None = None


@dataclass(frozen=True)
class CheckoutSession:
    reference: str
    provider: str
    url: str
    expires_at: int
    provider_checkout_id: str | None = None


@dataclass(frozen=True)
class WebhookRequest:
    """One provider callback as received: header names lower-case, the query string, the raw body."""

    headers: dict[str, str]
    query: dict[str, str]
    body: bytes
    now: float


@dataclass(frozen=True)
class ProviderAccount:
    """A tenant's credentials for one provider, decrypted for the duration of one call."""

    provider: str
    mode: str  # test | live
    api_key: str  # Stripe secret key / Mercado Pago access token / merchant id for the hosted one
    webhook_secret: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookEvent:
    id: str  # the provider's event (notification) id: processed once
    type: str  # one of EVENT_TYPES, or anything else (acknowledged and ignored)
    created: int
    reference: str | None  # our checkout id
    provider_payment_id: str | None  # the provider's id of the money movement: applied once
    amount: Decimal | None
    currency: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    # refunds and charge-backs: how much of the payment has been taken back so far (cumulative, so
    # events may arrive in any order), and the provider's id of the refund or dispute
    reversed_total: Decimal | None = None
    reversal_id: str | None = None
    # a won dispute: how much of the charge-back was given back (cumulative, like reversed_total)
    won_total: Decimal | None = None
    # the provider states the payment's current standing and no charge-back stands on it (a Mercado
    # Pago payment approved again after a charge-back): a charge-back recorded before is won back
    chargeback_cleared: bool = False
    # a reversal that reports a payment we have not seen as paid yet: apply it first (Mercado Pago
    # states the payment's current status only; Stripe still sends the completion event itself)
    captured: bool = False


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    mode: str
    livemode: bool | None
    account: str | None
    detail: str


class ProviderCallError(Exception):
    """A provider API call failed; ``refused`` when the provider answered no (bad credentials,
    rejected input) rather than being unreachable."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class PaymentProvider(Protocol):
    name: str
    # True: one payment per provider payment id; False (local checkout): one per checkout
    keyed_by_payment: bool

    def create_checkout(
        self, rt: Runtime, account: ProviderAccount, request: CheckoutRequest
    ) -> CheckoutSession:
        """Open a hosted checkout for the request; returns where to send the customer."""
        ...

    def parse_webhook(
        self, rt: Runtime, tenant_id: str, account: ProviderAccount, request: WebhookRequest
    ) -> WebhookEvent:
        """Verify the request came from the provider (signature, freshness) and parse it (fetching
        the provider's record where its scheme says so)."""
        ...

    def test_connection(self, rt: Runtime, account: ProviderAccount) -> ConnectionCheck:
        """Check the credentials with one harmless call."""
        ...
