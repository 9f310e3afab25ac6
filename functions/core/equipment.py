"""A subscriber's equipment data (the ``advanced`` attribute): the antenna and the Wi-Fi modem (model,
serial, MAC, management IP, user, passwords), free notes, and the router's ARP binding.

Passwords are kept encrypted at rest (``password_enc``, ``wifi_password_enc``), shown by reads only as
set or not, listed by name in the audit log, and given in clear only by the equipment-secrets read.

Equipment data recorded before it had a shape (a free-form map) is read as it is: its keys are kept
under ``other``, except the values of password-like keys (``clave_wifi``, ``router.pass``), which are
withheld like the passwords of the shape and stored encrypted (``other_enc``) when the data is next
written. Reading never fails on a stored map, whatever it holds."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.lifecycle import normalise_mac

Crypt = Callable[[str], str]

TEXT_FIELDS = ("model", "serial", "mac", "ip", "user")
# each piece of equipment: its text fields and its password fields
SECTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "antenna": (TEXT_FIELDS, ("password",)),
    "modem": ((*TEXT_FIELDS, "wifi_ssid"), ("password", "wifi_password")),
}
OTHER = "other"  # secret paths of the free-form data of before start with "other."
_SECRET_PARTS = ("pass", "pwd", "secret", "clave", "contrase", "psk", "token", "credential", "wpa")
_SECRET_WORDS = frozenset({"pin", "key", "pw", "wep"})
_GONE = object()


def looks_secret(key: str) -> bool:
    """Whether a free-form key names a password, a key or a PIN (``wifi_pass``, ``clave``, ``psk``)."""
    k = key.lower()
    words = set(re.split(r"[^a-z0-9]+", k))
    return any(p in k for p in _SECRET_PARTS) or bool(_SECRET_WORDS & words) or k.endswith("key")


@dataclass
class Secret:
    """One password: encrypted (as stored), or in clear (typed now, or stored in clear before)."""

    enc: str | None = None
    plain: str | None = None

    def reveal(self, decrypt: Crypt) -> str:
        return self.plain if self.plain is not None else decrypt(str(self.enc))

    def at_rest(self, encrypt: Crypt) -> str:
        return self.enc if self.enc is not None else encrypt(str(self.plain))


@dataclass
class Equipment:
    sections: dict[str, dict[str, str]] = field(default_factory=dict)
    secrets: dict[str, Secret] = field(default_factory=dict)  # by path: "antenna.password"
    notes: str | None = None
    arp: dict[str, Any] | None = None
    other: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- reading what is stored
def read(raw: Mapping[str, Any] | None) -> Equipment:
    """The equipment of a stored map (the shape, or free-form data of before)."""
    eq = Equipment()
    for key, value in (raw or {}).items() if isinstance(raw, Mapping) else ():
        key = str(key)
        if key in SECTIONS and isinstance(value, Mapping):
            _read_section(eq, key, value)
        elif key == "notes" and isinstance(value, str):
            eq.notes = value or None
        elif key == "arp" and isinstance(value, Mapping):
            eq.arp = dict(value)
        elif key == OTHER and isinstance(value, Mapping):
            for k, v in value.items():
                _read_other(eq, str(k), v)
        elif key == f"{OTHER}_enc" and isinstance(value, Mapping):
            for k, v in value.items():
                eq.secrets[f"{OTHER}.{k}"] = Secret(enc=v) if isinstance(v, str) else Secret(plain=_text(v))
        else:
            _read_other(eq, key, value)
    return eq


def _read_section(eq: Equipment, name: str, value: Mapping[str, Any]) -> None:
    text, secret_fields = SECTIONS[name]
    for k, v in value.items():
        k = str(k)
        base = k.removesuffix("_enc")
        if v is None or v == "":
            continue
        if k in text and isinstance(v, (str, int, float)) and not isinstance(v, bool):
            eq.sections.setdefault(name, {})[k] = str(v)
        elif k != base and base in secret_fields and isinstance(v, str):
            eq.secrets[f"{name}.{base}"] = Secret(enc=v)
        elif k in secret_fields:
            eq.secrets[f"{name}.{k}"] = Secret(plain=_text(v))  # stored in clear before
        else:
            _read_other(eq, f"{name}.{k}", v)


def _read_other(eq: Equipment, key: str, value: Any) -> None:
    clean, found = _withhold(key, value)
    if clean is not _GONE:
        eq.other[key] = clean
    for path, plain in found.items():
        eq.secrets[f"{OTHER}.{path}"] = Secret(plain=plain)


def _withhold(path: str, value: Any) -> tuple[Any, dict[str, str]]:
    """A free-form value without its password-like entries, and those entries by path."""
    if looks_secret(path.rsplit(".", 1)[-1]) and value not in (None, "", {}, []):
        return _GONE, {path: _text(value)}
    found: dict[str, str] = {}
    if isinstance(value, Mapping):
        clean: dict[str, Any] = {}
        for k, v in value.items():
            c, f = _withhold(f"{path}.{k}", v)
            found.update(f)
            if c is not _GONE:
                clean[str(k)] = c
        return clean, found
    if isinstance(value, list):
        items = []
        for i, v in enumerate(value):
            c, f = _withhold(f"{path}.{i}", v)
            found.update(f)
            items.append(None if c is _GONE else c)
        return items, found
    return value, found


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


# ---------------------------------------------------------------- views
def public(eq: Equipment) -> dict[str, Any]:
    """As reads and lists show it: passwords only as set or not."""
    out: dict[str, Any] = {}
    for name, (text, secret_fields) in SECTIONS.items():
        fields = eq.sections.get(name, {})
        paths = [f"{name}.{s}" for s in secret_fields]
        if not fields and not any(p in eq.secrets for p in paths):
            out[name] = None
            continue
        out[name] = {f: fields.get(f) for f in text} | {
            f"{s}_set": p in eq.secrets for s, p in zip(secret_fields, paths, strict=True)
        }
    prefix = f"{OTHER}."
    withheld = sorted(p.removeprefix(prefix) for p in eq.secrets if p.startswith(prefix))
    return out | {"notes": eq.notes, "arp": eq.arp, "other": eq.other, "other_withheld": withheld}


def audit_view(eq: Equipment) -> dict[str, Any]:
    """As the audit log keeps it: the passwords that are set, by name (never a value)."""
    out: dict[str, Any] = {name: dict(eq.sections[name]) for name in SECTIONS if name in eq.sections}
    if eq.notes:
        out["notes"] = eq.notes
    if eq.arp is not None:
        out["arp"] = eq.arp
    if eq.other:
        out["other"] = eq.other
    if eq.secrets:
        out["credentials"] = sorted(eq.secrets)
    return out


def revealed(eq: Equipment, decrypt: Crypt) -> dict[str, Any]:
    """Every password in clear (the equipment-secrets read); None where none is set."""
    out: dict[str, Any] = {}
    for name, (_, secret_fields) in SECTIONS.items():
        out[name] = {}
        for s in secret_fields:
            secret = eq.secrets.get(f"{name}.{s}")
            out[name][s] = secret.reveal(decrypt) if secret else None
    prefix = f"{OTHER}."
    out[OTHER] = {
        p.removeprefix(prefix): s.reveal(decrypt)
        for p, s in sorted(eq.secrets.items())
        if p.startswith(prefix)
    }
    return out


# ---------------------------------------------------------------- writing
def stored(eq: Equipment, encrypt: Crypt) -> dict[str, Any]:
    """The map to store: every password encrypted."""
    out: dict[str, Any] = {}
    for name, (_, secret_fields) in SECTIONS.items():
        section: dict[str, Any] = dict(eq.sections.get(name, {}))
        for s in secret_fields:
            secret = eq.secrets.get(f"{name}.{s}")
            if secret is not None:
                section[f"{s}_enc"] = secret.at_rest(encrypt)
        if section:
            out[name] = section
    if eq.notes:
        out["notes"] = eq.notes
    if eq.arp is not None:
        out["arp"] = eq.arp
    if eq.other:
        out[OTHER] = eq.other
    prefix = f"{OTHER}."
    kept = {p.removeprefix(prefix): s.at_rest(encrypt) for p, s in eq.secrets.items() if p.startswith(prefix)}
    if kept:
        out[f"{OTHER}_enc"] = kept
    return out


def has_clear_secrets(raw: Mapping[str, Any] | None) -> bool:
    """Whether a stored map holds a password in clear (free-form data of before)."""
    return any(s.plain is not None for s in read(raw).secrets.values())


def edited(
    raw: Mapping[str, Any] | None, sent: Mapping[str, Any] | None, decrypt: Crypt
) -> tuple[Equipment, list[str]]:
    """The equipment after an edit, and the passwords it set, changed or removed (by path).

    ``sent`` replaces the antenna, the modem and the notes (null: all of the equipment data, the
    fields of before included); in a piece of equipment sent, a password left out or null is kept,
    an empty one is removed. The router's ARP binding is kept, and so are the fields of before."""
    old = read(raw)
    new = Equipment(arp=old.arp)
    if sent is not None:
        new.other = old.other
        new.secrets = {p: s for p, s in old.secrets.items() if p.startswith(f"{OTHER}.")}
        for name in SECTIONS:
            given = sent.get(name)
            if isinstance(given, Mapping):
                _edit_section(old, new, name, given, decrypt)
        new.notes = sent.get("notes") or None
    paths = set(old.secrets) | set(new.secrets)
    changed = sorted(p for p in paths if old.secrets.get(p) is not new.secrets.get(p))
    return new, changed


def _edit_section(
    old: Equipment, new: Equipment, name: str, given: Mapping[str, Any], decrypt: Crypt
) -> None:
    text, secret_fields = SECTIONS[name]
    fields = {f: str(given[f]) for f in text if given.get(f) not in (None, "")}
    if "mac" in fields:
        fields["mac"] = normalise_mac(fields["mac"], f"advanced.{name}.mac")
    if fields:
        new.sections[name] = fields
    for s in secret_fields:
        path, value, before = f"{name}.{s}", given.get(s), old.secrets.get(f"{name}.{s}")
        if value is None:
            if before is not None:
                new.secrets[path] = before
        elif value != "":
            same = before is not None and before.reveal(decrypt) == value
            new.secrets[path] = before if same and before is not None else Secret(plain=str(value))
