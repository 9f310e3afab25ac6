"""Billing calendar (SPEC S5): cycles, short months, recharge-type date moves (both seed examples)."""

from __future__ import annotations

from datetime import date

import pytest

from core.billing_calendar import (
    BillingDays,
    BillingOptions,
    RechargeOffsets,
    clamp_day,
    cycle_for_issue,
    cycle_for_period,
    cycle_issued_on,
    local_date,
    next_issue_date,
    recharge_days,
)
from core.errors import ValidationError

D = date


@pytest.mark.parametrize(
    ("year", "month", "day", "expected"),
    [
        (2026, 2, 31, D(2026, 2, 28)),
        (2028, 2, 30, D(2028, 2, 29)),  # leap year
        (2026, 4, 31, D(2026, 4, 30)),
        (2026, 1, 31, D(2026, 1, 31)),
        (2026, 6, 15, D(2026, 6, 15)),
    ],
)
def test_days_beyond_the_month_fall_on_its_last_day(year: int, month: int, day: int, expected: date) -> None:
    assert clamp_day(year, month, day) == expected


# (issue, notice, pay, cutoff), issue date → (notice, payment, cutoff, service start, service end, period)
CYCLES = [
    # the seed's zone: issue 28, pay 1, cut 5 — invoice of 28 May is June's service
    (
        (28, 28, 1, 5),
        D(2026, 5, 28),
        (D(2026, 5, 28), D(2026, 6, 1), D(2026, 6, 5), D(2026, 6, 1), D(2026, 6, 30), "2026-06"),
    ),
    # all in one month
    (
        (1, 3, 5, 10),
        D(2026, 3, 1),
        (D(2026, 3, 3), D(2026, 3, 5), D(2026, 3, 10), D(2026, 3, 5), D(2026, 4, 4), "2026-03"),
    ),
    # recharge example 2 after the move: 22/24/28/4 → cutoff in the next month
    (
        (22, 24, 28, 4),
        D(2026, 5, 22),
        (D(2026, 5, 24), D(2026, 5, 28), D(2026, 6, 4), D(2026, 5, 28), D(2026, 6, 27), "2026-05"),
    ),
    # February clamps a day-30 payment to the 28th, service until the day before 30 March
    (
        (25, 27, 30, 6),
        D(2026, 2, 25),
        (D(2026, 2, 27), D(2026, 2, 28), D(2026, 3, 6), D(2026, 2, 28), D(2026, 3, 29), "2026-02"),
    ),
    # issue 31 / pay 30: January's invoice is February's service even though 28 Feb clamps both days
    (
        (31, 31, 30, 5),
        D(2026, 1, 31),
        (D(2026, 1, 31), D(2026, 2, 28), D(2026, 3, 5), D(2026, 2, 28), D(2026, 3, 29), "2026-02"),
    ),
    (
        (31, 31, 30, 5),
        D(2026, 2, 28),
        (D(2026, 2, 28), D(2026, 3, 30), D(2026, 4, 5), D(2026, 3, 30), D(2026, 4, 29), "2026-03"),
    ),
]


@pytest.mark.parametrize(("days", "issue", "expected"), CYCLES)
def test_cycle_dates(days: tuple[int, int, int, int], issue: date, expected: tuple) -> None:
    c = cycle_for_issue(BillingDays(*days), issue)
    assert (
        c.notice_date,
        c.payment_date,
        c.cutoff_date,
        c.service_start,
        c.service_end,
        c.period,
    ) == expected
    assert c.issue_date == issue


def test_every_issue_month_has_its_own_period_even_with_clamping() -> None:
    days = BillingDays(31, 31, 30, 5)
    periods = [cycle_for_issue(days, clamp_day(2026, m, 31)).period for m in range(1, 13)]
    assert len(set(periods)) == 12


@pytest.mark.parametrize(
    ("days", "today", "issued"),
    [
        ((28, 28, 1, 5), D(2026, 5, 28), True),
        ((28, 28, 1, 5), D(2026, 5, 27), False),
        ((31, 3, 5, 10), D(2026, 4, 30), True),  # 31 → last day of April
        ((31, 3, 5, 10), D(2026, 5, 30), False),  # May has a 31st
        ((30, 3, 5, 10), D(2026, 2, 28), True),
    ],
)
def test_issue_day_detection(days: tuple[int, int, int, int], today: date, issued: bool) -> None:
    assert (cycle_issued_on(BillingDays(*days), today) is not None) is issued


