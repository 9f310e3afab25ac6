"""The tenant tree through the API: who creates what, scope of lists, settings merge, disable, delete."""

from __future__ import annotations

from store.models import Tenant
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
            f"/admin/tenants/{demo.tenant_id}",
            manager,
            {"settings": {"portal": {"color": "blue"}, "inactivity_days": 30}},
        )
    )
    t = ok(
        api.patch(
            f"/admin/tenants/{demo.tenant_id}",
            manager,
            {"settings": {"inactivity_days": None, "billing": {"late_fee": "20"}}},
        )
    )
    assert t["settings"] == {"portal": {"color": "blue"}, "billing": {"late_fee": "20"}}
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


def test_credential_templates_are_edited_at_their_own_endpoint_not_in_the_tenant_edit(
    api: Api, manager, demo
):
    url = f"/admin/tenants/{demo.tenant_id}"
    ok(api.put("/admin/credentials/templates", manager, {"templates": {"credentials_sms": "{{ usuario }}"}}))
    # a subject showing the password and an SMS too long to send are refused, as at the templates endpoint
    for name, text in (
        ("credentials_email_subject", "Wi-Fi password {{ contrasena }}"),
        ("credentials_sms", "{{ empresa }} " + "x" * 200),
        ("credentials_sms", None),
    ):
        e = err(
            api.patch(url, manager, {"settings": {"templates": {name: text}}}),
            422,
            f"settings.templates.{name}",
        )
        assert "PUT /admin/credentials/templates" in e["message"]
    e = err(
        api.patch(url, manager, {"settings": {"templates": None}}), 422, "settings.templates.credentials_sms"
    )
    assert "PUT /admin/credentials/templates" in e["message"]
    assert Tenant.get(demo.tenant_id).settings["templates"] == {"credentials_sms": "{{ usuario }}"}
    # the tenant's settings sent back as read are accepted unchanged
    settings = ok(api.get(url, manager))["settings"]
    ok(api.patch(url, manager, {"settings": settings}))
    assert Tenant.get(demo.tenant_id).settings["templates"] == {"credentials_sms": "{{ usuario }}"}


def test_billing_templates_in_the_tenant_edit_are_checked_and_the_others_kept(api: Api, manager, demo):
    url = f"/admin/tenants/{demo.tenant_id}"
    ok(api.put("/admin/credentials/templates", manager, {"templates": {"credentials_sms": "{{ usuario }}"}}))
    for name, text in (
        ("invoice_email", "Dear {{ nope }}"),
        ("invoice_notice_sms", "y" * 165),
        ("invoice_email_subject", 42),
        ("invoice_email_subject", ""),
        ("no_such_template", "hello"),
    ):
        err(
            api.patch(url, manager, {"settings": {"templates": {name: text}}}),
            422,
            f"settings.templates.{name}",
        )
    # a valid one is saved beside the credential template, and the edit is audited
    t = ok(
        api.patch(
            url,
            manager,
            {"settings": {"templates": {"invoice_email_subject": "{{ empresa }}: {{ factura }}"}}},
        )
    )
    assert t["settings"]["templates"] == {
        "credentials_sms": "{{ usuario }}",
        "invoice_email_subject": "{{ empresa }}: {{ factura }}",
    }
    entry = ok(api.get(f"/admin/audit?entity_id={demo.tenant_id}", manager))["items"][0]
    assert entry["action"] == "update"
    assert entry["after"]["settings"]["templates"]["invoice_email_subject"] == "{{ empresa }}: {{ factura }}"
    # null puts a billing template back to the default
    t = ok(api.patch(url, manager, {"settings": {"templates": {"invoice_email_subject": None}}}))
    assert t["settings"]["templates"] == {"credentials_sms": "{{ usuario }}"}


def test_payment_settings_are_edited_at_their_own_endpoints_not_in_the_tenant_edit(api: Api, manager, demo):
    url = f"/admin/tenants/{demo.tenant_id}"
    # a provider without a connected account, or payments switched on, are refused with the endpoint to use
    for payments in ({"enabled": True, "provider": "stripe"}, {"enabled": True}):
        e = err(api.patch(url, manager, {"settings": {"payments": payments}}), 422, "settings.payments")
        assert "/admin/payment-settings" in e["message"]
    assert "payments" not in (Tenant.get(demo.tenant_id).settings or {})
    assert ok(api.get(f"/admin/payment-settings?tenant_id={demo.tenant_id}", manager))["enabled"] is False


