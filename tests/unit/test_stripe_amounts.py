"""Amounts as Stripe counts them: the whole amount for its zero-decimal currencies, thousandths ending
in 0 for its three-decimal ones, hundredths for every other currency; and back."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.billing.online.stripe_gateway import from_minor, to_minor


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("25.00", "USD", 2500),
        ("25000", "CLP", 25000),
        ("150000", "PYG", 150000),
        ("3000", "JPY", 3000),
        ("25000", "UGX", 25000),  # zero-decimal at Stripe: never × 100
        ("50000.00", "MGA", 50000),  # two decimals in ISO 4217, zero-decimal at Stripe
        ("1500", "XOF", 1500),
        ("1500", "ISK", 150000),  # whole krónur, sent as hundredths
        ("120000.50", "COP", 12000050),
        ("5.120", "KWD", 5120),
        ("5.124", "KWD", 5130),  # the last digit must be 0: rounded up, so the whole invoice is paid
        ("12.345", "BHD", 12350),
        ("0.5", "JPY", 1),
    ],
)
def test_to_minor(amount: str, currency: str, minor: int) -> None:
    assert to_minor(Decimal(amount), currency) == minor


@pytest.mark.parametrize(
    ("minor", "currency", "amount"),
    [
        (2500, "USD", "25.00"),
        (25000, "CLP", "25000"),
        (25000, "UGX", "25000"),
        (50000, "MGA", "50000"),
        (150000, "ISK", "1500.00"),
        (5130, "KWD", "5.130"),
    ],
)
def test_from_minor(minor: int, currency: str, amount: str) -> None:
    assert from_minor(minor, currency) == Decimal(amount)
