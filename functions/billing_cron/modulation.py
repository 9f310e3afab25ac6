"""Scheduled rate-modulation run (SPEC S6), every quarter-hour: the operation is
:func:`services.modulation_run.run_modulation_now`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from composition import get_runtime
from services.modulation_run import run_modulation_now
from shared.observability import get_logger, logger, metrics, tracer

log = get_logger("modulation")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handle_modulation_run(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge quarter-hourly schedule → rate-modulation run."""
    report = run_modulation_now(get_runtime())
    metrics.add_metric(name="ModulationCoA", unit=MetricUnit.Count, value=report.changed_by_coa)
    metrics.add_metric(name="ModulationDisconnects", unit=MetricUnit.Count, value=report.disconnected)
    log.info(
        "modulation run",
        extra={
            "checked": report.checked,
            "coa": report.changed_by_coa,
            "disconnected": report.disconnected,
            "unreachable": report.unreachable,
        },
    )
    return {
        "checked": report.checked,
        "coa": report.changed_by_coa,
        "disconnected": report.disconnected,
        "unreachable": report.unreachable,
    }
