"""Subscribers: create, edit, lists, totals, online list."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from api.schemas.catalog import ConnectionType
from api.schemas.common import (
    Cursor,
    DateOrTime,
    Email,
    ExportQuery,
    Id,
    JsonObject,
    Money,
    Out,
    Query,
    ShortText,
)
from api.schemas.common import StrictIn as In
from api.schemas.reports import Currency, ReportAmount, ReportCurrency
from core.listing import SubscriberFilter

Username = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@:+\-]*$")]
NetworkPassword = Annotated[str, Field(min_length=4, max_length=64, pattern=r"^[!-~]+$")]
PortalPassword = Annotated[str, Field(min_length=6, max_length=128)]
Address = Annotated[str, Field(min_length=1, max_length=64)]
Mac = Annotated[str, Field(min_length=12, max_length=17, pattern=r"^[0-9A-Fa-f:\-]+$")]
Phone = Annotated[str, Field(max_length=40, pattern=r"^[0-9+()\-. ]*$")]
Date = DateOrTime
StatusFilter = Literal[
    "new", "active", "suspended", "blocked", "inactive", "cancelled", "free", "online", "online_24h"
]


EquipmentText = Annotated[str, Field(max_length=100)]
EquipmentPassword = Annotated[
    str,
    Field(
        max_length=128,
        description="write-only: stored encrypted, never shown by reads; left out or null: unchanged; "
        "empty: removed",
    ),
]


class AntennaIn(In):
    """The customer's antenna (CPE) and its management access."""

    model: EquipmentText | None = None
    serial: EquipmentText | None = None
    mac: Mac | None = None
    ip: EquipmentText | None = Field(default=None, description="management address")
    user: EquipmentText | None = None
    password: EquipmentPassword | None = None


class ModemIn(AntennaIn):
    """The customer's Wi-Fi modem or router and its management access."""

    wifi_ssid: Annotated[str, Field(max_length=32)] | None = None
    wifi_password: EquipmentPassword | None = None


class EquipmentIn(In):
    """The subscriber's equipment. What is sent replaces the antenna, the modem and the notes; a password
    left out is kept. The router's ARP binding and the fields recorded before equipment had this shape
    are kept (null removes all of it but the ARP binding)."""

    antenna: AntennaIn | None = None
    modem: ModemIn | None = None
    notes: Annotated[str, Field(max_length=2000)] | None = None


class SubscriberFields(In):
    name: ShortText | None = None
    email: Email | None = None
    phone: Phone | None = None
    address: Annotated[str, Field(max_length=500)] | None = None
    document_id: Annotated[str, Field(max_length=64)] | None = None
    price_override: Money | None = None
    ip: Address | None = None
    local_address: Address | None = None
    mac: Mac | None = None
    mac_auth: bool | None = None
    hotspot_server: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    router_profile: Annotated[str, Field(max_length=64)] | None = None
    billing: JsonObject | None = None
    advanced: EquipmentIn | None = Field(default=None, description="equipment: antenna, modem, notes")
    installed_at: Date | None = None
    portal_password: PortalPassword | None = None


class SubscriberIn(SubscriberFields):
    username: Username
    password: NetworkPassword | None = Field(default=None, description="random when left out")
    tenant_id: Id | None = None
    status: Literal["new", "active", "free", "suspended"] = "new"
    connection_type: ConnectionType | None = None
    zone_id: Id | None = None
    gateway_id: Id | None = None
    product_id: Id | None = None


class SubscriberPatch(SubscriberFields):
    """Status, username, password, plan and router change through their actions."""


class AntennaOut(Out):
    model: str | None = None
    serial: str | None = None
    mac: str | None = None
    ip: str | None = None
    user: str | None = None
    password_set: bool = False


class ModemOut(AntennaOut):
    wifi_ssid: str | None = None
    wifi_password_set: bool = False


class EquipmentOut(Out):
    antenna: AntennaOut | None = None
    modem: ModemOut | None = None
    notes: str | None = None
    arp: dict[str, Any] | None = Field(default=None, description="the router's ARP binding (IP/MAC binding)")
    other: dict[str, Any] = Field(
        default={}, description="equipment data recorded before it had fields, as it was (read only)"
    )
    other_withheld: list[str] = Field(
        default=[],
        description="keys of other whose values look like passwords: withheld, shown by "
        "GET /admin/subscribers/{subscriber_id}/equipment-secrets",
    )


class AntennaSecretsOut(Out):
    password: str | None = None


class ModemSecretsOut(Out):
    password: str | None = None
    wifi_password: str | None = None


class EquipmentSecretsOut(Out):
    antenna: AntennaSecretsOut
    modem: ModemSecretsOut
    other: dict[str, str] = Field(description="the withheld fields of other (other_withheld), in clear")


