"""Activation scheduler (SPEC S6): the hours of each weekday when login is allowed.

The schedule maps ``"1"`` (Monday) … ``"7"`` (Sunday) to the allowed hours 0–23, in the gateway's
time zone. No schedule means always allowed; a weekday left out means no login that day.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_HORIZON_HOURS = 8 * 24


def _allowed(schedule: Mapping[str, list[int]], day: date, hour: int) -> bool:
    return hour in schedule.get(str(day.isoweekday()), ())


def is_always(schedule: Mapping[str, list[int]] | None) -> bool:
    if schedule is None:
        return True
    return all(set(range(24)) <= set(schedule.get(str(d), ())) for d in range(1, 8))


def _hours_from(local: datetime) -> list[tuple[date, int]]:
    """Wall-clock (day, hour) slots from the current one on, over the horizon."""
    day, hour = local.date(), local.hour
    out = []
    for _ in range(_HORIZON_HOURS):
        out.append((day, hour))
        hour += 1
        if hour == 24:
            day, hour = day + timedelta(days=1), 0
    return out


def _at(day: date, hour: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=tz)


def allowed_now(schedule: Mapping[str, list[int]] | None, local: datetime) -> bool:
    return schedule is None or _allowed(schedule, local.date(), local.hour)


def window_end(schedule: Mapping[str, list[int]] | None, local: datetime, tz: ZoneInfo) -> datetime | None:
    """When the allowed window containing ``local`` closes; None when it never does."""
    if is_always(schedule):
        return None
    assert schedule is not None
    for day, hour in _hours_from(local):
        if not _allowed(schedule, day, hour):
            return _at(day, hour, tz)
    return None


def next_opening(schedule: Mapping[str, list[int]] | None, local: datetime, tz: ZoneInfo) -> datetime | None:
    """The next allowed hour after ``local`` (for the reject message); None if there is none."""
    if schedule is None:
        return local
    for day, hour in _hours_from(local)[1:]:
        if _allowed(schedule, day, hour):
            return _at(day, hour, tz)
    return None
