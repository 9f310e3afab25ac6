"""Customer portal (/portal/*): sign-in and auto-login, my service, invoices and payments, account and
card recharges. Contracts are in ``portal_contracts``; the operator routes that serve the portal in
``portal_admin``.

Portal routes use ``auth="subscriber"`` (the authenticator is registered by ``services.portal_auth``);
the auto-login links and the provider webhook are public and carry their own signed proof.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from api.http import patch_changes
from api.portal_views import file_download, me, payment_out
from api.routing import RequestContext, route
from api.schemas.portal import (
    PortalAmountDueOut,
    PortalAutologinIn,
    PortalAutologinQuery,
    PortalCheckoutIn,
    PortalCheckoutOut,
    PortalCheckoutStatusOut,
    PortalConnectionPage,
    PortalContactIn,
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
    PortalProvidersOut,
    PortalRedeemIn,
    PortalServiceOut,
    PortalSessionOut,
    PortalUsageOut,
    PortalUsageQuery,
    PortalWebhookOut,
    PortalWebhookQuery,
)
from core.invoice_ids import path_id
from core.money import currency_or_default
from services import portal as portal_svc
from services import portal_auth, vouchers
from services.billing import online as pay
from store.models import Invoice

bp = Blueprint(__name__)

PORTAL = ["portal"]
PORTAL_AUTH = ["portal-auth"]
PORTAL_PAY = ["portal-payments"]


def _session_out(s: portal_auth.PortalSession) -> PortalSessionOut:
    return PortalSessionOut(
        token=s.token,
        expires_in=s.expires_in,
        subscriber_id=s.subscriber_id,
        tenant_id=s.tenant_id,
        username=s.username,
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
    sub = me(ctx)
    tenant = portal_svc.my_tenant(sub)
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
    return portal_svc.service_overview(me(ctx))


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
    return portal_svc.traffic_per_day(me(ctx), ctx.query.days)


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
    return portal_svc.connection_log(ctx.rt, me(ctx), ctx.query.limit, ctx.query.next_token)


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
    return portal_svc.devices(me(ctx))


# ================================================================ invoices
def _invoice_out(inv: Invoice) -> PortalInvoiceOut:
    currency = currency_or_default(inv.currency)
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
    rows, token = portal_svc.list_invoices(ctx.rt, me(ctx), ctx.query.limit, ctx.query.next_token)
    return PortalInvoicePage(items=[_invoice_out(i) for i in rows], next_token=token)


@route(
    bp,
    "/portal/amount-due",
    "GET",
    summary="What I owe: every unpaid invoice's amount due, per currency",
    tags=PORTAL_PAY,
    response=PortalAmountDueOut,
    auth="subscriber",
    description="All my unpaid invoices, however many (the invoice list shows a page at a time); amounts "
    "of different currencies are never added together.",
)
def handle_portal_amount_due(ctx: RequestContext) -> PortalAmountDueOut:
    return PortalAmountDueOut.model_validate(portal_svc.amount_owed(me(ctx)))


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
    return _invoice_out(portal_svc.get_invoice(me(ctx), invoice_id))


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
    pdf, name = portal_svc.invoice_pdf(portal_svc.get_invoice(me(ctx), invoice_id))
    return file_download(pdf, "application/pdf", name)


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
    sub = me(ctx)
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
    names = pay.enabled_providers(pay.tenant_of(me(ctx)))
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
    return PortalCheckoutStatusOut.model_validate(pay.checkout_status(me(ctx), checkout_id))


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
    return [payment_out(p) for p in portal_svc.my_payments(me(ctx))]


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
        me(ctx),
        amount=b.amount,
        method=b.method,
        reference=b.reference,
        paid_on=b.paid_on,
        invoice_id=b.invoice_id,
        note=b.note,
        request_id=ctx.request_id,
    )
    return payment_out(payment)


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
    portal_svc.change_portal_password(me(ctx), b.current_password, b.new_password, ctx.request_id)
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
        ctx.rt, me(ctx), b.current_password, b.new_password, ctx.request_id
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
    portal_svc.update_contact(me(ctx), patch_changes(ctx.body), ctx.request_id)
    return handle_portal_me(ctx)


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
    sub = me(ctx)
    return vouchers.redeem_voucher(
        ctx.rt, ctx.p, sub.id, ctx.body.code.strip(), ctx.body.password, require_password=True
    )
