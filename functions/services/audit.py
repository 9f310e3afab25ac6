"""Audit log of every change: who, when, what, before/after (issue 4, item 5).

Every domain operation that changes data calls :func:`record_audit` once per changed entity.
Secret-looking keys are removed from the snapshots so the audit log never holds a password.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.paging import decode_key, encode_key
from shared.observability import get_logger
from store import audit as audit_store

if TYPE_CHECKING:
    from services.identity.actors import Actor
    from shared.runtime import Runtime

log = get_logger("audit")

_SECRET_MARKERS = ("password", "secret", "_enc", "token", "hash")


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: ("***" if any(m in str(k).lower() for m in _SECRET_MARKERS) else _scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def run_actor_kind(actor_id: str, actor_kind: str | None) -> str:
    """Who a run or re-run is recorded as: the caller's kind when a request started it (an operator or an
    API key), else the system's own schedule."""
    return actor_kind or ("system" if actor_id == "system" else "operator")


def record_audit(
    actor_id: str,
    actor_kind: str,
    tenant_id: str,
    entity_type: str,
    entity_id: str,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    request_id: str | None = None,
) -> None:
    """Append one audit entry. ``before``/``after`` are JSON-serialisable snapshots (None on create/delete);
    keys that look like secrets are masked."""
    audit_store.append_entry(
        actor_id=actor_id or "system",
        actor_kind=actor_kind or "system",
        tenant_id=tenant_id,
        entity_type=entity_type,
        entity_id=entity_id,
        action=action,
        before=_scrub(before) if before is not None else None,
        after=_scrub(after) if after is not None else None,
        request_id=request_id,
    )


def entry_dict(e: Any) -> dict[str, Any]:
    """An audit entry as the API shows it."""
    return {
        "entity_id": e.entity_id,
        "entity_type": e.entity_type,
        "tenant_id": e.tenant_id,
        "at": e.ts_id.split("#", 1)[0],
        "action": e.action,
        "actor_id": e.actor_id,
        "actor_kind": e.actor_kind,
        "before": e.before,
        "after": e.after,
        "request_id": e.request_id,
    }


def query_audit(
    rt: Runtime,
    actor: Actor,
    *,
    entity_id: str | None,
    tenant_id: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One object's history (entries of tenants outside the caller's scope are left out), or a tenant's
    log (the caller's own tenant by default), newest first, with a signed cursor. The cursor continues
    the same time window only: DynamoDB refuses a start key outside the query's key condition."""
    window = f"{since or ''}..{until or ''}"
    if entity_id:
        scope = f"audit:e:{entity_id}:{window}"
        start = decode_key(rt.signer, cursor, scope)
        items, last = audit_store.query_entity(entity_id, limit, start)
        items = [e for e in items if actor.can_see(e.tenant_id)]
        items = [
            e for e in items if (not since or e.ts_id >= since) and (not until or e.ts_id <= until + "~")
        ]
    else:
        tid = tenant_id or actor.tenant_id
        actor.require_visible(tid, "tenant")
        scope = f"audit:t:{tid}:{window}"
        start = decode_key(rt.signer, cursor, scope)
        items, last = audit_store.query_tenant(tid, limit, start, since, until)
    return [entry_dict(e) for e in items], encode_key(rt.signer, last, scope)
