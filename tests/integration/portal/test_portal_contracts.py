"""Contracts: created by an operator, signed through a no-login link (typed name or drawn signature),
attachments checked by type and size, PDF only once signed, activation only when signed and pending."""

from __future__ import annotations

import base64
import io

from PIL import Image
from pypdf import PdfReader

from services import contracts as contract_svc
from tests.integration.portal.support import Portal, query_of


def _image(fmt: str, size: tuple[int, int] = (40, 20)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(buf, format=fmt)
    return buf.getvalue()


def _contract(portal: Portal, sub_id: str, operator: dict[str, str], **extra: object) -> dict:
    body = {
        "content": "The customer receives internet service.\n\nMonthly fee: 25.00 USD.",
        "start_date": "2026-01-01",
        "end_date": "2027-01-01",
        **extra,
    }
    r = portal.post(f"/admin/subscribers/{sub_id}/contracts", operator, body)
    assert r.status_code == 201, r.body
    return dict(r.json_body)


def _signing_token(portal: Portal, contract_id: str, operator: dict[str, str]) -> str:
    r = portal.post(f"/admin/contracts/{contract_id}/signing-link", operator)
    assert r.status_code == 200, r.body
    assert r.json_body["url"].startswith(portal.rt.settings.public_base_url + "/my/sign?token=")
    return query_of(r.json_body["url"])["token"]


def test_sign_with_typed_name_then_pdf_then_activation(portal: Portal):
    sub = portal.new_subscriber()
    operator = portal.operator(role="operator")
    contract = _contract(portal, sub.id, operator)
    assert contract["status"] == "pending"
    token = _signing_token(portal, contract["id"], operator)
    headers = portal.login_as(sub)
    # Before signing: no PDF, no activation
    assert (
        portal.get(
            f"/portal/contracts/{contract['id']}/pdf", {**headers, "Accept": "application/pdf"}
        ).status_code
        == 409
    )
    assert portal.post(f"/admin/contracts/{contract['id']}/activate", operator).status_code == 409
    # The link shows the contract without signing in
    view = portal.get(f"/portal/contract-signing?token={token}")
    assert view.status_code == 200
    assert "Monthly fee" in view.json_body["content"]
    # When the customer signs with a typed name
    signed = portal.post(
        "/portal/contract-signing", {"User-Agent": "pytest"}, {"token": token, "typed_name": "Ana Pérez"}
    )
    assert signed.status_code == 200, signed.body
    sig = signed.json_body["signature"]
    assert (signed.json_body["status"], sig["method"], sig["typed_name"], sig["ip"]) == (
        "signed",
        "typed_name",
        "Ana Pérez",
        "127.0.0.1",
    )
    assert sig["signed_at"]
    # a second signature is refused
    again = portal.post("/portal/contract-signing", {}, {"token": token, "typed_name": "Someone Else"})
    assert again.status_code == 409
    # Then the PDF exists and names the signer
    pdf = portal.get(f"/portal/contracts/{contract['id']}/pdf", {**headers, "Accept": "application/pdf"})
    assert pdf.status_code == 200
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body)).pages)
    assert "Ana Pérez" in text and "Monthly fee" in text and "127.0.0.1" in text
    # and activation works once
    act = portal.post(f"/admin/contracts/{contract['id']}/activate", operator)
    assert act.status_code == 200 and act.json_body["status"] == "active"
    assert portal.post(f"/admin/contracts/{contract['id']}/activate", operator).status_code == 409
    # replacing the PDF needs confirmation
    assert portal.post(f"/admin/contracts/{contract['id']}/pdf", operator, {}).status_code == 409
    assert (
        portal.post(f"/admin/contracts/{contract['id']}/pdf", operator, {"confirm": True}).status_code == 200
    )


def test_sign_with_a_drawn_signature_image(portal: Portal):
    sub = portal.new_subscriber()
    operator = portal.operator(role="operator")
    contract = _contract(portal, sub.id, operator)
    token = _signing_token(portal, contract["id"], operator)
    # not a PNG, not base64, too large, and both kinds at once are refused
    jpeg_b64 = base64.b64encode(_image("JPEG")).decode()
    assert (
        portal.post("/portal/contract-signing", {}, {"token": token, "signature_png": jpeg_b64}).status_code
        == 422
    )
    assert (
        portal.post("/portal/contract-signing", {}, {"token": token, "signature_png": "%%%"}).status_code
        == 422
    )
    big = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * (contract_svc.MAX_SIGNATURE_BYTES + 10)).decode()
    assert (
        portal.post("/portal/contract-signing", {}, {"token": token, "signature_png": big}).status_code == 422
    )
    png_b64 = base64.b64encode(_image("PNG", (300, 100))).decode()
    both = {"token": token, "signature_png": png_b64, "typed_name": "Ana"}
    assert portal.post("/portal/contract-signing", {}, both).status_code == 422
    # a real PNG (as a data URL from a canvas) signs
    r = portal.post(
        "/portal/contract-signing", {}, {"token": token, "signature_png": "data:image/png;base64," + png_b64}
    )
    assert r.status_code == 200, r.body
    assert r.json_body["signature"]["method"] == "image"
    assert "image_key" not in r.json_body["signature"]
    pdf = portal.get(f"/admin/contracts/{contract['id']}/pdf", {**operator, "Accept": "application/pdf"})
    assert pdf.status_code == 200
    reader = PdfReader(io.BytesIO(pdf.body))
    assert any(page.images for page in reader.pages)  # the drawn signature is in the document


