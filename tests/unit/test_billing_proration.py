"""Proration of the first invoice, money rounding and tax."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core import money
from core.billing_calendar import BillingDays, cycle_for_issue, previous_cycle
from core.errors import ValidationError
from core.proration import prorate, service_charges

D = date
ZONE = BillingDays(28, 28, 1, 5)  # the seed's zone: issue 28, pay 1, cut 5


@pytest.mark.parametrize(
    ("price", "days", "period_days", "expected"),
    [
        ("300", 30, 30, "300.00"),
        ("300", 10, 30, "100.00"),
        ("250", 11, 30, "91.67"),  # 91.666… rounds half-up
        ("100", 1, 31, "3.23"),
        ("100", 0, 31, "0.00"),
        ("100", 40, 31, "100.00"),  # never more than the price for one period
    ],
)
def test_prorate(price: str, days: int, period_days: int, expected: str) -> None:
    assert prorate(Decimal(price), days, period_days, "USD") == Decimal(expected)


def _charges(
    installed: date | None, issue: date, previous_invoiced: bool = False
) -> list[tuple[str, int, int, str]]:
    cycle = cycle_for_issue(ZONE, issue)
    out = service_charges(
        Decimal("300"), cycle, previous_cycle(cycle, ZONE), installed, "USD", previous_invoiced
    )
    return [(c.kind, c.days, c.period_days, f"{c.amount}") for c in out]


CASES = [
    # long-standing client: one full month
    ("no installation date", None, D(2026, 6, 28), [("service", 31, 31, "300.00")]),
    ("installed long ago", D(2025, 1, 10), D(2026, 6, 28), [("service", 31, 31, "300.00")]),
    # installed 20 June, after the 28 May issue: the 28 June invoice adds 20–30 June (11/30 days)
    (
        "installed mid-period",
        D(2026, 6, 20),
        D(2026, 6, 28),
        [("uncovered", 11, 30, "110.00"), ("service", 31, 31, "300.00")],
    ),
    # the same client whose June part was invoiced by hand (seed: first invoice made manually)
    ("first invoice made by hand", D(2026, 6, 20), D(2026, 6, 28), [("service", 31, 31, "300.00")]),
    # installed after the issue date but inside the period being invoiced: only its remaining days
    (
        "installed inside the invoiced period",
        D(2026, 7, 10),
        D(2026, 6, 28),
        [("prorated", 22, 31, "212.90")],
    ),
    ("installed on the period's first day", D(2026, 7, 1), D(2026, 6, 28), [("service", 31, 31, "300.00")]),
    ("not installed by the period's end", D(2026, 8, 2), D(2026, 6, 28), []),
]


@pytest.mark.parametrize(("name", "installed", "issue", "expected"), CASES, ids=[c[0] for c in CASES])
def test_first_invoice_proration(name: str, installed: date | None, issue: date, expected: list) -> None:
    assert _charges(installed, issue, previous_invoiced=name == "first invoice made by hand") == expected


@pytest.mark.parametrize(
    ("currency", "amount", "expected"),
    [
        ("USD", "10.005", "10.01"),
        ("MXN", "10.004", "10.00"),
        ("CLP", "1500.5", "1501"),
        ("KWD", "1.2345", "1.235"),
        ("PYG", "150000.00", "150000"),
        # every ISO 4217 currency without minor units, not only the common ones
        ("UGX", "25000.00", "25000"),
        ("XPF", "1200.5", "1201"),
        ("ISK", "4990.49", "4990"),
        ("JOD", "7.0005", "7.001"),
    ],
)
def test_currency_rounding_half_up(currency: str, amount: str, expected: str) -> None:
    assert money.fmt(Decimal(amount), currency) == expected


@pytest.mark.parametrize(
    ("currency", "expected"),
    [("USD", "33333.33"), ("CLP", "33333"), ("PYG", "33333"), ("UGX", "33333"), ("RWF", "33333")],
)
def test_prorated_amount_has_only_the_currencys_decimals(currency: str, expected: str) -> None:
    assert money.fmt(prorate(Decimal("100000"), 10, 30, currency), currency) == expected


@pytest.mark.parametrize(
    ("rate", "subtotal", "tax"),
    [("0.16", "300.00", "48.00"), ("16", "300.00", "48.00"), ("16%", "99.99", "16.00"), ("0", "10", "0.00")],
)
def test_tax(rate: str, subtotal: str, tax: str) -> None:
    assert money.tax_for(Decimal(subtotal), money.parse_rate(rate), "USD") == Decimal(tax)


@pytest.mark.parametrize("bad", [1.5, "abc", "NaN", "Infinity", [1]])
def test_money_refuses_floats_and_garbage(bad: object) -> None:
    with pytest.raises(ValidationError) as err:
        money.to_decimal(bad, "amount")
    assert err.value.field == "amount"
