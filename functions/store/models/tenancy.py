"""Tenancy and access: tenants, operators and API keys."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.models import Model

from core.money import DEFAULT_CURRENCY
from store.models.base import TenantIndex, _index, _meta


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
    currency = UnicodeAttribute(default=DEFAULT_CURRENCY)
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
