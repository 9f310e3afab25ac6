"""The jobs worker in the stack: fed one message at a time by its queue, whose messages come back only
after the function's timeout; its role reaches the job files and the jobs queue, and only the API
and the worker may send to that queue."""

from __future__ import annotations

from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

from services.jobs.queue import MAX_RECEIVE_COUNT

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def res() -> dict:
    return cfn_yaml.load(str(ROOT / "template.yaml"))["Resources"]


def _statements(res: dict, fn: str) -> list[dict]:
    return [st for p in res[fn]["Properties"]["Policies"] for st in p.get("Statement", [])]


def _actions(st: dict) -> list[str]:
    return [st["Action"]] if isinstance(st["Action"], str) else list(st["Action"])


def test_the_worker_runs_one_message_at_a_time_from_the_jobs_queue(res):
    props = res["JobsFunction"]["Properties"]
    assert props["Handler"] == "jobs.handler.handle_job_messages"
    queue = props["Events"]["Queue"]["Properties"]
    assert queue["Queue"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]} and queue["BatchSize"] == 1
    assert "VpcConfig" in props  # bulk disconnects reach the gateways
    q = res["JobsQueue"]["Properties"]
    # a message comes back only after a run holding its job can have ended (the lease is within it)
    assert q["VisibilityTimeout"] > props["Timeout"]
    assert q["RedrivePolicy"]["maxReceiveCount"] == MAX_RECEIVE_COUNT
    assert q["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]}
    assert res["JobsDeadLetterAlarm"]["Properties"]["Dimensions"][0]["Value"] == {
        "Fn::GetAtt": ["JobsDeadLetterQueue", "QueueName"]
    }


def test_the_worker_reaches_only_the_job_files_of_the_documents_bucket(res):
    s3 = [st for st in _statements(res, "JobsFunction") if any(a.startswith("s3:") for a in _actions(st))]
    assert len(s3) == 1
    assert s3[0]["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${DocumentsBucket}/jobs/*"}
    assert "s3:AbortMultipartUpload" in _actions(s3[0])
    api = [st for st in _statements(res, "ApiFunction") if any(a.startswith("s3:") for a in _actions(st))]
    assert "s3:AbortMultipartUpload" not in _actions(api[0])  # the API never writes a multipart upload


def test_only_the_api_and_the_worker_send_to_the_jobs_queue(res):
    jobs_queue = {"Fn::GetAtt": ["JobsQueue", "Arn"]}
    senders = {
        name
        for name, r in res.items()
        if r["Type"] == "AWS::Serverless::Function"
        and any(
            st["Resource"] == jobs_queue and "sqs:SendMessage" in _actions(st)
            for st in _statements(res, name)
        )
    }
    assert senders == {"ApiFunction", "JobsFunction"}
