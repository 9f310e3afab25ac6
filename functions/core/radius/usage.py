"""Usage periods and the counter keys of the subscriber's ``usage`` map.

Allowances are per day, week and month in the **gateway's time zone** (SPEC S6), the week starting
on the policy's first day of the week; prepaid credits (cards) count from the product assignment.
Each period has three counters: ``t`` seconds online, ``i`` octets from the client (upload) and
``o`` octets to the client (download). Keys look like::

    d:2026-11-22:t   w:2026-11-16:o   m:2026-11:i   p:2026-11-22T10:00:00.000000Z:t   h:2026112210:o

``a:YYYY-MM:i/o`` count the month's traffic while rate modulation was active (for "ignore traffic
while inactive" over the current month). ``h:`` keys are hourly (UTC) traffic buckets kept for rate modulation by traffic over the last hours;
they are written only for policies with modulation enabled and kept :data:`HOURLY_RETENTION_HOURS`.
Old keys are removed by the accounting write that notices them, so the item stays small.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

HOURLY_RETENTION_HOURS = 168  # rate modulation looks back up to a week (core.modulation.MAX_PERIOD_HOURS)
DEFAULT_FIRST_DAY_OF_WEEK = 1  # Monday, when neither the policy nor the gateway sets one


class PeriodKind(StrEnum):
    DAY = "d"
    WEEK = "w"
    MONTH = "m"
    PRODUCT = "p"  # from the product assignment on: prepaid credits


class Counter(StrEnum):
    TIME = "t"
    UPLOAD = "i"
    DOWNLOAD = "o"


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    key: str
    start: datetime  # aware, gateway time zone
    end: datetime | None  # next reset (aware); None for the product period

    def counter(self, counter: Counter) -> str:
        return f"{self.key}:{counter.value}"


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone of a gateway; an unknown or empty name falls back to UTC."""
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def first_day(policy_value: int, gateway_default: int | None = None) -> int:
    """1 = Monday … 7 = Sunday. Policy 0 means "use the default" (gateway setting, else Monday)."""
    if 1 <= policy_value <= 7:
        return policy_value
    if gateway_default is not None and 1 <= gateway_default <= 7:
        return gateway_default
    return DEFAULT_FIRST_DAY_OF_WEEK


def _midnight(d: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0), tzinfo=tz)


def week_start(local_day: date, first_day_of_week: int) -> date:
    return local_day - timedelta(days=(local_day.weekday() - (first_day_of_week - 1)) % 7)


@lru_cache(maxsize=512)
def _calendar(today: date, tz: ZoneInfo, first_day_of_week: int) -> tuple[Period, Period, Period]:
    """Day, week and month containing a local date (cached: they change once a day per zone)."""
    wk = week_start(today, first_day_of_week)
    month_first = today.replace(day=1)
    next_month = (month_first + timedelta(days=32)).replace(day=1)
    return (
        Period(
            PeriodKind.DAY,
            f"d:{today.isoformat()}",
            _midnight(today, tz),
            _midnight(today + timedelta(days=1), tz),
        ),
        Period(
            PeriodKind.WEEK, f"w:{wk.isoformat()}", _midnight(wk, tz), _midnight(wk + timedelta(days=7), tz)
        ),
        Period(PeriodKind.MONTH, f"m:{today:%Y-%m}", _midnight(month_first, tz), _midnight(next_month, tz)),
    )


def current_periods(
    now: datetime, tz: ZoneInfo, first_day_of_week: int, product_assigned_at: str | None = None
) -> dict[PeriodKind, Period]:
    """The day, week and month containing ``now`` in ``tz`` (and the product period if assigned)."""
    local = now.astimezone(tz)
    day, week, month = _calendar(local.date(), tz, first_day_of_week)
    periods = {PeriodKind.DAY: day, PeriodKind.WEEK: week, PeriodKind.MONTH: month}
    if product_assigned_at:
        periods[PeriodKind.PRODUCT] = Period(PeriodKind.PRODUCT, f"p:{product_assigned_at}", local, None)
    return periods


