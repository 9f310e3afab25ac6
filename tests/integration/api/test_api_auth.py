"""Login, /admin/me, operators, roles and API keys through the Chalice test client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.ids import frozen_clock
from tests.integration.api.support import Api, err, ok


def test_login_returns_an_expiring_token_that_opens_the_api(api: Api, demo):
    # When the demo manager logs in
    body = ok(
        api.post("/admin/auth/login", body={"email": demo.operator_email, "password": demo.operator_password})
    )
    # Then the token works and says who it is
    assert body["token_type"] == "bearer" and body["expires_at"].endswith("Z")
    me = ok(api.get("/admin/me", {"Authorization": f"Bearer {body['token']}"}))
    assert me["actor_id"] == demo.operator_id and me["role"] == "manager"
    assert me["tenant"]["id"] == demo.tenant_id
    assert me["ancestor_tenant_ids"] == [demo.system_id, demo.reseller_id]


def test_wrong_password_and_missing_token_are_refused(api: Api, demo):
    err(api.post("/admin/auth/login", body={"email": demo.operator_email, "password": "nope"}), 401)
    err(api.get("/admin/me"), 401)
    err(api.get("/admin/me", {"Authorization": "Bearer garbage.token"}), 401)


def test_repeated_failed_logins_are_rate_limited(api: Api, demo):
    for _ in range(10):
        err(api.post("/admin/auth/login", body={"email": demo.operator_email, "password": "bad"}), 401)
    # even the right password is refused while the window lasts
    err(
        api.post(
            "/admin/auth/login", body={"email": demo.operator_email, "password": demo.operator_password}
        ),
        429,
    )


def test_failures_just_before_a_window_boundary_still_count_after_it(api: Api, demo):
    # Given ten wrong passwords in the last second of a 15-minute window
    boundary = datetime(2031, 5, 17, 10, 30, tzinfo=UTC)
    login = {"email": demo.operator_email, "password": demo.operator_password}
    with frozen_clock(boundary - timedelta(seconds=1)):
        for _ in range(10):
            err(api.post("/admin/auth/login", body={**login, "password": "bad"}), 401)
    # Then the right password is still refused in the next window, saying when to come back
    with frozen_clock(boundary):
        body = err(api.post("/admin/auth/login", body=login), 429)
        assert body["details"]["retry_after_s"] == 900
    with frozen_clock(boundary + timedelta(minutes=14, seconds=59)):
        err(api.post("/admin/auth/login", body=login), 429)
    # And once both windows have passed, it opens again
    with frozen_clock(boundary + timedelta(minutes=15)):
        ok(api.post("/admin/auth/login", body=login))


def test_a_locked_e_mail_opens_again_when_the_429_says(api: Api, demo):
    # Given ten wrong passwords one minute into a 15-minute window
    start = datetime(2031, 5, 17, 10, 31, tzinfo=UTC)
    login = {"email": demo.operator_email, "password": demo.operator_password}
    with frozen_clock(start):
        for _ in range(10):
            err(api.post("/admin/auth/login", body={**login, "password": "bad"}), 401)
    # When the right password comes a minute later, it is refused, saying when to come back: the failures
    # count in their own window (until 10:45) and in the next one (until 11:00)
    asked = start + timedelta(minutes=1)
    with frozen_clock(asked):
        retry_after = err(api.post("/admin/auth/login", body=login), 429)["details"]["retry_after_s"]
    assert retry_after == 28 * 60
    # Then it is still refused a second before that time, and accepted at it
    with frozen_clock(asked + timedelta(seconds=retry_after - 1)):
        err(api.post("/admin/auth/login", body=login), 429)
    with frozen_clock(asked + timedelta(seconds=retry_after)):
        ok(api.post("/admin/auth/login", body=login))


def test_operator_crud_and_role_rules(api: Api, demo, manager):
    # Given a manager creates a staff operator in its tenant
    op = ok(
        api.post(
            "/admin/operators",
            manager,
            {"email": "Cashier@Demo.local", "password": "cashier-123", "role": "operator", "name": "Cashier"},
        ),
        201,
    )
    assert op["email"] == "cashier@demo.local" and op["tenant_id"] == demo.tenant_id
    assert "password" not in op and "password_hash" not in op
    # The e-mail is unique
    err(
        api.post(
            "/admin/operators",
            manager,
            {"email": "cashier@demo.local", "password": "cashier-123", "role": "operator"},
        ),
        409,
        "email",
    )
    # A manager cannot grant a role above its own, nor a role that does not exist at the tenant's level
    err(
        api.post(
            "/admin/operators",
            manager,
            {"email": "x@demo.local", "password": "x-12345678", "role": "system_admin"},
        ),
        403,
        "role",
    )
    # The new operator can log in; role change applies immediately
    login = ok(api.post("/admin/auth/login", body={"email": "cashier@demo.local", "password": "cashier-123"}))
    staff = {"Authorization": f"Bearer {login['token']}", "Content-Type": "application/json"}
    ok(api.get("/admin/subscribers", staff))
    err(api.get("/admin/operators", staff), 403)
    ok(api.put(f"/admin/operators/{op['id']}/role", manager, {"role": "read_only"}))
    err(api.post("/admin/subscribers", staff, {"username": "newone"}), 403)
    # Disabled operators lose access at once
    ok(api.patch(f"/admin/operators/{op['id']}", manager, {"active": False}))
    err(api.get("/admin/me", staff), 401)
    listed = ok(api.get("/admin/operators", manager))
    assert {o["id"] for o in listed} >= {op["id"], demo.operator_id}
    ok(api.delete(f"/admin/operators/{op['id']}", manager))
    err(api.get(f"/admin/operators/{op['id']}", manager), 404)
    # the e-mail is free again
    ok(
        api.post(
            "/admin/operators",
            manager,
            {"email": "cashier@demo.local", "password": "cashier-123", "role": "operator"},
        ),
        201,
    )


def test_roles_are_listed(api: Api, manager):
    roles = ok(api.get("/admin/roles", manager))
    assert [r["name"] for r in roles] == ["read_only", "operator", "manager", "reseller", "system_admin"]


def test_api_key_secret_is_shown_once_and_revocation_works(api: Api, demo, manager):
    created = ok(api.post("/admin/api-keys", manager, {"name": "Hotel PMS", "role": "operator"}), 201)
    key = created["key"]
    assert key.startswith(created["id"] + ".")
    # the key authenticates an external procedure (create a subscriber at check-in)
    pms = {"X-Api-Key": key, "Content-Type": "application/json"}
    sub = ok(api.post("/admin/subscribers", pms, {"username": "room-101", "name": "Guest"}), 201)
    assert sub["subscriber"]["tenant_id"] == demo.tenant_id
    # the listing never shows the secret
    listed = ok(api.get("/admin/api-keys", manager))
    assert all("key" not in k and "secret_hash" not in k for k in listed)
    assert ok(api.get(f"/admin/api-keys/{created['id']}", manager))["revoked"] is False
    # a wrong secret is refused; after revocation the right one too
    err(api.get("/admin/me", {"X-Api-Key": created["id"] + ".wrong"}), 401)
    ok(api.delete(f"/admin/api-keys/{created['id']}", manager))
    err(api.get("/admin/me", pms), 401)
    # audit: the actor of the subscriber creation is the API key
    entries = ok(api.get(f"/admin/audit?entity_id={sub['subscriber']['id']}", manager))["items"]
    assert entries[0]["actor_kind"] == "api_key" and entries[0]["actor_id"] == created["id"]


def test_changing_an_operator_email_moves_the_unique_login(api: Api, manager, demo):
    op = ok(
        api.post(
            "/admin/operators",
            manager,
            {"email": "a@demo.local", "password": "pw-123456", "role": "operator"},
        ),
        201,
    )
    ok(
        api.post(
            "/admin/operators",
            manager,
            {"email": "b@demo.local", "password": "pw-123456", "role": "operator"},
        ),
        201,
    )
    err(api.patch(f"/admin/operators/{op['id']}", manager, {"email": "b@demo.local"}), 409, "email")
    ok(
        api.patch(
            f"/admin/operators/{op['id']}", manager, {"email": "c@demo.local", "password": "new-pass-1"}
        )
    )
    err(api.post("/admin/auth/login", body={"email": "a@demo.local", "password": "pw-123456"}), 401)
    ok(api.post("/admin/auth/login", body={"email": "c@demo.local", "password": "new-pass-1"}))
    # the old address is free again
    ok(
        api.post(
            "/admin/operators",
            manager,
            {"email": "a@demo.local", "password": "pw-123456", "role": "read_only"},
        ),
        201,
    )
