"""Request and response models of the customer portal (/portal/*) and of its admin routes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from api.schemas.common import Cursor, Email, Id, In, JsonDate, Money, Out, Query
from api.schemas.reports import BY_CURRENCY_DOC, Currency, ReportAmount, ReportCurrency

Token = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
PortalPassword = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Username = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Phone = Annotated[str, StringConstraints(min_length=3, max_length=32, pattern=r"^\+?[0-9 ()\-]{3,32}$")]


# ---------------------------------------------------------------- sign-in
class PortalLoginIn(In):
    tenant_id: Id = Field(description="the operator's account (the portal app is branded per operator)")
    username: Username
    password: PortalPassword


class PortalAutologinIn(In):
    token: Token


class PortalAutologinQuery(Query):
    token: Token


class PortalSessionOut(Out):
    token: str
    token_type: str = "bearer"
    expires_in: int
    subscriber_id: str
    tenant_id: str
    username: str


class PortalAutologinLinkOut(Out):
    url: str
    short_url: str = Field(description="the same link in a short form for SMS")
    expires_at: int = Field(description="Unix time when the link stops working")
    autologin_epoch: int


class PortalAutologinRevokedOut(Out):
    revoked: bool = True
    autologin_epoch: int


# ---------------------------------------------------------------- my service
class PortalMeOut(Out):
    subscriber_id: str
    tenant_id: str
    username: str
    status: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    connection_type: str
    company_name: str | None = None
    has_portal_password: bool


class PortalServiceOut(Out):
    subscriber_id: str
    username: str
    status: str
    connection_type: str
    ip: str | None = None
    balance: str
    product: dict[str, Any] | None = None
    policy: dict[str, Any] | None = None
    rules: list[str] = Field(description="the plan's rules in words")
    allowances: dict[str, Any] = Field(
        description="daily/weekly/monthly time (s) and data (bytes): limit (null = unlimited), used, "
        "remaining, resets_at; prepaid credits"
    )
    online_now: int


class PortalUsageQuery(Query):
    days: int = Field(default=30, ge=1, le=92)


class PortalUsageDay(Out):
    date: str
    sessions: int
    time_s: int
    upload_bytes: int
    download_bytes: int


class PortalUsageOut(Out):
    timezone: str
    days: list[PortalUsageDay]


class PortalPageQuery(Query):
    limit: int = Field(default=25, ge=1, le=100)
    next_token: Annotated[str, StringConstraints(min_length=1, max_length=4000)] | None = None


class PortalConnectionOut(Out):
    id: str
    started_at: str
    ended_at: str | None = None
    duration_s: int
    duration: str
    upload_bytes: int
    download_bytes: int
    ip: str | None = None
    mac: str | None = None
    gateway_name: str | None = None
    nas_identifier: str | None = None
    gateway_mac: str | None = None
    terminate_cause: str | None = None
    open: bool


class PortalConnectionPage(Out):
    items: list[PortalConnectionOut]
    next_token: str | None = None


class PortalDeviceOut(Out):
    mac: str
    online: bool


class PortalDevicesOut(Out):
    max_devices: int | None = None
    counted_since: str | None = None
    devices: list[PortalDeviceOut]
    online: list[dict[str, Any]]


# ---------------------------------------------------------------- invoices and payments
class PortalInvoiceOut(Out):
    id: str
    path_id: str = Field(description="the id as it goes in a URL path (the id itself for current invoices)")
    number: int | None = None
    kind: str
    period: str | None = None
    status: str
    issue_date: str
    due_date: str | None = None
    cutoff_date: str | None = None
    currency: str
    subtotal: str
    tax: str
    total: str
    paid: str
    due: str
    lines: list[dict[str, Any]]
    notes: str | None = None


class PortalInvoicePage(Out):
    items: list[PortalInvoiceOut]
    next_token: str | None = None


class PortalOwedCurrencyOut(Out):
    currency: Currency
    amount: str = Field(description="what is owed in this currency")
    invoices: int = Field(description="the unpaid invoices in this currency")


class PortalOwedInvoiceOut(Out):
    id: str
    path_id: str = Field(description="the id as it goes in a URL path")
    number: int | None
    due_date: str | None
    currency: str
    due: str = Field(description="what is still owed on it")


class PortalAmountDueOut(Out):
    """What the subscriber owes: every unpaid invoice, whatever the page of the invoice list shows."""

    currency: ReportCurrency
    amount: ReportAmount
    invoices: int = Field(description="how many invoices are unpaid")
    by_currency: list[PortalOwedCurrencyOut] = Field(description=BY_CURRENCY_DOC)
    oldest_invoice: PortalOwedInvoiceOut | None = Field(
        description="the unpaid invoice a payment pays first (the oldest by due date); null when none"
    )


class PortalCheckoutOut(Out):
    checkout_id: str
    provider: str
    url: str
    expires_at: int


class PortalCheckoutStatusOut(Out):
    checkout_id: str
    status: str | None = None
    invoice_id: str | None = None
    amount: str | None = None
    currency: str | None = None
    expires_at: int | None = None
    payment_id: str | None = None
    paid_at: str | None = None
    reconnection: dict[str, Any] | None = Field(
        None,
        description="for a suspended subscriber: the reconnection rule, whether the payment reconnected "
        "and what is still overdue",
    )


class PortalPaymentReportIn(In):
    amount: Money
    method: Annotated[str, Field(pattern=r"^(bank_transfer|deposit|cash|other)$")] = "bank_transfer"
    reference: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    paid_on: JsonDate
    invoice_id: Id | None = None
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class PortalPaymentOut(Out):
    id: str
    subscriber_id: str
    amount: str
    currency: str
    method: str
    reference: str | None = None
    kind: str
    status: str
    source: str
    applied: list[dict[str, Any]] = []
    notes: str | None = None
    effects: dict[str, Any] = {}
    created_at: str


class PortalWebhookOut(Out):
    received: bool = True
    status: str
    event_id: str
    payment_id: str | None = None


class PortalReportListQuery(Query):
    tenant_id: Id | None = None
    status: (
        Annotated[str, Field(pattern=r"^(pending_confirmation|confirming|confirmed|rejected)$")] | None
    ) = "pending_confirmation"
    limit: int = Field(default=50, ge=1, le=200)
    cursor: Cursor | None = None


class PortalReportPage(Out):
    items: list[PortalPaymentOut]
    next_cursor: str | None = None


class PortalReportConfirmIn(In):
    amount: Money | None = Field(default=None, description="the amount received, when it differs")


class PortalReportRejectIn(In):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class PortalConfirmedOut(Out):
    report_id: str
    payment_id: str
    duplicate: bool
    reactivated: bool


class PortalPaymentSettingsQuery(Query):
    tenant_id: Id | None = None


ProviderName = Annotated[str, Field(pattern=r"^(hosted|stripe|mercadopago)$")]
AccountProvider = Annotated[str, Field(pattern=r"^(stripe|mercadopago)$")]


class PortalPaymentSettingsIn(In):
    tenant_id: Id | None = None
    enabled: bool | None = None
    provider: ProviderName | None = Field(
        default=None, description="the default provider of checkouts (stripe/mercadopago: connect it first)"
    )
    checkout_url: Annotated[str, StringConstraints(max_length=500, pattern=r"^https://[^\s]+$")] | None = None
    merchant_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None


class PortalPaymentSettingsOut(Out):
    tenant_id: str
    enabled: bool
    provider: str
    checkout_url: str | None = None
    merchant_id: str | None = None
    webhook_url: str
    webhook_secret: str = Field(description="enter it in the provider's dashboard to sign webhooks")
    providers: list[str] = Field(
        default_factory=list, description="what subscribers can pay with now, the default first"
    )
    accounts: list[PaymentAccountOut] = Field(
        default_factory=list, description="the Stripe and Mercado Pago accounts (keys are never shown)"
    )


class PaymentAccountIn(In):
    tenant_id: Id | None = None
    mode: Annotated[str, Field(pattern=r"^(test|live)$")] | None = None
    api_key: Annotated[str, StringConstraints(min_length=8, max_length=500)] | None = Field(
        default=None,
        description="write-only: Stripe secret key (sk_test_/sk_live_, or a restricted rk_ key) or "
        "Mercado Pago access token (TEST-/APP_USR-); stored encrypted, never returned",
    )
    webhook_secret: Annotated[str, StringConstraints(min_length=8, max_length=500)] | None = Field(
        default=None,
        description="write-only: Stripe endpoint signing secret (whsec_…) or Mercado Pago secret signature",
    )
    enabled: bool | None = Field(default=None, description="offer this provider to subscribers")


class PaymentAccountQuery(Query):
    tenant_id: Id | None = None


class PaymentAccountTestIn(In):
    tenant_id: Id | None = None


class PaymentAccountOut(Out):
    provider: str
    mode: str
    enabled: bool
    configured: bool
    key_hint: str | None = Field(default=None, description="the key's last 4 characters")
    webhook_secret_set: bool
    webhook_url: str = Field(description="enter it in the provider's dashboard as the webhook endpoint")
    updated_at: str | None = None
    last_check: dict[str, Any] | None = None


class PaymentAccountCheckOut(Out):
    provider: str
    ok: bool
    mode: str
    livemode: bool | None = None
    account: str | None = None
    detail: str
    webhook_url: str
    webhook_secret_set: bool
    checked_at: str


class PortalCheckoutIn(In):
    provider: ProviderName | None = Field(
        default=None, description="one of GET /portal/payments/providers; default: the operator's default"
    )


class PortalProvidersOut(Out):
    providers: list[str]
    default: str | None = None


class PortalWebhookQuery(Query):
    """What providers put in the notification URL (Mercado Pago: ``data.id`` and ``type``)."""

    data_id: Annotated[str, StringConstraints(max_length=200)] | None = Field(default=None, alias="data.id")
    type: Annotated[str, StringConstraints(max_length=100)] | None = None
    topic: Annotated[str, StringConstraints(max_length=100)] | None = None
    id: Annotated[str, StringConstraints(max_length=200)] | None = None


PortalPaymentSettingsOut.model_rebuild()


# ---------------------------------------------------------------- contracts
class PortalContractOut(Out):
    id: str
    subscriber_id: str
    status: str
    content: str
    start_date: str | None = None
    end_date: str | None = None
    signed: bool
    signature: dict[str, Any] | None = None
    attachments: list[dict[str, Any]]
    visible_to_customer: bool
    pdf_available: bool
    created_at: str
    updated_at: str | None = None


class PortalContractCreateIn(In):
    content: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    start_date: JsonDate | None = None
    end_date: JsonDate | None = None
    visible_to_customer: bool = True


class PortalSigningLinkOut(Out):
    url: str
    expires_at: int


class PortalSignIn(In):
    token: Token
    typed_name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    signature_png: Annotated[str, StringConstraints(min_length=1, max_length=300_000)] | None = Field(
        default=None, description="the drawn signature: a PNG, base64 (or a data:image/png;base64 URL)"
    )


class PortalSigningQuery(Query):
    token: Token


class PortalAttachmentQuery(Query):
    kind: Annotated[str, Field(pattern=r"^(id_photo|proof_of_address|other)$")]
    filename: Annotated[str, StringConstraints(max_length=120)] | None = None


class PortalSigningAttachmentQuery(PortalAttachmentQuery):
    token: Token


class PortalAttachmentOut(Out):
    id: str
    kind: str
    filename: str | None = None
    content_type: str
    size: int
    uploaded_at: str


class PortalPdfIn(In):
    confirm: bool = False


class PortalPdfOut(Out):
    contract_id: str
    pdf_available: bool = True


class PortalActivatedOut(Out):
    id: str
    status: str


# ---------------------------------------------------------------- account
class PortalPasswordIn(In):
    current_password: PortalPassword | None = None
    new_password: Annotated[str, StringConstraints(min_length=8, max_length=128)]


class PortalNetworkPasswordIn(In):
    current_password: PortalPassword | None = Field(
        default=None, description="the portal password (required when one is set)"
    )
    new_password: Annotated[str, StringConstraints(min_length=6, max_length=64)]


class PortalNetworkPasswordOut(Out):
    changed: bool = True
    router_sync: str = Field(description="queued | api_disabled | no_gateway")
    task_id: str | None = None
    warning: str | None = None


class PortalContactIn(In):
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    email: Email | None = None
    phone: Phone | None = None
    address: Annotated[str, StringConstraints(max_length=500)] | None = None


class PortalOkOut(Out):
    ok: bool = True


# ---------------------------------------------------------------- cards
class PortalRedeemIn(In):
    code: str = Field(min_length=1, max_length=64, description="the card's code (its username)")
    password: str = Field(min_length=1, max_length=128, description="the card's password")
