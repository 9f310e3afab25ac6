"""Zones, gateways, policies and products: CRUD, S6 validation, inheritance down the tenant tree."""

from __future__ import annotations

import pytest

from store.models import Gateway
from tests.integration.api.support import Api, err, ok

POLICY = {"code": "P-20", "download_rate": 20_000_000, "upload_rate": 5_000_000}


def test_zone_crud(api: Api, manager, demo):
    z = ok(
        api.post("/admin/zones", manager, {"name": "Norte", "timezone": "America/Bogota", "cutoff_day": 12}),
        201,
    )
    assert z["tenant_id"] == demo.tenant_id and z["cutoff_day"] == 12
    err(api.post("/admin/zones", manager, {"name": "X", "timezone": "Mars/Olympus"}), 422, "timezone")
    err(api.post("/admin/zones", manager, {"name": "X", "issue_day": 32}), 422, "issue_day")
    ok(api.patch(f"/admin/zones/{z['id']}", manager, {"name": "Norte 2"}))
    assert ok(api.get(f"/admin/zones/{z['id']}", manager))["name"] == "Norte 2"
    assert z["id"] in {i["id"] for i in ok(api.get("/admin/zones", manager))}
    # the demo zone is used by a router and a subscriber: refused
    used = err(api.delete(f"/admin/zones/{demo.zone_id}", manager), 409)
    assert "gateways" in used["details"]["used_by"]
    ok(api.delete(f"/admin/zones/{z['id']}", manager))
    err(api.get(f"/admin/zones/{z['id']}", manager), 404)


def test_gateway_secrets_are_write_only_and_encrypted(api: Api, manager, demo, runtime):
    body = {
        "name": "Tower 2",
        "nas_ip": "10.255.0.2",
        "radius_secret": "s3cret-radius",
        "zone_id": demo.zone_id,
        "api_enabled": True,
        "api_host": "10.255.0.2",
        "api_username": "wisp",
        "api_password": "router-pass",
        "plan_type": "pppoe",
        "ip_pool": "10.20.0.0/24",
        "timezone": "America/Mexico_City",
    }
    gw = ok(api.post("/admin/gateways", manager, body), 201)
    text = str(gw)
    assert "s3cret-radius" not in text and "router-pass" not in text
    assert gw["has_radius_secret"] and gw["has_api_password"]
    stored = Gateway.get(gw["id"])
    assert (
        stored.radius_secret_enc.startswith("v1:")
        and runtime.box.decrypt(stored.radius_secret_enc) == "s3cret-radius"
    )
    assert runtime.box.decrypt(stored.api_password_enc) == "router-pass"
    # the NAS address is unique platform-wide
    err(api.post("/admin/gateways", manager, {**body, "name": "dup"}), 409, "nas_ip")
    # API enabled needs credentials
    err(
        api.post(
            "/admin/gateways",
            manager,
            {
                "name": "g",
                "nas_ip": "10.255.0.9",
                "radius_secret": "x",
                "api_enabled": True,
                "api_host": "h",
                "api_username": "u",
            },
        ),
        422,
        "api_password",
    )
    err(
        api.post("/admin/gateways", manager, {"name": "g", "nas_ip": "not-an-ip", "radius_secret": "x"}),
        422,
        "nas_ip",
    )
    # rotating the secret: still never returned, audit says "changed" without the value
    out = ok(api.patch(f"/admin/gateways/{gw['id']}", manager, {"radius_secret": "rotated-1"}))
    assert "rotated-1" not in str(out)
    assert runtime.box.decrypt(Gateway.get(gw["id"]).radius_secret_enc) == "rotated-1"
    log = ok(api.get(f"/admin/audit?entity_id={gw['id']}", manager))["items"]
    assert log[0]["after"]["credentials_changed"] == ["radius_secret"] and "rotated-1" not in str(log)


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"min_split_time_min": 4}, "min_split_time_min"),
        ({"min_split_data_mb": 9}, "min_split_data_mb"),
        ({"max_devices": 2, "concurrent_connections": 3}, "concurrent_connections"),
        ({"burst": {"download_limit": 30_000_000}}, "burst.upload_limit"),
        (
            {
                "burst": {
                    "download_limit": 10_000_000,
                    "upload_limit": 8_000_000,
                    "download_threshold": 1,
                    "upload_threshold": 1,
                    "download_time": 10,
                    "upload_time": 10,
                }
            },
            "burst.download_limit",
        ),
        ({"schedule": {"1": [8, 24]}}, "schedule.1.1"),
        ({"schedule": {"8": [1]}}, "schedule.8.[key]"),
        ({"first_day_of_week": 8}, "first_day_of_week"),
        ({"reply_attributes": [{"name": "Session-Timeout", "value": "abc"}]}, "reply_attributes.0.value"),
        (
            {"reply_attributes": [{"name": "Framed-IP-Address", "value": "300.1.1.1"}]},
            "reply_attributes.0.value",
        ),
        ({"reply_attributes": [{"name": "No-Such-Attribute", "value": "1"}]}, "reply_attributes.0.name"),
        ({"reply_attributes": [{"name": "User-Password", "value": "x"}]}, "reply_attributes.0.name"),
        (
            {"check_attributes": [{"name": "Simultaneous-Use", "op": "=", "value": 1}]},
            "check_attributes.0.op",
        ),
        (
            {"modulation": {"algorithm": "linear", "traffic_type": "separate", "max_download_mb": 100}},
            "modulation.max_upload_mb",
        ),
        (
            {"modulation": {"algorithm": "linear", "period": "hours", "max_total_mb": 100}},
            "modulation.period_hours",
        ),
    ],
)
def test_policy_validation_names_the_field(api: Api, manager, patch, field):
    resp = api.post("/admin/policies", manager, {**POLICY, **patch})
    e = err(resp, 422)
    assert e["field"] == field, e


