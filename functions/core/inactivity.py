"""Automatic Inactive status (SPEC S3): customers with prolonged service inactivity become Inactive
after the tenant's grace period; their service and accounting are suspended, and only they may be
deleted. Applies to New and Active customers only: Free, Suspended and Cancelled keep their status."""

from __future__ import annotations

from datetime import datetime, timedelta

from core.ids import parse_iso
from core.statuses import Status

DEFAULT_INACTIVITY_DAYS = 90
ELIGIBLE = frozenset({Status.NEW.value, Status.ACTIVE.value})


def inactivity_days(tenant_settings: dict[str, object] | None) -> int:
    """The grace period in days from ``Tenant.settings["inactivity_days"]`` (0 turns the rule off)."""
    raw = (tenant_settings or {}).get("inactivity_days", DEFAULT_INACTIVITY_DAYS)
    try:
        days = int(raw)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return DEFAULT_INACTIVITY_DAYS
    return max(days, 0)


def is_inactive(
    status: str, last_seen_at: str | None, created_at: str, online: bool, now: datetime, days: int
) -> bool:
    """Whether a customer is due to become Inactive now: eligible status, not online, and no use of
    the service (or, for one never used, no creation) within the grace period."""
    if days <= 0 or status not in ELIGIBLE or online:
        return False
    reference = last_seen_at or created_at
    try:
        return parse_iso(reference) < now - timedelta(days=days)
    except ValueError:
        return False
