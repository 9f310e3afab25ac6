"""Cards and vouchers through the HTTP API: generate, list, export, print, revoke, redeem (SPEC S2, S4)."""

from __future__ import annotations

import base64
import csv
import io
import itertools
import re
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
import qrcode
from PIL import Image
from pypdf import PdfReader
from pypdf.generic import ContentStream
from qrcode.constants import ERROR_CORRECT_M

from core.errors import ConflictError
from core.ids import now_iso
from services import vouchers as svc
from store import subscribers as subscriber_store
from store.models import Product, Subscriber, Tenant
from store.radius_repo import DynamoRadiusStore
from tests.fakes.radius import Clock, RadiusHarness, acct_request, pap_request
from tests.integration.channels.support import Http, pdf_text

pytestmark = pytest.mark.usefixtures("http")


def _card_product(tenant_id: str, time_credit_min: int = 60) -> str:
    Product(
        id="prod_card",
        tenant_id=tenant_id,
        name="Wi-Fi 1 hour",
        policy_id="pol_demo",
        price="2.00",
        connection_type="hotspot",
        time_credit_min=time_credit_min,
        created_at=now_iso(),
    ).save()
    return "prod_card"


def _batch(http: Http, **extra: object) -> dict:
    body = {
        "product_id": _card_product(http.demo.tenant_id),
        "count": 12,
        "prefix": "cafe-",
        "username_length": 6,
        "username_alphabet": "digits",
        "password_length": 6,
        "name": "Saturday",
        **extra,
    }
    resp = http.post("/admin/voucher-batches", http.manager(), body)
    assert resp.status_code == 201, resp.json_body
    return resp.json_body


def _cards(http: Http, batch_id: str, status: str | None = None) -> list[dict[str, str]]:
    path = f"/admin/voucher-batches/{batch_id}/export" + (f"?status={status}" if status else "")
    resp = http.get(path, http.manager())
    assert resp.status_code == 200
    return list(csv.DictReader(io.StringIO(resp.body.decode("utf-8-sig"))))


def test_batch_generates_cards_that_are_logins_and_exports_them(http: Http) -> None:
    # When a batch of 12 cards is generated with a prefix, 6-digit codes and a validity from first use
    batch = _batch(http, validity={"starts": "first_login", "days": 1})
    # Then the batch lists 12 unused cards
    detail = http.get(f"/admin/voucher-batches/{batch['id']}", http.manager()).json_body
    assert detail["count"] == 12 and detail["cards"] == {"unused": 12} and detail["status"] == "active"
    assert [b["id"] for b in http.get("/admin/voucher-batches", http.manager()).json_body["items"]] == [
        batch["id"]
    ]
    # And the CSV export holds each code and password, in the requested shape
    rows = _cards(http, batch["id"])
    assert len(rows) == 12 and len({r["code"] for r in rows}) == 12
    for r in rows:
        assert r["code"].startswith("cafe-") and r["code"][5:].isdigit() and len(r["code"]) == 11
        assert len(r["password"]) == 6 and r["product"] == "Wi-Fi 1 hour" and r["status"] == "unused"
        assert r["validity"] == "Valid 1 day from first use"
    # And every card is a hotspot login with the same credentials, validity pending its first login
    login = subscriber_store.get_by_login(http.demo.tenant_id, rows[0]["code"])
    assert login is not None and login.created_via == "card" and login.status == "new"
    assert login.connection_type == "hotspot" and login.product_id == "prod_card"
    assert http.rt.box.decrypt(login.password_enc) == rows[0]["password"]
    assert login.product_expires_at is None and login.expires_days_after_first_login == 1
    # And the export was audited, and never logs passwords in the batch record
    audit = http.get(f"/admin/audit?entity_id={batch['id']}", http.manager()).json_body
    assert {"create", "export_credentials"} <= {e["action"] for e in audit["items"]}


