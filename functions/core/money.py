"""Money in ``Decimal``: parsing, rounding to the currency's minor unit, tax.

Amounts are stored as decimal strings (``"25.00"``). Rounding is half-up, the rule cashiers and tax
authorities expect, to the currency's number of decimals (ISO 4217 exponent).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from core.errors import ValidationError

ZERO = Decimal("0")
# The currency of a record that has none (tenants, invoices and payments made before currencies).
DEFAULT_CURRENCY = "USD"

# Currencies whose minor unit is not 2 decimals (ISO 4217); everything else rounds to cents.
_EXPONENTS = {
    "BIF": 0,
    "CLP": 0,
    "COP": 2,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    "CLF": 4,
    "UYW": 4,
}


def currency_or_default(currency: str | None) -> str:
    """A tenant's, invoice's or payment's currency, or the default when the record has none."""
    return currency or DEFAULT_CURRENCY


def report_currency(currencies: Iterable[str | None], scope: Iterable[str | None] = ()) -> str | None:
    """The one currency of a report's amounts: the currency its records share; None when they are in
    several (the amounts are then given per currency, never added together). A report without records
    takes the currency of its scope (the tenants it covers) when they share one."""
    found = {currency_or_default(c) for c in currencies} or {currency_or_default(c) for c in scope}
    return found.pop() if len(found) == 1 else None


def amount_due(total: object, paid: object) -> Decimal:
    """What is still owed on an invoice of ``total`` with ``paid`` paid: never negative."""
    return max(to_decimal(total) - to_decimal(paid), ZERO)


def exponent(currency: str) -> int:
    """Number of decimals of ``currency`` (2 unless ISO 4217 says otherwise)."""
    return _EXPONENTS.get((currency or "").upper(), 2)


def to_decimal(value: object, field: str = "amount") -> Decimal:
    """Parse a decimal string/number; floats are refused so binary rounding never reaches money."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool | float):
        raise ValidationError(f"{field} must be a decimal string, not {type(value).__name__}", field=field)
    elif isinstance(value, int | str):
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ValidationError(f"{field} is not a decimal number: {value!r}", field=field) from exc
    elif value is None:
        return ZERO
    else:
        raise ValidationError(f"{field} must be a decimal string", field=field)
    if not result.is_finite():
        raise ValidationError(f"{field} must be finite", field=field)
    return result


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round to the currency's minor unit, half-up."""
    return amount.quantize(Decimal(1).scaleb(-exponent(currency)), rounding=ROUND_HALF_UP)


def fmt(amount: Decimal, currency: str) -> str:
    """The stored/serialised form: a plain decimal string with the currency's decimals."""
    return f"{quantize(amount, currency):f}"


def parse_rate(value: object) -> Decimal:
    """A tax rate as a fraction (``"0.16"``); ``"16"`` or ``"16%"`` are read as percentages."""
    text = str(value if value is not None else "0").strip()
    pct = text.endswith("%")
    rate = to_decimal(text.rstrip("%") or "0", "tax_rate")
    if pct or rate > 1:
        rate = rate / Decimal(100)
    if rate < 0:
        raise ValidationError("tax_rate cannot be negative", field="tax_rate")
    return rate


def tax_for(subtotal: Decimal, rate: Decimal, currency: str) -> Decimal:
    """Tax added on top of a subtotal (prices are stored without tax)."""
    return quantize(subtotal * rate, currency)


def require_positive(amount: Decimal, field: str = "amount") -> Decimal:
    if amount <= 0:
        raise ValidationError(f"{field} must be greater than zero", field=field)
    return amount


def require_non_negative(amount: Decimal, field: str = "amount") -> Decimal:
    if amount < 0:
        raise ValidationError(f"{field} cannot be negative", field=field)
    return amount