class SubscriberOut(Out):
    id: str
    tenant_id: str
    username: str
    status: str
    connection_type: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    document_id: str | None = None
    zone_id: str | None = None
    gateway_id: str | None = None
    product_id: str | None = None
    product_assigned_at: str | None = None
    product_expires_at: str | None = None
    price_override: str | None = None
    ip: str | None = None
    local_address: str | None = None
    mac: str | None = None
    mac_auth: bool = False
    hotspot_server: str | None = None
    router_profile: str | None = None
    free_user: bool = False
    billing: dict[str, Any] = {}
    balance: str | None = None
    carry_over: dict[str, Any] = {}
    advanced: EquipmentOut = EquipmentOut()
    devices: list[str] = []
    installed_at: str | None = None
    cancelled_at: str | None = None
    last_seen_at: str | None = None
    online: bool
    online_sessions: int
    created_at: str
    updated_at: str | None = None


class SubscriberRow(SubscriberOut):
    product_name: str | None = None
    price: str
    currency: Currency = Field(description="the currency of price and balance: the tenant's")


class RouterEffectOut(Out):
    status: Literal["queued", "api_disabled", "no_gateway", "not_needed"]
    gateway_id: str | None = None
    task_id: str | None = None
    warning: str | None = None
    message: str


class SubscriberCreated(Out):
    subscriber: SubscriberOut
    password: str = Field(description="the network password (generated when not given)")
    system: str
    router: RouterEffectOut
    warnings: list[str] = []


class SubscriberUpdated(Out):
    subscriber: SubscriberOut
    changed: list[str]
    router: RouterEffectOut


class CredentialsOut(Out):
    username: str
    password: str


# The subscriber list's sort orders (``-`` first: descending); the list, its export and the export job.
SubscriberSort = Annotated[
    str, Field(pattern=r"^[-+]?(username|name|created_at|updated_at|status|ip|last_seen_at|price|id)$")
]


class SubscriberListFilter(BaseModel):
    """The subscriber list's filters and tenant, declared once for the list's query, its export's
    query and the background jobs' bodies (each adds its own base: query or strict body)."""

    status: StatusFilter | None = None
    zone_id: Id | None = None
    gateway_id: Id | None = None
    product_id: Id | None = Field(default=None, description="the plan")
    connection_type: ConnectionType | None = None
    q: Annotated[str, Field(max_length=200)] | None = Field(default=None, description="text search")
    tenant_id: Id | None = None

    def subscriber_filter(self) -> SubscriberFilter:
        return SubscriberFilter(
            self.status, self.zone_id, self.gateway_id, self.product_id, self.connection_type, self.q
        )


class SubscriberQuery(Query, SubscriberListFilter):
    sort: SubscriberSort = "username"
    limit: Annotated[int, Field(ge=1, le=500)] = 50
    cursor: Cursor | None = None


class SubscriberExportQuery(ExportQuery, SubscriberListFilter):
    sort: SubscriberSort = "username"


class SubscriberPage(Out):
    items: list[SubscriberRow]
    next_cursor: str | None = None
    total: int


class TotalsQuery(Query):
    zone_id: Id | None = None
    gateway_id: Id | None = None
    product_id: Id | None = None
    connection_type: ConnectionType | None = None
    q: Annotated[str, Field(max_length=200)] | None = None
    tenant_id: Id | None = None


class TotalsExportQuery(TotalsQuery, ExportQuery):
    pass


class CancellationQuery(TotalsQuery):
    months: Annotated[int, Field(ge=1, le=36, description="how many months back, this one included")] = 12


class CancellationMonth(Out):
    month: str
    cancelled: int
    services_total: ReportAmount = Field(
        description="the monthly prices of the services cancelled; null when they are in several currencies"
    )


class CurrencyCancellations(Out):
    currency: Currency
    months: list[CancellationMonth]
    by_zone: dict[str, int]
    total: int


class CancellationsOut(Out):
    months: list[CancellationMonth]
    by_zone: dict[str, int]
    total: int
    currency: ReportCurrency
    by_currency: list[CurrencyCancellations] = Field(
        description="each currency's statistics (the currencies with cancellations)"
    )


class StatusTotal(Out):
    count: int
    services_total: ReportAmount = Field(
        description="the sum of the services' prices; null when they are in several currencies"
    )


class CurrencyTotals(Out):
    currency: Currency
    statuses: dict[str, StatusTotal]


class TotalsOut(Out):
    statuses: dict[str, StatusTotal]
    currency: ReportCurrency
    by_currency: list[CurrencyTotals] = Field(
        description="the totals of each currency's customers (their tenants' currency)"
    )


class OnlineQuery(Query):
    tenant_id: Id | None = None
    q: Annotated[str, Field(max_length=200)] | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = Field(default=500, description="subscribers per page")
    cursor: Cursor | None = None


class OnlineExportQuery(ExportQuery):
    """The filters of the Online list; the export holds every session they match (it has no pages)."""

    tenant_id: Id | None = None
    q: Annotated[str, Field(max_length=200)] | None = None


class OnlineRow(Out):
    subscriber_id: str
    username: str
    name: str | None = None
    status: str
    session_id: str
    acct_session_id: str | None = None
    ip: str | None = None
    mac: str | None = None
    gateway_id: str | None = None
    gateway_name: str | None = None
    nas_ip: str | None = None
    started_at: str | None = None
    last_update: str | None = None
    online_seconds: int
    online_time: str
    download_mb: str
    upload_mb: str


class OnlineOut(Out):
    items: list[OnlineRow]
    total: int = Field(description="subscribers online now (every page)")
    next_cursor: str | None = None
