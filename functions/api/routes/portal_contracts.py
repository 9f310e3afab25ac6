"""Customer portal contracts (/portal/contracts*, /portal/documents) and the contract signing link
(/portal/contract-signing*, no login: the link carries its own signed proof).
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from api.portal_views import contract_out, file_download, me
from api.routing import RequestContext, route
from api.schemas.portal import (
    PortalAttachmentOut,
    PortalAttachmentQuery,
    PortalContractOut,
    PortalSignIn,
    PortalSigningAttachmentQuery,
    PortalSigningQuery,
)
from services import contracts as contract_svc

bp = Blueprint(__name__)

PORTAL_CONTRACTS = ["portal-contracts"]


def _user_agent(ctx: RequestContext) -> str | None:
    return {k.lower(): v for k, v in ctx.headers.items()}.get("user-agent")


def _content_type(ctx: RequestContext) -> str:
    return {k.lower(): v for k, v in ctx.headers.items()}.get("content-type", "")


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
    return [contract_out(c) for c in contract_svc.customer_documents(me(ctx))]


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
    return contract_out(contract_svc.customer_contract(me(ctx), contract_id))


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
    contract = contract_svc.customer_contract(me(ctx), contract_id)
    return file_download(
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
    sub = me(ctx)
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
    contract = contract_svc.customer_contract(me(ctx), contract_id)
    att, data = contract_svc.attachment_file(ctx.rt, contract, attachment_id)
    return file_download(data, att["content_type"], att.get("filename") or att["id"])


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
    return contract_out(contract_svc.contract_for_token(ctx.rt, ctx.query.token))


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
    return contract_out(signed)


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
