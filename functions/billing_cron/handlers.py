"""Scheduled billing entry points (EventBridge → Lambda). Thin: read the event, call one operation.

Each run is safe to repeat (a retry, a duplicate schedule delivery or an operator's re-run creates
nothing twice). The event may carry ``tenant_ids`` (only those tenants) and ``date`` (``YYYY-MM-DD``:
run as of that day in every time zone, to replay a day the schedule missed); a plain scheduled event
runs for every tenant as of now (each zone at its own date).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from composition import get_runtime
from core.billing_calendar import parse_date
from services.billing.cutoffs import run_cutoffs, run_promise_expiry
from services.billing.invoice_run import run_invoices
from services.billing.notices import run_notices
from shared.observability import logger, metrics, tracer


def _as_of(event: dict[str, Any]) -> date | None:
    day = (event or {}).get("date")
    return parse_date(day, "date") if day else None


def _tenants(event: dict[str, Any]) -> list[str] | None:
    ids = (event or {}).get("tenant_ids")
    return [str(t) for t in ids] if isinstance(ids, list) and ids else None


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handle_invoice_run(event: dict[str, Any], context: Any) -> dict[str, Any]:
    results = run_invoices(get_runtime(), _as_of(event), _tenants(event))
    created = sum(r.created for r in results)
    metrics.add_metric(name="InvoicesCreated", unit=MetricUnit.Count, value=created)
    return {"tenants": len(results), "created": created, "existing": sum(r.existing for r in results)}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handle_notice_run(event: dict[str, Any], context: Any) -> dict[str, Any]:
    results = run_notices(get_runtime(), _as_of(event), _tenants(event))
    sent = sum(r.emails + r.sms for r in results)
    metrics.add_metric(name="PaymentRemindersSent", unit=MetricUnit.Count, value=sent)
    return {"tenants": len(results), "sent": sent, "errors": sum(r.errors for r in results)}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handle_cutoff_run(event: dict[str, Any], context: Any) -> dict[str, Any]:
    results = run_cutoffs(get_runtime(), _as_of(event), _tenants(event))
    suspended = sum(len(r.suspended) for r in results)
    metrics.add_metric(name="ClientsCutOff", unit=MetricUnit.Count, value=suspended)
    return {"tenants": len(results), "suspended": suspended, "routers": sum(len(r.routers) for r in results)}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handle_promise_expiry(event: dict[str, Any], context: Any) -> dict[str, Any]:
    results = run_promise_expiry(get_runtime(), _as_of(event), _tenants(event))
    suspended = sum(len(r.suspended) for r in results)
    metrics.add_metric(name="ClientsCutOffAfterPromise", unit=MetricUnit.Count, value=suspended)
    return {"tenants": len(results), "suspended": suspended}
