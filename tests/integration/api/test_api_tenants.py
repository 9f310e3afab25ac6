"""The tenant tree through the API: who creates what, scope of lists, settings merge, disable, delete."""

from __future__ import annotations

from tests.integration.api.support import Api, err, ok


def test_tree_creation_rules_and_scoped_lists(api: Api, admin, manager, demo):
    reseller = api.operator(demo.reseller_id, "reseller")
    # a reseller creates managers below itself, not resellers, and nothing elsewhere
    m = ok(
        api.post("/admin/tenants", reseller, {"name": "North WISP", "kind": "manager", "timezone": "UTC"}),
        201,
    )
    assert m["parent_id"] == demo.reseller_id and m["ancestors"] == [demo.system_id, demo.reseller_id]
    err(api.post("/admin/tenants", reseller, {"name": "R", "kind": "reseller"}), 422, "kind")
    err(
        api.post("/admin/tenants", reseller, {"name": "X", "kind": "manager", "parent_id": demo.system_id}),
        404,
    )
    err(api.post("/admin/tenants", manager, {"name": "X", "kind": "manager"}), 403)
    err(
        api.post("/admin/tenants", reseller, {"name": "X", "kind": "manager", "timezone": "Nowhere/City"}),
        422,
        "timezone",
    )
    # only a system administrator creates resellers
    r2 = ok(api.post("/admin/tenants", admin, {"name": "Reseller 2", "kind": "reseller"}), 201)
    # lists are the caller's subtree
    assert {t["id"] for t in ok(api.get("/admin/tenants", manager))} == {demo.tenant_id}
    seen = {t["id"] for t in ok(api.get("/admin/tenants", reseller))}
    assert seen == {demo.reseller_id, demo.tenant_id, m["id"]}
    assert r2["id"] in {t["id"] for t in ok(api.get("/admin/tenants?kind=reseller", admin))}
    children = ok(api.get(f"/admin/tenants?parent_id={demo.reseller_id}", reseller))
    assert {t["id"] for t in children} == {demo.tenant_id, m["id"]}
    # the reseller's new manager is usable at once (scope includes it)
    ok(api.post("/admin/subscribers", reseller, {"username": "north-1", "tenant_id": m["id"]}), 201)


def test_settings_merge_key_by_key_and_own_tenant_rules(api: Api, manager, demo):
    ok(
        api.patch(
            f"/admin/tenants/{demo.tenant_id}", manager, {"settings": {"portal": {"color": "blue"}, "a": 1}}
        )
    )
    t = ok(api.patch(f"/admin/tenants/{demo.tenant_id}", manager, {"settings": {"a": None, "b": 2}}))
    assert t["settings"] == {"portal": {"color": "blue"}, "b": 2}
    err(api.patch(f"/admin/tenants/{demo.tenant_id}", manager, {"active": False}), 403, "active")
    err(api.patch(f"/admin/tenants/{demo.tenant_id}", manager, {"name": None}), 422, "name")
    err(api.patch(f"/admin/tenants/{demo.reseller_id}", manager, {"name": "mine now"}), 403)


def test_disabling_a_tenant_locks_its_operators_out_and_delete_needs_an_empty_tenant(api: Api, admin, demo):
    t = ok(
        api.post(
            "/admin/tenants", admin, {"name": "Short lived", "kind": "manager", "parent_id": demo.reseller_id}
        ),
        201,
    )
    staff = api.operator(t["id"], "manager")
    ok(api.get("/admin/me", staff))
    ok(api.patch(f"/admin/tenants/{t['id']}", admin, {"active": False}))
    err(api.get("/admin/me", staff), 401)
    holds = err(api.delete(f"/admin/tenants/{t['id']}", admin), 409)
    assert holds["details"]["holds"] == {"operators": 1}
    err(api.delete(f"/admin/tenants/{demo.tenant_id}", admin), 409)
    err(api.delete(f"/admin/tenants/{demo.system_id}", admin), 403)
    empty = ok(api.post("/admin/tenants", admin, {"name": "Empty", "kind": "manager"}), 201)
    ok(api.delete(f"/admin/tenants/{empty['id']}", admin))
    err(api.get(f"/admin/tenants/{empty['id']}", admin), 404)
    log = ok(api.get(f"/admin/audit?entity_id={empty['id']}", admin))["items"]
    assert [e["action"] for e in log] == ["delete", "create"]  # kept in the parent's scope


def test_tenant_audit_log_with_time_window_and_export(api: Api, manager, demo):
    ok(api.post("/admin/zones", manager, {"name": "Z1"}), 201)
    ok(api.post("/admin/zones", manager, {"name": "Z2"}), 201)
    page = ok(api.get("/admin/audit?limit=1", manager))
    assert len(page["items"]) == 1 and page["next_cursor"]
    nxt = ok(api.get(f"/admin/audit?limit=1&cursor={page['next_cursor']}", manager))
    assert nxt["items"][0]["entity_id"] != page["items"][0]["entity_id"]
    assert ok(api.get("/admin/audit?since=2999-01-01", manager))["items"] == []
    assert len(ok(api.get("/admin/audit?until=2999-01-01", manager))["items"]) == 2
    text = api.get("/admin/audit/export", manager).body.decode("utf-8-sig")
    assert text.count("\r\n") == 3 and "zone" in text


def test_retention_settings_are_whole_days_in_range_and_writes_go_on(api: Api, admin, manager, demo):
    url = f"/admin/tenants/{demo.tenant_id}"
    for bad in ("400", -1, 36_501, 10**9, True, 1.5):
        for key in ("connection_log_retention_days", "audit_retention_days"):
            err(api.patch(url, manager, {"settings": {key: bad}}), 422, f"settings.{key}")
    err(
        api.post(
            "/admin/tenants",
            admin,
            {"kind": "manager", "name": "M", "settings": {"audit_retention_days": "x"}},
        ),
        422,
        "settings.audit_retention_days",
    )
    t = ok(
        api.patch(
            url, manager, {"settings": {"connection_log_retention_days": 0, "audit_retention_days": 36_500}}
        )
    )
    assert (
        t["settings"]["connection_log_retention_days"] == 0
        and t["settings"]["audit_retention_days"] == 36_500
    )
    # the longest retention still gives every audited write its expiry: the edit itself was written
    ok(api.patch(url, manager, {"name": "Renamed after the longest retention"}))
    entries = ok(api.get("/admin/audit", manager))["items"]
    assert any(e.get("entity_id") == demo.tenant_id for e in entries)


def test_a_retention_stored_out_of_range_before_the_check_still_expires_rows():
    from core.retention import MAX_DAYS, audit_days, expiry_epoch

    days = audit_days({"audit_retention_days": 10**12})
    assert days == MAX_DAYS
    assert expiry_epoch("2026-12-07T00:00:00.000000Z", days) is not None
    assert expiry_epoch("9999-12-30T00:00:00.000000Z", days) is None  # past the calendar: kept forever
