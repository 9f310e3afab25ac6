"""Import from the router (SPEC S2 "From printers / external apps") against the fake RouterOS over TCP:
PPPoE secrets and hotspot users made on the router become subscribers, once, and the provisioner then
takes the router entries over."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.ids import now_iso
from infra.local.provisioner_worker import poll_once
from store import subscribers as subscriber_store
from store.models import Gateway, Product
from tests.fakes.routeros import FakeRouter
from tests.integration.channels.support import Http


@pytest.fixture(name="router")
def router_fixture() -> Iterator[FakeRouter]:
    with FakeRouter(username="wisp-api", password="api-pass") as router:
        yield router


def _gateway(http: Http, router: FakeRouter, gid: str, plan_type: str, nas_ip: str) -> str:
    Gateway(
        id=gid,
        tenant_id=http.demo.tenant_id,
        zone_id=http.demo.zone_id,
        name=f"Router {gid}",
        nas_ip=nas_ip,
        radius_secret_enc=http.rt.box.encrypt("s3cret"),
        api_enabled=True,
        api_host=router.host,
        api_port=router.port,
        api_username="wisp-api",
        api_password_enc=http.rt.box.encrypt("api-pass"),
        plan_type=plan_type,
        created_at=now_iso(),
    ).save()
    return gid


def _products(http: Http) -> None:
    now = now_iso()
    Product(
        id="prod_ppp10",
        tenant_id=http.demo.tenant_id,
        name="PPPoE 10M",
        price="20",
        connection_type="pppoe",
        router_profile="plan-10M",
        created_at=now,
    ).save()
    Product(
        id="prod_1h",
        tenant_id=http.demo.tenant_id,
        name="Ticket 1h",
        price="1",
        connection_type="hotspot",
        router_profile="1h",
        time_credit_min=60,
        created_at=now,
    ).save()


def test_pppoe_secrets_and_ticket_users_become_subscribers_once(http: Http, router: FakeRouter) -> None:
    _products(http)
    ppp = _gateway(http, router, "gw_ppp", "pppoe", "10.99.0.1")
    hot = _gateway(http, router, "gw_hot", "hotspot", "10.99.0.2")
    # Given secrets and hotspot users made on the router by hand and by a ticket printer
    router.add_row(
        "/ppp/secret",
        name="juan",
        password="juan-pw",
        profile="plan-10M",
        service="pppoe",
        remote_address="10.50.0.2",
        caller_id="AA:BB:CC:00:00:01",
    )
    router.add_row(
        "/ppp/secret", name="maria", password="maria-pw", profile="other", remote_address="10.50.0.3"
    )
    router.add_row("/ppp/secret", name="vpn-office", password="x1234", service="l2tp")
    router.add_row("/ppp/secret", name="old-client", password="x1234", disabled="yes")
    router.add_row("/ppp/secret", name="managed", password="x1234", comment="wisp:sub_somebody")
    router.add_row("/ppp/secret", name="demo", password="x1234")
    router.add_row("/ppp/secret", name="bad-ip", password="x1234", remote_address="10.10.0.10")
    router.add_row(
        "/ip/hotspot/user",
        name="T7Q2",
        password="4821",
        profile="1h",
        limit_uptime="1h",
        comment="ticket printer",
    )
    router.add_row(
        "/ip/hotspot/user", name="T9K5", password="7730", profile="1h", mac_address="AA:BB:CC:00:00:09"
    )
    # When the PPPoE router is imported (the one the system knows as a PPPoE router)
    resp = http.post(
        "/admin/imports/router",
        http.manager(),
        {"gateway_id": ppp, "kinds": ["pppoe"], "default_product_id": "prod_demo"},
    )
    # Then the PPPoE secrets made by hand are subscribers with their password, plan, IP and MAC
    assert resp.status_code == 200, resp.json_body
    body = resp.json_body
    assert body["read"] == 7 and body["created"] == 2
    reasons = {s["name"]: s["reason"] for s in body["skipped"]}
    assert reasons["vpn-office"].startswith("l2tp secret")
    assert reasons["old-client"] == "disabled on the router"
    assert reasons["managed"] == "already managed by the system"
    assert reasons["demo"] == "a subscriber with this name exists"
    assert [(r["username"], r["errors"][0]["field"]) for r in body["invalid"]] == [("bad-ip", "ip")]
    juan = subscriber_store.get_by_login(http.demo.tenant_id, "juan")
    assert juan is not None and http.rt.box.decrypt(juan.password_enc) == "juan-pw"
    assert juan.product_id == "prod_ppp10" and juan.ip == "10.50.0.2" and juan.mac == "AA:BB:CC:00:00:01"
    assert juan.gateway_id == ppp and juan.connection_type == "pppoe" and juan.created_via == "router"
    maria = subscriber_store.get_by_login(http.demo.tenant_id, "maria")
    assert maria is not None and maria.product_id == "prod_demo"
    # And the provisioner was asked to take the router entries over: once applied they carry its marker
    assert body["router"]["status"] == "queued"
    poll_once(http.rt)
    secret = router.find("/ppp/secret", name="juan")[0]
    assert secret["comment"] == f"wisp:{juan.id}" and secret["password"] == "juan-pw"
    assert router.find("/ppp/secret", name="vpn-office")[0].get("comment", "") == ""
    # When the hotspot router is imported: the ticket printer's users come in with the ticket product
    resp = http.post("/admin/imports/router", http.manager(), {"gateway_id": hot, "kinds": ["hotspot"]})
    assert resp.status_code == 200 and resp.json_body["created"] == 2
    ticket = subscriber_store.get_by_login(http.demo.tenant_id, "T7Q2")
    assert ticket is not None and ticket.product_id == "prod_1h" and ticket.connection_type == "hotspot"
    assert http.rt.box.decrypt(ticket.password_enc) == "4821"
    # And importing again creates nothing twice
    again = http.post(
        "/admin/imports/router",
        http.manager(),
        {"gateway_id": ppp, "kinds": ["pppoe"], "default_product_id": "prod_demo"},
    ).json_body
    assert again["created"] == 0 and {s["name"] for s in again["skipped"]} >= {"juan", "maria"}
    assert len(subscriber_store.list_tenant(http.demo.tenant_id)) == 5
    # A dry run reports without writing
    router.add_row("/ppp/secret", name="pedro", password="pedro-pw", profile="plan-10M")
    dry = http.post(
        "/admin/imports/router", http.manager(), {"gateway_id": ppp, "kinds": ["pppoe"], "dry_run": True}
    ).json_body
    assert dry["to_create"] == 1 and dry["created"] == 0
    assert subscriber_store.get_by_login(http.demo.tenant_id, "pedro") is None


def test_unreachable_or_disabled_router_is_a_clear_error(http: Http, router: FakeRouter) -> None:
    ppp = _gateway(http, router, "gw_ppp", "pppoe", "10.99.0.1")
    router.set_down(True)
    resp = http.post("/admin/imports/router", http.manager(), {"gateway_id": ppp})
    assert resp.status_code == 503 and resp.json_body["error"]["field"] == "gateway_id"
    router.set_down(False)
    # the demo router has its API disabled: nothing is read from it
    resp = http.post("/admin/imports/router", http.manager(), {"gateway_id": http.demo.gateway_id})
    assert resp.status_code == 409 and "API is disabled" in resp.json_body["error"]["message"]
    # another tenant's router is not found
    assert http.post("/admin/imports/router", http.other_manager(), {"gateway_id": ppp}).status_code == 404
