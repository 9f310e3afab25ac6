"""Credentials delivery (SPEC S4 "Send credentials", "Welcome e-mail", "Print card"; S8 templates).

Messages come from per-tenant templates (``Tenant.settings["templates"][name]``) with ``{{ placeholder }}``
fields, falling back to the defaults below. SMS texts are checked against the 164-character limit
before anything is sent, and a subscriber without the needed phone number or e-mail address gets a
clear 422 naming the missing field. Passwords only ever travel in the message itself: they are not
logged and not kept in the audit entry.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from core.billing_calendar import zone_info
from core.errors import NotFoundError, UnavailableError, ValidationError
from core.ids import now_iso, parse_iso
from core.templates import check_sms, placeholders_in, render_template
from services import card_pdf
from services import subscribers as subs
from services.billing.context import subscriber_time_zone
from services.identity.actors import Actor
from services.portal_auth import issue_autologin_link, issue_short_autologin_link
from services.tenants import audit
from shared.aws import AWS_ERRORS, aws_error_code
from shared.observability import get_logger
from shared.runtime import Runtime
from store import catalog as catalog_store
from store import tenants as tenant_store
from store.models import Gateway, Product, Subscriber, Tenant

log = get_logger("credentials")

# Placeholders of the credential and registration messages (Spanish names, as in the WispHub templates).
PLACEHOLDERS = {
    "empresa": "the tenant's company name",
    "nombre": "the subscriber's name",
    "usuario": "the network username",
    "contrasena": "the network password",
    "producto": "the product (plan) name",
    "url_login": "the login page (hotspot or portal)",
    "url_autologin": "auto-login link to the customer portal (welcome e-mail)",
    "codigo": "one-time verification code (registration)",
    "minutos": "minutes the code stays valid (registration)",
}

DEFAULT_TEMPLATES: dict[str, str] = {
    "credentials_sms": "{{ empresa }}: your user is {{ usuario }} and your password {{ contrasena }}",
    "credentials_email_subject": "{{ empresa }}: your access credentials",
    "credentials_email": (
        "Hello {{ nombre }},\n\nthese are your credentials for {{ empresa }}:\n\nUser: {{ usuario }}\n"
        "Password: {{ contrasena }}\nPlan: {{ producto }}\n\nLog in at {{ url_login }}\n\n{{ empresa }}"
    ),
    "welcome_email_subject": "Welcome to {{ empresa }}",
    "welcome_email": (
        "Hello {{ nombre }},\n\nwelcome to {{ empresa }}. Your user is {{ usuario }} and your password "
        "{{ contrasena }}.\n\nYour customer portal shows your plan, your usage and your invoices; this link "
        "signs you in directly for the next six months:\n{{ url_autologin }}\n\n{{ empresa }}"
    ),
    "autologin_sms": "{{ empresa }}: your customer portal, no password needed: {{ url_autologin }}",
    "registration_code_sms": "{{ empresa }}: your verification code is {{ codigo }} (valid {{ minutos }} min)",
    "registration_code_email_subject": "{{ empresa }}: your verification code",
    "registration_code_email": (
        "Your verification code for {{ empresa }} is {{ codigo }}.\n\nIt is valid for {{ minutos }} minutes. "
        "If you did not ask for it, ignore this message."
    ),
}
TEMPLATE_NAMES = tuple(DEFAULT_TEMPLATES)
CHANNELS = ("sms", "email", "both")
MAX_TEMPLATE_CHARS = 5_000


# ---------------------------------------------------------------- templates
def tenant_templates(tenant: Tenant | None) -> dict[str, str]:
    own = (tenant.settings or {}).get("templates") if tenant is not None else None
    return {k: v for k, v in (own or {}).items() if isinstance(v, str)} if isinstance(own, dict) else {}


def template(tenant: Tenant | None, name: str) -> str:
    """The tenant's own text for ``name``, else the default."""
    return tenant_templates(tenant).get(name) or DEFAULT_TEMPLATES[name]


