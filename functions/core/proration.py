"""Proration of the internet service (SPEC S5: the first invoice covers the days from installation).

The service charge of a cycle is the monthly price. A client installed *during* the cycle's service
period pays the days from installation to the period end. A client installed after the previous
invoice was issued (so no earlier invoice covered it) also pays, on this first invoice, the days from
installation up to this period's start, at the previous period's daily rate.
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
) -> list[ServiceCharge]:
    """The service lines of the invoice of ``cycle``; empty when the client is not installed by the
    period's end (nothing to bill yet).

    ``previous_invoiced`` says an invoice already exists for the previous period (e.g. a first invoice
    made by hand), so the uncovered days are not billed twice.
    """
    days = cycle.service_days
    if installed is None or installed <= cycle.service_start:
        charges = []
        if installed is not None and installed >= previous.issue_date and not previous_invoiced:
            gap_end = cycle.service_start - timedelta(days=1)
            gap_days = (gap_end - installed).days + 1
            if gap_days > 0:
                charges.append(
                    ServiceCharge(
                        "uncovered",
                        installed,
                        gap_end,
                        gap_days,
                        previous.service_days,
                        # may exceed one period when installed just after an issue date that precedes
                        # the period start (issue 1, pay 5): every uncovered day is billed at the daily rate
                        quantize(price * Decimal(gap_days) / Decimal(previous.service_days), currency),
                    )
                )
        charges.append(
            ServiceCharge(
                "service", cycle.service_start, cycle.service_end, days, days, quantize(price, currency)
            )
        )
        return charges
    if installed > cycle.service_end:
        return []
    part = (cycle.service_end - installed).days + 1
    return [
        ServiceCharge(
            "prorated", installed, cycle.service_end, part, days, prorate(price, part, days, currency)
        )
    ]
