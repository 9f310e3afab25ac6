"""Imports (SPEC S2 "From import", "From printers / external apps"; S4 "update clients").

Upload an .xlsx or .csv as the raw request body: the response is the preview (every bad row with its
reasons; in update mode every change as before → after) and nothing is written. Commit the import
job to write; follow its progress on the job. Import from a router reads its hotspot users and
PPPoE secrets.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from chalice import Blueprint
from pydantic import Field, StringConstraints

from api.routing import RequestContext, route
from api.schemas.common import Cursor, Id, In, Out, Query, TenantQuery
from core import import_rows as rules
from services import imports as svc
from services.network import router_import

bp = Blueprint(__name__)


class UploadQuery(Query):
    mode: Literal["create", "update"] = "create"
    columns: Annotated[str, StringConstraints(max_length=1000)] | None = Field(
        default=None, description="update mode: comma-separated columns to change (e.g. plan,gateway,ip)"
    )
    tenant_id: Id | None = None
    filename: Annotated[str, StringConstraints(max_length=200)] | None = None


class JobOut(Out):
    id: str
    tenant_id: str
    kind: str
    status: str
    total: int
    done: int
    failed: int
    result: dict[str, Any] = {}
    created_by: str | None = None
    created_at: str
    updated_at: str | None = None


class JobList(Out):
    items: list[JobOut]
    next_cursor: str | None = None


class ImportListQuery(TenantQuery):
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Cursor | None = None


class RowReport(Out):
    row: int
    username: str
    errors: list[dict[str, str]] | None = None
    changes: dict[str, dict[str, Any]] | None = None


class ImportOut(Out):
    job: JobOut
    summary: dict[str, Any]
    ignored_columns: list[str] = []
    rows: list[RowReport]
    rows_truncated: bool = False


class CommitIn(In):
    all_or_nothing: bool = Field(default=False, description="write nothing if any row is not valid")


class ReportQuery(Query):
    report: Literal["preview", "result"] = "preview"
    offset: Annotated[int, Field(ge=0, le=rules.MAX_IMPORT_ROWS)] = 0
    limit: Annotated[int, Field(ge=1, le=5000)] = 500


class ReportOut(Out):
    job_id: str
    report: str
    total: int
    offset: int
    rows: list[RowReport]


class RouterImportIn(In):
    gateway_id: Id
    kinds: list[Literal["pppoe", "hotspot"]] = Field(default=["pppoe", "hotspot"], min_length=1, max_length=2)
    default_product_id: Id | None = Field(
        default=None, description="for rows whose router profile maps to no product"
    )
    include_disabled: bool = False
    dry_run: bool = False


class RouterImportOut(Out):
    gateway_id: str
    read: int
    to_create: int
    created: int
    dry_run: bool
    skipped: list[dict[str, Any]]
    invalid: list[dict[str, Any]]
    subscriber_ids: list[str]
    router: dict[str, Any] | None = None


@route(
    bp,
    "/admin/imports",
    "POST",
    summary="Upload a spreadsheet of subscribers (preview)",
    tags=["imports"],
    query=UploadQuery,
    response=ImportOut,
    raw_body=True,
    min_role="operator",
    status=201,
    description=f"Body: the .xlsx or .csv file (at most {rules.MAX_IMPORT_BYTES // 1000} kB and "
    f"{rules.MAX_IMPORT_ROWS} rows). The first row names the columns (username, password, name, email, phone, "
    "address, document_id, plan, zone, gateway, connection_type, ip, local_address, mac, status, "
    "hotspot_server, installed_at; Spanish names accepted). Nothing is written until the job is committed.",
)
def handle_upload_import(ctx: RequestContext) -> ImportOut:
    q = ctx.query
    columns = (q.columns or "").split(",") if q.columns else []
    return ImportOut.model_validate(
        svc.upload(
            ctx.rt,
            ctx.p,
            ctx.raw_body,
            mode=q.mode,
            tenant_id=q.tenant_id,
            columns=columns,
            filename=q.filename,
        )
    )


@route(
    bp,
    "/admin/imports",
    "GET",
    summary="Import jobs",
    tags=["imports"],
    query=ImportListQuery,
    response=JobList,
    description="Newest first across the tenants (those of one instant by id), a page of limit at a time: "
    "pass next_cursor back as cursor for the next page.",
)
def handle_list_imports(ctx: RequestContext) -> JobList:
    q = ctx.query
    items, nxt = svc.list_jobs(ctx.rt.signer, ctx.p, q.tenant_id, q.limit, q.cursor)
    return JobList.model_validate({"items": items, "next_cursor": nxt})


@route(
    bp,
    "/admin/imports/{job_id}",
    "GET",
    summary="An import job and its progress",
    tags=["imports"],
    response=JobOut,
)
def handle_get_import(ctx: RequestContext, job_id: str) -> JobOut:
    return JobOut.model_validate(svc.job_view(svc.get_job(ctx.p, job_id)))


@route(
    bp,
    "/admin/imports/{job_id}/report",
    "GET",
    summary="The rows of an import's preview or result",
    tags=["imports"],
    query=ReportQuery,
    response=ReportOut,
)
def handle_import_report(ctx: RequestContext, job_id: str) -> ReportOut:
    q = ctx.query
    return ReportOut.model_validate(svc.report(ctx.rt, ctx.p, job_id, q.report, q.offset, q.limit))


@route(
    bp,
    "/admin/imports/{job_id}/commit",
    "POST",
    summary="Write an uploaded import",
    tags=["imports"],
    body=CommitIn,
    response=ImportOut,
    min_role="operator",
    description="Re-checks the file against the system as it is now and writes every valid row; with "
    "all_or_nothing a single bad row writes nothing (422 listing the bad rows). A job is committed once.",
)
def handle_commit_import(ctx: RequestContext, job_id: str) -> ImportOut:
    return ImportOut.model_validate(svc.commit(ctx.rt, ctx.p, job_id, ctx.body.all_or_nothing))


@route(
    bp,
    "/admin/imports/router",
    "POST",
    summary="Import the users created on a router",
    tags=["imports"],
    body=RouterImportIn,
    response=RouterImportOut,
    min_role="operator",
    description="Hotspot users and PPPoE secrets made on the MikroTik (ticket printers, other tools) become "
    "subscribers; names that already exist are skipped, so running it again creates nothing twice.",
)
def handle_router_import(ctx: RequestContext) -> RouterImportOut:
    b = ctx.body
    return RouterImportOut.model_validate(
        router_import.import_from_router(
            ctx.rt,
            ctx.p,
            b.gateway_id,
            kinds=b.kinds,
            default_product_id=b.default_product_id,
            include_disabled=b.include_disabled,
            dry_run=b.dry_run,
        )
    )
