"""Setups that would fail later on the router are refused at the API with 422 naming the field, or
completed from the router's address pool (SPEC S3 "a free IP of the pool")."""

from __future__ import annotations

from services.subscribers import assign_pool_ip
from store.models import Gateway
from store.subscribers import reserve_ip
from tests.integration.api.support import Api, err, ok, stored


def router(api: Api, who, nas_ip: str, plan_type: str, **extra) -> dict:
    body = {"name": f"R-{nas_ip}", "nas_ip": nas_ip, "radius_secret": "rs-secret", "plan_type": plan_type}
    return ok(api.post("/admin/gateways", who, {**body, **extra}), 201)


def create(api: Api, who, username: str, **extra):
    return api.post("/admin/subscribers", who, {"username": username, "status": "active", **extra})


def test_a_pcq_plan_without_an_address_list_is_refused(api: Api, manager, demo):
    # a PCQ product needs an address list, on itself or on its policy
    e = err(api.post("/admin/products", manager, {"name": "PCQ bare", "connection_type": "pcq"}), 422)
    assert e["field"] == "address_list" and "address list" in e["message"]
    pol = ok(api.post("/admin/policies", manager, {"code": "PCQ-POL", "address_list": "pcq-5M"}), 201)
    via_policy = ok(
        api.post(
            "/admin/products", manager, {"name": "PCQ 5M", "connection_type": "pcq", "policy_id": pol["id"]}
        ),
        201,
    )
    own = ok(
        api.post(
            "/admin/products", manager, {"name": "PCQ own", "connection_type": "pcq", "address_list": "p"}
        ),
        201,
    )
    err(api.patch(f"/admin/products/{own['id']}", manager, {"address_list": None}), 422, "address_list")
    ok(api.patch(f"/admin/products/{via_policy['id']}", manager, {"address_list": None}))
    # a PCQ service needs such a plan
    gw = router(api, manager, "10.66.0.1", "pcq")
    e = err(create(api, manager, "pcq-no-plan", gateway_id=gw["id"], ip="10.66.1.2"), 422, "product_id")
    assert "address list" in e["message"]
    err(
        create(
            api, manager, "pcq-pppoe-plan", gateway_id=gw["id"], ip="10.66.1.3", product_id=demo.product_id
        ),
        422,
        "product_id",
    )
    ok(create(api, manager, "pcq-ok", gateway_id=gw["id"], ip="10.66.1.4", product_id=via_policy["id"]), 201)


def test_a_simple_queue_service_without_ip_is_refused_without_a_pool(api: Api, manager):
    gw = router(api, manager, "10.67.0.1", "simple_queue")
    e = err(create(api, manager, "sq-no-ip", gateway_id=gw["id"]), 422, "ip")
    assert "Simple Queue service needs an IP address" in e["message"] and "ip_pool" in e["message"]
    err(create(api, manager, "sq-no-router", connection_type="simple_queue"), 422, "ip")
    s = ok(create(api, manager, "sq-with-ip", gateway_id=gw["id"], ip="10.67.1.9"), 201)["subscriber"]
    # and its IP cannot be removed afterwards
    err(api.patch(f"/admin/subscribers/{s['id']}", manager, {"ip": None}), 422, "ip")
    assert stored(s["id"]).ip == "10.67.1.9"


def test_a_service_without_ip_gets_the_next_free_address_of_the_router_pool(api: Api, manager):
    gw = router(api, manager, "10.68.0.1", "simple_queue", ip_pool="10.68.5.0/29")  # hosts .1 to .6
    ok(create(api, manager, "typed", gateway_id=gw["id"], ip="10.68.5.2"), 201)
    ips = [
        ok(create(api, manager, f"auto-{n}", gateway_id=gw["id"]), 201)["subscriber"]["ip"] for n in range(5)
    ]
    assert ips == ["10.68.5.1", "10.68.5.3", "10.68.5.4", "10.68.5.5", "10.68.5.6"]
    e = err(create(api, manager, "one-too-many", gateway_id=gw["id"]), 422, "ip")
    assert "10.68.5.0/29" in e["message"] and "no free address" in e["message"]


def test_pool_assignment_never_gives_one_address_twice_under_concurrency(api: Api, manager, demo):
    gw = router(api, manager, "10.69.0.1", "simple_queue", ip_pool="10.69.0.0/27")
    # an address reserved by a creation in flight (not yet visible as a service) is skipped
    assert reserve_ip(demo.tenant_id, "10.69.0.1", "sub_in_flight")
    assert not reserve_ip(demo.tenant_id, "10.69.0.1", "sub_other")
    first = ok(create(api, manager, "after-flight", gateway_id=gw["id"]), 201)["subscriber"]["ip"]
    assert first == "10.69.0.2"

    # creations in flight at the same time, none of them written yet (each sees the same tenant
    # addresses): every one gets its own address — the service operation the create route calls
    gateway = Gateway.get(gw["id"])
    ips = [assign_pool_ip(demo.tenant_id, gateway, f"sub_race_{n}") for n in range(12)]
    assert None not in ips and len(set(ips)) == 12, ips
    assert not {"10.69.0.1", "10.69.0.2"} & set(ips)  # held by a reservation and by a service
