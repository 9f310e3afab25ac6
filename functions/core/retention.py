"""How long connection-log and audit rows are kept (tenant settings), as DynamoDB TTL epochs.

``Tenant.settings["connection_log_retention_days"]`` (default 400: a year and a month, so a month can be
compared with the same month a year before) and ``Tenant.settings["audit_retention_days"]`` (default
730). A closed connection-log row expires that many days after it ended; an open one never expires.
An audit entry expires that many days after it was written. 0 or less keeps rows forever.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from core.ids import parse_iso

DEFAULT_CONNECTION_LOG_DAYS = 400
DEFAULT_AUDIT_DAYS = 730
# Rate modulation looks back at most a week (core.modulation.MAX_PERIOD_HOURS); a day more of slack
USAGE_HOURS_DAYS = 8


def _days(settings: Mapping[str, object] | None, key: str, default: int) -> int:
    raw = (settings or {}).get(key, default)
    try:
        return int(raw)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return default


def connection_log_days(settings: Mapping[str, object] | None) -> int:
    return _days(settings, "connection_log_retention_days", DEFAULT_CONNECTION_LOG_DAYS)


def audit_days(settings: Mapping[str, object] | None) -> int:
    return _days(settings, "audit_retention_days", DEFAULT_AUDIT_DAYS)


def expiry_epoch(moment_iso: str, days: int) -> int | None:
    """Epoch seconds ``days`` after an ISO-8601 moment; None (keep forever) for days ≤ 0 or a bad time."""
    if days <= 0:
        return None
    try:
        return int((parse_iso(moment_iso) + timedelta(days=days)).timestamp())
    except ValueError:
        return None
