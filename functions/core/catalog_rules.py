"""Validation rules of the catalogue (SPEC S6 product policies, products, zones, gateways).

Pure functions: they receive the complete record as a dict (after merging a PATCH into the stored
values) and return the normalised dict or raise :class:`ValidationError` naming the field at fault.
Field-level shapes (types, ranges) are also checked at the API edge; the cross-field rules live here
so every caller (API, import, tests) applies the same ones.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import ValidationError
from core.modulation import DEFAULT_PERIOD, LEGACY_PERIODS, MAX_PERIOD_HOURS, PeriodType
from core.radius.checks import PRESENCE_OPS, REGEX_OPS, pattern_error

INTERIM_MIN_S = 300  # lower values are raised to 300 (seed: "Lower values will be automatically converted")
MIN_SPLIT_TIME_MIN = 5
MIN_SPLIT_DATA_MB = 10
MAX_RATE_BPS = 100_000_000_000  # 100 Gbit/s
MAX_MINUTES = 60 * 24 * 366
MAX_MB = 100_000_000  # 100 TB

BURST_FIELDS = (
    "download_limit",
    "upload_limit",
    "download_threshold",
    "upload_threshold",
    "download_time",
    "upload_time",
)
MODULATION_ALGORITHMS = ("disabled", "very_low", "low", "linear", "medium", "high", "min_at_max")
MODULATION_PERIODS = tuple(p.value for p in PeriodType)
MODULATION_TRAFFIC = ("total", "separate", "download", "upload")
CHECK_OPS = ("==", ":=", "!=", ">", ">=", "<", "<=", "=~", "!~", "=*", "!*")
REPLY_OPS = ("=", ":=", "+=")
WEEKDAYS = ("1", "2", "3", "4", "5", "6", "7")  # 1 = Monday … 7 = Sunday
CONNECTION_TYPES = ("pppoe", "hotspot", "simple_queue", "pcq")
VENDORS = ("mikrotik", "cisco_wlc", "meraki", "cloudtrax", "unifi", "ruckus", "other")
BLOCKED_MODES = ("restricted", "reject")


# ---------------------------------------------------------------- RADIUS attribute types
@dataclass(frozen=True)
class AttributeType:
    name: str
    type: str  # string | integer | ipaddr | ipv6addr | ipv6prefix | date | octets | integer64 | byte | short | ...
    values: Mapping[str, int] | None = None  # named VALUEs of an integer attribute


# Used when no dictionary files are available: the attributes operators set by hand most often.
DEFAULT_ATTRIBUTE_TYPES: dict[str, AttributeType] = {
    a.name.lower(): a
    for a in (
        AttributeType("Session-Timeout", "integer"),
        AttributeType("Idle-Timeout", "integer"),
        AttributeType("Acct-Interim-Interval", "integer"),
        AttributeType("Framed-IP-Address", "ipaddr"),
        AttributeType("Framed-IP-Netmask", "ipaddr"),
        AttributeType("Framed-Pool", "string"),
        AttributeType("Framed-Route", "string"),
        AttributeType("Framed-MTU", "integer"),
        AttributeType("Framed-IPv6-Prefix", "ipv6prefix"),
        AttributeType("Delegated-IPv6-Prefix", "ipv6prefix"),
        AttributeType("Filter-Id", "string"),
        AttributeType("Class", "octets"),
        AttributeType("Reply-Message", "string"),
        AttributeType("Calling-Station-Id", "string"),
        AttributeType("Called-Station-Id", "string"),
        AttributeType("NAS-IP-Address", "ipaddr"),
        AttributeType("NAS-Identifier", "string"),
        AttributeType(
            "NAS-Port-Type", "integer", {"Async": 0, "Ethernet": 15, "Wireless-802.11": 19, "Virtual": 5}
        ),
        AttributeType("Service-Type", "integer", {"Login-User": 1, "Framed-User": 2, "Call-Check": 10}),
        AttributeType("Framed-Protocol", "integer", {"PPP": 1, "SLIP": 2}),
        AttributeType("Termination-Action", "integer", {"Default": 0, "RADIUS-Request": 1}),
        AttributeType("Port-Limit", "integer"),
        AttributeType("WISPr-Bandwidth-Max-Up", "integer"),
        AttributeType("WISPr-Bandwidth-Max-Down", "integer"),
        AttributeType("WISPr-Redirection-URL", "string"),
        AttributeType("WISPr-Session-Terminate-Time", "string"),
        AttributeType("Mikrotik-Recv-Limit", "integer"),
        AttributeType("Mikrotik-Xmit-Limit", "integer"),
        AttributeType("Mikrotik-Group", "string"),
        AttributeType("Mikrotik-Rate-Limit", "string"),
        AttributeType("Mikrotik-Realm", "string"),
        AttributeType("Mikrotik-Host-IP", "ipaddr"),
        AttributeType("Mikrotik-Mark-Id", "string"),
        AttributeType("Mikrotik-Advertise-URL", "string"),
        AttributeType("Mikrotik-Advertise-Interval", "integer"),
        AttributeType("Mikrotik-Recv-Limit-Gigawords", "integer"),
        AttributeType("Mikrotik-Xmit-Limit-Gigawords", "integer"),
        AttributeType("Mikrotik-Wireless-PSK", "string"),
        AttributeType("Mikrotik-Total-Limit", "integer"),
        AttributeType("Mikrotik-Total-Limit-Gigawords", "integer"),
        AttributeType("Mikrotik-Address-List", "string"),
        AttributeType("Mikrotik-Wireless-VLANID", "integer"),
        AttributeType("Mikrotik-Delegated-IPv6-Pool", "string"),
        AttributeType("Simultaneous-Use", "integer"),
        AttributeType("Auth-Type", "integer", {"Local": 0, "Reject": 4, "Accept": 254}),
        AttributeType("Expiration", "date"),
        AttributeType("Login-Time", "string"),
    )
}

# Protocol attributes the server computes itself: never configurable as custom check/reply attributes
RESERVED_ATTRIBUTES = frozenset(
    {
        "user-password",
        "chap-password",
        "chap-challenge",
        "message-authenticator",
        "eap-message",
        "state",
        "proxy-state",
        "vendor-specific",
        "ms-chap-challenge",
        "ms-chap-response",
        "ms-chap2-response",
        "ms-chap2-success",
        "ms-chap-error",
        "ms-mppe-send-key",
        "ms-mppe-recv-key",
        "ms-chap-mppe-keys",
    }
)

_ATTR_LINE = re.compile(r"^\s*ATTRIBUTE\s+(\S+)\s+(\S+)\s+(\S+)")
_VALUE_LINE = re.compile(r"^\s*VALUE\s+(\S+)\s+(\S+)\s+(\S+)")


def parse_dictionary(text: str, into: dict[str, AttributeType] | None = None) -> dict[str, AttributeType]:
    """Read ``ATTRIBUTE`` and ``VALUE`` lines of a FreeRADIUS-format dictionary into a type table."""
    table = dict(into or {})
    values: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        m = _ATTR_LINE.match(line)
        if m:
            name, _code, typ = m.groups()
            table[name.lower()] = AttributeType(name, typ.lower())
            continue
        m = _VALUE_LINE.match(line)
        if m:
            attr, vname, num = m.groups()
            try:
                values.setdefault(attr.lower(), {})[vname] = int(num, 0)
            except ValueError:
                continue
    for attr, vals in values.items():
        if attr in table:
            t = table[attr]
            table[attr] = AttributeType(t.name, t.type, {**(t.values or {}), **vals})
    return table


_INTEGER_TYPES = ("integer", "byte", "short", "signed", "integer64", "uint64", "uint32")


def _check_integer(attr: AttributeType, value: str) -> str | None:
    t = attr.type
    if attr.values and value in attr.values:
        return None
    try:
        n = int(value, 10)
    except ValueError:
        named = f" or one of {', '.join(sorted(attr.values))}" if attr.values else ""
        return f"must be an integer{named}"
    bits = {"byte": 8, "short": 16, "integer64": 64, "uint64": 64}.get(t, 32)
    low = -(2**31) if t == "signed" else 0
    high = 2**31 - 1 if t == "signed" else 2**bits - 1
    if not low <= n <= high:
        return f"must be between {low} and {high}"
    return None


def _check_address(attr: AttributeType, value: str) -> str | None:
    version = 6 if attr.type == "ipv6addr" else 4
    try:
        ipaddress.IPv6Address(value) if version == 6 else ipaddress.IPv4Address(value)
    except ValueError:
        return f"must be an IPv{version} address"
    return None


def _check_prefix(attr: AttributeType, value: str) -> str | None:
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return "must be a network prefix like 2001:db8::/48"
    if (attr.type == "ipv6prefix") != (net.version == 6):
        return f"must be an IPv{'6' if attr.type == 'ipv6prefix' else '4'} prefix"
    return None


def _check_date(attr: AttributeType, value: str) -> str | None:
    try:
        if value.isdigit():
            return None
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return "must be a date (ISO-8601 or epoch seconds)"
    return None


def _check_octets(attr: AttributeType, value: str) -> str | None:
    if attr.type == "octets" and value.startswith("0x"):
        try:
            bytes.fromhex(value[2:])
        except ValueError:
            return "must be 0x followed by an even number of hex digits"
        if len(value[2:]) // 2 > 253:
            return "must be at most 253 bytes"
        return None
    if len(value.encode()) > 253:
        return "must be at most 253 bytes"
    return None


def _check_text(attr: AttributeType, value: str) -> str | None:
    """String and anything else carried as text."""
    if len(value.encode()) > 253:
        return "must be at most 253 bytes"
    if "\x00" in value:
        return "must not contain NUL characters"
    return None


_VALUE_CHECKS: dict[str, Callable[[AttributeType, str], str | None]] = {
    **dict.fromkeys(_INTEGER_TYPES, _check_integer),
    **dict.fromkeys(("ipaddr", "ipv4addr", "ipv6addr"), _check_address),
    **dict.fromkeys(("ipv6prefix", "ipv4prefix"), _check_prefix),
    "date": _check_date,
    **dict.fromkeys(("octets", "abinary", "ether", "ifid"), _check_octets),
}


def check_attribute_value(attr: AttributeType, value: str) -> str | None:
    """The reason the value does not fit the attribute's type, or None if it does."""
    return _VALUE_CHECKS.get(attr.type, _check_text)(attr, value)