def _check_text(name: str, text: str) -> None:
    if name not in DEFAULT_TEMPLATES:
        raise ValidationError(
            f"unknown template; known: {', '.join(TEMPLATE_NAMES)}", field=f"templates.{name}"
        )
    if len(text) > MAX_TEMPLATE_CHARS:
        raise ValidationError(f"at most {MAX_TEMPLATE_CHARS} characters", field=f"templates.{name}")
    unknown = sorted({p for p in placeholders_in(text) if p not in PLACEHOLDERS})
    if unknown:
        raise ValidationError(f"unknown placeholder(s): {', '.join(unknown)}", field=f"templates.{name}")
    if name.endswith("_subject") and {"codigo", "contrasena"} & set(placeholders_in(text)):
        # subjects show in inbox lists and notifications: codes and passwords go in the body only
        raise ValidationError("a subject cannot hold the code or the password", field=f"templates.{name}")


def check_template(name: str, text: str) -> None:
    """Known name, known placeholders, bounded size; an SMS must fit 164 characters with sample values."""
    _check_text(name, text)
    if name.endswith("_sms"):
        check_sms(render_template(text, SAMPLE), field=f"templates.{name}")


SAMPLE = {
    "empresa": "Demo WISP",
    "nombre": "Ana Pérez",
    "usuario": "ana.perez",
    "contrasena": "k7m2p9qa",
    "producto": "Home 10M",
    "url_login": "http://wifi.example/login",
    "codigo": "482913",
    "minutos": "10",
    "url_autologin": "https://portal.example/my/autologin?token=…",
}


def templates_view(actor: Actor, tenant_id: str | None) -> dict[str, Any]:
    """The effective templates of a tenant (its own marked ``custom``) and the placeholders."""
    tid = tenant_id or actor.tenant_id
    actor.require_visible(tid, "tenant")
    tenant = tenant_store.get_tenant(tid)
    own = tenant_templates(tenant)
    return {
        "tenant_id": tid,
        "templates": {
            n: {"text": own.get(n) or DEFAULT_TEMPLATES[n], "custom": n in own} for n in TEMPLATE_NAMES
        },
        "placeholders": PLACEHOLDERS,
    }


def save_templates(actor: Actor, tenant_id: str | None, changes: Mapping[str, str | None]) -> dict[str, Any]:
    """Set (or, with null, reset to the default) some of a tenant's credential templates."""
    tid = tenant_id or actor.tenant_id
    actor.require_visible(tid, "tenant")
    actor.require_role("manager")
    tenant = tenant_store.get_tenant(tid)
    if tenant is None:
        raise NotFoundError("tenant not found", field="tenant_id")
    for name, text in changes.items():
        if text is not None:
            check_template(name, text)
        elif name not in DEFAULT_TEMPLATES:
            raise ValidationError(
                f"unknown template; known: {', '.join(TEMPLATE_NAMES)}", field=f"templates.{name}"
            )
    settings = dict(tenant.settings or {})
    before = dict(settings.get("templates") or {})
    merged = dict(before)
    for name, text in changes.items():
        if text is None:
            merged.pop(name, None)
        else:
            merged[name] = text
    settings["templates"] = merged
    tenant_store.update_tenant(tenant, {"settings": settings, "updated_at": now_iso()})
    audit(actor, tid, "tenant", tid, "update_templates", {"templates": before}, {"templates": merged})
    return templates_view(actor, tid)


# ---------------------------------------------------------------- message context
@dataclass
class Message:
    channel: str  # sms | email
    recipient: str
    text: str
    subject: str | None = None
    html: str | None = None


def _company(tenant: Tenant | None) -> str:
    return (tenant.company_name or tenant.name) if tenant is not None else ""


def context(
    rt: Runtime, sub: Subscriber, tenant: Tenant | None, password: str, *, autologin: bool = False
) -> dict[str, Any]:
    prod = catalog_store.get(Product, sub.product_id) if sub.product_id else None
    gw = catalog_store.get(Gateway, sub.gateway_id) if sub.gateway_id else None
    return {
        "empresa": _company(tenant),
        "nombre": sub.name or sub.username,
        "usuario": sub.username,
        "contrasena": password,
        "producto": prod.name if prod else "",
        "url_login": card_pdf.login_url(rt, gw, tenant, sub.username, password).split("?", 1)[0],
        "url_autologin": issue_autologin_link(rt, sub) if autologin else "",
    }


