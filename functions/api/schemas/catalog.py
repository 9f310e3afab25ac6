"""Zones, gateways, policies and products (every S6 policy field)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from api.schemas.common import (
    Id,
    JsonObject,
    Money,
    Name,
    NotNull,
    Out,
    Query,
    ShortText,
    Text,
    Timezone,
    not_null,
)
from api.schemas.common import StrictIn as In

Day = Annotated[int, Field(ge=1, le=31)]
Minutes = Annotated[int, Field(ge=0, le=5_270_400)]
Megabytes = Annotated[int, Field(ge=0, le=100_000_000)]
Rate = Annotated[int, Field(ge=0, le=100_000_000_000)]
Port = Annotated[int, Field(ge=1, le=65535)]
Hour = Annotated[int, Field(ge=0, le=23)]
ConnectionType = Literal["pppoe", "hotspot", "simple_queue", "pcq"]
Vendor = Literal["mikrotik", "cisco_wlc", "meraki", "cloudtrax", "unifi", "ruckus", "other"]
AddressList = Annotated[str, Field(max_length=64, pattern=r"^[A-Za-z0-9_.:\-]*$")]
Host = Annotated[str, Field(min_length=1, max_length=253)]
Weekday = Literal["1", "2", "3", "4", "5", "6", "7"]


# ---------------------------------------------------------------- zones
class ZoneIn(In):
    name: Name
    timezone: Timezone = "UTC"
    issue_day: Day = 1
    notice_day: Day = 3
    payment_day: Day = 5
    cutoff_day: Day = 10
    auto_invoicing: bool = True
    auto_cutoff: bool = True
    tenant_id: Id | None = None


class ZonePatch(In):
    name: Name | NotNull = not_null()
    timezone: Timezone | None = None
    issue_day: Day | None = None
    notice_day: Day | None = None
    payment_day: Day | None = None
    cutoff_day: Day | None = None
    auto_invoicing: bool | None = None
    auto_cutoff: bool | None = None


class ZoneOut(Out):
    id: str
    tenant_id: str
    name: str
    timezone: str
    issue_day: int
    notice_day: int
    payment_day: int
    cutoff_day: int
    auto_invoicing: bool
    auto_cutoff: bool
    created_at: str
    updated_at: str | None = None


# ---------------------------------------------------------------- gateways
class GatewayLocation(In):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    label: ShortText | None = None


class GatewayIn(In):
    name: Name
    nas_ip: Host
    radius_secret: str = Field(min_length=1, max_length=128, description="write-only; stored encrypted")
    zone_id: Id | None = None
    vendor: Vendor = "mikrotik"
    nas_identifier: ShortText | None = None
    require_message_authenticator: bool = True
    send_disconnect_requests: bool = True
    coa_port: Port = 3799
    blocked_mode: Literal["restricted", "reject"] = "restricted"
    blocked_address_list: AddressList = "morosos"
    blocked_pool: ShortText | None = None
    api_enabled: bool = False
    api_host: Host | None = None
    api_port: Port = 8728
    api_tls: bool = False
    api_username: ShortText | None = None
    api_password: str | None = Field(
        default=None, min_length=1, max_length=128, description="write-only; stored encrypted"
    )
    timezone: Timezone = "UTC"
    lan_interface: ShortText | None = None
    plan_type: ConnectionType = "pppoe"
    ip_pool: ShortText | None = None
    domain_settings: JsonObject = Field(default_factory=dict)
    location: GatewayLocation | None = Field(default=None, description="for the Wi-Fi heatmap")
    tenant_id: Id | None = None


class GatewayPatch(In):
    name: Name | NotNull = not_null()
    nas_ip: Host | NotNull = not_null()
    radius_secret: str | None = Field(default=None, min_length=1, max_length=128)
    zone_id: Id | None = None
    vendor: Vendor | None = None
    nas_identifier: ShortText | None = None
    require_message_authenticator: bool | None = None
    send_disconnect_requests: bool | None = None
    coa_port: Port | None = None
    blocked_mode: Literal["restricted", "reject"] | None = None
    blocked_address_list: AddressList | None = None
    blocked_pool: ShortText | None = None
    api_enabled: bool | None = None
    api_host: Host | None = None
    api_port: Port | None = None
    api_tls: bool | None = None
    api_username: ShortText | None = None
    api_password: str | None = Field(default=None, min_length=1, max_length=128)
    timezone: Timezone | None = None
    lan_interface: ShortText | None = None
    plan_type: ConnectionType | None = None
    ip_pool: ShortText | None = None
    domain_settings: JsonObject | None = None
    location: GatewayLocation | None = None


class GatewayOut(Out):
    id: str
    tenant_id: str
    zone_id: str | None = None
    name: str
    vendor: str
    nas_ip: str
    nas_identifier: str | None = None
    require_message_authenticator: bool
    send_disconnect_requests: bool
    coa_port: int
    blocked_mode: str
    blocked_address_list: str | None = None
    blocked_pool: str | None = None
    api_enabled: bool
    api_host: str | None = None
    api_port: int
    api_tls: bool
    api_username: str | None = None
    timezone: str
    lan_interface: str | None = None
    plan_type: str
    ip_pool: str | None = None
    domain_settings: dict[str, Any] = {}
    location: dict[str, Any] | None = None
    last_reboot_at: str | None = None
    vpn_address: str | None = None
    has_radius_secret: bool
    has_api_password: bool
    created_at: str
    updated_at: str | None = None


# ---------------------------------------------------------------- policies
class BurstIn(In):
    """All six fields, or none (MikroTik burst)."""

    download_limit: Rate | None = None
    upload_limit: Rate | None = None
    download_threshold: Rate | None = None
    upload_threshold: Rate | None = None
    download_time: Annotated[int, Field(ge=0, le=86_400)] | None = None
    upload_time: Annotated[int, Field(ge=0, le=86_400)] | None = None


class ModulationIn(In):
    """Dynamic rate modulation by traffic."""

    algorithm: Literal["disabled", "very_low", "low", "linear", "medium", "high", "min_at_max"] = "disabled"
    activate_hour: Hour = 0
    deactivate_hour: Hour = 0
    period: Literal["hours", "current_month"] = "current_month"  # core.modulation.PeriodType
    period_hours: Annotated[int, Field(ge=1, le=168)] | None = None  # core.modulation.MAX_PERIOD_HOURS
    traffic_type: Literal["total", "separate", "download", "upload"] = "total"
    max_total_mb: Megabytes | None = None
    max_download_mb: Megabytes | None = None
    max_upload_mb: Megabytes | None = None
    min_download_rate: Rate = 0
    min_upload_rate: Rate = 0
    ignore_inactive_traffic: bool = False


class CheckAttributeIn(In):
    """FreeRADIUS operators: ``=~``/``!~`` take an RE2 regular expression; ``=*``/``!*`` (present/absent)
    need no value; ``:=`` compares nothing (``Simultaneous-Use := N`` caps concurrent sessions)."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    op: Literal["==", ":=", "!=", ">", ">=", "<", "<=", "=~", "!~", "=*", "!*"] = "=="
    value: Annotated[str, Field(max_length=253)] | Annotated[int, Field(ge=-(2**63), le=2**64 - 1)] | None = (
        None
    )


