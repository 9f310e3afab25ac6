"""Audit log of every change: who, when, what, before/after (issue 4, item 5).

Every domain operation that changes data calls :func:`record_audit` once per changed entity.
Secret-looking keys are removed from the snapshots so the audit log never holds a password.
"""

from __future__ import annotations

from typing import Any

from shared.observability import get_logger
from store import audit as audit_store

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
