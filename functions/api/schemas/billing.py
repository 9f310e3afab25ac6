"""Response models of the billing lists of the admin API: invoices, payments and the billing run log.

Each row has every field ``services.billing`` gives it, null where it has no value; amounts are decimal
strings in the row's currency.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.schemas.common import Out

NEXT_CURSOR_DOC = "pass it back as cursor for the next page; null on the last page"


class InvoiceOut(Out):
    id: str
    path_id: str = Field(description="the id as it goes in a URL path (the id itself for current invoices)")
    tenant_id: str
    subscriber_id: str
    subscriber_name: str | None
    number: int | None = Field(description="sequential per tenant")
    kind: str = Field(description="internet or other")
    period: str | None = Field(description="internet: the service month (YYYY-MM) or days it covers")
    status: str = Field(description="pending, partial, paid or cancelled")
    issue_date: str
    notice_date: str | None
    due_date: str | None
    cutoff_date: str | None
    service_start: str | None
    service_end: str | None
    currency: str = Field(description="the currency (ISO 4217 code) of the invoice's amounts")
    subtotal: str
    tax: str
    total: str
    paid: str
    due: str = Field(description="what is still owed (0 on a cancelled invoice)")
    lines: list[dict[str, Any]] = Field(description="description, quantity, unit_price, amount (extra_id)")
    notes: str | None
    zone_id: str | None
    product_id: str | None
    paid_at: str | None
    notified_at: str | None
    sent_at: str | None
    cutoff_at: str | None
    cancelled_at: str | None
    created_by: str | None
    created_at: str


class InvoicePage(Out):
    items: list[InvoiceOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR_DOC)


class PaymentOut(Out):
    id: str
    tenant_id: str
    subscriber_id: str
    amount: str
    currency: str = Field(description="the currency (ISO 4217 code) of the payment's amounts")
    method: str
    reference: str | None
    kind: str = Field(description="payment, promise, reported, reversal or reinstatement")
    status: str = Field(
        description="applied, partially_reversed, reversed; a report: pending_confirmation, confirming, "
        "confirmed or rejected"
    )
    source: str = Field(description="operator, portal or webhook")
    applied: list[dict[str, Any]] = Field(description="the invoices it paid: invoice_id, amount")
    balance_after: str | None = Field(description="the client's balance in favour after it")
    promise_until: str | None
    notes: str | None
    effects: dict[str, Any] = Field(description="reactivated, fees, dates_moved, sync")
    reversed_amount: str = Field(description="what stands taken back of it")
    reversals: dict[str, str] = Field(description="what was taken back, cumulative per kind")
    created_by: str | None
    created_at: str


class PaymentPage(Out):
    items: list[PaymentOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR_DOC)


class BillingRunOut(Out):
    id: str
    tenant_id: str
    kind: str = Field(description="billing_invoices, billing_notices or billing_cutoff")
    status: str
    total: int
    done: int
    failed: int
    created_by: str | None
    created_at: str
    result: dict[str, Any] = Field(
        description="the run's counts; a cutoff's routers: each router's task and its outcome "
        "(task_status, error_category, last_error, outcome)"
    )


class BillingRunPage(Out):
    items: list[BillingRunOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR_DOC)
