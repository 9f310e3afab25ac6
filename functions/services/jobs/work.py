"""What every worker job shares: starting one (the row, the audit entry, the message) and the run that
holds a job (its lease token, its time budget, the caller it acts for, its checkpoints)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from core.errors import UnavailableError
from services.identity.actors import Actor, Principal
from services.jobs import queue
from services.tenants import audit
from shared.aws import AWS_ERRORS
from shared.observability import get_logger
from shared.runtime import Runtime
from store import jobs as job_store
from store.models import Job

log = get_logger("jobs")

KIND_EXPORT = "subscriber_export"
KIND_BULK = "subscriber_bulk"
KINDS = (KIND_EXPORT, KIND_BULK)


def start_job(
    rt: Runtime,
    actor: Actor,
    kind: str,
    params: dict[str, Any],
    total: int | None,
    min_role: str,
    files: dict[str, Any] | None = None,
) -> Job:
    """A pending job of the caller's tenant, audited, with its input ``files`` (JSON) in S3 and its
    message on the jobs queue. The job runs as the caller (``min_role``: the role it needs, checked
    again by every run)."""
    job = job_store.create_job(
        actor.tenant_id,
        kind,
        total=total or 0,
        status="pending",
        created_by=actor.actor_id,
        result={
            "params": params,
            "total_known": total is not None,
            "actor": {
                "kind": actor.actor_kind,
                "id": actor.actor_id,
                "min_role": min_role,
                "request_id": actor.request_id,
            },
        },
    )
    for name, value in (files or {}).items():
        job_store.put_json(rt.aws.client("s3"), rt.settings.documents_bucket, job, name, value)
    audit(actor, actor.tenant_id, "job", job.id, "start", None, {"kind": kind, **params})
    try:
        queue.send(rt, job.id)
    except AWS_ERRORS as exc:
        log.exception("job message not sent", extra={"job_id": job.id})
        job_store.finish(job, "failed", {**(job.result or {}), "error": "the job could not be queued"})
        raise UnavailableError("the job could not be queued: try again") from exc
    return job


@dataclass
class Run:
    """One run (an invocation of the worker) holding a job until its lease runs out."""

    rt: Runtime
    job: Job
    token: str
    deadline: float  # time.monotonic() after which the run hands over
    actor: Principal
    pages: int = 0

    @property
    def params(self) -> dict[str, Any]:
        return dict((self.job.result or {}).get("params") or {})

    @property
    def checkpoint(self) -> dict[str, Any]:
        return dict(self.job.checkpoint or {})

    def more_time(self) -> bool:
        return time.monotonic() < self.deadline

    def save(
        self, checkpoint: dict[str, Any], *, done: int = 0, failed: int = 0, total: int | None = None
    ) -> None:
        """The page's progress and where the next page starts, in one write (conditional on the lease)."""
        job_store.save_checkpoint(self.job, self.token, checkpoint, done=done, failed=failed, total=total)
        self.job.checkpoint = checkpoint
        self.pages += 1
