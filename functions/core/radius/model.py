"""Read-only views of the records the RADIUS rules need, independent of the datastore.

The store converts its items into these; tests build them directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.rates import Burst

BYTES_PER_MB = 1_048_576  # allowances are configured in megabytes (MiB, as RouterOS displays them)
# Gateways that cannot cut a session at a traffic limit: the system sends a Disconnect-Request instead
NON_ENFORCING_VENDORS = frozenset({"cisco_wlc", "meraki", "cloudtrax", "ruckus", "unifi"})


@dataclass(frozen=True)
class GatewayView:
    """A NAS as the RADIUS service sees it. ``secret_enc`` is decrypted by the service, never here."""

    id: str
    tenant_id: str
    name: str
    nas_ip: str
    secret_enc: str
    nas_identifier: str | None = None
    vendor: str = "mikrotik"
    timezone: str = "UTC"
    require_message_authenticator: bool = True
    send_disconnect_requests: bool = True
    coa_port: int = 3799
    blocked_mode: str = "restricted"  # restricted | reject
    blocked_address_list: str | None = "morosos"
    blocked_pool: str | None = None
    last_reboot_at: str | None = None
    domain_settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def enforces_traffic_limits(self) -> bool:
        """Whether the gateway cuts a session itself when it reaches a data limit (SPEC S6 warning)."""
        return self.vendor not in NON_ENFORCING_VENDORS


@dataclass(frozen=True)
class CustomAttribute:
    name: str
    value: str
    op: str = "=="


@dataclass(frozen=True)
class Allowances:
    """Time (minutes) and data (MB) per period; 0 = unlimited."""

    daily_time_min: int = 0
    weekly_time_min: int = 0
    monthly_time_min: int = 0
    daily_data_mb: int = 0
    weekly_data_mb: int = 0
    monthly_data_mb: int = 0


@dataclass(frozen=True)
class PolicyView:
    id: str
    code: str = ""
    session_timeout_min: int = 0
    idle_timeout_min: int = 0
    download_rate: int = 0
    upload_rate: int = 0
    interim_update_s: int = 300
    allowances: Allowances = field(default_factory=Allowances)
    first_day_of_week: int = 0
    max_devices: int = 0
    concurrent_connections: int = 0
    split_credits: bool = False
    min_split_time_min: int = 5
    min_split_data_mb: int = 10
    schedule: Mapping[str, list[int]] | None = None
    address_list: str | None = None
    burst: Burst | None = None
    modulation: Mapping[str, Any] | None = None
    check_attributes: tuple[CustomAttribute, ...] = ()
    reply_attributes: tuple[CustomAttribute, ...] = ()


@dataclass(frozen=True)
class ProductView:
    id: str
    name: str = ""
    policy_id: str | None = None
    validity_days: int = 0
    allowances: Allowances = field(default_factory=Allowances)
    time_credit_min: int = 0
    data_credit_mb: int = 0
    address_list: str | None = None
    router_profile: str | None = None


@dataclass(frozen=True)
class OpenSession:
    """A session as recorded on the subscriber item (``open_sessions`` map).

    Cumulative counters (``input_octets`` = client upload, ``output_octets`` = download, ``time_s``)
    are the last values applied to the usage counters, so the next update applies only the delta.
    ``closed_by`` is set for a tombstone: a closed session kept a while so late or repeated packets
    for it change nothing.
    """

    key: str
    nas_ip: str
    acct_session_id: str
    started_at: str
    last_update: str
    version: int = 0
    input_octets: int = 0
    output_octets: int = 0
    time_s: int = 0
    interim_s: int = 300
    framed_ip: str | None = None
    mac: str | None = None
    closed_by: str | None = None
    ended_at: str | None = None

    @property
    def is_open(self) -> bool:
        return self.closed_by is None


@dataclass(frozen=True)
class SubscriberView:
    login: str
    id: str
    tenant_id: str
    username: str
    password_enc: str
    status: str = "active"
    connection_type: str = "pppoe"
    product_id: str | None = None
    product_assigned_at: str | None = None
    product_expires_at: str | None = None
    expires_days_after_first_login: int = 0  # cards valid N days from first use (set on first Start)
    ip: str | None = None
    mac: str | None = None
    mac_auth: bool = False
    free_user: bool = False
    router_profile: str | None = None
    carry_over: Mapping[str, Any] = field(default_factory=dict)
    usage: Mapping[str, int] = field(default_factory=dict)
    open_sessions: Mapping[str, OpenSession] = field(default_factory=dict)
    devices: tuple[str, ...] = ()
    devices_since: str | None = None
    # whether the item holds the maps at all (older items may not): updates must create them first
    has_usage_map: bool = True
    has_sessions_map: bool = True
