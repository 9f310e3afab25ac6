"""Subscribers: the service item RADIUS reads and writes, and its indexes."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

from store.models.base import _index, _meta

# Attributes RADIUS accounting changes on the subscriber item: no index projects them, so an
# Interim-Update rewrites the item only (docs/data-model.md "Write cost").
SUBSCRIBER_HOT_ATTRIBUTES = ("usage", "open_sessions", "devices", "devices_since", "last_seen_at", "hist")
# Index keys RADIUS changes: ``online_t`` when a subscriber's first session opens or its last closes,
# ``status`` on the first use of a New service. An Interim-Update changes neither.

# What the tenant index carries: what the billing runs and the import checks read of every subscriber
# (store.billing.BILLING_ATTRIBUTES, store.imports.SNAPSHOT_ATTRIBUTES), never an accounting counter.
SUBSCRIBER_TENANT_PROJECTION = (
    "id",
    "username",
    "name",
    "email",
    "phone",
    "address",
    "document_id",
    "status",
    "free_user",
    "product_id",
    "price_override",
    "zone_id",
    "gateway_id",
    "connection_type",
    "ip",
    "local_address",
    "mac",
    "hotspot_server",
    "billing",
    "balance",
    "installed_at",
)


class SubscriberIdIndex(GlobalSecondaryIndex["Subscriber"]):
    """Id → login (keys only: the item itself is read by its key)."""

    Meta = _index("id-index", KeysOnlyProjection())
    id = UnicodeAttribute(hash_key=True)


class SubscriberGatewayIndex(GlobalSecondaryIndex["Subscriber"]):
    """A router's subscribers in username order (per-router reconcile, gateway filter of the lists)."""

    Meta = _index("gateway-index", KeysOnlyProjection())
    gateway_id = UnicodeAttribute(hash_key=True)
    login = UnicodeAttribute(range_key=True)


def _subscriber_keys_index(name: str, hash_name: str, range_name: str, doc: str) -> Any:
    """A keys-only index of subscribers: the admin lists query it for a page of logins, then read the
    page's items by key (BatchGetItem)."""
    attrs = {
        "Meta": _index(name, KeysOnlyProjection()),
        hash_name: UnicodeAttribute(hash_key=True),
        range_name: UnicodeAttribute(range_key=True),
        "__doc__": doc,
    }
    return type(f"Subscriber_{name.replace('-', '_')}", (GlobalSecondaryIndex,), attrs)


SubscriberUserIndex = _subscriber_keys_index(
    "user-index", "tenant_id", "login", "A tenant's subscribers in username order; username prefix search."
)
SubscriberStatusIndex = _subscriber_keys_index(
    "status-index",
    "status",
    "login",
    "Subscribers of a status; ``begins_with(login, '<tenant>#')`` keeps one tenant, in username order.",
)
SubscriberOnlineIndex = _subscriber_keys_index(
    "online-index", "online_t", "login", "Sparse: subscribers with an open session (``online_t`` = tenant)."
)
SubscriberNameIndex = _subscriber_keys_index(
    "name-index", "tenant_id", "name_lc", "Name prefix search (lower-case name)."
)
SubscriberPhoneIndex = _subscriber_keys_index(
    "phone-index", "tenant_id", "phone_n", "Phone prefix search (digits of the phone)."
)
SubscriberIpIndex = _subscriber_keys_index(
    "ip-index", "tenant_id", "ip", "IP uniqueness and IP prefix search."
)


class SubscriberTenantIndex(GlobalSecondaryIndex["Subscriber"]):
    Meta = _index("tenant-index", IncludeProjection(list(SUBSCRIBER_TENANT_PROJECTION)))
    tenant_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class Subscriber(Model):
    """A subscriber service: one network account (SPEC S3).

    Keyed by ``login`` = ``<tenant_id>#<lower-case username>`` so RADIUS authenticates with one GetItem
    that also returns the usage counters (``usage``) and open sessions (``open_sessions``); accounting
    updates both with atomic ADD/SET on the same item.
    """

    Meta = _meta("subscribers")
    login = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute()
    tenant_id = UnicodeAttribute()
    username = UnicodeAttribute()
    password_enc = UnicodeAttribute()
    portal_password_hash = UnicodeAttribute(null=True)
    autologin_epoch = NumberAttribute(default=0)  # auto-login links carry it; revoking increments it
    status = UnicodeAttribute(default="new")
    connection_type = UnicodeAttribute(default="pppoe")
    name = UnicodeAttribute(null=True)
    email = UnicodeAttribute(null=True)
    phone = UnicodeAttribute(null=True)
    address = UnicodeAttribute(null=True)
    document_id = UnicodeAttribute(null=True)
    zone_id = UnicodeAttribute(null=True)
    gateway_id = UnicodeAttribute(null=True)
    product_id = UnicodeAttribute(null=True)
    product_assigned_at = UnicodeAttribute(null=True)
    product_expires_at = UnicodeAttribute(null=True)
    price_override = UnicodeAttribute(null=True)
    ip = UnicodeAttribute(null=True)
    local_address = UnicodeAttribute(null=True)
    mac = UnicodeAttribute(null=True)
    mac_auth = BooleanAttribute(default=False)  # complementary access: the username is the MAC
    hotspot_server = UnicodeAttribute(default="all")
    router_profile = UnicodeAttribute(null=True)
    free_user = BooleanAttribute(default=False)  # auto-generated on Click & connect / Simple password
    # Channels: cards are logins made from a voucher; "first login" validity starts when first used
    voucher_id = UnicodeAttribute(null=True)
    expires_days_after_first_login = NumberAttribute(null=True)
    created_via = UnicodeAttribute(null=True)  # operator | api | card | registration | import | router
    billing = JSONAttribute(default=dict)  # own dates, recharge type, fees, promise
    balance = UnicodeAttribute(default="0")
    carry_over = JSONAttribute(default=dict)  # residual time/data kept on recharge
    advanced = JSONAttribute(default=dict)  # equipment (core.equipment); passwords only as *_enc
    usage: MapAttribute[str, Any] = MapAttribute(
        default=dict
    )  # {"d:2026-11-22:t": seconds, "d:2026-11-22:b": bytes, ...}
    open_sessions: MapAttribute[str, Any] = MapAttribute(
        default=dict
    )  # {session key: {nas, sid, start, ip, mac}}
    devices: ListAttribute[Any] = ListAttribute(default=list)  # MACs since the product assignment
    devices_since = UnicodeAttribute(null=True)  # product_assigned_at the device list counts from
    installed_at = UnicodeAttribute(null=True)
    cancelled_at = UnicodeAttribute(null=True)
    released_ip = UnicodeAttribute(null=True)  # the address a cancellation released (restored on activate)
    last_seen_at = UnicodeAttribute(null=True)
    router_state = JSONAttribute(default=dict)  # what was last pushed to the router, for renames
    hist = BooleanAttribute(null=True)  # rate modulation keeps hourly traffic in ``usage_hours``
    online_t = UnicodeAttribute(null=True)  # the tenant id while a session is open (online-index)
    name_lc = UnicodeAttribute(null=True)  # lower-case name (name-index)
    phone_n = UnicodeAttribute(null=True)  # digits of the phone (phone-index)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    id_index = SubscriberIdIndex()
    tenant_index = SubscriberTenantIndex()
    gateway_index = SubscriberGatewayIndex()
    user_index = SubscriberUserIndex()
    status_index = SubscriberStatusIndex()
    online_index = SubscriberOnlineIndex()
    name_index = SubscriberNameIndex()
    phone_index = SubscriberPhoneIndex()
    ip_index = SubscriberIpIndex()