def _welcome_html(text: str, url: str, company: str) -> str:
    """The welcome e-mail as HTML: the text, with the auto-login link as a button."""
    paragraphs = [p for p in text.replace(url, "").split("\n\n") if p.strip()]
    body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    button = (
        f'<p><a href="{html.escape(url, quote=True)}" style="display:inline-block;padding:12px 24px;'
        'background:#1a73e8;color:#ffffff;text-decoration:none;border-radius:6px;font-weight:bold">'
        "Open my portal</a></p>"
    )
    return f"<html><body>{body}{button}<p>{html.escape(company)}</p></body></html>"


def _masked(recipient: str) -> str:
    """Recipients in audit entries and responses: enough to recognise, not to harvest."""
    if "@" in recipient:
        local, _, domain = recipient.partition("@")
        return f"{local[:2]}***@{domain}"
    return f"***{recipient[-4:]}"


def _send(rt: Runtime, msg: Message) -> dict[str, str]:
    try:
        if msg.channel == "sms":
            sent = rt.notifier.send_sms(msg.recipient, check_sms(msg.text, field="template"))
        else:
            sent = rt.notifier.send_email(msg.recipient, msg.subject or "", msg.text, msg.html)
    except AWS_ERRORS as exc:
        code = aws_error_code(exc)
        if code in ("InvalidParameterValue", "InvalidParameter"):
            field = "phone" if msg.channel == "sms" else "email"
            raise ValidationError(f"the {field} is not accepted by the provider", field=field) from exc
        log.warning("message not sent", extra={"channel": msg.channel, "error": code or type(exc).__name__})
        raise UnavailableError(f"the {msg.channel} could not be sent now; try again later") from exc
    return {"channel": msg.channel, "recipient": _masked(msg.recipient), "message_id": sent.message_id}


def _domain_channel(sub: Subscriber) -> str:
    """How the subscriber's domain (its gateway's settings) sends credentials: sms, email or both."""
    gw = catalog_store.get(Gateway, sub.gateway_id) if sub.gateway_id else None
    ds = (gw.domain_settings or {}) if gw is not None else {}
    cfg = ds.get("credentials") if isinstance(ds.get("credentials"), dict) else {}
    channel = str((cfg or {}).get("channel") or "both")
    return channel if channel in CHANNELS else "both"


# ---------------------------------------------------------------- operations
def credential_messages(rt: Runtime, sub: Subscriber, channel: str | None) -> list[Message]:
    """The credential messages for a subscriber on a channel (None: the domain's setting).

    An explicit channel needs its contact (422 naming ``phone`` / ``email``); "both" sends to the
    contacts the subscriber has and needs at least one."""
    chosen = channel or _domain_channel(sub)
    if chosen not in CHANNELS:
        raise ValidationError(f"must be one of {', '.join(CHANNELS)}", field="channel")
    if chosen == "sms" and not sub.phone:
        raise ValidationError("the subscriber has no phone number to send the SMS to", field="phone")
    if chosen == "email" and not sub.email:
        raise ValidationError(
            "the subscriber has no e-mail address to send the credentials to", field="email"
        )
    if chosen == "both" and not sub.phone and not sub.email:
        raise ValidationError("the subscriber has no phone number or e-mail address", field="phone")
    tenant = tenant_store.get_tenant(sub.tenant_id)
    ctx = context(rt, sub, tenant, rt.box.decrypt(sub.password_enc))
    out = []
    if chosen in ("sms", "both") and sub.phone:
        out.append(Message("sms", sub.phone, render_template(template(tenant, "credentials_sms"), ctx)))
    if chosen in ("email", "both") and sub.email:
        out.append(
            Message(
                "email",
                sub.email,
                render_template(template(tenant, "credentials_email"), ctx),
                render_template(template(tenant, "credentials_email_subject"), ctx),
            )
        )
    return out


def send_credentials(
    rt: Runtime, actor: Actor, subscriber_id: str, channel: str | None = None
) -> dict[str, Any]:
    """Send the subscriber its network credentials by SMS and/or e-mail (SPEC S4)."""
    sub = subs.get_subscriber(actor, subscriber_id)
    messages = credential_messages(rt, sub, channel)
    for m in messages:  # every message is checked before the first one goes out
        if m.channel == "sms":
            check_sms(m.text, field="template")
    sent = [_send(rt, m) for m in messages]
    audit(actor, sub.tenant_id, "subscriber", sub.id, "send_credentials", None, {"sent": sent})
    return {"subscriber_id": sub.id, "sent": sent}


