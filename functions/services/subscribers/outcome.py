"""The result of a lifecycle action on one subscriber, and the steps every action shares: the
audited status change and the change applied to the open RADIUS sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core import lifecycle as lc
from services.identity.actors import Actor
from services.live_sessions import LiveChange, apply_change_now
from services.subscribers.records import RouterEffect, audit_snapshot, open_sessions
from services.tenants import audit
from shared.runtime import Runtime
from store import subscribers as store
from store.models import Subscriber


@dataclass
class Outcome:
    """The result of one action on one subscriber."""

    subscriber_id: str
    action: str
    ok: bool = True
    status: str | None = None
    system: str = ""
    router: RouterEffect | None = None
    warnings: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None


def outcome(
    action: str,
    sub: Subscriber,
    system: str,
    effect: RouterEffect | None = None,
    warnings: list[str] | None = None,
    **data: Any,
) -> Outcome:
    w = list(warnings or [])
    if effect is not None and effect.warning and effect.warning not in w:
        w.append(effect.warning)
    return Outcome(sub.id, action, True, sub.status, system, effect, w, data)


def set_status(actor: Actor, sub: Subscriber, action: str, changes: dict[str, Any]) -> dict[str, Any]:
    lc.require_transition(action, sub.status)
    before = audit_snapshot(sub)
    store.update_fields(sub, changes, expect_status=sub.status)
    audit(actor, sub.tenant_id, "subscriber", sub.id, action, before, audit_snapshot(sub))
    return before


def live_sessions(rt: Runtime, sub: Subscriber, change: LiveChange) -> tuple[dict[str, Any], list[str]]:
    """Apply a change to the subscriber's open RADIUS sessions at once (CoA or Disconnect); the data
    (``live_sessions``) and the S4 warning when a gateway does not answer. Nothing when offline."""
    if not open_sessions(sub):
        return {}, []
    report = apply_change_now(rt, sub.tenant_id, sub.username, change)
    if report is None:
        return {}, []
    return {"live_sessions": [s.as_dict() for s in report.sessions]}, [
        report.warning
    ] if report.warning else []