def seconds_until(moment: datetime, now: datetime) -> int:
    """Whole seconds from ``now`` to ``moment`` (both aware), computed in UTC so DST cannot skew it."""
    return max(0, int((moment.astimezone(UTC) - now.astimezone(UTC)).total_seconds()))


def hour_key(now: datetime) -> str:
    return f"h:{now.astimezone(UTC):%Y%m%d%H}"


def used(usage: Mapping[str, int], period: Period, counter: Counter) -> int:
    return int(usage.get(period.counter(counter), 0))


def used_bytes(usage: Mapping[str, int], period: Period) -> int:
    return used(usage, period, Counter.UPLOAD) + used(usage, period, Counter.DOWNLOAD)


def usage_deltas(
    periods: Iterable[Period],
    now: datetime,
    time_s: int,
    upload: int,
    download: int,
    hourly: bool,
    active_month: str | None = None,
) -> dict[str, int]:
    """The counter increments for one accounting update (zero increments left out).

    ``active_month`` (``YYYY-MM`` in the gateway's zone) is set while rate modulation is active: the
    traffic then also counts in ``a:<month>:i/o``, the month's traffic during active hours.
    """
    out: dict[str, int] = {}
    for period in periods:
        for counter, value in (
            (Counter.TIME, time_s),
            (Counter.UPLOAD, upload),
            (Counter.DOWNLOAD, download),
        ):
            if value > 0:
                out[period.counter(counter)] = value
    if hourly:
        hk = hour_key(now)
        if upload > 0:
            out[f"{hk}:i"] = upload
        if download > 0:
            out[f"{hk}:o"] = download
    if active_month:
        if upload > 0:
            out[f"a:{active_month}:i"] = upload
        if download > 0:
            out[f"a:{active_month}:o"] = download
    return out


@lru_cache(maxsize=256)
def _kept_periods(local_today: date, week_start_iso: str) -> tuple[str, str, str]:
    """The oldest day, week and month still kept (the previous ones), for one local day."""
    keep_day = (local_today - timedelta(days=1)).isoformat()
    keep_week = (date.fromisoformat(week_start_iso) - timedelta(days=7)).isoformat()
    keep_month = f"{(local_today.replace(day=1) - timedelta(days=1)):%Y-%m}"
    return keep_day, keep_week, keep_month


@lru_cache(maxsize=64)
def _kept_hour(epoch_hour: int) -> str:
    """The oldest hourly bucket still kept, for the UTC hour ``epoch_hour`` (hours since 1970)."""
    return f"{datetime.fromtimestamp((epoch_hour - HOURLY_RETENTION_HOURS) * 3600, UTC):%Y%m%d%H}"


def stale_keys(
    keys: Iterable[str], now: datetime, tz: ZoneInfo, current: Mapping[PeriodKind, Period]
) -> list[str]:
    """Counter keys no rule needs any more: periods before the previous one, old hours, old products.

    The previous day/week/month are kept so a subscriber (and the portal) can still see them.
    """
    local_today = now.astimezone(tz).date()
    keep_day, keep_week, keep_month = _kept_periods(local_today, current[PeriodKind.WEEK].key[2:])
    keep_hour = _kept_hour(int(now.timestamp()) // 3600)
    product = current.get(PeriodKind.PRODUCT)
    out = []
    for key in keys:
        kind, _, rest = key.partition(":")
        stamp = rest.rsplit(":", 1)[0]
        if (
            (kind == "d" and stamp < keep_day)
            or (kind == "w" and stamp < keep_week)
            or (kind in ("m", "a") and stamp < keep_month)
            or (kind == "h" and stamp < keep_hour)
            or (kind == "p" and (product is None or not key.startswith(product.key + ":")))
        ):
            out.append(key)
    return out
