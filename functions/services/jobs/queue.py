"""The jobs queue: one message per job to continue (``{"v": 1, "job_id": …}``).

In the cloud the stack creates the queue and its dead-letter queue (``settings.jobs_queue_url``); the
local stack and the tests create them on first use. A message is only a nudge: the job row holds
where the work is, so a duplicate or late message does nothing wrong (``runner``).
"""

from __future__ import annotations

import json
import threading
import weakref
from typing import Any

from shared.runtime import Runtime

MAX_RECEIVE_COUNT = 5  # deliveries of one message before SQS moves it to the dead-letter queue
# Seconds a received message stays hidden: longer than a run may hold its job (runner.LEASE_MARGIN_S),
# so a run that died is retried only once its lease has run out
VISIBILITY_MARGIN_S = 180

_urls: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _create(rt: Runtime) -> str:
    sqs = rt.aws.client("sqs")
    s = rt.settings
    dlq_url = sqs.create_queue(QueueName=s.jobs_dlq_name, Attributes={"MessageRetentionPeriod": "1209600"})[
        "QueueUrl"
    ]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)})
    visibility = str(s.job_time_budget_s + VISIBILITY_MARGIN_S)
    return str(
        sqs.create_queue(
            QueueName=s.jobs_queue_name,
            Attributes={"VisibilityTimeout": visibility, "RedrivePolicy": redrive},
        )["QueueUrl"]
    )


def queue_url(rt: Runtime) -> str:
    """The jobs queue: from the settings in the cloud, created on first use locally."""
    if rt.settings.jobs_queue_url:
        return rt.settings.jobs_queue_url
    with _lock:
        found = _urls.get(rt.aws)
        if found is None:
            found = _urls[rt.aws] = _create(rt)
        return found


def send(rt: Runtime, job_id: str) -> None:
    rt.aws.client("sqs").send_message(
        QueueUrl=queue_url(rt), MessageBody=json.dumps({"v": 1, "job_id": job_id}, separators=(",", ":"))
    )


def job_id_of(body: str) -> str | None:
    """The job a message names (None for a message that is not a job message)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    job_id = data.get("job_id") if isinstance(data, dict) else None
    return job_id if isinstance(job_id, str) and 0 < len(job_id) <= 128 else None
