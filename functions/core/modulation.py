"""Dynamic rate modulation by traffic (SPEC S6 "Dynamic modulation data rate based on developed traffic").

The more traffic a subscriber generated in the calculation period, the lower the rate, from the
policy's rate down to the minimum rate when the maximum traffic is reached. With ``x`` = traffic used ÷
maximum traffic (clamped to 0…1) each algorithm is a degradation curve ``f(x)`` from 0 to 1, and

    rate = policy_rate − (policy_rate − minimum_rate) × f(x)

| algorithm | f(x) | character |
|---|---|---|
| ``very_low`` | x⁴ | almost no slowdown until close to the maximum |
| ``low`` | x² | gentle at first, steeper near the maximum |
| ``linear`` | x | proportional |
| ``medium`` | 1 − (1 − x)² | noticeable slowdown early |
| ``high`` | 1 − (1 − x)⁴ | strong slowdown early |
| ``min_at_max`` | 0 below the maximum, 1 at it | full rate until the maximum, then the minimum |

Traffic types: ``total`` (download + upload against the total maximum; both rates follow), ``separate``
(each direction against its own maximum), ``download`` / ``upload`` (only that direction is counted
and only its rate is modulated). Burst limit and threshold scale in proportion to the rate.

Periods: the last N hours (hourly buckets) or the current month in the gateway's time zone. The
modulation is active between "activate at" and "deactivate from" (gateway local hours; the same hour
means always on); with ``ignore_inactive_traffic`` only traffic from active hours counts. It is not
real-time: the scheduled run disconnects (or sends CoA to) the users whose rate changes at those hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from core.rates import Burst

MB = 1024 * 1024  # as the allowances count megabytes (core.radius)
MAX_PERIOD_HOURS = 168  # hourly buckets are kept for a week


class Algorithm(StrEnum):
    DISABLED = "disabled"
    VERY_LOW = "very_low"
    LOW = "low"
    LINEAR = "linear"
    MEDIUM = "medium"
    HIGH = "high"
    MIN_AT_MAX = "min_at_max"


class TrafficType(StrEnum):
    TOTAL = "total"
    SEPARATE = "separate"
    DOWNLOAD = "download"
    UPLOAD = "upload"


class PeriodType(StrEnum):
    """The calculation period: the one vocabulary of the API, the stored policy and the RADIUS side."""

    HOURS = "hours"
    CURRENT_MONTH = "current_month"


# Values older versions stored, read as their current name
LEGACY_PERIODS = {"month": PeriodType.CURRENT_MONTH}


class ModulationSettingError(ValueError):
    """A stored modulation setting this version does not know (the policy is used without modulation)."""

    def __init__(self, field: str, value: object) -> None:
        super().__init__(f"unknown modulation {field}: {value!r}")
        self.field = field
        self.value = value


def _enum(kind: type[StrEnum], field: str, value: object) -> Any:
    if isinstance(value, str) and value in kind._value2member_map_:
        return kind(value)
    raise ModulationSettingError(field, value)


def period_type(value: object) -> PeriodType:
    """The period named by a stored or submitted value (legacy names included)."""
    if isinstance(value, str) and value in LEGACY_PERIODS:
        return LEGACY_PERIODS[value]
    result: PeriodType = _enum(PeriodType, "period", value)
    return result


def degradation(algorithm: Algorithm | str, ratio: float) -> float:
    """The share (0…1) of the way from the policy rate to the minimum rate at ``ratio`` = used ÷ max."""
    x = min(max(ratio, 0.0), 1.0)
    alg = Algorithm(algorithm)
    if alg is Algorithm.DISABLED:
        return 0.0
    if alg is Algorithm.VERY_LOW:
        return x**4
    if alg is Algorithm.LOW:
        return x**2
    if alg is Algorithm.LINEAR:
        return x
    if alg is Algorithm.MEDIUM:
        return 1 - (1 - x) ** 2
    if alg is Algorithm.HIGH:
        return 1 - (1 - x) ** 4
    return 1.0 if x >= 1.0 else 0.0  # MIN_AT_MAX


def modulate_rate(base: int, minimum: int, algorithm: Algorithm | str, ratio: float) -> int:
    """The rate for one direction. A base of 0 (unlimited) stays unlimited; the minimum never exceeds the base."""
    if base <= 0:
        return base
    floor = min(max(minimum, 0), base)
    return round(base - (base - floor) * degradation(algorithm, ratio))


DEFAULT_PERIOD = PeriodType.CURRENT_MONTH  # what the API stores when no period is given


@dataclass(frozen=True)
class ModulationSettings:
    algorithm: Algorithm = Algorithm.DISABLED
    activate_hour: int = 0
    deactivate_hour: int = 0
    period: PeriodType = PeriodType.HOURS
    period_hours: int = 24
    traffic_type: TrafficType = TrafficType.TOTAL
    max_total_mb: int = 0
    max_download_mb: int = 0
    max_upload_mb: int = 0
    min_download_rate: int = 0
    min_upload_rate: int = 0
    ignore_inactive_traffic: bool = False

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> ModulationSettings:
        """The settings of a stored policy; raises :class:`ModulationSettingError` for an unknown value."""
        if not data:
            return cls()
        return cls(
            algorithm=_enum(Algorithm, "algorithm", data.get("algorithm", "disabled")),
            activate_hour=int(data.get("activate_hour", 0)),
            deactivate_hour=int(data.get("deactivate_hour", 0)),
            period=period_type(data.get("period", DEFAULT_PERIOD)),
            period_hours=int(data.get("period_hours", 24)),
            traffic_type=_enum(TrafficType, "traffic_type", data.get("traffic_type", "total")),
            max_total_mb=int(data.get("max_total_mb", 0)),
            max_download_mb=int(data.get("max_download_mb", 0)),
            max_upload_mb=int(data.get("max_upload_mb", 0)),
            min_download_rate=int(data.get("min_download_rate", 0)),
            min_upload_rate=int(data.get("min_upload_rate", 0)),
            ignore_inactive_traffic=bool(data.get("ignore_inactive_traffic", False)),
        )

    @property
    def enabled(self) -> bool:
        return self.algorithm is not Algorithm.DISABLED


def validate_settings(s: ModulationSettings) -> list[tuple[str, str]]:
    """(field, reason) for every problem; empty when the settings are usable."""
    errors: list[tuple[str, str]] = []
    for name in ("activate_hour", "deactivate_hour"):
        if not 0 <= getattr(s, name) <= 23:
            errors.append((name, "must be an hour from 0 to 23"))
    if s.period is PeriodType.HOURS and not 1 <= s.period_hours <= MAX_PERIOD_HOURS:
        errors.append(("period_hours", f"must be from 1 to {MAX_PERIOD_HOURS}"))
    if not s.enabled:
        return errors
    needed = {
        TrafficType.TOTAL: ("max_total_mb",),
        TrafficType.SEPARATE: ("max_download_mb", "max_upload_mb"),
        TrafficType.DOWNLOAD: ("max_download_mb",),
        TrafficType.UPLOAD: ("max_upload_mb",),
    }[s.traffic_type]
    for name in needed:
        if getattr(s, name) <= 0:
            errors.append((name, f"must be greater than 0 for traffic type {s.traffic_type.value}"))
    for name in ("min_download_rate", "min_upload_rate"):
        if getattr(s, name) < 0:
            errors.append((name, "must be 0 or more bits/s"))
    return errors


def is_active(s: ModulationSettings, local_hour: int) -> bool:
    """Whether modulation applies during the given local hour (same activate/deactivate hour = always)."""
    if not s.enabled:
        return False
    a, d = s.activate_hour, s.deactivate_hour
    if a == d:
        return True
    if a < d:
        return a <= local_hour < d
    return local_hour >= a or local_hour < d  # the window crosses midnight


# The scheduled run fires every quarter-hour: every time zone's offset from UTC is a whole number of
# quarter-hours (Asia/Kolkata +5:30, Asia/Kathmandu +5:45, America/St_Johns -3:30), so each gateway's
# local hour starts at one of these runs
RUN_EVERY_MINUTES = 15


def run_slot(now: datetime) -> datetime:
    """The start of the quarter-hour a run at ``now`` belongs to (a late trigger keeps its slot)."""
    utc = now.astimezone(UTC)
    return utc.replace(minute=utc.minute - utc.minute % RUN_EVERY_MINUTES, second=0, microsecond=0)


def local_hours_starting(now: datetime, tz: ZoneInfo) -> tuple[int, ...]:
    """The local hours that start in the zone during this run's quarter-hour (usually one or none).

    When the clocks go forward the hours they skip start together with the one the clocks jump to
    (New York 2026-03-08: 02:00 and 03:00 both start at 07:00 UTC; Santiago 2026-09-06: 00:00 and
    01:00 at 04:00 UTC), so an activate or deactivate hour inside the gap is not missed. When they go
    back, the repeated hour starts again.
    """
    slot = run_slot(now)
    local = slot.astimezone(tz).replace(tzinfo=None)
    previous = (slot - timedelta(minutes=RUN_EVERY_MINUTES)).astimezone(tz).replace(tzinfo=None)
    hours = []
    start = previous.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    while start <= local:  # wall-clock hours whose start lies after the previous run, up to this one
        hours.append(start.hour)
        start += timedelta(hours=1)
    if not hours and local.minute == 0:
        hours.append(local.hour)  # the clocks went back to the start of an hour
    return tuple(hours)


def hour_key(hour_utc: datetime) -> str:
    """Usage-map key prefix of an hourly bucket: ``h:YYYYMMDDHH`` (UTC)."""
    return "h:" + hour_utc.astimezone(UTC).strftime("%Y%m%d%H")


def window_start(s: ModulationSettings, now: datetime, tz: ZoneInfo) -> datetime:
    """Start (aware) of the calculation period that ends now."""
    if s.period is PeriodType.CURRENT_MONTH:
        local = now.astimezone(tz)
        return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    current_hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return current_hour - timedelta(hours=s.period_hours - 1)


def traffic_in_period(
    s: ModulationSettings, usage: Mapping[str, int], now: datetime, tz: ZoneInfo
) -> tuple[int, int]:
    """(download, upload) octets generated in the calculation period, from the hourly buckets
    (``h:<UTC hour>:o`` download, ``:i`` upload). Hours outside the active window are skipped when
    ``ignore_inactive_traffic`` is set. For the current month (gateway's zone) the monthly counters are
    used: ``m:YYYY-MM:o/i``, or ``a:YYYY-MM:o/i`` (traffic while modulation was active) when inactive
    traffic is ignored."""
    if s.period is PeriodType.CURRENT_MONTH:
        # whole month, or only the traffic counted while modulation was active (``a:`` counters)
        month = now.astimezone(tz).strftime("%Y-%m")
        prefix = "a" if s.ignore_inactive_traffic else "m"
        return int(usage.get(f"{prefix}:{month}:o", 0)), int(usage.get(f"{prefix}:{month}:i", 0))
    start = window_start(s, now, tz).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = now.astimezone(UTC)
    down = up = 0
    hour = start
    while hour <= end:
        if not s.ignore_inactive_traffic or is_active(s, hour.astimezone(tz).hour):
            key = hour_key(hour)
            down += int(usage.get(key + ":o", 0))
            up += int(usage.get(key + ":i", 0))
        hour += timedelta(hours=1)
    return down, up


def modulated_pair(
    s: ModulationSettings, base_download: int, base_upload: int, download_octets: int, upload_octets: int
) -> tuple[int, int]:
    """(download, upload) rates for the traffic generated, per the traffic type."""
    if not s.enabled:
        return base_download, base_upload
    if s.traffic_type is TrafficType.TOTAL:
        ratio = (download_octets + upload_octets) / (s.max_total_mb * MB) if s.max_total_mb else 0.0
        return (
            modulate_rate(base_download, s.min_download_rate, s.algorithm, ratio),
            modulate_rate(base_upload, s.min_upload_rate, s.algorithm, ratio),
        )
    down_ratio = download_octets / (s.max_download_mb * MB) if s.max_download_mb else 0.0
    up_ratio = upload_octets / (s.max_upload_mb * MB) if s.max_upload_mb else 0.0
    down = base_download
    up = base_upload
    if s.traffic_type in (TrafficType.SEPARATE, TrafficType.DOWNLOAD):
        down = modulate_rate(base_download, s.min_download_rate, s.algorithm, down_ratio)
    if s.traffic_type in (TrafficType.SEPARATE, TrafficType.UPLOAD):
        up = modulate_rate(base_upload, s.min_upload_rate, s.algorithm, up_ratio)
    return down, up


def scale_burst(burst: Burst | None, base: tuple[int, int], new: tuple[int, int]) -> Burst | None:
    """Burst limit and threshold scale in proportion to the modulated rate (burst times unchanged)."""
    if burst is None:
        return None
    (bd, bu), (nd, nu) = base, new
    fd = nd / bd if bd else 1.0
    fu = nu / bu if bu else 1.0
    return replace(
        burst,
        download_limit=round(burst.download_limit * fd),
        download_threshold=round(burst.download_threshold * fd),
        upload_limit=round(burst.upload_limit * fu),
        upload_threshold=round(burst.upload_threshold * fu),
    )


@dataclass(frozen=True)
class ModulatedRates:
    download: int
    upload: int
    burst: Burst | None
    active: bool


def compute(
    modulation: Mapping[str, Any] | None,
    base_download: int,
    base_upload: int,
    burst: Burst | None,
    usage: Mapping[str, int],
    now: datetime,
    tz: ZoneInfo,
) -> ModulatedRates:
    """The rates a subscriber gets now: modulated while the window is active, the policy's otherwise."""
    s = ModulationSettings.from_mapping(modulation)
    if not is_active(s, now.astimezone(tz).hour):
        return ModulatedRates(base_download, base_upload, burst, False)
    down_octets, up_octets = traffic_in_period(s, usage, now, tz)
    down, up = modulated_pair(s, base_download, base_upload, down_octets, up_octets)
    return ModulatedRates(down, up, scale_burst(burst, (base_download, base_upload), (down, up)), True)


def modulated_rates(
    *, modulation: Mapping[str, Any], rates: Any, usage: Mapping[str, int], now: datetime, tz: ZoneInfo
) -> Any:
    """The RADIUS policy engine's modulation hook (``core.radius.policy.Modulator``)."""
    result = compute(modulation, rates.download, rates.upload, rates.burst, usage, now, tz)
    return replace(rates, download=result.download, upload=result.upload, burst=result.burst)
