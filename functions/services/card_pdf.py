"""Printable cards (SPEC S2 "From card", S4 "Print card"): a PDF sheet of login cards.

Each card shows the tenant's name (and logo when it has one), the product, the username and password
and a QR code of the card's page (``<public base URL>/my/card?u=<username>``: the guest opens it by
scanning; the password is never in the URL). Cards are laid out in a grid with cut marks,
``cards_per_page`` to an A4 page. Credentials are never cut: a long one is printed smaller, and wraps
onto a second line when even the smallest size does not fit.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from core.errors import ValidationError
from core.templates import render_template
from shared.observability import get_logger
from shared.runtime import Runtime
from store.models import Gateway, Tenant

if TYPE_CHECKING:  # reportlab and qrcode are imported when a sheet is printed (API cold start)
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen.canvas import Canvas

log = get_logger("card_pdf")

# cards per page → (columns, rows) on A4 portrait
LAYOUTS: dict[int, tuple[int, int]] = {
    1: (1, 1),
    2: (1, 2),
    4: (2, 2),
    6: (2, 3),
    8: (2, 4),
    10: (2, 5),
    12: (3, 4),
    15: (3, 5),
    21: (3, 7),
}
MAX_LOGO_BYTES = 512_000
_MARGIN = 28.0


@dataclass(frozen=True)
class Card:
    username: str
    password: str
    qr_url: str  # what the QR code opens (:func:`card_url`)
    product: str = ""
    lines: tuple[str, ...] = ()  # e.g. validity and price


@dataclass(frozen=True)
class SheetStyle:
    tenant_name: str
    logo: bytes | None = None
    cards_per_page: int = 10
    title: str | None = None  # document title (PDF metadata)


def _qr_matrix(text: str) -> list[list[bool]]:
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0)
    qr.add_data(text)
    qr.make(fit=True)
    return [list(r) for r in qr.get_matrix()]


def _draw_qr(c: Canvas, text: str, x: float, y: float, size: float) -> None:
    """The QR code as vector squares (runs of dark modules merged into one rectangle per row)."""
    matrix = _qr_matrix(text)
    n = len(matrix)
    cell = size / n
    c.setFillColorRGB(0, 0, 0)
    for r, row in enumerate(matrix):
        col = 0
        while col < n:
            if not row[col]:
                col += 1
                continue
            start = col
            while col < n and row[col]:
                col += 1
            c.rect(x + start * cell, y + size - (r + 1) * cell, (col - start) * cell, cell, stroke=0, fill=1)


def _fit(c: Canvas, text: str, font: str, size: float, width: float) -> str:
    """Cut a decorative line so it fits the card (tenant and product names); never credentials."""
    if c.stringWidth(text, font, size) <= width:
        return text
    while text and c.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


MIN_CREDENTIAL_SIZE = 6.0


def fit_credential(
    c: Canvas, text: str, font: str, size: float, width: float, min_size: float = MIN_CREDENTIAL_SIZE
) -> tuple[float, list[str]]:
    """The font size and lines to print a credential whole in ``width``: the given size when it fits,
    else the largest size down to ``min_size`` that fits, else ``min_size`` wrapped onto lines."""
    while size > min_size and c.stringWidth(text, font, size) > width:
        size = max(min_size, size - 0.5)
    if c.stringWidth(text, font, size) <= width:
        return size, [text]
    per_line = max(1, int(width // c.stringWidth("M", font, size)))  # the credential fonts are monospaced
    return size, [text[i : i + per_line] for i in range(0, len(text), per_line)]


def _logo_reader(logo: bytes | None) -> ImageReader | None:
    from reportlab.lib.utils import ImageReader

    if not logo:
        return None
    try:
        return ImageReader(io.BytesIO(logo))
    except Exception:  # a broken logo must not prevent printing the cards
        log.warning("tenant logo is not a readable image; printing without it")
        return None


def _draw_card(
    c: Canvas, card: Card, style: SheetStyle, logo: ImageReader | None, x: float, y: float, w: float, h: float
) -> None:
    c.setDash(3, 3)
    c.setStrokeColorRGB(0.6, 0.6, 0.6)
    c.rect(x, y, w, h, stroke=1, fill=0)
    c.setDash()
    pad = min(10.0, h * 0.08)
    qr_size = max(36.0, min(h - 2 * pad, w * 0.38))
    text_w = w - qr_size - 3 * pad
    top = y + h - pad
    scale = min(1.0, h / 150.0)
    big, small = max(7.0, 12 * scale), max(6.0, 9 * scale)
    tx = x + pad
    if logo is not None:
        lh = min(24.0 * scale + 6, h * 0.2)
        iw, ih = logo.getSize()
        lw = lh * iw / ih if ih else lh
        c.drawImage(
            logo, tx, top - lh, width=min(lw, text_w), height=lh, preserveAspectRatio=True, mask="auto"
        )
        top -= lh + 3
    c.setFillColorRGB(0, 0, 0)
    c.setFont("Helvetica-Bold", big)
    top -= big
    c.drawString(tx, top, _fit(c, style.tenant_name, "Helvetica-Bold", big, text_w))
    if card.product:
        c.setFont("Helvetica", small)
        top -= small + 3
        c.drawString(tx, top, _fit(c, card.product, "Helvetica", small, text_w))
    value_x = tx + c.stringWidth("Password: ", "Helvetica", small)
    value_w = max(12.0, text_w - (value_x - tx))
    for label, value in (("User", card.username), ("Password", card.password)):
        size, lines = fit_credential(c, value, "Courier-Bold", big, value_w)
        top -= size + 4
        c.setFont("Helvetica", small)
        c.drawString(tx, top, f"{label}:")
        c.setFont("Courier-Bold", size)
        for n, part in enumerate(lines):
            if n:
                top -= size + 1
            c.drawString(value_x, top, part)
    c.setFont("Helvetica", small)
    for line in card.lines:
        top -= small + 2
        if top < y + pad:
            break
        c.drawString(tx, top, _fit(c, line, "Helvetica", small, text_w))
    _draw_qr(c, card.qr_url, x + w - pad - qr_size, y + (h - qr_size) / 2, qr_size)


def render_cards_pdf(cards: Sequence[Card], style: SheetStyle) -> bytes:
    """The print sheet: ``style.cards_per_page`` cards per A4 page, in order."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    if style.cards_per_page not in LAYOUTS:
        raise ValidationError(
            f"cards per page must be one of {', '.join(str(k) for k in LAYOUTS)}", field="cards_per_page"
        )
    if not cards:
        raise ValidationError("there are no cards to print", field="cards")
    cols, rows = LAYOUTS[style.cards_per_page]
    page_w, page_h = A4
    cell_w = (page_w - 2 * _MARGIN) / cols
    cell_h = (page_h - 2 * _MARGIN) / rows
    gap = 6.0
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=A4, pageCompression=1)
    c.setTitle(style.title or f"{style.tenant_name} cards")
    c.setAuthor(style.tenant_name)
    logo = _logo_reader(style.logo)
    per_page = cols * rows
    for i, card in enumerate(cards):
        slot = i % per_page
        if i and slot == 0:
            c.showPage()
        col, row = slot % cols, slot // cols
        x = _MARGIN + col * cell_w + gap / 2
        y = page_h - _MARGIN - (row + 1) * cell_h + gap / 2
        _draw_card(c, card, style, logo, x, y, cell_w - gap, cell_h - gap)
    c.showPage()
    c.save()
    return buf.getvalue()


