"""The billing run log: every scheduled or operator run leaves one job (and one audit entry); the
log shows each router task's current outcome."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any, TypeVar

from core.errors import NotFoundError, ValidationError
from core.ids import new_id, now_iso, utcnow
from core.paging import Signer, decode_key, encode_key, position_of
from services.audit import record_audit, run_actor_kind
from services.billing.context import RUN_KINDS, AsOf, latest_today
from shared.observability import get_logger
from shared.runtime import Runtime
from store import billing as repo
from store import jobs as job_store
from store.models import Job

log = get_logger("billing")

R = TypeVar("R")


def each_tenant(
    what: str,
    run: Callable[[Runtime, str, AsOf | None], R],
    rt: Runtime,
    now: AsOf | None,
    tenant_ids: Iterable[str] | None,
) -> list[R]:
    """Run a per-tenant operation over every tenant (or the given ones): one tenant's failure does not
    stop the others; it is logged with its id."""
    out = []
    for tid in tenant_ids or repo.all_tenant_ids():
        try:
            out.append(run(rt, tid, now))
        except Exception:
            log.exception(f"{what} run failed for a tenant", extra={"tenant_id": tid})
    return out


def log_run(
    tenant_id: str,
    kind: str,
    actor: str,
    result: dict[str, Any],
    total: int = 0,
    done: int = 0,
    failed: int = 0,
    actor_kind: str | None = None,
) -> Job:
    now = now_iso()
    job = Job(
        id=new_id("run"),
        tenant_id=tenant_id,
        kind=kind,
        status="done",
        total=total,
        done=done,
        failed=failed,
        result=result,
        created_by=actor,
        created_at=now,
    )
    repo.save_job(job)
    # one audit entry per run (not per invoice: the run log holds the detail)
    summary = {k: v for k, v in result.items() if isinstance(v, int | str | None)}
    record_audit(
        actor,
        run_actor_kind(actor, actor_kind),
        tenant_id,
        "billing_run",
        job.id,
        kind,
        None,
        summary,
    )
    return job


RUN_LIST = "admin:billing-runs"  # the signed cursor's scope: a position in time in the run log


def list_runs(
    signer: Signer,
    tenant_ids: Iterable[str],
    kind: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """The billing run log newest first across the tenants (runs of one instant by id), with each
    router task's current outcome: a page of ``limit`` and the next cursor."""
    position = position_of(decode_key(signer, cursor, RUN_LIST))
    jobs, last = job_store.jobs_page(tenant_ids, (kind,) if kind else RUN_KINDS, limit, position)
    task_ids = [
        r.get("task_id") for j in jobs for r in (j.result or {}).get("routers", []) if r.get("task_id")
    ]
    tasks = repo.get_tasks(task_ids)
    return [_run_dict(j, tasks) for j in jobs], encode_key(signer, last, RUN_LIST)


def _run_dict(job: Job, tasks: dict[str, Any]) -> dict[str, Any]:
    result = dict(job.result or {})
    routers = []
    for r in result.get("routers", []):
        entry = dict(r)
        task = tasks.get(r.get("task_id") or "")
        if task is not None:
            entry["task_status"] = task.status
            entry["error_category"] = task.error_category
            entry["last_error"] = task.last_error
            entry["outcome"] = _outcome(task.status, task.error_category)
        else:
            entry["outcome"] = {
                "api_disabled": "router not changed (API disabled)",
                "no_gateway": "no router",
            }.get(r.get("status") or "", "not queued")
        routers.append(entry)
    if routers:
        result["routers"] = routers
    return {
        "id": job.id,
        "tenant_id": job.tenant_id,
        "kind": job.kind,
        "status": job.status,
        "total": int(job.total or 0),
        "done": int(job.done or 0),
        "failed": int(job.failed or 0),
        "created_by": job.created_by,
        "created_at": job.created_at,
        "result": result,
    }


def _outcome(status: str, category: str | None) -> str:
    if status == "succeeded":
        return "success"
    if status in ("failed", "dead"):
        return (
            "connection error"
            if category in ("unreachable", "timeout")
            else f"error ({category or 'unknown'})"
        )
    return status


def get_run(run_id: str, visible: Iterable[str]) -> dict[str, Any]:
    job = repo.get_job(run_id)
    if job is None or job.tenant_id not in set(visible) or job.kind not in RUN_KINDS:
        raise NotFoundError("billing run not found")
    task_ids = [r.get("task_id") for r in (job.result or {}).get("routers", []) if r.get("task_id")]
    return _run_dict(job, repo.get_tasks(task_ids))


def run_moment(tenant_ids: list[str], on_date: date | None) -> date | None:
    """When a run started by hand acts: on ``on_date`` in every time zone of the tenants and their zones
    (None: now). A date that has not begun in any of those time zones is refused; a date that is already
    today somewhere they work (east of UTC, before midnight UTC) is not."""
    if on_date is None:
        return None
    latest = latest_today(tenant_ids, utcnow())
    if on_date > latest:
        raise ValidationError(
            f"on_date cannot be in the future (the latest date in these time zones is {latest})",
            field="on_date",
        )
    return on_date
