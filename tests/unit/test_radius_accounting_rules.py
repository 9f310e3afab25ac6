"""Accounting rules: 64-bit counters, cumulative updates applied once, periods in the gateway's zone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.ids import iso
from core.radius.accounting import (
    AccountingEvent,
    AcctStatus,
    ClosedBy,
    apply_event,
    called_station,
    combine,
    expired_entries,
    normalize_mac,
    plan_close,
    plan_update,
)
from core.radius.model import SubscriberView
from core.radius.usage import HOURLY_RETENTION_HOURS, PeriodKind, current_periods, stale_keys

MX = ZoneInfo("America/Mexico_City")
T0 = datetime(2026, 11, 18, 17, 0, tzinfo=UTC)
SUB = SubscriberView(
    login="t#ana",
    id="sub",
    tenant_id="t",
    username="ana",
    password_enc="x",
    product_assigned_at="2026-11-01T06:00:00.000000Z",
)


def ev(status: AcctStatus, at: datetime = T0, t: int = 0, i: int = 0, o: int = 0, **kw) -> AccountingEvent:
    return AccountingEvent(
        status=status,
        nas_ip="10.0.0.1",
        username="ana",
        acct_session_id="S1",
        received_at=at,
        session_time=t,
        input_octets=i,
        output_octets=o,
        **kw,
    )


def run(sub: SubscriberView, event: AccountingEvent, **kw):
    return plan_update(
        sub,
        event,
        interim_s=300,
        tz=MX,
        first_day_of_week=1,
        hourly=kw.pop("hourly", False),
        nas_reboots=kw.pop("nas_reboots", {}),
    )


def apply(sub: SubscriberView, event: AccountingEvent, **kw) -> SubscriberView:
    """Apply a plan the way the store does (used to chain packets in these tests)."""
    plan = run(sub, event, **kw)
    if plan is None:
        return sub
    write, _ = plan
    usage = {k: v for k, v in sub.usage.items() if k not in write.remove_usage}
    for k, d in write.add_usage.items():
        usage[k] = usage.get(k, 0) + d
    sessions = {k: v for k, v in sub.open_sessions.items() if k not in write.remove_sessions}
    sessions[write.key] = write.entry
    return replace(sub, usage=usage, open_sessions=sessions)


@pytest.mark.parametrize(
    "octets, gigawords, total",
    [(0, 0, 0), (5, 0, 5), (0, 1, 1 << 32), (0xFFFFFFFF, 2, (3 << 32) - 1), (None, None, 0)],
)
def test_counters_combine_to_64_bits(octets, gigawords, total):
    assert combine(octets, gigawords) == total


@pytest.mark.parametrize(
    "raw, mac",
    [
        ("aa-bb-cc-dd-ee-ff", "AA:BB:CC:DD:EE:FF"),
        ("AABB.CCDD.EEFF", "AA:BB:CC:DD:EE:FF"),
        ("aabbccddeeff", "AA:BB:CC:DD:EE:FF"),
        ("not a mac", None),
        ("", None),
    ],
)
def test_mac_normalization(raw, mac):
    assert normalize_mac(raw) == mac


def test_called_station_splits_gateway_mac_and_ssid():
    assert called_station("00-11-22-33-44-55:Hotel Lobby") == ("00:11:22:33:44:55", "Hotel Lobby")
    assert called_station("00:11:22:33:44:55") == ("00:11:22:33:44:55", None)
    assert called_station("hotspot1") == (None, None)


def test_interim_updates_apply_only_the_increase_once():
    sub = apply(SUB, ev(AcctStatus.START, mac="AA:AA:AA:AA:AA:01"))
    sub = apply(sub, ev(AcctStatus.INTERIM, T0 + timedelta(minutes=5), t=300, i=1000, o=5000))
    sub = apply(sub, ev(AcctStatus.INTERIM, T0 + timedelta(minutes=5), t=300, i=1000, o=5000))  # duplicate
    sub = apply(sub, ev(AcctStatus.INTERIM, T0 + timedelta(minutes=10), t=600, i=3000, o=9000))
    sub = apply(sub, ev(AcctStatus.INTERIM, T0 + timedelta(minutes=7), t=420, i=2000, o=7000))  # late, older
    assert sub.usage["d:2026-11-18:t"] == 600
    assert sub.usage["m:2026-11:i"] == 3000 and sub.usage["w:2026-11-16:o"] == 9000
    sub = apply(
        sub,
        ev(
            AcctStatus.STOP,
            T0 + timedelta(minutes=12),
            t=720,
            i=4000,
            o=10_000,
            terminate_cause="User-Request",
        ),
    )
    sub = apply(
        sub, ev(AcctStatus.STOP, T0 + timedelta(minutes=12), t=720, i=4000, o=10_000)
    )  # retransmitted
    sub = apply(
        sub, ev(AcctStatus.INTERIM, T0 + timedelta(minutes=11), t=660, i=3500, o=9500)
    )  # after the Stop
    assert sub.usage["d:2026-11-18:t"] == 720 and sub.usage["d:2026-11-18:o"] == 10_000
    entry = sub.open_sessions[ev(AcctStatus.STOP).key]
    assert entry.closed_by == ClosedBy.STOP and not entry.is_open


def test_duplicate_packets_plan_no_write():
    sub = apply(SUB, ev(AcctStatus.START))
    assert run(sub, ev(AcctStatus.START)) is None
    sub = apply(sub, ev(AcctStatus.INTERIM, t=60, i=1, o=1))
    assert run(sub, ev(AcctStatus.INTERIM, t=60, i=1, o=1)) is None


def test_interim_without_start_counts_what_it_reports():
    sub = apply(SUB, ev(AcctStatus.INTERIM, t=600, i=10, o=20))
    entry = next(iter(sub.open_sessions.values()))
    assert entry.started_at == iso(T0 - timedelta(seconds=600))
    assert sub.usage["d:2026-11-18:t"] == 600


def test_usage_beyond_4_gib_is_not_lost():
    sub = apply(SUB, ev(AcctStatus.START))
    big = combine(123, 5)
    sub = apply(sub, ev(AcctStatus.INTERIM, t=60, o=big))
    assert sub.usage["m:2026-11:o"] == (5 << 32) + 123


def test_session_closed_on_our_side_reopens_on_an_update():
    sub = apply(SUB, ev(AcctStatus.START))
    write = plan_close(sub, ev(AcctStatus.START).key, ClosedBy.REAPER, T0)
    assert write is not None and write.entry.closed_by == ClosedBy.REAPER
    sub = replace(sub, open_sessions={write.key: write.entry})
    change = apply_event(write.entry, ev(AcctStatus.INTERIM, t=900, i=5), 300)
    assert change is not None and change.reopened and change.entry.is_open
    assert plan_close(replace(sub, open_sessions={}), write.key, ClosedBy.REAPER, T0) is None


def test_first_packet_of_a_device_registers_it_and_a_new_product_restarts_the_list():
    sub = replace(SUB, devices=("AA:AA:AA:AA:AA:09",), devices_since="old-assignment")
    plan = run(sub, ev(AcctStatus.START, mac="AA:AA:AA:AA:AA:01"))
    assert plan is not None
    write, _ = plan
    assert write.add_device == "AA:AA:AA:AA:AA:01" and write.devices_since == SUB.product_assigned_at


def test_periods_follow_the_gateway_zone_and_first_day_of_week():
    # Sunday 23:30 in Mexico City = Monday 05:30 UTC
    at = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)
    p = current_periods(at, MX, 1)
    assert p[PeriodKind.DAY].key == "d:2026-11-22"
    assert p[PeriodKind.WEEK].key == "w:2026-11-16"  # Monday-first: still last week
    assert current_periods(at, MX, 7)[PeriodKind.WEEK].key == "w:2026-11-22"  # Sunday-first: a new week
    assert p[PeriodKind.MONTH].key == "m:2026-11"
    assert p[PeriodKind.DAY].end == datetime(2026, 11, 23, tzinfo=MX)


def test_periods_across_a_daylight_saving_change():
    ny = ZoneInfo("America/New_York")
    at = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # the day clocks go back: 25 hours long
    day = current_periods(at, ny, 1)[PeriodKind.DAY]
    assert (day.end.astimezone(UTC) - day.start.astimezone(UTC)) == timedelta(hours=25)


def test_old_counters_are_pruned_and_recent_ones_kept():
    at = datetime(2026, 11, 18, 17, 0, tzinfo=UTC)
    current = current_periods(at, MX, 1, "2026-11-01T06:00:00.000000Z")
    old_hour = f"h:{(at - timedelta(hours=HOURLY_RETENTION_HOURS + 1)):%Y%m%d%H}:o"
    keys = [
        "d:2026-11-18:t",
        "d:2026-11-17:t",
        "d:2026-11-16:t",
        "w:2026-11-09:t",
        "w:2026-11-02:o",
        "m:2026-10:i",
        "m:2026-09:i",
        "h:2026111816:o",
        old_hour,
        "p:2026-11-01T06:00:00.000000Z:t",
        "p:2026-10-01T06:00:00.000000Z:t",
    ]
    assert sorted(stale_keys(keys, at, MX, current)) == sorted(
        ["d:2026-11-16:t", "w:2026-11-02:o", "m:2026-09:i", old_hour, "p:2026-10-01T06:00:00.000000Z:t"]
    )


def test_hourly_buckets_only_when_asked():
    sub = apply(SUB, ev(AcctStatus.START))
    plan = run(sub, ev(AcctStatus.INTERIM, t=60, i=10, o=20), hourly=True)
    assert plan is not None and plan[0].add_usage["h:2026111817:o"] == 20
    plan = run(sub, ev(AcctStatus.INTERIM, t=60, i=10, o=20))
    assert plan is not None and not any(k.startswith("h:") for k in plan[0].add_usage)


def test_expired_tombstones_and_abandoned_sessions_leave_the_item():
    sub = apply(SUB, ev(AcctStatus.START))
    sub = apply(sub, ev(AcctStatus.STOP, t=60))
    later = T0 + timedelta(days=2)
    assert expired_entries(sub.open_sessions, later, {}) == [ev(AcctStatus.STOP).key]
    assert expired_entries(sub.open_sessions, T0 + timedelta(hours=1), {}) == []


def test_traffic_while_modulation_is_active_also_counts_in_the_active_month_counter():
    from datetime import UTC, datetime

    from core.radius.usage import usage_deltas

    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    plain = usage_deltas([], now, 60, upload=10, download=20, hourly=True)
    active = usage_deltas([], now, 60, upload=10, download=20, hourly=True, active_month="2026-11")
    assert "a:2026-11:o" not in plain
    assert active["a:2026-11:o"] == 20 and active["a:2026-11:i"] == 10


def test_32_bit_counters_without_gigawords_wrap():
    g = 1 << 32
    no_gw = {"input_gigawords": False, "output_gigawords": False}
    first = apply_event(None, ev(AcctStatus.INTERIM, t=300, o=4_000_000_000, **no_gw), 300)
    assert first is not None
    wrapped = apply_event(first.entry, ev(AcctStatus.INTERIM, t=600, o=100, i=5, **no_gw), 300)
    assert wrapped is not None and wrapped.entry.output_octets == g + 100
    assert wrapped.download == g + 100 - 4_000_000_000 and wrapped.upload == 5
    # later packets stay in the new 4 GiB turn
    on = apply_event(wrapped.entry, ev(AcctStatus.INTERIM, t=900, o=200, i=5, **no_gw), 300)
    assert on is not None and on.entry.output_octets == g + 200 and on.download == 100
    # an older packet arriving late (lower time and counter) is not a wrap
    assert apply_event(on.entry, ev(AcctStatus.INTERIM, t=600, o=100, i=5, **no_gw), 300) is None
    # with gigawords the 64-bit value is taken as it is: a lower one is an old packet
    assert apply_event(first.entry, ev(AcctStatus.INTERIM, t=600, o=100), 300) is not None
    assert apply_event(first.entry, ev(AcctStatus.INTERIM, t=600, o=100), 300).download == 0


def _stale_reference(keys, now, tz, current):
    """stale_keys as first written: every threshold computed from the packet's time."""
    from datetime import date

    local_today = now.astimezone(tz).date()
    keep_day = (local_today - timedelta(days=1)).isoformat()
    keep_week = (date.fromisoformat(current[PeriodKind.WEEK].key[2:]) - timedelta(days=7)).isoformat()
    keep_month = f"{(local_today.replace(day=1) - timedelta(days=1)):%Y-%m}"
    keep_hour = f"{(now.astimezone(UTC) - timedelta(hours=HOURLY_RETENTION_HOURS)):%Y%m%d%H}"
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


