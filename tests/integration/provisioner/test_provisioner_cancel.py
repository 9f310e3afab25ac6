"""Cancel and reactivate through the admin API, with the router's menus read afterwards over the RouterOS
API (librouteros → fake RouterOS over TCP): a cancelled service can never log in (SPEC S4)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest
from chalice.test import Client

import api.app as api_app
from core.ids import now_iso
from shared.runtime import Runtime
from shared.tokens import issue_operator_token
from store.models import Operator
from tests.fakes.provisioning import TENANT, drain, make_subscriber, reload, router_gateway
from tests.fakes.routeros import FakeRouter

SECRET, HS_USER, PPP_ACTIVE, HS_ACTIVE = (
    "/ppp/secret",
    "/ip/hotspot/user",
    "/ppp/active",
    "/ip/hotspot/active",
)
ALIST = "/ip/firewall/address-list"


@pytest.fixture
def router() -> Iterator[FakeRouter]:
    with FakeRouter(username="wispcloud", password="pw") as r:
        yield r


@pytest.fixture
def client(rt) -> Iterator[Client]:
    with Client(api_app.app) as c:
        yield c


def manager(rt: Runtime) -> dict[str, str]:
    op_id = f"op_{secrets.token_hex(3)}"
    Operator(
        id=op_id,
        tenant_id=TENANT,
        email=f"{op_id}@x.example",
        role="manager",
        password_hash="-",
        created_at=now_iso(),
    ).save()
    token = issue_operator_token(rt.signer, op_id, TENANT, "manager", 3600)
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def post(client: Client, path: str, h: dict[str, str], body: dict | None = None) -> dict:
    resp = client.http.post(path, headers=h, body=json.dumps(body or {}))
    assert resp.status_code in (200, 202), resp.body
    return json.loads(resp.body)


@pytest.mark.parametrize(
    ("plan", "menu", "active_menu", "who", "ip"),
    [
        ("pppoe", SECRET, PPP_ACTIVE, "name", None),
        ("pppoe", SECRET, PPP_ACTIVE, "name", "10.10.0.5"),
        ("hotspot", HS_USER, HS_ACTIVE, "user", None),
        ("hotspot", HS_USER, HS_ACTIVE, "user", "172.16.0.5"),
    ],
)
def test_cancel_with_default_options_disables_the_router_account(
    rt, client, router, plan, menu, active_menu, who, ip
):
    # Given a service written to its router, connected right now
    h = manager(rt)
    gw = router_gateway(rt, router, plan_type=plan)
    sub = make_subscriber(rt, gw, "leaver", connection_type=plan, ip=ip)
    post(client, f"/admin/gateways/{gw.id}/export", h)
    drain(rt)
    assert router.find(menu, name="leaver")[0]["disabled"] == "false"
    router.add_row(active_menu, **{who: "leaver", "address": ip or "10.20.0.9"})

    # When the operator cancels it with the default options
    res = post(client, f"/admin/subscribers/{sub.id}/cancel", h)
    assert res["status"] == "cancelled" and res["router"]["status"] == "queued", res
    drain(rt)

    # Then the router's local account is disabled (RouterOS checks it before RADIUS) and the session ends
    [account] = router.find(menu, name="leaver")
    assert account["disabled"] == "true"
    assert router.rows(active_menu) == []
    if ip:  # the kept address stays in the blocked list too
        assert [r["address"] for r in router.find(ALIST, list="morosos")] == [ip]

    # And a later sweep of the router does not enable it again
    post(client, f"/admin/gateways/{gw.id}/export", h)
    drain(rt)
    assert router.find(menu, name="leaver")[0]["disabled"] == "true"

    # Reactivated, it can log in again
    post(client, f"/admin/subscribers/{sub.id}/activate", h)
    drain(rt)
    assert router.find(menu, name="leaver")[0]["disabled"] == "false"
    assert reload(sub).status == "active"


def test_cancel_keeping_the_ip_also_disables_the_account(rt, client, router):
    h = manager(rt)
    gw = router_gateway(rt, router)
    sub = make_subscriber(rt, gw, "keeper", ip="10.10.0.7")
    post(client, f"/admin/gateways/{gw.id}/export", h)
    drain(rt)
    post(client, f"/admin/subscribers/{sub.id}/cancel", h, {"ip_action": "keep_suspend"})
    drain(rt)
    assert router.find(SECRET, name="keeper")[0]["disabled"] == "true"
    assert [r["address"] for r in router.find(ALIST, list="morosos")] == ["10.10.0.7"]