def test_payment_key_material_is_never_written_through_the_tenant_edit(api: Api, manager, demo):
    url = f"/admin/tenants/{demo.tenant_id}"
    # Given a Stripe account connected at its endpoint (keys checked and encrypted there)
    ok(
        api.put(
            "/admin/payment-settings/accounts/stripe",
            manager,
            {
                "api_key": "sk_test_51TenantEditKey0001",
                "webhook_secret": "whsec_TenantEditSecret",
                "mode": "test",
            },
        )
    )
    before = dict(Tenant.get(demo.tenant_id).settings["payments"]["accounts"]["stripe"])
    settings = ok(api.get(url, manager))["settings"]
    planted = api.rt.box.encrypt("sk_live_planted_by_the_client")
    # When the tenant edit carries key material: overwriting a key, planting one, anywhere in settings
    attempts = [
        ("stripe", "api_key_enc", {**settings["payments"]["accounts"]["stripe"], "api_key_enc": planted}),
        (
            "stripe",
            "webhook_secret_enc",
            {**settings["payments"]["accounts"]["stripe"], "webhook_secret_enc": planted},
        ),
        ("mercadopago", "api_key_enc", {"enabled": True, "mode": "live", "api_key_enc": planted}),
    ]
    for provider, key, account in attempts:
        payments = {
            **settings["payments"],
            "accounts": {**settings["payments"]["accounts"], provider: account},
        }
        # Then it is refused naming the field, and the keys stay as the endpoint wrote them
        err(
            api.patch(url, manager, {"settings": {"payments": payments}}),
            422,
            f"settings.payments.accounts.{provider}.{key}",
        )
    err(
        api.patch(url, manager, {"settings": {"portal": {"token_enc": planted}}}),
        422,
        "settings.portal.token_enc",
    )
    # nor are the connected accounts removed with the payment settings
    err(api.patch(url, manager, {"settings": {"payments": None}}), 422, "settings.payments")
    stored = Tenant.get(demo.tenant_id).settings
    assert stored["payments"]["accounts"] == {"stripe": before} and "portal" not in stored
    view = ok(api.get(f"/admin/payment-settings?tenant_id={demo.tenant_id}", manager))
    assert [a["provider"] for a in view["accounts"] if a["configured"]] == ["stripe"]


def test_unknown_settings_are_refused_and_one_stored_earlier_can_be_removed(api: Api, manager, demo):
    url = f"/admin/tenants/{demo.tenant_id}"
    e = err(api.patch(url, manager, {"settings": {"inactivty_days": 30}}), 422, "settings.inactivty_days")
    assert "inactivity_days" in e["message"]
    assert "inactivty_days" not in (Tenant.get(demo.tenant_id).settings or {})
    # Given a key stored before unknown keys were refused
    Tenant.get(demo.tenant_id).update(actions=[Tenant.settings.set({"legacy": 1, "inactivity_days": 60})])
    # the settings sent back as read are accepted, and null removes the key
    ok(api.patch(url, manager, {"settings": ok(api.get(url, manager))["settings"]}))
    err(api.patch(url, manager, {"settings": {"legacy": 2}}), 422, "settings.legacy")
    t = ok(api.patch(url, manager, {"settings": {"legacy": None}}))
    assert t["settings"] == {"inactivity_days": 60}


def test_a_new_tenant_gets_the_same_settings_checks(api: Api, admin, demo):
    base = {"kind": "manager", "name": "New", "parent_id": demo.reseller_id}
    cases = (
        ({"payments": {"enabled": True}}, "settings.payments"),
        (
            {"payments": {"accounts": {"stripe": {"api_key_enc": "x"}}}},
            "settings.payments.accounts.stripe.api_key_enc",
        ),
        (
            {"templates": {"credentials_email_subject": "{{ contrasena }}"}},
            "settings.templates.credentials_email_subject",
        ),
        ({"templates": {"invoice_email": "{{ nope }}"}}, "settings.templates.invoice_email"),
        ({"colour": "blue"}, "settings.colour"),
    )
    for settings, field in cases:
        err(api.post("/admin/tenants", admin, {**base, "settings": settings}), 422, field)
    t = ok(
        api.post("/admin/tenants", admin, {**base, "settings": {"inactivity_days": 30, "portal": {}}}), 201
    )
    assert t["settings"] == {"inactivity_days": 30, "portal": {}}
