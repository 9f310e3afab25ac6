"""Lifecycle actions: bodies for single and bulk actions and their per-subscriber results."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from api.schemas.common import Cursor, Id, Money, Out, Query, ShortText
from api.schemas.common import StrictIn as In
from api.schemas.reports import BY_CURRENCY_DOC, Currency, ReportAmount, ReportCurrency
from api.schemas.subscribers import (
    Address,
    Mac,
    NetworkPassword,
    PortalPassword,
    RouterEffectOut,
    SubscriberOut,
    Username,
)


class ReasonIn(In):
    reason: ShortText | None = None


class CancelIn(In):
    cancel_pending_invoices: bool = False
    ip_action: Literal["none", "release", "keep_suspend"] = Field(
        default="none",
        description="release: rewrite the IP (S4 table) and remove the router entry; "
        "keep_suspend: keep the IP and block it on the router",
    )


class DeleteIn(In):
    mode: Literal["system", "system_router"] = "system"
    confirm: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="required for system_router: the text eliminar_clientes"
    )


class ChangeUsernameIn(In):
    username: Username


class ChangePasswordIn(In):
    password: NetworkPassword | None = None
    portal_password: PortalPassword | None = None
    random: bool = True


class RechargeIn(In):
    product_id: Id
    price_override: Money | None = None


class MigrateIn(In):
    gateway_id: Id
    zone_id: Id | None = None


class BindIpMacIn(In):
    mac: Mac | None = Field(default=None, description="the MAC to bind; or from_arp")
    from_arp: bool = Field(
        default=False, description="import the MAC and interface from the router's ARP entry for the IP"
    )
    ip: Address | None = None
    interface: Annotated[str, Field(max_length=64)] | None = None
    make_static: bool = True

    @model_validator(mode="after")
    def _mac_or_arp(self) -> BindIpMacIn:
        if self.mac is None and not self.from_arp:
            raise ValueError("give mac, or from_arp: true to import it from the router's ARP table")
        return self


class MacIn(In):
    mac: Mac


BulkIds = Annotated[list[Id], Field(min_length=1, max_length=500)]


class BulkReasonIn(ReasonIn):
    subscriber_ids: BulkIds


class BulkCancelIn(CancelIn):
    subscriber_ids: BulkIds


class BulkDeleteIn(In):
    """Bulk delete removes from the system only (system + router is one subscriber at a time)."""

    subscriber_ids: BulkIds
    mode: Literal["system"] = "system"


class BulkRechargeIn(RechargeIn):
    subscriber_ids: BulkIds


class BulkMigrateIn(MigrateIn):
    subscriber_ids: BulkIds


class ActionError(Out):
    code: str
    message: str
    field: str | None = None


class ActionResult(Out):
    subscriber_id: str
    action: str
    ok: bool
    status: str | None = None
    system: str
    router: RouterEffectOut | None = None
    warnings: list[str] = []
    data: dict[str, Any] = {}
    error: ActionError | None = None


class BulkResult(Out):
    action: str
    total: int
    succeeded: int
    failed: int
    results: list[ActionResult]


class PageQuery(Query):
    limit: Annotated[int, Field(ge=1, le=500)] = 50
    cursor: Cursor | None = None


class ConnectionRow(Out):
    connection_id: str
    session_id: str
    started_at: str
    ended_at: str | None = None
    duration: str
    duration_s: int
    upload_bytes: int
    download_bytes: int
    ip: str | None = None
    mac: str | None = None
    gateway_id: str | None = None
    gateway_name: str | None = None
    nas_ip: str | None = None
    nas_identifier: str | None = None
    gateway_mac: str | None = None
    ssid: str | None = None
    terminate_cause: str | None = None
    closed_by: str | None = None
    open: bool


class ConnectionLog(Out):
    items: list[ConnectionRow]
    next_cursor: str | None = None


class DashboardQuery(Query):
    days: Annotated[int, Field(ge=1, le=366)] = 30


class DayTraffic(Out):
    date: str
    download_bytes: int
    upload_bytes: int
    time_s: int
    sessions: int


class SalesRow(Out):
    product_id: str | None = None
    product_name: str
    currency: Currency
    quantity: int
    billed: str
    revenue: str
    cost: str
    margin: str
    sources: list[str]


class SubscriberSalesCurrencyTotal(Out):
    currency: Currency
    revenue: str
    cost: str


class SalesOut(Out):
    """Sales to the user: a row per product and currency; the revenue and cost of each currency."""

    rows: list[SalesRow]
    currency: ReportCurrency
    revenue: ReportAmount = Field(description="the revenue of every row; null when in several currencies")
    cost: ReportAmount = Field(description="the cost of every row; null when in several currencies")
    by_currency: list[SubscriberSalesCurrencyTotal] = Field(description=BY_CURRENCY_DOC)


class ProductBrief(Out):
    id: str
    name: str
    price: str


class DashboardOut(Out):
    subscriber: SubscriberOut
    currency: Currency = Field(
        description="the currency of the subscriber's balance and of the plan's price: the tenant's"
    )
    product: ProductBrief | None = None
    online: bool
    open_sessions: int
    traffic_per_day: list[DayTraffic]
    totals: dict[str, int]
    last_connection: ConnectionRow | None = None
    sales: SalesOut
