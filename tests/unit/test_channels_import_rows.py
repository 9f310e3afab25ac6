"""Pure checks of imported subscriber rows (core.import_rows): one case per rule."""

from __future__ import annotations

import pytest

from core import import_rows as r
from core.errors import ValidationError

SNAP = r.TenantSnapshot(
    products=[
        r.CatalogItem("prod_10", "Home 10M", "H10", connection_type="pppoe"),
        r.CatalogItem("prod_hs", "Hotspot day", connection_type="hotspot"),
        r.CatalogItem("prod_a", "Twin"),
        r.CatalogItem("prod_b", "Twin"),
    ],
    zones=[r.CatalogItem("zone_c", "Centro"), r.CatalogItem("zone_n", "Norte")],
    gateways=[r.CatalogItem("gw_1", "Torre 1", zone_id="zone_c", connection_type="pppoe")],
    usernames={"taken"},
    ips={"10.0.0.9": "taken"},
    existing={
        "taken": {
            "id": "sub_t",
            "product_id": "prod_10",
            "zone_id": "zone_c",
            "gateway_id": None,
            "ip": "10.0.0.9",
            "name": "Old",
        }
    },
)


def _create(**cols: str) -> r.RowCheck:
    return r.check_create_rows([(2, {"username": "ana", "plan": "Home 10M", **cols})], SNAP)[0]


@pytest.mark.parametrize(
    ("cols", "field", "reason"),
    [
        ({"username": ""}, "username", "missing"),
        ({"plan": ""}, "plan", "missing"),
        ({"username": "Taken"}, "username", "username already exists in the system"),
        ({"username": "has space"}, "username", "must be 1-64 characters"),
        ({"plan": "Gold"}, "plan", "unknown plan 'Gold'"),
        ({"plan": "Twin"}, "plan", "plan 'Twin' is ambiguous"),
        ({"zone": "Sur"}, "zone", "unknown zone 'Sur'"),
        ({"gateway": "Torre 9"}, "gateway", "unknown gateway 'Torre 9'"),
        ({"gateway": "Torre 1", "zone": "Norte"}, "zone", "gateway 'Torre 1' is not in this zone"),
        (
            {"gateway": "Torre 1", "connection_type": "hotspot"},
            "connection_type",
            "router 'Torre 1' serves pppoe",
        ),
        ({"ip": "10.0.0.256"}, "ip", "not a valid IPv4 address"),
        ({"ip": "10.0.0.9"}, "ip", "IP already assigned to taken"),
        ({"mac": "zz"}, "mac", "must be a MAC address"),
        ({"email": "nope"}, "email", "not an e-mail address"),
        ({"phone": "12"}, "phone", "not a phone number"),
        ({"password": "ab"}, "password", "must be 4 to 64 characters"),
        ({"connection_type": "fiber"}, "connection_type", "unknown connection type"),
        ({"status": "cancelled"}, "status", "status must be one of"),
        ({"installed_at": "ayer"}, "installed_at", "must be a date"),
    ],
)
def test_each_bad_value_is_named_with_its_reason(cols: dict[str, str], field: str, reason: str) -> None:
    check = _create(**cols)
    assert [e.field for e in check.errors] == [field]
    assert check.errors[0].reason.startswith(reason)


def test_a_good_row_is_normalised() -> None:
    check = _create(
        plan="h10",
        gateway="torre 1",
        ip=" 10.0.0.1 ",
        mac="aa-bb-cc-dd-ee-ff",
        email="A@B.co",
        status="Active",
    )
    assert check.ok
    assert check.values == {
        "username": "ana",
        "product_id": "prod_10",
        "gateway_id": "gw_1",
        "zone_id": "zone_c",
        "ip": "10.0.0.1",
        "mac": "AA:BB:CC:DD:EE:FF",
        "email": "a@b.co",
        "status": "active",
        "connection_type": "pppoe",
    }
    # without a router the product's connection type applies
    assert _create(plan="Hotspot day").values["connection_type"] == "hotspot"


def test_duplicates_in_the_file_name_the_first_row() -> None:
    rows = [
        (2, {"username": "Ana", "plan": "H10", "ip": "10.0.0.1"}),
        (3, {"username": "ana", "plan": "H10", "ip": "10.0.0.2"}),
        (4, {"username": "beto", "plan": "H10", "ip": "10.0.0.1"}),
    ]
    checks = r.check_create_rows(rows, SNAP)
    assert checks[0].ok
    assert [e.reason for e in checks[1].errors] == ["duplicate username in the file (first on row 2)"]
    assert [e.reason for e in checks[2].errors] == ["duplicate IP in the file (first on row 2)"]
    assert r.summary(checks) == {"rows": 3, "valid": 1, "invalid": 2}


def test_headers_map_spanish_and_english_names() -> None:
    h = r.map_headers(["Usuario", "Contraseña", "Teléfono Móvil", "Plan", "Notas", None, ""])
    assert h.columns == {0: "username", 1: "password", 3: "plan"} and h.ignored == ["Teléfono Móvil", "Notas"]
    with pytest.raises(ValidationError, match="username column"):
        r.map_headers(["name", "phone"])
    with pytest.raises(ValidationError, match="both give username"):
        r.map_headers(["user", "usuario"])
    assert r.cell_text(12.0) == "12" and r.cell_text(None) == "" and r.cell_text(" x ") == "x"


def test_update_rows_show_before_and_after_of_chosen_columns_only() -> None:
    rows = [
        (
            2,
            {
                "username": "TAKEN",
                "plan": "Hotspot day",
                "name": "New",
                "gateway": "Torre 1",
                "password": "s3cret",
            },
        ),
        (3, {"username": "ghost", "plan": "H10", "name": "", "gateway": "", "password": ""}),
    ]
    ok, missing = r.check_update_rows(rows, SNAP, ["plan", "gateway", "password"])
    assert ok.ok and ok.changes == {
        "product_id": {"before": "prod_10", "after": "prod_hs"},
        "gateway_id": {"before": None, "after": "gw_1"},
        "password": {"before": "***", "after": "***"},
    }
    assert ok.values == {
        "username": "TAKEN",
        "product_id": "prod_hs",
        "gateway_id": "gw_1",
        "password": "s3cret",
    }
    assert [e.reason for e in missing.errors] == ["no subscriber with this username"]
    with pytest.raises(ValidationError):
        r.check_update_rows(rows, SNAP, ["status"])
    with pytest.raises(ValidationError):
        r.check_update_rows(rows, SNAP, [])


def test_moving_to_a_router_of_another_plan_type_needs_the_connection_type_too() -> None:
    snap = r.TenantSnapshot(
        gateways=[r.CatalogItem("gw_1", "Torre 1", zone_id="zone_c", connection_type="pppoe")],
        zones=[r.CatalogItem("zone_c", "Centro")],
        existing={"hs": {"id": "sub_h", "connection_type": "hotspot", "gateway_id": None, "zone_id": None}},
    )
    (alone,) = r.check_update_rows([(2, {"username": "hs", "gateway": "Torre 1"})], snap, ["gateway"])
    assert [e.field for e in alone.errors] == ["gateway"]
    (both,) = r.check_update_rows(
        [(2, {"username": "hs", "gateway": "Torre 1", "connection_type": "pppoe"})],
        snap,
        ["gateway", "connection_type"],
    )
    assert both.ok and both.values["zone_id"] == "zone_c" and both.values["connection_type"] == "pppoe"
