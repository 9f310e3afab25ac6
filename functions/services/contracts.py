"""Service contracts (SPEC S5): content and dates, a signing link that needs no login, the customer's
signature (image or typed name, with time and address), attachments (ID photo, proof of address),
the PDF (only once signed) and activation (only when signed and still pending activation).

Lifecycle: ``pending`` → (customer signs) ``signed`` → (operator activates) ``active`` → ``ended``.
Each step is a conditional write on the status it starts from, so a contract is signed once and
activated once whatever runs concurrently. Files live in the documents bucket under
``contracts/<tenant>/<contract>/``.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from core.errors import ConflictError, InvalidStateError, NotFoundError, UnauthorizedError, ValidationError
from core.ids import epoch_seconds, new_id, now_iso
from services.audit import record_audit
from services.identity.actors import Principal
from shared.observability import get_logger
from shared.runtime import Runtime
from shared.tokens import TokenError
from store import portal as portal_store
from store.models import Contract, Subscriber

log = get_logger("contracts")

SIGN_TOKEN = "contract-sign"
SIGN_LINK_TTL_SECONDS = 30 * 24 * 3600
SIGN_PATH = "/my/sign"  # the signing page; it calls GET/POST /portal/contract-signing

MAX_CONTENT_CHARS = 100_000
MAX_SIGNATURE_BYTES = 200_000
MAX_SIGNATURE_PIXELS = 2000 * 2000
MAX_ATTACHMENT_BYTES = 950_000  # below the API's 1 MB request limit
MAX_ATTACHMENTS = 10
ATTACHMENT_KINDS = ("id_photo", "proof_of_address", "other")
# Declared type → the bytes the file must start with
ATTACHMENT_TYPES = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "application/pdf": (b"%PDF-",),
}
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}


@dataclass(frozen=True)
class Actor:
    """Who acts: an operator (admin routes), a subscriber (portal) or a signing link."""

    actor_id: str
    actor_kind: str
    request_id: str | None = None


def _audit(
    actor: Actor, contract: Contract, action: str, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> None:
    record_audit(
        actor.actor_id,
        actor.actor_kind,
        contract.tenant_id,
        "contract",
        contract.id,
        action,
        before,
        after,
        actor.request_id,
    )


def _key(contract: Contract, name: str) -> str:
    return f"contracts/{contract.tenant_id}/{contract.id}/{name}"


def _put(rt: Runtime, key: str, data: bytes, content_type: str) -> None:
    rt.aws.client("s3").put_object(
        Bucket=rt.settings.documents_bucket,
        Key=key,
        Body=data,
        ContentType=content_type,
        ServerSideEncryption="AES256",
    )


def _get(rt: Runtime, key: str) -> bytes:
    obj = rt.aws.client("s3").get_object(Bucket=rt.settings.documents_bucket, Key=key)
    return bytes(obj["Body"].read())


# ---------------------------------------------------------------- create, read
def _check_dates(start: date | None, end: date | None) -> None:
    if start and end and end < start:
        raise ValidationError("end_date must not be before start_date", field="end_date")


def create_contract(
    actor: Actor,
    subscriber: Subscriber,
    content: str,
    start_date: date | None = None,
    end_date: date | None = None,
    visible_to_customer: bool = True,
) -> Contract:
    """A new contract for a subscriber, pending the customer's signature."""
    if not content.strip():
        raise ValidationError("content is required", field="content")
    if len(content) > MAX_CONTENT_CHARS:
        raise ValidationError(f"content is longer than {MAX_CONTENT_CHARS} characters", field="content")
    _check_dates(start_date, end_date)
    now = now_iso()
    contract = Contract(
        id=new_id("ctr"),
        tenant_id=subscriber.tenant_id,
        subscriber_id=subscriber.id,
        content=content,
        status="pending",
        start_date=start_date.isoformat() if start_date else None,
        end_date=end_date.isoformat() if end_date else None,
        attachments=[],
        visible_to_customer=visible_to_customer,
        created_at=now,
        updated_at=now,
    )
    portal_store.create_contract(contract)
    _audit(actor, contract, "create", None, contract_view(contract))
    return contract


def get_contract(contract_id: str) -> Contract:
    contract = portal_store.find_contract(contract_id)
    if contract is None:
        raise NotFoundError("contract not found", field="contract_id")
    return contract


