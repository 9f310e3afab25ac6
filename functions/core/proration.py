"""Proration of the internet service (SPEC S5: the first invoice covers the days from installation).

The service charge of a cycle is the monthly price. A client installed *during* the cycle's service
period pays the days from installation to the period end. A client installed after the previous
invoice was issued (so no earlier invoice covered it) also pays, on this first invoice, the days from
installation up to this period's start, at the previous period's daily rate.

Consecutive invoices of a client tile time: each starts the day after the previous one ends, whatever
moved the billing days in between, and nothing is billed before the service existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from core.billing_calendar import Cycle
from core.money import quantize


@dataclass(frozen=True)
class ServiceCharge:
    kind: str  # service | prorated | uncovered
    start: date
    end: date
    days: int
    period_days: int
    amount: Decimal

    @property
    def is_partial(self) -> bool:
        return self.days != self.period_days


def prorate(price: Decimal, days: int, period_days: int, currency: str) -> Decimal:
    """``price`` × ``days`` / ``period_days``, rounded to the currency (full price when days cover the period)."""
    if period_days <= 0 or days >= period_days:
        return quantize(price, currency)
    if days <= 0:
        return quantize(Decimal(0), currency)
    return quantize(price * Decimal(days) / Decimal(period_days), currency)


def service_charges(
    price: Decimal,
    cycle: Cycle,
    previous: Cycle,
    installed: date | None,
    currency: str,
    previous_invoiced: bool = False,
    billed_through: date | None = None,
    exists_from: date | None = None,
) -> list[ServiceCharge]:
    """The service lines of the invoice of ``cycle``; empty when nothing is owed for it (the client is
    not installed by the period's end, or an earlier invoice already covers the whole period).

    ``previous_invoiced`` says an invoice already exists for the previous period (e.g. a first invoice
    made by hand), so the uncovered days are not billed twice. ``billed_through`` is the last day the
    client's previous internet invoice covers: this invoice starts the day after, so consecutive
    invoices tile time with no gap and no overlap even when the client's billing days moved (a
    recharge-type payment, own dates, a zone's new calendar). ``exists_from`` is the day the service
    began when no installation date is known (its creation): nothing is billed before it.
    """
    start = cycle.service_start
    if billed_through is not None:
        start = billed_through + timedelta(days=1)
        if installed is not None and installed > start:
            start = installed
    elif installed is not None:
        if installed > cycle.service_start:
            start = installed  # installed during the period
        elif installed >= previous.issue_date and not previous_invoiced:
            start = installed  # installed after the previous invoice was issued: no invoice covered it
    if exists_from is not None and exists_from > start:
        start = exists_from
    return _charges_from(price, cycle, previous, start, currency)


def _charges_from(
    price: Decimal, cycle: Cycle, previous: Cycle, start: date, currency: str
) -> list[ServiceCharge]:
    """The lines covering ``start`` to the period's end: the part before the period (at the previous
    period's daily rate), the whole period, or the days left of it."""
    days = cycle.service_days
    if start > cycle.service_end:
        return []
    if start > cycle.service_start:
        part = (cycle.service_end - start).days + 1
        return [
            ServiceCharge(
                "prorated", start, cycle.service_end, part, days, prorate(price, part, days, currency)
            )
        ]
    charges = []
    gap_end = cycle.service_start - timedelta(days=1)
    gap_days = (gap_end - start).days + 1
    if gap_days > 0:
        charges.append(
            ServiceCharge(
                "uncovered",
                start,
                gap_end,
                gap_days,
                previous.service_days,
                # may exceed one period when installed just after an issue date that precedes the
                # period start (issue 1, pay 5), or when the billing days moved: every uncovered day
                # is billed at the daily rate
                quantize(price * Decimal(gap_days) / Decimal(previous.service_days), currency),
            )
        )
    charges.append(
        ServiceCharge(
            "service", cycle.service_start, cycle.service_end, days, days, quantize(price, currency)
        )
    )
    return charges