class ReplyAttributeIn(In):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    op: Literal["=", ":=", "+="] = "="
    value: Annotated[str, Field(max_length=253)] | Annotated[int, Field(ge=-(2**63), le=2**64 - 1)]


Schedule = dict[Weekday, Annotated[list[Hour], Field(max_length=24)]]


class PolicyFields(In):
    description: Text | None = None
    session_timeout_min: Minutes | None = None
    idle_timeout_min: Minutes | None = None
    download_rate: Rate | None = None
    upload_rate: Rate | None = None
    interim_update_s: (
        Annotated[int, Field(ge=0, le=86_400, description="values below 300 become 300")] | None
    ) = None
    daily_time_min: Minutes | None = None
    weekly_time_min: Minutes | None = None
    monthly_time_min: Minutes | None = None
    daily_data_mb: Megabytes | None = None
    weekly_data_mb: Megabytes | None = None
    monthly_data_mb: Megabytes | None = None
    first_day_of_week: Annotated[int, Field(ge=0, le=7)] | None = None
    max_devices: Annotated[int, Field(ge=0, le=10_000)] | None = None
    concurrent_connections: Annotated[int, Field(ge=0, le=10_000)] | None = None
    split_credits: bool | None = None
    min_split_time_min: Annotated[int, Field(ge=5, le=5_270_400)] | None = None
    min_split_data_mb: Annotated[int, Field(ge=10, le=100_000_000)] | None = None
    schedule: Schedule | None = Field(
        default=None,
        description="hours (0-23) login is allowed per weekday "
        "(1 = Monday); a missing day allows no login; null = always",
    )
    address_list: AddressList | None = None
    burst: BurstIn | None = None
    modulation: ModulationIn | None = None
    check_attributes: list[CheckAttributeIn] | None = Field(default=None, max_length=50)
    reply_attributes: list[ReplyAttributeIn] | None = Field(default=None, max_length=50)


