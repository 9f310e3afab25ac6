"""The local stack's jobs worker: polls the jobs queue and runs the Lambda's code path
(:func:`jobs.handler.process_event`), a message at a time as the Lambda trigger delivers them.

A message whose run raised is left on the queue (it comes back after the visibility timeout, as in
the cloud); the others are deleted. The local queues live in memory, so at start the worker takes back
the jobs a stopped stack left unfinished (their leases cleared: nothing else runs them) and sends
their messages again. :func:`drain` runs every queued message now (tests, scripts).
"""

from __future__ import annotations

import threading
from typing import Any

from jobs.handler import process_event
from services.jobs import queue
from services.jobs.work import KINDS
from shared.observability import get_logger
from shared.runtime import Runtime
from store import jobs as job_store

log = get_logger("jobs")


def _event(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "eventSource": "aws:sqs",
            }
        ]
    }


def poll_once(rt: Runtime, wait_seconds: int = 0) -> int:
    """Receive one message and run it; returns how many were received (0 or 1)."""
    sqs = rt.aws.client("sqs")
    url = queue.queue_url(rt)
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=wait_seconds).get(
        "Messages"
    )
    if not messages:
        return 0
    process_event(rt, _event(messages[0]))  # raises: the message stays for its retry
    sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
    return 1


def drain(rt: Runtime, limit: int = 1000) -> int:
    """Run queued messages (the continuations they send included) until none is left; returns how
    many ran."""
    ran = 0
    while ran < limit and poll_once(rt):
        ran += 1
    return ran


def resume_unfinished(rt: Runtime) -> int:
    """Send again the messages of the jobs left pending or running (their leases cleared)."""
    jobs = job_store.unfinished_jobs(KINDS)
    for job in jobs:
        job_store.clear_lease(job)
        queue.send(rt, job.id)
    return len(jobs)


def run_worker(rt: Runtime, stop_event: threading.Event, wait_seconds: int = 1) -> None:
    """Poll until ``stop_event`` is set (the local stack's jobs thread)."""
    try:
        resumed = resume_unfinished(rt)
    except Exception:  # the tables may not exist yet on a first start: nothing to resume then
        log.exception("unfinished jobs not resumed")
        resumed = 0
    log.info("jobs worker started", extra={"resumed": resumed})
    while not stop_event.is_set():
        try:
            poll_once(rt, wait_seconds)
        except Exception:  # keep the local worker alive (logged); the message is retried
            log.exception("jobs worker iteration failed")
            stop_event.wait(1)
    log.info("jobs worker stopped")
