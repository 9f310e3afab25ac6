"""Dynamic rate modulation by traffic: curves, traffic types, active windows and periods (SPEC S6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.modulation import (
    MB,
    Algorithm,
    ModulationSettings,
    PeriodType,
    TrafficType,
    compute,
    degradation,
    hour_key,
    is_active,
    local_hours_starting,
    modulate_rate,
    modulated_pair,
    scale_burst,
    traffic_in_period,
    validate_settings,
)
from core.rates import Burst

MX = ZoneInfo("America/Mexico_City")  # UTC-6, no DST
BASE, MIN = 10_000_000, 2_000_000

# rate at 0 %, 25 %, 50 %, 75 %, 100 % and 150 % of the maximum traffic, 10M → 2M
CURVES = {
    Algorithm.VERY_LOW: [10_000_000, 9_968_750, 9_500_000, 7_468_750, 2_000_000, 2_000_000],
    Algorithm.LOW: [10_000_000, 9_500_000, 8_000_000, 5_500_000, 2_000_000, 2_000_000],
    Algorithm.LINEAR: [10_000_000, 8_000_000, 6_000_000, 4_000_000, 2_000_000, 2_000_000],
    Algorithm.MEDIUM: [10_000_000, 6_500_000, 4_000_000, 2_500_000, 2_000_000, 2_000_000],
    Algorithm.HIGH: [10_000_000, 4_531_250, 2_500_000, 2_031_250, 2_000_000, 2_000_000],
    Algorithm.MIN_AT_MAX: [10_000_000, 10_000_000, 10_000_000, 10_000_000, 2_000_000, 2_000_000],
    Algorithm.DISABLED: [10_000_000] * 6,
}
RATIOS = [0.0, 0.25, 0.5, 0.75, 1.0, 1.5]


@pytest.mark.parametrize("algorithm", list(CURVES))
def test_each_curve_at_the_quarter_points_and_beyond(algorithm):
    assert [modulate_rate(BASE, MIN, algorithm, r) for r in RATIOS] == CURVES[algorithm]


def test_curves_are_ordered_from_gentle_to_strong_at_every_point():
    order = [Algorithm.VERY_LOW, Algorithm.LOW, Algorithm.LINEAR, Algorithm.MEDIUM, Algorithm.HIGH]
    for x in (0.1, 0.3, 0.5, 0.7, 0.9):
        values = [degradation(a, x) for a in order]
        assert values == sorted(values) and len(set(values)) == len(values)


def test_unlimited_rate_stays_unlimited_and_minimum_never_exceeds_base():
    assert modulate_rate(0, MIN, Algorithm.LINEAR, 1.0) == 0
    assert modulate_rate(1_000_000, 5_000_000, Algorithm.LINEAR, 1.0) == 1_000_000


def _s(**kw) -> ModulationSettings:
    base = dict(algorithm=Algorithm.LINEAR, min_download_rate=2_000_000, min_upload_rate=500_000)
    base.update(kw)
    return ModulationSettings(**base)


@pytest.mark.parametrize(
    ("settings", "down_mb", "up_mb", "expected"),
    [
        # total: download + upload against the total maximum; both directions follow
        (_s(traffic_type=TrafficType.TOTAL, max_total_mb=1000), 400, 100, (6_000_000, 1_500_000)),
        # separate: each direction against its own maximum
        (
            _s(traffic_type=TrafficType.SEPARATE, max_download_mb=1000, max_upload_mb=100),
            500,
            100,
            (6_000_000, 500_000),
        ),
        # download only: only the download rate moves
        (_s(traffic_type=TrafficType.DOWNLOAD, max_download_mb=1000), 1000, 900, (2_000_000, 2_500_000)),
        # upload only: only the upload rate moves
        (_s(traffic_type=TrafficType.UPLOAD, max_upload_mb=200), 5000, 50, (10_000_000, 2_000_000)),
    ],
)
def test_traffic_types(settings, down_mb, up_mb, expected):
    assert modulated_pair(settings, 10_000_000, 2_500_000, down_mb * MB, up_mb * MB) == expected


@pytest.mark.parametrize(
    ("activate", "deactivate", "active_hours"),
    [
        (8, 20, set(range(8, 20))),
        (22, 6, {22, 23, 0, 1, 2, 3, 4, 5}),  # across midnight
        (5, 5, set(range(24))),  # same hour: always on
    ],
)
def test_active_window(activate, deactivate, active_hours):
    s = _s(activate_hour=activate, deactivate_hour=deactivate)
    assert {h for h in range(24) if is_active(s, h)} == active_hours
    assert not any(
        is_active(_s(algorithm=Algorithm.DISABLED, activate_hour=activate, deactivate_hour=deactivate), h)
        for h in range(24)
    )


@pytest.mark.parametrize(
    "zone, run_at, hours",
    [
        ("America/Mexico_City", datetime(2026, 11, 19, 17, 0, 40, tzinfo=UTC), (11,)),
        ("America/Mexico_City", datetime(2026, 11, 19, 17, 15, 40, tzinfo=UTC), ()),
        ("Asia/Kolkata", datetime(2026, 11, 19, 5, 30, 40, tzinfo=UTC), (11,)),
        ("Asia/Kolkata", datetime(2026, 11, 19, 5, 0, 40, tzinfo=UTC), ()),
        # clocks forward: the skipped hour starts with the one the clocks jump to
        ("America/New_York", datetime(2026, 3, 8, 7, 0, 40, tzinfo=UTC), (2, 3)),
        ("America/Santiago", datetime(2026, 9, 6, 4, 0, 40, tzinfo=UTC), (0, 1)),
        ("Europe/Madrid", datetime(2026, 3, 29, 1, 0, 40, tzinfo=UTC), (2, 3)),
        # clocks back: the repeated hour starts again
        ("America/New_York", datetime(2026, 11, 1, 5, 0, 40, tzinfo=UTC), (1,)),
        ("America/New_York", datetime(2026, 11, 1, 6, 0, 40, tzinfo=UTC), (1,)),
        ("America/New_York", datetime(2026, 11, 1, 7, 0, 40, tzinfo=UTC), (2,)),
        ("America/Santiago", datetime(2026, 4, 5, 4, 0, 40, tzinfo=UTC), (0,)),
    ],
)
def test_local_hours_starting_in_a_run_across_daylight_saving_changes(zone, run_at, hours):
    assert local_hours_starting(run_at, ZoneInfo(zone)) == hours


def test_every_local_hour_starts_once_in_the_runs_of_a_day_the_clocks_go_forward():
    for zone, first, last in (
        # the 23-hour local day, from the run before its midnight to the run before the next one
        ("America/New_York", datetime(2026, 3, 8, 5, 0, tzinfo=UTC), datetime(2026, 3, 9, 4, 0, tzinfo=UTC)),
        ("America/Santiago", datetime(2026, 9, 6, 4, 0, tzinfo=UTC), datetime(2026, 9, 7, 3, 0, tzinfo=UTC)),
        ("Europe/Madrid", datetime(2026, 3, 28, 23, 0, tzinfo=UTC), datetime(2026, 3, 29, 22, 0, tzinfo=UTC)),
    ):
        runs = int((last - first).total_seconds()) // 900
        started = [
            h
            for i in range(runs)
            for h in local_hours_starting(first + timedelta(minutes=15 * i), ZoneInfo(zone))
        ]
        assert sorted(started) == list(range(24)), zone


def _hourly(start_utc: datetime, hours: int, down_mb: int = 10, up_mb: int = 1) -> dict[str, int]:
    usage = {}
    for i in range(hours):
        key = hour_key(start_utc + timedelta(hours=i))
        usage[key + ":o"] = down_mb * MB
        usage[key + ":i"] = up_mb * MB
    return usage


def test_last_n_hours_window_crosses_local_midnight():
    # 72 hourly buckets of 10 MB down / 1 MB up ending at 02:30 local (08:30 UTC)
    now = datetime(2026, 11, 22, 2, 30, tzinfo=MX)
    usage = _hourly(now.astimezone(UTC).replace(minute=0) - timedelta(hours=71), 72)
    s = _s(period=PeriodType.HOURS, period_hours=6)
    assert traffic_in_period(s, usage, now, MX) == (60 * MB, 6 * MB)


def test_ignore_inactive_traffic_counts_only_active_local_hours():
    now = datetime(2026, 11, 22, 2, 30, tzinfo=MX)  # the last 6 hours are 21:00 … 02:00 local
    usage = _hourly(now.astimezone(UTC).replace(minute=0) - timedelta(hours=23), 24)
    s = _s(
        period=PeriodType.HOURS,
        period_hours=6,
        activate_hour=22,
        deactivate_hour=6,
        ignore_inactive_traffic=True,
    )
    # 22, 23, 00, 01, 02 are active; 21 is not
    assert traffic_in_period(s, usage, now, MX) == (50 * MB, 5 * MB)


def test_current_month_uses_the_gateway_zone_month_across_a_month_end():
    # 2026-12-01 03:00 UTC is still 30 November in Mexico City
    now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    usage = {"m:2026-11:o": 700 * MB, "m:2026-11:i": 70 * MB, "m:2026-12:o": 5 * MB}
    s = _s(period=PeriodType.CURRENT_MONTH)
    assert traffic_in_period(s, usage, now, MX) == (700 * MB, 70 * MB)


def test_current_month_with_ignored_inactive_traffic_uses_the_active_hours_counters():
    now = datetime(2026, 12, 1, 2, 0, tzinfo=MX)  # 08:00 UTC on 1 December
    usage = {
        "m:2026-12:o": 900 * MB,
        "m:2026-12:i": 90 * MB,
        "a:2026-12:o": 30 * MB,
        "a:2026-12:i": 3 * MB,
        "a:2026-11:o": 500 * MB,
    }
    s = _s(period=PeriodType.CURRENT_MONTH, ignore_inactive_traffic=True, activate_hour=0, deactivate_hour=6)
    assert traffic_in_period(s, usage, now, MX) == (30 * MB, 3 * MB)


def test_burst_limit_and_threshold_scale_with_the_rate():
    burst = Burst(
        download_limit=20_000_000,
        upload_limit=4_000_000,
        download_threshold=8_000_000,
        upload_threshold=1_600_000,
        download_time=10,
        upload_time=10,
    )
    scaled = scale_burst(burst, (10_000_000, 2_000_000), (5_000_000, 1_000_000))
    assert scaled == Burst(10_000_000, 2_000_000, 4_000_000, 800_000, 10, 10)


def test_compute_outside_the_window_keeps_policy_rates_and_inside_modulates():
    usage = _hourly(datetime(2026, 11, 22, 0, tzinfo=UTC), 24, down_mb=50, up_mb=0)
    mod = {
        "algorithm": "linear",
        "activate_hour": 8,
        "deactivate_hour": 20,
        "period": "hours",
        "period_hours": 10,
        "traffic_type": "download",
        "max_download_mb": 1000,
        "min_download_rate": 2_000_000,
    }
    outside = compute(mod, BASE, 2_000_000, None, usage, datetime(2026, 11, 22, 21, tzinfo=MX), MX)
    assert (outside.download, outside.active) == (BASE, False)
    inside = compute(mod, BASE, 2_000_000, None, usage, datetime(2026, 11, 22, 12, tzinfo=MX), MX)
    # 10 hours × 50 MB = 500 MB of 1000 MB → half way from 10M to 2M
    assert (inside.download, inside.upload, inside.active) == (6_000_000, 2_000_000, True)


def test_validation_names_the_field_and_reason():
    errors = dict(
        validate_settings(_s(traffic_type=TrafficType.SEPARATE, max_download_mb=10, activate_hour=24))
    )
    assert errors["max_upload_mb"].startswith("must be greater than 0")
    assert "activate_hour" in errors
    assert validate_settings(_s(traffic_type=TrafficType.TOTAL, max_total_mb=10)) == []
