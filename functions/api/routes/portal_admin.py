"""The operator routes that serve the customer portal: auto-login links, contracts, payment reports and
online-payment settings.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from api.portal_views import contract_out, file_download, payment_out
from api.routing import RequestContext, route
from api.schemas.portal import (
    PaymentAccountCheckOut,
    PaymentAccountIn,
    PaymentAccountOut,
    PaymentAccountQuery,
    PaymentAccountTestIn,
    PortalActivatedOut,
    PortalAutologinLinkOut,
    PortalAutologinRevokedOut,
    PortalConfirmedOut,
    PortalContractCreateIn,
    PortalContractOut,
    PortalOkOut,
    PortalPaymentOut,
    PortalPaymentSettingsIn,
    PortalPaymentSettingsOut,
    PortalPaymentSettingsQuery,
    PortalPdfIn,
    PortalPdfOut,
    PortalReportConfirmIn,
    PortalReportListQuery,
    PortalReportPage,
    PortalReportRejectIn,
    PortalSigningLinkOut,
)
from services import contracts as contract_svc
from services import portal_auth
from services.billing import online as pay
from services.subscribers import get_subscriber as admin_get_subscriber
from services.tenants import visible_tenant
from store.models import Contract, Payment, Subscriber, Tenant

bp = Blueprint(__name__)

ADMIN_PORTAL = ["portal-admin"]


def _admin_subscriber(ctx: RequestContext, subscriber_id: str) -> Subscriber:
    return admin_get_subscriber(ctx.p, subscriber_id)


def _admin_contract(ctx: RequestContext, contract_id: str) -> Contract:
    return contract_svc.visible_contract(ctx.p, contract_id)


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
    return contract_out(contract)


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
    return [contract_out(c) for c in contract_svc.subscriber_contracts(sub.id)]


@route(
    bp,
    "/admin/contracts/{contract_id}",
    "GET",
    summary="Get a contract",
    tags=ADMIN_PORTAL,
    response=PortalContractOut,
)
def handle_get_contract(ctx: RequestContext, contract_id: str) -> PortalContractOut:
    return contract_out(_admin_contract(ctx, contract_id))


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
    return file_download(
        contract_svc.contract_pdf(ctx.rt, contract), "application/pdf", f"contract-{contract.id}.pdf"
    )


# ---------------------------------------------------------------- payment reports and settings
def _admin_report(ctx: RequestContext, payment_id: str) -> Payment:
    return pay.visible_report(ctx.p, payment_id)


@route(
    bp,
    "/admin/payment-reports",
    "GET",
    summary="Payments reported by customers (bank transfers)",
    tags=ADMIN_PORTAL,
    query=PortalReportListQuery,
    response=PortalReportPage,
    description="Newest first across the tenants (those of one instant by id), a page of limit at a time: "
    "pass next_cursor back as cursor for the next page.",
)
def handle_list_payment_reports(ctx: RequestContext) -> PortalReportPage:
    q: PortalReportListQuery = ctx.query
    items, nxt = pay.list_reports(ctx.rt.signer, ctx.p, q.tenant_id, q.status, q.limit, q.cursor)
    return PortalReportPage(items=[payment_out(p) for p in items], next_cursor=nxt)


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
    return payment_out(
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
    return visible_tenant(ctx.p, tenant_id)


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
    pay.configure_payments(ctx.rt, tenant, changes, ctx.p.actor_id, ctx.request_id, ctx.p.actor_kind)
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
    view = pay.configure_account(
        ctx.rt, tenant, provider, changes, ctx.p.actor_id, ctx.request_id, ctx.p.actor_kind
    )
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
    pay.remove_account(tenant, provider, ctx.p.actor_id, ctx.request_id, ctx.p.actor_kind)
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
    check = pay.check_account(ctx.rt, tenant, provider, ctx.p.actor_id, ctx.request_id, ctx.p.actor_kind)
    return PaymentAccountCheckOut.model_validate(check)
