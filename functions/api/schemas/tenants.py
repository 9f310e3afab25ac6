"""The tenant tree."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from api.schemas.common import Email, Id, JsonObject, Name, NotNull, Out, Query, ShortText, Timezone, not_null
from api.schemas.common import StrictIn as In
from core.money import DEFAULT_CURRENCY

Currency = str


class TenantIn(In):
    name: Name
    kind: Literal["reseller", "manager"]
    parent_id: Id | None = None
    company_name: ShortText | None = None
    currency: str = Field(default=DEFAULT_CURRENCY, pattern=r"^[A-Z]{3}$")
    tax_rate: str = Field(default="0", pattern=r"^(0(\.[0-9]{1,4})?|1(\.0{1,4})?)$")
    timezone: Timezone = "UTC"
    logo_url: str | None = Field(default=None, max_length=500)
    contact_email: Email | None = None
    settings: JsonObject = Field(default_factory=dict)


class TenantPatch(In):
    name: Name | NotNull = not_null()
    company_name: ShortText | None = None
    currency: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{3}$",
        description="refused (409 naming currency; details: unpaid_invoices, subscribers_with_balance) "
        "while invoices in another currency are unpaid or partly paid, or subscribers have a balance",
    )
    tax_rate: str | None = Field(default=None, pattern=r"^(0(\.[0-9]{1,4})?|1(\.0{1,4})?)$")
    timezone: Timezone | None = None
    logo_url: str | None = Field(default=None, max_length=500)
    contact_email: Email | None = None
    settings: JsonObject | None = None
    active: bool | None = None


class TenantOut(Out):
    id: str
    name: str
    kind: str
    parent_id: str | None = None
    ancestors: list[str] = []
    company_name: str | None = None
    currency: str
    tax_rate: str
    timezone: str
    logo_url: str | None = None
    contact_email: str | None = None
    settings: dict[str, Any] = {}
    active: bool
    created_at: str
    updated_at: str | None = None


class TenantListQuery(Query):
    parent_id: Id | None = None
    kind: Literal["system", "reseller", "manager"] | None = None
