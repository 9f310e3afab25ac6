"""Scheduled entry point: close RADIUS sessions whose Stop never came (no accounting for 2 x interim
+ grace). The RADIUS service runs the same operation every minute; running both is harmless."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.ids import utcnow
from services.radius_sessions import reap_stale_sessions as reap
from shared.observability import get_logger
from shared.runtime import Runtime, get_runtime
from store.radius_repo import DynamoRadiusStore

log = get_logger("billing")


def reap_stale_sessions(rt: Runtime, now: datetime) -> int:
    closed = reap(DynamoRadiusStore(), now)
    if closed:
        log.info("stale RADIUS sessions closed", extra={"count": closed})
    return closed


def handle_reap_stale_sessions(event: dict[str, Any], context: Any) -> dict[str, int]:
    """EventBridge schedule (Lambda)."""
    return {"closed": reap_stale_sessions(get_runtime(), utcnow())}
