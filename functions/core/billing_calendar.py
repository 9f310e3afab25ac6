"""Billing calendar (SPEC S5): issue, notice, payment and cutoff days per zone or per client.

A calendar is four day-of-month numbers. A *cycle* starts on an issue date; its notice and payment
days fall in the issue month, or in the next month when their day number is smaller than the issue
day; the cutoff day likewise follows the payment day (so "issue 28, pay 1, cut 5" bills on 28 May
for service from 1 June, due 1 June, cut 5 June). A day beyond a month's length falls on that month's last day (31 → 30 April,
28/29 February).

The service period of a cycle runs from its payment date to the day before the next cycle's payment
date, and the invoice *period* is the month of the payment date (``"2026-06"``). An internet invoice is
identified by its issue month (SPEC S5: at most one per client per month by issue date); when a client's
days move, the next invoice starts the day after the previous one ends (``core.proration``), so the
invoices of a client tile time with no gap and no overlap.

Clients may have their own dates ("facturación propia"), kept in ``Subscriber.billing``:

``own_dates`` (bool), ``issue_day``, ``notice_day``, ``payment_day``, ``cutoff_day`` (1–31),
``recharge`` (bool, recharge-type user, only with own dates), ``reconnection_fee`` and ``late_fee``
(bool: the client has those options on), ``promise_until`` (ISO date: cutoff delayed until then).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import ValidationError


def clamp_day(year: int, month: int, day: int) -> date:
    """Day ``day`` of the month, or the month's last day when the month is shorter."""
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(day, last))


