"""Operations: provisioning tasks, audit log, tallies, counters, short-lived tokens, jobs and
idempotency records."""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.models import Model

from store.models.base import TenantIndex, _index, _meta


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
    """Long-running operator jobs (imports, exports, bulk actions) with progress counts.

    Jobs run by the jobs worker also hold a lease (the invocation working on the job now and until
    when) and a checkpoint (where the work continues: cursor, file upload state)."""

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
    lease_token = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)  # epoch seconds
    checkpoint = JSONAttribute(null=True)
    tenant_index = TenantIndex()
