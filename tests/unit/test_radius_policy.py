"""Every product-policy rule of SPEC S6 (and the S3 statuses) as seen by an Access-Request."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.ids import iso
from core.radius.model import (
    BYTES_PER_MB,
    Allowances,
    CustomAttribute,
    GatewayView,
    OpenSession,
    PolicyView,
    ProductView,
    SubscriberView,
)
from core.radius.policy import AuthRequest, Decision, Rates, RejectReason, evaluate
from core.rates import Burst

# Wednesday 18 November 2026, 11:00 in Mexico City (UTC-6 all year)
NOW = datetime(2026, 11, 18, 17, 0, tzinfo=UTC)
ASSIGNED = "2026-11-01T06:00:00.000000Z"
MAC_A, MAC_B, MAC_C = "AA:AA:AA:AA:AA:01", "AA:AA:AA:AA:AA:02", "AA:AA:AA:AA:AA:03"

GW = GatewayView(
    id="gw", tenant_id="t", name="Router", nas_ip="10.0.0.1", secret_enc="x", timezone="America/Mexico_City"
)
POLICY = PolicyView(id="pol", download_rate=10_000_000, upload_rate=2_000_000)
PRODUCT = ProductView(id="prod", policy_id="pol")
SUB = SubscriberView(
    login="t#ana",
    id="sub",
    tenant_id="t",
    username="ana",
    password_enc="x",
    product_id="prod",
    product_assigned_at=ASSIGNED,
)


def decide(
    sub: SubscriberView = SUB,
    product: ProductView | None = PRODUCT,
    policy: PolicyView | None = POLICY,
    gateway: GatewayView = GW,
    now: datetime = NOW,
    mac: str | None = MAC_A,
    **request: Any,
) -> Decision:
    return evaluate(
        sub, product, policy, gateway, AuthRequest(nas_ip=gateway.nas_ip, mac=mac, **request), now
    )


def pol(**kw: Any) -> PolicyView:
    return replace(POLICY, **kw)


def allow(**kw: int) -> Allowances:
    return Allowances(**kw)


def used(**counters: int) -> SubscriberView:
    return replace(SUB, usage=counters)


def rejected(d: Decision, reason: RejectReason) -> bool:
    return not d.accept and d.reason == reason and bool(d.message)


# ---------------------------------------------------------------- basics
def test_session_idle_interim_and_rate():
    d = decide(policy=pol(session_timeout_min=30, idle_timeout_min=10, interim_update_s=600))
    assert d.accept
    assert d.attribute("Session-Timeout") == 1800
    assert d.attribute("Idle-Timeout") == 600
    assert d.attribute("Acct-Interim-Interval") == 600
    assert d.attribute("Mikrotik-Rate-Limit") == "2M/10M"  # rx = upload, tx = download


@pytest.mark.parametrize("configured, sent", [(0, 300), (60, 300), (299, 300), (300, 300), (900, 900)])
def test_interim_update_below_300_becomes_300(configured, sent):
    assert decide(policy=pol(interim_update_s=configured)).attribute("Acct-Interim-Interval") == sent


def test_no_timeouts_when_policy_has_none():
    d = decide()
    assert d.attribute("Session-Timeout") is None and d.attribute("Idle-Timeout") is None


def test_burst_with_all_six_fields():
    burst = Burst(
        download_limit=20_000_000,
        upload_limit=4_000_000,
        download_threshold=8_000_000,
        upload_threshold=1_500_000,
        download_time=16,
        upload_time=8,
    )
    d = decide(policy=pol(burst=burst))
    assert d.attribute("Mikrotik-Rate-Limit") == "2M/10M 4M/20M 1500k/8M 8/16"


def test_other_vendors_get_wispr_rates_and_no_mikrotik_attributes():
    d = decide(
        gateway=replace(GW, vendor="unifi"),
        policy=pol(address_list="vip", allowances=allow(monthly_data_mb=100)),
    )
    names = {n for n, _ in d.reply}
    assert d.attribute("WISPr-Bandwidth-Max-Down") == 10_000_000
    assert d.attribute("WISPr-Bandwidth-Max-Up") == 2_000_000
    assert not any(n.startswith("Mikrotik-") for n in names)


def test_static_pppoe_address_and_router_profile():
    d = decide(sub=replace(SUB, ip="10.10.0.10", router_profile="plan-10"))
    assert d.attribute("Framed-IP-Address") == "10.10.0.10"
    assert d.attribute("Mikrotik-Group") == "plan-10"
    hotspot = decide(sub=replace(SUB, ip="10.10.0.10", connection_type="hotspot"))
    assert hotspot.attribute("Framed-IP-Address") is None


# ---------------------------------------------------------------- time allowances
def test_daily_time_60_with_50_used_gives_600_seconds():
    d = decide(sub=used(**{"d:2026-11-18:t": 50 * 60}), policy=pol(allowances=allow(daily_time_min=60)))
    assert d.accept and d.attribute("Session-Timeout") == 600


def test_daily_time_used_up_is_rejected_until_midnight_local():
    d = decide(sub=used(**{"d:2026-11-18:t": 60 * 60}), policy=pol(allowances=allow(daily_time_min=60)))
    assert rejected(d, RejectReason.TIME_ALLOWANCE)
    assert "Daily time allowance used up" in d.message
    assert "2026-11-19 00:00 CST" in d.message


def test_yesterdays_usage_does_not_count():
    d = decide(sub=used(**{"d:2026-11-17:t": 60 * 60}), policy=pol(allowances=allow(daily_time_min=60)))
    assert d.accept and d.attribute("Session-Timeout") == 3600


def test_remaining_time_beyond_midnight_runs_into_the_next_day_allowance():
    late = datetime(2026, 11, 19, 5, 50, tzinfo=UTC)  # 23:50 local: 10 minutes to the reset
    d = decide(now=late, policy=pol(allowances=allow(daily_time_min=60)))
    assert d.attribute("Session-Timeout") == 600 + 3600


@pytest.mark.parametrize(
    "policy_value, product_value, expected_timeout",
    [(60, 30, 3600), (0, 30, 1800), (30, 0, 1800), (0, 0, None)],
)
def test_policy_allowance_beats_product(policy_value, product_value, expected_timeout):
    d = decide(
        policy=pol(allowances=allow(daily_time_min=policy_value)),
        product=replace(PRODUCT, allowances=allow(daily_time_min=product_value)),
    )
    assert d.attribute("Session-Timeout") == expected_timeout


@pytest.mark.parametrize(
    "first_day, week_key, reset",
    [
        (1, "w:2026-11-16", "2026-11-23 00:00"),
        (7, "w:2026-11-15", "2026-11-22 00:00"),
        (3, "w:2026-11-18", "2026-11-25 00:00"),
        (0, "w:2026-11-16", "2026-11-23 00:00"),
    ],
)
def test_weekly_period_starts_on_the_first_day_of_the_week(first_day, week_key, reset):
    policy = pol(first_day_of_week=first_day, allowances=allow(weekly_time_min=120))
    d = decide(sub=used(**{f"{week_key}:t": 120 * 60}), policy=policy)
    assert rejected(d, RejectReason.TIME_ALLOWANCE) and reset in d.message and "Weekly" in d.message


def test_gateway_default_first_day_applies_when_policy_says_default():
    gw = replace(GW, domain_settings={"first_day_of_week": 7})
    d = decide(
        gateway=gw, sub=used(**{"w:2026-11-15:t": 7200}), policy=pol(allowances=allow(weekly_time_min=120))
    )
    assert rejected(d, RejectReason.TIME_ALLOWANCE)


def test_monthly_time_uses_the_gateway_time_zone():
    # 1 December 02:00 UTC is still 30 November in Mexico City: November's usage counts
    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    d = decide(
        now=now, sub=used(**{"m:2026-11:t": 600 * 60}), policy=pol(allowances=allow(monthly_time_min=600))
    )
    assert rejected(d, RejectReason.TIME_ALLOWANCE) and "2026-12-01 00:00 CST" in d.message
    utc_gw = replace(GW, timezone="UTC")
    assert decide(
        now=now,
        gateway=utc_gw,
        sub=used(**{"m:2026-11:t": 36000}),
        policy=pol(allowances=allow(monthly_time_min=600)),
    ).accept


# ---------------------------------------------------------------- data allowances
def test_daily_data_caps_the_session_total_limit():
    d = decide(
        sub=used(**{"d:2026-11-18:i": 100 * BYTES_PER_MB, "d:2026-11-18:o": 850 * BYTES_PER_MB}),
        policy=pol(allowances=allow(daily_data_mb=1000)),
    )
    assert d.attribute("Mikrotik-Total-Limit") == 50 * BYTES_PER_MB
    assert d.attribute("Mikrotik-Total-Limit-Gigawords") == 0


def test_data_limit_above_4_gib_uses_gigawords():
    d = decide(policy=pol(allowances=allow(monthly_data_mb=5 * 1024)))
    assert d.attribute("Mikrotik-Total-Limit-Gigawords") == 1
    assert d.attribute("Mikrotik-Total-Limit") == 1024 * BYTES_PER_MB
    assert d.data_limit == 5 * 1024 * BYTES_PER_MB


def test_data_used_up_is_rejected_so_the_user_cannot_log_straight_back_in():
    d = decide(
        sub=used(**{"m:2026-11:o": 2000 * BYTES_PER_MB}), policy=pol(allowances=allow(monthly_data_mb=2000))
    )
    assert rejected(d, RejectReason.DATA_ALLOWANCE) and "2026-12-01 00:00" in d.message


def test_smallest_remaining_allowance_wins():
    d = decide(
        sub=used(
            **{
                "w:2026-11-16:t": 110 * 60,
                "d:2026-11-18:o": 10 * BYTES_PER_MB,
                "m:2026-11:o": 10 * BYTES_PER_MB,
            }
        ),
        policy=pol(
            allowances=allow(daily_time_min=60, weekly_time_min=120, daily_data_mb=500, monthly_data_mb=100)
        ),
    )
    assert d.attribute("Session-Timeout") == 600
    assert d.data_limit == 90 * BYTES_PER_MB


def test_free_auto_generated_users_are_exempt_from_allowances():
    sub = replace(used(**{"d:2026-11-18:t": 3600}), free_user=True)
    d = decide(sub=sub, policy=pol(allowances=allow(daily_time_min=60, daily_data_mb=1)))
    assert d.accept and d.attribute("Session-Timeout") is None and d.data_limit is None


def test_prepaid_time_credit_and_carry_over():
    product = replace(PRODUCT, time_credit_min=60)
    period = f"p:{ASSIGNED}:t"
    assert rejected(decide(product=product, sub=used(**{period: 3600})), RejectReason.CREDIT_USED)
    carried = replace(used(**{period: 3600}), carry_over={"time_min": 30})
    assert decide(product=product, sub=carried).attribute("Session-Timeout") == 1800


# ---------------------------------------------------------------- devices and connections
def _session(key: str, mac: str, *, nas: str = "10.0.0.1", minutes_ago: int = 1, **kw: Any) -> OpenSession:
    at = iso(NOW - timedelta(minutes=minutes_ago))
    return OpenSession(key=key, nas_ip=nas, acct_session_id=key, started_at=at, last_update=at, mac=mac, **kw)


def test_max_devices_counts_devices_since_the_product_assignment():
    sub = replace(SUB, devices=(MAC_A, MAC_B), devices_since=ASSIGNED)
    policy = pol(max_devices=2)
    assert decide(sub=sub, policy=policy, mac=MAC_B).accept
    d = decide(sub=sub, policy=policy, mac=MAC_C)
    assert rejected(d, RejectReason.TOO_MANY_DEVICES) and "2 device" in d.message
    # a new product (new assignment) starts a new count
    assert decide(
        sub=replace(sub, product_assigned_at="2026-11-18T00:00:00.000000Z"), policy=policy, mac=MAC_C
    ).accept


def test_concurrent_connections():
    policy = pol(concurrent_connections=1)
    busy = replace(SUB, open_sessions={"s1": _session("s1", MAC_B)})
    d = decide(sub=busy, policy=policy, mac=MAC_A)
    assert rejected(d, RejectReason.TOO_MANY_SESSIONS) and "1 at the same time" in d.message
    assert decide(sub=busy, policy=pol(concurrent_connections=2), mac=MAC_A).accept


def test_stale_sessions_do_not_lock_users_out():
    policy = pol(concurrent_connections=1)
    stale = replace(SUB, open_sessions={"s1": _session("s1", MAC_B, minutes_ago=60)})
    assert decide(sub=stale, policy=policy).accept
    closed = replace(SUB, open_sessions={"s1": _session("s1", MAC_B, closed_by="stop", ended_at=iso(NOW))})
    assert decide(sub=closed, policy=policy).accept


def test_sessions_from_before_the_nas_reboot_do_not_count():
    policy = pol(concurrent_connections=1)
    sub = replace(SUB, open_sessions={"s1": _session("s1", MAC_B, minutes_ago=3)})
    reboot = {"10.0.0.1": iso(NOW - timedelta(minutes=2))}
    assert decide(sub=sub, policy=policy, nas_reboots=reboot).accept
    assert not decide(sub=sub, policy=policy, nas_reboots={}).accept


def test_the_same_device_reconnecting_replaces_its_session():
    policy = pol(concurrent_connections=1)
    sub = replace(SUB, open_sessions={"s1": _session("s1", MAC_A)})
    assert decide(sub=sub, policy=policy, mac=MAC_A).accept


@pytest.mark.parametrize(
    "monthly_min, expected_s",
    [(300, 100 * 60), (12, 5 * 60), (3, 3 * 60)],  # share; minimum 5 min; never above what remains
)
def test_split_time_credits_between_concurrent_connections(monthly_min, expected_s):
    policy = pol(
        split_credits=True,
        concurrent_connections=3,
        max_devices=3,
        allowances=allow(monthly_time_min=monthly_min),
        min_split_time_min=1,
    )
    assert decide(policy=policy).attribute("Session-Timeout") == expected_s


@pytest.mark.parametrize("monthly_mb, expected_mb", [(30, 10), (20, 10), (3000, 1000), (6, 6)])
def test_split_data_credits_with_minimum_10_mb(monthly_mb, expected_mb):
    policy = pol(split_credits=True, concurrent_connections=3, allowances=allow(monthly_data_mb=monthly_mb))
    assert decide(policy=policy).data_limit == expected_mb * BYTES_PER_MB


# ---------------------------------------------------------------- activation scheduler
WORKDAYS = {str(d): list(range(8, 18)) for d in range(1, 6)}  # Mon-Fri 08:00-18:00


def test_schedule_allows_login_and_session_ends_with_the_window():
    d = decide(policy=pol(schedule=WORKDAYS))  # Wednesday 11:00
    assert d.accept and d.attribute("Session-Timeout") == 7 * 3600


def test_schedule_rejects_outside_hours_with_next_opening():
    d = decide(policy=pol(schedule=WORKDAYS), now=NOW + timedelta(hours=9))  # Wednesday 20:00
    assert rejected(d, RejectReason.OUTSIDE_HOURS) and "2026-11-19 08:00" in d.message
    friday_night = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)  # Friday 21:00 local
    d = decide(policy=pol(schedule=WORKDAYS), now=friday_night)
    assert rejected(d, RejectReason.OUTSIDE_HOURS) and "2026-11-23 08:00" in d.message


def test_schedule_window_across_midnight_and_session_timeout_cap():
    night = {"3": [22, 23], "4": [0, 1, 2, 3, 4, 5]}
    at = datetime(2026, 11, 19, 4, 30, tzinfo=UTC)  # Wednesday 22:30 local
    d = decide(policy=pol(schedule=night, session_timeout_min=600), now=at)
    assert d.attribute("Session-Timeout") == int(7.5 * 3600)  # until Thursday 06:00, not 10 hours


def test_reset_and_opening_times_skipped_by_the_clocks_show_the_time_the_clocks_show():
    # Santiago moves its clocks from 00:00 to 01:00 on Sunday 6 September 2026: the day starts at 01:00
    santiago = replace(GW, timezone="America/Santiago")
    saturday_evening = datetime(2026, 9, 6, 0, 0, tzinfo=UTC)  # Saturday 20:00 local (UTC-4)
    d = decide(
        gateway=santiago,
        now=saturday_evening,
        sub=used(**{"d:2026-09-05:t": 3600}),
        policy=pol(allowances=allow(daily_time_min=60)),
    )
    assert rejected(d, RejectReason.TIME_ALLOWANCE)
    assert "It resets on 2026-09-06 01:00 -03." in d.message
    # New York moves from 02:00 to 03:00 on Sunday 8 March 2026: an opening at 02:00 happens at 03:00
    new_york = replace(GW, timezone="America/New_York")
    sunday_night = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)  # Sunday 01:30 EST
    d = decide(gateway=new_york, now=sunday_night, policy=pol(schedule={"7": list(range(2, 24))}))
    assert rejected(d, RejectReason.OUTSIDE_HOURS) and "Next opening: 2026-03-08 03:00 EDT." in d.message


@pytest.mark.parametrize(
    "zone, now, expected",
    [
        # Santiago, clocks back from 00:00 to 23:00 on Saturday 4 April: the day lasts 25 hours
        ("America/Santiago", datetime(2026, 4, 5, 1, 30, tzinfo=UTC), int(2.5 * 3600)),  # 22:30 (UTC-3)
        ("America/Santiago", datetime(2026, 4, 5, 3, 30, tzinfo=UTC), 1800),  # the second 23:30 (UTC-4)
        # Santiago, clocks forward from 00:00 to 01:00 on Sunday 6 September
        ("America/Santiago", datetime(2026, 9, 6, 3, 30, tzinfo=UTC), 1800),  # Saturday 23:30 (UTC-4)
        # New York, clocks back from 02:00 to 01:00 on Sunday 1 November: 01:00-02:00 twice
        ("America/New_York", datetime(2026, 11, 1, 5, 30, tzinfo=UTC), int(1.5 * 3600)),  # 01:30 EDT
        ("America/New_York", datetime(2026, 11, 1, 6, 30, tzinfo=UTC), 1800),  # 01:30 EST
        # New York, clocks forward from 02:00 to 03:00 on Sunday 8 March
        ("America/New_York", datetime(2026, 3, 8, 6, 30, tzinfo=UTC), 1800),  # 01:30 EST
    ],
)
def test_schedule_window_ends_at_the_real_instant_on_daylight_saving_days(zone, now, expected):
    # Login allowed on Saturday and until the night's closing hour on Sunday: midnight in Santiago
    # (the changes happen there), 02:00 in New York; the session lasts until the clocks show that hour
    closes = 0 if zone == "America/Santiago" else 2
    schedule = {"6": list(range(24)), "7": list(range(closes))}
    d = decide(gateway=replace(GW, timezone=zone), now=now, policy=pol(schedule=schedule))
    assert d.accept and d.attribute("Session-Timeout") == expected


def test_session_timeout_never_passes_product_expiry():
    sub = replace(SUB, product_expires_at=iso(NOW + timedelta(minutes=20)))
    assert decide(sub=sub, policy=pol(session_timeout_min=60)).attribute("Session-Timeout") == 1200


# ---------------------------------------------------------------- address list, check and reply attributes
def test_address_list_policy_beats_product():
    product = replace(PRODUCT, address_list="from-product")
    assert (
        decide(product=product, policy=pol(address_list="from-policy")).attribute("Mikrotik-Address-List")
        == "from-policy"
    )
    assert decide(product=product).attribute("Mikrotik-Address-List") == "from-product"


@pytest.mark.parametrize(
    "check, values, ok",
    [
        (CustomAttribute("NAS-Identifier", "demo-router"), ("demo-router",), True),
        (CustomAttribute("NAS-Identifier", "demo-router"), ("other",), False),
        (CustomAttribute("NAS-Identifier", "demo-router"), (), False),
        (CustomAttribute("NAS-Port-Type", "Wireless-802.11", "!="), ("Ethernet",), True),
        (CustomAttribute("Called-Station-Id", r"^AA-BB", "=~"), ("AA-BB-CC-00-00-01:Lobby",), True),
        (CustomAttribute("NAS-Port", "10", ">="), ("7",), False),
        (CustomAttribute("Called-Station-Id", "([unclosed", "=~"), ("x",), False),
        # FreeRADIUS semantics: an absent attribute fails every operator but !* and :=
        (CustomAttribute("NAS-Port-Type", "Wireless-802.11", "!="), (), False),
        (CustomAttribute("NAS-Port-Type", "Ethernet", "!="), ("Ethernet", "Virtual"), True),
        (CustomAttribute("Called-Station-Id", "^AA", "!~"), ("BB-00",), True),
        (CustomAttribute("Called-Station-Id", "^AA", "!~"), (), False),
        (CustomAttribute("NAS-Identifier", "", "=*"), ("demo-router",), True),
        (CustomAttribute("NAS-Identifier", "", "=*"), (), False),
        (CustomAttribute("NAS-Identifier", "", "!*"), (), True),
        (CustomAttribute("NAS-Identifier", "", "!*"), ("demo-router",), False),
        (CustomAttribute("Framed-Protocol", "PPP", ":="), (), True),
        (CustomAttribute("Simultaneous-Use", "2", ":="), (), True),
        (CustomAttribute("Simultaneous-Use", "2", "=="), (), True),
        # a catastrophic pattern for a backtracking engine answers at once (RE2, linear time)
        (CustomAttribute("NAS-Identifier", "^(a+)+$", "=~"), ("a" * 26 + "!",), False),
    ],
)
def test_custom_check_attributes_must_match(check, values, ok):
    attrs = {check.name: values} if values else {}
    d = decide(policy=pol(check_attributes=(check,)), attributes=attrs)
    assert d.accept is ok
    if not ok:
        assert d.reason == RejectReason.CHECK_ATTRIBUTE and check.name in d.message


def test_simultaneous_use_caps_concurrent_sessions_like_concurrent_connections():
    sessions = {k: _session(k, f"AA:00:00:00:00:0{i}") for i, k in enumerate(("s1", "s2"))}
    sub = replace(SUB, open_sessions=sessions)
    two = (CustomAttribute("Simultaneous-Use", "2", ":="),)
    assert rejected(decide(sub=sub, policy=pol(check_attributes=two)), RejectReason.TOO_MANY_SESSIONS)
    three = (CustomAttribute("Simultaneous-Use", "3", ":="),)
    assert decide(sub=sub, policy=pol(check_attributes=three)).accept


def test_reply_operators_set_or_add():
    extra = (
        CustomAttribute("Mikrotik-Address-List", "vip", "+="),
        CustomAttribute("Filter-Id", "a", "="),
        CustomAttribute("Filter-Id", "b", "="),
        CustomAttribute("Reply-Message", "x", "="),
        CustomAttribute("Reply-Message", "y", ":="),
    )
    d = decide(product=replace(PRODUCT, address_list="clients"), policy=pol(reply_attributes=extra))
    assert [v for n, v in d.reply if n == "Mikrotik-Address-List"] == ["clients", "vip"]
    assert [v for n, v in d.reply if n == "Filter-Id"] == ["a", "b"]
    assert [v for n, v in d.reply if n == "Reply-Message"] == ["y"]


def test_custom_reply_attributes_are_added_and_override():
    extra = (CustomAttribute("Filter-Id", "gold"), CustomAttribute("Mikrotik-Rate-Limit", "5M/5M"))
    d = decide(policy=pol(reply_attributes=extra))
    assert d.attribute("Filter-Id") == "gold"
    assert [v for n, v in d.reply if n == "Mikrotik-Rate-Limit"] == ["5M/5M"]


# ---------------------------------------------------------------- statuses and products
@pytest.mark.parametrize(
    "status, reason",
    [("cancelled", RejectReason.CANCELLED), ("inactive", RejectReason.INACTIVE)],
)
def test_statuses_that_refuse(status, reason):
    assert rejected(decide(sub=replace(SUB, status=status)), reason)


def test_suspended_gets_restricted_access_or_a_reject_per_gateway():
    sub = replace(SUB, status="suspended")
    d = decide(sub=sub, gateway=replace(GW, blocked_pool="blocked-pool"))
    assert d.accept and d.restricted
    assert d.attribute("Mikrotik-Address-List") == "morosos"
    assert d.attribute("Framed-Pool") == "blocked-pool"
    assert "non-payment" in str(d.attribute("Reply-Message"))
    assert rejected(decide(sub=sub, gateway=replace(GW, blocked_mode="reject")), RejectReason.SUSPENDED)


def test_no_product_and_expired_product():
    assert rejected(decide(product=None), RejectReason.NO_PRODUCT)
    expired = replace(SUB, product_expires_at=iso(NOW - timedelta(seconds=1)))
    d = decide(sub=expired)
    assert rejected(d, RejectReason.PRODUCT_EXPIRED) and "expired on 2026-11-18 10:59" in d.message
    by_validity = decide(product=replace(PRODUCT, validity_days=10))  # assigned 1 Nov + 10 days
    assert rejected(by_validity, RejectReason.PRODUCT_EXPIRED)


# ---------------------------------------------------------------- rate modulation hook (SPEC S6, issue 9)
def test_modulator_changes_the_rate_sent():
    seen: dict[str, Any] = {}

    def halve(*, modulation, rates, usage, now, tz):
        seen.update(modulation=modulation, usage=usage, tz=str(tz))
        return Rates(rates.download // 2, rates.upload // 2, rates.burst)

    sub = used(**{"m:2026-11:o": 123})
    policy = pol(modulation={"algorithm": "linear"})
    d = evaluate(sub, PRODUCT, policy, GW, AuthRequest(nas_ip=GW.nas_ip), NOW, halve)
    assert d.attribute("Mikrotik-Rate-Limit") == "1M/5M"
    assert seen == {
        "modulation": {"algorithm": "linear"},
        "usage": {"m:2026-11:o": 123},
        "tz": "America/Mexico_City",
    }
    # without modulation settings the modulator is not consulted
    assert (
        evaluate(sub, PRODUCT, POLICY, GW, AuthRequest(nas_ip=GW.nas_ip), NOW, halve).attribute(
            "Mikrotik-Rate-Limit"
        )
        == "2M/10M"
    )
