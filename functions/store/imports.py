"""Writes of the bulk channels (spreadsheet and router imports) that have no per-item invariant to guard.

The subscribers themselves are created one conditional write each (usernames stay unique per tenant
whatever runs at the same time); the audit entries that go with them are append-only with unique
keys, so they are written in batches of 25 (BatchWriteItem) instead of one request each.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from core.ids import now_iso
from store.models import AuditEntry, Subscriber


def append_audit_entries(
    entries: Iterable[dict[str, Any]], *, actor_id: str, actor_kind: str, request_id: str | None
) -> int:
    """One audit entry per dict (``tenant_id``, ``entity_type``, ``entity_id``, ``action``, ``before``,
    ``after``); snapshots must not hold secrets. Returns how many were written."""
    n = 0
    with AuditEntry.batch_write() as batch:
        for e in entries:
            batch.save(
                AuditEntry(
                    entity_id=e["entity_id"],
                    ts_id=f"{now_iso()}#{secrets.token_hex(4)}",
                    tenant_id=e["tenant_id"],
                    entity_type=e["entity_type"],
                    action=e["action"],
                    actor_id=actor_id or "system",
                    actor_kind=actor_kind or "system",
                    before=e.get("before"),
                    after=e.get("after"),
                    request_id=request_id,
                )
            )
            n += 1
    return n


# What import rows are checked against: identity, uniqueness and the columns "update clients" changes.
SNAPSHOT_ATTRIBUTES = (
    "login",
    "id",
    "username",
    "ip",
    "product_id",
    "zone_id",
    "gateway_id",
    "name",
    "email",
    "phone",
    "address",
    "document_id",
    "connection_type",
    "local_address",
    "mac",
    "hotspot_server",
    "installed_at",
)


def tenant_subscribers(tenant_id: str) -> list[Subscriber]:
    """The tenant's subscribers with only :data:`SNAPSHOT_ATTRIBUTES` (a projected read: usage counters
    and sessions, the bulk of an item, are left on the server)."""
    return list(Subscriber.tenant_index.query(tenant_id, attributes_to_get=list(SNAPSHOT_ATTRIBUTES)))