def test_print_sheet_is_a_pdf_with_every_card_and_its_qr(http: Http) -> None:
    # Given a batch of 12 cards
    batch = _batch(http)
    rows = _cards(http, batch["id"])
    # When the sheet is printed 10 cards per page
    resp = http.get(
        f"/admin/voucher-batches/{batch['id']}/cards.pdf?cards_per_page=10",
        http.manager(),
        headers={"Accept": "application/pdf"},
    )
    # Then it is a 2-page PDF with the tenant's name, each code and password
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/pdf"
    pages, text = pdf_text(resp.body)
    assert pages == 2
    assert "Demo WISP" in text and "Wi-Fi 1 hour" in text
    for r in rows:
        assert r["code"] in text and r["password"] in text
    # And with the tenant's logo, each page carries it as an image
    logo = io.BytesIO()
    Image.new("RGB", (60, 20), (10, 90, 200)).save(logo, format="PNG")
    tenant = Tenant.get(http.demo.tenant_id)
    tenant.update(
        actions=[Tenant.logo_url.set("data:image/png;base64," + base64.b64encode(logo.getvalue()).decode())]
    )
    with_logo = http.get(
        f"/admin/voucher-batches/{batch['id']}/cards.pdf",
        http.manager(),
        headers={"Accept": "application/pdf"},
    )
    assert all(len(page.images) >= 1 for page in PdfReader(io.BytesIO(with_logo.body)).pages)
    # And 4 per page gives 3 pages
    resp = http.get(
        f"/admin/voucher-batches/{batch['id']}/cards.pdf?cards_per_page=4",
        http.manager(),
        headers={"Accept": "application/pdf"},
    )
    assert pdf_text(resp.body)[0] == 3
    # And an unsupported layout is a 422 naming the field
    bad = http.get(f"/admin/voucher-batches/{batch['id']}/cards.pdf?cards_per_page=7", http.manager())
    assert bad.status_code == 422 and bad.json_body["error"]["field"].endswith("cards_per_page")


def test_date_valid_cards_run_from_midnight_to_midnight_of_the_tenants_calendar(http: Http) -> None:
    # Given the demo tenant works in Mexico City (UTC-6): its 1 December begins at 06:00 UTC
    assert Tenant.get(http.demo.tenant_id).timezone == "America/Mexico_City"
    # When a batch of cards valid for 30 days from 1 December is generated
    batch = _batch(http, count=2, validity={"starts": "date", "date": "2026-12-01", "days": 30})
    first, second = _cards(http, batch["id"])
    # Then each card's login is valid from that local midnight to the local midnight after its last day
    login = subscriber_store.get_by_login(http.demo.tenant_id, first["code"])
    assert login is not None
    assert login.product_assigned_at == "2026-12-01T06:00:00.000000Z"
    assert login.product_expires_at == "2026-12-31T06:00:00.000000Z"
    v = http.get(f"/admin/vouchers/{first['code']}", http.manager()).json_body
    assert v["valid_until"] == "2026-12-31T06:00:00.000000Z"
    assert first["validity"] == "Valid 2026-12-01 to 2026-12-31"
    # And a card redeemed onto a subscriber ends the service at the same local midnight
    resp = http.post(
        "/admin/vouchers/redeem",
        http.manager(),
        {"code": second["code"], "subscriber_id": http.demo.subscriber_id, "password": second["password"]},
    )
    assert resp.status_code == 200, resp.json_body
    after = subscriber_store.get_by_id(http.demo.subscriber_id)
    assert after is not None and after.product_expires_at == "2026-12-31T06:00:00.000000Z"


