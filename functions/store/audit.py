"""Audit log repository: append-only entries keyed by entity, queryable per entity and per tenant."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition

from core.ids import now_iso
from core.retention import audit_days, expiry_epoch
from store.models import AuditEntry, Tenant

_CACHE_S = 300.0
_lock = threading.Lock()
_days: dict[str, tuple[int, float]] = {}


def _retention_days(tenant_id: str) -> int:
    """The tenant's audit retention (settings cached a few minutes per process)."""
    now = time.monotonic()
    with _lock:
        cached = _days.get(tenant_id)
        if cached is not None and cached[1] > now:
            return cached[0]
    try:
        days = audit_days(Tenant.get(tenant_id).settings)
    except DoesNotExist:
        days = audit_days(None)
    with _lock:
        _days[tenant_id] = (days, now + _CACHE_S)
    return days


def append_entry(
    *,
    actor_id: str,
    actor_kind: str,
    tenant_id: str,
    entity_type: str,
    entity_id: str,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    request_id: str | None,
) -> AuditEntry:
    at = now_iso()
    epoch = expiry_epoch(at, _retention_days(tenant_id))
    entry = AuditEntry(
        entity_id=entity_id,
        ts_id=f"{at}#{secrets.token_hex(4)}",
        expires_at=datetime.fromtimestamp(epoch, UTC) if epoch is not None else None,
        tenant_id=tenant_id,
        entity_type=entity_type,
        action=action,
        actor_id=actor_id,
        actor_kind=actor_kind,
        before=before,
        after=after,
        request_id=request_id,
    )
    # The random suffix makes (entity_id, ts_id) unique; the condition turns a collision into an error.
    entry.save(condition=AuditEntry.ts_id.does_not_exist())
    return entry


def query_entity(
    entity_id: str, limit: int, start_key: dict[str, Any] | None = None, newest_first: bool = True
) -> tuple[list[AuditEntry], dict[str, Any] | None]:
    res = AuditEntry.query(
        entity_id, scan_index_forward=not newest_first, limit=limit, last_evaluated_key=start_key
    )
    items = list(res)
    return items, res.last_evaluated_key


def query_tenant(
    tenant_id: str,
    limit: int,
    start_key: dict[str, Any] | None = None,
    since: str | None = None,
    until: str | None = None,
    newest_first: bool = True,
) -> tuple[list[AuditEntry], dict[str, Any] | None]:
    cond: Condition | None = None
    if since and until:
        cond = AuditEntry.ts_id.between(since, until + "~")
    elif since:
        cond = AuditEntry.ts_id >= since
    elif until:
        cond = AuditEntry.ts_id <= until + "~"
    res = AuditEntry.tenant_index.query(
        tenant_id,
        range_key_condition=cond,
        scan_index_forward=not newest_first,
        limit=limit,
        last_evaluated_key=start_key,
    )
    items = list(res)
    return items, res.last_evaluated_key
