"""Equipment data: any stored map reads without failing, a password never reaches a view, and writing
what was read keeps every field with the passwords encrypted."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core import equipment

SECRET = "S3cr3t-Value-0042"


def _encrypt(plain: str) -> str:
    return "enc:" + plain[::-1]


def _decrypt(token: str) -> str:
    return token[4:][::-1] if token.startswith("enc:") else f"unreadable {token}"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
keys = st.sampled_from(
    ["antenna", "modem", "notes", "arp", "other", "other_enc", "wifi", "pass", "x"]
) | st.text(max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, json_values, max_size=6))
def test_any_stored_map_is_read_and_written_again_without_loss(raw: dict[str, Any]) -> None:
    eq = equipment.read(raw)
    shown = equipment.public(eq)
    json.dumps(shown) and json.dumps(equipment.audit_view(eq))
    again = equipment.read(equipment.stored(eq, _encrypt))
    assert equipment.public(again) == shown
    assert equipment.revealed(again, _decrypt) == equipment.revealed(eq, _decrypt)
    assert not equipment.has_clear_secrets(equipment.stored(eq, _encrypt))


def test_password_like_free_form_values_are_withheld_at_any_depth() -> None:
    raw = {
        "wifi": {"ssid": "Casa", "WPA_Key": SECRET},
        "devices": [{"name": "cpe", "pwd": SECRET}],
        "Contraseña": SECRET,
        "pin": 1234,
        "antenna": {"model": "LBE", "pass": SECRET, "password": SECRET},
    }
    eq = equipment.read(raw)
    shown = equipment.public(eq)
    assert SECRET not in json.dumps(shown) and "1234" not in json.dumps(shown)
    assert SECRET not in json.dumps(equipment.audit_view(eq))
    assert shown["other"] == {"wifi": {"ssid": "Casa"}, "devices": [{"name": "cpe"}]}
    assert shown["other_withheld"] == ["Contraseña", "antenna.pass", "devices.0.pwd", "pin", "wifi.WPA_Key"]
    assert shown["antenna"]["model"] == "LBE" and shown["antenna"]["password_set"] is True
    assert equipment.revealed(eq, _decrypt)["other"]["pin"] == "1234"


def test_an_edit_names_the_passwords_it_changes() -> None:
    raw = equipment.stored(
        equipment.edited(None, {"modem": {"password": "a", "wifi_password": "b"}}, _decrypt)[0], _encrypt
    )
    eq, changed = equipment.edited(raw, {"modem": {"password": "a", "wifi_password": ""}}, _decrypt)
    assert changed == ["modem.wifi_password"]
    assert equipment.stored(eq, _encrypt) == {"modem": {"password_enc": raw["modem"]["password_enc"]}}
    assert equipment.edited(raw, {}, _decrypt)[1] == ["modem.password", "modem.wifi_password"]