def test_redeem_recharges_the_subscriber_keeping_residual_credit_and_only_once(http: Http) -> None:
    # Given a subscriber with 30 minutes left of a 60-minute card product
    demo = http.demo
    batch = _batch(http)
    first, second = _cards(http, batch["id"])[:2]
    sub = subscriber_store.get_by_id(demo.subscriber_id)
    assert sub is not None
    assigned = now_iso()
    subscriber_store.update_fields(sub, {"product_id": "prod_card", "product_assigned_at": assigned})
    Subscriber(login=sub.login).update(actions=[Subscriber.usage.set({f"p:{assigned}:t": 30 * 60})])
    # When an operator redeems a card onto it
    resp = http.post(
        "/admin/vouchers/redeem",
        http.manager(),
        {"code": first["code"], "subscriber_id": demo.subscriber_id, "password": first["password"]},
    )
    # Then the product is assigned again and the residual 30 minutes are carried over
    assert resp.status_code == 200, resp.json_body
    body = resp.json_body
    assert body["product_id"] == "prod_card" and body["carried_time_min"] == 30
    after = subscriber_store.get_by_id(demo.subscriber_id)
    assert after is not None and after.carry_over["time_min"] == 30 and after.product_assigned_at != assigned
    # And the card is spent: its voucher is redeemed and its own login no longer connects
    v = http.get(f"/admin/vouchers/{first['code']}", http.manager()).json_body
    assert v["status"] == "redeemed" and v["redeemed_by"] == demo.subscriber_id and "password" not in v
    card_login = subscriber_store.get_by_login(demo.tenant_id, first["code"])
    assert card_login is not None and card_login.status == "cancelled"
    # And a second redemption of the same card is refused
    again = http.post(
        "/admin/vouchers/redeem", http.manager(), {"code": first["code"], "subscriber_id": demo.subscriber_id}
    )
    assert again.status_code == 409 and again.json_body["error"]["field"] == "code"
    # And a wrong password answers like an unknown code
    wrong = http.post(
        "/admin/vouchers/redeem",
        http.manager(),
        {"code": second["code"], "subscriber_id": demo.subscriber_id, "password": "nope"},
    )
    assert wrong.status_code == 404
    # And a card already used to connect at the hotspot cannot be redeemed as well
    used = subscriber_store.get_by_login(demo.tenant_id, second["code"])
    assert used is not None
    subscriber_store.update_fields(used, {"last_seen_at": now_iso()})
    spent = http.post(
        "/admin/vouchers/redeem",
        http.manager(),
        {"code": second["code"], "subscriber_id": demo.subscriber_id},
    )
    assert spent.status_code == 409
    assert http.get(f"/admin/vouchers/{second['code']}", http.manager()).json_body["status"] == "used"


def test_revoke_stops_unused_cards_and_keeps_used_ones(http: Http) -> None:
    # Given a batch where one card was redeemed and one was used at the hotspot
    demo = http.demo
    batch = _batch(http)
    rows = _cards(http, batch["id"])
    assert (
        http.post(
            "/admin/vouchers/redeem",
            http.manager(),
            {"code": rows[0]["code"], "subscriber_id": demo.subscriber_id},
        ).status_code
        == 200
    )
    in_use = subscriber_store.get_by_login(demo.tenant_id, rows[1]["code"])
    assert in_use is not None
    subscriber_store.update_fields(in_use, {"last_seen_at": now_iso()})
    # When the batch is revoked
    resp = http.post(f"/admin/voucher-batches/{batch['id']}/revoke", http.manager())
    # Then the 11 unredeemed vouchers are revoked, the card in use keeps its login
    assert resp.status_code == 200, resp.json_body
    assert resp.json_body["status"] == "revoked" and resp.json_body["revoked"] == 11
    assert resp.json_body["in_use_kept"] == 1
    still = subscriber_store.get_by_login(demo.tenant_id, rows[1]["code"])
    assert still is not None and still.status == "new"
    gone = subscriber_store.get_by_login(demo.tenant_id, rows[2]["code"])
    assert gone is not None and gone.status == "cancelled"
    # And a revoked card cannot be redeemed; revoking twice is refused
    late = http.post(
        "/admin/vouchers/redeem",
        http.manager(),
        {"code": rows[2]["code"], "subscriber_id": demo.subscriber_id},
    )
    assert late.status_code == 409
    assert http.post(f"/admin/voucher-batches/{batch['id']}/revoke", http.manager()).status_code == 409


