"""Self-registration from the captive portal (SPEC S2 "From user"): public routes, no operator.

options → start → (verify the one-time code) → complete; Click & connect and Simple password networks
get their free user from start directly. What each network offers is its gateway's domain settings.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from chalice import Blueprint
from pydantic import Field, StringConstraints

from api.routing import RequestContext, route
from api.schemas.common import Id, In, Out, Query
from services import registration as svc

bp = Blueprint(__name__)

Short = Annotated[str, StringConstraints(max_length=254)]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class OptionsQuery(Query):
    gateway_id: Id


class ProductOption(Out):
    id: str
    name: str
    description: str = ""
    price: str
    currency: str
    free: bool
    validity_days: int = 0


class OptionsOut(Out):
    gateway_id: str
    company: str
    mode: str
    fields: list[str]
    required: list[str]
    verify: str
    products: list[ProductOption]
    allow_vouchers: bool


class StartIn(In):
    gateway_id: Id
    name: Annotated[str, StringConstraints(max_length=100)] | None = None
    phone: Annotated[str, StringConstraints(max_length=32)] | None = None
    email: Short | None = None
    mac: Annotated[str, StringConstraints(max_length=32)] | None = Field(
        default=None,
        description="the device's MAC as the hotspot reports it (Click & connect: one user per device)",
    )
    password: Secret | None = Field(
        default=None, description="Simple password networks: the venue's password"
    )


class StartOut(Out):
    status: Literal["code_sent", "verified", "created"]
    registration_id: str | None = None
    channel: str | None = None
    sent_to: str | None = None
    expires_in: int | None = None
    attempts: int | None = None
    registration_token: str | None = None
    subscriber_id: str | None = None
    username: str | None = None
    password: str | None = None
    free_user: bool | None = None
    reused: bool | None = None
    login_url: str | None = None


class VerifyIn(In):
    registration_id: Annotated[
        str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")
    ]
    code: Annotated[str, StringConstraints(min_length=1, max_length=12)]


class VerifyOut(Out):
    status: str
    registration_id: str
    registration_token: str
    expires_in: int


class CompleteIn(In):
    registration_token: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    username: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="default: the phone number (or a name from the e-mail)"
    )
    password: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="default: random"
    )
    product_id: Id | None = Field(default=None, description="a free product offered on the network")
    voucher_code: Annotated[str, StringConstraints(max_length=64)] | None = None
    voucher_password: Annotated[str, StringConstraints(max_length=64)] | None = None


class CompleteOut(Out):
    status: str
    subscriber_id: str
    username: str
    password: str
    product_id: str | None = None
    product_name: str | None = None
    product_expires_at: str | None = None
    voucher: str | None = None
    login_url: str
    autologin_url: str
    sent: list[dict[str, Any]] = []
    warnings: list[str] = []


@route(
    bp,
    "/portal/register/options",
    "GET",
    summary="What registration offers on a network",
    tags=["registration"],
    query=OptionsQuery,
    response=OptionsOut,
    auth="public",
)
def handle_registration_options(ctx: RequestContext) -> OptionsOut:
    return OptionsOut.model_validate(svc.options(ctx.query.gateway_id))


@route(
    bp,
    "/portal/register/start",
    "POST",
    summary="Start a registration",
    tags=["registration"],
    body=StartIn,
    response=StartOut,
    auth="public",
    description="register: sends a one-time code by SMS or e-mail (rate-limited per contact and address). "
    "Click & connect / Simple password: returns the free user's credentials.",
)
def handle_registration_start(ctx: RequestContext) -> StartOut:
    data = ctx.body.model_dump(exclude_none=True)
    gateway_id = data.pop("gateway_id")
    return StartOut.model_validate(svc.start(ctx.rt, gateway_id, data, ctx.source_ip))


@route(
    bp,
    "/portal/register/verify",
    "POST",
    summary="Verify the one-time code",
    tags=["registration"],
    body=VerifyIn,
    response=VerifyOut,
    auth="public",
    description=f"{svc.MAX_VERIFY_ATTEMPTS} attempts per code (422 with attempts_left, then 429); codes expire "
    f"after {svc.CODE_TTL_S // 60} minutes.",
)
def handle_registration_verify(ctx: RequestContext) -> VerifyOut:
    return VerifyOut.model_validate(svc.verify(ctx.rt, ctx.body.registration_id, ctx.body.code))


@route(
    bp,
    "/portal/register/complete",
    "POST",
    summary="Create the account",
    tags=["registration"],
    body=CompleteIn,
    response=CompleteOut,
    auth="public",
    status=201,
    description="With a free product offered on the network, or a voucher (code + password) whose product "
    "is assigned. The credentials are also sent to the verified contact.",
)
def handle_registration_complete(ctx: RequestContext) -> CompleteOut:
    data = ctx.body.model_dump(exclude_none=True)
    token = data.pop("registration_token")
    return CompleteOut.model_validate(svc.complete(ctx.rt, token, data))
