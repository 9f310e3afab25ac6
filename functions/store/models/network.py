"""Network: zones (billing calendar) and gateways (routers / NAS)."""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.models import Model

from store.models.base import TenantIndex, _index, _meta


class Zone(Model):
    """Billing calendar and time zone for the routers and clients in it (SPEC S5)."""

    Meta = _meta("zones")
    id = UnicodeAttribute(hash_key=True)
    tenant_id = UnicodeAttribute()
    name = UnicodeAttribute()
    timezone = UnicodeAttribute(default="UTC")
    issue_day = NumberAttribute(default=1)
    notice_day = NumberAttribute(default=3)
    payment_day = NumberAttribute(default=5)
    cutoff_day = NumberAttribute(default=10)
    auto_invoicing = BooleanAttribute(default=True)
    auto_cutoff = BooleanAttribute(default=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    tenant_index = TenantIndex()


class NasIndex(GlobalSecondaryIndex["Gateway"]):
    Meta = _index("nas-index")
    nas_ip = UnicodeAttribute(hash_key=True)


class Gateway(Model):
    """A router / NAS: RADIUS client and provisioning target (SPEC S7)."""

    Meta = _meta("gateways")
    id = UnicodeAttribute(hash_key=True)
    tenant_id = UnicodeAttribute()
    zone_id = UnicodeAttribute(null=True)
    name = UnicodeAttribute()
    vendor = UnicodeAttribute(default="mikrotik")  # mikrotik | cisco_wlc | meraki | unifi | ruckus | other
    nas_ip = UnicodeAttribute()  # source address of its RADIUS packets (VPN address)
    nas_identifier = UnicodeAttribute(null=True)
    radius_secret_enc = UnicodeAttribute()
    require_message_authenticator = BooleanAttribute(default=True)
    send_disconnect_requests = BooleanAttribute(default=True)
    coa_port = NumberAttribute(default=3799)
    blocked_mode = UnicodeAttribute(default="restricted")  # restricted | reject
    blocked_address_list = UnicodeAttribute(default="morosos")
    blocked_pool = UnicodeAttribute(null=True)
    api_enabled = BooleanAttribute(default=True)
    api_host = UnicodeAttribute(null=True)
    api_port = NumberAttribute(default=8728)
    api_tls = BooleanAttribute(default=False)
    api_username = UnicodeAttribute(null=True)
    api_password_enc = UnicodeAttribute(null=True)
    timezone = UnicodeAttribute(default="UTC")
    lan_interface = UnicodeAttribute(null=True)
    plan_type = UnicodeAttribute(default="pppoe")  # pppoe | hotspot | simple_queue | pcq
    ip_pool = UnicodeAttribute(null=True)  # CIDR for automatic address assignment
    domain_settings = JSONAttribute(default=dict)  # registration mode (click_connect, simple_password...)
    last_reboot_at = UnicodeAttribute(null=True)  # last Accounting-On
    vpn_address = UnicodeAttribute(null=True)
    vpn_public_key = UnicodeAttribute(null=True)
    location = JSONAttribute(null=True)  # {"lat", "lon", "label"}: where it is on the Wi-Fi heatmap
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    tenant_index = TenantIndex()
    nas_index = NasIndex()