@pytest.mark.parametrize(
    ("days", "period", "issue"),
    [((28, 28, 1, 5), "2026-07", D(2026, 6, 28)), ((1, 3, 5, 10), "2026-07", D(2026, 7, 1))],
)
def test_cycle_for_period(days: tuple[int, int, int, int], period: str, issue: date) -> None:
    c = cycle_for_period(BillingDays(*days), period)
    assert c.issue_date == issue and c.period == period


# ---------------------------------------------------------------- recharge-type users (both seed examples)
RECHARGE = [
    # dates 19/20/22/29 paid on 24 April → 18/20/24/30
    ((19, 20, 22, 29), D(2026, 4, 24), (18, 20, 24, 30), D(2026, 5, 18)),
    # dates 26/26/1/8 paid 28 April → 22/24/28/4, next invoice 22 May
    ((26, 26, 1, 8), D(2026, 4, 28), (22, 24, 28, 4), D(2026, 5, 22)),
    # crossing a month start backwards: paid 3 March → issue on 25 Feb's day number
    ((1, 3, 5, 10), D(2026, 3, 3), (25, 27, 3, 9), D(2026, 3, 25)),
]


@pytest.mark.parametrize(("before", "paid_on", "after", "next_invoice"), RECHARGE)
def test_recharge_type_dates_move_on_payment(
    before: tuple[int, int, int, int], paid_on: date, after: tuple[int, int, int, int], next_invoice: date
) -> None:
    BillingDays(*before)  # the old dates do not matter: the payment day decides
    moved = recharge_days(paid_on, RechargeOffsets(6, 4, 6))
    assert (moved.issue_day, moved.notice_day, moved.payment_day, moved.cutoff_day) == after
    assert next_issue_date(moved, paid_on) == next_invoice


def test_recharge_example_two_next_cycle_is_may_22_due_28_cut_june_4() -> None:
    moved = recharge_days(D(2026, 4, 28), RechargeOffsets())
    c = cycle_for_issue(moved, next_issue_date(moved, D(2026, 4, 28)))
    assert (c.issue_date, c.notice_date, c.payment_date, c.cutoff_date) == (
        D(2026, 5, 22),
        D(2026, 5, 24),
        D(2026, 5, 28),
        D(2026, 6, 4),
    )


def test_recharge_offsets_are_configurable() -> None:
    moved = recharge_days(D(2026, 4, 24), RechargeOffsets(issue_before=5, notice_before=2, cutoff_after=3))
    assert moved.as_dict() == {"issue_day": 19, "notice_day": 22, "payment_day": 24, "cutoff_day": 27}


# ---------------------------------------------------------------- options and validation
def test_options_from_subscriber_billing_map() -> None:
    opts = BillingOptions.from_map(
        {
            "own_dates": True,
            "issue_day": 26,
            "notice_day": 26,
            "payment_day": 1,
            "cutoff_day": 8,
            "recharge": True,
            "promise_until": "2026-05-10",
            "late_fee": True,
        }
    )
    assert opts.own_days == BillingDays(26, 26, 1, 8)
    assert opts.recharge and opts.late_fee and not opts.reconnection_fee
    assert opts.promise_active(D(2026, 5, 10)) and not opts.promise_active(D(2026, 5, 11))
    # recharge needs own dates
    assert not BillingOptions.from_map({"recharge": True}).recharge
    assert BillingOptions.from_map({}).days(BillingDays(1, 3, 5, 10)) == BillingDays(1, 3, 5, 10)


@pytest.mark.parametrize("bad", [0, 32, "x", None, True])
def test_day_numbers_are_validated(bad: object) -> None:
    with pytest.raises(ValidationError) as err:
        BillingDays.of(bad, 1, 1, 1)
    assert err.value.field == "issue_day"


def test_local_date_uses_the_zone_time_zone() -> None:
    from datetime import UTC, datetime

    instant = datetime(2026, 5, 28, 3, 0, tzinfo=UTC)  # still 27 May in Mexico City (UTC-6)
    assert local_date(instant, "America/Mexico_City") == D(2026, 5, 27)
    assert local_date(instant, "Europe/Madrid") == D(2026, 5, 28)
    assert local_date(instant, "Not/AZone") == D(2026, 5, 28)