def check_custom_attributes(
    items: Any, kind: str, dictionary: Mapping[str, AttributeType]
) -> list[dict[str, str]]:
    """Validate check (``kind='check_attributes'``) or reply attributes; returns them normalised."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise ValidationError("must be a list of attributes", field=kind)
    if len(items) > 50:
        raise ValidationError("at most 50 attributes", field=kind)
    ops = CHECK_OPS if kind == "check_attributes" else REPLY_OPS
    default_op = "==" if kind == "check_attributes" else "="
    out = []
    for i, item in enumerate(items):
        where = f"{kind}.{i}"
        if not isinstance(item, Mapping):
            raise ValidationError("must be an object with name and value", field=where)
        name = str(item.get("name") or "").strip()
        attr = dictionary.get(name.lower())
        if name.lower() in RESERVED_ATTRIBUTES:
            raise ValidationError(f"{name} is set by the RADIUS server itself", field=f"{where}.name")
        if attr is None:
            raise ValidationError(f"unknown RADIUS attribute {name!r}", field=f"{where}.name")
        op = str(item.get("op") or default_op)
        if op not in ops:
            raise ValidationError(f"operator must be one of {' '.join(ops)}", field=f"{where}.op")
        value = item.get("value")
        if op in PRESENCE_OPS and value is None:
            value = ""  # presence tests compare no value
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValidationError("must be a string or an integer", field=f"{where}.value")
        text = str(value)
        if op in REGEX_OPS:
            problem = pattern_error(text)
            reason = f"is not a usable regular expression: {problem}" if problem else None
        elif op in PRESENCE_OPS:
            reason = None
        else:
            reason = check_attribute_value(attr, text)
        if reason:
            raise ValidationError(f"{attr.name} ({attr.type}) {reason}", field=f"{where}.value")
        out.append({"name": attr.name, "op": op, "value": text})
    return out


# ---------------------------------------------------------------- policies
def normalise_interim(seconds: int) -> int:
    """Interim-Update below 300 s becomes 300 s."""
    return max(int(seconds), INTERIM_MIN_S)


def _int_field(data: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = data.get(name, 0)
    if value is None:
        value = 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("must be an integer", field=name)
    if not low <= value <= high:
        raise ValidationError(f"must be between {low} and {high}", field=name)
    return value


def check_schedule(schedule: Any) -> dict[str, list[int]] | None:
    """``{"1": [8, 9, ...], ..., "7": [...]}``: the hours (0-23, gateway time zone) login is allowed per
    weekday (1 = Monday); a missing day means no login that day; None means always."""
    if schedule is None:
        return None
    if not isinstance(schedule, Mapping):
        raise ValidationError("must be an object keyed by weekday 1-7", field="schedule")
    out: dict[str, list[int]] = {}
    for day, hours in schedule.items():
        if str(day) not in WEEKDAYS:
            raise ValidationError(f"unknown weekday {day!r}: use 1 (Monday) to 7 (Sunday)", field="schedule")
        if not isinstance(hours, list):
            raise ValidationError("must be a list of hours", field=f"schedule.{day}")
        for h in hours:
            if isinstance(h, bool) or not isinstance(h, int) or not 0 <= h <= 23:
                raise ValidationError(f"hour {h!r} is not between 0 and 23", field=f"schedule.{day}")
        if len(set(hours)) != len(hours):
            raise ValidationError("hours repeat", field=f"schedule.{day}")
        out[str(day)] = sorted(hours)
    return out


def check_burst(burst: Any, download_rate: int, upload_rate: int) -> dict[str, int] | None:
    """All six burst fields or none (seed: "To use the Burst functionalities, you must define all")."""
    if burst is None:
        return None
    if not isinstance(burst, Mapping):
        raise ValidationError("must be an object", field="burst")
    given = {k: v for k, v in burst.items() if v not in (None, 0)}
    if not given:
        return None
    unknown = set(burst) - set(BURST_FIELDS)
    if unknown:
        raise ValidationError(
            f"unknown burst field {sorted(unknown)[0]}", field=f"burst.{sorted(unknown)[0]}"
        )
    for name in BURST_FIELDS:
        if name not in given:
            raise ValidationError(
                "every burst field is required to use burst (or leave all empty)", field=f"burst.{name}"
            )
        v = given[name]
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValidationError("must be a positive integer", field=f"burst.{name}")
    out = {k: int(given[k]) for k in BURST_FIELDS}
    for side, rate in (("download", download_rate), ("upload", upload_rate)):
        if out[f"{side}_limit"] > MAX_RATE_BPS:
            raise ValidationError(f"must be at most {MAX_RATE_BPS}", field=f"burst.{side}_limit")
        if rate and out[f"{side}_limit"] <= rate:
            raise ValidationError(
                f"the burst limit must exceed the {side} rate ({rate})", field=f"burst.{side}_limit"
            )
        if out[f"{side}_threshold"] > out[f"{side}_limit"]:
            raise ValidationError(
                "the threshold must not exceed the burst limit", field=f"burst.{side}_threshold"
            )
        if out[f"{side}_time"] > 86_400:
            raise ValidationError("must be at most 86400 seconds", field=f"burst.{side}_time")
    return out


def _modulation_period(mod: Mapping[str, Any]) -> dict[str, Any]:
    """The accounting period of a modulation (a stored legacy name is read as its new one)."""
    period = mod.get("period", DEFAULT_PERIOD.value)
    period = LEGACY_PERIODS[period].value if period in LEGACY_PERIODS else period
    if period not in MODULATION_PERIODS:
        raise ValidationError(f"must be one of {', '.join(MODULATION_PERIODS)}", field="modulation.period")
    out: dict[str, Any] = {"period": period}
    if period == PeriodType.HOURS:
        h = mod.get("period_hours")
        if isinstance(h, bool) or not isinstance(h, int) or not 1 <= h <= MAX_PERIOD_HOURS:
            raise ValidationError(
                f"required with period=hours: 1 to {MAX_PERIOD_HOURS} hours (hourly traffic is kept a week)",
                field="modulation.period_hours",
            )
        out["period_hours"] = h
    return out


def _modulation_traffic(mod: Mapping[str, Any]) -> dict[str, Any]:
    """The traffic type and the megabyte thresholds it uses."""
    traffic = mod.get("traffic_type", "total")
    if traffic not in MODULATION_TRAFFIC:
        raise ValidationError(
            f"must be one of {', '.join(MODULATION_TRAFFIC)}", field="modulation.traffic_type"
        )
    out: dict[str, Any] = {"traffic_type": traffic}
    needed = {
        "total": ("max_total_mb",),
        "separate": ("max_download_mb", "max_upload_mb"),
        "download": ("max_download_mb",),
        "upload": ("max_upload_mb",),
    }[traffic]
    for name in needed:
        v = mod.get(name)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_MB:
            raise ValidationError(
                f"required with traffic_type={traffic}: megabytes > 0", field=f"modulation.{name}"
            )
        out[name] = v
    return out


def check_modulation(mod: Any, download_rate: int, upload_rate: int) -> dict[str, Any] | None:
    """Dynamic rate modulation by traffic (S6); only the fields the chosen traffic type uses are kept."""
    if mod is None:
        return None
    if not isinstance(mod, Mapping):
        raise ValidationError("must be an object", field="modulation")
    algorithm = mod.get("algorithm", "disabled")
    if algorithm not in MODULATION_ALGORITHMS:
        raise ValidationError(
            f"must be one of {', '.join(MODULATION_ALGORITHMS)}", field="modulation.algorithm"
        )
    if algorithm == "disabled":
        return None
    out: dict[str, Any] = {"algorithm": algorithm}
    for name in ("activate_hour", "deactivate_hour"):
        v = mod.get(name, 0)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 23:
            raise ValidationError("must be an hour between 0 and 23", field=f"modulation.{name}")
        out[name] = v
    out.update(_modulation_period(mod))
    out.update(_modulation_traffic(mod))
    for name, rate in (("min_download_rate", download_rate), ("min_upload_rate", upload_rate)):
        v = mod.get(name, 0)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValidationError("must be a rate in bits/s >= 0", field=f"modulation.{name}")
        if rate and v > rate:
            raise ValidationError(f"must not exceed the normal rate ({rate})", field=f"modulation.{name}")
        out[name] = v
    out["ignore_inactive_traffic"] = bool(mod.get("ignore_inactive_traffic", False))
    return out


def check_policy(data: Mapping[str, Any], dictionary: Mapping[str, AttributeType]) -> dict[str, Any]:
    """Validate and normalise a complete policy record (SPEC S6)."""
    out = dict(data)
    code = str(out.get("code") or "").strip()
    if not code:
        raise ValidationError("is required", field="code")
    out["code"] = code
    for name in (
        "session_timeout_min",
        "idle_timeout_min",
        "daily_time_min",
        "weekly_time_min",
        "monthly_time_min",
    ):
        out[name] = _int_field(out, name, 0, MAX_MINUTES)
    for name in ("daily_data_mb", "weekly_data_mb", "monthly_data_mb"):
        out[name] = _int_field(out, name, 0, MAX_MB)
    for name in ("download_rate", "upload_rate"):
        out[name] = _int_field(out, name, 0, MAX_RATE_BPS)
    out["interim_update_s"] = normalise_interim(_int_field(out, "interim_update_s", 0, 86_400))
    out["first_day_of_week"] = _int_field(out, "first_day_of_week", 0, 7)
    out["max_devices"] = _int_field(out, "max_devices", 0, 10_000)
    out["concurrent_connections"] = _int_field(out, "concurrent_connections", 0, 10_000)
    if out["max_devices"] and out["concurrent_connections"] > out["max_devices"]:
        raise ValidationError(
            f"concurrent connections ({out['concurrent_connections']}) cannot exceed the maximum number of "
            f"devices ({out['max_devices']})",
            field="concurrent_connections",
        )
    if "min_split_time_min" not in out or out["min_split_time_min"] is None:
        out["min_split_time_min"] = MIN_SPLIT_TIME_MIN
    if "min_split_data_mb" not in out or out["min_split_data_mb"] is None:
        out["min_split_data_mb"] = MIN_SPLIT_DATA_MB
    out["min_split_time_min"] = _int_field(out, "min_split_time_min", MIN_SPLIT_TIME_MIN, MAX_MINUTES)
    out["min_split_data_mb"] = _int_field(out, "min_split_data_mb", MIN_SPLIT_DATA_MB, MAX_MB)
    out["split_credits"] = bool(out.get("split_credits", False))
    out["schedule"] = check_schedule(out.get("schedule"))
    out["burst"] = check_burst(out.get("burst"), out["download_rate"], out["upload_rate"])
    out["modulation"] = check_modulation(out.get("modulation"), out["download_rate"], out["upload_rate"])
    out["check_attributes"] = check_custom_attributes(
        out.get("check_attributes"), "check_attributes", dictionary
    )
    out["reply_attributes"] = check_custom_attributes(
        out.get("reply_attributes"), "reply_attributes", dictionary
    )
    out["address_list"] = check_address_list(out.get("address_list"))
    return out


def check_address_list(value: Any, field: str = "address_list") -> str | None:
    if value in (None, ""):
        return None
    text = str(value)
    if len(text) > 64 or not re.fullmatch(r"[A-Za-z0-9_.:\-]+", text):
        raise ValidationError("must be 1-64 letters, digits, '_', '.', ':' or '-'", field=field)
    return text


# ---------------------------------------------------------------- products, zones, gateways
def check_money(value: Any, field: str) -> str:
    """A non-negative decimal amount with at most 4 decimals, returned as a canonical string."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError("must be a decimal amount like 25.00", field=field) from exc
    if not amount.is_finite() or amount < 0 or amount > Decimal("1000000000"):
        raise ValidationError("must be between 0 and 1000000000", field=field)
    if amount.as_tuple().exponent < -4:  # type: ignore[operator]
        raise ValidationError("at most 4 decimals", field=field)
    return str(amount)