def welcome_message(rt: Runtime, sub: Subscriber) -> Message:
    if not sub.email:
        raise ValidationError("the welcome e-mail needs the subscriber's e-mail address", field="email")
    tenant = tenant_store.get_tenant(sub.tenant_id)
    ctx = context(rt, sub, tenant, rt.box.decrypt(sub.password_enc), autologin=True)
    text = render_template(template(tenant, "welcome_email"), ctx)
    return Message(
        "email",
        sub.email,
        text,
        render_template(template(tenant, "welcome_email_subject"), ctx),
        _welcome_html(text, ctx["url_autologin"], ctx["empresa"]),
    )


def send_welcome(rt: Runtime, actor: Actor, subscriber_id: str) -> dict[str, Any]:
    """The welcome e-mail with the auto-login button (only for subscribers with an e-mail, SPEC S4)."""
    sub = subs.get_subscriber(actor, subscriber_id)
    sent = _send(rt, welcome_message(rt, sub))
    audit(actor, sub.tenant_id, "subscriber", sub.id, "send_welcome_email", None, {"sent": [sent]})
    return {"subscriber_id": sub.id, "sent": [sent]}


def preview(
    rt: Runtime, actor: Actor, name: str, text: str | None, subscriber_id: str | None, tenant_id: str | None
) -> dict[str, Any]:
    """Render a template (the tenant's, or ``text`` being edited) with a subscriber's data, or sample
    data. The password is shown masked; the length check uses its real length."""
    if name not in DEFAULT_TEMPLATES:
        raise ValidationError(f"unknown template; known: {', '.join(TEMPLATE_NAMES)}", field="template")
    if text is not None:
        _check_text(name, text)  # the length of an SMS being edited is reported, not refused
    if subscriber_id:
        sub = subs.get_subscriber(actor, subscriber_id)
        tenant = tenant_store.get_tenant(sub.tenant_id)
        masked = "*" * len(rt.box.decrypt(sub.password_enc))
        # no live auto-login link is issued for a preview: a stand-in of the same shape is shown
        link = f"{rt.settings.public_base_url.rstrip('/')}/my/autologin?token=(issued-when-sent)"
        ctx = {
            **context(rt, sub, tenant, masked),
            "url_autologin": link,
            "codigo": SAMPLE["codigo"],
            "minutos": SAMPLE["minutos"],
        }
    else:
        tid = tenant_id or actor.tenant_id
        actor.require_visible(tid, "tenant")
        tenant = tenant_store.get_tenant(tid)
        ctx = {**SAMPLE, "empresa": _company(tenant) or SAMPLE["empresa"]}
    source = text if text is not None else template(tenant, name)
    rendered = render_template(source, ctx)
    out: dict[str, Any] = {"template": name, "text": rendered, "length": len(rendered)}
    if name.endswith("_sms"):
        out["sms_limit"] = 164
        out["fits_sms"] = len(rendered) <= 164
    subject_name = f"{name}_subject"
    if subject_name in DEFAULT_TEMPLATES:
        out["subject"] = render_template(template(tenant, subject_name), ctx)
    if name == "welcome_email":
        out["html"] = _welcome_html(
            rendered, str(ctx.get("url_autologin") or ""), str(ctx.get("empresa") or "")
        )
    return out


def _local_moment(sub: Subscriber, stamp: str) -> str:
    """An instant as the subscriber reads it: date and time in its zone (``2026-05-31 20:00``)."""
    try:
        when = parse_iso(stamp)
    except ValueError:
        return stamp[:10]
    if when.tzinfo is None:  # stored instants are UTC
        when = when.replace(tzinfo=UTC)
    return when.astimezone(zone_info(subscriber_time_zone(sub))).strftime("%Y-%m-%d %H:%M")


