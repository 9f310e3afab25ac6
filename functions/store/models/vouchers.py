"""Cards and vouchers: batches and the cards themselves."""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.models import Model

from store.models.base import TenantIndex, _index, _meta


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