def check_product(data: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(data)
    name = str(out.get("name") or "").strip()
    if not name:
        raise ValidationError("is required", field="name")
    out["name"] = name
    out["price"] = check_money(out.get("price", "0"), "price")
    if out.get("cost") is not None:
        out["cost"] = check_money(out["cost"], "cost")
    if out.get("connection_type", "pppoe") not in CONNECTION_TYPES:
        raise ValidationError(f"must be one of {', '.join(CONNECTION_TYPES)}", field="connection_type")
    out["validity_days"] = _int_field(out, "validity_days", 0, 3660)
    for name in ("daily_time_min", "weekly_time_min", "monthly_time_min", "time_credit_min"):
        out[name] = _int_field(out, name, 0, MAX_MINUTES * 10)
    for name in ("daily_data_mb", "weekly_data_mb", "monthly_data_mb", "data_credit_mb"):
        out[name] = _int_field(out, name, 0, MAX_MB)
    out["address_list"] = check_address_list(out.get("address_list"))
    return out


# Services the router knows only by their address (a queue or an address-list entry, no login)
IP_REQUIRED_TYPES = frozenset({"simple_queue", "pcq"})
IP_REQUIRED_NAMES = {"simple_queue": "A Simple Queue", "pcq": "A PCQ"}


def check_pcq_address_list(connection_type: Any, product_list: Any, policy_list: Any, field: str) -> None:
    """A PCQ plan puts its services in a MikroTik address list: the product or its policy names one."""
    if connection_type == "pcq" and not (product_list or policy_list):
        raise ValidationError(
            "a PCQ plan needs a MikroTik address list: set address_list on the product or its policy",
            field=field,
        )


def require_service_ip(connection_type: Any, ip: Any, pool_hint: str = "") -> None:
    """Simple Queue and PCQ services need a fixed IP (422 naming ``ip`` otherwise)."""
    if connection_type in IP_REQUIRED_TYPES and not ip:
        raise ValidationError(
            f"{IP_REQUIRED_NAMES[connection_type]} service needs an IP address: give one{pool_hint}",
            field="ip",
        )


def pool_hosts(pool: str, limit: int = 65_536) -> Iterator[str]:
    """The host addresses of an address pool (CIDR), in order, at most ``limit``."""
    net = ipaddress.ip_network(pool, strict=False)
    for i, host in enumerate(net.hosts()):
        if i >= limit:
            return
        yield str(host)


def check_timezone(value: Any, field: str = "timezone") -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValidationError(f"unknown IANA time zone {value!r}", field=field) from exc
    return str(value)


def check_zone(data: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(data)
    if not str(out.get("name") or "").strip():
        raise ValidationError("is required", field="name")
    out["timezone"] = check_timezone(out.get("timezone", "UTC"))
    for name in ("issue_day", "notice_day", "payment_day", "cutoff_day"):
        out[name] = _int_field(out, name, 1, 31)
    return out


def check_cidr(value: Any, field: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        return str(ipaddress.ip_network(str(value), strict=False))
    except ValueError as exc:
        raise ValidationError("must be a network in CIDR form like 10.10.0.0/24", field=field) from exc


def check_ip(value: Any, field: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError as exc:
        raise ValidationError("must be an IP address", field=field) from exc


def check_gateway(data: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(data)
    if not str(out.get("name") or "").strip():
        raise ValidationError("is required", field="name")
    if out.get("vendor", "mikrotik") not in VENDORS:
        raise ValidationError(f"must be one of {', '.join(VENDORS)}", field="vendor")
    ip = check_ip(out.get("nas_ip"), "nas_ip")
    if ip is None:
        raise ValidationError("is required", field="nas_ip")
    out["nas_ip"] = ip
    if out.get("plan_type", "pppoe") not in CONNECTION_TYPES:
        raise ValidationError(f"must be one of {', '.join(CONNECTION_TYPES)}", field="plan_type")
    if out.get("blocked_mode", "restricted") not in BLOCKED_MODES:
        raise ValidationError(f"must be one of {', '.join(BLOCKED_MODES)}", field="blocked_mode")
    out["blocked_address_list"] = check_address_list(
        out.get("blocked_address_list") or "morosos", "blocked_address_list"
    )
    out["ip_pool"] = check_cidr(out.get("ip_pool"), "ip_pool")
    out["blocked_pool"] = check_cidr(out.get("blocked_pool"), "blocked_pool")
    out["timezone"] = check_timezone(out.get("timezone", "UTC"))
    out["coa_port"] = _int_field(out, "coa_port", 1, 65535)
    out["api_port"] = _int_field(out, "api_port", 1, 65535)
    if out.get("api_enabled") and (out.get("vendor", "mikrotik") == "mikrotik"):
        if not out.get("api_host"):
            raise ValidationError("is required when the router API is enabled", field="api_host")
        if not out.get("api_username"):
            raise ValidationError("is required when the router API is enabled", field="api_username")
    return out
