"""Customer portal (/portal/*): sign-in and auto-login, my service, invoices and payments, contracts,
account; plus the operator routes that serve it (auto-login links, contracts, payment reports and
online-payment settings).

Portal routes use ``auth="subscriber"`` (the authenticator is registered by ``services.portal_auth``);
links that need no login (auto-login, contract signing) and the provider webhook are public and carry
their own signed proof.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from api.http import patch_changes
from api.routing import RequestContext, route
from api.schemas.portal import (
    PaymentAccountCheckOut,
    PaymentAccountIn,
    PaymentAccountOut,
    PaymentAccountQuery,
    PaymentAccountTestIn,
    PortalActivatedOut,
    PortalAttachmentOut,
    PortalAttachmentQuery,
    PortalAutologinIn,
    PortalAutologinLinkOut,
    PortalAutologinQuery,
    PortalAutologinRevokedOut,
    PortalCheckoutIn,
    PortalCheckoutOut,
    PortalCheckoutStatusOut,
    PortalConfirmedOut,
    PortalConnectionPage,
    PortalContactIn,
    PortalContractCreateIn,
    PortalContractOut,
    PortalDevicesOut,
    PortalInvoiceOut,
    PortalInvoicePage,
    PortalLoginIn,
    PortalMeOut,
    PortalNetworkPasswordIn,
    PortalNetworkPasswordOut,
    PortalOkOut,
    PortalPageQuery,
    PortalPasswordIn,
    PortalPaymentOut,
    PortalPaymentReportIn,
    PortalPaymentSettingsIn,
    PortalPaymentSettingsOut,
    PortalPaymentSettingsQuery,
    PortalPdfIn,
    PortalPdfOut,
    PortalProvidersOut,
    PortalRedeemIn,
    PortalReportConfirmIn,
    PortalReportListQuery,
    PortalReportRejectIn,
    PortalServiceOut,
    PortalSessionOut,
    PortalSignIn,
    PortalSigningAttachmentQuery,
    PortalSigningLinkOut,
    PortalSigningQuery,
    PortalUsageOut,
    PortalUsageQuery,
    PortalWebhookOut,
    PortalWebhookQuery,
)
from core.errors import NotFoundError
from core.invoice_ids import path_id
from services import contracts as contract_svc
from services import portal as portal_svc
from services import portal_auth, vouchers
from services.billing import online as pay
from services.subscribers import get_subscriber as admin_get_subscriber
from services.tenants import tenant_filter
from store import portal as portal_store
from store import tenants as tenant_store
from store.models import Contract, Invoice, Payment, Subscriber, Tenant

bp = Blueprint(__name__)

PORTAL = ["portal"]
PORTAL_AUTH = ["portal-auth"]
PORTAL_PAY = ["portal-payments"]
PORTAL_CONTRACTS = ["portal-contracts"]
ADMIN_PORTAL = ["portal-admin"]


def _me(ctx: RequestContext) -> Subscriber:
    return portal_auth.current_subscriber(ctx.p)


def _session_out(s: portal_auth.PortalSession) -> PortalSessionOut:
    return PortalSessionOut(
        token=s.token,
        expires_in=s.expires_in,
        subscriber_id=s.subscriber_id,
        tenant_id=s.tenant_id,
        username=s.username,
    )


def _user_agent(ctx: RequestContext) -> str | None:
    return {k.lower(): v for k, v in ctx.headers.items()}.get("user-agent")


def _content_type(ctx: RequestContext) -> str:
    return {k.lower(): v for k, v in ctx.headers.items()}.get("content-type", "")


def _file(data: bytes, content_type: str, filename: str) -> Response:
    safe = "".join(ch for ch in filename if ch.isalnum() or ch in "._-") or "file"
    return Response(
        body=data,
        status_code=200,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="{safe}"',
            "Cache-Control": "private, no-store",
        },
    )


# ================================================================ sign-in
@route(
    bp,
    "/portal/auth/login",
    "POST",
    summary="Sign in with username and portal password",
    tags=PORTAL_AUTH,
    body=PortalLoginIn,
    response=PortalSessionOut,
    auth="public",
    description="Rate-limited per username (failures) and per address (all attempts): 429 with "
    "retry_after_s when exceeded.",
)
def handle_portal_login(ctx: RequestContext) -> PortalSessionOut:
    b: PortalLoginIn = ctx.body
    return _session_out(portal_auth.sign_in(ctx.rt, b.tenant_id, b.username, b.password, ctx.source_ip))


@route(
    bp,
    "/portal/auth/autologin",
    "GET",
    summary="Open a portal session from an auto-login link",
    tags=PORTAL_AUTH,
    query=PortalAutologinQuery,
    response=PortalSessionOut,
    auth="public",
)
def handle_portal_autologin_link(ctx: RequestContext) -> PortalSessionOut:
    return _session_out(portal_auth.sign_in_with_autologin(ctx.rt, ctx.query.token, ctx.source_ip))


@route(
    bp,
    "/portal/auth/autologin",
    "POST",
    summary="Exchange an auto-login token for a portal session",
    tags=PORTAL_AUTH,
    body=PortalAutologinIn,
    response=PortalSessionOut,
    auth="public",
)
def handle_portal_autologin(ctx: RequestContext) -> PortalSessionOut:
    return _session_out(portal_auth.sign_in_with_autologin(ctx.rt, ctx.body.token, ctx.source_ip))


@route(
    bp,
    "/portal/a/{code}",
    "GET",
    summary="Open a portal session from a short auto-login link (SMS)",
    tags=PORTAL_AUTH,
    response=PortalSessionOut,
    auth="public",
)
def handle_portal_short_link(ctx: RequestContext, code: str) -> PortalSessionOut:
    return _session_out(portal_auth.sign_in_with_short_link(ctx.rt, code, ctx.source_ip))


# ================================================================ my service
@route(
    bp,
    "/portal/me",
    "GET",
    summary="Who is signed in: account and contact data",
    tags=PORTAL,
    response=PortalMeOut,
    auth="subscriber",
)
def handle_portal_me(ctx: RequestContext) -> PortalMeOut:
    sub = _me(ctx)
    tenant = tenant_store.get_tenant(sub.tenant_id)
    return PortalMeOut(
        subscriber_id=sub.id,
        tenant_id=sub.tenant_id,
        username=sub.username,
        status=sub.status,
        name=sub.name,
        email=sub.email,
        phone=sub.phone,
        address=sub.address,
        connection_type=sub.connection_type,
        company_name=(tenant.company_name or tenant.name) if tenant else None,
        has_portal_password=bool(sub.portal_password_hash),
    )


@route(
    bp,
    "/portal/service",
    "GET",
    summary="My service: plan and its rules in words, what is left of each allowance",
    tags=PORTAL,
    response=PortalServiceOut,
    auth="subscriber",
)
def handle_portal_service(ctx: RequestContext) -> dict[str, Any]:
    return portal_svc.service_overview(_me(ctx))


@route(
    bp,
    "/portal/usage/daily",
    "GET",
    summary="Sessions, time and traffic per day (chart data)",
    tags=PORTAL,
    query=PortalUsageQuery,
    response=PortalUsageOut,
    auth="subscriber",
)
def handle_portal_usage_daily(ctx: RequestContext) -> dict[str, Any]:
    return portal_svc.traffic_per_day(_me(ctx), ctx.query.days)


@route(
    bp,
    "/portal/connections",
    "GET",
    summary="Connection log, newest first",
    tags=PORTAL,
    query=PortalPageQuery,
    response=PortalConnectionPage,
    auth="subscriber",
)
def handle_portal_connections(ctx: RequestContext) -> dict[str, Any]:
    return portal_svc.connection_log(_me(ctx), ctx.query.limit, ctx.query.next_token)


@route(
    bp,
    "/portal/devices",
    "GET",
    summary="Devices counted against the plan and those online now",
    tags=PORTAL,
    response=PortalDevicesOut,
    auth="subscriber",
)
def handle_portal_devices(ctx: RequestContext) -> dict[str, Any]:
    return portal_svc.devices(_me(ctx))


# ================================================================ invoices
def _invoice_out(inv: Invoice) -> PortalInvoiceOut:
    currency = inv.currency or "USD"
    return PortalInvoiceOut(
        id=inv.id,
        path_id=path_id(inv.id),
        number=int(inv.number) if inv.number is not None else None,
        kind=inv.kind,
        period=inv.period,
        status=inv.status,
        issue_date=inv.issue_date,
        due_date=inv.due_date,
        cutoff_date=inv.cutoff_date,
        currency=currency,
        subtotal=inv.subtotal,
        tax=inv.tax,
        total=inv.total,
        paid=inv.paid,
        due=str(portal_svc.invoice_due(inv)),
        lines=list(inv.lines or []),
        notes=inv.notes,
    )


@route(
    bp,
    "/portal/invoices",
    "GET",
    summary="My invoices, newest first",
    tags=PORTAL_PAY,
    query=PortalPageQuery,
    response=PortalInvoicePage,
    auth="subscriber",
)
def handle_portal_invoices(ctx: RequestContext) -> PortalInvoicePage:
    rows, token = portal_svc.list_invoices(_me(ctx), ctx.query.limit, ctx.query.next_token)
    return PortalInvoicePage(items=[_invoice_out(i) for i in rows], next_token=token)


@route(
    bp,
    "/portal/invoices/{invoice_id}",
    "GET",
    summary="One of my invoices",
    tags=PORTAL_PAY,
    response=PortalInvoiceOut,
    auth="subscriber",
)
def handle_portal_invoice(ctx: RequestContext, invoice_id: str) -> PortalInvoiceOut:
    return _invoice_out(portal_svc.get_invoice(_me(ctx), invoice_id))


@route(
    bp,
    "/portal/invoices/{invoice_id}/pdf",
    "GET",
    summary="One of my invoices as PDF",
    tags=PORTAL_PAY,
    auth="subscriber",
    content_type="application/pdf",
    description="Send Accept: application/pdf.",
)
def handle_portal_invoice_pdf(ctx: RequestContext, invoice_id: str) -> Response:
    pdf, name = portal_svc.invoice_pdf(portal_svc.get_invoice(_me(ctx), invoice_id))
    return _file(pdf, "application/pdf", name)


# ================================================================ payments
@route(
    bp,
    "/portal/invoices/{invoice_id}/checkout",
    "POST",
    summary="Pay an invoice online (hosted checkout)",
    tags=PORTAL_PAY,
    body=PortalCheckoutIn,
    response=PortalCheckoutOut,
    auth="subscriber",
    status=201,
    description="Returns the provider page to send the customer to; the payment is applied when the "
    "provider's signed webhook arrives. The body is optional: `provider` picks one of "
    "GET /portal/payments/providers (default: the operator's default provider).",
)
def handle_portal_checkout(ctx: RequestContext, invoice_id: str) -> PortalCheckoutOut:
    sub = _me(ctx)
    session = pay.start_checkout(
        ctx.rt, sub, portal_svc.get_invoice(sub, invoice_id), ctx.body.provider if ctx.body else None
    )
    return PortalCheckoutOut(
        checkout_id=session.reference,
        provider=session.provider,
        url=session.url,
        expires_at=session.expires_at,
    )


@route(
    bp,
    "/portal/payments/providers",
    "GET",
    summary="The online-payment providers I can pay with (the default first)",
    tags=PORTAL_PAY,
    response=PortalProvidersOut,
    auth="subscriber",
)
def handle_portal_payment_providers(ctx: RequestContext) -> PortalProvidersOut:
    names = pay.enabled_providers(pay.tenant_of(_me(ctx)))
    return PortalProvidersOut(providers=names, default=names[0] if names else None)


@route(
    bp,
    "/portal/payments/checkouts/{checkout_id}",
    "GET",
    summary="Status of an online checkout",
    tags=PORTAL_PAY,
    response=PortalCheckoutStatusOut,
    auth="subscriber",
)
def handle_portal_checkout_status(ctx: RequestContext, checkout_id: str) -> PortalCheckoutStatusOut:
    return PortalCheckoutStatusOut.model_validate(pay.checkout_status(_me(ctx), checkout_id))


def _payment_out(p: Payment) -> PortalPaymentOut:
    return PortalPaymentOut(
        id=p.id,
        subscriber_id=p.subscriber_id,
        amount=p.amount,
        currency=p.currency,
        method=p.method,
        reference=p.reference,
        kind=p.kind,
        status=p.status,
        source=p.source,
        applied=list(p.applied or []),
        notes=p.notes,
        effects=dict(p.effects or {}),
        created_at=p.created_at,
    )


@route(
    bp,
    "/portal/payments",
    "GET",
    summary="My payments and payment reports, newest first",
    tags=PORTAL_PAY,
    response=PortalPaymentOut,
    response_is_list=True,
    auth="subscriber",
)
def handle_portal_payments(ctx: RequestContext) -> list[PortalPaymentOut]:
    return [_payment_out(p) for p in portal_store.subscriber_payments(_me(ctx).id, 100)]


@route(
    bp,
    "/portal/payments/reports",
    "POST",
    summary="Report a bank transfer or deposit (an operator confirms it)",
    tags=PORTAL_PAY,
    body=PortalPaymentReportIn,
    response=PortalPaymentOut,
    auth="subscriber",
    status=201,
)
def handle_portal_report_payment(ctx: RequestContext) -> PortalPaymentOut:
    b: PortalPaymentReportIn = ctx.body
    payment = pay.report_payment(
        _me(ctx),
        amount=b.amount,
        method=b.method,
        reference=b.reference,
        paid_on=b.paid_on,
        invoice_id=b.invoice_id,
        note=b.note,
        request_id=ctx.request_id,
    )
    return _payment_out(payment)


@route(
    bp,
    "/portal/payments/webhooks/{provider}/{tenant_id}",
    "POST",
    summary="Payment provider webhook",
    tags=PORTAL_PAY,
    query=PortalWebhookQuery,
    response=PortalWebhookOut,
    auth="public",
    raw_body=True,
    description="`provider` is hosted, stripe or mercadopago; each signs with its own scheme. hosted: "
    "Wisp-Signature: t=<unix>,v1=<hex HMAC-SHA256 of '<t>.<body>'> with the tenant's webhook secret. "
    "stripe: Stripe-Signature (same form) with the endpoint's signing secret. mercadopago: "
    "x-signature ts=<unix>,v1=<HMAC-SHA256 of 'id:<data.id>;request-id:<x-request-id>;ts:<ts>;'> with the "
    "application's secret signature, then the payment is fetched from Mercado Pago. Refused (401) outside "
    "a 5-minute window. Duplicates answer status=duplicate.",
)
def handle_payment_webhook(ctx: RequestContext, provider: str, tenant_id: str) -> PortalWebhookOut:
    q: PortalWebhookQuery = ctx.query
    query = {
        k: v
        for k, v in (("data.id", q.data_id), ("type", q.type), ("topic", q.topic), ("id", q.id))
        if v is not None
    }
    outcome = pay.handle_webhook(ctx.rt, tenant_id, provider, ctx.headers, ctx.raw_body, query=query)
    return PortalWebhookOut(status=outcome.status, event_id=outcome.event_id, payment_id=outcome.payment_id)


# ================================================================ contracts (customer)
def _contract_out(c: Contract) -> PortalContractOut:
    return PortalContractOut.model_validate(contract_svc.contract_view(c))


def _attachment_out(a: dict[str, Any]) -> PortalAttachmentOut:
    return PortalAttachmentOut.model_validate(a)


@route(
    bp,
    "/portal/documents",
    "GET",
    summary="My contracts and documents (those visible to me)",
    tags=PORTAL_CONTRACTS,
    response=PortalContractOut,
    response_is_list=True,
    auth="subscriber",
)
def handle_portal_documents(ctx: RequestContext) -> list[PortalContractOut]:
    return [_contract_out(c) for c in contract_svc.customer_documents(_me(ctx))]


@route(
    bp,
    "/portal/contracts/{contract_id}",
    "GET",
    summary="One of my contracts",
    tags=PORTAL_CONTRACTS,
    response=PortalContractOut,
    auth="subscriber",
)
def handle_portal_contract(ctx: RequestContext, contract_id: str) -> PortalContractOut:
    return _contract_out(contract_svc.customer_contract(_me(ctx), contract_id))


@route(
    bp,
    "/portal/contracts/{contract_id}/pdf",
    "GET",
    summary="My signed contract as PDF",
    tags=PORTAL_CONTRACTS,
    auth="subscriber",
    content_type="application/pdf",
    description="Only once signed (409 before). Send Accept: application/pdf.",
)
def handle_portal_contract_pdf(ctx: RequestContext, contract_id: str) -> Response:
    contract = contract_svc.customer_contract(_me(ctx), contract_id)
    return _file(
        contract_svc.contract_pdf(ctx.rt, contract), "application/pdf", f"contract-{contract.id}.pdf"
    )


@route(
    bp,
    "/portal/contracts/{contract_id}/attachments",
    "POST",
    summary="Upload an attachment (ID photo, proof of address)",
    tags=PORTAL_CONTRACTS,
    query=PortalAttachmentQuery,
    response=PortalAttachmentOut,
    auth="subscriber",
    raw_body=True,
    status=201,
    description="Body: the file; Content-Type image/jpeg, image/png or application/pdf; at most 950 kB.",
)
def handle_portal_upload_attachment(ctx: RequestContext, contract_id: str) -> PortalAttachmentOut:
    sub = _me(ctx)
    contract = contract_svc.customer_contract(sub, contract_id)
    att = contract_svc.add_attachment(
        ctx.rt,
        contract,
        contract_svc.Actor(sub.id, "subscriber", ctx.request_id),
        kind=ctx.query.kind,
        content_type=_content_type(ctx),
        data=ctx.raw_body,
        filename=ctx.query.filename,
    )
    return _attachment_out(att)


@route(
    bp,
    "/portal/contracts/{contract_id}/attachments/{attachment_id}",
    "GET",
    summary="Download one of my contract attachments",
    tags=PORTAL_CONTRACTS,
    auth="subscriber",
    content_type="application/octet-stream",
    description="Send Accept with the file's type.",
)
def handle_portal_attachment(ctx: RequestContext, contract_id: str, attachment_id: str) -> Response:
    contract = contract_svc.customer_contract(_me(ctx), contract_id)
    att, data = contract_svc.attachment_file(ctx.rt, contract, attachment_id)
    return _file(data, att["content_type"], att.get("filename") or att["id"])


# ---------------------------------------------------------------- signing link (no login)
@route(
    bp,
    "/portal/contract-signing",
    "GET",
    summary="The contract a signing link points to (no login)",
    tags=PORTAL_CONTRACTS,
    query=PortalSigningQuery,
    response=PortalContractOut,
    auth="public",
)
def handle_signing_view(ctx: RequestContext) -> PortalContractOut:
    return _contract_out(contract_svc.contract_for_token(ctx.rt, ctx.query.token))


@route(
    bp,
    "/portal/contract-signing",
    "POST",
    summary="Sign a contract through its link (no login)",
    tags=PORTAL_CONTRACTS,
    body=PortalSignIn,
    response=PortalContractOut,
    auth="public",
    description="Either typed_name or signature_png (PNG, base64, at most 200 kB). The time and the "
    "address the request came from are recorded.",
)
def handle_signing_sign(ctx: RequestContext) -> PortalContractOut:
    b: PortalSignIn = ctx.body
    contract = contract_svc.contract_for_token(ctx.rt, b.token)
    signed = contract_svc.sign_contract(
        ctx.rt,
        contract,
        typed_name=b.typed_name,
        signature_png=b.signature_png,
        source_ip=ctx.source_ip,
        user_agent=_user_agent(ctx),
    )
    return _contract_out(signed)


@route(
    bp,
    "/portal/contract-signing/attachments",
    "POST",
    summary="Upload an attachment through a signing link (no login)",
    tags=PORTAL_CONTRACTS,
    query=PortalSigningAttachmentQuery,
    response=PortalAttachmentOut,
    auth="public",
    raw_body=True,
    status=201,
)
def handle_signing_upload(ctx: RequestContext) -> PortalAttachmentOut:
    contract = contract_svc.contract_for_token(ctx.rt, ctx.query.token)
    att = contract_svc.add_attachment(
        ctx.rt,
        contract,
        contract_svc.Actor(contract.subscriber_id, "subscriber", ctx.request_id),
        kind=ctx.query.kind,
        content_type=_content_type(ctx),
        data=ctx.raw_body,
        filename=ctx.query.filename,
    )
    return _attachment_out(att)


# ================================================================ account
@route(
    bp,
    "/portal/account/portal-password",
    "POST",
    summary="Change my portal password",
    tags=PORTAL,
    body=PortalPasswordIn,
    response=PortalOkOut,
    auth="subscriber",
)
def handle_portal_change_password(ctx: RequestContext) -> PortalOkOut:
    b: PortalPasswordIn = ctx.body
    portal_svc.change_portal_password(_me(ctx), b.current_password, b.new_password, ctx.request_id)
    return PortalOkOut()


@route(
    bp,
    "/portal/account/network-password",
    "POST",
    summary="Change my network (PPPoE/hotspot) password",
    tags=PORTAL,
    body=PortalNetworkPasswordIn,
    response=PortalNetworkPasswordOut,
    auth="subscriber",
    description="Stored encrypted and pushed to the router by the provisioner.",
)
def handle_portal_change_network_password(ctx: RequestContext) -> PortalNetworkPasswordOut:
    b: PortalNetworkPasswordIn = ctx.body
    sync = portal_svc.change_network_password(
        ctx.rt, _me(ctx), b.current_password, b.new_password, ctx.request_id
    )
    return PortalNetworkPasswordOut(router_sync=sync.status, task_id=sync.task_id, warning=sync.warning)


@route(
    bp,
    "/portal/account/contact",
    "PATCH",
    summary="Update my contact data",
    tags=PORTAL,
    body=PortalContactIn,
    response=PortalMeOut,
    auth="subscriber",
)
def handle_portal_update_contact(ctx: RequestContext) -> PortalMeOut:
    portal_svc.update_contact(_me(ctx), patch_changes(ctx.body), ctx.request_id)
    return handle_portal_me(ctx)


# ================================================================ operator routes
def _admin_subscriber(ctx: RequestContext, subscriber_id: str) -> Subscriber:
    return admin_get_subscriber(ctx.p, subscriber_id)


def _admin_contract(ctx: RequestContext, contract_id: str) -> Contract:
    contract = portal_store.find_contract(contract_id) if 0 < len(contract_id) <= 128 else None
    if contract is None:
        raise NotFoundError("contract not found", field="contract_id")
    ctx.p.require_visible(contract.tenant_id, "contract")
    return contract


def _actor(ctx: RequestContext) -> contract_svc.Actor:
    return contract_svc.Actor(ctx.p.actor_id, ctx.p.actor_kind, ctx.request_id)


@route(
    bp,
    "/admin/subscribers/{subscriber_id}/autologin-link",
    "POST",
    summary="Issue an auto-login link to the customer portal (valid 6 months)",
    tags=ADMIN_PORTAL,
    response=PortalAutologinLinkOut,
    min_role="operator",
    status=201,
)
def handle_issue_autologin_link(ctx: RequestContext, subscriber_id: str) -> PortalAutologinLinkOut:
    sub = _admin_subscriber(ctx, subscriber_id)
    url, expires = portal_auth.issue_autologin_link_for(
        ctx.rt, sub, ctx.p.actor_id, ctx.p.actor_kind, ctx.request_id
    )
    return PortalAutologinLinkOut(
        url=url,
        short_url=portal_auth.issue_short_autologin_link(ctx.rt, sub),
        expires_at=expires,
        autologin_epoch=int(sub.autologin_epoch or 0),
    )


@route(
    bp,
    "/admin/subscribers/{subscriber_id}/autologin-link/revoke",
    "POST",
    summary="Revoke every auto-login link of a subscriber",
    tags=ADMIN_PORTAL,
    response=PortalAutologinRevokedOut,
    min_role="operator",
)
def handle_revoke_autologin_links(ctx: RequestContext, subscriber_id: str) -> PortalAutologinRevokedOut:
    sub = _admin_subscriber(ctx, subscriber_id)
    epoch = portal_auth.revoke_autologin_links(ctx.rt, sub, ctx.p.actor_id, ctx.p.actor_kind, ctx.request_id)
    return PortalAutologinRevokedOut(autologin_epoch=epoch)


@route(
    bp,
    "/admin/subscribers/{subscriber_id}/contracts",
    "POST",
    summary="Create a contract for a subscriber",
    tags=ADMIN_PORTAL,
    body=PortalContractCreateIn,
    response=PortalContractOut,
    min_role="operator",
    status=201,
)
def handle_create_contract(ctx: RequestContext, subscriber_id: str) -> PortalContractOut:
    sub = _admin_subscriber(ctx, subscriber_id)
    b: PortalContractCreateIn = ctx.body
    contract = contract_svc.create_contract(
        _actor(ctx), sub, b.content, b.start_date, b.end_date, b.visible_to_customer
    )
    return _contract_out(contract)


@route(
    bp,
    "/admin/subscribers/{subscriber_id}/contracts",
    "GET",
    summary="A subscriber's contracts",
    tags=ADMIN_PORTAL,
    response=PortalContractOut,
    response_is_list=True,
)
def handle_list_contracts(ctx: RequestContext, subscriber_id: str) -> list[PortalContractOut]:
    sub = _admin_subscriber(ctx, subscriber_id)
    return [_contract_out(c) for c in contract_svc.subscriber_contracts(sub.id)]


@route(
    bp,
    "/admin/contracts/{contract_id}",
    "GET",
    summary="Get a contract",
    tags=ADMIN_PORTAL,
    response=PortalContractOut,
)
def handle_get_contract(ctx: RequestContext, contract_id: str) -> PortalContractOut:
    return _contract_out(_admin_contract(ctx, contract_id))


@route(
    bp,
    "/admin/contracts/{contract_id}/signing-link",
    "POST",
    summary="Get the customer's signing link (no login needed, valid 30 days)",
    tags=ADMIN_PORTAL,
    response=PortalSigningLinkOut,
    min_role="operator",
)
def handle_contract_signing_link(ctx: RequestContext, contract_id: str) -> PortalSigningLinkOut:
    url, expires = contract_svc.signing_link(ctx.rt, _admin_contract(ctx, contract_id), _actor(ctx))
    return PortalSigningLinkOut(url=url, expires_at=expires)


@route(
    bp,
    "/admin/contracts/{contract_id}/activate",
    "POST",
    summary="Activate a signed contract",
    tags=ADMIN_PORTAL,
    response=PortalActivatedOut,
    min_role="operator",
    description="Only a signed contract pending activation (409 otherwise).",
)
def handle_activate_contract(ctx: RequestContext, contract_id: str) -> PortalActivatedOut:
    contract = contract_svc.activate_contract(_admin_contract(ctx, contract_id), _actor(ctx))
    return PortalActivatedOut(id=contract.id, status=contract.status)


@route(
    bp,
    "/admin/contracts/{contract_id}/pdf",
    "POST",
    summary="Render the contract PDF again",
    tags=ADMIN_PORTAL,
    body=PortalPdfIn,
    response=PortalPdfOut,
    min_role="operator",
    description="Only signed contracts; replacing an existing PDF needs confirm=true.",
)
def handle_regenerate_contract_pdf(ctx: RequestContext, contract_id: str) -> PortalPdfOut:
    contract = _admin_contract(ctx, contract_id)
    contract_svc.regenerate_pdf(ctx.rt, contract, _actor(ctx), ctx.body.confirm)
    return PortalPdfOut(contract_id=contract.id)


@route(
    bp,
    "/admin/contracts/{contract_id}/pdf",
    "GET",
    summary="The signed contract as PDF",
    tags=ADMIN_PORTAL,
    content_type="application/pdf",
    description="Send Accept: application/pdf.",
)
def handle_admin_contract_pdf(ctx: RequestContext, contract_id: str) -> Response:
    contract = _admin_contract(ctx, contract_id)
    return _file(
        contract_svc.contract_pdf(ctx.rt, contract), "application/pdf", f"contract-{contract.id}.pdf"
    )


# ---------------------------------------------------------------- payment reports and settings
def _admin_report(ctx: RequestContext, payment_id: str) -> Payment:
    report = pay.get_report(payment_id) if 0 < len(payment_id) <= 128 else None
    if report is None:
        raise NotFoundError("payment report not found", field="payment_id")
    ctx.p.require_visible(report.tenant_id, "payment report")
    return report


@route(
    bp,
    "/admin/payment-reports",
    "GET",
    summary="Payments reported by customers (bank transfers)",
    tags=ADMIN_PORTAL,
    query=PortalReportListQuery,
    response=PortalPaymentOut,
    response_is_list=True,
)
def handle_list_payment_reports(ctx: RequestContext) -> list[PortalPaymentOut]:
    q: PortalReportListQuery = ctx.query
    out: list[PortalPaymentOut] = []
    for tid in tenant_filter(ctx.p, q.tenant_id):
        out.extend(_payment_out(p) for p in portal_store.tenant_payments(tid, q.status, "reported", q.limit))
        if len(out) >= q.limit:
            break
    return out[: q.limit]


@route(
    bp,
    "/admin/payment-reports/{payment_id}/confirm",
    "POST",
    summary="Confirm a reported payment (applies it and reactivates a suspended subscriber)",
    tags=ADMIN_PORTAL,
    body=PortalReportConfirmIn,
    response=PortalConfirmedOut,
    min_role="operator",
)
def handle_confirm_payment_report(ctx: RequestContext, payment_id: str) -> PortalConfirmedOut:
    report = _admin_report(ctx, payment_id)
    applied = pay.confirm_report(
        ctx.rt, report, ctx.p.actor_id, ctx.p.actor_kind, ctx.body.amount, ctx.request_id
    )
    return PortalConfirmedOut(
        report_id=report.id,
        payment_id=applied.payment_id,
        duplicate=applied.duplicate,
        reactivated=applied.reactivated,
    )


@route(
    bp,
    "/admin/payment-reports/{payment_id}/reject",
    "POST",
    summary="Reject a reported payment",
    tags=ADMIN_PORTAL,
    body=PortalReportRejectIn,
    response=PortalPaymentOut,
    min_role="operator",
)
def handle_reject_payment_report(ctx: RequestContext, payment_id: str) -> PortalPaymentOut:
    report = _admin_report(ctx, payment_id)
    return _payment_out(
        pay.reject_report(report, ctx.p.actor_id, ctx.p.actor_kind, ctx.body.reason, ctx.request_id)
    )


def _settings_out(ctx: RequestContext, tenant: Tenant) -> PortalPaymentSettingsOut:
    tenant_id, cfg = tenant.id, pay.payment_config(tenant)
    return PortalPaymentSettingsOut(
        tenant_id=tenant_id,
        enabled=bool(cfg.get("enabled")),
        provider=str(cfg.get("provider") or "hosted"),
        checkout_url=cfg.get("checkout_url"),
        merchant_id=cfg.get("merchant_id"),
        webhook_url=pay.webhook_url(ctx.rt, tenant_id, str(cfg.get("provider") or "hosted")),
        webhook_secret=pay.webhook_secret(ctx.rt, tenant_id),
        providers=pay.enabled_providers(tenant),
        accounts=[PaymentAccountOut.model_validate(a) for a in pay.account_views(ctx.rt, tenant)],
    )


def _admin_tenant(ctx: RequestContext, tenant_id: str | None) -> Any:
    tid = tenant_id or ctx.p.tenant_id
    ctx.p.require_visible(tid, "tenant")
    tenant = tenant_store.get_tenant(tid)
    if tenant is None:
        raise NotFoundError("tenant not found", field="tenant_id")
    return tenant


@route(
    bp,
    "/admin/payment-settings",
    "GET",
    summary="Online-payment settings, webhook URL and secret",
    tags=ADMIN_PORTAL,
    query=PortalPaymentSettingsQuery,
    response=PortalPaymentSettingsOut,
    min_role="manager",
)
def handle_get_payment_settings(ctx: RequestContext) -> PortalPaymentSettingsOut:
    return _settings_out(ctx, _admin_tenant(ctx, ctx.query.tenant_id))


@route(
    bp,
    "/admin/payment-settings",
    "PUT",
    summary="Enable online payments and set the provider",
    tags=ADMIN_PORTAL,
    body=PortalPaymentSettingsIn,
    response=PortalPaymentSettingsOut,
    min_role="manager",
)
def handle_put_payment_settings(ctx: RequestContext) -> PortalPaymentSettingsOut:
    b: PortalPaymentSettingsIn = ctx.body
    tenant = _admin_tenant(ctx, b.tenant_id)
    changes = b.model_dump(exclude={"tenant_id"}, exclude_unset=True)
    pay.configure_payments(ctx.rt, tenant, changes, ctx.p.actor_id, ctx.request_id)
    return _settings_out(ctx, tenant)


@route(
    bp,
    "/admin/payment-settings/accounts/{provider}",
    "PUT",
    summary="Connect a Stripe or Mercado Pago account (keys are write-only)",
    tags=ADMIN_PORTAL,
    body=PaymentAccountIn,
    response=PaymentAccountOut,
    min_role="manager",
    description="provider is stripe or mercadopago. The keys are stored encrypted and never returned; "
    "the answer shows the webhook URL to enter in the provider's dashboard. A key must match the mode.",
)
def handle_put_payment_account(ctx: RequestContext, provider: str) -> PaymentAccountOut:
    b: PaymentAccountIn = ctx.body
    tenant = _admin_tenant(ctx, b.tenant_id)
    changes = b.model_dump(exclude={"tenant_id"}, exclude_unset=True)
    view = pay.configure_account(ctx.rt, tenant, provider, changes, ctx.p.actor_id, ctx.request_id)
    return PaymentAccountOut.model_validate(view)


@route(
    bp,
    "/admin/payment-settings/accounts/{provider}",
    "DELETE",
    summary="Disconnect a Stripe or Mercado Pago account (its keys are deleted)",
    tags=ADMIN_PORTAL,
    query=PaymentAccountQuery,
    response=PortalOkOut,
    min_role="manager",
)
def handle_delete_payment_account(ctx: RequestContext, provider: str) -> PortalOkOut:
    tenant = _admin_tenant(ctx, ctx.query.tenant_id)
    pay.remove_account(tenant, provider, ctx.p.actor_id, ctx.request_id)
    return PortalOkOut()


@route(
    bp,
    "/admin/payment-settings/accounts/{provider}/test",
    "POST",
    summary="Test connection: one harmless call to the provider with the stored keys",
    tags=ADMIN_PORTAL,
    body=PaymentAccountTestIn,
    response=PaymentAccountCheckOut,
    min_role="manager",
)
def handle_test_payment_account(ctx: RequestContext, provider: str) -> PaymentAccountCheckOut:
    tenant = _admin_tenant(ctx, ctx.body.tenant_id)
    return PaymentAccountCheckOut.model_validate(pay.check_account(ctx.rt, tenant, provider, ctx.p.actor_id))


# ---------------------------------------------------------------- cards
@route(
    bp,
    "/portal/vouchers/redeem",
    "POST",
    summary="Recharge with a card: its product is assigned, residual time and traffic are kept",
    tags=PORTAL,
    body=PortalRedeemIn,
    auth="subscriber",
    description="A card can be used once; its code and password are both required here.",
)
def handle_portal_redeem_voucher(ctx: RequestContext) -> dict[str, Any]:
    sub = _me(ctx)
    return vouchers.redeem_voucher(
        ctx.rt, ctx.p, sub.id, ctx.body.code.strip(), ctx.body.password, require_password=True
    )
