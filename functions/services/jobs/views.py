"""Jobs as the API shows them: any job of the caller's subtree (imports too), and for a finished export
or bulk action a short-lived link to its file."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.errors import NotFoundError
from core.ids import iso, utcnow
from core.paging import Signer, decode_key, encode_key, position_of
from services.identity.actors import Actor
from services.imports import KIND_CREATE, KIND_UPDATE
from services.jobs import bulk, export
from services.jobs.work import KIND_BULK, KIND_EXPORT, KINDS
from services.tenants import tenant_filter
from shared.runtime import Runtime
from store import jobs as job_store
from store.models import Job

LINK_TTL_S = 900  # a download link works this long (ask the job again for a new one)
FILES = {KIND_EXPORT: export.FILE, KIND_BULK: bulk.FILE}
_OUTCOME = ("rows", "succeeded", "failed", "size", "filename", "error")
LISTED = (*KINDS, KIND_CREATE, KIND_UPDATE)  # the jobs of the list (billing runs have their own log)
JOB_LIST = "admin:jobs"  # the signed cursor's scope: a position in time in the job list


def get_job(actor: Actor, job_id: str) -> Job:
    """A job of the caller's subtree (404 otherwise)."""
    job = job_store.get_job(job_id) if 0 < len(job_id) <= 128 else None
    if job is None or not actor.can_see(job.tenant_id):
        raise NotFoundError("job not found", field="job_id")
    return job


def list_jobs(
    signer: Signer,
    actor: Actor,
    tenant_id: str | None,
    kind: str | None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Job], str | None]:
    """The jobs of the caller's subtree (or one tenant), newest first across the tenants (those of one
    instant by id): a page of ``limit`` and the next cursor."""
    position = position_of(decode_key(signer, cursor, JOB_LIST))
    kinds = (kind,) if kind else LISTED
    jobs, last = job_store.jobs_page(tenant_filter(actor, tenant_id), kinds, limit, position)
    return jobs, encode_key(signer, last, JOB_LIST)


def job_view(rt: Runtime, job: Job) -> dict[str, Any]:
    result = dict(job.result or {})
    worker = job.kind in KINDS
    known = not worker or bool(result.get("total_known")) or job.status == "done"
    view: dict[str, Any] = {
        "id": job.id,
        "tenant_id": job.tenant_id,
        "kind": job.kind,
        "status": job.status,
        "total": int(job.total or 0) if known else None,
        "done": int(job.done or 0),
        "failed": int(job.failed or 0),
        "rows": result.get("rows") if worker else None,
        "params": result.get("params") if worker else None,
        "result": {k: result[k] for k in _OUTCOME if k in result} if worker else result,
        "created_by": job.created_by,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "download_url": None,
        "download_expires_at": None,
    }
    if worker and job.status == "done" and result.get("file"):
        s3, bucket = rt.aws.client("s3"), rt.settings.documents_bucket
        name = str(result.get("filename") or FILES[job.kind])
        view["download_url"] = job_store.download_url(s3, bucket, job, str(result["file"]), name, LINK_TTL_S)
        view["download_expires_at"] = iso(utcnow() + timedelta(seconds=LINK_TTL_S))
    return view
