"""Provisioning through the admin API (Chalice test client): drift, export to router, tasks and re-runs,
block rules, active connections, ARP, onboarding script, tenant scope and roles."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

import api.app as api_app
from core.ids import now_iso
from shared.runtime import Runtime
from shared.tokens import issue_operator_token
from store.models import Gateway, Operator, ProvisioningTask, Tenant
from tests.fakes.provisioning import (
    TENANT,
    drain,
    make_subscriber,
    reload,
    router_gateway,
)
from tests.fakes.routeros import FakeRouter

HUB_KEY = "hubPublicKeyBase64hubPublicKeyBase64hubPubl="
SECRET, ALIST, QUEUE = "/ppp/secret", "/ip/firewall/address-list", "/queue/simple"


@pytest.fixture(scope="module")
def world_settings(world_settings: dict[str, Any]) -> dict[str, Any]:
    return {
        **world_settings,
        "vpn_hub_public_key": HUB_KEY,
        "vpn_endpoint": "vpn.example.net:51820",
        "public_base_url": "https://portal.example.net",
    }


@pytest.fixture
def router() -> Iterator[FakeRouter]:
    with FakeRouter(username="wispcloud", password="pw") as r:
        yield r


@pytest.fixture
def client(rt) -> Iterator[Client]:
    with Client(api_app.app) as c:
        yield c


def headers(rt: Runtime, role: str = "manager", tenant: str = TENANT) -> dict[str, str]:
    op_id = f"op_{role}_{tenant}_{secrets.token_hex(2)}"
    if Tenant.count(tenant) == 0:
        Tenant(
            id=tenant, name=tenant, kind="manager", parent_id="-", ancestors=[], created_at=now_iso()
        ).save()
    Operator(
        id=op_id,
        tenant_id=tenant,
        email=f"{op_id}@x.example",
        role=role,
        password_hash="-",
        created_at=now_iso(),
    ).save()
    token = issue_operator_token(rt.signer, op_id, tenant, role, 3600)
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def call(client: Client, method: str, path: str, h: dict[str, str], body: dict | None = None):
    resp = getattr(client.http, method)(path, headers=h, body=json.dumps(body) if body is not None else None)
    return resp.status_code, json.loads(resp.body or b"null")


def test_export_drift_tasks_and_rerun(rt, client, router):
    h = headers(rt)
    gw = router_gateway(rt, router, plan_type="simple_queue")
    a = make_subscriber(rt, gw, "ana", connection_type="simple_queue", ip="10.9.0.2")
    b = make_subscriber(rt, gw, "beto", ip="10.9.0.3", status="suspended")

    # Before anything: the dry run lists what an export would create (no secrets in it)
    status, drift = call(client, "get", f"/admin/gateways/{gw.id}/drift", h)
    assert status == 200 and drift["in_sync"] is False and drift["counts"] == {"add": 3}
    assert {c["username"] for c in drift["changes"]} == {"ana", "beto"}
    assert all(c["fields"].get("password", "***") == "***" for c in drift["changes"])
    assert router.rows(QUEUE) == []  # a dry run changes nothing

    # Export clients to router
    status, out = call(client, "post", f"/admin/gateways/{gw.id}/export", h, {})
    assert status == 202 and out["queued"] == 1
    drain(rt)
    status, drift = call(client, "get", f"/admin/gateways/{gw.id}/drift", h)
    assert drift["in_sync"] is True and drift["block_rules"] == "missing"

    # Someone changes the router by hand: the drift shows it, an orphan is reported, hand-made rows ignored
    q = router.find(QUEUE, name="ana")[0]
    router.set_row(QUEUE, q[".id"], max_limit="1M/1M")
    router.add_row(ALIST, list="pcq-10M", address="10.9.0.99", comment="wisp:sub_gone")
    router.add_row(SECRET, name="tower", password="x")
    status, drift = call(client, "get", f"/admin/gateways/{gw.id}/drift", h)
    assert drift["counts"] == {"set": 1}
    assert drift["changes"][0]["detail"] == "ana: max-limit" and drift["changes"][0]["fields"] == {
        "max-limit": "2M/10M"
    }
    assert drift["orphans"] == [
        {
            "menu": ALIST,
            "object_id": drift["orphans"][0]["object_id"],
            "subscriber_id": "sub_gone",
            "name": "10.9.0.99",
        }
    ]
    call(client, "post", f"/admin/gateways/{gw.id}/export", h, {"prune": True})
    drain(rt)
    assert router.find(QUEUE, name="ana")[0]["max-limit"] == "2000000/10000000"
    assert router.find(ALIST, address="10.9.0.99") == [] and len(router.find(SECRET, name="tower")) == 1

    # Export of chosen services only; a service of another router is refused
    status, out = call(
        client, "post", f"/admin/gateways/{gw.id}/export", h, {"subscriber_ids": [b.id, "sub_x"]}
    )
    assert status == 422 and out["error"]["field"] == "subscriber_ids"
    status, out = call(client, "post", f"/admin/gateways/{gw.id}/export", h, {"subscriber_ids": [a.id, b.id]})
    assert status == 202 and out["queued"] == 2

    # Tasks: listed newest first, filtered, paginated; a failed one re-runs
    drain(rt)
    router.set_down(True)
    status, out = call(client, "post", f"/admin/gateways/{gw.id}/export", h, {"subscriber_ids": [a.id]})
    from infra.local.provisioner_worker import poll_once

    poll_once(rt, 0)
    task_id = out["tasks"][0]["task_id"]
    status, failed = call(client, "get", f"/admin/gateways/{gw.id}/tasks?status=failed", h)
    assert [t["id"] for t in failed["items"]] == [task_id]
    assert failed["items"][0]["error_category"] == "unreachable" and failed["items"][0]["reason"]
    status, page1 = call(client, "get", f"/admin/tasks?gateway_id={gw.id}&limit=2", h)
    assert len(page1["items"]) == 2 and page1["next_token"]
    status, page2 = call(
        client, "get", f"/admin/tasks?gateway_id={gw.id}&limit=2&next_token={page1['next_token']}", h
    )
    assert not {t["id"] for t in page1["items"]} & {t["id"] for t in page2["items"]}
    # page tokens are signed and bound to their list: a hand-made start key or another list's token is a 422
    forged = base64.urlsafe_b64encode(json.dumps({"id": {"S": task_id}}).encode()).decode()
    for bad in (forged, page1["next_token"]):
        where = "gateway_id=" + gw.id if bad == forged else "tenant_id=" + gw.tenant_id
        status, err = call(client, "get", f"/admin/tasks?{where}&limit=2&next_token={bad}", h)
        assert status == 422 and err["error"]["field"] == "next_token", err
    status, mine = call(client, "get", "/admin/tasks?status=succeeded", h)
    assert status == 200 and len(mine["items"]) == 4  # two router exports, two chosen services
    drain(rt)  # retries exhausted while the router is down
    assert ProvisioningTask.get(task_id).status == "dead"
    router.set_down(False)
    status, out = call(client, "post", f"/admin/gateways/{gw.id}/tasks/rerun-failed", h)
    assert status == 202 and out["task_ids"] == [task_id]
    drain(rt)
    status, task = call(client, "get", f"/admin/tasks/{task_id}", h)
    assert task["status"] == "succeeded" and task["run"] == 2 and task["last_error"] is None
    status, out = call(client, "post", f"/admin/tasks/{task_id}/rerun", h)
    assert status == 202 and out["status"] == "queued"
    assert reload(a).gateway_id == gw.id


def test_block_rules_active_connections_and_arp(rt, client, router):
    h = headers(rt)
    gw = router_gateway(rt, router, plan_type="simple_queue", lan_interface="bridge1")
    first = router.add_row(
        "/ip/firewall/filter", chain="forward", action="accept", connection_state="established"
    )
    status, out = call(client, "post", f"/admin/gateways/{gw.id}/block-rules", h)
    assert status == 202 and out["status"] == "queued"
    drain(rt)
    rules = router.rows("/ip/firewall/filter")
    assert [r.get("comment") for r in rules] == [
        "wisp:block-rules:dns-udp",
        "wisp:block-rules:dns-tcp",
        "wisp:block-rules:drop",
        None,
    ]  # above the operator's rule
    assert (
        rules[-1][".id"] == first
        and rules[2]["action"] == "drop"
        and rules[2]["src-address-list"] == "morosos"
    )
    [nat] = router.rows("/ip/firewall/nat")
    assert (nat["chain"], nat["action"], nat["dst-port"], nat["to-ports"]) == (
        "dstnat",
        "redirect",
        "80",
        "8082",
    )
    # once installed, the router sweep keeps them in line
    router.set_row("/ip/firewall/filter", rules[2][".id"], disabled="yes")
    status, drift = call(client, "get", f"/admin/gateways/{gw.id}/drift", h)
    assert drift["block_rules"] == "partial" and drift["counts"] == {"set": 1}

    sub = make_subscriber(
        rt, gw, "ana", connection_type="simple_queue", ip="192.168.1.20", mac="AA:AA:AA:00:00:01"
    )
    router.add_row("/ppp/active", name="someone", address="10.0.0.9", service="pppoe", uptime="1h2m")
    router.add_row("/ip/hotspot/active", user="guest", address="172.16.0.5", mac_address="02:00:00:00:00:05")
    router.add_row(
        "/ip/arp",
        address="192.168.1.20",
        mac_address="AA:AA:AA:00:00:02",
        interface="bridge1",
        dynamic="true",
    )
    status, active = call(client, "get", f"/admin/gateways/{gw.id}/active-connections", h)
    assert status == 200 and active["ppp"][0]["name"] == "someone" and active["hotspot"][0]["user"] == "guest"
    status, arp = call(client, "get", f"/admin/gateways/{gw.id}/arp", h)
    [entry] = arp["entries"]
    assert entry["subscriber_id"] == sub.id and entry["mac_matches"] is False and entry["dynamic"] == "true"
    # IP/MAC binding imports the MAC and interface from that ARP entry (S4), then makes it static
    status, bound = call(client, "post", f"/admin/subscribers/{sub.id}/bind-ip-mac", h, {"from_arp": True})
    assert status == 200, bound
    saved = reload(sub)
    assert saved.mac.upper().replace("-", ":") == "AA:AA:AA:00:00:02"
    assert saved.advanced["arp"]["interface"] == "bridge1"
    drain(rt)
    status, arp = call(client, "get", f"/admin/gateways/{gw.id}/arp", h)
    assert any(e.get("subscriber_id") == sub.id and e["mac_matches"] for e in arp["entries"]), arp
    # without a MAC and without from_arp the request names what is missing
    status, bad = call(client, "post", f"/admin/subscribers/{sub.id}/bind-ip-mac", h, {})
    assert status == 422 and "from_arp" in bad["error"]["message"]


def test_onboarding_script(rt, client, router):
    h = headers(rt)
    gw = router_gateway(
        rt, router, name='Torre "Sur" $1', api_host=None, api_username=None, api_password_enc=None
    )
    status, out = call(client, "post", f"/admin/gateways/{gw.id}/onboarding-script", h, {})
    assert status == 200
    script = out["script"]
    saved = Gateway.get(gw.id)
    assert saved.vpn_address == out["vpn_address"] == "10.255.0.2" and saved.api_host == "10.255.0.2"
    assert saved.vpn_public_key == out["vpn_public_key"] and len(out["vpn_public_key"]) == 44
    password = rt.box.decrypt(saved.api_password_enc)
    assert f'password="{password}" address=10.255.0.1/32' in script
    for needle in (
        '/interface wireguard peers add interface="wg-wispcloud" public-key="' + HUB_KEY,
        'endpoint-address="vpn.example.net" endpoint-port=51820',
        '/radius add service=ppp,hotspot address=10.255.0.1 secret="testing123" src-address=10.255.0.2',
        "/radius incoming set accept=yes port=3799",
        "/ppp aaa set use-radius=yes accounting=yes interim-update=5m",
        "radius-interim-update=5m",
        "/ip service set api disabled=no port=",
        'policy="read,write,api,sensitive,',
        'comment="wisp:block-rules:drop"',
        'action-data="https://portal.example.net/my/notice\\?t=',
        'name="Torre \\"Sur\\" \\$1"',
    ):
        assert needle in script, needle
    # the block rules are added top-first in reverse so they end up in order
    assert script.index("wisp:block-rules:drop") < script.index("wisp:block-rules:dns-udp")
    # a second script keeps the address and the API password, with a new tunnel key
    status, again = call(client, "post", f"/admin/gateways/{gw.id}/onboarding-script", h, {})
    assert again["vpn_address"] == "10.255.0.2" and again["vpn_public_key"] != out["vpn_public_key"]
    assert rt.box.decrypt(Gateway.get(gw.id).api_password_enc) == password
    other = router_gateway(rt, router, "gw_other", api_host=None)
    status, out2 = call(client, "post", f"/admin/gateways/{other.id}/onboarding-script", h, {})
    assert out2["vpn_address"] == "10.255.0.3"


def test_scope_roles_and_disabled_api(rt, client, router):
    gw = router_gateway(rt, router)
    outsider = headers(rt, "manager", tenant="ten_other")
    for method, path in (
        ("get", f"/admin/gateways/{gw.id}/drift"),
        ("post", f"/admin/gateways/{gw.id}/export"),
        ("get", f"/admin/gateways/{gw.id}/tasks"),
    ):
        status, out = call(client, method, path, outsider, {} if method == "post" else None)
        assert status == 404, (path, out)
    viewer = headers(rt, "read_only")
    status, _ = call(client, "post", f"/admin/gateways/{gw.id}/export", viewer, {})
    assert status == 403
    staff = headers(rt, "operator")
    status, _ = call(client, "post", f"/admin/gateways/{gw.id}/block-rules", staff)
    assert status == 403
    status, out = call(client, "post", f"/admin/gateways/{gw.id}/export", staff, {"colour": "blue"})
    assert status == 422

    gw.update(actions=[Gateway.api_enabled.set(False)])
    h = headers(rt)
    status, out = call(client, "get", f"/admin/gateways/{gw.id}/drift", h)
    assert status == 409 and "API is disabled" in out["error"]["message"]
    status, out = call(client, "post", f"/admin/gateways/{gw.id}/export", h, {})
    assert status == 409
    assert router.stats.connections == 0

    gw.update(actions=[Gateway.api_enabled.set(True)])
    router.set_down(True)
    status, out = call(client, "get", f"/admin/gateways/{gw.id}/active-connections", h)
    assert status == 503 and out["error"]["details"]["category"] == "unreachable"


def _lines(script: str) -> list[str]:
    return [line for line in script.splitlines() if line and not line.startswith("#")]


def test_onboarding_never_touches_a_router_user_it_did_not_create(rt, client, router):
    h = headers(rt)
    # Given a gateway whose API user is the router's own admin, with the operator's password
    gw = router_gateway(
        rt, router, api_host=None, api_username="admin", api_password_enc=rt.box.encrypt("adm")
    )
    status, out = call(client, "post", f"/admin/gateways/{gw.id}/onboarding-script", h, {})
    assert status == 200
    user_lines = [line for line in _lines(out["script"]) if "/user " in line and "/user group" not in line]
    # Then the script never removes a user, and adds or changes "admin" only when it carries its tag
    assert not any("/user remove" in line for line in user_lines), user_lines
    [user] = user_lines
    assert user.startswith(':if ([:len [/user find name="admin"]] = 0) do={ /user add name="admin"')
    assert '/user set [/user find name="admin" comment="wisp:onboarding"]' in user
    assert "was not created by WispCloud: left unchanged" in user
    assert ":error" not in out["script"]  # the operator's password: the existing user keeps working

    # Given a gateway whose API password the cloud generates
    other = router_gateway(rt, router, "gw_gen", api_host=None, api_username="admin", api_password_enc=None)
    status, out = call(client, "post", f"/admin/gateways/{other.id}/onboarding-script", h, {})
    lines = _lines(out["script"])
    # Then before any change the script stops when a hand-made "admin" exists (it could not log in)
    assert lines[0].startswith(
        ':if (([:len [/user find name="admin"]] > 0) && ([:len [/user find name="admin" '
        'comment="wisp:onboarding"]] = 0)) do={ :error "User admin exists and was not created by WispCloud'
    )
    assert not any("/user remove" in line for line in lines)


def test_onboarding_makes_the_tunnel_address_the_gateways_nas_address(rt, client, router):
    h = headers(rt)
    gw = router_gateway(rt, router, api_host=None, nas_ip="203.0.113.7")
    status, out = call(client, "post", f"/admin/gateways/{gw.id}/onboarding-script", h, {})
    assert status == 200 and out["vpn_address"] == "10.255.0.2" == out["nas_ip"]
    # RADIUS from the router comes from its tunnel address, which is now the gateway's NAS address
    assert "src-address=10.255.0.2" in out["script"]
    assert Gateway.get(gw.id).nas_ip == "10.255.0.2"
    assert any("203.0.113.7" in w and "10.255.0.2" in w for w in out["warnings"])
    # another gateway already holding the next tunnel address: unchanged, with a clear warning
    router_gateway(rt, router, "gw_squatter", api_host=None, nas_ip="10.255.0.3", vpn_address="10.9.9.9")
    late = router_gateway(rt, router, "gw_late", api_host=None, nas_ip="203.0.113.8")
    status, out = call(client, "post", f"/admin/gateways/{late.id}/onboarding-script", h, {})
    assert status == 200, out
    assert out["vpn_address"] == "10.255.0.3" and out["nas_ip"] == "203.0.113.8"
    assert Gateway.get(late.id).nas_ip == "203.0.113.8"
    assert any("10.255.0.3" in w and "not be accepted" in w for w in out["warnings"]), out["warnings"]


def test_onboarding_lets_blocked_subscribers_reach_the_notice_page_and_portal(rt, client, router):
    h = headers(rt)
    gw = router_gateway(rt, router, api_host=None, plan_type="hotspot")
    status, out = call(client, "post", f"/admin/gateways/{gw.id}/onboarding-script", h, {})
    assert status == 200, out
    script = out["script"]
    # the portal host is in an address list the blocked clients may reach on 80 and 443...
    assert '/ip firewall address-list add list="wispcloud-portal" address="portal.example.net"' in script
    portal_rule = (
        'chain="forward" src-address-list="morosos" dst-address-list="wispcloud-portal" protocol="tcp" '
        'dst-port="80,443" action="accept"'
    )
    assert portal_rule in script
    # ...added on top after the drop rule, so it is evaluated before it
    assert script.index(portal_rule) > script.index('comment="wisp:block-rules:drop"')
    # the notice redirect skips the portal host: no redirect loop
    [redirect] = [line for line in _lines(script) if "wisp:block-rules:notice" in line]
    assert 'dst-address-list="!wispcloud-portal"' in redirect and 'action="redirect"' in redirect
    # a hotspot lets the portal through before login too
    assert '/ip hotspot walled-garden add dst-host="portal.example.net"' in script
    assert '/ip hotspot walled-garden ip add dst-address-list="wispcloud-portal" action="accept"' in script


def test_onboarding_enables_api_ssl_only_with_a_certificate_and_off_the_plain_api_port(rt, client, router):
    h = headers(rt)
    gw = router_gateway(rt, router, api_host=None, api_tls=True, api_port=8728)
    status, out = call(client, "post", f"/admin/gateways/{gw.id}/onboarding-script", h, {})
    assert status == 200, out
    lines = _lines(out["script"])
    [service] = [line for line in lines if line.startswith("/ip service set")]
    assert service.startswith("/ip service set api-ssl disabled=no port=8729 ")
    assert 'certificate="wispcloud-api"' in service
    [cert] = [i for i, line in enumerate(lines) if "/certificate add" in line]
    assert "/certificate sign" in lines[cert] and cert < lines.index(service)
    assert not any("api-ssl" in line and "port=8728" in line for line in lines)
    assert out["api_port"] == 8729 == Gateway.get(gw.id).api_port
    assert any('dst-port="8729"' in line and "wisp:onboarding:api" in line for line in lines)
    # plain API: no certificate, the plain port
    plain = router_gateway(rt, router, "gw_plain", api_host=None, api_tls=False, api_port=8728)
    status, out = call(client, "post", f"/admin/gateways/{plain.id}/onboarding-script", h, {})
    assert status == 200, out
    assert (
        "/certificate" not in out["script"] and "/ip service set api disabled=no port=8728 " in out["script"]
    )
