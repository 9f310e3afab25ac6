"""How long connection-log and audit rows are kept (tenant settings), as DynamoDB TTL epochs.

``Tenant.settings["connection_log_retention_days"]`` (default 400: a year and a month, so a month can be
compared with the same month a year before) and ``Tenant.settings["audit_retention_days"]`` (default
730). A closed connection-log row expires that many days after it ended; an open one never expires.
An audit entry expires that many days after it was written. 0 or less keeps rows forever.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from core.errors import ValidationError
from core.ids import parse_iso

DEFAULT_CONNECTION_LOG_DAYS = 400
DEFAULT_AUDIT_DAYS = 730
# Rate modulation looks back at most a week (core.modulation.MAX_PERIOD_HOURS); a day more of slack
USAGE_HOURS_DAYS = 8
MAX_DAYS = 36_500  # a hundred years; more is refused (and would overflow the date arithmetic)
SETTING_KEYS = ("connection_log_retention_days", "audit_retention_days")


def check_settings(settings: Mapping[str, object] | None) -> None:
    """The retention keys of tenant settings: whole days from 0 (keep forever) to :data:`MAX_DAYS`."""
    for key in SETTING_KEYS:
        if settings is None or key not in settings or settings[key] is None:
            continue
        value = settings[key]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
            raise ValidationError(
                f"{key} is a whole number of days from 0 (keep forever) to {MAX_DAYS}",
                field=f"settings.{key}",
            )


def _days(settings: Mapping[str, object] | None, key: str, default: int) -> int:
    raw = (settings or {}).get(key, default)
    try:
        days = int(raw)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return default
    return min(days, MAX_DAYS)  # a value stored before the check existed: kept within range


def connection_log_days(settings: Mapping[str, object] | None) -> int:
    return _days(settings, "connection_log_retention_days", DEFAULT_CONNECTION_LOG_DAYS)


def audit_days(settings: Mapping[str, object] | None) -> int:
    return _days(settings, "audit_retention_days", DEFAULT_AUDIT_DAYS)


def expiry_epoch(moment_iso: str, days: int) -> int | None:
    """Epoch seconds ``days`` after an ISO-8601 moment; None (keep forever) for days ≤ 0 or a bad time."""
    if days <= 0:
        return None
    try:
        return int((parse_iso(moment_iso) + timedelta(days=min(days, MAX_DAYS))).timestamp())
    except (ValueError, OverflowError):
        return None
