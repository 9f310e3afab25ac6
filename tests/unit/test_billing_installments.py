"""Extra products on invoices: recurring, one payment, 2–24 installments, start/end dates; templates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core.errors import ValidationError
from core.installments import ExtraTerms, charge_for, installment_amount, validate_terms
from core.templates import SMS_MAX_CHARS, check_sms, fit_sms, render_template, validate_template

D = date


def _run(terms: ExtraTerms, dates: list[date]) -> list[tuple[str, str] | None]:
    """Bill the extra on each date like the invoice run does, carrying its count forward."""
    out: list[tuple[str, str] | None] = []
    for d in dates:
        ch = charge_for(terms, d, "USD")
        if ch is None:
            out.append(None)
            continue
        out.append((ch.description, f"{ch.amount}"))
        terms = ExtraTerms(
            terms.name,
            terms.description,
            terms.price,
            terms.mode,
            terms.installments,
            ch.billed_count,
            terms.start,
            terms.end,
            ch.still_active,
        )
    return out


MONTHS = [D(2026, m, 1) for m in range(1, 6)]

CASES = [
    (
        "recurring TV on every invoice",
        ExtraTerms("TV", None, Decimal("10"), "recurring"),
        [("TV", "10.00")] * 5,
    ),
    (
        "one payment router once",
        ExtraTerms("Router Wifi", "Wi-Fi router", Decimal("50"), "one_payment"),
        [("Wi-Fi router", "50.00"), None, None, None, None],
    ),
    (
        "installation in 3 parts",
        ExtraTerms("Instalacion", None, Decimal("100"), "installments", 3),
        [
            ("Instalacion (1/3)", "33.33"),
            ("Instalacion (2/3)", "33.33"),
            ("Instalacion (3/3)", "33.34"),
            None,
            None,
        ],
    ),
    (
        "start date: from March",
        ExtraTerms("TV", None, Decimal("10"), "recurring", start=D(2026, 3, 1)),
        [None, None, ("TV", "10.00"), ("TV", "10.00"), ("TV", "10.00")],
    ),
    (
        "end date: until February (inclusive)",
        ExtraTerms("TV", None, Decimal("10"), "recurring", end=D(2026, 2, 1)),
        [("TV", "10.00"), ("TV", "10.00"), None, None, None],
    ),
    (
        "installments wait for the start date",
        ExtraTerms("Antena", None, Decimal("20"), "installments", 2, start=D(2026, 4, 1)),
        [None, None, None, ("Antena (1/2)", "10.00"), ("Antena (2/2)", "10.00")],
    ),
    ("inactive never billed", ExtraTerms("TV", None, Decimal("10"), "recurring", active=False), [None] * 5),
]


@pytest.mark.parametrize(("name", "terms", "expected"), CASES, ids=[c[0] for c in CASES])
def test_extras_on_monthly_invoices(name: str, terms: ExtraTerms, expected: list) -> None:
    assert _run(terms, MONTHS) == expected


@pytest.mark.parametrize("parts", [2, 3, 7, 12, 24])
def test_installments_add_up_to_the_price(parts: int) -> None:
    price = Decimal("1000.01")
    assert sum(installment_amount(price, parts, p, "USD") for p in range(1, parts + 1)) == price


@pytest.mark.parametrize(
    ("mode", "parts", "start", "end", "field"),
    [
        ("installments", 1, None, None, "installments"),
        ("installments", 25, None, None, "installments"),
        ("weekly", 0, None, None, "mode"),
        ("recurring", 0, D(2026, 5, 1), D(2026, 4, 1), "end_date"),
    ],
)
def test_invalid_terms(mode: str, parts: int, start: date | None, end: date | None, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        validate_terms(mode, parts, start, end)
    assert err.value.field == field


def test_valid_terms() -> None:
    validate_terms("installments", 2, None, None)
    validate_terms("installments", 24, D(2026, 1, 1), D(2026, 1, 1))


# ---------------------------------------------------------------- templates
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Estimado cliente de la empresa {{ empresa }} . Le anexo su link {{ url_autologin }}",
            "Estimado cliente de la empresa WispNet . Le anexo su link https://x.test/a",
        ),
        ("{{empresa}}/{{  nombre  }}", "WispNet/Ana"),
        ("{{ total }} {{ unknown }}!", "25.00 USD !"),
        ("no placeholders", "no placeholders"),
    ],
)
def test_render_template(text: str, expected: str) -> None:
    ctx = {"empresa": "WispNet", "url_autologin": "https://x.test/a", "nombre": "Ana", "total": "25.00 USD"}
    assert render_template(text, ctx) == expected


def test_sms_limit_is_164_characters() -> None:
    assert check_sms("x" * SMS_MAX_CHARS) == "x" * 164
    with pytest.raises(ValidationError):
        check_sms("x" * 165)
    with pytest.raises(ValidationError) as err:
        validate_template("invoice_notice_sms", "{{ empresa }} " + "y" * 160, {"empresa": "WispNet"})
    assert err.value.field == "invoice_notice_sms"
    with pytest.raises(ValidationError):
        validate_template("invoice_email", "{{ nope }}")


def test_fit_sms_keeps_the_autologin_link() -> None:
    url = "https://portal.test/portal/auth/autologin?token=" + "a" * 60
    text = "Estimado cliente " + "muy " * 40 + url
    short = fit_sms(text)
    assert len(short) <= SMS_MAX_CHARS and short.endswith(url)
