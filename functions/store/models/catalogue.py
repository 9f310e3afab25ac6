"""Catalogue: policies and products."""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from store.models.base import TenantIndex, _meta


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
