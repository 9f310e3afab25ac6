"""Invoice PDF (reportlab): readable text, the tenant's name and logo when it has one.

The logo comes from ``Tenant.logo_url``: a ``data:image/...;base64,`` URI is embedded directly; an
``https://`` URL is fetched once with a short timeout and a size cap. A logo that cannot be read is
left out rather than failing the invoice.
"""

from __future__ import annotations

import base64
import io
import urllib.request
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from shared.observability import get_logger
from store.models import Invoice, Subscriber, Tenant

log = get_logger("billing")

MAX_LOGO_BYTES = 1_000_000
LOGO_TIMEOUT_S = 3
STATUS_LABELS = {"pending": "PENDING", "partial": "PARTLY PAID", "paid": "PAID", "cancelled": "CANCELLED"}


def _logo_bytes(url: str | None) -> bytes | None:
    if not url:
        return None
    try:
        if url.startswith("data:image/") and ";base64," in url:
            data = base64.b64decode(url.split(";base64,", 1)[1], validate=True)
        elif url.startswith("https://"):
            with urllib.request.urlopen(url, timeout=LOGO_TIMEOUT_S) as resp:  # noqa: S310 - https only
                data = resp.read(MAX_LOGO_BYTES + 1)
        else:
            return None
    except Exception:
        log.warning("tenant logo could not be read; the invoice is made without it")
        return None
    return data if 0 < len(data) <= MAX_LOGO_BYTES else None


def _logo_flowable(data: bytes | None) -> Image | None:
    if data is None:
        return None
    try:
        reader = ImageReader(io.BytesIO(data))
        width, height = reader.getSize()
    except Exception:
        log.warning("tenant logo is not an image; the invoice is made without it")
        return None
    box_w, box_h = 45 * mm, 20 * mm
    scale = min(box_w / width, box_h / height)
    return Image(io.BytesIO(data), width=width * scale, height=height * scale)


def render_invoice_pdf(invoice: Invoice, tenant: Tenant, subscriber: Subscriber | None) -> bytes:
    """The invoice as a PDF document."""
    buf = io.BytesIO()
    company = tenant.company_name or tenant.name
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"Invoice {invoice.number or invoice.id}",
        author=company,
    )
    styles = getSampleStyleSheet()
    small = ParagraphStyle("small", parent=styles["Normal"], fontSize=9, leading=12)
    story: list[Any] = []

    heading = [Paragraph(f"<b>{_esc(company)}</b>", styles["Title"])]
    if tenant.contact_email:
        heading.append(Paragraph(_esc(tenant.contact_email), small))
    logo = _logo_flowable(_logo_bytes(tenant.logo_url))
    head = Table([[logo or "", heading]], colWidths=[50 * mm, None])
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    story += [head, Spacer(1, 6 * mm)]

    kind = "Internet service invoice" if invoice.kind == "internet" else "Invoice (other income)"
    number = f"No. {int(invoice.number)}" if invoice.number is not None else invoice.id
    story.append(
        Paragraph(
            f"<b>{kind} {number}</b> — {STATUS_LABELS.get(invoice.status, invoice.status)}",
            styles["Heading2"],
        )
    )
    story += [_facts_table(invoice, subscriber, small), Spacer(1, 6 * mm)]
    story.append(_lines_table(invoice, small))
    if invoice.notes:
        story += [Spacer(1, 6 * mm), Paragraph(_esc(invoice.notes), small)]
    doc.build(story)
    return buf.getvalue()


def _facts_table(invoice: Invoice, subscriber: Subscriber | None, small: ParagraphStyle) -> Table:
    """Who is invoiced, the dates and the service period."""
    client = (
        subscriber.name or subscriber.username
        if subscriber
        else invoice.subscriber_name or invoice.subscriber_id
    )
    facts = [
        ["Client", client or ""],
        ["Issue date", invoice.issue_date or ""],
        ["Payment date", invoice.due_date or ""],
    ]
    if subscriber is not None:
        facts.insert(1, ["Username", subscriber.username])
        if subscriber.address:
            facts.insert(2, ["Address", subscriber.address])
    if invoice.service_start and invoice.service_end:
        facts.append(["Service period", f"{invoice.service_start} to {invoice.service_end}"])
    if invoice.cutoff_date:
        facts.append(["Cutoff date", invoice.cutoff_date])
    info = Table(
        [[Paragraph(f"<b>{_esc(k)}</b>", small), Paragraph(_esc(str(v)), small)] for k, v in facts],
        colWidths=[35 * mm, None],
    )
    info.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]))
    return info


def _lines_table(invoice: Invoice, small: ParagraphStyle) -> Table:
    """The invoice lines and its totals."""
    cur = invoice.currency
    rows: list[list[Any]] = [["Description", "Qty", "Unit price", "Amount"]]
    for line in invoice.lines or []:
        rows.append(
            [
                Paragraph(_esc(str(line.get("description", ""))), small),
                str(line.get("quantity", "1")),
                f"{line.get('unit_price', line.get('amount', '0'))} {cur}",
                f"{line.get('amount', '0')} {cur}",
            ]
        )
    rows.append(["", "", "Subtotal", f"{invoice.subtotal} {cur}"])
    rows.append(["", "", "Tax", f"{invoice.tax} {cur}"])
    rows.append(["", "", "Total", f"{invoice.total} {cur}"])
    rows.append(["", "", "Paid", f"{invoice.paid} {cur}"])
    table = Table(rows, colWidths=[None, 15 * mm, 32 * mm, 32 * mm], repeatRows=1)
    n = len(rows)
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#1f3b5a")),
                ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                ("LINEBELOW", (0, 0), (-1, n - 5), 0.25, colors.grey),
                ("FONTNAME", (2, n - 2), (-1, n - 2), "Helvetica-Bold"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
