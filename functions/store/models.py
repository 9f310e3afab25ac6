"""DynamoDB tables as pynamodb models: the one schema for the cloud stack, the local stack and tests.

Table names are ``settings.table_prefix + Meta.base_name``; :func:`store.db.configure` sets them.
``docs/data-model.md`` lists each table, its keys and indexes and the access pattern they serve.
Timestamps are ISO-8601 UTC strings (``2026-11-22T10:00:00Z``) so they sort as range keys.
Money is a decimal string. Secrets are ``*_enc`` attributes holding ``shared.crypto`` ciphertext.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

PAY_PER_REQUEST = "PAY_PER_REQUEST"


def _meta(base: str) -> Any:
    return type("Meta", (), {"base_name": base, "table_name": base, "billing_mode": PAY_PER_REQUEST})


def _index(name: str, projection: Any = None) -> Any:
    return type(
        "Meta",
        (),
        {"index_name": name, "projection": projection or AllProjection(), "billing_mode": PAY_PER_REQUEST},
    )


class TenantIndex(GlobalSecondaryIndex[Any]):
    """Every tenant-owned table: list a tenant's rows, newest/alphabetical by the range key."""

    Meta = _index("tenant-index")
    tenant_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


# ---------------------------------------------------------------- tenancy and access
class ParentIndex(GlobalSecondaryIndex["Tenant"]):
    Meta = _index("parent-index")
    parent_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class Tenant(Model):
    """System → reseller → manager. ``ancestors`` lists ids from the root down to the parent."""

    Meta = _meta("tenants")
    id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    kind = UnicodeAttribute()  # system | reseller | manager
    parent_id = UnicodeAttribute(default="-")  # "-" for the system tenant (GSI keys cannot be empty)
    ancestors: ListAttribute[Any] = ListAttribute(default=list)
    company_name = UnicodeAttribute(null=True)  # {{ empresa }} in templates
    currency = UnicodeAttribute(default="USD")
    tax_rate = UnicodeAttribute(default="0")  # decimal string, e.g. "0.16"
    timezone = UnicodeAttribute(default="UTC")
    logo_url = UnicodeAttribute(null=True)
    contact_email = UnicodeAttribute(null=True)
    settings = JSONAttribute(default=dict)  # templates, portal/domain settings, billing options
    active = BooleanAttribute(default=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    parent_index = ParentIndex()


class EmailIndex(GlobalSecondaryIndex["Operator"]):
    Meta = _index("email-index")
    email = UnicodeAttribute(hash_key=True)


class Operator(Model):
    """A person using the admin API. Roles: system_admin, reseller, manager, operator, read_only."""

    Meta = _meta("operators")
    id = UnicodeAttribute(hash_key=True)
    tenant_id = UnicodeAttribute()
    email = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    role = UnicodeAttribute()
    password_hash = UnicodeAttribute()
    permissions: ListAttribute[Any] = ListAttribute(default=list)
    active = BooleanAttribute(default=True)
    token_epoch = NumberAttribute(default=0)  # bearer tokens carry it; a password change increments it
    last_login_at = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    email_index = EmailIndex()
    tenant_index = TenantIndex()


class ApiKey(Model):
    """Key for external procedures (e.g. a hotel PMS). The secret is stored as a SHA-256 hash only."""

    Meta = _meta("api_keys")
    id = UnicodeAttribute(hash_key=True)  # public key id, the part before the dot
    tenant_id = UnicodeAttribute()
    name = UnicodeAttribute()
    role = UnicodeAttribute(default="operator")
    secret_hash = UnicodeAttribute()
    revoked = BooleanAttribute(default=False)
    last_used_at = UnicodeAttribute(null=True)
    created_by = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    tenant_index = TenantIndex()


# ---------------------------------------------------------------- network
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


# ---------------------------------------------------------------- catalogue
class Policy(Model):
    """Product policy: every field of SPEC S6. 0 means unlimited for allowances."""

    Meta = _meta("policies")
    id = UnicodeAttribute(hash_key=True)
    tenant_id = UnicodeAttribute()
    code = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    session_timeout_min = NumberAttribute(default=0)
    idle_timeout_min = NumberAttribute(default=0)
    download_rate = NumberAttribute(default=0)  # bits/s
    upload_rate = NumberAttribute(default=0)
    interim_update_s = NumberAttribute(default=300)
    daily_time_min = NumberAttribute(default=0)
    weekly_time_min = NumberAttribute(default=0)
    monthly_time_min = NumberAttribute(default=0)
    daily_data_mb = NumberAttribute(default=0)
    weekly_data_mb = NumberAttribute(default=0)
    monthly_data_mb = NumberAttribute(default=0)
    first_day_of_week = NumberAttribute(default=0)  # 0 default, 1 Monday … 7 Sunday
    max_devices = NumberAttribute(default=0)
    concurrent_connections = NumberAttribute(default=0)
    split_credits = BooleanAttribute(default=False)
    min_split_time_min = NumberAttribute(default=5)
    min_split_data_mb = NumberAttribute(default=10)
    schedule = JSONAttribute(null=True)  # {"1": [hours allowed 0-23], ... "7": [...]}; null = always
    address_list = UnicodeAttribute(null=True)
    burst = JSONAttribute(null=True)  # download/upload limit, threshold, time: all or nothing
    modulation = JSONAttribute(null=True)  # dynamic rate modulation by traffic
    check_attributes = JSONAttribute(default=list)  # [{"name": ..., "op": "==", "value": ...}]
    reply_attributes = JSONAttribute(default=list)  # [{"name": ..., "value": ...}]
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    tenant_index = TenantIndex()


class Product(Model):
    """What a subscriber buys: price, policy, validity and its own allowances (policy wins)."""

    Meta = _meta("products")
    id = UnicodeAttribute(hash_key=True)
    tenant_id = UnicodeAttribute()
    name = UnicodeAttribute()
    code = UnicodeAttribute(null=True)
    description = UnicodeAttribute(default="")
    policy_id = UnicodeAttribute(null=True)
    price = UnicodeAttribute(default="0")
    cost = UnicodeAttribute(null=True)  # what the manager pays for it (sales to user: costs and revenues)
    connection_type = UnicodeAttribute(default="pppoe")
    router_profile = UnicodeAttribute(null=True)  # PPP profile / hotspot user profile on the router
    validity_days = NumberAttribute(default=0)  # 0 = no expiry (monthly service)
    daily_time_min = NumberAttribute(default=0)
    weekly_time_min = NumberAttribute(default=0)
    monthly_time_min = NumberAttribute(default=0)
    daily_data_mb = NumberAttribute(default=0)
    weekly_data_mb = NumberAttribute(default=0)
    monthly_data_mb = NumberAttribute(default=0)
    time_credit_min = NumberAttribute(default=0)  # prepaid credits (cards): 0 = none
    data_credit_mb = NumberAttribute(default=0)
    address_list = UnicodeAttribute(null=True)
    active = BooleanAttribute(default=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    tenant_index = TenantIndex()


# ---------------------------------------------------------------- subscribers
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
    advanced = JSONAttribute(default=dict)  # antenna model/password, Wi-Fi modem data
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


class SubscriberStartIndex(GlobalSecondaryIndex["Session"]):
    """A subscriber's connection log by start (keys only: a page of rows is read by key)."""

    Meta = _index("subscriber-index", KeysOnlyProjection())
    subscriber_id = UnicodeAttribute(hash_key=True)
    started_at = UnicodeAttribute(range_key=True)


class OpenSessionIndex(GlobalSecondaryIndex["Session"]):
    """Sparse: only open sessions carry ``open_nas`` (Accounting-On/Off and the stale-session reaper).

    The range key is the hour of the last update (``YYYY-MM-DDTHH``), not the update time itself: it
    changes once an hour, so an Interim-Update does not move the row in the index every time.
    """

    Meta = _index("open-hour-index", KeysOnlyProjection())
    open_nas = UnicodeAttribute(hash_key=True)
    open_hour = UnicodeAttribute(range_key=True)


class Session(Model):
    """Accounting / connection log row (SPEC S4 connection log fields)."""

    Meta = _meta("sessions")
    id = UnicodeAttribute(hash_key=True)  # sha256(nas_ip|acct_session_id|username)[:32]
    tenant_id = UnicodeAttribute()
    subscriber_id = UnicodeAttribute()
    username = UnicodeAttribute()
    acct_session_id = UnicodeAttribute()
    gateway_id = UnicodeAttribute(null=True)
    gateway_name = UnicodeAttribute(null=True)
    nas_ip = UnicodeAttribute()
    nas_identifier = UnicodeAttribute(null=True)
    gateway_mac = UnicodeAttribute(null=True)  # Called-Station-Id
    mac = UnicodeAttribute(null=True)  # Calling-Station-Id
    ssid = UnicodeAttribute(null=True)
    framed_ip = UnicodeAttribute(null=True)
    started_at = UnicodeAttribute()
    ended_at = UnicodeAttribute(null=True)
    last_update = UnicodeAttribute()
    duration_s = NumberAttribute(default=0)
    input_octets = NumberAttribute(default=0)  # 64-bit: octets + gigawords, client upload
    output_octets = NumberAttribute(default=0)  # client download
    terminate_cause = UnicodeAttribute(null=True)
    closed_by = UnicodeAttribute(null=True)  # stop | accounting-on | accounting-off | reaper | admin
    version = NumberAttribute(default=0)  # accounting updates of the session: older writes never win
    interim_s = NumberAttribute(default=300)
    open_nas = UnicodeAttribute(null=True)
    open_hour = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)  # closed rows: end + the tenant's connection-log retention
    subscriber_index = SubscriberStartIndex()
    open_index = OpenSessionIndex()


# ---------------------------------------------------------------- cards and vouchers
class BatchIndex(GlobalSecondaryIndex["Voucher"]):
    Meta = _index("batch-index")
    batch_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class VoucherBatch(Model):
    Meta = _meta("voucher_batches")
    id = UnicodeAttribute(hash_key=True)
    tenant_id = UnicodeAttribute()
    product_id = UnicodeAttribute()
    card_count = NumberAttribute()
    prefix = UnicodeAttribute(default="")
    price = UnicodeAttribute(default="0")
    validity = JSONAttribute(default=dict)  # {"starts": "first_login"|"date", "days": n, "date": ...}
    status = UnicodeAttribute(default="active")  # generating | active | failed | revoked
    created_by = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    # Channels: label, generation options (code/password length and alphabet, gateway) and revocation
    name = UnicodeAttribute(null=True)
    options = JSONAttribute(default=dict)
    revoked_at = UnicodeAttribute(null=True)
    tenant_index = TenantIndex()


class Voucher(Model):
    """A card: username + password, redeemable once (conditional update on ``status``)."""

    Meta = _meta("vouchers")
    id = UnicodeAttribute(hash_key=True)  # "<tenant_id>#<code>"
    tenant_id = UnicodeAttribute()
    batch_id = UnicodeAttribute()
    code = UnicodeAttribute()
    password_enc = UnicodeAttribute()
    product_id = UnicodeAttribute()
    status = UnicodeAttribute(
        default="unused"
    )  # unused | redeemed | used (at the hotspot) | revoked | expired
    redeemed_by = UnicodeAttribute(null=True)
    redeemed_at = UnicodeAttribute(null=True)
    valid_until = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    batch_index = BatchIndex()


# ---------------------------------------------------------------- billing
class SubscriberDateIndex(GlobalSecondaryIndex[Any]):
    Meta = _index("subscriber-index")
    subscriber_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class Invoice(Model):
    """Internet-service or other-income invoice. Lines are embedded (``lines``).

    Internet invoices have the deterministic id ``inv_<subscriber_id>_<issue month>`` (URL-safe; see
    ``core.invoice_ids``) and are written with ``attribute_not_exists(id)``: at most one per client per
    month by issue date, whatever runs concurrently.
    """

    Meta = _meta("invoices")
    id = UnicodeAttribute(hash_key=True)
    tenant_id = UnicodeAttribute()
    subscriber_id = UnicodeAttribute()
    number = NumberAttribute(null=True)  # sequential per tenant
    kind = UnicodeAttribute(default="internet")  # internet | other
    period = UnicodeAttribute(null=True)  # "2026-11" or "2026-11-19..2026-12-18"
    status = UnicodeAttribute(default="pending")  # pending | partial | paid | cancelled
    issue_date = UnicodeAttribute()
    notice_date = UnicodeAttribute(null=True)
    due_date = UnicodeAttribute(null=True)
    cutoff_date = UnicodeAttribute(null=True)
    currency = UnicodeAttribute(default="USD")
    subtotal = UnicodeAttribute(default="0")
    tax = UnicodeAttribute(default="0")
    total = UnicodeAttribute(default="0")
    paid = UnicodeAttribute(default="0")
    lines = JSONAttribute(default=list)  # [{"description", "quantity", "unit_price", "amount", "extra_id"}]
    notes = UnicodeAttribute(null=True)
    # Billing: denormalised so the notice/cutoff runs and reports need no per-invoice subscriber reads
    subscriber_login = UnicodeAttribute(null=True)
    subscriber_name = UnicodeAttribute(null=True)
    zone_id = UnicodeAttribute(null=True)
    gateway_id = UnicodeAttribute(null=True)
    product_id = UnicodeAttribute(null=True)
    service_start = UnicodeAttribute(null=True)
    service_end = UnicodeAttribute(null=True)
    paid_at = UnicodeAttribute(null=True)
    notified_at = UnicodeAttribute(null=True)
    sent_at = UnicodeAttribute(null=True)
    cutoff_at = UnicodeAttribute(null=True)
    cancelled_at = UnicodeAttribute(null=True)
    cancelled_by = UnicodeAttribute(null=True)
    created_by = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    subscriber_index = SubscriberDateIndex()
    tenant_index = TenantIndex()


class Payment(Model):
    """A payment; ``id`` is derived from the idempotency key so a repeated request records once."""

    Meta = _meta("payments")
    id = UnicodeAttribute(hash_key=True)
    tenant_id = UnicodeAttribute()
    subscriber_id = UnicodeAttribute()
    amount = UnicodeAttribute()
    currency = UnicodeAttribute(default="USD")
    method = UnicodeAttribute(default="cash")
    reference = UnicodeAttribute(null=True)
    kind = UnicodeAttribute(default="payment")  # payment | promise | reported | reversal
    # applied | partially_reversed | reversed | pending_confirmation | rejected
    status = UnicodeAttribute(default="applied")
    source = UnicodeAttribute(default="operator")  # operator | portal | webhook
    applied = JSONAttribute(default=list)  # [{"invoice_id", "amount"}]
    balance_after = UnicodeAttribute(null=True)
    promise_until = UnicodeAttribute(null=True)
    created_by = UnicodeAttribute(null=True)
    # Billing: the request's fingerprint (same idempotency key, different request → conflict) and effects
    request_fingerprint = UnicodeAttribute(null=True)
    notes = UnicodeAttribute(null=True)
    effects = JSONAttribute(default=dict)  # {"reactivated", "fees", "dates_moved", "sync"}
    # Refunds and charge-backs taken back from this payment: cumulative per kind ({"refund": "5.00"})
    # and their sum, the version the reversal's conditional write checks
    reversals = JSONAttribute(null=True)
    reversed_amount = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    subscriber_index = SubscriberDateIndex()
    tenant_index = TenantIndex()


class ExtraProduct(Model):
    """Extra product/service on a client's monthly invoice: recurring, one payment or installments."""

    Meta = _meta("extra_products")
    id = UnicodeAttribute(hash_key=True)
    tenant_id = UnicodeAttribute()
    subscriber_id = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    price = UnicodeAttribute()
    mode = UnicodeAttribute(default="recurring")  # recurring | one_payment | installments
    installments = NumberAttribute(default=0)  # 2..24 for installments
    billed_count = NumberAttribute(default=0)
    start_date = UnicodeAttribute(null=True)
    end_date = UnicodeAttribute(null=True)
    active = BooleanAttribute(default=True)
    # Billing: period of the last invoice it was added to; where it came from (fee, warehouse item)
    last_billed_period = UnicodeAttribute(null=True)
    source = UnicodeAttribute(null=True)  # operator | reconnection_fee | late_fee
    created_by = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    subscriber_index = SubscriberDateIndex()
    tenant_index = TenantIndex()


class Contract(Model):
    Meta = _meta("contracts")
    id = UnicodeAttribute(hash_key=True)
    tenant_id = UnicodeAttribute()
    subscriber_id = UnicodeAttribute()
    content = UnicodeAttribute(default="")
    status = UnicodeAttribute(default="pending")  # pending | signed | active | ended
    start_date = UnicodeAttribute(null=True)
    end_date = UnicodeAttribute(null=True)
    signature = JSONAttribute(null=True)  # {"typed_name"|"image", "signed_at", "ip"}
    attachments = JSONAttribute(default=list)
    visible_to_customer = BooleanAttribute(default=True)
    pdf_key = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    subscriber_index = SubscriberDateIndex()


# ---------------------------------------------------------------- operations
class GatewayTaskIndex(GlobalSecondaryIndex["ProvisioningTask"]):
    Meta = _index("gateway-index")
    gateway_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class ProvisioningTask(Model):
    """A provisioning trigger and its outcome (SPEC S5 periodic tasks: success or connection error)."""

    Meta = _meta("tasks")
    id = UnicodeAttribute(hash_key=True)
    tenant_id = UnicodeAttribute()
    gateway_id = UnicodeAttribute()
    kind = UnicodeAttribute()  # reconcile_subscriber | reconcile_router | install_block_rules | cutoff
    subscriber_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="queued")  # queued | running | succeeded | failed | dead
    attempts = NumberAttribute(default=0)
    last_error = UnicodeAttribute(null=True)
    error_category = UnicodeAttribute(
        null=True
    )  # unreachable | auth | timeout | trap | api_disabled | conflict | invalid | internal | queue
    result = JSONAttribute(default=dict)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    gateway_index = GatewayTaskIndex()
    tenant_index = TenantIndex()


