"""Jobs: exports and bulk actions over any number of subscribers, run in the background.

Starting one answers 202 with the job at once; poll ``GET /admin/jobs/{job_id}`` for its progress
(``done`` / ``failed`` of ``total`` when known) and, once ``status`` is ``done``, its file: a download
link valid for a few minutes (ask the job again for a new one).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from chalice import Blueprint
from pydantic import BaseModel, Field

from api.routing import RequestContext, route
from api.schemas.common import Cursor, Id, Out, Query, StrictIn
from api.schemas.lifecycle import CancelIn, MigrateIn, ReasonIn, RechargeIn
from api.schemas.subscribers import SubscriberListFilter, SubscriberSort
from services.jobs import bulk, export, views

bp = Blueprint(__name__)


class JobView(Out):
    id: str
    tenant_id: str
    kind: str
    status: str = Field(description="pending, running, done or failed (imports: their own statuses)")
    total: int | None = Field(description="subscribers or rows to do; null while not known")
    done: int
    failed: int
    rows: int | None = Field(default=None, description="rows of the finished file")
    params: dict[str, Any] | None = None
    result: dict[str, Any] = {}
    created_by: str | None = None
    created_at: str
    updated_at: str | None = None
    download_url: str | None = Field(default=None, description="the finished file (a presigned S3 link)")
    download_expires_at: str | None = None


class JobViewList(Out):
    items: list[JobView]
    next_cursor: str | None = None


class JobListQuery(Query):
    tenant_id: Id | None = None
    kind: Literal["subscriber_export", "subscriber_bulk", "import_create", "import_update"] | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Cursor | None = None


class ListFilter(StrictIn, SubscriberListFilter):
    """The filters of the subscriber list (``GET /admin/subscribers``), as a strict body."""


class ExportJobIn(ListFilter):
    sort: SubscriberSort = "username"
    format: Literal["csv"] = "csv"


def _view(ctx: RequestContext, job: Any) -> JobView:
    return JobView.model_validate(views.job_view(ctx.rt, job))


@route(
    bp,
    "/admin/subscribers/export-jobs",
    "POST",
    summary="Export the subscriber list as a CSV file, in the background (any size)",
    tags=["jobs"],
    body=ExportJobIn,
    response=JobView,
    status=202,
    description="The filters, sort and tenant_id of the subscriber list; the file has the rows of "
    "GET /admin/subscribers/export. Poll GET /admin/jobs/{job_id}: when done, download_url links the file.",
)
def handle_start_export_job(ctx: RequestContext) -> JobView:
    b = ctx.body
    job = export.start_export(ctx.rt, ctx.p, b.subscriber_filter(), b.tenant_id, b.sort, b.format)
    return _view(ctx, job)


# ---------------------------------------------------------------- bulk actions
JobIds = Annotated[list[Id], Field(min_length=1, max_length=bulk.MAX_IDS)]


class _Target(StrictIn):
    subscriber_ids: JobIds | None = Field(default=None, description="these subscribers (or a filter)")
    filter: ListFilter | None = Field(default=None, description="every subscriber the list filter matches")


class BulkJobReasonIn(ReasonIn, _Target):
    pass


class BulkJobCancelIn(CancelIn, _Target):
    pass


class BulkJobDeleteIn(_Target):
    """Bulk delete removes from the system only (system + router is one subscriber at a time)."""

    mode: Literal["system"] = "system"


class BulkJobRechargeIn(RechargeIn, _Target):
    pass


class BulkJobMigrateIn(MigrateIn, _Target):
    pass


# (action, path segment, body model, min role): the actions of POST /admin/subscribers/bulk/…
BULK_JOBS: list[tuple[str, str, type[BaseModel], str]] = [
    ("activate", "activate", BulkJobReasonIn, "operator"),
    ("suspend", "suspend", BulkJobReasonIn, "operator"),
    ("free", "free", BulkJobReasonIn, "operator"),
    ("cancel", "cancel", BulkJobCancelIn, "operator"),
    ("delete", "delete", BulkJobDeleteIn, "manager"),
    ("recharge", "recharge", BulkJobRechargeIn, "operator"),
    ("migrate", "migrate", BulkJobMigrateIn, "operator"),
    ("disconnect", "disconnect", BulkJobReasonIn, "operator"),
]
MAX_BULK_JOB_BODY = 4_000_000  # 100,000 ids


def _register_bulk(action: str, segment: str, body: type[BaseModel], role: str) -> None:
    def start(ctx: RequestContext) -> JobView:
        options: dict[str, Any] = ctx.body.model_dump()
        ids, target = options.pop("subscriber_ids"), options.pop("filter")
        f = ctx.body.filter
        job = bulk.start_bulk(
            ctx.rt,
            ctx.p,
            action,
            options,
            subscriber_ids=ids,
            f=f.subscriber_filter() if f is not None else None,
            tenant_id=target.get("tenant_id") if target else None,
            min_role=role,
        )
        return _view(ctx, job)

    start.__name__ = f"handle_bulk_job_{action}"
    route(
        bp,
        f"/admin/subscribers/bulk-jobs/{segment}",
        "POST",
        summary=f"Bulk job: {segment} many subscribers (ids or a list filter), in the background",
        tags=["jobs"],
        body=body,
        response=JobView,
        min_role=role,
        status=202,
        max_body=MAX_BULK_JOB_BODY,
        description=f"The options of POST /admin/subscribers/bulk/{segment}, with subscriber_ids (up to "
        f"{bulk.MAX_IDS}) or a filter. done and failed count the subscribers as they are done; when the "
        "job is done, download_url links the report (a CSV line per subscriber: ok, message or error).",
    )(start)


for _spec in BULK_JOBS:
    _register_bulk(*_spec)


# ---------------------------------------------------------------- reading jobs
@route(
    bp,
    "/admin/jobs",
    "GET",
    summary="Jobs (exports, bulk actions, imports), newest first",
    tags=["jobs"],
    query=JobListQuery,
    response=JobViewList,
    description="Newest first across the tenants (those of one instant by id), a page of limit at a time: "
    "pass next_cursor back as cursor for the next page. Billing runs are listed by GET /admin/billing/runs.",
)
def handle_list_jobs(ctx: RequestContext) -> JobViewList:
    q = ctx.query
    jobs, nxt = views.list_jobs(ctx.rt.signer, ctx.p, q.tenant_id, q.kind, q.limit, q.cursor)
    return JobViewList(items=[_view(ctx, j) for j in jobs], next_cursor=nxt)


@route(
    bp,
    "/admin/jobs/{job_id}",
    "GET",
    summary="A job: its progress and, when done, the link to its file",
    tags=["jobs"],
    response=JobView,
)
def handle_get_job(ctx: RequestContext, job_id: str) -> JobView:
    return _view(ctx, views.get_job(ctx.p, job_id))
