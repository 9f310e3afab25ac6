"""Subscribers through the admin API: create, read, edit, lists, totals, Online list, CSV export."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from core.ids import iso, utcnow
from store.models import ProvisioningTask, Subscriber
from tests.integration.api.support import Api, err, ok, open_session, stored


def make_api_gateway(api: Api, who, nas_ip: str = "10.255.0.50", zone_id: str | None = None) -> dict:
    return ok(
        api.post(
            "/admin/gateways",
            who,
            {
                "name": f"Router {nas_ip}",
                "nas_ip": nas_ip,
                "radius_secret": "secret-1",
                "api_enabled": True,
                "api_host": nas_ip,
                "api_username": "wisp",
                "api_password": "pw-router",
                "zone_id": zone_id,
                "ip_pool": "10.77.0.0/29",
                "plan_type": "pppoe",
            },
        ),
        201,
    )


def test_create_with_random_password_and_unique_username(api: Api, manager, demo, runtime):
    # When an operator creates a subscriber without a password
    res = ok(
        api.post(
            "/admin/subscribers",
            manager,
            {"username": "Ana.Perez", "name": "Ana", "phone": "+52 55 1234", "product_id": demo.product_id},
        ),
        201,
    )
    sub = res["subscriber"]
    # Then a random password is generated, returned once, and stored encrypted
    assert len(res["password"]) >= 8
    rec = stored(sub["id"])
    assert rec.password_enc != res["password"] and runtime.box.decrypt(rec.password_enc) == res["password"]
    assert "password_enc" not in sub and sub["status"] == "new" and sub["product_assigned_at"]
    assert res["router"]["status"] == "no_gateway"
    # The username is unique per tenant, whatever the case
    err(api.post("/admin/subscribers", manager, {"username": "ana.perez"}), 409, "username")
    # Another tenant may use the same username
    other = ok(
        api.post(
            "/admin/tenants",
            admin_headers(api, demo),
            {"name": "Other", "kind": "manager", "parent_id": demo.reseller_id},
        ),
        201,
    )
    ok(
        api.post(
            "/admin/subscribers",
            admin_headers(api, demo),
            {"username": "ana.perez", "tenant_id": other["id"]},
        ),
        201,
    )
    # Credentials can be read back by staff (print card); the read is audited
    creds = ok(api.get(f"/admin/subscribers/{sub['id']}/credentials", manager))
    assert creds == {"username": "Ana.Perez", "password": res["password"]}
    actions = [e["action"] for e in ok(api.get(f"/admin/subscribers/{sub['id']}/audit", manager))["items"]]
    assert actions == ["read_credentials", "create"]


def admin_headers(api: Api, demo):
    return api.as_(demo.admin_id, demo.system_id, "system_admin")


def test_create_on_a_router_enqueues_provisioning_and_assigns_a_pool_address(api: Api, manager, demo):
    gw = make_api_gateway(api, manager, zone_id=demo.zone_id)
    res = ok(api.post("/admin/subscribers", manager, {"username": "pool-1", "gateway_id": gw["id"]}), 201)
    assert res["subscriber"]["ip"] == "10.77.0.1" and res["subscriber"]["zone_id"] == demo.zone_id
    assert res["router"]["status"] == "queued"
    task = ProvisioningTask.get(res["router"]["task_id"])
    assert task.subscriber_id == res["subscriber"]["id"] and task.gateway_id == gw["id"]
    assert "added in the system and queued for the router" in res["system"]
    res2 = ok(api.post("/admin/subscribers", manager, {"username": "pool-2", "gateway_id": gw["id"]}), 201)
    assert res2["subscriber"]["ip"] == "10.77.0.2"
    # wrong plan type for the router, typed IP already used
    err(
        api.post(
            "/admin/subscribers",
            manager,
            {"username": "hs", "gateway_id": gw["id"], "connection_type": "hotspot"},
        ),
        422,
        "connection_type",
    )
    err(api.post("/admin/subscribers", manager, {"username": "dup-ip", "ip": "10.77.0.1"}), 409, "ip")
    # the router API disabled (demo router): done in the system with the S4 warning
    res3 = ok(
        api.post("/admin/subscribers", manager, {"username": "demo-2", "gateway_id": demo.gateway_id}), 201
    )
    assert res3["router"]["status"] == "api_disabled"
    assert "the router was not changed" in res3["warnings"][0]


def test_update_edits_data_and_router_fields_trigger_a_sync(api: Api, manager, demo):
    gw = make_api_gateway(api, manager)
    sub = ok(api.post("/admin/subscribers", manager, {"username": "edit-me", "gateway_id": gw["id"]}), 201)[
        "subscriber"
    ]
    out = ok(api.patch(f"/admin/subscribers/{sub['id']}", manager, {"name": "Edited", "email": "e@x.io"}))
    assert out["changed"] == ["email", "name"] and out["router"]["status"] == "not_needed"
    out = ok(api.patch(f"/admin/subscribers/{sub['id']}", manager, {"mac": "aa-bb-cc-dd-ee-01"}))
    assert out["subscriber"]["mac"] == "AA:BB:CC:DD:EE:01" and out["router"]["status"] == "queued"
    # status is not editable by hand (cancel has its own action)
    err(api.patch(f"/admin/subscribers/{sub['id']}", manager, {"status": "cancelled"}), 422, "status")
    # null puts a field with a default back to it (the schema marks it nullable)
    assert (
        ok(api.patch(f"/admin/subscribers/{sub['id']}", manager, {"mac_auth": None}))["subscriber"][
            "mac_auth"
        ]
        is False
    )
    log = ok(api.get(f"/admin/subscribers/{sub['id']}/audit", manager))["items"]
    assert log[0]["action"] == "update" and log[0]["before"]["mac"] is None and log[0]["after"]["mac"]


def _seed_list(api: Api, manager, demo) -> dict[str, str]:
    ids = {}
    z2 = ok(api.post("/admin/zones", manager, {"name": "Sur"}), 201)
    cheap = ok(api.post("/admin/products", manager, {"name": "Basic", "price": "10"}), 201)
    for i in range(12):
        body = {
            "username": f"user{i:02d}",
            "name": f"Customer {i}",
            "product_id": demo.product_id,
            "status": "active",
        }
        if i % 3 == 0:
            body.update(zone_id=z2["id"], product_id=cheap["id"])
        if i == 5:
            body["status"] = "suspended"
        if i == 6:
            body["status"] = "free"
        if i == 7:
            body["price_override"] = "99.90"
        ids[f"user{i:02d}"] = ok(api.post("/admin/subscribers", manager, body), 201)["subscriber"]["id"]
    ids["zone2"] = z2["id"]
    ids["cheap"] = cheap["id"]
    return ids


def test_list_filters_sort_and_cursor_pagination(api: Api, manager, demo):
    ids = _seed_list(api, manager, demo)
    open_session(ids["user01"])
    open_session(ids["user05"], key="k5")  # blocked and connected: in both filters
    stored(ids["user02"]).update(actions=[Subscriber.last_seen_at.set(iso(utcnow() - timedelta(hours=3)))])
    stored(ids["user03"]).update(actions=[Subscriber.last_seen_at.set(iso(utcnow() - timedelta(hours=30)))])

    def names(query: str) -> list[str]:
        return [r["username"] for r in ok(api.get(f"/admin/subscribers?{query}", manager))["items"]]

    assert names("status=online") == ["user01", "user05"]
    assert names("status=online_24h") == ["user01", "user02", "user05"]
    assert names("status=blocked") == ["user05"] and names("status=suspended") == ["user05"]
    assert names("status=free") == ["user06"]
    assert names(f"zone_id={ids['zone2']}") == ["user00", "user03", "user06", "user09"]
    assert names(f"product_id={ids['cheap']}&status=active") == ["user00", "user03", "user09"]
    assert names("q=customer%201") == ["user01", "user10", "user11"]
    assert names("q=DEMO") == ["demo"]  # username search, case-insensitive
    assert names(f"gateway_id={demo.gateway_id}") == ["demo"]
    assert names("sort=-username&limit=3") == ["user11", "user10", "user09"]
    # price sort uses the service price (override wins)
    assert names("sort=-price&limit=1") == ["user07"]
    # keyset pagination walks every row exactly once
    seen, cursor = [], None
    while True:
        q = "limit=5&sort=-created_at" + (f"&cursor={cursor}" if cursor else "")
        page = ok(api.get(f"/admin/subscribers?{q}", manager))
        assert page["total"] == 13
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 13 and len(set(seen)) == 13
    err(api.get("/admin/subscribers?cursor=bm9wZQ", manager), 422, "cursor")
    err(api.get("/admin/subscribers?sort=password", manager), 422, "query.sort")
    err(api.get("/admin/subscribers?status=sleeping", manager), 422, "query.status")
    err(api.get("/admin/subscribers?limit=0", manager), 422, "query.limit")


def test_totals_per_status_with_service_sums(api: Api, manager, demo):
    ids = _seed_list(api, manager, demo)
    open_session(ids["user01"])
    st = ok(api.get("/admin/subscribers/totals", manager))["statuses"]
    # demo (active, 25) + 11 active: 4 in zone2 at 10 (one of them free), user07 at 99.90, others 25
    assert st["all"]["count"] == 13
    assert st["suspended"] == {"count": 1, "services_total": "25.00"}
    assert st["free"] == {"count": 1, "services_total": "10.00"}
    assert st["active"]["count"] == 11
    expected_active = 25 + 3 * 10 + 99.90 + 25 * 6  # demo + user00/03/09 + user07 + the others
    assert float(st["active"]["services_total"]) == round(expected_active, 2)
    assert st["online"] == {"count": 1, "services_total": "25.00"}
    assert st["cancelled"]["count"] == 0
    text = api.get("/admin/subscribers/totals/export", manager).body.decode("utf-8-sig")
    rows = {r["status"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows["suspended"] == {
        "status": "suspended",
        "count": "1",
        "services_total": "25.00",
        "currency": "USD",
    }


def test_online_list_from_accounting_and_csv_exports(api: Api, manager, demo):
    ids = _seed_list(api, manager, demo)
    open_session(ids["user01"], down=150 * 1_048_576, up=12 * 1_048_576)
    open_session(ids["user02"], key="gone", closed=True)  # a closed session kept as a tombstone
    online = ok(api.get("/admin/subscribers/online", manager))
    assert online["total"] == 1
    row = online["items"][0]
    assert row["username"] == "user01" and row["download_mb"] == "150.00" and row["upload_mb"] == "12.00"
    assert row["gateway_id"] == demo.gateway_id and row["mac"] == "AA:BB:CC:00:00:01"
    assert row["online_time"].startswith("1:30:") and row["online_seconds"] >= 5400
    # CSV of the list with the same filters
    resp = api.get(f"/admin/subscribers/export?zone_id={ids['zone2']}", manager)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.body.decode("utf-8-sig"))))
    assert [r["username"] for r in rows] == ["user00", "user03", "user06", "user09"]
    assert rows[0]["price"] == "10" and rows[0]["product_name"] == "Basic"
    resp = api.get("/admin/subscribers/online/export", manager)
    rows = list(csv.DictReader(io.StringIO(resp.body.decode("utf-8-sig"))))
    assert [r["username"] for r in rows] == ["user01"]


def test_csv_cells_cannot_inject_formulas(api: Api, manager):
    ok(api.post("/admin/subscribers", manager, {"username": "formula", "name": '=HYPERLINK("x")'}), 201)
    text = api.get("/admin/subscribers/export?q=formula", manager).body.decode("utf-8-sig")
    assert "'=HYPERLINK" in text