class PolicyIn(PolicyFields):
    code: Name
    tenant_id: Id | None = None


class PolicyPatch(PolicyFields):
    code: Name | NotNull = not_null()


class PolicyOut(Out):
    id: str
    tenant_id: str
    code: str
    description: str | None = None
    session_timeout_min: int
    idle_timeout_min: int
    download_rate: int
    upload_rate: int
    interim_update_s: int
    daily_time_min: int
    weekly_time_min: int
    monthly_time_min: int
    daily_data_mb: int
    weekly_data_mb: int
    monthly_data_mb: int
    first_day_of_week: int
    max_devices: int
    concurrent_connections: int
    split_credits: bool
    min_split_time_min: int
    min_split_data_mb: int
    schedule: dict[str, list[int]] | None = None
    address_list: str | None = None
    burst: dict[str, int] | None = None
    modulation: dict[str, Any] | None = None
    check_attributes: list[dict[str, str]] = []
    reply_attributes: list[dict[str, str]] = []
    created_at: str
    updated_at: str | None = None


# ---------------------------------------------------------------- products
class ProductFields(In):
    code: ShortText | None = None
    description: Text | None = None
    policy_id: Id | None = None
    price: Money | None = None
    cost: Money | None = None
    connection_type: ConnectionType | None = None
    router_profile: ShortText | None = None
    validity_days: Annotated[int, Field(ge=0, le=3660)] | None = None
    daily_time_min: Minutes | None = None
    weekly_time_min: Minutes | None = None
    monthly_time_min: Minutes | None = None
    daily_data_mb: Megabytes | None = None
    weekly_data_mb: Megabytes | None = None
    monthly_data_mb: Megabytes | None = None
    time_credit_min: Minutes | None = None
    data_credit_mb: Megabytes | None = None
    address_list: AddressList | None = None
    active: bool | None = None


class ProductIn(ProductFields):
    name: Name
    tenant_id: Id | None = None


class ProductPatch(ProductFields):
    name: Name | NotNull = not_null()


class ProductOut(Out):
    id: str
    tenant_id: str
    name: str
    code: str | None = None
    description: str | None = None
    policy_id: str | None = None
    price: str
    cost: str | None = None
    connection_type: str
    router_profile: str | None = None
    validity_days: int
    daily_time_min: int
    weekly_time_min: int
    monthly_time_min: int
    daily_data_mb: int
    weekly_data_mb: int
    monthly_data_mb: int
    time_credit_min: int
    data_credit_mb: int
    address_list: str | None = None
    active: bool
    created_at: str
    updated_at: str | None = None


class CatalogQuery(Query):
    tenant_id: Id | None = None
    include_inherited: bool = True