def customer_contract(subscriber: Subscriber, contract_id: str) -> Contract:
    """A contract of this subscriber that is visible to the customer (anything else is a 404)."""
    contract = portal_store.find_contract(contract_id)
    if (
        contract is None
        or contract.subscriber_id != subscriber.id
        or contract.tenant_id != subscriber.tenant_id
        or not contract.visible_to_customer
    ):
        raise NotFoundError("contract not found", field="contract_id")
    return contract


def subscriber_contracts(subscriber_id: str) -> list[Contract]:
    return portal_store.subscriber_contracts(subscriber_id)


def customer_documents(subscriber: Subscriber) -> list[Contract]:
    """The contracts (with their attachments and PDF) marked visible to the customer."""
    return [c for c in portal_store.subscriber_contracts(subscriber.id) if c.visible_to_customer]


def contract_view(contract: Contract) -> dict[str, Any]:
    """The contract as shown to operators and customers (file keys left out)."""
    signature = dict(contract.signature or {})
    signature.pop("image_key", None)
    return {
        "id": contract.id,
        "subscriber_id": contract.subscriber_id,
        "status": contract.status,
        "content": contract.content,
        "start_date": contract.start_date,
        "end_date": contract.end_date,
        "signed": bool(contract.signature),
        "signature": signature or None,
        "attachments": [
            {
                k: a.get(k)
                for k in ("id", "kind", "filename", "content_type", "size", "uploaded_at", "uploaded_by")
            }
            for a in (contract.attachments or [])
        ],
        "visible_to_customer": bool(contract.visible_to_customer),
        "pdf_available": bool(contract.pdf_key),
        "created_at": contract.created_at,
        "updated_at": contract.updated_at,
    }


# ---------------------------------------------------------------- signing link
def signing_token(rt: Runtime, contract: Contract, now: float | None = None) -> str:
    return rt.signer.sign(
        SIGN_TOKEN, {"c": contract.id, "t": contract.tenant_id}, SIGN_LINK_TTL_SECONDS, now=now
    )


def signing_link(rt: Runtime, contract: Contract, actor: Actor) -> tuple[str, int]:
    """A link the customer opens without signing in (valid 30 days); returns (url, expiry epoch)."""
    if contract.status != "pending":
        raise InvalidStateError(
            f"the contract is {contract.status}; only pending contracts are signed", field="status"
        )
    token = signing_token(rt, contract)
    _audit(actor, contract, "signing_link", None, {"expires_in_s": SIGN_LINK_TTL_SECONDS})
    url = f"{rt.settings.public_base_url.rstrip('/')}{SIGN_PATH}?token={quote(token, safe='')}"
    return url, int(epoch_seconds()) + SIGN_LINK_TTL_SECONDS


def contract_for_token(rt: Runtime, token: str) -> Contract:
    """The contract a signing link names; forged and expired links are a 401."""
    if not token or len(token) > 2048:
        raise UnauthorizedError("this signing link is not valid")
    try:
        claims = rt.signer.verify(SIGN_TOKEN, token)
    except TokenError as exc:
        raise UnauthorizedError(f"this signing link is not valid: {exc}") from exc
    contract = portal_store.find_contract(str(claims.get("c", "")))
    if contract is None or contract.tenant_id != claims.get("t"):
        raise UnauthorizedError("this signing link is not valid: the contract no longer exists")
    return contract


