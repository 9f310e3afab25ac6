"""Scheduled run: mark customers Inactive after the tenant's grace period (the operation is
:func:`services.subscribers.inactivity.mark_inactive`)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from composition import get_runtime
from core.ids import utcnow
from services.subscribers.inactivity import mark_inactive
from shared.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handle_inactivity_run(event: dict[str, Any], context: Any) -> dict[str, int]:
    """EventBridge daily schedule."""
    changed = mark_inactive(get_runtime(), utcnow())
    metrics.add_metric(name="CustomersMarkedInactive", unit=MetricUnit.Count, value=changed)
    return {"inactive": changed}
