"""Extra products/services on the monthly invoice (SPEC S5).

* **recurring** — on every invoice;
* **one payment** — on the first invoice created, then done;
* **installments** — the price is split into 2–24 monthly parts; the last part absorbs the rounding
  so the parts add up to the price exactly.

An extra appears only on invoices dated within its payment start/end dates (inclusive); its
description defaults to its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from core.errors import ValidationError
from core.money import quantize

RECURRING = "recurring"
ONE_PAYMENT = "one_payment"
INSTALLMENTS = "installments"
MODES = (RECURRING, ONE_PAYMENT, INSTALLMENTS)
MIN_INSTALLMENTS = 2
MAX_INSTALLMENTS = 24


def validate_terms(mode: str, installments: int, start: date | None, end: date | None) -> None:
    """Raise :class:`ValidationError` naming the field when the terms are not usable."""
    if mode not in MODES:
        raise ValidationError(f"mode must be one of {', '.join(MODES)}", field="mode")
    if mode == INSTALLMENTS and not MIN_INSTALLMENTS <= installments <= MAX_INSTALLMENTS:
        raise ValidationError(
            f"installments must be between {MIN_INSTALLMENTS} and {MAX_INSTALLMENTS}", field="installments"
        )
    if start and end and end < start:
        raise ValidationError("end_date cannot be before start_date", field="end_date")


@dataclass(frozen=True)
class ExtraTerms:
    name: str
    description: str | None
    price: Decimal
    mode: str
    installments: int = 0
    billed_count: int = 0
    start: date | None = None
    end: date | None = None
    active: bool = True


@dataclass(frozen=True)
class ExtraCharge:
    description: str
    amount: Decimal
    part: int  # which installment (1-based); 1 for one payment; 0 for recurring
    billed_count: int  # the extra's count after this invoice
    still_active: bool


def installment_amount(price: Decimal, parts: int, part: int, currency: str) -> Decimal:
    """Amount of installment ``part`` (1-based) of ``parts``: equal rounded parts, the last one takes the rest."""
    each = quantize(price / Decimal(parts), currency)
    if part < parts:
        return each
    return quantize(price - each * (parts - 1), currency)


def in_window(terms: ExtraTerms, on: date) -> bool:
    return (terms.start is None or terms.start <= on) and (terms.end is None or terms.end >= on)


def charge_for(terms: ExtraTerms, invoice_date: date, currency: str) -> ExtraCharge | None:
    """What the extra adds to an invoice dated ``invoice_date``; None when it adds nothing."""
    if not terms.active or not in_window(terms, invoice_date):
        return None
    label = (terms.description or "").strip() or terms.name
    if terms.mode == RECURRING:
        return ExtraCharge(label, quantize(terms.price, currency), 0, terms.billed_count + 1, True)
    if terms.mode == ONE_PAYMENT:
        if terms.billed_count >= 1:
            return None
        return ExtraCharge(label, quantize(terms.price, currency), 1, 1, False)
    if terms.mode == INSTALLMENTS:
        parts = terms.installments
        if parts < MIN_INSTALLMENTS or terms.billed_count >= parts:
            return None
        part = terms.billed_count + 1
        return ExtraCharge(
            f"{label} ({part}/{parts})",
            installment_amount(terms.price, parts, part, currency),
            part,
            part,
            part < parts,
        )
    return None