# ---------------------------------------------------------------- signature
def _check_png(data: bytes, max_bytes: int, max_pixels: int, field: str) -> tuple[int, int]:
    """A real PNG of bounded size (the header is read before any pixel is decoded)."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    if len(data) > max_bytes:
        raise ValidationError(f"the image is larger than {max_bytes} bytes", field=field)
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValidationError("the image must be a PNG", field=field)
    try:
        with PILImage.open(io.BytesIO(data)) as img:
            width, height = img.size
            if img.format != "PNG" or width < 1 or height < 1 or width * height > max_pixels:
                raise ValidationError("the PNG image has an unusable size", field=field)
            img.verify()
    except ValidationError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValidationError("the image is not a valid PNG", field=field) from exc
    return width, height


def decode_signature_image(b64: str) -> bytes:
    """Base64 (optionally a ``data:image/png;base64,`` URL) → checked PNG bytes."""
    text = b64.strip()
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if header.lower() != "data:image/png;base64":
            raise ValidationError("the signature must be a PNG image", field="signature_png")
    if len(text) > MAX_SIGNATURE_BYTES * 4 // 3 + 8:
        raise ValidationError(
            f"the signature image is larger than {MAX_SIGNATURE_BYTES} bytes", field="signature_png"
        )
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError("the signature is not valid base64", field="signature_png") from exc
    _check_png(data, MAX_SIGNATURE_BYTES, MAX_SIGNATURE_PIXELS, "signature_png")
    return data


def sign_contract(
    rt: Runtime,
    contract: Contract,
    *,
    typed_name: str | None,
    signature_png: str | None,
    source_ip: str | None,
    user_agent: str | None,
) -> Contract:
    """Record the customer's signature (a PNG drawing or a typed name) with the time and the address
    it came from, then render the signed PDF. A contract is signed once (409 afterwards)."""
    if bool(typed_name and typed_name.strip()) == bool(signature_png):
        raise ValidationError("send either typed_name or signature_png", field="typed_name")
    if contract.status != "pending" or contract.signature:
        raise ConflictError(f"the contract is already {contract.status}", field="status")
    signature: dict[str, Any] = {
        "signed_at": now_iso(),
        "ip": source_ip,
        "user_agent": (user_agent or "")[:300] or None,
    }
    if signature_png:
        image = decode_signature_image(signature_png)
        key = _key(contract, f"signature-{new_id('sig')}.png")
        _put(rt, key, image, "image/png")
        signature.update(method="image", image_key=key, image_size=len(image))
    else:
        name = (typed_name or "").strip()
        if len(name) > 200:
            raise ValidationError("typed_name is longer than 200 characters", field="typed_name")
        signature.update(method="typed_name", typed_name=name)
    signed = portal_store.transition_contract(
        contract, "pending", {"status": "signed", "signature": signature}, signed_before=False
    )
    if not signed:
        raise ConflictError("the contract was signed meanwhile", field="status")
    _audit(
        Actor(contract.subscriber_id, "subscriber"),
        contract,
        "sign",
        {"status": "pending"},
        {"status": "signed", "method": signature["method"], "ip": source_ip},
    )
    try:
        store_pdf(rt, contract)
    except Exception:  # the signature stands; the PDF is rendered on first download instead
        log.exception("contract PDF not rendered", extra={"contract_id": contract.id})
    return contract


# ---------------------------------------------------------------- attachments
def add_attachment(
    rt: Runtime,
    contract: Contract,
    actor: Actor,
    *,
    kind: str,
    content_type: str,
    data: bytes,
    filename: str | None,
) -> dict[str, Any]:
    """Store an attachment (ID photo, proof of address…) after checking its declared type against its
    first bytes and its size."""
    if kind not in ATTACHMENT_KINDS:
        raise ValidationError(f"kind must be one of {', '.join(ATTACHMENT_KINDS)}", field="kind")
    ctype = (content_type or "").split(";")[0].strip().lower()
    magic = ATTACHMENT_TYPES.get(ctype)
    if magic is None:
        raise ValidationError(
            f"Content-Type must be one of {', '.join(ATTACHMENT_TYPES)}", field="content_type"
        )
    if not data:
        raise ValidationError("the file is empty", field="body")
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise ValidationError(f"the file is larger than {MAX_ATTACHMENT_BYTES} bytes", field="body")
    if not data.startswith(magic):
        raise ValidationError(f"the file content is not {ctype}", field="body")
    if ctype == "image/png":
        _check_png(data, MAX_ATTACHMENT_BYTES, 50_000_000, "body")
    if contract.status == "ended":
        raise InvalidStateError("the contract has ended", field="status")
    safe_name = "".join(ch for ch in (filename or "")[:120] if ch.isalnum() or ch in "._- ") or None
    att_id = new_id("att")
    key = _key(contract, f"attachments/{att_id}.{_EXTENSIONS[ctype]}")
    attachment = {
        "id": att_id,
        "kind": kind,
        "filename": safe_name,
        "content_type": ctype,
        "size": len(data),
        "key": key,
        "uploaded_at": now_iso(),
        "uploaded_by": f"{actor.actor_kind}:{actor.actor_id}",
    }
    _put(rt, key, data, ctype)
    for _ in range(5):
        if len(contract.attachments or []) >= MAX_ATTACHMENTS:
            raise ConflictError(
                f"a contract holds at most {MAX_ATTACHMENTS} attachments", field="attachments"
            )
        if portal_store.append_attachment(contract, attachment, MAX_ATTACHMENTS):
            _audit(
                actor, contract, "add_attachment", None, {k: v for k, v in attachment.items() if k != "key"}
            )
            return attachment
        contract = get_contract(contract.id)  # someone else added one meanwhile: re-read and retry
    raise ConflictError("the contract is being changed; retry", field="attachments")


def attachment_file(rt: Runtime, contract: Contract, attachment_id: str) -> tuple[dict[str, Any], bytes]:
    for att in contract.attachments or []:
        if att.get("id") == attachment_id:
            return att, _get(rt, att["key"])
    raise NotFoundError("attachment not found", field="attachment_id")


# ---------------------------------------------------------------- PDF
def render_pdf(rt: Runtime, contract: Contract) -> bytes:
    """The signed contract as a PDF: content, dates and the signature block."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer

    sig = dict(contract.signature or {})
    styles = getSampleStyleSheet()
    story: list[Any] = [Paragraph(f"Service contract {escape(contract.id)}", styles["Title"])]
    if contract.start_date or contract.end_date:
        story.append(
            Paragraph(
                f"From {escape(contract.start_date or '—')} to {escape(contract.end_date or 'no end date')}",
                styles["Normal"],
            )
        )
    story.append(Spacer(1, 6 * mm))
    for para in contract.content.split("\n\n"):
        story.append(Paragraph(escape(para).replace("\n", "<br/>"), styles["BodyText"]))
        story.append(Spacer(1, 2 * mm))
    story.append(Spacer(1, 10 * mm))
    story.append(Paragraph("Customer signature", styles["Heading3"]))
    if sig.get("method") == "image" and sig.get("image_key"):
        png = _get(rt, sig["image_key"])
        reader = ImageReader(io.BytesIO(png))
        w, h = reader.getSize()
        width = min(70 * mm, float(w))
        story.append(Image(io.BytesIO(png), width=width, height=width * h / max(w, 1)))
    else:
        story.append(
            Paragraph(f"Signed as: <b>{escape(str(sig.get('typed_name', '')))}</b>", styles["Normal"])
        )
    story.append(
        Paragraph(
            f"Signed at {escape(str(sig.get('signed_at', '')))} from address {escape(str(sig.get('ip') or 'unknown'))}",
            styles["Normal"],
        )
    )
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, title=f"Contract {contract.id}", author="WispCloud")
    doc.build(story)
    return buf.getvalue()


