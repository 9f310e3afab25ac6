"""A subscriber's equipment (antenna, Wi-Fi modem, notes) through the admin API: a defined shape whose
errors name the field, passwords encrypted at rest and never shown by reads, lists, exports or the
audit log, and shown in clear only to a manager who asks for them (the read is audited)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from openpyxl import load_workbook

from store.models import Subscriber
from tests.integration.api.support import Api, err, ok, stored

ANTENNA_PASSWORD = "Ant3nna-Admin-771"
MODEM_PASSWORD = "M0dem-Admin-552"
WIFI_PASSWORD = "Wifi-Home-Key-9183"
SECRETS = (ANTENNA_PASSWORD, MODEM_PASSWORD, WIFI_PASSWORD)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

EQUIPMENT = {
    "antenna": {
        "model": "LiteBeam 5AC Gen2",
        "serial": "LB5-2291",
        "mac": "fc:ec:da:01:02:03",
        "ip": "10.20.0.15",
        "user": "ubnt",
        "password": ANTENNA_PASSWORD,
    },
    "modem": {
        "model": "TP-Link Archer C6",
        "serial": "AC6-5521",
        "mac": "50:c7:bf:0a:0b:0c",
        "ip": "192.168.0.1",
        "user": "admin",
        "password": MODEM_PASSWORD,
        "wifi_ssid": "Casa Perez",
        "wifi_password": WIFI_PASSWORD,
    },
    "notes": "Mounted on the north wall; ladder needed.",
}


def _with_equipment(api: Api, who: dict[str, str], username: str = "equip-1") -> dict[str, Any]:
    body = {"username": username, "name": "Ana Perez", "advanced": EQUIPMENT}
    return ok(api.post("/admin/subscribers", who, body), 201)["subscriber"]


def _raw_item(api: Api, sub_id: str) -> dict[str, Any]:
    """The subscriber's item exactly as DynamoDB holds it."""
    client = api.rt.aws.client("dynamodb")
    item = client.get_item(TableName=Subscriber.Meta.table_name, Key={"login": {"S": stored(sub_id).login}})
    return dict(item["Item"])