class AuditTenantIndex(GlobalSecondaryIndex["AuditEntry"]):
    Meta = _index("tenant-index")
    tenant_id = UnicodeAttribute(hash_key=True)
    ts_id = UnicodeAttribute(range_key=True)


class AuditEntry(Model):
    """Who changed what, when, with before/after; queried per entity or per tenant."""

    Meta = _meta("audit")
    entity_id = UnicodeAttribute(hash_key=True)
    ts_id = UnicodeAttribute(range_key=True)  # "<iso timestamp>#<random>"
    tenant_id = UnicodeAttribute()
    entity_type = UnicodeAttribute()
    action = UnicodeAttribute()
    actor_id = UnicodeAttribute()
    actor_kind = UnicodeAttribute(default="operator")  # operator | api_key | system | subscriber
    before = JSONAttribute(null=True)
    after = JSONAttribute(null=True)
    request_id = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)  # entry time + the tenant's audit retention
    tenant_index = AuditTenantIndex()


class UsageHour(Model):
    """Hourly traffic of a subscriber whose policy modulates its rate by traffic (SPEC S6).

    Kept out of the subscriber item so the item RADIUS rewrites on every accounting update stays
    small; rows expire after the longest modulation window.
    """

    Meta = _meta("usage_hours")
    login = UnicodeAttribute(hash_key=True)
    hour = UnicodeAttribute(range_key=True)  # UTC "YYYYMMDDHH"
    i = NumberAttribute(default=0)  # octets from the client
    o = NumberAttribute(default=0)  # octets to the client
    expires_at = TTLAttribute(null=True)


