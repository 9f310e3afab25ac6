"""A lifecycle action on many subscribers, run by the jobs worker: on a list of ids (up to
:data:`MAX_IDS`) or on every subscriber a list filter matches. Each subscriber goes through the same
action as the synchronous bulk (:func:`services.subscribers.lifecycle.run_each`: its checks, its
audit entry, its router change); ``done`` counts those that succeeded and ``failed`` the others as it
goes, and the report (a CSV row per subscriber: what was done, or why not) is the job's file.

A filter is walked in username order (:func:`services.subscribers.lists.walk_page`) and each
subscriber is checked against it when its page is read, so an action that takes subscribers out of
the filter (suspending the active ones) neither skips nor repeats any.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from core import lifecycle as lc
from core import listing
from core.errors import ValidationError
from core.ids import now_iso
from services.identity.actors import Actor
from services.jobs.upload import PagedUpload
from services.jobs.work import KIND_BULK, Run, start_job
from services.subscribers import lifecycle, lists
from services.subscribers.outcome import Outcome
from services.tenants import tenant_filter
from shared.runtime import Runtime
from store import jobs as job_store
from store.models import Job

MAX_IDS = 100_000
FILE = "report.csv"
IDS = "ids.json"
CONTENT_TYPE = "text/csv; charset=utf-8"
REPORT_COLUMNS = ("subscriber_id", "ok", "status", "message", "error_code", "error_field", "router_task_id")
HEAD = ("\ufeff" + listing.csv_lines([REPORT_COLUMNS])).encode()


def start_bulk(
    rt: Runtime,
    actor: Actor,
    action: str,
    options: dict[str, Any],
    *,
    subscriber_ids: list[str] | None,
    f: listing.SubscriberFilter | None,
    tenant_id: str | None,
    min_role: str,
) -> Job:
    """Start ``action`` on these subscribers, or on every one ``f`` matches in the caller's subtree (or
    one tenant of it). The same checks as the synchronous bulk; one of the two sources, not both."""
    lifecycle.check_bulk(action, options)
    if (subscriber_ids is None) == (f is None):
        field = "filter" if subscriber_ids is not None else "subscriber_ids"
        raise ValidationError("give subscriber_ids or a filter (one of the two)", field=field)
    params: dict[str, Any] = {"action": action, "options": options}
    if subscriber_ids is not None:
        ids = lc.unique_ids(subscriber_ids)
        if not ids:
            raise ValidationError("give at least one subscriber id", field="subscriber_ids")
        if len(ids) > MAX_IDS:
            raise ValidationError(f"at most {MAX_IDS} subscribers per job", field="subscriber_ids")
        params.update(source="ids", count=len(ids))
        return start_job(rt, actor, KIND_BULK, params, len(ids), min_role, files={IDS: ids})
    assert f is not None
    tenant_ids = tenant_filter(actor, tenant_id)
    params.update(source="filter", filter={k: v for k, v in asdict(f).items() if v}, tenant_id=tenant_id)
    return start_job(rt, actor, KIND_BULK, params, lists.walk_total(tenant_ids, f), min_role)


def step(run: Run) -> dict[str, Any] | None:
    """Act on pages of subscribers until the last (the result) or the run's time is up (None)."""
    params = run.params
    action, options = str(params["action"]), dict(params.get("options") or {})
    cp = run.checkpoint
    out = PagedUpload.resume(run.rt, run.job, FILE, CONTENT_TYPE, HEAD, cp.get("upload"))
    next_page = _ids_pages(run) if params.get("source") == "ids" else _filter_pages(run)
    ok, bad = int(cp.get("ok", 0)), int(cp.get("bad", 0))
    while not cp.get("end"):
        ids, position, end = next_page(cp.get("position"))
        outcomes = lifecycle.run_each(run.rt, run.actor, action, ids, options) if ids else []
        if outcomes:
            out.add(listing.csv_rows(REPORT_COLUMNS, [report_row(o) for o in outcomes]).encode())
        page_ok = sum(1 for o in outcomes if o.ok)
        ok, bad = ok + page_ok, bad + len(outcomes) - page_ok
        cp = {"position": position, "end": end, "ok": ok, "bad": bad, "upload": out.state}
        run.save(cp, done=page_ok, failed=len(outcomes) - page_ok)
        if not end and not run.more_time():
            return None
    size = out.finish()
    return {
        "rows": ok + bad,
        "succeeded": ok,
        "failed": bad,
        "file": FILE,
        "filename": f"bulk-{action}-{now_iso()[:10]}.csv",
        "size": size,
    }


# position of the page (None: the first) -> (its subscriber ids, the next page's position, last page?)
PageSource = Callable[[Any], tuple[list[str], Any, bool]]


def _ids_pages(run: Run) -> PageSource:
    s3, bucket = run.rt.aws.client("s3"), run.rt.settings.documents_bucket
    ids: list[str] = [str(i) for i in job_store.get_json(s3, bucket, run.job, IDS)]
    size = max(run.rt.settings.job_bulk_page_size, 1)

    def page(position: Any) -> tuple[list[str], int, bool]:
        start = int(position or 0)
        return ids[start : start + size], start + size, start + size >= len(ids)

    return page


def _filter_pages(run: Run) -> PageSource:
    params = run.params
    f = listing.SubscriberFilter(**params.get("filter", {}))
    tenant_ids = tenant_filter(run.actor, params.get("tenant_id"))
    size = max(run.rt.settings.job_bulk_page_size, 1)

    def page(position: Any) -> tuple[list[str], str | None, bool]:
        found = lists.walk_page(tenant_ids, f, False, size, position)
        return [str(r["id"]) for r in found.items], found.next_cursor, found.next_cursor is None

    return page


def report_row(o: Outcome) -> dict[str, Any]:
    """A line of the report: the subscriber, whether the action was done, what was done or why not."""
    error = o.error or {}
    return {
        "subscriber_id": o.subscriber_id,
        "ok": o.ok,
        "status": o.status,
        "message": o.system if o.ok else error.get("message") or o.system,
        "error_code": error.get("code"),
        "error_field": error.get("field"),
        "router_task_id": o.router.task_id if o.router is not None else None,
    }
