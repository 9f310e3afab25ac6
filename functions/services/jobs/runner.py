"""The jobs worker's operation: continue the job a queue message names, for up to a time budget.

A run takes the job's lease (one run at a time; a duplicate or late message finds it held, or the job
finished, and does nothing), acts again as the caller who started it (as that operator or API key is
now: gone, disabled or without the role any more fails the job), and works a page at a time from the
job's checkpoint. When its time is up it lets the lease go and sends the job's message again; the
next run continues where it stopped. A run that dies without a word keeps the lease until it runs out
(at most the budget plus :data:`LEASE_MARGIN_S`, within the Lambda's timeout) and its message comes
back after the queue's visibility timeout, when the lease is free: the work continues from the last
checkpoint (a bulk action may run again on the subscribers of that one page).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from core.errors import DomainError, ForbiddenError
from core.ids import epoch_seconds, new_id
from services.identity.actors import Principal
from services.identity.authentication import principal_again
from services.jobs import bulk, export, queue
from services.jobs.upload import PagedUpload
from services.jobs.work import KIND_BULK, KIND_EXPORT, Run, log
from shared.runtime import Runtime
from store import jobs as job_store
from store.models import Job

# A page may run this long past the budget (an export page, a page of bulk disconnects waiting for
# gateways); the Lambda handler keeps it free of its timeout, so the lease ends before the function
LEASE_MARGIN_S = 120

STEPS: dict[str, Callable[[Run], dict[str, Any] | None]] = {KIND_EXPORT: export.step, KIND_BULK: bulk.step}
FILES = {
    KIND_EXPORT: (export.FILE, export.CONTENT_TYPE, export.HEAD),
    KIND_BULK: (bulk.FILE, bulk.CONTENT_TYPE, bulk.HEAD),
}


def run_message(rt: Runtime, body: str, budget_s: float) -> str:
    """Continue the job of one message; what happened: ``done``, ``continued``, ``failed``, ``held``
    (another run has it), ``lost`` (the lease ran out meanwhile) or ``ignored`` (no such job, finished,
    not a worker job)."""
    job_id = queue.job_id_of(body)
    job = job_store.get_job(job_id) if job_id else None
    if job is None or job.kind not in STEPS or job.status not in ("pending", "running"):
        return "ignored"
    token = new_id("lease")
    now = epoch_seconds()
    if not job_store.take_lease(job, token, now, now + max(budget_s, 0) + LEASE_MARGIN_S):
        return "held"
    deadline = time.monotonic() + max(budget_s, 0)
    try:
        return _hand_over(rt, job, token, STEPS[job.kind](Run(rt, job, token, deadline, _caller(job))))
    except job_store.LeaseLostError:
        log.warning("job lease lost", extra={"job_id": job.id})
        return "lost"
    except DomainError as exc:
        _fail(rt, job, token, exc.message)
        return "failed"
    except Exception:
        log.exception("job run failed", extra={"job_id": job.id})
        _let_go(job, token)
        raise  # the message comes back after the visibility timeout (then the dead-letter queue)


def _hand_over(rt: Runtime, job: Job, token: str, result: dict[str, Any] | None) -> str:
    """The job done (its result), or its time up: the lease let go and the message sent again."""
    if result is None:
        job_store.release(job, token)
        queue.send(rt, job.id)
        return "continued"
    done = {**_kept(job), **result, "total_known": True}
    job_store.finish_leased(job, token, "done", done, total=int(result.get("rows", 0)))
    return "done"


def _caller(job: Job) -> Principal:
    who = dict((job.result or {}).get("actor") or {})
    principal = principal_again(str(who.get("kind") or ""), str(who.get("id") or ""))
    principal.request_id = who.get("request_id")
    principal.require_role(str(who.get("min_role") or "system_admin"))
    if not principal.can_see(job.tenant_id):
        raise ForbiddenError("the operator who started this job no longer belongs to its tenant")
    return principal


def _kept(job: Job) -> dict[str, Any]:
    result = dict(job.result or {})
    return {k: result[k] for k in ("params", "actor", "total_known") if k in result}


def _fail(rt: Runtime, job: Job, token: str, message: str) -> None:
    name, content_type, head = FILES[job.kind]
    PagedUpload.resume(rt, job, name, content_type, head, (job.checkpoint or {}).get("upload")).abandon()
    try:
        job_store.finish_leased(job, token, "failed", {**_kept(job), "error": message})
    except job_store.LeaseLostError:
        log.warning("job lease lost", extra={"job_id": job.id})


def _let_go(job: Job, token: str) -> None:
    try:
        job_store.release(job, token)
    except Exception:  # the lease runs out by itself
        log.exception("job lease not released", extra={"job_id": job.id})
