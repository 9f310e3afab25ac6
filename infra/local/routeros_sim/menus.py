"""The menus the simulated router keeps (their fields, defaults, unique keys) and how RouterOS
normalises the values it prints; the trap and fatal answers."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

# ---------------------------------------------------------------- value normalisation (as RouterOS prints)

_BOOL = {"yes": "true", "true": "true", "no": "false", "false": "false"}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)\s*$")


class ValueError_(Exception):
    """A value RouterOS would reject (``invalid value for argument``)."""


def _rate(text: str) -> str:
    m = _RATE.match(text)
    if not m:
        raise ValueError_(text)
    mult = {"": 1, "k": 1000, "m": 1_000_000, "g": 1_000_000_000}[m.group(2).lower()]
    return str(round(float(m.group(1)) * mult))


def _pair(text: str, one: Callable[[str], str]) -> str:
    parts = text.split("/")
    if len(parts) == 1:
        parts = [parts[0], parts[0]]
    if len(parts) != 2:
        raise ValueError_(text)
    return "/".join(one(p) for p in parts)


def _seconds(text: str) -> str:
    t = text.strip()
    if t.isdigit():
        return f"{int(t)}s"
    if re.fullmatch(r"(\d+[wdhms])+", t):
        return t
    raise ValueError_(text)


def _ip(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text.strip()))
    except ValueError as exc:
        raise ValueError_(text) from exc


def _ip_or_net(text: str) -> str:
    t = text.strip()
    try:
        net = ipaddress.IPv4Network(t, strict=False)
    except ValueError:
        if re.fullmatch(r"[A-Za-z0-9.-]+", t):
            return t  # a DNS name (address lists accept them)
        raise ValueError_(text) from None
    return str(net.network_address) if net.prefixlen == 32 else str(net)


def _target(text: str) -> str:
    out = []
    for part in text.split(","):
        p = part.strip()
        try:
            net = ipaddress.IPv4Network(p, strict=False)
            out.append(f"{net.network_address}/{net.prefixlen}")
        except ValueError:
            out.append(p)  # an interface name
    return ",".join(out)


def _mac(text: str) -> str:
    t = text.strip().upper().replace("-", ":")
    if not re.fullmatch(r"([0-9A-F]{2}:){5}[0-9A-F]{2}", t):
        raise ValueError_(text)
    return t


def _bool(text: str) -> str:
    v = _BOOL.get(text.strip().lower())
    if v is None:
        raise ValueError_(text)
    return v


NORMALISE: dict[str, Callable[[str], str]] = {
    "disabled": _bool,
    "max-limit": lambda v: _pair(v, _rate),
    "limit-at": lambda v: _pair(v, _rate),
    "burst-limit": lambda v: _pair(v, _rate),
    "burst-threshold": lambda v: _pair(v, _rate),
    "burst-time": lambda v: _pair(v, _seconds),
    "mac-address": _mac,
}

NORMALISE_PER_MENU: dict[str, dict[str, Callable[[str], str]]] = {
    "/ppp/secret": {"remote-address": _ip, "local-address": _ip},
    "/ip/hotspot/user": {"address": _ip},
    "/queue/simple": {"target": _target},
    "/ip/firewall/address-list": {"address": _ip_or_net},
    "/ip/arp": {"address": _ip},
}


# ---------------------------------------------------------------- menus


@dataclass(frozen=True)
class MenuSpec:
    fields: frozenset[str]
    defaults: dict[str, str] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    unique: tuple[str, ...] = ()  # the combination must be unique
    unique_message: str = "failure: already have such entry"
    read_only: bool = False  # rows appear from the router itself (active sessions): print / remove
    singleton: bool = False
    ordered: bool = False  # rules: add accepts place-before
    auto_name: str | None = None  # prefix of generated names ("queue1")


_COMMON = {"comment", "disabled"}


def _spec(fields: Iterable[str], **kw: Any) -> MenuSpec:
    return MenuSpec(fields=frozenset(fields) | _COMMON, **kw)


_RULE_FIELDS = {
    "chain",
    "action",
    "src-address",
    "dst-address",
    "src-address-list",
    "dst-address-list",
    "protocol",
    "src-port",
    "dst-port",
    "in-interface",
    "out-interface",
    "in-interface-list",
    "out-interface-list",
    "connection-state",
    "jump-target",
    "reject-with",
    "log",
    "log-prefix",
    "to-addresses",
    "to-ports",
}

MENUS: dict[str, MenuSpec] = {
    "/ppp/secret": _spec(
        {
            "name",
            "password",
            "profile",
            "service",
            "local-address",
            "remote-address",
            "caller-id",
            "routes",
            "limit-bytes-in",
            "limit-bytes-out",
            "ipv6-routes",
        },
        defaults={
            "service": "any",
            "profile": "default",
            "password": "",
            "caller-id": "",
            "routes": "",
            "limit-bytes-in": "0",
            "limit-bytes-out": "0",
            "disabled": "false",
        },
        required=("name",),
        unique=("name",),
        unique_message="failure: secret with the same name already exists",
    ),
    "/ppp/active": _spec(
        {
            "name",
            "service",
            "caller-id",
            "address",
            "uptime",
            "encoding",
            "session-id",
            "radius",
            "limit-bytes-in",
            "limit-bytes-out",
        },
        defaults={"service": "pppoe", "uptime": "0s", "radius": "false", "encoding": ""},
        read_only=True,
    ),
    "/ppp/profile": _spec(
        {
            "name",
            "local-address",
            "remote-address",
            "rate-limit",
            "address-list",
            "only-one",
            "dns-server",
            "parent-queue",
            "change-tcp-mss",
            "use-encryption",
            "incoming-filter",
            "outgoing-filter",
        },
        defaults={"only-one": "default", "change-tcp-mss": "yes", "use-encryption": "default"},
        required=("name",),
        unique=("name",),
        unique_message="failure: profile with the same name already exists",
    ),
    "/ip/hotspot/user": _spec(
        {
            "name",
            "password",
            "server",
            "profile",
            "address",
            "mac-address",
            "email",
            "limit-uptime",
            "limit-bytes-in",
            "limit-bytes-out",
            "limit-bytes-total",
            "routes",
        },
        defaults={
            "server": "all",
            "profile": "default",
            "password": "",
            "uptime": "0s",
            "bytes-in": "0",
            "bytes-out": "0",
            "packets-in": "0",
            "packets-out": "0",
            "dynamic": "false",
            "disabled": "false",
        },
        required=("name",),
        unique=("name",),
        unique_message="failure: already have user with this name for this server",
    ),
    "/ip/hotspot/active": _spec(
        {
            "server",
            "user",
            "address",
            "mac-address",
            "login-by",
            "uptime",
            "session-time-left",
            "idle-time",
            "bytes-in",
            "bytes-out",
            "radius",
        },
        defaults={"server": "hotspot1", "login-by": "http-chap", "uptime": "0s", "radius": "false"},
        read_only=True,
    ),
    "/ip/hotspot/user/profile": _spec(
        {
            "name",
            "rate-limit",
            "shared-users",
            "address-list",
            "session-timeout",
            "idle-timeout",
            "keepalive-timeout",
            "status-autorefresh",
            "transparent-proxy",
            "address-pool",
            "parent-queue",
        },
        defaults={"shared-users": "1", "status-autorefresh": "1m", "transparent-proxy": "false"},
        required=("name",),
        unique=("name",),
        unique_message="failure: profile with the same name already exists",
    ),
    "/queue/simple": _spec(
        {
            "name",
            "target",
            "dst",
            "max-limit",
            "limit-at",
            "burst-limit",
            "burst-threshold",
            "burst-time",
            "priority",
            "parent",
            "queue",
            "packet-marks",
            "time",
            "bucket-size",
        },
        defaults={
            "max-limit": "0/0",
            "limit-at": "0/0",
            "burst-limit": "0/0",
            "burst-threshold": "0/0",
            "burst-time": "0s/0s",
            "priority": "8/8",
            "parent": "none",
            "queue": "default-small/default-small",
            "bucket-size": "0.1/0.1",
            "dynamic": "false",
            "invalid": "false",
            "disabled": "false",
        },
        required=("target",),
        unique=("name",),
        unique_message="failure: already have such name",
        auto_name="queue",
    ),
    "/ip/firewall/address-list": _spec(
        {"list", "address", "timeout"},
        defaults={"dynamic": "false", "creation-time": "2026-01-01 00:00:00", "disabled": "false"},
        required=("list", "address"),
        unique=("list", "address"),
    ),
    "/ip/firewall/filter": _spec(
        _RULE_FIELDS,
        defaults={
            "action": "accept",
            "log": "false",
            "dynamic": "false",
            "invalid": "false",
            "disabled": "false",
        },
        required=("chain",),
        ordered=True,
    ),
    "/ip/firewall/nat": _spec(
        _RULE_FIELDS,
        defaults={
            "action": "accept",
            "log": "false",
            "dynamic": "false",
            "invalid": "false",
            "disabled": "false",
        },
        required=("chain",),
        ordered=True,
    ),
    "/ip/arp": _spec(
        {"address", "mac-address", "interface", "published", "arp-authenticated"},
        defaults={
            "published": "false",
            "dynamic": "false",
            "invalid": "false",
            "DHCP": "false",
            "complete": "true",
            "disabled": "false",
        },
        required=("address", "interface"),
        unique=("address", "interface"),
        unique_message="failure: already have static entry for this address",
    ),
    "/system/identity": _spec({"name"}, defaults={"name": "MikroTik"}, singleton=True),
    "/system/resource": _spec(
        {"uptime", "version", "board-name", "cpu-load", "free-memory", "total-memory", "architecture-name"},
        defaults={
            "uptime": "1d2h3m4s",
            "version": "7.18.2 (stable)",
            "board-name": "hEX",
            "cpu-load": "3",
            "free-memory": "200000000",
            "total-memory": "268435456",
            "architecture-name": "mmips",
        },
        singleton=True,
        read_only=True,
    ),
}

PRINT_ARGS = {".proplist", "detail", "count-only", "without-paging", "terse", "stats", "brief", "follow"}


class Trap(Exception):
    def __init__(self, message: str, category: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.category = category


class Fatal(Exception):
    pass
