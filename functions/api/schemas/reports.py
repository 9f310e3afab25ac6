"""Reports that add up money: the sales reports, and the shared fields every such report uses.

Amounts of different currencies are never added together. A report (or a row) says the currency of its
amounts in ``currency``; where its records are in several currencies (a system administrator sees tenants
in MXN, COP and USD; a tenant whose currency changed has invoices in both), ``currency`` is null, the
report-level amounts are null, and ``by_currency`` gives the figures of each currency.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from api.schemas.common import Out

CURRENCY_DOC = (
    "The currency (ISO 4217) of every amount of the report; null when its records are in several "
    "currencies: the report-level amounts are then null and by_currency gives each currency's figures. "
    "Without records, the currency of the tenants covered when they share one."
)
BY_CURRENCY_DOC = "The figures of each currency of the report's records (one entry per currency, by code)."

Currency = Annotated[str, Field(description="the currency (ISO 4217 code) of the amounts beside it")]
ReportCurrency = Annotated[str | None, Field(description=CURRENCY_DOC)]
# An amount of the report as a whole: null when the report's records are in several currencies
ReportAmount = Annotated[
    str | None, Field(description="a decimal amount in the report's currency; null when it has several")
]


class SalesRowOut(Out):
    key: str = Field(
        description="the product id (or extra:/other: and the line's description), or the tenant"
    )
    name: str
    currency: Currency
    lines: int
    invoices: int
    invoiced: str = Field(description="invoiced before tax, in the row's currency")
    collected: str = Field(
        description="the invoices' payments spread over their lines, in the row's currency"
    )


class SalesReportCurrencyTotal(Out):
    currency: Currency
    invoices: int
    lines: int
    invoiced: str
    collected: str


class SalesReportOut(Out):
    """Sales per product or manager: a row per product (or manager) and currency."""

    group_by: Literal["product", "manager"]
    since: str | None = None
    until: str | None = None
    currency: ReportCurrency
    rows: list[SalesRowOut]
    by_currency: list[SalesReportCurrencyTotal] = Field(description=BY_CURRENCY_DOC)


class UserSalesRowOut(Out):
    product_id: str | None = None
    name: str | None = None
    manager_id: str
    currency: Currency
    count: int
    revenue: str
    collected: str
    cost: str | None = None
    margin: str | None = None


class UserSalesCurrencyTotal(Out):
    currency: Currency
    count: int
    revenue: str
    collected: str


class UserSalesOut(Out):
    """A client's invoiced lines per product and currency, with the totals of each currency."""

    subscriber_id: str
    currency: ReportCurrency
    rows: list[UserSalesRowOut]
    by_currency: list[UserSalesCurrencyTotal] = Field(description=BY_CURRENCY_DOC)
