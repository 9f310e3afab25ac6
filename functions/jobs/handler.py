"""Lambda entry point of the jobs worker (thin: parse, call, answer).

The jobs queue triggers it one message at a time; each message continues one job (an export, a bulk
action) for up to ``settings.job_time_budget_s`` seconds, kept clear of the function's own timeout.
An error fails the invocation: the message comes back after the queue's visibility timeout (and goes
to the dead-letter queue after five deliveries).
"""

from __future__ import annotations

from typing import Any

from composition import get_runtime
from services.jobs.runner import LEASE_MARGIN_S, run_message
from shared.observability import logger, metrics, tracer
from shared.runtime import Runtime


def budget_s(rt: Runtime, context: Any = None) -> float:
    """Seconds a run may work: the setting, and in Lambda no more than leaves the margin before the timeout."""
    budget = float(rt.settings.job_time_budget_s)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        budget = min(budget, remaining() / 1000 - LEASE_MARGIN_S)
    return max(budget, 0.0)


def process_event(rt: Runtime, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """One SQS event (the Lambda trigger or the local worker): each message's job continued in turn."""
    outcomes = [
        run_message(rt, str(r.get("body") or ""), budget_s(rt, context)) for r in event.get("Records") or []
    ]
    return {"jobs": outcomes}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handle_job_messages(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_event(get_runtime(), event, context)
