"""The subscriber list as a CSV file, written by the jobs worker: the rows, filter and order of the
synchronous export (``GET /admin/subscribers/export``), at any size.

In username order (the default) the export walks the list a page at a time
(:func:`services.subscribers.lists.walk_page`) and writes each page. Another order needs the sort key
of every matching row first: ``scan`` walks the list the same way keeping each match's sort key and
item key (a file per page), ``sort`` orders them into the ``plan`` (the item keys a page at a time in
the export's order) and ``write`` reads the plan a page at a time. Every page is checkpointed.
"""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Any

from core import listing
from core.errors import ValidationError
from core.ids import now_iso
from services.identity.actors import Actor
from services.jobs.upload import PagedUpload
from services.jobs.work import KIND_EXPORT, Run, start_job
from services.subscribers import lists
from services.tenants import tenant_filter
from shared.runtime import Runtime
from store import jobs as job_store
from store.models import Job

FILE = "subscribers.csv"
CONTENT_TYPE = "text/csv; charset=utf-8"
# the synchronous export's first bytes: a BOM (spreadsheet programs read UTF-8) and the header
HEAD = ("\ufeff" + listing.csv_lines([lists.EXPORT_COLUMNS])).encode()


def start_export(
    rt: Runtime, actor: Actor, f: listing.SubscriberFilter, tenant_id: str | None, sort: str | None, fmt: str
) -> Job:
    """Start exporting the filtered, sorted subscriber list of the caller's subtree (or one tenant)."""
    if fmt != "csv":
        raise ValidationError("an export job writes csv", field="format")
    listing.parse_sort(sort)
    tenant_ids = tenant_filter(actor, tenant_id)
    params = {
        "filter": {k: v for k, v in asdict(f).items() if v},
        "tenant_id": tenant_id,
        "sort": sort or "username",
        "format": fmt,
    }
    return start_job(rt, actor, KIND_EXPORT, params, lists.walk_total(tenant_ids, f), "read_only")


def step(run: Run) -> dict[str, Any] | None:
    """Export pages until the list ends (the result) or the run's time is up (None: continue)."""
    params = run.params
    f = listing.SubscriberFilter(**params.get("filter", {}))
    field_name, desc = listing.parse_sort(params.get("sort"))
    tenant_ids = tenant_filter(run.actor, params.get("tenant_id"))
    cp = run.checkpoint
    out = PagedUpload.resume(run.rt, run.job, FILE, CONTENT_TYPE, HEAD, cp.get("upload"))
    if field_name == "username":
        finished = _write_walk(run, out, tenant_ids, f, desc)
    else:
        finished = _write_sorted(run, out, tenant_ids, f, field_name, desc)
    if not finished:
        return None
    size = out.finish()
    return {
        "rows": int(run.checkpoint.get("rows", 0)),
        "file": FILE,
        "filename": f"subscribers-{now_iso()[:10]}.csv",
        "size": size,
    }


def _write_walk(
    run: Run, out: PagedUpload, tenant_ids: list[str], f: listing.SubscriberFilter, desc: bool
) -> bool:
    cp = run.checkpoint
    rows, cursor = int(cp.get("rows", 0)), cp.get("cursor")
    while not cp.get("walked"):
        page = lists.walk_page(tenant_ids, f, desc, run.rt.settings.job_page_size, cursor)
        if page.items:
            out.add(listing.csv_rows(lists.EXPORT_COLUMNS, page.items).encode())
        rows, cursor = rows + len(page.items), page.next_cursor
        cp = {"cursor": cursor, "walked": cursor is None, "rows": rows, "upload": out.state}
        run.save(cp, done=len(page.items))
        if cursor is not None and not run.more_time():
            return False
    return True


# ---------------------------------------------------------------- another order than the username
def _write_sorted(
    run: Run,
    out: PagedUpload,
    tenant_ids: list[str],
    f: listing.SubscriberFilter,
    field_name: str,
    desc: bool,
) -> bool:
    phase = run.checkpoint.get("phase", "scan")
    if phase == "scan" and not _scan(run, tenant_ids, f, field_name):
        return False
    if run.checkpoint.get("phase") == "sort":
        _sort(run, field_name, desc)
    return _write_plan(run, out, tenant_ids, f)


def _scan(run: Run, tenant_ids: list[str], f: listing.SubscriberFilter, field_name: str) -> bool:
    """Keep (sort key, item key) of every match, a file per page of the walk; True once walked."""
    s3, bucket = run.rt.aws.client("s3"), run.rt.settings.documents_bucket
    cp = run.checkpoint
    chunks, cursor = int(cp.get("chunks", 0)), cp.get("cursor")
    while True:
        page = lists.walk_page(tenant_ids, f, False, run.rt.settings.job_page_size, cursor)
        if page.items:
            keys = [[*_key_json(listing.sort_key(r, field_name)), lists.row_login(r)] for r in page.items]
            job_store.put_json(s3, bucket, run.job, f"keys/{chunks:06d}.json", keys)
            chunks += 1
        cursor = page.next_cursor
        run.save({"phase": "scan" if cursor else "sort", "cursor": cursor, "chunks": chunks})
        if cursor is None:
            return True
        if not run.more_time():
            return False


def _key_json(key: tuple[int, Any, str]) -> list[Any]:
    present, value, rid = key
    return [present, str(value), rid]


def _key_of(row: list[Any], field_name: str) -> tuple[int, Any, str]:
    present, value, rid = row[0], row[1], row[2]
    return (int(present), Decimal(value) if field_name == "price" else value, str(rid))


def _sort(run: Run, field_name: str, desc: bool) -> None:
    """The item keys in the export's order, written as the plan's pages (one step: keys only)."""
    s3, bucket = run.rt.aws.client("s3"), run.rt.settings.documents_bucket
    chunks = int(run.checkpoint.get("chunks", 0))
    keys: list[list[Any]] = []
    for i in range(chunks):
        keys.extend(job_store.get_json(s3, bucket, run.job, f"keys/{i:06d}.json"))
    keys.sort(key=lambda k: _key_of(k, field_name), reverse=desc)
    size = run.rt.settings.job_page_size
    pages = 0
    for start in range(0, len(keys), size):
        job_store.put_json(
            s3, bucket, run.job, f"plan/{pages:06d}.json", [k[3] for k in keys[start : start + size]]
        )
        pages += 1
    run.save({"phase": "write", "pages": pages, "page": 0, "rows": 0, "chunks": chunks})


def _write_plan(run: Run, out: PagedUpload, tenant_ids: list[str], f: listing.SubscriberFilter) -> bool:
    s3, bucket = run.rt.aws.client("s3"), run.rt.settings.documents_bucket
    cp = run.checkpoint
    page_no, pages, rows = int(cp.get("page", 0)), int(cp.get("pages", 0)), int(cp.get("rows", 0))
    while page_no < pages:
        logins = job_store.get_json(s3, bucket, run.job, f"plan/{page_no:06d}.json")
        items = lists.rows_by_logins(tenant_ids, logins, f)
        if items:
            out.add(listing.csv_rows(lists.EXPORT_COLUMNS, items).encode())
        page_no, rows = page_no + 1, rows + len(items)
        run.save({**cp, "page": page_no, "rows": rows, "upload": out.state}, done=len(items))
        if page_no < pages and not run.more_time():
            return False
    names = [f"keys/{i:06d}.json" for i in range(int(cp.get("chunks", 0)))]
    job_store.delete_files(s3, bucket, run.job, names + [f"plan/{i:06d}.json" for i in range(pages)])
    return True
