"""DynamoDB tables as pynamodb models: the one schema for the cloud stack, the local stack and tests.

Table names are ``settings.table_prefix + Meta.base_name``; :func:`store.db.configure` sets them.
``docs/data-model.md`` lists each table, its keys and indexes and the access pattern they serve.
Timestamps are ISO-8601 UTC strings (``2026-11-22T10:00:00Z``) so they sort as range keys.
Money is a decimal string. Secrets are ``*_enc`` attributes holding ``shared.crypto`` ciphertext.

One module per entity group (tenancy, network, catalogue, subscribers, sessions, vouchers, billing,
operations); every model, index and constant is importable from ``store.models``.
"""

from __future__ import annotations

from pynamodb.models import Model

from store.models.base import PAY_PER_REQUEST, TenantIndex
from store.models.billing import Contract, ExtraProduct, Invoice, Payment, SubscriberDateIndex
from store.models.catalogue import Policy, Product
from store.models.network import Gateway, NasIndex, Zone
from store.models.operations import (
    AuditEntry,
    AuditTenantIndex,
    Counter,
    GatewayTaskIndex,
    Job,
    ProvisioningTask,
    Tally,
    TokenRecord,
)
from store.models.sessions import OpenSessionIndex, Session, SubscriberStartIndex, UsageHour
from store.models.subscribers import (
    SUBSCRIBER_HOT_ATTRIBUTES,
    SUBSCRIBER_TENANT_PROJECTION,
    Subscriber,
    SubscriberGatewayIndex,
    SubscriberIdIndex,
    SubscriberIpIndex,
    SubscriberNameIndex,
    SubscriberOnlineIndex,
    SubscriberPhoneIndex,
    SubscriberStatusIndex,
    SubscriberTenantIndex,
    SubscriberUserIndex,
)
from store.models.tenancy import ApiKey, EmailIndex, Operator, ParentIndex, Tenant
from store.models.vouchers import BatchIndex, Voucher, VoucherBatch

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
)

__all__ = [
    "ALL_MODELS",
    "PAY_PER_REQUEST",
    "SUBSCRIBER_HOT_ATTRIBUTES",
    "SUBSCRIBER_TENANT_PROJECTION",
    "ApiKey",
    "AuditEntry",
    "AuditTenantIndex",
    "BatchIndex",
    "Contract",
    "Counter",
    "EmailIndex",
    "ExtraProduct",
    "Gateway",
    "GatewayTaskIndex",
    "Invoice",
    "Job",
    "NasIndex",
    "OpenSessionIndex",
    "Operator",
    "ParentIndex",
    "Payment",
    "Policy",
    "Product",
    "ProvisioningTask",
    "Session",
    "Subscriber",
    "SubscriberDateIndex",
    "SubscriberGatewayIndex",
    "SubscriberIdIndex",
    "SubscriberIpIndex",
    "SubscriberNameIndex",
    "SubscriberOnlineIndex",
    "SubscriberPhoneIndex",
    "SubscriberStartIndex",
    "SubscriberStatusIndex",
    "SubscriberTenantIndex",
    "SubscriberUserIndex",
    "Tally",
    "Tenant",
    "TenantIndex",
    "TokenRecord",
    "UsageHour",
    "Voucher",
    "VoucherBatch",
    "Zone",
]
