"""Operator jobs (imports, bulk actions): the Job row with its progress counters, and the files a job
works on (the uploaded spreadsheet, the full per-row report) kept in the documents bucket.

Progress is written with atomic ADD updates so a client polling the job sees the counts move while
the work runs, and a report too large for one DynamoDB item (400 KB) lives in S3 next to it.
"""

from __future__ import annotations

import json
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from core.errors import ConflictError, NotFoundError
from core.ids import new_id, now_iso
from store.models import Job

_FILE_PREFIX = "jobs"


def create_job(
    tenant_id: str,
    kind: str,
    *,
    total: int = 0,
    status: str = "pending",
    created_by: str | None = None,
    result: dict[str, Any] | None = None,
) -> Job:
    now = now_iso()
    job = Job(
        id=new_id("job"),
        tenant_id=tenant_id,
        kind=kind,
        status=status,
        total=total,
        done=0,
        failed=0,
        result=result or {},
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    job.save(condition=Job.id.does_not_exist())
    return job


def get_job(job_id: str) -> Job | None:
    try:
        return Job.get(job_id)
    except DoesNotExist:
        return None


def list_jobs(tenant_id: str, kind: str | None = None, limit: int = 50) -> list[Job]:
    """Newest first."""
    cond = (Job.kind == kind) if kind else None
    return list(
        Job.tenant_index.query(tenant_id, scan_index_forward=False, limit=limit, filter_condition=cond)
    )


def claim(job: Job, from_status: str, to_status: str, changes: dict[str, Any] | None = None) -> Job:
    """Move a job from one status to the next only if nobody else did (a job is committed once)."""
    actions: list[Action] = [Job.status.set(to_status), Job.updated_at.set(now_iso())]
    for name, value in (changes or {}).items():
        actions.append(getattr(Job, name).set(value))
    try:
        job.update(actions=actions, condition=Job.id.exists() & (Job.status == from_status))
    except UpdateError as exc:
        raise ConflictError(f"the job is no longer {from_status}", field="status") from exc
    return job


def add_progress(job: Job, done: int = 0, failed: int = 0) -> None:
    """Atomically add to the counters (visible at once to pollers)."""
    actions: list[Action] = [Job.updated_at.set(now_iso())]
    if done:
        actions.append(Job.done.add(done))
    if failed:
        actions.append(Job.failed.add(failed))
    job.update(actions=actions)


def finish(job: Job, status: str, result: dict[str, Any]) -> Job:
    job.update(actions=[Job.status.set(status), Job.result.set(result), Job.updated_at.set(now_iso())])
    return job


# ---------------------------------------------------------------- files of a job (S3)
def _key(job: Job, name: str) -> str:
    return f"{_FILE_PREFIX}/{job.tenant_id}/{job.id}/{name}"


def put_file(s3: Any, bucket: str, job: Job, name: str, data: bytes, content_type: str) -> str:
    key = _key(job, name)
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type, ServerSideEncryption="AES256")
    return key


def get_file(s3: Any, bucket: str, job: Job, name: str) -> bytes:
    try:
        obj = s3.get_object(Bucket=bucket, Key=_key(job, name))
    except s3.exceptions.NoSuchKey as exc:
        raise NotFoundError(f"the job has no {name}") from exc
    return bytes(obj["Body"].read())


def put_json(s3: Any, bucket: str, job: Job, name: str, value: Any) -> str:
    return put_file(s3, bucket, job, name, json.dumps(value, default=str).encode(), "application/json")


def get_json(s3: Any, bucket: str, job: Job, name: str) -> Any:
    return json.loads(get_file(s3, bucket, job, name))
