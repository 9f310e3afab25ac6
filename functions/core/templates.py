"""Message templates with ``{{ placeholder }}`` fields (SPEC S4/S8), editable per tenant.

``render_template("Estimado cliente de {{ empresa }} ... {{ url_autologin }}", context)`` replaces each
``{{ name }}`` (spaces inside the braces optional) with ``context[name]``; unknown placeholders become
empty so a template never leaks its braces to a customer. SMS texts are limited to 164 characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from core.errors import ValidationError

SMS_MAX_CHARS = 164

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

# Placeholders every billing template may use.
PLACEHOLDERS = (
    "empresa",  # the tenant's company name
    "nombre",  # the client's name
    "usuario",  # the client's username
    "url_autologin",  # auto-login link to the customer portal
    "total",  # invoice total with currency
    "saldo",  # amount still due
    "moneda",
    "factura",  # invoice number
    "fecha_pago",  # payment (due) date
    "fecha_corte",  # cutoff date
    "periodo",
)

# Defaults used when the tenant has not written its own (Tenant.settings["templates"][name]).
DEFAULT_TEMPLATES: dict[str, str] = {
    "invoice_notice_sms": (
        "{{ empresa }}: {{ nombre }}, su factura {{ factura }} por {{ total }} vence el {{ fecha_pago }}. "
        "Pague aqui: {{ url_autologin }}"
    ),
    "invoice_notice_email_subject": "{{ empresa }}: invoice {{ factura }} is due on {{ fecha_pago }}",
    "invoice_notice_email": (
        "Dear {{ nombre }},\n\nyour invoice {{ factura }} for {{ total }} ({{ periodo }}) is due on "
        "{{ fecha_pago }}; the service is suspended on {{ fecha_corte }} if it is still unpaid.\n\n"
        "Pay or review it in your portal: {{ url_autologin }}\n\n{{ empresa }}"
    ),
    "invoice_email_subject": "{{ empresa }}: invoice {{ factura }}",
    "invoice_email": (
        "Dear {{ nombre }},\n\nattached is your invoice {{ factura }} for {{ total }}, due on {{ fecha_pago }}.\n\n"
        "{{ empresa }}"
    ),
}


def placeholders_in(text: str) -> list[str]:
    return [m.group(1) for m in _PLACEHOLDER.finditer(text or "")]


def render_template(text: str, context: Mapping[str, Any]) -> str:
    """Replace every ``{{ name }}`` with ``context[name]`` (missing or None → empty)."""

    def sub(match: re.Match[str]) -> str:
        value = context.get(match.group(1))
        return "" if value is None else str(value)

    return _PLACEHOLDER.sub(sub, text or "")


def check_sms(text: str, field: str = "template") -> str:
    """Raise :class:`ValidationError` when a rendered SMS is longer than 164 characters."""
    if len(text) > SMS_MAX_CHARS:
        raise ValidationError(
            f"the SMS is {len(text)} characters long; the limit is {SMS_MAX_CHARS}", field=field
        )
    return text


def fit_sms(text: str) -> str:
    """Shorten a rendered SMS to the limit, cutting at a word boundary before the auto-login link
    would be lost: the text is trimmed from the middle, never the URL at its end."""
    if len(text) <= SMS_MAX_CHARS:
        return text
    urls = re.findall(r"https?://\S+", text)
    tail = urls[-1] if urls else ""
    head = text[: text.rfind(tail)] if tail else text
    room = SMS_MAX_CHARS - len(tail) - (2 if tail else 0)
    if room <= 0:
        return text[:SMS_MAX_CHARS]
    cut = head[:room].rsplit(" ", 1)[0].rstrip() if len(head) > room else head.rstrip()
    return f"{cut}… {tail}".strip() if tail else cut[:SMS_MAX_CHARS]


def validate_template(
    name: str, text: str, sample: Mapping[str, Any] | None = None, field: str | None = None
) -> None:
    """Check a tenant template: known placeholders only; SMS templates must fit 164 characters once
    rendered with ``sample`` (without one, the fixed text alone). Errors name ``field`` (default: the name)."""
    unknown = [p for p in placeholders_in(text) if p not in PLACEHOLDERS]
    if unknown:
        raise ValidationError(
            f"unknown placeholder(s): {', '.join(sorted(set(unknown)))}", field=field or name
        )
    if name.endswith("_sms"):
        check_sms(render_template(text, sample or {}), field=field or name)