def test_forged_or_foreign_signing_links_are_refused(portal: Portal):
    sub = portal.new_subscriber()
    operator = portal.operator(role="operator")
    contract = _contract(portal, sub.id, operator)
    token = _signing_token(portal, contract["id"], operator)
    body, mac = token.split(".")
    assert portal.get(f"/portal/contract-signing?token={body}.{mac[:-2]}xx").status_code == 401
    session = portal.login_as(sub)["Authorization"][7:]
    assert (
        portal.post("/portal/contract-signing", {}, {"token": session, "typed_name": "A"}).status_code == 401
    )
    stranger = portal.operator(portal.other_tenant())
    assert portal.post(f"/admin/contracts/{contract['id']}/signing-link", stranger).status_code == 404
    assert (
        portal.post(f"/admin/subscribers/{sub.id}/contracts", stranger, {"content": "x"}).status_code == 404
    )


def test_attachments_are_checked_and_documents_listed(portal: Portal):
    sub = portal.new_subscriber()
    operator = portal.operator(role="operator")
    contract = _contract(portal, sub.id, operator)
    hidden = _contract(portal, sub.id, operator, visible_to_customer=False)
    headers = portal.login_as(sub)
    jpeg = _image("JPEG")
    url = f"/portal/contracts/{contract['id']}/attachments"
    # an ID photo as JPEG is accepted
    r = portal.call(
        "POST",
        f"{url}?kind=id_photo&filename=id%20front.jpg",
        {**headers, "Content-Type": "image/jpeg"},
        raw=jpeg,
    )
    assert r.status_code == 201, r.body
    att = r.json_body
    assert (att["kind"], att["content_type"], att["size"], att["filename"]) == (
        "id_photo",
        "image/jpeg",
        len(jpeg),
        "id front.jpg",
    )
    # a proof of address as PDF through the signing link (no login)
    token = _signing_token(portal, contract["id"], operator)
    pdf_bytes = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"
    r = portal.call(
        "POST",
        f"/portal/contract-signing/attachments?token={token}&kind=proof_of_address",
        {"Content-Type": "application/pdf"},
        raw=pdf_bytes,
    )
    assert r.status_code == 201, r.body
    # bytes that do not match the declared type, unknown types and kinds, and oversized files are refused
    png = _image("PNG")
    assert (
        portal.call(
            "POST", f"{url}?kind=id_photo", {**headers, "Content-Type": "image/jpeg"}, raw=png
        ).status_code
        == 422
    )
    assert (
        portal.call(
            "POST", f"{url}?kind=id_photo", {**headers, "Content-Type": "text/plain"}, raw=b"hello"
        ).status_code
        == 422
    )
    assert (
        portal.call(
            "POST", f"{url}?kind=selfie", {**headers, "Content-Type": "image/jpeg"}, raw=jpeg
        ).status_code
        == 422
    )
    oversized = jpeg + b"\0" * contract_svc.MAX_ATTACHMENT_BYTES
    assert portal.call(
        "POST", f"{url}?kind=id_photo", {**headers, "Content-Type": "image/jpeg"}, raw=oversized
    ).status_code in (413, 422)
    # the attachment comes back as uploaded
    got = portal.get(f"{url}/{att['id']}", {**headers, "Accept": "image/jpeg"})
    assert got.status_code == 200 and got.body == jpeg
    # Documents: only those visible to the customer
    docs = portal.get("/portal/documents", headers).json_body
    assert [d["id"] for d in docs] == [contract["id"]]
    assert len(docs[0]["attachments"]) == 2
    assert portal.get(f"/portal/contracts/{hidden['id']}", headers).status_code == 404
    # another customer sees none of it
    other = portal.login_as(portal.new_subscriber())
    assert portal.get(f"/portal/contracts/{contract['id']}", other).status_code == 404
    assert portal.get("/portal/documents", other).json_body == []