@pytest.mark.parametrize("zone", ["America/Mexico_City", "UTC", "Asia/Kolkata", "Pacific/Auckland"])
def test_cached_thresholds_drop_the_same_keys_at_every_hour_of_a_year(zone):
    tz = ZoneInfo(zone)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for step in range(0, 24 * 366, 7):  # every 7th hour of a year, minutes varying: DST and month ends
        at = start + timedelta(hours=step, minutes=step % 60, seconds=step % 7)
        current = current_periods(at, tz, 1 + step % 7, "2026-03-01T06:00:00.000000Z")
        keys = [
            f"{kind}:{(at - timedelta(days=back)).astimezone(tz):{fmt}}:t"
            for back in (0, 1, 2, 8, 15, 32, 62)
            for kind, fmt in (("d", "%Y-%m-%d"), ("w", "%Y-%m-%d"), ("m", "%Y-%m"), ("a", "%Y-%m"))
        ] + [f"h:{(at - timedelta(hours=h)).astimezone(UTC):%Y%m%d%H}:o" for h in (0, 167, 168, 169, 200)]
        keys.append("p:2026-03-01T06:00:00.000000Z:t")
        assert stale_keys(keys, at, tz, current) == _stale_reference(keys, at, tz, current), at


def test_iso_is_the_strftime_text_for_any_instant_and_offset():
    import random
    from datetime import timezone

    rng = random.Random(7)
    for _ in range(20_000):
        at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.uniform(0, 4e9))
        at = at.astimezone(timezone(timedelta(minutes=rng.randint(-720, 840))))
        assert iso(at) == at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
