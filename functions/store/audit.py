"""Audit log repository: append-only entries keyed by entity, queryable per entity and per tenant."""

from __future__ import annotations

import secrets
from typing import Any

from pynamodb.expressions.condition import Condition

from core.ids import now_iso
from store.models import AuditEntry


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
    entry = AuditEntry(
        entity_id=entity_id,
        ts_id=f"{now_iso()}#{secrets.token_hex(4)}",
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
