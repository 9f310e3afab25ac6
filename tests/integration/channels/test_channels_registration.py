"""Self-registration through the public portal routes (SPEC S2 "From user", S6 free users): one-time
codes read back from moto's SNS/SES, expiry, attempt limits, rate limits, vouchers, free modes."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.ids import frozen_clock, now_iso
from services import registration as reg
from store import subscribers as subscriber_store
from store.models import Gateway, Product, TokenRecord
from tests.integration.channels.support import Http, sent_emails, sent_sms

pytestmark = pytest.mark.usefixtures("http")


def _network(http: Http, registration: dict[str, Any]) -> str:
    """A hotspot of the demo tenant with these registration settings, a free and a paid product."""
    demo, now = http.demo, now_iso()
    Product(
        id="prod_free",
        tenant_id=demo.tenant_id,
        name="Free 30 min",
        price="0",
        connection_type="hotspot",
        time_credit_min=30,
        created_at=now,
    ).save()
    Product(
        id="prod_day",
        tenant_id=demo.tenant_id,
        name="Day pass",
        price="3.00",
        connection_type="hotspot",
        validity_days=1,
        created_at=now,
    ).save()
    Gateway(
        id="gw_hs",
        tenant_id=demo.tenant_id,
        zone_id=demo.zone_id,
        name="Cafe hotspot",
        nas_ip="127.0.0.9",
        radius_secret_enc=http.rt.box.encrypt("s3cret"),
        api_enabled=False,
        plan_type="hotspot",
        domain_settings={"registration": registration, "login_url": "http://wifi.cafe/login"},
        created_at=now,
    ).save()
    return "gw_hs"


def _code(text: str) -> str:
    m = re.search(r"\b(\d{6})\b", text)
    assert m, text
    return m.group(1)


def test_register_with_sms_code_and_a_free_product(http: Http, app_logs: list[str]) -> None:
    gw = _network(
        http,
        {
            "mode": "register",
            "fields": ["name", "phone"],
            "required": ["name"],
            "verify": "sms",
            "products": ["prod_free", "prod_day"],
        },
    )
    # The portal reads what the network offers
    opts = http.get(f"/portal/register/options?gateway_id={gw}").json_body
    assert opts["mode"] == "register" and opts["verify"] == "sms" and opts["required"] == ["name", "phone"]
    assert [(p["id"], p["free"]) for p in opts["products"]] == [("prod_free", True), ("prod_day", False)]
    # When a person starts with name and phone
    start = http.post(
        "/portal/register/start", body={"gateway_id": gw, "name": "Ana", "phone": "+52 55 1234 5678"}
    )
    assert start.status_code == 200, start.json_body
    body = start.json_body
    assert body["status"] == "code_sent" and body["channel"] == "sms" and body["sent_to"] == "***5678"
    # Then an SMS with a six-digit code went to the phone; the code is nowhere else
    ((phone, text),) = sent_sms()
    code = _code(text)
    assert phone == "+525512345678" and "Demo WISP" in text
    assert code not in json.dumps(body)
    record = TokenRecord.get(f"reg#{body['registration_id']}")
    assert code not in json.dumps(record.data) and "code_hash" in record.data
    # A wrong code is refused and counted
    wrong = http.post(
        "/portal/register/verify",
        body={"registration_id": body["registration_id"], "code": "000000" if code != "000000" else "111111"},
    )
    assert wrong.status_code == 422 and wrong.json_body["error"]["details"]["attempts_left"] == 4
    # The right code gives the token that completes the registration
    ok = http.post("/portal/register/verify", body={"registration_id": body["registration_id"], "code": code})
    assert ok.status_code == 200, ok.json_body
    token = ok.json_body["registration_token"]
    # A paid product needs a voucher
    paid = http.post(
        "/portal/register/complete", body={"registration_token": token, "product_id": "prod_day"}
    )
    assert paid.status_code == 422 and paid.json_body["error"]["field"] == "product_id"
    done = http.post(
        "/portal/register/complete",
        body={"registration_token": token, "product_id": "prod_free", "password": "ana-pass-1"},
    )
    assert done.status_code == 201, done.json_body
    acct = done.json_body
    assert acct["username"] == "525512345678" and acct["password"] == "ana-pass-1"
    assert acct["login_url"].startswith("http://wifi.cafe/login?username=525512345678")
    sub = subscriber_store.get_by_id(acct["subscriber_id"])
    assert (
        sub is not None
        and sub.product_id == "prod_free"
        and sub.name == "Ana"
        and sub.phone == "+525512345678"
    )
    assert sub.created_via == "registration" and sub.connection_type == "hotspot" and sub.gateway_id == gw
    assert not sub.free_user
    # And the credentials went to the verified phone
    assert "525512345678" in sent_sms()[-1][1] and "ana-pass-1" in sent_sms()[-1][1]
    # And the portal password is the chosen one
    signin = http.post(
        "/portal/auth/login",
        body={"tenant_id": http.demo.tenant_id, "username": "525512345678", "password": "ana-pass-1"},
    )
    assert signin.status_code == 200, signin.json_body
    # A verification creates one account only
    again = http.post(
        "/portal/register/complete",
        body={"registration_token": token, "product_id": "prod_free", "username": "ana2"},
    )
    assert again.status_code == 409
    # And the code was never logged (the flow itself was)
    assert any("registration code sent" in line for line in app_logs)
    assert not any(code in line for line in app_logs)


def test_register_by_email_paying_with_a_voucher(http: Http) -> None:
    gw = _network(
        http, {"mode": "register", "fields": ["email"], "verify": "email", "products": ["prod_free"]}
    )
    batch = http.post(
        "/admin/voucher-batches", http.manager(), {"product_id": "prod_day", "count": 2}
    ).json_body
    rows = http.get(f"/admin/voucher-batches/{batch['id']}/export", http.manager()).body.decode("utf-8-sig")
    card = rows.splitlines()[1].split(",")
    # Given a verified e-mail
    start = http.post(
        "/portal/register/start", body={"gateway_id": gw, "email": "Guest@Example.com"}
    ).json_body
    (mail,) = sent_emails()
    assert mail.destinations["ToAddresses"] == ["guest@example.com"]
    code = _code(mail.body)
    assert code not in mail.subject
    token = http.post(
        "/portal/register/verify", body={"registration_id": start["registration_id"], "code": code}
    ).json_body["registration_token"]
    # A wrong card password is refused without creating anything
    bad = http.post(
        "/portal/register/complete",
        body={
            "registration_token": token,
            "voucher_code": card[0],
            "voucher_password": "wrong",
            "username": "guest1",
        },
    )
    assert bad.status_code == 404 and subscriber_store.get_by_login(http.demo.tenant_id, "guest1") is None
    # When the account is completed with the card
    done = http.post(
        "/portal/register/complete",
        body={
            "registration_token": token,
            "voucher_code": card[0],
            "voucher_password": card[1],
            "username": "guest1",
        },
    )
    # Then the account has the card's product and the card is spent
    assert done.status_code == 201, done.json_body
    assert done.json_body["product_id"] == "prod_day" and done.json_body["product_expires_at"]
    v = http.get(f"/admin/vouchers/{card[0]}", http.manager()).json_body
    assert v["status"] == "redeemed" and v["redeemed_by"] == done.json_body["subscriber_id"]
    # And the credentials were e-mailed to the verified address
    assert sent_emails()[-1].destinations["ToAddresses"] == ["guest@example.com"]
    assert "guest1" in sent_emails()[-1].body


def test_codes_expire_attempts_are_limited_and_sending_is_rate_limited(http: Http) -> None:
    gw = _network(http, {"mode": "register", "verify": "sms", "products": ["prod_free"]})

    def start() -> Any:
        return http.post("/portal/register/start", body={"gateway_id": gw, "phone": "+15550001111"})

    # Five wrong codes spend the registration: even the right code is then refused
    first = start().json_body
    code = _code(sent_sms()[-1][1])
    wrong = "123456" if code != "123456" else "654321"
    statuses = [
        http.post(
            "/portal/register/verify", body={"registration_id": first["registration_id"], "code": wrong}
        ).status_code
        for _ in range(5)
    ]
    assert statuses == [422, 422, 422, 422, 429]
    late = http.post(
        "/portal/register/verify", body={"registration_id": first["registration_id"], "code": code}
    )
    assert late.status_code == 429
    # An expired code is refused (the record's expiry has passed)
    second = start().json_body
    code2 = _code(sent_sms()[-1][1])
    rec = TokenRecord.get(f"reg#{second['registration_id']}")
    rec.update(actions=[TokenRecord.expires_at.set(rec.expires_at.replace(year=2020))])
    expired = http.post(
        "/portal/register/verify", body={"registration_id": second["registration_id"], "code": code2}
    )
    assert expired.status_code == 404
    # A third code to the same phone is allowed, the fourth is rate-limited
    assert start().status_code == 200
    assert start().status_code == 429
    assert len(sent_sms()) == 3
    # Missing required contact and a malformed phone are 422 naming the field
    resp = http.post("/portal/register/start", body={"gateway_id": gw})
    assert resp.status_code == 422 and resp.json_body["error"]["field"] == "phone"
    resp = http.post("/portal/register/start", body={"gateway_id": gw, "phone": "12ab"})
    assert resp.status_code == 422 and resp.json_body["error"]["field"] == "phone"


def test_a_rate_limited_contact_gets_a_code_again_when_the_429_says(http: Http) -> None:
    gw = _network(http, {"mode": "register", "verify": "sms", "products": ["prod_free"]})
    body = {"gateway_id": gw, "phone": "+15550002222"}
    # Given the codes allowed to one phone, sent one minute into a 15-minute window
    start = datetime(2031, 5, 17, 10, 31, tzinfo=UTC)
    with frozen_clock(start):
        for _ in range(reg.MAX_CODES_PER_CONTACT):
            assert http.post("/portal/register/start", body=body).status_code == 200
    # When one more is asked a minute later, it is refused, saying when to come back: the codes count in
    # their own window (until 10:45) and in the next one (until 11:00)
    asked = start + timedelta(minutes=1)
    with frozen_clock(asked):
        refused = http.post("/portal/register/start", body=body)
    assert refused.status_code == 429 and refused.json_body["error"]["details"]["retry_after_s"] == 28 * 60
    # Then it is still refused a second before that time, and sent at it
    with frozen_clock(asked + timedelta(minutes=28, seconds=-1)):
        assert http.post("/portal/register/start", body=body).status_code == 429
    with frozen_clock(asked + timedelta(minutes=28)):
        assert http.post("/portal/register/start", body=body).status_code == 200
    assert len(sent_sms()) == reg.MAX_CODES_PER_CONTACT + 1


def test_click_connect_and_simple_password_create_free_users(http: Http) -> None:
    gw = _network(http, {"mode": "click_connect", "free_product_id": "prod_free"})
    # Click & connect: a free user per device, the same on a second click
    one = http.post("/portal/register/start", body={"gateway_id": gw, "mac": "aa-bb-cc-dd-ee-01"})
    assert one.status_code == 200, one.json_body
    assert one.json_body["status"] == "created" and one.json_body["free_user"] is True
    two = http.post("/portal/register/start", body={"gateway_id": gw, "mac": "AA:BB:CC:DD:EE:01"}).json_body
    assert two["username"] == one.json_body["username"] == "cc-aabbccddee01" and two["reused"] is True
    assert two["password"] == one.json_body["password"]
    sub = subscriber_store.get_by_id(one.json_body["subscriber_id"])
    assert sub is not None and sub.free_user and sub.status == "free" and sub.mac == "AA:BB:CC:DD:EE:01"
    assert sub.product_id == "prod_free"
    # Simple password: the venue's password is checked, wrong ones are rate-limited per address
    g = Gateway.get(gw)
    g.update(
        actions=[
            Gateway.domain_settings.set(
                {"registration": {"mode": "simple_password", "simple_password": "cafe2026"}}
            )
        ]
    )
    bad = http.post("/portal/register/start", body={"gateway_id": gw, "password": "guess"})
    assert bad.status_code == 422 and bad.json_body["error"]["field"] == "password"
    good = http.post("/portal/register/start", body={"gateway_id": gw, "password": "cafe2026"})
    assert good.status_code == 200 and good.json_body["free_user"] is True
    assert good.json_body["username"].startswith("sp-")
    for _ in range(reg.MAX_PASSWORD_FAILURES_PER_ADDRESS):
        http.post("/portal/register/start", body={"gateway_id": gw, "password": "guess"})
    assert http.post(
        "/portal/register/start", body={"gateway_id": gw, "password": "cafe2026"}
    ).status_code in (200, 429)
    assert (
        http.post("/portal/register/start", body={"gateway_id": gw, "password": "guess"}).status_code == 429
    )
    # Disabled networks and unknown gateways
    g.update(actions=[Gateway.domain_settings.set({})])
    assert http.post("/portal/register/start", body={"gateway_id": gw}).status_code == 403
    assert http.get("/portal/register/options?gateway_id=nope").status_code == 404
