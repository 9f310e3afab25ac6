"""Cards and vouchers (SPEC S2 "From card"): generate batches, list and revoke them, export their cards
as CSV, print them as a PDF sheet, and redeem a card onto an existing subscriber (a recharge)."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Annotated, Any, Literal

from chalice import Blueprint, Response
from pydantic import Field, StringConstraints

from api.http import export_response
from api.routing import RequestContext, route
from api.schemas.common import ExportQuery, Id, In, Money, Name, Out, Query, TenantQuery
from services import vouchers as svc

bp = Blueprint(__name__)

Code = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@:+\-]+$")]
Alphabet = Literal["digits", "lower", "upper", "alnum", "alnum_upper"]
CardStatus = Literal["unused", "redeemed", "revoked", "used", "expired"]


class ValidityIn(In):
    starts: Literal["none", "first_login", "date"] = "none"
    days: Annotated[int, Field(ge=1, le=3660)] | None = None
    date: Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None


class BatchIn(In):
    product_id: Id
    count: Annotated[int, Field(ge=1, le=svc.MAX_BATCH)]
    name: Name | None = None
    prefix: Annotated[str, StringConstraints(max_length=16, pattern=r"^[A-Za-z0-9._@:+\-]*$")] = ""
    username_length: Annotated[int, Field(ge=4, le=32)] = 8
    password_length: Annotated[int, Field(ge=4, le=32)] = 8
    username_alphabet: Alphabet = "alnum"
    password_alphabet: Alphabet = "alnum"
    validity: ValidityIn | None = None
    price: Money | None = None
    gateway_id: Id | None = Field(
        default=None, description="the hotspot the cards are for (its login page in the QR)"
    )
    tenant_id: Id | None = None


class BatchOut(Out):
    id: str
    tenant_id: str
    name: str | None = None
    product_id: str
    count: int
    prefix: str = ""
    price: str
    validity: dict[str, Any] = {}
    status: str
    options: dict[str, Any] = {}
    created_by: str | None = None
    created_at: str
    revoked_at: str | None = None
    cards: dict[str, int] | None = None
    revoked: int | None = None
    in_use_kept: int | None = None


class BatchList(Out):
    items: list[BatchOut]


class CardsQuery(ExportQuery):
    status: CardStatus | None = None


class SheetQuery(Query):
    cards_per_page: Annotated[int, Field(ge=1, le=21, description="1, 2, 4, 6, 8, 10, 12, 15 or 21")] = 10
    status: CardStatus | Literal["all"] = "unused"


class VoucherQuery(TenantQuery):
    pass


class VoucherOut(Out):
    code: str
    tenant_id: str
    batch_id: str
    product_id: str
    status: str
    valid_until: str | None = None
    redeemed_by: str | None = None
    redeemed_at: str | None = None
    created_at: str


class RedeemIn(In):
    code: Code
    subscriber_id: Id
    password: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="the card's password; checked when given"
    )


class RedeemOut(Out):
    code: str
    subscriber_id: str
    username: str
    product_id: str
    product_expires_at: str | None = None
    system: str
    carried_time_min: int | None = None
    carried_data_mb: int | None = None
    router: dict[str, Any] | None = None
    warnings: list[str] = []


def _plain(value: Any) -> Any:
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else value


@route(
    bp,
    "/admin/voucher-batches",
    "POST",
    summary="Generate a batch of cards",
    tags=["vouchers"],
    body=BatchIn,
    response=BatchOut,
    min_role="operator",
    status=201,
    description="Each card is a voucher (code + password) and a hotspot login with the same credentials. "
    "Validity: none (the product's), from the first use, or from a date; the code space must be far "
    "larger than the batch.",
)
def handle_create_voucher_batch(ctx: RequestContext) -> BatchOut:
    b = ctx.body
    req = svc.BatchRequest(
        product_id=b.product_id,
        count=b.count,
        name=b.name,
        prefix=b.prefix,
        username_length=b.username_length,
        password_length=b.password_length,
        username_alphabet=b.username_alphabet,
        password_alphabet=b.password_alphabet,
        validity=b.validity.model_dump() if b.validity else None,
        price=b.price,
        gateway_id=b.gateway_id,
        tenant_id=b.tenant_id,
    )
    return BatchOut.model_validate(svc.batch_dict(svc.create_batch(ctx.rt, ctx.p, req)))


@route(
    bp,
    "/admin/voucher-batches",
    "GET",
    summary="List card batches",
    tags=["vouchers"],
    query=TenantQuery,
    response=BatchList,
)
def handle_list_voucher_batches(ctx: RequestContext) -> BatchList:
    return BatchList.model_validate({"items": svc.list_batches(ctx.p, ctx.query.tenant_id)})


@route(
    bp,
    "/admin/voucher-batches/{batch_id}",
    "GET",
    summary="A card batch with its cards per status",
    tags=["vouchers"],
    response=BatchOut,
)
def handle_get_voucher_batch(ctx: RequestContext, batch_id: str) -> BatchOut:
    return BatchOut.model_validate(svc.batch_detail(ctx.p, batch_id))


@route(
    bp,
    "/admin/voucher-batches/{batch_id}/revoke",
    "POST",
    summary="Revoke a card batch",
    tags=["vouchers"],
    response=BatchOut,
    min_role="manager",
    description="Unused cards can no longer be redeemed or used to connect; cards already redeemed or in use "
    "keep working (counted in in_use_kept).",
)
def handle_revoke_voucher_batch(ctx: RequestContext, batch_id: str) -> BatchOut:
    return BatchOut.model_validate(svc.revoke_batch(ctx.p, batch_id))


@route(
    bp,
    "/admin/voucher-batches/{batch_id}/export",
    "GET",
    summary="Export a batch's cards as CSV (or XLSX with format=xlsx)",
    tags=["vouchers"],
    query=CardsQuery,
    min_role="operator",
    content_type="text/csv",
    description="Codes and passwords: the export is recorded in the audit log.",
)
def handle_export_voucher_batch(ctx: RequestContext, batch_id: str) -> Response:
    text = svc.export_csv(ctx.rt, ctx.p, batch_id, ctx.query.status)
    return export_response(text, f"cards-{batch_id}", ctx.query.format)


@route(
    bp,
    "/admin/voucher-batches/{batch_id}/cards.pdf",
    "GET",
    summary="Print a batch's cards (PDF sheet)",
    tags=["vouchers"],
    query=SheetQuery,
    min_role="operator",
    content_type="application/pdf",
    description="cards_per_page cards per A4 page with the tenant's name and logo, credentials and a QR "
    "code of the login URL. Unused cards by default (status=all for every card). Send Accept: application/pdf.",
)
def handle_print_voucher_batch(ctx: RequestContext, batch_id: str) -> Response:
    q = ctx.query
    pdf = svc.print_sheet(ctx.rt, ctx.p, batch_id, q.cards_per_page, None if q.status == "all" else q.status)
    return Response(
        body=pdf,
        status_code=200,
        headers={
            "Content-Type": "application/pdf",
            "Content-Disposition": f'attachment; filename="cards-{batch_id}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


@route(
    bp,
    "/admin/vouchers/redeem",
    "POST",
    summary="Redeem a card onto a subscriber (recharge)",
    tags=["vouchers"],
    body=RedeemIn,
    response=RedeemOut,
    min_role="operator",
    description="Assigns the card's product keeping the residual time and traffic of the previous one. A card "
    "is redeemed once: a second (or concurrent) attempt answers 409.",
)
def handle_redeem_voucher(ctx: RequestContext) -> RedeemOut:
    b = ctx.body
    res = svc.redeem_voucher(ctx.rt, ctx.p, b.subscriber_id, b.code, b.password)
    res["router"] = _plain(res.get("router"))
    return RedeemOut.model_validate(res)


@route(
    bp,
    "/admin/vouchers/{code}",
    "GET",
    summary="A card's status (without its password)",
    tags=["vouchers"],
    query=VoucherQuery,
    response=VoucherOut,
)
def handle_get_voucher(ctx: RequestContext, code: str) -> VoucherOut:
    return VoucherOut.model_validate(svc.voucher_dict(svc.get_voucher(ctx.p, code, ctx.query.tenant_id)))
