"""Portal sign-in, session tokens and auto-login links through the HTTP API (SPEC S4)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from core.ids import frozen_clock
from services import portal_auth
from tests.integration.portal.support import Portal, path_of, query_of


def test_sign_in_with_portal_password_opens_a_session(portal: Portal):
    # Given the demo subscriber with portal password demo123
    # When they sign in
    resp = portal.post(
        "/portal/auth/login", body={"tenant_id": "ten_demo", "username": "DEMO", "password": "demo123"}
    )
    # Then they get a bearer token that opens their own data
    assert resp.status_code == 200, resp.body
    me = portal.get("/portal/me", {"Authorization": f"Bearer {resp.json_body['token']}"})
    assert me.status_code == 200
    assert me.json_body["subscriber_id"] == "sub_demo"
    assert me.json_body["username"] == "demo"


def test_wrong_password_and_unknown_user_are_refused_alike(portal: Portal):
    wrong = portal.post(
        "/portal/auth/login", body={"tenant_id": "ten_demo", "username": "demo", "password": "nope"}
    )
    unknown = portal.post(
        "/portal/auth/login", body={"tenant_id": "ten_demo", "username": "ghost", "password": "x"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json_body["error"]["message"] == unknown.json_body["error"]["message"]


def test_portal_routes_need_a_portal_token_not_an_operator_token(portal: Portal):
    operator = portal.operator()
    assert portal.get("/portal/me").status_code == 401
    assert portal.get("/portal/me", operator).status_code == 401
    # and a portal token opens no admin route
    sub_headers = portal.login()
    assert portal.get("/admin/subscribers/sub_demo/contracts", sub_headers).status_code == 401


def test_failed_sign_ins_lock_the_username_for_the_window(portal: Portal):
    sub = portal.new_subscriber()
    # Given five failed attempts
    for _ in range(portal_auth.MAX_FAILURES_PER_USERNAME):
        r = portal.post(
            "/portal/auth/login", body={"tenant_id": "ten_demo", "username": sub.username, "password": "bad"}
        )
        assert r.status_code == 401
    # When the right password comes next
    r = portal.post(
        "/portal/auth/login",
        body={"tenant_id": "ten_demo", "username": sub.username, "password": "portal-pass-1"},
    )
    # Then it is refused until the window passes; other users are not affected
    assert r.status_code == 429
    assert r.json_body["error"]["details"]["retry_after_s"] > 0
    assert (
        portal.post(
            "/portal/auth/login", body={"tenant_id": "ten_demo", "username": "demo", "password": "demo123"}
        ).status_code
        == 200
    )


def test_a_locked_username_opens_again_when_the_429_says(portal: Portal):
    sub = portal.new_subscriber()
    wrong = {"tenant_id": "ten_demo", "username": sub.username, "password": "bad"}
    right = {**wrong, "password": "portal-pass-1"}
    # Given five failed attempts one minute into a 15-minute window
    start = datetime(2031, 5, 17, 10, 31, tzinfo=UTC)
    with frozen_clock(start):
        for _ in range(portal_auth.MAX_FAILURES_PER_USERNAME):
            assert portal.post("/portal/auth/login", body=wrong).status_code == 401
    # When the right password comes a minute later, it is refused, saying when to come back: the failures
    # count in their own window (until 10:45) and in the next one (until 11:00)
    asked = start + timedelta(minutes=1)
    with frozen_clock(asked):
        r = portal.post("/portal/auth/login", body=right)
    assert r.status_code == 429 and r.json_body["error"]["details"]["retry_after_s"] == 28 * 60
    # Then it is still refused a second before that time, and accepted at it
    with frozen_clock(asked + timedelta(minutes=28, seconds=-1)):
        assert portal.post("/portal/auth/login", body=right).status_code == 429
    with frozen_clock(asked + timedelta(minutes=28)):
        assert portal.post("/portal/auth/login", body=right).status_code == 200


def test_attempts_per_address_are_limited(portal: Portal, monkeypatch):
    monkeypatch.setattr(portal_auth, "MAX_ATTEMPTS_PER_ADDRESS", 3)
    codes = [
        portal.post("/portal/auth/autologin", body={"token": f"garbage-{i}"}).status_code for i in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    # the limit covers password sign-ins from that address too
    r = portal.post(
        "/portal/auth/login", body={"tenant_id": "ten_demo", "username": "demo", "password": "demo123"}
    )
    assert r.status_code == 429


def _issue_link(portal: Portal, operator: dict[str, str], sub_id: str = "sub_demo") -> str:
    resp = portal.post(f"/admin/subscribers/{sub_id}/autologin-link", operator)
    assert resp.status_code == 201, resp.body
    body = resp.json_body
    assert body["expires_at"] - time.time() > 180 * 24 * 3600  # about six months
    return str(body["url"])


def test_auto_login_link_signs_the_subscriber_in(portal: Portal):
    # Given an operator issues an auto-login link
    url = _issue_link(portal, portal.operator(role="operator"))
    assert url.startswith(portal.rt.settings.public_base_url + "/my/autologin?token=")
    # When the customer opens it
    resp = portal.get(path_of(url))
    # Then a portal session for that subscriber only
    assert resp.status_code == 200, resp.body
    assert resp.json_body["subscriber_id"] == "sub_demo"
    me = portal.get("/portal/me", {"Authorization": f"Bearer {resp.json_body['token']}"})
    assert me.json_body["subscriber_id"] == "sub_demo"


def test_short_auto_login_link_fits_an_sms_and_follows_revocation(portal: Portal):
    # Given a subscriber and the short link an operator gets for SMS (164 characters per message)
    sub = portal.new_subscriber()
    operator = portal.operator(role="operator")
    resp = portal.post(f"/admin/subscribers/{sub.id}/autologin-link", operator)
    short = resp.json_body["short_url"]
    assert len(short) - len(portal.rt.settings.public_base_url) <= 24
    # When the customer opens it, then they are signed in as that subscriber
    opened = portal.get(path_of(short))
    assert opened.status_code == 200, opened.body
    assert opened.json_body["subscriber_id"] == sub.id
    # and once the operator revokes the links, the short link is refused too
    assert portal.post(f"/admin/subscribers/{sub.id}/autologin-link/revoke", operator).status_code == 200
    assert portal.get(path_of(short)).status_code == 401
    assert portal.get("/portal/a/unknown-code-123").status_code == 401


def test_expired_auto_login_link_is_refused(portal: Portal):
    sub = portal.new_subscriber()
    now = time.time()
    # Given a link issued six months and a day ago, and one issued five months ago
    expired = portal_auth.issue_autologin_token(
        portal.rt, sub, now=now - portal_auth.AUTOLOGIN_TTL_SECONDS - 86400
    )
    recent = portal_auth.issue_autologin_token(portal.rt, sub, now=now - 150 * 86400)
    # Then the old one is refused and the recent one still works
    r = portal.post("/portal/auth/autologin", body={"token": expired})
    assert r.status_code == 401
    assert "expired" in r.json_body["error"]["message"]
    assert portal.post("/portal/auth/autologin", body={"token": recent}).status_code == 200


def test_revoked_auto_login_links_stop_working_with_their_sessions(portal: Portal):
    sub = portal.new_subscriber()
    operator = portal.operator(role="operator")
    url = _issue_link(portal, operator, sub.id)
    opened = portal.get(path_of(url))
    link_session = {"Authorization": f"Bearer {opened.json_body['token']}"}
    password_session = portal.login_as(sub)
    # When the operator revokes the links
    r = portal.post(f"/admin/subscribers/{sub.id}/autologin-link/revoke", operator)
    assert r.status_code == 200, r.body
    assert r.json_body["autologin_epoch"] == 1
    # Then the link and the session opened with it are refused; a password session is not affected
    assert portal.get(path_of(url)).status_code == 401
    assert portal.get("/portal/me", link_session).status_code == 401
    assert portal.get("/portal/me", password_session).status_code == 200
    # and a link issued afterwards works
    assert portal.get(path_of(_issue_link(portal, operator, sub.id))).status_code == 200


def test_forged_or_foreign_tokens_are_refused(portal: Portal):
    url = _issue_link(portal, portal.operator())
    token = query_of(url)["token"]
    body, mac = token.split(".")
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac
    assert portal.post("/portal/auth/autologin", body={"token": forged}).status_code == 401
    # a portal session token is not an auto-login token
    session = portal.login()["Authorization"][7:]
    assert portal.post("/portal/auth/autologin", body={"token": session}).status_code == 401


def test_operators_outside_the_tenant_cannot_issue_or_revoke_links(portal: Portal):
    stranger = portal.operator(portal.other_tenant(), role="manager")
    assert portal.post("/admin/subscribers/sub_demo/autologin-link", stranger).status_code == 404
    assert portal.post("/admin/subscribers/sub_demo/autologin-link/revoke", stranger).status_code == 404
    read_only = portal.operator(role="read_only")
    assert portal.post("/admin/subscribers/sub_demo/autologin-link", read_only).status_code == 403
