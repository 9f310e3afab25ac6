"""Billing: invoices, payments, extra products and contracts."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import BooleanAttribute, JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.models import Model

from core.money import DEFAULT_CURRENCY
from store.models.base import TenantIndex, _index, _meta


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
    currency = UnicodeAttribute(default=DEFAULT_CURRENCY)
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
    currency = UnicodeAttribute(default=DEFAULT_CURRENCY)
    method = UnicodeAttribute(default="cash")
    reference = UnicodeAttribute(null=True)
    kind = UnicodeAttribute(default="payment")  # payment | promise | reported | reversal | reinstatement
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
    # Refunds, charge-backs, manual reversals and won disputes of this payment: cumulative per kind
    # ({"refund": "5.00", "chargeback": "20.00", "dispute_won": "20.00"}), what stands taken back, and
    # the version every change of them checks (one conditional write: concurrent reports record once)
    reversals = JSONAttribute(null=True)
    reversed_amount = UnicodeAttribute(null=True)
    reversal_version = NumberAttribute(null=True)
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
