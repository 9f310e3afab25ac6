"""Tenancy matrix: for each role and each resource, another tenant's object is refused (404/403) on every
read and change, never appears in a list, and is left untouched: zero leaks.

Tree: system → reseller R1 (demo) → managers M1 (demo) and M2; system → reseller R2 → manager M3.
Actors sit in M1 (read_only, operator, manager) and R1 (read_only, operator, reseller); their foreign
tenants are M2 / M3 (for M1) and R2 / M3 (for R1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from store.models import Gateway, Operator, Policy, Product, Zone
from tests.integration.api.support import Api, ok, open_session, stored

REFUSED = {403, 404}

SUBSCRIBER_ACTIONS = {
    "activate": {},
    "suspend": {},
    "free": {},
    "cancel": {"ip_action": "release"},
    "delete": {"mode": "system_router", "confirm": "eliminar_clientes"},
    "change-username": {"username": "stolen"},
    "change-password": {"password": "stolen-pw"},
    "recharge": None,
    "migrate": None,
    "bind-ip-mac": {"mac": "AA:BB:CC:DD:EE:01", "ip": "10.99.0.1"},
    "disassociate-mac": {"mac": "AA:BB:CC:DD:EE:02"},
    "disconnect": {},
}
SUBSCRIBER_READS = (
    "",
    "/connections",
    "/wifi-connections",
    "/connections/export",
    "/dashboard",
    "/sales",
    "/audit",
    "/credentials",
)
BULK = ("activate", "suspend", "free", "cancel", "delete", "disconnect")


@dataclass
class World:
    objects: dict[str, dict[str, str]]  # tenant -> kind -> id
    names: dict[str, list[str]]  # tenant -> distinctive strings that must never leak


def _build(api: Api, admin: dict[str, str], demo: Any) -> tuple[World, dict[str, str]]:
    tenants = {"S": demo.system_id, "R1": demo.reseller_id, "M1": demo.tenant_id}
    tenants["M2"] = ok(
        api.post(
            "/admin/tenants", admin, {"name": "Manager Two", "kind": "manager", "parent_id": demo.reseller_id}
        ),
        201,
    )["id"]
    tenants["R2"] = ok(api.post("/admin/tenants", admin, {"name": "Reseller Two", "kind": "reseller"}), 201)[
        "id"
    ]
    tenants["M3"] = ok(
        api.post(
            "/admin/tenants", admin, {"name": "Manager Three", "kind": "manager", "parent_id": tenants["R2"]}
        ),
        201,
    )["id"]
    objects: dict[str, dict[str, str]] = {}
    names: dict[str, list[str]] = {}
    for i, label in enumerate(("M2", "R2", "M3", "M1")):
        tid = tenants[label]
        secret = f"leak{label.lower()}"
        zone = ok(api.post("/admin/zones", admin, {"name": f"zone-{secret}", "tenant_id": tid}), 201)
        gw = ok(
            api.post(
                "/admin/gateways",
                admin,
                {
                    "name": f"gw-{secret}",
                    "nas_ip": f"10.200.{i}.1",
                    "radius_secret": "s",
                    "zone_id": zone["id"],
                    "tenant_id": tid,
                },
            ),
            201,
        )
        pol = ok(api.post("/admin/policies", admin, {"code": f"pol-{secret}", "tenant_id": tid}), 201)
        prod = ok(
            api.post(
                "/admin/products", admin, {"name": f"prod-{secret}", "policy_id": pol["id"], "tenant_id": tid}
            ),
            201,
        )
        sub = ok(
            api.post(
                "/admin/subscribers",
                admin,
                {
                    "username": f"sub-{secret}",
                    "tenant_id": tid,
                    "gateway_id": gw["id"],
                    "product_id": prod["id"],
                    "status": "active",
                    "ip": f"10.201.{i}.9",
                },
            ),
            201,
        )
        open_session(sub["subscriber"]["id"], key=f"sess-{label}", nas_ip=f"10.200.{i}.1")
        role = "reseller" if label.startswith("R") else "manager"
        op = ok(
            api.post(
                "/admin/operators",
                admin,
                {"email": f"{secret}@x.io", "password": "pw-123456", "role": role, "tenant_id": tid},
            ),
            201,
        )
        key = ok(api.post("/admin/api-keys", admin, {"name": f"key-{secret}", "tenant_id": tid}), 201)
        objects[label] = {
            "tenant": tid,
            "zone": zone["id"],
            "gateway": gw["id"],
            "policy": pol["id"],
            "product": prod["id"],
            "subscriber": sub["subscriber"]["id"],
            "operator": op["id"],
            "api_key": key["id"],
        }
        names[label] = [secret]
    return World(objects, names), tenants


ACTORS = [
    ("M1", "read_only"),
    ("M1", "operator"),
    ("M1", "manager"),
    ("R1", "read_only"),
    ("R1", "operator"),
    ("R1", "reseller"),
]
FOREIGN = {"M1": ("M2", "M3"), "R1": ("R2", "M3")}

ITEM_PATHS = {
    "zone": "/admin/zones/{}",
    "gateway": "/admin/gateways/{}",
    "policy": "/admin/policies/{}",
    "product": "/admin/products/{}",
    "operator": "/admin/operators/{}",
    "api_key": "/admin/api-keys/{}",
    "tenant": "/admin/tenants/{}",
    "subscriber": "/admin/subscribers/{}",
}
PATCHES = {
    "zone": {"name": "x"},
    "gateway": {"name": "x"},
    "policy": {"description": "x"},
    "product": {"name": "x"},
    "operator": {"name": "x"},
    "tenant": {"name": "x"},
    "subscriber": {"name": "x"},
}
LISTS = {
    "zone": "/admin/zones",
    "gateway": "/admin/gateways",
    "policy": "/admin/policies",
    "product": "/admin/products",
    "operator": "/admin/operators",
    "api_key": "/admin/api-keys",
    "tenant": "/admin/tenants",
    "subscriber": "/admin/subscribers",
}


def _snapshot(objs: dict[str, str]) -> dict[str, Any]:
    sub = stored(objs["subscriber"])
    return {
        "zone": Zone.get(objs["zone"]).attribute_values,
        "gateway": Gateway.get(objs["gateway"]).attribute_values,
        "policy": Policy.get(objs["policy"]).attribute_values,
        "product": Product.get(objs["product"]).attribute_values,
        "operator": Operator.get(objs["operator"]).attribute_values,
        "subscriber": {k: v for k, v in sub.attribute_values.items() if k not in ("open_sessions", "usage")},
        "sessions": sorted(sub.open_sessions.as_dict()),
    }


@pytest.mark.slow
def test_another_tenants_objects_are_refused_everywhere(api: Api, admin, demo):
    world, tenants = _build(api, admin, demo)
    checked = 0
    for home, role in ACTORS:
        checked += _check_actor(api, world, tenants, home, role)
    # every role x resource x operation combination above was exercised
    assert checked >= len(ACTORS) * 2 * 50


def _check_actor(api: Api, world: World, tenants: dict[str, str], home: str, role: str) -> int:
    me = api.operator(tenants[home], role)
    own = world.objects["M1"]
    checked = 0

    def refused(resp: Any, what: str, foreign: str) -> None:
        nonlocal checked
        checked += 1
        assert resp.status_code in REFUSED, f"{home}/{role} {what}: {resp.status_code} {resp.body[:300]!r}"
        for secret in world.names[foreign]:
            assert secret not in resp.body.decode("utf-8", "replace"), f"{what} leaked {secret}"

    # Positive control: the actor reaches its own subtree's objects (so a refusal below means something)
    assert api.get(f"/admin/subscribers/{own['subscriber']}", me).status_code == 200
    assert api.get(f"/admin/zones/{own['zone']}", me).status_code == 200

    for foreign in FOREIGN[home]:
        objs = world.objects[foreign]
        before = _snapshot(objs)
        for kind, path in ITEM_PATHS.items():
            target = path.format(objs[kind])
            refused(api.get(target, me), f"GET {kind}", foreign)
            if kind in PATCHES:
                refused(api.patch(target, me, PATCHES[kind]), f"PATCH {kind}", foreign)
            if kind != "subscriber":  # subscribers are deleted through POST .../delete (checked below)
                refused(api.delete(target, me), f"DELETE {kind}", foreign)
        refused(
            api.put(f"/admin/operators/{objs['operator']}/role", me, {"role": "read_only"}),
            "PUT role",
            foreign,
        )
        sid = objs["subscriber"]
        for suffix in SUBSCRIBER_READS:
            refused(api.get(f"/admin/subscribers/{sid}{suffix}", me), f"GET subscriber{suffix}", foreign)
        for action, body in SUBSCRIBER_ACTIONS.items():
            if action == "recharge":
                body = {"product_id": own["product"]}
            if action == "migrate":
                body = {"gateway_id": own["gateway"]}
            refused(api.post(f"/admin/subscribers/{sid}/{action}", me, body), f"POST {action}", foreign)
        # lists never show them; asking for the foreign tenant is refused
        for kind, path in LISTS.items():
            resp = api.get(path, me)
            if resp.status_code == 200:
                text = resp.body.decode()
                assert objs[kind] not in text and all(s not in text for s in world.names[foreign]), (
                    f"list {kind}"
                )
            else:
                assert resp.status_code == 403, f"list {kind}: {resp.status_code}"
            param = "parent_id" if kind == "tenant" else "tenant_id"
            refused(api.get(f"{path}?{param}={objs['tenant']}", me), f"list {kind} by tenant", foreign)
        for path in (
            "/admin/subscribers/totals",
            "/admin/subscribers/online",
            "/admin/subscribers/export",
            "/admin/subscribers/online/export",
            "/admin/audit",
            "/admin/audit/export",
        ):
            refused(api.get(f"{path}?tenant_id={objs['tenant']}", me), f"{path} by tenant", foreign)
            resp = api.get(path, me)
            if resp.status_code == 200:
                assert all(s not in resp.body.decode("utf-8-sig") for s in world.names[foreign]), path
        # the audit of a foreign object reads as empty (or refused)
        for kind in ("subscriber", "zone", "gateway"):
            resp = api.get(f"/admin/audit?entity_id={objs[kind]}", me)
            if resp.status_code == 200:
                assert resp.json_body["items"] == [], f"audit {kind}"
            else:
                assert resp.status_code in REFUSED
        # bulk actions: a per-subscriber not-found (or a refusal of the whole request)
        for action in BULK:
            resp = api.post(f"/admin/subscribers/bulk/{action}", me, {"subscriber_ids": [sid]})
            if resp.status_code == 200:
                assert resp.json_body["results"][0]["error"]["code"] == "not_found", action
                assert all(s not in resp.body.decode() for s in world.names[foreign])
            else:
                refused(resp, f"bulk {action}", foreign)
        # creating objects that point at foreign ones, or inside a foreign tenant
        for body in (
            {"username": "p1", "gateway_id": objs["gateway"]},
            {"username": "p2", "zone_id": objs["zone"]},
            {"username": "p3", "product_id": objs["product"]},
            {"username": "p4", "tenant_id": objs["tenant"]},
        ):
            resp = api.post("/admin/subscribers", me, body)
            assert resp.status_code in {403, 404, 422}, f"create subscriber {body}: {resp.status_code}"
        for path, body in (
            ("/admin/products", {"name": "p", "policy_id": objs["policy"]}),
            (
                "/admin/gateways",
                {"name": "g", "nas_ip": "10.250.0.1", "radius_secret": "s", "zone_id": objs["zone"]},
            ),
            ("/admin/zones", {"name": "z", "tenant_id": objs["tenant"]}),
            (
                "/admin/operators",
                {
                    "email": "q@x.io",
                    "password": "pw-123456",
                    "role": "read_only",
                    "tenant_id": objs["tenant"],
                },
            ),
            ("/admin/api-keys", {"name": "k", "tenant_id": objs["tenant"]}),
            ("/admin/tenants", {"name": "t", "kind": "manager", "parent_id": objs["tenant"]}),
        ):
            resp = api.post(path, me, body)
            assert resp.status_code in {403, 404, 422}, f"create via {path}: {resp.status_code}"
        assert _snapshot(objs) == before, f"{foreign} changed"
    return checked