def test_policy_normalisation_and_valid_s6_fields(api: Api, manager):
    body = {
        **POLICY,
        "interim_update_s": 60,
        "max_devices": 3,
        "concurrent_connections": 3,
        "split_credits": True,
        "min_split_time_min": 5,
        "min_split_data_mb": 10,
        "first_day_of_week": 1,
        "schedule": {"1": [8, 9, 10], "7": []},
        "burst": {
            "download_limit": 30_000_000,
            "upload_limit": 8_000_000,
            "download_threshold": 15_000_000,
            "upload_threshold": 4_000_000,
            "download_time": 16,
            "upload_time": 16,
        },
        "modulation": {
            "algorithm": "linear",
            "activate_hour": 8,
            "deactivate_hour": 20,
            "period": "hours",
            "period_hours": 6,
            "traffic_type": "total",
            "max_total_mb": 2000,
            "min_download_rate": 2_000_000,
            "min_upload_rate": 1_000_000,
        },
        "check_attributes": [{"name": "Simultaneous-Use", "op": ":=", "value": 2}],
        "reply_attributes": [
            {"name": "Mikrotik-Address-List", "value": "vip"},
            {"name": "Service-Type", "value": "Framed-User"},
            {"name": "Framed-IP-Address", "value": "10.0.0.5"},
        ],
        "daily_time_min": 120,
        "monthly_data_mb": 50_000,
        "address_list": "clients",
    }
    pol = ok(api.post("/admin/policies", manager, body), 201)
    assert pol["interim_update_s"] == 300  # normalised
    assert pol["burst"]["download_time"] == 16 and pol["schedule"] == {"1": [8, 9, 10], "7": []}
    assert pol["check_attributes"] == [{"name": "Simultaneous-Use", "op": ":=", "value": "2"}]
    # a PATCH is validated against the merged record
    err(api.patch(f"/admin/policies/{pol['id']}", manager, {"max_devices": 2}), 422, "concurrent_connections")
    # removing burst with null is allowed; clearing a required field is not
    assert ok(api.patch(f"/admin/policies/{pol['id']}", manager, {"burst": None}))["burst"] is None
    err(api.patch(f"/admin/policies/{pol['id']}", manager, {"code": None}), 422, "code")


def test_catalogue_defined_above_is_usable_below_but_read_only(api: Api, admin, manager, demo):
    # Given a system-level policy and product
    pol = ok(api.post("/admin/policies", admin, {**POLICY, "code": "SYS-1"}), 201)
    assert pol["tenant_id"] == demo.system_id
    prod = ok(
        api.post("/admin/products", admin, {"name": "System 20M", "policy_id": pol["id"], "price": "30"}), 201
    )
    # The manager sees and reads them, and uses them for its own product and subscriber
    assert pol["id"] in {p["id"] for p in ok(api.get("/admin/policies", manager))}
    ok(api.get(f"/admin/products/{prod['id']}", manager))
    own = ok(
        api.post("/admin/products", manager, {"name": "Mine", "policy_id": pol["id"], "price": "12.50"}), 201
    )
    assert own["tenant_id"] == demo.tenant_id
    ok(api.post("/admin/subscribers", manager, {"username": "uses-sys", "product_id": prod["id"]}), 201)
    # but cannot change or delete them
    err(api.patch(f"/admin/policies/{pol['id']}", manager, {"description": "x"}), 403)
    err(api.delete(f"/admin/products/{prod['id']}", manager), 403)
    # a policy in use by a product cannot be deleted
    err(api.delete(f"/admin/policies/{pol['id']}", admin), 409)
    # include_inherited=false lists only the manager's own
    mine = ok(api.get("/admin/products?include_inherited=false", manager))
    assert {p["tenant_id"] for p in mine} == {demo.tenant_id}


def test_product_validation(api: Api, manager, demo):
    err(api.post("/admin/products", manager, {"name": "p", "price": "-1"}), 422, "price")
    err(api.post("/admin/products", manager, {"name": "p", "price": "1.123456"}), 422, "price")
    err(api.post("/admin/products", manager, {"name": "p", "policy_id": "pol_nope"}), 404, "policy_id")
    p = ok(
        api.post(
            "/admin/products",
            manager,
            {
                "name": "Card 1h",
                "price": "1",
                "cost": "0.40",
                "time_credit_min": 60,
                "validity_days": 30,
                "connection_type": "hotspot",
            },
        ),
        201,
    )
    assert p["cost"] == "0.40" and p["time_credit_min"] == 60
    ok(api.patch(f"/admin/products/{p['id']}", manager, {"price": "1.50"}))
    ok(api.delete(f"/admin/products/{p['id']}", manager))