def add_months(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def period_of(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def _day(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise ValidationError(f"{field} must be a day of the month (1-31)", field=field)
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{field} must be a day of the month (1-31)", field=field) from exc
    if not 1 <= number <= 31:
        raise ValidationError(f"{field} must be a day of the month (1-31)", field=field)
    return number


@dataclass(frozen=True)
class BillingDays:
    """Issue, notice, payment and cutoff day numbers (1–31)."""

    issue_day: int
    notice_day: int
    payment_day: int
    cutoff_day: int

    def __post_init__(self) -> None:
        for name in ("issue_day", "notice_day", "payment_day", "cutoff_day"):
            _day(getattr(self, name), name)

    @classmethod
    def of(cls, issue: Any, notice: Any, payment: Any, cutoff: Any) -> BillingDays:
        return cls(
            _day(issue, "issue_day"),
            _day(notice, "notice_day"),
            _day(payment, "payment_day"),
            _day(cutoff, "cutoff_day"),
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "issue_day": self.issue_day,
            "notice_day": self.notice_day,
            "payment_day": self.payment_day,
            "cutoff_day": self.cutoff_day,
        }


@dataclass(frozen=True)
class Cycle:
    """One billing cycle: the dates of one internet invoice."""

    issue_date: date
    notice_date: date
    payment_date: date
    cutoff_date: date
    service_start: date
    service_end: date

    @property
    def period(self) -> str:
        return period_of(self.payment_date)

    @property
    def service_days(self) -> int:
        return (self.service_end - self.service_start).days + 1


def issue_date_in_month(days: BillingDays, year: int, month: int) -> date:
    return clamp_day(year, month, days.issue_day)


def _after(day: int, anchor_day: int, year: int, month: int) -> date:
    """Day ``day`` in the anchor's month, or the next month when it comes before the anchor day.

    Decided on the day numbers, not the clamped dates, so every issue month maps to a different
    payment month even when short months clamp two days onto the same date.
    """
    if day < anchor_day:
        year, month = add_months(year, month, 1)
    return clamp_day(year, month, day)


def cycle_for_issue_month(days: BillingDays, year: int, month: int) -> Cycle:
    """The cycle whose invoice is issued in ``year``-``month``."""
    issue = issue_date_in_month(days, year, month)
    notice = _after(days.notice_day, days.issue_day, year, month)
    payment = _after(days.payment_day, days.issue_day, year, month)
    cutoff = _after(days.cutoff_day, days.payment_day, payment.year, payment.month)
    ny, nm = add_months(year, month, 1)
    next_payment = _after(days.payment_day, days.issue_day, ny, nm)
    return Cycle(issue, notice, payment, cutoff, payment, next_payment - timedelta(days=1))


def cycle_for_issue(days: BillingDays, issue: date) -> Cycle:
    """The cycle whose invoice is issued in the month of ``issue``."""
    return cycle_for_issue_month(days, issue.year, issue.month)


def cycle_issued_on(days: BillingDays, today: date) -> Cycle | None:
    """The cycle to invoice when ``today`` is an issue day, else None."""
    if issue_date_in_month(days, today.year, today.month) != today:
        return None
    return cycle_for_issue_month(days, today.year, today.month)


def next_issue_date(days: BillingDays, after: date) -> date:
    """The first issue date strictly after ``after``."""
    candidate = issue_date_in_month(days, after.year, after.month)
    if candidate > after:
        return candidate
    y, m = add_months(after.year, after.month, 1)
    return issue_date_in_month(days, y, m)


def previous_cycle(cycle: Cycle, days: BillingDays) -> Cycle:
    y, m = add_months(cycle.issue_date.year, cycle.issue_date.month, -1)
    return cycle_for_issue_month(days, y, m)


def cycle_for_period(days: BillingDays, period: str) -> Cycle:
    """The cycle whose payment date falls in ``period`` (``YYYY-MM``), for manual internet invoices."""
    year, month = parse_period(period)
    delta = -1 if days.payment_day < days.issue_day else 0
    y, m = add_months(year, month, delta)
    return cycle_for_issue_month(days, y, m)


def parse_period(period: str) -> tuple[int, int]:
    try:
        year_text, month_text = period.split("-")
        year, month = int(year_text), int(month_text)
    except (AttributeError, ValueError) as exc:
        raise ValidationError(f"period must be YYYY-MM, got {period!r}", field="period") from exc
    if not (2000 <= year <= 2999 and 1 <= month <= 12) or len(period) != 7:
        raise ValidationError(f"period must be YYYY-MM, got {period!r}", field="period")
    return year, month


# ---------------------------------------------------------------- recharge-type users
@dataclass(frozen=True)
class RechargeOffsets:
    """Days before (issue, notice) and after (cutoff) the payment date; settings, 6/4/6 by default."""

    issue_before: int = 6
    notice_before: int = 4
    cutoff_after: int = 6


def recharge_days(paid_on: date, offsets: RechargeOffsets) -> BillingDays:
    """Own billing days of a recharge-type user who pays on ``paid_on`` (SPEC S5).

    The payment day becomes the day of payment; issue = payment − offset, notice = payment − offset,
    cutoff = payment + offset, each taken as a day of the month.
    """
    return BillingDays(
        issue_day=(paid_on - timedelta(days=offsets.issue_before)).day,
        notice_day=(paid_on - timedelta(days=offsets.notice_before)).day,
        payment_day=paid_on.day,
        cutoff_day=(paid_on + timedelta(days=offsets.cutoff_after)).day,
    )


# ---------------------------------------------------------------- per-client options
@dataclass(frozen=True)
class BillingOptions:
    """The billing options of one client, read from ``Subscriber.billing``."""

    own_days: BillingDays | None = None
    recharge: bool = False
    reconnection_fee: bool = False
    late_fee: bool = False
    promise_until: date | None = None

    @classmethod
    def from_map(cls, data: Mapping[str, Any] | None) -> BillingOptions:
        data = data or {}
        own = None
        if data.get("own_dates"):
            own = BillingDays.of(
                data.get("issue_day"), data.get("notice_day"), data.get("payment_day"), data.get("cutoff_day")
            )
        promise = data.get("promise_until")
        return cls(
            own_days=own,
            recharge=bool(data.get("recharge")) and own is not None,
            reconnection_fee=bool(data.get("reconnection_fee")),
            late_fee=bool(data.get("late_fee")),
            promise_until=parse_date(promise, "promise_until") if promise else None,
        )

    def days(self, zone_days: BillingDays) -> BillingDays:
        return self.own_days or zone_days

    def promise_active(self, today: date) -> bool:
        return self.promise_until is not None and self.promise_until >= today


BILLING_FLAGS = ("own_dates", "recharge", "reconnection_fee", "late_fee")
BILLING_KEYS = (*BILLING_FLAGS, "issue_day", "notice_day", "payment_day", "cutoff_day", "promise_until")


def check_billing_map(data: Mapping[str, Any], field: str = "billing") -> dict[str, Any]:
    """A client's billing options as an operator writes them: known keys only, flags true or false, own
    days 1–31 (all four with ``own_dates``), ``recharge`` only with own dates, the promise a date. Returns
    the map as stored (days as numbers, the promise as ``YYYY-MM-DD``); errors name ``billing.<key>``.

    Read back with :meth:`BillingOptions.from_map`, so what this accepts is what the billing runs use."""
    unknown = sorted(str(k) for k in data if k not in BILLING_KEYS)
    if unknown:
        raise ValidationError(
            f"unknown billing option; known: {', '.join(BILLING_KEYS)}", field=f"{field}.{unknown[0]}"
        )
    out: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            continue
        if key in BILLING_FLAGS:
            if not isinstance(value, bool):
                raise ValidationError(f"{key} must be true or false", field=f"{field}.{key}")
            out[key] = value
        elif key == "promise_until":
            if not isinstance(value, str) or len(value) != 10:
                raise ValidationError("promise_until must be a date YYYY-MM-DD", field=f"{field}.{key}")
            out[key] = parse_date(value, f"{field}.{key}").isoformat()
        else:
            out[key] = _day(value, f"{field}.{key}")
    if out.get("own_dates"):
        missing = [k for k in ("issue_day", "notice_day", "payment_day", "cutoff_day") if k not in out]
        if missing:
            raise ValidationError("own dates need all four days", field=f"{field}.{missing[0]}")
    elif out.get("recharge"):
        raise ValidationError("a recharge client has own dates (own_dates: true)", field=f"{field}.recharge")
    BillingOptions.from_map(out)
    return out


def with_own_days(billing: Mapping[str, Any] | None, days: BillingDays) -> dict[str, Any]:
    """A copy of ``Subscriber.billing`` with own dates set to ``days``."""
    out = dict(billing or {})
    out["own_dates"] = True
    out.update(days.as_dict())
    return out


# ---------------------------------------------------------------- dates and time zones
def parse_date(value: Any, field: str = "date") -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise ValidationError(f"{field} must be a date YYYY-MM-DD, got {value!r}", field=field) from exc


def zone_info(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_date(now: datetime, tz_name: str | None) -> date:
    """Today's date in the IANA time zone ``tz_name`` at the instant ``now``."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(zone_info(tz_name)).date()


def local_midnight(day: date, tz_name: str | None) -> datetime:
    """The instant (UTC) the date ``day`` begins in the IANA time zone ``tz_name``."""
    return datetime.combine(day, datetime.min.time(), zone_info(tz_name)).astimezone(UTC)
