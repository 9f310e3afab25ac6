"""Every lifecycle action through the admin API, single and bulk (mixed results), with what is done in
the system and what is pending on the router (task id) or the router-API-disabled warning (S4)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from core.ids import frozen_clock, now_iso
from services.subscribers import changes
from store.models import Invoice, ProvisioningTask, Session, Subscriber, Zone
from store.subscribers import get_by_id, get_by_login
from tests.fakes.radius import FakeNas
from tests.integration.api.support import Api, err, ok, open_session, stored

API_DISABLED = "the router was not changed"


def router(api: Api, who, nas_ip: str = "10.255.1.1", plan_type: str = "pppoe", **extra) -> dict:
    body = {
        "name": f"R-{nas_ip}",
        "nas_ip": nas_ip,
        "radius_secret": "rs-secret",
        "api_enabled": True,
        "api_host": nas_ip,
        "api_username": "wisp",
        "api_password": "pw",
        "plan_type": plan_type,
        **extra,
    }
    return ok(api.post("/admin/gateways", who, body), 201)


def sub(api: Api, who, username: str, **extra) -> dict:
    return ok(api.post("/admin/subscribers", who, {"username": username, "status": "active", **extra}), 201)[
        "subscriber"
    ]


def task(task_id: str) -> ProvisioningTask:
    return ProvisioningTask.get(task_id)


def test_suspend_and_activate_queue_router_changes(api: Api, manager):
    gw = router(api, manager)
    s = sub(api, manager, "alice", gateway_id=gw["id"], ip="10.10.0.20")
    res = ok(api.post(f"/admin/subscribers/{s['id']}/suspend", manager))
    assert res["ok"] and res["status"] == "suspended" and "suspended in the system" in res["system"]
    assert res["router"]["status"] == "queued" and res["router"]["gateway_id"] == gw["id"]
    assert task(res["router"]["task_id"]).kind == "reconcile_subscriber"
    assert res["router"]["message"].startswith(f"Pending on router {gw['name']}")
    # suspending twice is refused with the reason
    e = err(api.post(f"/admin/subscribers/{s['id']}/suspend", manager), 409, "status")
    assert "already suspended" in e["message"]
    res = ok(api.post(f"/admin/subscribers/{s['id']}/activate", manager))
    assert res["status"] == "active" and res["router"]["status"] == "queued"
    log = ok(api.get(f"/admin/subscribers/{s['id']}/audit", manager))["items"]
    assert [e["action"] for e in log][:2] == ["activate", "suspend"]
    assert log[1]["before"]["status"] == "active" and log[1]["after"]["status"] == "suspended"


def test_router_api_disabled_changes_only_the_system_with_a_warning(api: Api, manager, demo):
    res = ok(api.post(f"/admin/subscribers/{demo.subscriber_id}/suspend", manager))
    assert res["ok"] and res["status"] == "suspended"
    assert res["router"]["status"] == "api_disabled" and res["router"]["task_id"] is None
    assert API_DISABLED in res["router"]["warning"] and res["warnings"] == [res["router"]["warning"]]
    assert stored(demo.subscriber_id).status == "suspended"


def test_bulk_suspend_reports_a_result_per_subscriber(api: Api, manager, admin, demo):
    gw = router(api, manager)
    a = sub(api, manager, "bulk-a", gateway_id=gw["id"])
    b = sub(api, manager, "bulk-b", gateway_id=gw["id"])
    ok(api.post(f"/admin/subscribers/{b['id']}/suspend", manager))
    other = ok(api.post("/admin/tenants", admin, {"name": "Other", "kind": "manager"}), 201)
    foreign = ok(api.post("/admin/subscribers", admin, {"username": "x", "tenant_id": other["id"]}), 201)[
        "subscriber"
    ]
    ids = [a["id"], b["id"], demo.subscriber_id, "sub_does_not_exist", foreign["id"], a["id"]]
    res = ok(api.post("/admin/subscribers/bulk/suspend", manager, {"subscriber_ids": ids}))
    assert res["total"] == 5 and res["succeeded"] == 2 and res["failed"] == 3  # the duplicate counted once
    by_id = {r["subscriber_id"]: r for r in res["results"]}
    assert by_id[a["id"]]["ok"] and by_id[a["id"]]["router"]["status"] == "queued"
    assert by_id[demo.subscriber_id]["ok"] and API_DISABLED in by_id[demo.subscriber_id]["warnings"][0]
    assert by_id[b["id"]]["error"]["code"] == "invalid_state"
    assert by_id["sub_does_not_exist"]["error"]["code"] == "not_found"
    # another tenant's subscriber is indistinguishable from an unknown one, and untouched
    assert by_id[foreign["id"]]["error"] == by_id["sub_does_not_exist"]["error"]
    assert stored(foreign["id"]).status == "new"
    # bulk activate brings them back
    res = ok(api.post("/admin/subscribers/bulk/activate", manager, {"subscriber_ids": [a["id"], b["id"]]}))
    assert res["succeeded"] == 2


def test_cancel_releasing_the_ip_rewrites_it_and_removes_the_router_entry(api: Api, manager):
    gw = router(api, manager)
    sub(api, manager, "holder", ip="127.0.5.6")  # the rewritten address is already taken
    s = sub(api, manager, "leaving", gateway_id=gw["id"], ip="10.0.5.6")
    res = ok(api.post(f"/admin/subscribers/{s['id']}/cancel", manager, {"ip_action": "release"}))
    assert res["status"] == "cancelled" and res["data"]["ip"] == "100.64.5.6"
    assert res["data"]["previous_ip"] == "10.0.5.6"
    t = task(res["router"]["task_id"])
    assert t.kind == "remove_subscriber" and t.result["target"]["ip"] == "10.0.5.6"
    rec = stored(s["id"])
    assert rec.ip == "100.64.5.6" and rec.cancelled_at
    s2 = sub(api, manager, "leaving2", gateway_id=gw["id"], ip="192.168.1.7")
    res = ok(api.post(f"/admin/subscribers/{s2['id']}/cancel", manager, {"ip_action": "release"}))
    assert res["data"]["ip"] == "169.254.1.7"


def test_cancel_keeping_the_ip_suspends_on_the_router_and_cancels_invoices(api: Api, manager, demo):
    gw = router(api, manager)
    s = sub(api, manager, "owes", gateway_id=gw["id"], ip="10.1.2.3")
    for n, status in ((1, "pending"), (2, "paid")):
        Invoice(
            id=f"inv_{s['id']}_2026-0{n}",
            tenant_id=demo.tenant_id,
            subscriber_id=s["id"],
            status=status,
            issue_date="2026-01-01",
            total="25",
            created_at=now_iso(),
        ).save()
    res = ok(
        api.post(
            f"/admin/subscribers/{s['id']}/cancel",
            manager,
            {"ip_action": "keep_suspend", "cancel_pending_invoices": True},
        )
    )
    assert res["data"]["invoices_cancelled"] == 1 and res["router"]["status"] == "queued"
    assert "kept and suspended on the router" in res["system"]
    assert stored(s["id"]).ip == "10.1.2.3"
    assert Invoice.get(f"inv_{s['id']}_2026-01").status == "cancelled"
    assert Invoice.get(f"inv_{s['id']}_2026-02").status == "paid"
    # cancel with no option: the router account is disabled at once (a task is queued)
    s2 = sub(api, manager, "plain-cancel", gateway_id=gw["id"])
    res = ok(api.post(f"/admin/subscribers/{s2['id']}/cancel", manager))
    assert res["router"]["status"] == "queued" and "router account is disabled" in res["system"]
    assert task(res["router"]["task_id"]).kind == "reconcile_subscriber"
    err(api.post(f"/admin/subscribers/{s2['id']}/cancel", manager), 409, "status")
    # a cancelled client can come back (written to the router again)
    res = ok(api.post(f"/admin/subscribers/{s2['id']}/activate", manager))
    assert res["status"] == "active" and stored(s2["id"]).cancelled_at is None


def test_delete_system_only_bulk_and_system_router_with_typed_confirmation(api: Api, manager, demo, runtime):
    gw = router(api, manager)
    a = sub(api, manager, "mistake-a", gateway_id=gw["id"], status="new")
    b = sub(api, manager, "mistake-b", status="new")
    c = sub(api, manager, "mistake-c", gateway_id=gw["id"], status="new")
    # an active service is not deleted (cancel it instead)
    e = err(api.post(f"/admin/subscribers/{demo.subscriber_id}/delete", manager), 409, "status")
    assert "cancel the service" in e["message"]
    # operators cannot delete at all
    staff = api.operator(demo.tenant_id, "operator")
    err(api.post(f"/admin/subscribers/{a['id']}/delete", staff), 403)
    # system + router needs the typed confirmation, and is one at a time
    err(
        api.post(
            f"/admin/subscribers/{a['id']}/delete", manager, {"mode": "system_router", "confirm": "yes"}
        ),
        422,
        "confirm",
    )
    err(
        api.post(
            "/admin/subscribers/bulk/delete", manager, {"subscriber_ids": [a["id"]], "mode": "system_router"}
        ),
        422,
    )
    res = ok(
        api.post(
            f"/admin/subscribers/{a['id']}/delete",
            manager,
            {"mode": "system_router", "confirm": "eliminar_clientes"},
        )
    )
    assert res["status"] == "deleted" and task(res["router"]["task_id"]).kind == "remove_subscriber"
    assert get_by_id(a["id"]) is None
    # bulk delete, system only: the router is not touched
    res = ok(
        api.post(
            "/admin/subscribers/bulk/delete",
            manager,
            {"subscriber_ids": [b["id"], c["id"], demo.subscriber_id]},
        )
    )
    assert (res["succeeded"], res["failed"]) == (2, 1)
    assert all(r["router"]["status"] == "not_needed" for r in res["results"] if r["ok"])
    # the history stays queryable after deletion
    log = ok(api.get(f"/admin/audit?entity_id={b['id']}", manager))["items"]
    assert log[0]["action"] == "delete" and log[0]["before"]["username"] == "mistake-b"


def test_change_username_and_password(api: Api, manager, runtime):
    gw = router(api, manager)
    s = sub(api, manager, "old-name", gateway_id=gw["id"])
    sub(api, manager, "taken")
    err(
        api.post(f"/admin/subscribers/{s['id']}/change-username", manager, {"username": "TAKEN"}),
        409,
        "username",
    )
    err(api.post(f"/admin/subscribers/{s['id']}/change-username", manager, {"username": "has space"}), 422)
    res = ok(api.post(f"/admin/subscribers/{s['id']}/change-username", manager, {"username": "new-name"}))
    assert res["data"] == {"previous_username": "old-name", "username": "new-name"}
    assert res["router"]["status"] == "queued"
    assert get_by_login(s["tenant_id"], "old-name") is None
    moved = get_by_login(s["tenant_id"], "new-name")
    assert moved is not None and moved.id == s["id"]
    # the old name is free again
    sub(api, manager, "old-name")
    # random password by default, returned once and stored encrypted
    res = ok(api.post(f"/admin/subscribers/{s['id']}/change-password", manager))
    pw = res["data"]["password"]
    assert runtime.box.decrypt(stored(s["id"]).password_enc) == pw and res["router"]["status"] == "queued"
    res = ok(api.post(f"/admin/subscribers/{s['id']}/change-password", manager, {"password": "typed-pass"}))
    assert "password" not in res["data"] and runtime.box.decrypt(stored(s["id"]).password_enc) == "typed-pass"
    # portal password only: no router change
    res = ok(
        api.post(f"/admin/subscribers/{s['id']}/change-password", manager, {"portal_password": "portal-123"})
    )
    assert res["data"]["changed"] == ["portal"] and res["router"]["status"] == "not_needed"
    log = ok(api.get(f"/admin/subscribers/{s['id']}/audit", manager))["items"]
    assert "typed-pass" not in str(log) and "portal-123" not in str(log)


def test_recharge_keeps_residual_time_and_traffic(api: Api, manager, demo):
    card = ok(
        api.post(
            "/admin/products",
            manager,
            {
                "name": "Card 2h 1GB",
                "price": "5",
                "cost": "2",
                "time_credit_min": 120,
                "data_credit_mb": 1024,
                "connection_type": "pppoe",
            },
        ),
        201,
    )
    week = ok(
        api.post(
            "/admin/products",
            manager,
            {
                "name": "Week",
                "price": "12",
                "validity_days": 7,
                "time_credit_min": 600,
                "data_credit_mb": 5000,
            },
        ),
        201,
    )
    s = sub(api, manager, "prepaid", product_id=card["id"])
    before = stored(s["id"])
    key = f"p:{before.product_assigned_at}"
    # used 30 minutes and 300 MB of the card
    before.update(
        actions=[
            Subscriber.usage.set({f"{key}:t": 1800, f"{key}:i": 100 * 1_048_576, f"{key}:o": 200 * 1_048_576})
        ]
    )
    res = ok(api.post(f"/admin/subscribers/{s['id']}/recharge", manager, {"product_id": week["id"]}))
    assert res["data"]["carried_time_min"] == 90 and res["data"]["carried_data_mb"] == 724
    after = stored(s["id"])
    assert after.product_id == week["id"] and after.carry_over["time_min"] == 90
    assert after.product_expires_at and after.product_assigned_at != before.product_assigned_at
    # the sale is visible in the user's sales, with the manager's cost
    sales = ok(api.get(f"/admin/subscribers/{s['id']}/sales", manager))
    row = next(r for r in sales["rows"] if r["product_id"] == week["id"])
    assert row["quantity"] == 1 and row["revenue"] == "12.00" and "recharge" in row["sources"]
    err(
        api.post(f"/admin/subscribers/{s['id']}/recharge", manager, {"product_id": "prod_unknown"}),
        404,
        "product_id",
    )
    # bulk recharge with a mixed result
    res = ok(
        api.post(
            "/admin/subscribers/bulk/recharge",
            manager,
            {"subscriber_ids": [s["id"], "sub_nope"], "product_id": card["id"]},
        )
    )
    assert (res["succeeded"], res["failed"]) == (1, 1)


def test_free_status(api: Api, manager, demo):
    res = ok(api.post(f"/admin/subscribers/{demo.subscriber_id}/free", manager))
    assert res["status"] == "free" and "no invoices" in res["system"]
    res = ok(api.post("/admin/subscribers/bulk/free", manager, {"subscriber_ids": [demo.subscriber_id]}))
    assert res["failed"] == 1 and res["results"][0]["error"]["code"] == "invalid_state"


def test_migrate_same_plan_type_moves_other_types_report_the_blocker(api: Api, manager, demo):
    zone = ok(api.post("/admin/zones", manager, {"name": "East"}), 201)
    pppoe = router(api, manager, "10.255.2.1", zone_id=zone["id"])
    hotspot = router(api, manager, "10.255.2.2", plan_type="hotspot")
    s = sub(api, manager, "mover", gateway_id=demo.gateway_id)
    res = ok(api.post(f"/admin/subscribers/{s['id']}/migrate", manager, {"gateway_id": pppoe["id"]}))
    assert res["data"]["gateway_id"] == pppoe["id"] and res["data"]["zone_id"] == zone["id"]
    assert res["router"]["status"] == "queued"  # exported to the new router
    assert "previous router Demo router were not removed" in res["warnings"][0]
    e = err(
        api.post(f"/admin/subscribers/{s['id']}/migrate", manager, {"gateway_id": hotspot["id"]}),
        409,
        "gateway_id",
    )
    assert "plan type differs (pppoe → hotspot)" in e["message"] and "CSV" in e["message"]
    t = sub(api, manager, "mover2", gateway_id=demo.gateway_id)
    res = ok(
        api.post(
            "/admin/subscribers/bulk/migrate",
            manager,
            {"subscriber_ids": [s["id"], t["id"]], "gateway_id": pppoe["id"]},
        )
    )
    by_id = {r["subscriber_id"]: r for r in res["results"]}
    assert (
        by_id[t["id"]]["ok"] and by_id[s["id"]]["error"]["message"] == "the service is already on that router"
    )


def test_ip_mac_binding_and_mac_disassociation(api: Api, manager, demo):
    gw = router(api, manager)
    s = sub(api, manager, "bound", gateway_id=gw["id"], ip="10.3.3.3")
    res = ok(
        api.post(
            f"/admin/subscribers/{s['id']}/bind-ip-mac",
            manager,
            {"mac": "aabbccddeeff", "interface": "ether2"},
        )
    )
    assert (
        res["data"] == {"mac": "AA:BB:CC:DD:EE:FF", "ip": "10.3.3.3"} and res["router"]["status"] == "queued"
    )
    assert stored(s["id"]).advanced["arp"] == {"interface": "ether2", "static": True}
    err(
        api.post(f"/admin/subscribers/{s['id']}/bind-ip-mac", manager, {"mac": "zz:zz:zz:zz:zz:zz"}),
        422,
        "mac",
    )
    res = ok(
        api.post(f"/admin/subscribers/{s['id']}/disassociate-mac", manager, {"mac": "AA-BB-CC-DD-EE-FF"})
    )
    assert res["ok"] and stored(s["id"]).mac is None
    err(
        api.post(f"/admin/subscribers/{s['id']}/disassociate-mac", manager, {"mac": "AA-BB-CC-DD-EE-FF"}),
        404,
        "mac",
    )
    # a complementary-access user named by its MAC is deleted when the MAC is disassociated
    m = ok(
        api.post(
            "/admin/subscribers",
            manager,
            {"username": "11:22:33:44:55:66", "mac_auth": True, "mac": "11:22:33:44:55:66"},
        ),
        201,
    )["subscriber"]
    res = ok(api.post(f"/admin/subscribers/{m['id']}/disassociate-mac", manager, {"mac": "112233445566"}))
    assert res["status"] == "deleted" and get_by_id(m["id"]) is None


@pytest.fixture
def fast_dynauth(monkeypatch):
    monkeypatch.setattr(changes, "DYNAUTH_TIMEOUT_S", 0.3)


def test_disconnect_reachable_and_unreachable_gateway(api: Api, manager, fast_dynauth):
    with FakeNas(b"nas-secret-1", ip="127.0.0.21", mode="ack") as nas:
        gw = router(api, manager, "127.0.0.21", coa_port=nas.port, api_enabled=False)
        ok(api.patch(f"/admin/gateways/{gw['id']}", manager, {"radius_secret": "nas-secret-1"}))
        s = sub(api, manager, "online-1", gateway_id=gw["id"])
        err(api.post(f"/admin/subscribers/{s['id']}/disconnect", manager), 409, "status")
        open_session(s["id"], key="sess-1", nas_ip="127.0.0.21")
        res = ok(api.post(f"/admin/subscribers/{s['id']}/disconnect", manager, {"reason": "support call"}))
        assert res["warnings"] == [] and res["data"]["sessions"][0]["result"] == "disconnected"
        assert len(nas.received) == 1 and nas.received[0]["User-Name"] == ["online-1"]
        assert Session.get("sess-1").closed_by == "admin"
        assert ok(api.get(f"/admin/subscribers/{s['id']}", manager))["online"] is False
    with FakeNas(b"nas-secret-2", ip="127.0.0.22", mode="silent"):
        gw2 = router(api, manager, "127.0.0.22", api_enabled=False)
        s2 = sub(api, manager, "online-2", gateway_id=gw2["id"])
        open_session(s2["id"], key="sess-2", nas_ip="127.0.0.22")
        res = ok(
            api.post("/admin/subscribers/bulk/disconnect", manager, {"subscriber_ids": [s2["id"], s["id"]]})
        )
        first = res["results"][0]
        assert first["ok"] and "not reachable" in first["warnings"][0]
        assert "disconnected in the data of the radius" in first["warnings"][0]
        assert Session.get("sess-2").ended_at is not None
        assert res["results"][1]["error"]["code"] == "invalid_state"  # no longer connected


def test_connection_logs_dashboard_and_exports(api: Api, manager, demo):
    s = sub(api, manager, "logged")
    for i in range(7):
        open_session(s["id"], key=f"log-{i}", closed=True, minutes=10 + i, down=(i + 1) * 1_048_576)
    Session(
        id="wifi-1",
        tenant_id=demo.tenant_id,
        subscriber_id=s["id"],
        username="logged",
        acct_session_id="w1",
        nas_ip="127.0.0.1",
        ssid="Hotel-Guest",
        started_at=now_iso(),
        last_update=now_iso(),
    ).save()
    page = ok(api.get(f"/admin/subscribers/{s['id']}/connections?limit=5", manager))
    assert len(page["items"]) == 5 and page["next_cursor"]
    row = page["items"][-1]
    assert set(row) >= {
        "connection_id",
        "started_at",
        "ended_at",
        "duration",
        "upload_bytes",
        "download_bytes",
        "ip",
        "mac",
        "gateway_name",
        "nas_identifier",
        "gateway_mac",
        "terminate_cause",
    }
    rest = ok(
        api.get(f"/admin/subscribers/{s['id']}/connections?limit=5&cursor={page['next_cursor']}", manager)
    )
    assert (len(rest["items"]) == 3 and rest["next_cursor"] is None) or len(rest["items"]) <= 3
    ids = [r["session_id"] for r in page["items"] + rest["items"]]
    assert len(set(ids)) == 8
    # a cursor of another subscriber's log (or a forged one) is refused
    err(
        api.get(f"/admin/subscribers/{demo.subscriber_id}/connections?cursor={page['next_cursor']}", manager),
        422,
        "cursor",
    )
    wifi = ok(api.get(f"/admin/subscribers/{s['id']}/wifi-connections", manager))["items"]
    assert [r["ssid"] for r in wifi] == ["Hotel-Guest"]
    text = api.get(f"/admin/subscribers/{s['id']}/connections/export", manager).body.decode("utf-8-sig")
    assert len(list(csv.DictReader(io.StringIO(text)))) == 8
    dash = ok(api.get(f"/admin/subscribers/{s['id']}/dashboard?days=7", manager))
    assert len(dash["traffic_per_day"]) == 7 and dash["totals"]["sessions"] == 8
    assert dash["totals"]["download_bytes"] == sum((i + 1) * 1_048_576 for i in range(7))
    assert dash["online"] is False and dash["sales"]["rows"] == []


def test_the_dashboard_counts_sessions_on_the_days_of_the_clients_zone(api: Api, manager):
    # Given a client of the Mexico City zone with sessions started at 21:00 on 30 May and 19:00 on 31 May
    # there (03:00 UTC on 31 May and 01:00 UTC on 1 June)
    s = sub(api, manager, "nightly", zone_id="zone_demo")
    with frozen_clock(datetime(2026, 5, 31, 4, 0, tzinfo=UTC)):
        open_session(s["id"], key="night-1", closed=True, minutes=60)
    with frozen_clock(datetime(2026, 6, 1, 2, 0, tzinfo=UTC)):
        open_session(s["id"], key="night-2", closed=True, minutes=60)
        # When the dashboard of the last two days is read at 20:00 on 31 May there
        dash = ok(api.get(f"/admin/subscribers/{s['id']}/dashboard?days=2", manager))
    # Then the days are 30 and 31 May, one session each
    assert [(d["date"], d["sessions"]) for d in dash["traffic_per_day"]] == [
        ("2026-05-30", 1),
        ("2026-05-31", 1),
    ]


def test_cancelling_counts_in_the_cancellation_statistics(api: Api, manager, demo):
    # The statistics count per month of the zone's calendar: the clock stands still mid-month, so the cancellation
    # and both readings fall in the same month
    with frozen_clock(datetime(2026, 5, 13, 12, 0, tzinfo=UTC)):
        # Given two services, one cancelled this month through the cancel action
        before = ok(api.get("/admin/subscribers/cancellations?months=3", manager))
        stays = sub(api, manager, "stays")
        leaves = sub(api, manager, "leaves")
        ok(api.post(f"/admin/subscribers/{leaves['id']}/cancel", manager, {"ip_action": "keep_suspend"}))
        # When the statistics are read
        after = ok(api.get("/admin/subscribers/cancellations?months=3", manager))
    # Then this month counts one more cancellation, and three months are reported
    assert [m["month"] for m in after["months"]] == ["2026-03", "2026-04", "2026-05"]
    assert after["months"][-1]["cancelled"] == before["months"][-1]["cancelled"] + 1
    assert after["total"] == before["total"] + 1
    assert stored(stays["id"]).status != "cancelled"
    # And bad input is a 422 naming the parameter
    err(api.get("/admin/subscribers/cancellations?months=99", manager), 422, "query.months")


def test_a_cancellation_counts_in_the_month_of_the_clients_zone(api: Api, manager, demo):
    # At 02:00 UTC on 1 June it is 20:00 on 31 May in Mexico City (the demo zone) and 11:00 on 1 June in Tokyo
    with frozen_clock(datetime(2026, 6, 1, 2, 0, tzinfo=UTC)):
        # Given a client of the Mexico City zone cancelled now
        west = sub(api, manager, "west", zone_id="zone_demo")
        ok(api.post(f"/admin/subscribers/{west['id']}/cancel", manager, {"ip_action": "keep_suspend"}))
        # Then it is a May cancellation, and June has not begun where the tenant works
        stats = ok(api.get("/admin/subscribers/cancellations?months=3", manager))
        assert [m["month"] for m in stats["months"]] == ["2026-03", "2026-04", "2026-05"]
        assert stats["months"][-1]["cancelled"] == 1 and stats["total"] == 1
        # When the tenant opens a zone in Tokyo and a client there is cancelled at the same instant
        Zone(
            id="zone_tokyo",
            tenant_id=demo.tenant_id,
            name="Tokyo",
            timezone="Asia/Tokyo",
            created_at=now_iso(),
        ).save()
        east = sub(api, manager, "east", zone_id="zone_tokyo")
        ok(api.post(f"/admin/subscribers/{east['id']}/cancel", manager, {"ip_action": "keep_suspend"}))
        stats = ok(api.get("/admin/subscribers/cancellations?months=3", manager))
    # Then June is reported with the Tokyo cancellation, and the Mexico City one stays in May
    assert [(m["month"], m["cancelled"]) for m in stats["months"]] == [
        ("2026-04", 0),
        ("2026-05", 1),
        ("2026-06", 1),
    ]
    assert stats["by_zone"] == {"zone_demo": 1, "zone_tokyo": 1}


def test_locate_on_the_wifi_heatmap_groups_the_last_wifi_connections_by_access_point(api: Api, manager, demo):
    # Given a gateway placed on the map and a subscriber with three Wi-Fi connections on two access points
    gw = router(
        api, manager, nas_ip="10.255.7.7", location={"lat": 19.4326, "lon": -99.1332, "label": "Lobby"}
    )
    assert gw["location"] == {"lat": 19.4326, "lon": -99.1332, "label": "Lobby"}
    s = sub(api, manager, "traveller", gateway_id=gw["id"])
    for n, (ap, minutes) in enumerate(
        (("00-11-22-33-44-01", 300), ("00-11-22-33-44-02", 200), ("00-11-22-33-44-01", 100))
    ):
        Session(
            id=f"loc-{n}",
            tenant_id=demo.tenant_id,
            subscriber_id=s["id"],
            username="traveller",
            acct_session_id=f"L-{n}",
            gateway_id=gw["id"],
            gateway_name=gw["name"],
            nas_ip="10.255.7.7",
            gateway_mac=ap,
            ssid="Hotel-Guest",
            started_at=f"2026-11-2{n}T10:00:00.000000Z",
            last_update=f"2026-11-2{n}T10:00:00.000000Z",
            ended_at=f"2026-11-2{n}T11:00:00.000000Z",
            duration_s=minutes * 60,
        ).save()
    # a wired (PPPoE) session is not a Wi-Fi connection
    Session(
        id="loc-wired",
        tenant_id=demo.tenant_id,
        subscriber_id=s["id"],
        username="traveller",
        acct_session_id="L-w",
        nas_ip="10.255.7.7",
        started_at="2026-11-23T10:00:00.000000Z",
        last_update="2026-11-23T10:00:00.000000Z",
    ).save()
    # When it is located
    out = ok(api.get(f"/admin/subscribers/{s['id']}/locate?connections=10", manager))
    # Then the two access points come back, most recent first, with the gateway's position
    assert out["connections"] == 3
    assert [(p["ap_mac"], p["connections"]) for p in out["points"]] == [
        ("00-11-22-33-44-01", 2),
        ("00-11-22-33-44-02", 1),
    ]
    assert out["points"][0]["last_seen"].startswith("2026-11-22")
    assert out["points"][0]["location"]["label"] == "Lobby"
    err(api.get(f"/admin/subscribers/{s['id']}/locate?connections=0", manager), 422, "query.connections")
    err(
        api.post(
            "/admin/gateways",
            manager,
            {"name": "bad", "nas_ip": "10.255.7.8", "radius_secret": "x", "location": {"lat": 91, "lon": 0}},
        ),
        422,
        "location.lat",
    )


def test_cancel_release_never_assigns_a_duplicate_ip(api: Api, manager):
    # Given both rewrite targets of 10.0.5.6 already taken (127.0.5.6 and 100.64.5.6)
    gw = router(api, manager)
    sub(api, manager, "holder-a", ip="127.0.5.6")
    sub(api, manager, "holder-b", ip="100.64.5.6")
    s = sub(api, manager, "leaving", gateway_id=gw["id"], ip="10.0.5.6")
    # When the service is cancelled releasing its IP
    res = ok(api.post(f"/admin/subscribers/{s['id']}/cancel", manager, {"ip_action": "release"}))
    # Then it is cancelled and removed from the router, without an IP, and the response says why
    assert res["status"] == "cancelled" and res["router"]["status"] == "queued"
    assert res["data"]["previous_ip"] == "10.0.5.6" and res["data"]["ip"] is None
    assert any("127.0.5.6" in w and "100.64.5.6" in w and "set an IP" in w for w in res["warnings"]), res
    assert stored(s["id"]).ip is None
    ips = [r["ip"] for r in ok(api.get("/admin/subscribers?limit=200", manager))["items"] if r["ip"]]
    assert len(ips) == len(set(ips)), ips
    # And the operator can fix it by hand
    ok(api.patch(f"/admin/subscribers/{s['id']}", manager, {"ip": "127.1.5.6"}))
    assert stored(s["id"]).ip == "127.1.5.6"


def test_reactivating_a_released_service_restores_its_ip_or_says_it_has_none(api: Api, manager):
    gw = router(api, manager)
    back = sub(api, manager, "comes-back", gateway_id=gw["id"], ip="10.0.7.1")
    ok(api.post(f"/admin/subscribers/{back['id']}/cancel", manager, {"ip_action": "release"}))
    assert stored(back["id"]).ip == "127.0.7.1"
    # the address it had is still free: reactivation gives it back (not the placeholder)
    res = ok(api.post(f"/admin/subscribers/{back['id']}/activate", manager))
    assert res["data"]["ip"] == "10.0.7.1" and res["data"]["previous_ip"] == "127.0.7.1"
    assert stored(back["id"]).ip == "10.0.7.1"

    gone = sub(api, manager, "comes-back-late", gateway_id=gw["id"], ip="10.0.8.1")
    ok(api.post(f"/admin/subscribers/{gone['id']}/cancel", manager, {"ip_action": "release"}))
    sub(api, manager, "newcomer", ip="10.0.8.1")  # its old address went to someone else meanwhile
    res = ok(api.post(f"/admin/subscribers/{gone['id']}/activate", manager))
    assert res["status"] == "active" and res["data"]["ip"] is None
    assert any("10.0.8.1" in w and "newcomer" in w for w in res["warnings"]), res
    assert stored(gone["id"]).ip is None  # never the placeholder 127.0.8.1