def _no_secret_in(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{where} holds an equipment password"


def test_equipment_passwords_are_encrypted_at_rest(api: Api, manager, runtime):
    # When an operator records a subscriber's antenna and modem with their passwords
    sub = _with_equipment(api, manager)
    # Then the stored item holds none of the passwords in clear, only their encrypted form
    raw = json.dumps(_raw_item(api, sub["id"]))
    _no_secret_in(raw, "the stored item")
    advanced = stored(sub["id"]).advanced
    assert runtime.box.decrypt(advanced["antenna"]["password_enc"]) == ANTENNA_PASSWORD
    assert runtime.box.decrypt(advanced["modem"]["password_enc"]) == MODEM_PASSWORD
    assert runtime.box.decrypt(advanced["modem"]["wifi_password_enc"]) == WIFI_PASSWORD
    # And the response shows the equipment with the passwords as set, not their values
    shown = sub["advanced"]
    assert shown["antenna"] == {
        "model": "LiteBeam 5AC Gen2",
        "serial": "LB5-2291",
        "mac": "FC:EC:DA:01:02:03",
        "ip": "10.20.0.15",
        "user": "ubnt",
        "password_set": True,
    }
    assert shown["modem"]["wifi_ssid"] == "Casa Perez" and shown["modem"]["wifi_password_set"] is True
    assert shown["notes"] == EQUIPMENT["notes"]
    _no_secret_in(json.dumps(sub), "the create response")


def test_reads_lists_and_exports_never_show_equipment_passwords(api: Api, manager):
    sub = _with_equipment(api, manager)
    reads = {
        "the subscriber read": api.get(f"/admin/subscribers/{sub['id']}", manager),
        "the subscriber list": api.get("/admin/subscribers?q=equip", manager),
        "the dashboard": api.get(f"/admin/subscribers/{sub['id']}/dashboard", manager),
        "the CSV export": api.get("/admin/subscribers/export?q=equip", manager),
    }
    for where, resp in reads.items():
        assert resp.status_code == 200, (where, resp.body[:500])
        _no_secret_in(resp.body.decode("utf-8-sig"), where)
    listed = reads["the subscriber list"].json_body["items"]
    assert [r["advanced"]["antenna"]["password_set"] for r in listed] == [True]
    xlsx = api.get("/admin/subscribers/export?q=equip&format=xlsx", manager, headers={"Accept": XLSX})
    assert xlsx.status_code == 200, xlsx.body[:500]
    sheet = load_workbook(io.BytesIO(xlsx.body)).active
    cells = [str(c) for row in sheet.iter_rows(values_only=True) for c in row]
    _no_secret_in(" ".join(cells), "the XLSX export")


def test_the_audit_log_records_a_password_change_without_the_password(api: Api, manager, demo):
    sub = _with_equipment(api, manager)
    # When the modem's Wi-Fi password is changed, and then the antenna's model alone
    new_wifi = "Wifi-Changed-4410"
    edit = {**EQUIPMENT, "modem": {**EQUIPMENT["modem"], "wifi_password": new_wifi}}
    edit["antenna"] = {k: v for k, v in EQUIPMENT["antenna"].items() if k != "password"}
    out = ok(api.patch(f"/admin/subscribers/{sub['id']}", manager, {"advanced": edit}))
    assert out["changed"] == ["advanced"]
    # Then the audit entry says which password changed, and holds no password, not even encrypted
    entries = ok(api.get(f"/admin/subscribers/{sub['id']}/audit", manager))["items"]
    assert [e["action"] for e in entries] == ["update", "create"]
    assert entries[0]["after"]["credentials_changed"] == ["modem.wifi_password"]
    assert entries[1]["after"]["advanced"]["credentials"] == [
        "antenna.password",
        "modem.password",
        "modem.wifi_password",
    ]
    tenant_log = api.get(f"/admin/audit?tenant_id={demo.tenant_id}&limit=100", manager)
    audit_export = api.get(f"/admin/audit/export?entity_id={sub['id']}", manager)
    for where, text in {
        "the subscriber's history": json.dumps(entries),
        "the tenant's audit log": tenant_log.body.decode(),
        "the audit export": audit_export.body.decode("utf-8-sig"),
    }.items():
        _no_secret_in(text, where)
        assert new_wifi not in text and "v1:" not in text, where


def test_a_password_left_out_of_an_edit_is_kept_and_an_empty_one_removes_it(api: Api, manager, runtime):
    sub = _with_equipment(api, manager)
    path = f"/admin/subscribers/{sub['id']}"
    # An edit that leaves the passwords out (the console's "unchanged") keeps them
    unchanged = {
        "antenna": {"model": "LiteBeam 5AC Gen2", "user": "ubnt"},
        "modem": {"model": "TP-Link Archer C6", "wifi_ssid": "Casa Perez 5G", "password": None},
    }
    shown = ok(api.patch(path, manager, {"advanced": unchanged}))["subscriber"]["advanced"]
    assert shown["antenna"]["password_set"] and shown["modem"]["password_set"]
    assert shown["modem"]["wifi_password_set"] and shown["modem"]["serial"] is None and shown["notes"] is None
    advanced = stored(sub["id"]).advanced
    assert runtime.box.decrypt(advanced["modem"]["wifi_password_enc"]) == WIFI_PASSWORD
    # Sending the same password again is no change
    again = {**unchanged, "antenna": {**unchanged["antenna"], "password": ANTENNA_PASSWORD}}
    assert ok(api.patch(path, manager, {"advanced": again}))["changed"] == []
    # An empty password removes it
    removed = {**unchanged, "modem": {**unchanged["modem"], "wifi_password": ""}}
    shown = ok(api.patch(path, manager, {"advanced": removed}))["subscriber"]["advanced"]
    assert (
        shown["modem"]["wifi_password_set"] is False
        and "wifi_password_enc" not in stored(sub["id"]).advanced["modem"]
    )
    # null removes the equipment data
    assert ok(api.patch(path, manager, {"advanced": None}))["subscriber"]["advanced"]["antenna"] is None


def test_equipment_passwords_are_shown_to_a_manager_and_the_read_is_audited(api: Api, manager, admin, demo):
    sub = _with_equipment(api, manager)
    path = f"/admin/subscribers/{sub['id']}/equipment-secrets"
    # A manager reads them in clear
    assert ok(api.get(path, manager)) == {
        "antenna": {"password": ANTENNA_PASSWORD},
        "modem": {"password": MODEM_PASSWORD, "wifi_password": WIFI_PASSWORD},
        "other": {},
    }
    # And the read is in the subscriber's history, without the values
    entries = ok(api.get(f"/admin/subscribers/{sub['id']}/audit", manager))["items"]
    assert entries[0]["action"] == "read_equipment_secrets" and entries[0]["actor_id"] == demo.operator_id
    _no_secret_in(json.dumps(entries), "the audit log")


@pytest.mark.parametrize("role", ["operator", "read_only"])
def test_equipment_passwords_are_refused_to_lower_roles(api: Api, manager, demo, role):
    sub = _with_equipment(api, manager)
    resp = api.get(f"/admin/subscribers/{sub['id']}/equipment-secrets", api.operator(demo.tenant_id, role))
    err(resp, 403)
    _no_secret_in(resp.body.decode(), "the refusal")


def test_equipment_passwords_of_another_tenant_are_not_found(api: Api, manager, admin, demo):
    sub = _with_equipment(api, manager)
    other = ok(api.post("/admin/tenants", admin, {"name": "Other ISP", "kind": "manager"}), 201)
    resp = api.get(f"/admin/subscribers/{sub['id']}/equipment-secrets", api.operator(other["id"], "manager"))
    err(resp, 404, "subscriber_id")
    _no_secret_in(resp.body.decode(), "the refusal")


@pytest.mark.parametrize(
    "advanced, field",
    [
        ({"antena": {"model": "x"}}, "advanced.antena"),
        ({"antenna": {"mac": "not-a-mac"}}, "advanced.antenna.mac"),
        ({"antenna": {"password": 1234}}, "advanced.antenna.password"),
        ({"antenna": {"pass": "x"}}, "advanced.antenna.pass"),
        ({"modem": {"wifi_ssid": "x" * 33}}, "advanced.modem.wifi_ssid"),
        ({"modem": {"wifi_password": "x" * 129}}, "advanced.modem.wifi_password"),
        ({"notes": 5}, "advanced.notes"),
        ({"wifi_password": "plain"}, "advanced.wifi_password"),
    ],
)
def test_equipment_errors_name_the_field(api: Api, manager, demo, advanced, field):
    err(api.post("/admin/subscribers", manager, {"username": "bad-eq", "advanced": advanced}), 422, field)
    err(api.patch(f"/admin/subscribers/{demo.subscriber_id}", manager, {"advanced": advanced}), 422, field)


LEGACY = {
    "antena_modelo": "NanoStation M5",
    "clave_wifi": "legacy-wifi-3310",
    "router": {"ssid": "Familia", "pass": "legacy-router-7781"},
    "antenna": "Ubiquiti (roof)",
    "arp": {"interface": "ether2", "static": True},
}
LEGACY_SECRETS = ("legacy-wifi-3310", "legacy-router-7781")


def test_free_form_equipment_data_stored_before_is_read_with_its_passwords_withheld(
    api: Api, manager, runtime
):
    # Given a subscriber whose equipment data was stored as a free-form map
    sub = ok(api.post("/admin/subscribers", manager, {"username": "legacy-eq"}), 201)["subscriber"]
    stored(sub["id"]).update(actions=[Subscriber.advanced.set(LEGACY)])
    # When it is read, listed and exported
    read = ok(api.get(f"/admin/subscribers/{sub['id']}", manager))
    listed = api.get("/admin/subscribers?q=legacy", manager)
    # Then the reads work, the fields are shown as they were, and the password-like ones are withheld
    assert read["advanced"]["other"] == {
        "antena_modelo": "NanoStation M5",
        "router": {"ssid": "Familia"},
        "antenna": "Ubiquiti (roof)",
    }
    assert read["advanced"]["other_withheld"] == ["clave_wifi", "router.pass"]
    assert read["advanced"]["arp"] == {"interface": "ether2", "static": True}
    for text in (json.dumps(read), listed.body.decode()):
        assert not any(s in text for s in LEGACY_SECRETS)
    # And a manager reads them with the other equipment passwords
    assert ok(api.get(f"/admin/subscribers/{sub['id']}/equipment-secrets", manager))["other"] == {
        "clave_wifi": "legacy-wifi-3310",
        "router.pass": "legacy-router-7781",
    }
    # And the next edit of the equipment stores them encrypted, keeping the fields of before
    ok(api.patch(f"/admin/subscribers/{sub['id']}", manager, {"advanced": {"notes": "moved to fields"}}))
    raw = json.dumps(_raw_item(api, sub["id"]))
    assert not any(s in raw for s in LEGACY_SECRETS)
    again = ok(api.get(f"/admin/subscribers/{sub['id']}", manager))["advanced"]
    assert again["other_withheld"] == ["clave_wifi", "router.pass"] and again["notes"] == "moved to fields"
    assert again["arp"] == LEGACY["arp"] and again["other"]["antena_modelo"] == "NanoStation M5"
    secrets = ok(api.get(f"/admin/subscribers/{sub['id']}/equipment-secrets", manager))
    assert secrets["other"] == {"clave_wifi": "legacy-wifi-3310", "router.pass": "legacy-router-7781"}
