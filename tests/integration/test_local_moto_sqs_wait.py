"""The local moto server's SQS long poll waits instead of spinning (infra/local/moto_speed.py): on a
FIFO queue whose visible messages belong to a group with one in flight, moto's poll otherwise takes
a core for its whole wait; a message sent during the wait still ends it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.local.moto_speed import wait_for_sqs_messages_without_spinning


@pytest.fixture
def sqs() -> Iterator[Any]:
    from moto.sqs.models import Queue

    stock = Queue.wait_for_messages
    wait_for_sqs_messages_without_spinning()
    try:
        with mock_aws():
            yield boto3.client("sqs", region_name="us-east-1")
    finally:
        setattr(Queue, "wait_for_messages", stock)


def _fifo(sqs: Any) -> str:
    url = sqs.create_queue(
        QueueName="tasks.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    return str(url)


def test_a_long_poll_behind_a_busy_group_waits_without_spending_cpu(sqs):
    url = _fifo(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="first", MessageGroupId="router-1")
    sqs.send_message(QueueUrl=url, MessageBody="second", MessageGroupId="router-1")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["first"]
    cpu = time.thread_time()  # moto answers in this thread (in-process)
    answer = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)
    assert "Messages" not in answer  # "second" waits behind "first", as moto answers
    assert time.thread_time() - cpu < 0.5  # moto as shipped spins: about 2 s of CPU here


def test_a_message_sent_during_the_wait_ends_it(sqs):
    url = _fifo(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="first", MessageGroupId="router-1")
    sqs.send_message(QueueUrl=url, MessageBody="second", MessageGroupId="router-1")
    sqs.receive_message(QueueUrl=url)
    sender = threading.Timer(
        0.3, lambda: sqs.send_message(QueueUrl=url, MessageBody="other router", MessageGroupId="router-2")
    )
    sender.start()
    started = time.monotonic()
    answer = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
    sender.join()
    assert [m["Body"] for m in answer["Messages"]] == ["other router"]
    assert time.monotonic() - started < 15  # woken by the message, not by the end of the wait
