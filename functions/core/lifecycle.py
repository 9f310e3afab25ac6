"""Rules of the subscriber lifecycle actions (SPEC S3, S4): which status allows which action, what
a recharge carries over, what blocks a migration, how usernames look.

Pure functions over plain values; the services apply them to stored records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import InvalidStateError, ValidationError
from core.statuses import Status

DELETE_CONFIRMATION = "eliminar_clientes"

# Statuses each action may start from. Activation also brings back a cancelled client (it is written
# to the router again); delete is for records created by mistake or long inactive.
ALLOWED_FROM: dict[str, frozenset[str]] = {
    "activate": frozenset({Status.NEW, Status.SUSPENDED, Status.INACTIVE, Status.CANCELLED, Status.FREE}),
    "suspend": frozenset({Status.NEW, Status.ACTIVE, Status.FREE, Status.INACTIVE}),
    "cancel": frozenset({Status.NEW, Status.ACTIVE, Status.SUSPENDED, Status.INACTIVE, Status.FREE}),
    "free": frozenset({Status.NEW, Status.ACTIVE, Status.SUSPENDED, Status.INACTIVE}),
    "delete": frozenset({Status.NEW, Status.INACTIVE, Status.CANCELLED}),
    "recharge": frozenset({Status.NEW, Status.ACTIVE, Status.SUSPENDED, Status.INACTIVE, Status.FREE}),
    "migrate": frozenset({Status.NEW, Status.ACTIVE, Status.SUSPENDED, Status.INACTIVE, Status.FREE}),
}

_HINTS = {
    "delete": "delete is for records created by mistake: cancel the service instead (it keeps the history)",
    "activate": "the service is already active",
    "suspend": "the service is already suspended or cancelled",
    "cancel": "the service is already cancelled",
    "free": "the service is already free or cancelled",
    "recharge": "activate the service first",
    "migrate": "activate the service first",
}


def require_transition(action: str, status: str) -> None:
    """Raise :class:`InvalidStateError` when ``action`` cannot start from ``status``."""
    allowed = ALLOWED_FROM[action]
    if status not in allowed:
        raise InvalidStateError(
            f"cannot {action} a subscriber in status {status}: {_HINTS[action]}",
            field="status",
            details={"status": status, "allowed_from": sorted(allowed)},
        )


TARGET_STATUS = {
    "activate": Status.ACTIVE,
    "suspend": Status.SUSPENDED,
    "cancel": Status.CANCELLED,
    "free": Status.FREE,
}

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:+\-]{0,63}$")


def check_username(username: str, field: str = "username") -> str:
    """Network usernames: 1-64 characters, letters/digits/``._@:+-``, no spaces (RouterOS and RADIUS
    both accept them unquoted); compared case-insensitively for uniqueness."""
    if not _USERNAME.fullmatch(username or ""):
        raise ValidationError(
            "must be 1-64 characters: letters, digits and . _ @ : + - (starting with a letter or digit)",
            field=field,
        )
    return username


def check_network_password(password: str, field: str = "password") -> str:
    if not 4 <= len(password) <= 64:
        raise ValidationError("must be 4 to 64 characters", field=field)
    if any(ord(c) < 33 or ord(c) > 126 for c in password):
        raise ValidationError("printable ASCII without spaces only (router and RADIUS safe)", field=field)
    return password


_MAC = re.compile(
    r"^([0-9A-Fa-f]{2})([:-]?)([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2"
    r"([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})$"
)


def normalise_mac(mac: str, field: str = "mac") -> str:
    """``aa-bb-cc-dd-ee-ff`` / ``aabbccddeeff`` → ``AA:BB:CC:DD:EE:FF`` (RouterOS form)."""
    m = _MAC.fullmatch(mac.strip())
    if not m:
        raise ValidationError("must be a MAC address like AA:BB:CC:DD:EE:FF", field=field)
    octets = [g for i, g in enumerate(m.groups()) if i != 1]
    return ":".join(o.upper() for o in octets)


# ---------------------------------------------------------------- recharge
BYTES_PER_MB = 1_048_576  # as the RADIUS allowances count megabytes


@dataclass(frozen=True)
class Residual:
    time_min: int
    data_mb: int


def residual_credit(
    credit_time_min: int,
    credit_data_mb: int,
    carried: Residual,
    used_time_s: int,
    used_bytes: int,
) -> Residual:
    """Prepaid credit left of the previous product (SPEC S4 recharge): its credit plus what it had
    carried over, minus what was used since it was assigned; rounded down to whole minutes / MB.

    A product without a credit for a dimension (0 = unlimited) consumed nothing of the carried value,
    so that value passes on unchanged."""
    time_left = carried.time_min
    if credit_time_min > 0:
        time_left = max(0, ((credit_time_min + carried.time_min) * 60 - used_time_s) // 60)
    data_left = carried.data_mb
    if credit_data_mb > 0:
        data_left = max(0, ((credit_data_mb + carried.data_mb) * BYTES_PER_MB - used_bytes) // BYTES_PER_MB)
    return Residual(max(0, time_left), max(0, data_left))


# ---------------------------------------------------------------- migration
def migration_blocker(
    subscriber_connection_type: str, target_plan_type: str, same_gateway: bool
) -> str | None:
    """Why a service cannot move to a router directly, or None. Same plan type moves directly; a
    different plan type goes through CSV export → edit → import (S4)."""
    if same_gateway:
        return "the service is already on that router"
    if subscriber_connection_type != target_plan_type:
        return (
            f"plan type differs ({subscriber_connection_type} → {target_plan_type}): export the clients to CSV, "
            "edit the service fields and import them with 'update clients'"
        )
    return None


# ---------------------------------------------------------------- formatting
def format_duration(seconds: int | float) -> str:
    """Seconds as ``h:mm:ss`` (hours may exceed 24), the connection-log format."""
    s = max(0, int(seconds))
    return f"{s // 3600}:{(s % 3600) // 60:02d}:{s % 60:02d}"


def unique_ids(ids: Iterable[str]) -> list[str]:
    """Bulk input without duplicates, first occurrence order kept."""
    seen: set[str] = set()
    out = []
    for i in ids:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out
