"""The local stack's provisioner: polls the trigger queue and runs the Lambda's code path.

Messages are received the way the Lambda event source does it (up to 10, with their attributes),
shaped as a Lambda SQS event and given to :func:`provisioner.handler.process_batch`; successful
records are deleted, failed ones stay for their retry (the handler sets their backoff).
"""

from __future__ import annotations

import threading
from typing import Any

from adapters.routeros import ClientStats
from provisioner.handler import process_batch
from services.network import triggers
from shared.observability import get_logger
from shared.runtime import Runtime

log = get_logger("provisioner")


def _lambda_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


_arns: dict[str, str] = {}


def _queue_arn(rt: Runtime, queue_url: str) -> str:
    if queue_url not in _arns:
        attrs = rt.aws.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        _arns[queue_url] = attrs["Attributes"]["QueueArn"]
    return _arns[queue_url]


def poll_once(rt: Runtime, wait_seconds: int = 0, stats: ClientStats | None = None) -> int:
    """Receive one batch and process it; returns how many messages were received."""
    sqs = rt.aws.client("sqs")
    queue_url = triggers.queue_url(rt)
    resp = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=wait_seconds,
        AttributeNames=["All"],
        MessageSystemAttributeNames=["All"],
    )
    messages = resp.get("Messages") or []
    if not messages:
        return 0
    result = process_batch(
        rt, _lambda_event(messages, _queue_arn(rt, queue_url), rt.settings.region), stats=stats
    )
    failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
    done = [m for m in messages if m["MessageId"] not in failed]
    for start in range(0, len(done), 10):
        chunk = done[start : start + 10]
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
        )
    return len(messages)


def run_worker(rt: Runtime, stop_event: threading.Event, wait_seconds: int = 1) -> None:
    """Poll until ``stop_event`` is set (the local stack's provisioner thread)."""
    log.info("provisioner worker started")
    while not stop_event.is_set():
        try:
            poll_once(rt, wait_seconds)
        except Exception:  # keep the local worker alive across transient errors (logged)
            log.exception("provisioner worker iteration failed")
            stop_event.wait(1)
    log.info("provisioner worker stopped")
