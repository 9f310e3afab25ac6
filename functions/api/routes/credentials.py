"""Credentials delivery (SPEC S4): send credentials by SMS/e-mail, the welcome e-mail with the auto-login
button, print one card, and the per-tenant message templates with a preview."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from chalice import Blueprint, Response
from pydantic import Field, StringConstraints

from api.routing import RequestContext, route
from api.schemas.common import Id, In, Out, TenantQuery
from services import credentials as svc

bp = Blueprint(__name__)

TemplateName = Literal[
    "credentials_sms",
    "credentials_email_subject",
    "credentials_email",
    "welcome_email_subject",
    "welcome_email",
    "autologin_sms",
    "registration_code_sms",
    "registration_code_email_subject",
    "registration_code_email",
]
TemplateText = Annotated[str, StringConstraints(min_length=1, max_length=svc.MAX_TEMPLATE_CHARS)]


class CredentialsSendIn(In):
    channel: Literal["sms", "email", "both"] | None = Field(
        default=None, description="default: the subscriber's domain setting (credentials.channel), else both"
    )


class SentItem(Out):
    channel: str
    recipient: str
    message_id: str


class SentOut(Out):
    subscriber_id: str
    sent: list[SentItem]


class TemplateItem(Out):
    text: str
    custom: bool


class TemplatesOut(Out):
    tenant_id: str
    templates: dict[str, TemplateItem]
    placeholders: dict[str, str]


class TemplatesIn(In):
    templates: dict[TemplateName, TemplateText | None] = Field(
        description="template name → text (null resets it to the default)"
    )
    tenant_id: Id | None = None


class PreviewIn(In):
    template: TemplateName
    text: TemplateText | None = Field(default=None, description="text being edited (default: the saved one)")
    subscriber_id: Id | None = Field(
        default=None, description="render with this subscriber (else sample data)"
    )
    tenant_id: Id | None = None


class PreviewOut(Out):
    template: str
    text: str
    length: int
    subject: str | None = None
    html: str | None = None
    sms_limit: int | None = None
    fits_sms: bool | None = None


@route(
    bp,
    "/admin/subscribers/{subscriber_id}/credentials/send",
    "POST",
    summary="Send credentials by SMS/e-mail",
    tags=["credentials"],
    body=CredentialsSendIn,
    response=SentOut,
    min_role="operator",
    description="422 naming phone or email when the subscriber lacks the contact the channel needs.",
)
def handle_send_credentials(ctx: RequestContext, subscriber_id: str) -> SentOut:
    return SentOut.model_validate(svc.send_credentials(ctx.rt, ctx.p, subscriber_id, ctx.body.channel))


@route(
    bp,
    "/admin/subscribers/{subscriber_id}/welcome-email",
    "POST",
    summary="Send the welcome e-mail",
    tags=["credentials"],
    response=SentOut,
    min_role="operator",
    description="With the auto-login button to the customer portal; only for subscribers with an e-mail "
    "address (422 on field email otherwise).",
)
def handle_send_welcome(ctx: RequestContext, subscriber_id: str) -> SentOut:
    return SentOut.model_validate(svc.send_welcome(ctx.rt, ctx.p, subscriber_id))


@route(
    bp,
    "/admin/subscribers/{subscriber_id}/card.pdf",
    "GET",
    summary="Print the subscriber's card (PDF)",
    tags=["credentials"],
    min_role="operator",
    content_type="application/pdf",
    description="Credentials and the QR code of the login URL. Send Accept: application/pdf.",
)
def handle_print_card(ctx: RequestContext, subscriber_id: str) -> Response:
    return Response(
        body=svc.print_card(ctx.rt, ctx.p, subscriber_id),
        status_code=200,
        headers={
            "Content-Type": "application/pdf",
            "Content-Disposition": f'attachment; filename="card-{subscriber_id}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


@route(
    bp,
    "/admin/credentials/templates",
    "GET",
    summary="Credential message templates",
    tags=["credentials"],
    query=TenantQuery,
    response=TemplatesOut,
)
def handle_get_templates(ctx: RequestContext) -> TemplatesOut:
    return TemplatesOut.model_validate(svc.templates_view(ctx.p, ctx.query.tenant_id))


@route(
    bp,
    "/admin/credentials/templates",
    "PUT",
    summary="Edit credential message templates",
    tags=["credentials"],
    body=TemplatesIn,
    response=TemplatesOut,
    min_role="manager",
    description="Placeholders: {{ empresa }}, {{ nombre }}, {{ usuario }}, {{ contrasena }}, {{ producto }}, "
    "{{ url_login }}, {{ url_autologin }}, {{ codigo }}, {{ minutos }}. SMS templates must fit 164 characters.",
)
def handle_put_templates(ctx: RequestContext) -> TemplatesOut:
    b = ctx.body
    changes: dict[str, Any] = dict(b.templates)
    return TemplatesOut.model_validate(svc.save_templates(ctx.p, b.tenant_id, changes))


@route(
    bp,
    "/admin/credentials/preview",
    "POST",
    summary="Preview a credential message",
    tags=["credentials"],
    body=PreviewIn,
    response=PreviewOut,
    min_role="operator",
    description="Renders the saved template (or text being edited) with a subscriber's data (password "
    "masked) or sample data, and says whether an SMS fits 164 characters.",
)
def handle_preview_template(ctx: RequestContext) -> PreviewOut:
    b = ctx.body
    return PreviewOut.model_validate(
        svc.preview(ctx.rt, ctx.p, b.template, b.text, b.subscriber_id, b.tenant_id)
    )


class AutologinSmsIn(In):
    subscriber_ids: list[Id] = Field(min_length=1, max_length=svc.MAX_BULK_SMS)
    template: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = Field(
        default=None,
        description="default: the tenant's autologin_sms template; must contain {{ url_autologin }} and "
        "fit 164 characters once rendered",
    )


class AutologinSmsItem(Out):
    subscriber_id: str
    result: Literal["sent", "no_phone", "not_found", "failed"]
    reason: str | None = None
    message_id: str | None = None


class AutologinSmsOut(Out):
    sent: int
    results: list[AutologinSmsItem]


@route(
    bp,
    "/admin/autologin-links/sms",
    "POST",
    summary="Send auto-login links by SMS to many subscribers",
    tags=["credentials"],
    body=AutologinSmsIn,
    response=AutologinSmsOut,
    min_role="operator",
    description="Each subscriber gets a short auto-login link (valid 6 months) in an SMS of at most 164 "
    "characters; the result lists, per subscriber, sent or why not.",
)
def handle_send_autologin_sms(ctx: RequestContext) -> AutologinSmsOut:
    return AutologinSmsOut.model_validate(
        svc.send_autologin_sms(ctx.rt, ctx.p, list(ctx.body.subscriber_ids), ctx.body.template)
    )
