"""Operator jobs (imports, exports, bulk actions): the Job row with its progress counters, and the
files a job works on (the uploaded spreadsheet, the full per-row report, an export) kept in the
documents bucket under ``jobs/<tenant>/<job>/``.

Progress is written with atomic ADD updates so a client polling the job sees the counts move while
the work runs, and a report too large for one DynamoDB item (400 KB) lives in S3 next to it.

Jobs run by the jobs worker are held by one invocation at a time: :func:`take_lease` claims the job
until a time (an invocation that dies loses it when that time passes), and every later write of that
invocation (:func:`save_checkpoint`, :func:`release`, :func:`finish_leased`) is conditional on its
lease token, so a duplicate message or a late invocation cannot write over the one holding the job.
Large files are written as S3 multipart uploads (:func:`start_upload` …), never whole in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from core.errors import ConflictError, NotFoundError
from core.ids import new_id, now_iso
from core.paging import Position, newest_first_across
from store.models import Job

_FILE_PREFIX = "jobs"


class LeaseLostError(ConflictError):
    """The run's lease ran out and another run holds the job now: this run stops writing."""


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


def iter_tenant_jobs(
    tenant_id: str, kinds: Sequence[str], until: str | None, page_size: int
) -> Iterator[Job]:
    """A tenant's jobs of these kinds newest first, from ``until`` (included) back: read a page of
    ``page_size`` at a time as the caller goes (the kinds are a filter of the tenant index)."""
    return iter(
        Job.tenant_index.query(
            tenant_id,
            Job.created_at <= until if until else None,
            filter_condition=Job.kind.is_in(*kinds),
            scan_index_forward=False,
            page_size=page_size,
        )
    )


def job_position(job: Job) -> Position:
    return job.created_at, job.id


def jobs_page(
    tenant_ids: Iterable[str], kinds: Sequence[str], limit: int, position: Position | None
) -> tuple[list[Job], dict[str, Any] | None]:
    """A page of the tenants' jobs of these kinds after ``position``, newest first across the tenants
    (those of one instant by id), and the page key of the next page (None on the last page)."""
    until = position[0] if position else None
    streams = (iter_tenant_jobs(tid, kinds, until, limit + 1) for tid in sorted(tenant_ids))
    return newest_first_across(streams, limit, position, job_position)


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


# ---------------------------------------------------------------- leases (jobs worker)
def _conditional_failure(exc: UpdateError) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def take_lease(job: Job, token: str, now: float, until: float) -> bool:
    """Hold a pending or running job until ``until`` (epoch seconds) unless another run holds it now.
    False when the job is finished or held (the caller leaves it alone)."""
    free = Job.lease_until.does_not_exist() | (Job.lease_until < now)
    try:
        job.update(
            actions=[
                Job.status.set("running"),
                Job.lease_token.set(token),
                Job.lease_until.set(until),
                Job.updated_at.set(now_iso()),
            ],
            condition=Job.id.exists() & Job.status.is_in("pending", "running") & free,
        )
    except UpdateError as exc:
        if _conditional_failure(exc):
            return False
        raise
    return True


def _held(job: Job, token: str, actions: list[Action]) -> None:
    try:
        job.update(actions=[*actions, Job.updated_at.set(now_iso())], condition=Job.lease_token == token)
    except UpdateError as exc:
        if _conditional_failure(exc):
            raise LeaseLostError("the job is held by another run", field="job_id") from exc
        raise


def save_checkpoint(
    job: Job,
    token: str,
    checkpoint: dict[str, Any],
    *,
    done: int = 0,
    failed: int = 0,
    total: int | None = None,
) -> None:
    """Where the work continues and the progress made since the last checkpoint, in one write."""
    actions: list[Action] = [Job.checkpoint.set(checkpoint)]
    if done:
        actions.append(Job.done.add(done))
    if failed:
        actions.append(Job.failed.add(failed))
    if total is not None:
        actions.append(Job.total.set(total))
    _held(job, token, actions)


def release(job: Job, token: str) -> None:
    """Let the next run take the job (its message is on the queue)."""
    _held(job, token, [Job.lease_token.remove(), Job.lease_until.remove()])


def finish_leased(
    job: Job, token: str, status: str, result: dict[str, Any], total: int | None = None
) -> None:
    """The job's end (done or failed): its result, and no lease or checkpoint left."""
    actions: list[Action] = [
        Job.status.set(status),
        Job.result.set(result),
        Job.lease_token.remove(),
        Job.lease_until.remove(),
        Job.checkpoint.remove(),
    ]
    if total is not None:
        actions.append(Job.total.set(total))
    _held(job, token, actions)


def clear_lease(job: Job) -> None:
    """Free a job whatever run holds it (the local worker at start: no other run exists)."""
    job.update(actions=[Job.lease_token.remove(), Job.lease_until.remove()])


def unfinished_jobs(kinds: tuple[str, ...]) -> list[Job]:
    """Pending and running jobs of these kinds (the local worker sends their messages again after a
    restart of the local queue; never used by a request)."""
    cond = Job.status.is_in("pending", "running") & Job.kind.is_in(*kinds)
    return list(Job.scan(cond))


# ---------------------------------------------------------------- files of a job (S3)
def _key(job: Job, name: str) -> str:
    return f"{_FILE_PREFIX}/{job.tenant_id}/{job.id}/{name}"


def file_key(job: Job, name: str) -> str:
    return _key(job, name)


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


def file_size(s3: Any, bucket: str, job: Job, name: str) -> int | None:
    """The size of a job file, None when there is none."""
    try:
        return int(s3.head_object(Bucket=bucket, Key=_key(job, name))["ContentLength"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def delete_files(s3: Any, bucket: str, job: Job, names: list[str]) -> None:
    for start in range(0, len(names), 1000):
        chunk = names[start : start + 1000]
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": _key(job, n)} for n in chunk], "Quiet": True}
        )


def start_upload(s3: Any, bucket: str, job: Job, name: str, content_type: str) -> str:
    """A multipart upload of a job file; returns its upload id."""
    resp = s3.create_multipart_upload(
        Bucket=bucket, Key=_key(job, name), ContentType=content_type, ServerSideEncryption="AES256"
    )
    return str(resp["UploadId"])


def upload_part(s3: Any, bucket: str, job: Job, name: str, upload_id: str, number: int, data: bytes) -> str:
    """One part (at least 5 MiB except the last); returns its ETag. Sending a part number again
    replaces that part."""
    resp = s3.upload_part(
        Bucket=bucket, Key=_key(job, name), UploadId=upload_id, PartNumber=number, Body=data
    )
    return str(resp["ETag"])


def complete_upload(
    s3: Any, bucket: str, job: Job, name: str, upload_id: str, parts: list[tuple[int, str]]
) -> str:
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=_key(job, name),
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
    )
    return _key(job, name)


def abort_upload(s3: Any, bucket: str, job: Job, name: str, upload_id: str) -> None:
    s3.abort_multipart_upload(Bucket=bucket, Key=_key(job, name), UploadId=upload_id)


def download_url(s3: Any, bucket: str, job: Job, name: str, filename: str, expires_s: int) -> str:
    """A presigned GET of a job file, valid ``expires_s`` seconds, saved under ``filename``."""
    return str(
        s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": bucket,
                "Key": _key(job, name),
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=expires_s,
        )
    )
