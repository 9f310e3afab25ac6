"""Scheduled entry point: close RADIUS sessions whose Stop never came (no accounting for 2 x interim
+ grace). The RADIUS service runs the same operation every minute; running both is harmless."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from composition import get_runtime
from core.ids import utcnow
from services.radius_sessions import reap_stale_sessions as reap
from shared.observability import get_logger, logger, metrics, tracer
from shared.runtime import Runtime
from store.radius_repo import DynamoRadiusStore

log = get_logger("billing")
# one store per runtime, kept while the function instance is warm: it remembers the sessions it has
# read, so a run reads again only those that may have gone stale since (DynamoRadiusStore._stale_in_hour)
_store: list[tuple[Runtime, DynamoRadiusStore]] = []


def reap_stale_sessions(rt: Runtime, now: datetime) -> int:
    if not _store or _store[0][0] is not rt:
        _store[:] = [(rt, DynamoRadiusStore())]
    closed = reap(_store[0][1], now)
    if closed:
        log.info("stale RADIUS sessions closed", extra={"count": closed})
    return closed


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handle_reap_stale_sessions(event: dict[str, Any], context: Any) -> dict[str, int]:
    """EventBridge schedule (Lambda)."""
    closed = reap_stale_sessions(get_runtime(), utcnow())
    metrics.add_metric(name="StaleSessionsClosed", unit=MetricUnit.Count, value=closed)
    return {"closed": closed}