class Tally(Model):
    """Subscriber counts of a tenant per status and service price (``store.tallies``)."""

    Meta = _meta("tallies")
    tenant_id = UnicodeAttribute(hash_key=True)
    bucket = UnicodeAttribute(range_key=True)  # "<status>|p|<product_id>" | "<status>|o|<price>"
    n = NumberAttribute(default=0)
    at = UnicodeAttribute(null=True)  # the recount marker row: when


class Counter(Model):
    """Named atomic counters (invoice numbers per tenant, rate-limit windows)."""

    Meta = _meta("counters")
    name = UnicodeAttribute(hash_key=True)
    value = NumberAttribute(default=0)


class TokenRecord(Model):
    """Short-lived records: one-time codes (hashed), revocations, webhook replay markers."""

    Meta = _meta("tokens")
    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    tenant_id = UnicodeAttribute(null=True)
    data = JSONAttribute(default=dict)
    attempts = NumberAttribute(default=0)
    expires_at = TTLAttribute(null=True)
    created_at = UnicodeAttribute()


class Job(Model):
    """Long-running operator jobs (imports, bulk actions) with progress counts."""

    Meta = _meta("jobs")
    id = UnicodeAttribute(hash_key=True)
    tenant_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    status = UnicodeAttribute(default="pending")
    total = NumberAttribute(default=0)
    done = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    result = JSONAttribute(default=dict)
    created_by = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    tenant_index = TenantIndex()


class IdempotencyRecord(Model):
    """Table used by powertools idempotency (payments, provisioning messages)."""

    Meta = _meta("idempotency")
    id = UnicodeAttribute(hash_key=True)
    expiration = TTLAttribute(null=True)


ALL_MODELS: tuple[type[Model], ...] = (
    Tenant,
    Operator,
    ApiKey,
    Zone,
    Gateway,
    Policy,
    Product,
    Subscriber,
    Session,
    UsageHour,
    VoucherBatch,
    Voucher,
    Invoice,
    Payment,
    ExtraProduct,
    Contract,
    ProvisioningTask,
    AuditEntry,
    Tally,
    Counter,
    TokenRecord,
    Job,
    IdempotencyRecord,
)