def print_card(rt: Runtime, actor: Actor, subscriber_id: str) -> bytes:
    """One card with the subscriber's credentials and the QR code of the login URL, as a PDF."""
    sub = subs.get_subscriber(actor, subscriber_id)
    tenant = tenant_store.get_tenant(sub.tenant_id)
    password = rt.box.decrypt(sub.password_enc)
    prod = catalog_store.get(Product, sub.product_id) if sub.product_id else None
    lines = tuple(
        x
        for x in (
            sub.name or "",
            f"Valid until {_local_moment(sub, sub.product_expires_at)}" if sub.product_expires_at else "",
        )
        if x
    )
    card = card_pdf.Card(
        sub.username,
        password,
        card_pdf.card_url(rt, sub.username, sub.tenant_id),
        prod.name if prod else "",
        lines,
    )
    name = _company(tenant) or sub.tenant_id
    pdf = card_pdf.render_cards_pdf(
        [card], card_pdf.SheetStyle(name, card_pdf.tenant_logo(rt, tenant), 4, f"{name} card {sub.username}")
    )
    audit(actor, sub.tenant_id, "subscriber", sub.id, "print_card", None, None)
    return pdf


def send_code(
    rt: Runtime, tenant: Tenant | None, channel: str, recipient: str, code: str, minutes: int
) -> dict[str, str]:
    """Send a registration's one-time code (the code is only in the message, never logged)."""
    ctx = {"empresa": _company(tenant), "codigo": code, "minutos": str(minutes)}
    if channel == "sms":
        msg = Message("sms", recipient, render_template(template(tenant, "registration_code_sms"), ctx))
    else:
        msg = Message(
            "email",
            recipient,
            render_template(template(tenant, "registration_code_email"), ctx),
            render_template(template(tenant, "registration_code_email_subject"), ctx),
        )
    return _send(rt, msg)


def send_new_account(rt: Runtime, sub: Subscriber, channel: str, password: str) -> dict[str, str] | None:
    """After self-registration: the credentials to the contact that was just verified."""
    tenant = tenant_store.get_tenant(sub.tenant_id)
    ctx = context(rt, sub, tenant, password)
    if channel == "sms" and sub.phone:
        return _send(rt, Message("sms", sub.phone, render_template(template(tenant, "credentials_sms"), ctx)))
    if channel == "email" and sub.email:
        return _send(
            rt,
            Message(
                "email",
                sub.email,
                render_template(template(tenant, "credentials_email"), ctx),
                render_template(template(tenant, "credentials_email_subject"), ctx),
            ),
        )
    return None


MAX_BULK_SMS = 500


def send_autologin_sms(
    rt: Runtime, actor: Actor, subscriber_ids: list[str], text: str | None = None
) -> dict[str, Any]:
    """Send each subscriber an SMS with its auto-login link (SPEC S4: bulk, template with
    ``{{ empresa }}`` and ``{{ url_autologin }}``, at most 164 characters). The template is checked
    before anything is sent; the result says, per subscriber, sent or why not."""
    if not 1 <= len(subscriber_ids) <= MAX_BULK_SMS:
        raise ValidationError(f"give 1 to {MAX_BULK_SMS} subscribers", field="subscriber_ids")
    if text is not None:
        _check_text("autologin_sms", text)
        if "url_autologin" not in placeholders_in(text):
            raise ValidationError("the template must contain {{ url_autologin }}", field="template")
    results: list[dict[str, Any]] = []
    sent = 0
    for sid in dict.fromkeys(subscriber_ids):  # each subscriber once, in the order given
        try:
            sub = subs.get_subscriber(actor, sid)
        except NotFoundError:
            results.append({"subscriber_id": sid, "result": "not_found"})
            continue
        if not sub.phone:
            results.append({"subscriber_id": sid, "result": "no_phone"})
            continue
        tenant = tenant_store.get_tenant(sub.tenant_id)
        values = {
            "empresa": _company(tenant),
            "nombre": sub.name or sub.username,
            "usuario": sub.username,
            "url_autologin": issue_short_autologin_link(rt, sub),
        }
        body = render_template(text if text is not None else template(tenant, "autologin_sms"), values)
        try:
            check_sms(body, field="template")
            msg = _send(rt, Message("sms", sub.phone, body))
        except (ValidationError, UnavailableError) as exc:
            results.append({"subscriber_id": sid, "result": "failed", "reason": exc.message})
            continue
        sent += 1
        results.append({"subscriber_id": sid, "result": "sent", "message_id": msg.get("message_id")})
        audit(
            actor,
            sub.tenant_id,
            "subscriber",
            sub.id,
            "send_autologin_sms",
            None,
            {"phone": _masked(sub.phone)},
        )
    return {"sent": sent, "results": results}
