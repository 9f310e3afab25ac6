"""Invoices leaving the system: by e-mail from the tenant's template, and as a PDF."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.errors import NotFoundError, ValidationError
from core.ids import now_iso
from core.invoice_ids import path_id
from core.templates import render_template
from services.audit import record_audit
from services.billing.context import load_context
from services.billing.invoices import get_invoice
from services.billing.notices import template_context
from shared.runtime import Runtime
from store import billing as repo
from store.models import Invoice


def send_invoice(
    rt: Runtime,
    invoice_id_: str,
    visible: Iterable[str],
    actor_id: str,
    to: str | None = None,
    actor_kind: str = "operator",
) -> dict[str, Any]:
    """E-mail an invoice to the client (or ``to``) from the tenant's template, with its lines and a
    link to the customer portal where the PDF can be downloaded."""
    inv = get_invoice(invoice_id_, frozenset(visible))
    ctx = load_context(inv.tenant_id)
    sub = repo.get_subscriber_by_id(inv.subscriber_id)
    if sub is None:
        raise NotFoundError("client not found")
    recipient = (to or sub.email or "").strip()
    if not recipient or "@" not in recipient:
        raise ValidationError("the client has no e-mail address; give one in 'to'", field="to")
    values = template_context(rt, ctx, sub, inv)
    body = render_template(ctx.template("invoice_email"), values)
    lines = "\n".join(f"  {line['description']}: {line['amount']} {inv.currency}" for line in inv.lines or [])
    text = f"{body}\n\n{lines}\n  Tax: {inv.tax} {inv.currency}\n  Total: {inv.total} {inv.currency}\n"
    from services.billing.pdf import render_invoice_pdf

    pdf = render_invoice_pdf(inv, ctx.tenant, sub)
    name = f"invoice-{inv.number or path_id(inv.id)}.pdf"
    sent = rt.notifier.send_email(
        recipient,
        render_template(ctx.template("invoice_email_subject"), values),
        text,
        attachments=[(name, pdf, "application/pdf")],
    )
    stamp = now_iso()
    repo.update_invoice(inv, [Invoice.sent_at.set(stamp)])
    record_audit(actor_id, actor_kind, inv.tenant_id, "invoice", inv.id, "send", None, {"to": recipient})
    return {"invoice_id": inv.id, "to": recipient, "message_id": sent.message_id, "sent_at": stamp}


def invoice_pdf(invoice_id_: str, visible: Iterable[str]) -> tuple[bytes, str]:
    """The invoice as a PDF and its file name."""
    from services.billing.pdf import render_invoice_pdf

    inv = get_invoice(invoice_id_, frozenset(visible))
    tenant = repo.get_tenant(inv.tenant_id)
    if tenant is None:
        raise NotFoundError("tenant not found")
    sub = (
        repo.get_subscriber(inv.subscriber_login)
        if inv.subscriber_login
        else repo.get_subscriber_by_id(inv.subscriber_id)
    )
    name = f"invoice-{int(inv.number)}.pdf" if inv.number is not None else f"invoice-{path_id(inv.id)}.pdf"
    return render_invoice_pdf(inv, tenant, sub), name
