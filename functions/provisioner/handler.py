"""Lambda entry points of the provisioner (thin: parse, call, map).

* :func:`handle_provision_batch`: the SQS FIFO trigger queue, with partial batch failures
  (powertools ``SqsFifoPartialProcessor``; a failed router holds back only its own message group).
* :func:`handle_sweep`: the scheduled drift repair, one router reconcile trigger per router.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response

from adapters.routeros import ClientStats
from composition import get_runtime
from services.network.batch import BatchRun
from services.network.triggers import sweep_routers
from shared.observability import get_logger, logger, metrics, tracer
from shared.runtime import Runtime

log = get_logger("provisioner")


def process_batch(
    rt: Runtime, event: dict[str, Any], context: Any = None, stats: ClientStats | None = None
) -> dict[str, Any]:
    """Process one SQS event (Lambda or the local worker); returns ``{"batchItemFailures": [...]}``."""
    from services.network.provisioning import notify_final_failure

    records = event.get("Records") or []
    run = BatchRun(rt, records, on_final_failure=notify_final_failure, stats=stats)
    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    # a batch where every record failed is reported like any other (each one retried with its backoff)
    processor.raise_on_entire_batch_failure = False
    response: dict[str, Any] = dict(
        process_partial_response(event=event, record_handler=run.handle, processor=processor, context=context)
    )
    failures: list[dict[str, str]] = list(response.get("batchItemFailures") or [])
    run.apply_backoff({f["itemIdentifier"] for f in failures})
    return response


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handle_provision_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_batch(get_runtime(), event, context)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handle_sweep(event: dict[str, Any], context: Any) -> dict[str, Any]:
    requests = sweep_routers(get_runtime())
    queued = sum(1 for r in requests if r.status == "queued")
    log.info("router sweep queued", extra={"routers": queued})
    return {"queued": queued}
