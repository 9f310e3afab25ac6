"""Request and response models of the customer portal (/portal/*) and of its admin routes."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from api.schemas.common import Email, Id, In, Money, Out, Query

Token = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
PortalPassword = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Username = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Phone = Annotated[str, StringConstraints(min_length=3, max_length=32, pattern=r"^\+?[0-9 ()\-]{3,32}$")]


# ---------------------------------------------------------------- sign-in
class LoginIn(In):
    tenant_id: Id = Field(description="the operator's account (the portal app is branded per operator)")
    username: Username
    password: PortalPassword


class AutologinIn(In):
    token: Token


class AutologinQuery(Query):
    token: Token


class SessionOut(Out):
    token: str
    token_type: str = "bearer"
    expires_in: int
    subscriber_id: str
    tenant_id: str
    username: str


class AutologinLinkOut(Out):
    url: str
    short_url: str = Field(description="the same link in a short form for SMS")
    expires_at: int = Field(description="Unix time when the link stops working")
    autologin_epoch: int


class AutologinRevokedOut(Out):
    revoked: bool = True
    autologin_epoch: int


# ---------------------------------------------------------------- my service
class MeOut(Out):
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


class ServiceOut(Out):
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


class UsageQuery(Query):
    days: int = Field(default=30, ge=1, le=92)


class UsageDay(Out):
    date: str
    sessions: int
    time_s: int
    upload_bytes: int
    download_bytes: int


class UsageOut(Out):
    timezone: str
    days: list[UsageDay]


class PageQuery(Query):
    limit: int = Field(default=25, ge=1, le=100)
    next_token: Annotated[str, StringConstraints(min_length=1, max_length=4000)] | None = None


class ConnectionOut(Out):
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


class ConnectionPage(Out):
    items: list[ConnectionOut]
    next_token: str | None = None


class DeviceOut(Out):
    mac: str
    online: bool


class DevicesOut(Out):
    max_devices: int | None = None
    counted_since: str | None = None
    devices: list[DeviceOut]
    online: list[dict[str, Any]]


# ---------------------------------------------------------------- invoices and payments
class InvoiceOut(Out):
    id: str
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


class InvoicePage(Out):
    items: list[InvoiceOut]
    next_token: str | None = None


class CheckoutOut(Out):
    checkout_id: str
    provider: str
    url: str
    expires_at: int


class CheckoutStatusOut(Out):
    checkout_id: str
    status: str | None = None
    invoice_id: str | None = None
    amount: str | None = None
    currency: str | None = None
    expires_at: int | None = None
    payment_id: str | None = None
    paid_at: str | None = None


class PaymentReportIn(In):
    amount: Money
    method: Annotated[str, Field(pattern=r"^(bank_transfer|deposit|cash|other)$")] = "bank_transfer"
    reference: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    paid_on: date
    invoice_id: Id | None = None
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class PaymentOut(Out):
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


class WebhookOut(Out):
    received: bool = True
    status: str
    event_id: str
    payment_id: str | None = None


class ReportListQuery(Query):
    tenant_id: Id | None = None
    status: (
        Annotated[str, Field(pattern=r"^(pending_confirmation|confirming|confirmed|rejected)$")] | None
    ) = "pending_confirmation"
    limit: int = Field(default=50, ge=1, le=200)


class ReportConfirmIn(In):
    amount: Money | None = Field(default=None, description="the amount received, when it differs")


class ReportRejectIn(In):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class ConfirmedOut(Out):
    report_id: str
    payment_id: str
    duplicate: bool
    reactivated: bool


class PaymentSettingsQuery(Query):
    tenant_id: Id | None = None


class PaymentSettingsIn(In):
    tenant_id: Id | None = None
    enabled: bool | None = None
    provider: Annotated[str, Field(pattern=r"^hosted$")] | None = None
    checkout_url: Annotated[str, StringConstraints(max_length=500, pattern=r"^https://[^\s]+$")] | None = None
    merchant_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None


class PaymentSettingsOut(Out):
    tenant_id: str
    enabled: bool
    provider: str
    checkout_url: str | None = None
    merchant_id: str | None = None
    webhook_url: str
    webhook_secret: str = Field(description="enter it in the provider's dashboard to sign webhooks")


# ---------------------------------------------------------------- contracts
class ContractOut(Out):
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


class ContractCreateIn(In):
    content: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    start_date: date | None = None
    end_date: date | None = None
    visible_to_customer: bool = True


class SigningLinkOut(Out):
    url: str
    expires_at: int


class SignIn(In):
    token: Token
    typed_name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    signature_png: Annotated[str, StringConstraints(min_length=1, max_length=300_000)] | None = Field(
        default=None, description="the drawn signature: a PNG, base64 (or a data:image/png;base64 URL)"
    )


class SigningQuery(Query):
    token: Token


class AttachmentQuery(Query):
    kind: Annotated[str, Field(pattern=r"^(id_photo|proof_of_address|other)$")]
    filename: Annotated[str, StringConstraints(max_length=120)] | None = None


class SigningAttachmentQuery(AttachmentQuery):
    token: Token


class AttachmentOut(Out):
    id: str
    kind: str
    filename: str | None = None
    content_type: str
    size: int
    uploaded_at: str


class PdfIn(In):
    confirm: bool = False


class PdfOut(Out):
    contract_id: str
    pdf_available: bool = True


class ActivatedOut(Out):
    id: str
    status: str


# ---------------------------------------------------------------- account
class PortalPasswordIn(In):
    current_password: PortalPassword | None = None
    new_password: Annotated[str, StringConstraints(min_length=8, max_length=128)]


class NetworkPasswordIn(In):
    current_password: PortalPassword | None = Field(
        default=None, description="the portal password (required when one is set)"
    )
    new_password: Annotated[str, StringConstraints(min_length=6, max_length=64)]


class NetworkPasswordOut(Out):
    changed: bool = True
    router_sync: str = Field(description="queued | api_disabled | no_gateway")
    task_id: str | None = None
    warning: str | None = None


class ContactIn(In):
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    email: Email | None = None
    phone: Phone | None = None
    address: Annotated[str, StringConstraints(max_length=500)] | None = None


class OkOut(Out):
    ok: bool = True