def tenant_logo(rt: Runtime, tenant: Tenant | None) -> bytes | None:
    """The tenant's logo image for printing: a ``data:`` URI, or an object of the documents bucket
    (``s3://<bucket>/<key>``). Web URLs are not fetched from here (no outbound calls while printing)."""
    ref = (tenant.logo_url or "").strip() if tenant is not None else ""
    if ref.startswith("data:") and ";base64," in ref:
        try:
            data = base64.b64decode(ref.split(";base64,", 1)[1], validate=True)
        except (binascii.Error, ValueError):
            return None
        return data if len(data) <= MAX_LOGO_BYTES else None
    prefix = f"s3://{rt.settings.documents_bucket}/"
    if ref.startswith(prefix):
        try:
            obj = rt.aws.client("s3").get_object(Bucket=rt.settings.documents_bucket, Key=ref[len(prefix) :])
            data = bytes(obj["Body"].read(MAX_LOGO_BYTES + 1))
        except Exception:
            log.warning("tenant logo could not be read from the documents bucket")
            return None
        return data if len(data) <= MAX_LOGO_BYTES else None
    return None


def card_url(rt: Runtime, username: str) -> str:
    """What a card's QR code opens: the card's page on the public site, ``/my/card?u=<username>``
    (balance, validity and how to connect). Only the username: a photo of the QR code gives nothing
    that lets someone else connect."""
    return f"{rt.settings.public_base_url.rstrip('/')}/my/card?{urlencode({'u': username})}"


def login_url(
    rt: Runtime, gateway: Gateway | None, tenant: Tenant | None, username: str, password: str
) -> str:
    """The hotspot's login page with the credentials filled in (sent to a subscriber who just
    registered, never printed).

    The page comes from the gateway's domain settings (``login_url``), else the tenant's portal settings
    (``Tenant.settings["portal"]["login_url"]``), else the customer portal's sign-in page. A URL with
    ``{{ usuario }}`` / ``{{ contrasena }}`` placeholders is rendered; any other gets them as query
    parameters (the MikroTik hotspot login form accepts ``username`` and ``password``)."""
    base = ""
    if gateway is not None:
        base = str((gateway.domain_settings or {}).get("login_url") or "")
    if not base and tenant is not None:
        portal = (tenant.settings or {}).get("portal") or {}
        base = str(portal.get("login_url") or "") if isinstance(portal, dict) else ""
    if not base:
        base = f"{rt.settings.public_base_url.rstrip('/')}/portal/login"
    if "{{" in base:
        return render_template(
            base,
            {
                "usuario": quote(username, safe=""),
                "contrasena": quote(password, safe=""),
                "username": quote(username, safe=""),
                "password": quote(password, safe=""),
            },
        )
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}{urlencode({'username': username, 'password': password})}"