def store_pdf(rt: Runtime, contract: Contract) -> str:
    if not contract.signature:
        raise InvalidStateError("the PDF is made once the customer has signed", field="status")
    pdf = render_pdf(rt, contract)
    key = _key(contract, "contract.pdf")
    _put(rt, key, pdf, "application/pdf")
    portal_store.set_contract_fields(contract, {"pdf_key": key})
    return key


def contract_pdf(rt: Runtime, contract: Contract) -> bytes:
    """The PDF of a signed contract (rendered on first request if the signing step could not)."""
    if not contract.signature:
        raise InvalidStateError("the contract is not signed yet; the PDF is made once it is", field="status")
    key = contract.pdf_key or store_pdf(rt, contract)
    return _get(rt, key)


def regenerate_pdf(rt: Runtime, contract: Contract, actor: Actor, confirm: bool) -> str:
    """Render the PDF again (after an edit of the template); replacing an existing one needs ``confirm``."""
    if not contract.signature:
        raise InvalidStateError("the PDF is made once the customer has signed", field="status")
    if contract.pdf_key and not confirm:
        raise ConflictError("a PDF exists; send confirm=true to replace it", field="confirm")
    replaced = bool(contract.pdf_key)
    key = store_pdf(rt, contract)
    _audit(actor, contract, "regenerate_pdf", None, {"pdf": "replaced" if replaced else "created"})
    return key


# ---------------------------------------------------------------- operator actions
def activate_contract(contract: Contract, actor: Actor) -> Contract:
    """Activate a signed contract that is still pending activation (409 otherwise)."""
    if not contract.signature:
        raise InvalidStateError(
            "the contract is not signed; it can be activated once the customer signs", field="status"
        )
    if contract.status != "signed":
        raise InvalidStateError(
            f"the contract is {contract.status}; only signed contracts pending activation can be activated",
            field="status",
        )
    ok = portal_store.transition_contract(contract, "signed", {"status": "active"}, signed_before=True)
    if not ok:
        raise ConflictError("the contract changed meanwhile; reload and retry", field="status")
    _audit(actor, contract, "activate", {"status": "signed"}, {"status": "active"})
    return contract


def visible_contract(actor: Principal, contract_id: str) -> Contract:
    """A contract in the caller's tenant subtree (404 otherwise)."""
    contract = portal_store.find_contract(contract_id) if 0 < len(contract_id) <= 128 else None
    if contract is None or not actor.can_see(contract.tenant_id):
        raise NotFoundError("contract not found", field="contract_id")
    return contract