def test_batch_input_is_checked(http: Http) -> None:
    demo = http.demo
    _card_product(demo.tenant_id)
    cases = [
        (
            {"product_id": "prod_card", "count": 5000, "username_length": 4, "username_alphabet": "digits"},
            "username_length",
        ),
        ({"product_id": "nope", "count": 1}, "product_id"),
        ({"product_id": "prod_card", "count": 0}, "count"),
        ({"product_id": "prod_card", "count": 1, "validity": {"starts": "date", "days": 3}}, "validity.date"),
        ({"product_id": "prod_card", "count": 1, "prefix": "has space"}, "prefix"),
    ]
    for body, field in cases:
        resp = http.post("/admin/voucher-batches", http.manager(), body)
        assert resp.status_code in (404, 422), (body, resp.json_body)
        assert resp.json_body["error"]["field"] == field, (body, resp.json_body)
    # another tenant's batch is not found
    other = http.other_manager()
    batch = _batch(http)
    assert http.get(f"/admin/voucher-batches/{batch['id']}", other).status_code == 404
    assert http.get("/admin/voucher-batches", other).json_body["items"] == []
    code = _cards(http, batch["id"])[0]["code"]
    assert http.get(f"/admin/vouchers/{code}", other).status_code == 404
    assert (
        http.post(
            "/admin/vouchers/redeem", other, {"code": code, "subscriber_id": demo.subscriber_id}
        ).status_code
        == 404
    )


def test_twenty_concurrent_redemptions_of_one_card_yield_one_success(
    http: Http, atomic_dynamodb: None
) -> None:
    # Given one card and 20 subscribers
    demo = http.demo
    batch = _batch(http)
    card = _cards(http, batch["id"])[0]
    from services.identity.actors import Principal

    actor = Principal(demo.operator_id, "operator", demo.tenant_id, "manager")
    ids = []
    for i in range(20):
        s = Subscriber(
            login=subscriber_store.login_key(demo.tenant_id, f"guest{i}"),
            id=f"sub_guest{i}",
            tenant_id=demo.tenant_id,
            username=f"guest{i}",
            password_enc=http.rt.box.encrypt("x1234"),
            status="active",
            connection_type="hotspot",
            created_at=now_iso(),
        )
        subscriber_store.create(s)
        ids.append(s.id)
    # When 20 redemptions run at the same moment
    barrier = threading.Barrier(20)
    results: list[str] = []
    lock = threading.Lock()

    def redeem(sid: str) -> None:
        barrier.wait()
        try:
            svc.redeem_voucher(http.rt, actor, sid, card["code"], card["password"])
            outcome = "ok"
        except ConflictError:
            outcome = "conflict"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=redeem, args=(sid,)) for sid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # Then exactly one succeeded and 19 were refused; one subscriber got the product
    assert sorted(results) == ["conflict"] * 19 + ["ok"]
    winners = [
        sid for sid in ids if (subscriber_store.get_by_id(sid) or Subscriber()).product_id == "prod_card"
    ]
    assert len(winners) == 1
    v = http.get(f"/admin/vouchers/{card['code']}", http.manager()).json_body
    assert v["status"] == "redeemed" and v["redeemed_by"] == winners[0]


def test_subscriber_recharges_with_a_card_from_the_portal(http: Http) -> None:
    # Given the demo subscriber signed in to the customer portal, and a batch of cards
    demo = http.demo
    batch = _batch(http)
    card = _cards(http, batch["id"])[0]
    login = http.post(
        "/portal/auth/login",
        {},
        {"tenant_id": demo.tenant_id, "username": demo.username, "password": demo.password},
    )
    assert login.status_code == 200, login.json_body
    portal = {"Authorization": f"Bearer {login.json_body['token']}"}
    # When a wrong card password is given, nothing is spent
    wrong = http.post("/portal/vouchers/redeem", portal, {"code": card["code"], "password": "nope"})
    assert wrong.status_code == 404 and "error" in wrong.json_body  # no hint that the code exists
    # Then with the right one the card's product is assigned to the signed-in subscriber
    ok = http.post("/portal/vouchers/redeem", portal, {"code": card["code"], "password": card["password"]})
    assert ok.status_code == 200, ok.json_body
    assert ok.json_body["product_id"] == "prod_card"
    after = subscriber_store.get_by_id(demo.subscriber_id)
    assert after is not None and after.product_id == "prod_card"
    # And the card cannot be used a second time; an operator token is not a portal session
    again = http.post("/portal/vouchers/redeem", portal, {"code": card["code"], "password": card["password"]})
    assert again.status_code == 409
    assert (
        http.post("/portal/vouchers/redeem", http.manager(), {"code": "x", "password": "y"}).status_code
        == 401
    )


def _qr_matrix_on_page(page: Any) -> list[list[bool]]:
    """The QR code a card page draws (filled rectangles, one per run of dark modules), as a matrix."""
    ops = ContentStream(page.get_contents(), page.pdf).operations
    rects = [
        tuple(float(v) for v in operands)
        for (operands, op), (_, nxt) in itertools.pairwise(ops)
        if op == b"re" and nxt in (b"f", b"f*")
    ]
    cell = min(h for _, _, _, h in rects)
    left, top = min(x for x, _, _, _ in rects), max(y + h for _, y, _, h in rects)
    n = round((max(x + w for x, _, w, _ in rects) - left) / cell)
    matrix = [[False] * n for _ in range(n)]
    for x, y, w, _h in rects:
        row = round((top - y) / cell) - 1
        for col in range(round((x - left) / cell), round((x + w - left) / cell)):
            matrix[row][col] = True
    return matrix


def _qr_of(text: str) -> list[list[bool]]:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0)
    qr.add_data(text)
    qr.make(fit=True)
    return [list(r) for r in qr.get_matrix()]


def test_long_card_names_print_whole_and_the_qr_opens_the_card_page(http: Http) -> None:
    # Given a hotel's cards: 19-character user names
    batch = _batch(http, count=3, prefix="HOTELPLAZA-", username_length=8, name="Hotel")
    rows = _cards(http, batch["id"])
    for per_page in (1, 10, 21):
        # When the sheet is printed in any layout
        resp = http.get(
            f"/admin/voucher-batches/{batch['id']}/cards.pdf?cards_per_page={per_page}",
            http.manager(),
            headers={"Accept": "application/pdf"},
        )
        assert resp.status_code == 200
        # Then every user name and password is printed whole (smaller, or wrapped on the smallest cards)
        text = re.sub(r"\s", "", pdf_text(resp.body)[1])
        assert "…" not in text
        for r in rows:
            assert r["code"] in text and r["password"] in text
    # And each card's QR code opens the card's page with the user name and the operator only
    one_per_page = http.get(
        f"/admin/voucher-batches/{batch['id']}/cards.pdf?cards_per_page=1",
        http.manager(),
        headers={"Accept": "application/pdf"},
    )
    base = http.rt.settings.public_base_url.rstrip("/")
    for page in PdfReader(io.BytesIO(one_per_page.body)).pages:
        code = next(r["code"] for r in rows if r["code"] in re.sub(r"\s", "", page.extract_text()))
        assert _qr_matrix_on_page(page) == _qr_of(f"{base}/my/card?u={code}&t={batch['tenant_id']}")


def test_card_used_at_the_gateway_is_used_in_its_record_counts_and_csv(http: Http) -> None:
    # Given a batch of hotspot cards
    batch = _batch(http, count=3)
    card = _cards(http, batch["id"])[0]
    harness = RadiusHarness(DynamoRadiusStore(), http.rt.box.decrypt, clock=Clock(datetime.now(UTC)))
    with harness:
        client = harness.client(timeout=10.0, retries=3)  # generous: the machine may be busy
        # When a guest logs in with the card at the gateway and the session starts
        login = client.SendPacket(
            pap_request(client, card["code"], card["password"], NAS_IP_Address="127.0.0.1")
        )
        assert login.code == 2  # Access-Accept
        start = acct_request(
            client,
            "Start",
            card["code"],
            "S-card-1",
            NAS_IP_Address="127.0.0.1",
            Framed_IP_Address="10.5.0.9",
        )
        assert client.SendPacket(start).code == 5
    # Then the card is used: in its record, in the batch counts and in the CSV
    voucher = http.get(f"/admin/vouchers/{card['code']}", http.manager()).json_body
    assert voucher["status"] == "used" and voucher["redeemed_at"]
    detail = http.get(f"/admin/voucher-batches/{batch['id']}", http.manager()).json_body
    assert detail["cards"] == {"unused": 2, "used": 1}
    assert [r["status"] for r in _cards(http, batch["id"]) if r["code"] == card["code"]] == ["used"]
    assert card["code"] not in {r["code"] for r in _cards(http, batch["id"], "unused")}
    # And it can no longer be redeemed onto another account
    again = http.post(
        "/admin/vouchers/redeem",
        http.manager(),
        {"code": card["code"], "subscriber_id": http.demo.subscriber_id},
    )
    assert again.status_code == 409
