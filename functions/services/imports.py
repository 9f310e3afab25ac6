"""Spreadsheet imports (SPEC S2 "From import"; S4 "update clients", the WispHub migration flow).

Upload an .xlsx or .csv: every row is checked (missing fields, duplicate usernames in the file and in
the system, unknown plan/zone/router, bad IP...) and the preview lists each bad row with its reasons
without writing anything. The parsed rows are kept (encrypted) with an import job; committing checks
them again against the system as it is then and creates every valid row — or nothing, when asked for
all-or-nothing and any row is bad. "Update clients" changes only the chosen columns of existing
subscribers and previews each change as before → after.

Progress of a commit is visible on the job (``done`` / ``failed`` counters updated as it goes).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from core import import_rows as rules
from core.errors import ConflictError, DomainError, NotFoundError, ValidationError
from core.ids import new_id, now_iso
from core.paging import Signer, decode_key, encode_key, position_of
from services import subscribers as subs
from services.identity.actors import Actor
from services.network.triggers import request_router_sync
from services.subscribers import lifecycle
from services.tenants import audit, target_tenant, tenant_filter
from shared.crypto import random_password
from shared.observability import get_logger
from shared.runtime import Runtime
from store import catalog as catalog_store
from store import imports as import_store
from store import jobs as job_store
from store import subscribers as subscriber_store
from store import tenants as tenant_store
from store.models import Gateway, Job, Product, Subscriber, Zone

log = get_logger("imports")

KIND_CREATE = "import_create"
KIND_UPDATE = "import_update"
XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary .xls
MAX_UNCOMPRESSED_BYTES = 60_000_000  # an .xlsx of 10,000 rows is far below; more is a zip bomb
WRITERS = 8  # conditional writes in flight (DynamoDB latency, not CPU, bounds a commit)
PROGRESS_EVERY = 250
RESPONSE_ROWS = 2_000  # rows listed in a response; the full report is in the job's report
REPORT_PREVIEW = "preview.json"
REPORT_RESULT = "result.json"
ROWS = "rows.enc"


# ---------------------------------------------------------------- reading files
def read_table(data: bytes) -> tuple[list[Any], list[tuple[int, list[Any]]]]:
    """The header cells and the data rows (spreadsheet row number, cells) of an .xlsx or .csv file.
    Blank rows are skipped; more than :data:`rules.MAX_IMPORT_ROWS` data rows is an error."""
    if not data:
        raise ValidationError("the file is empty", field="file")
    if len(data) > rules.MAX_IMPORT_BYTES:
        raise ValidationError(
            f"the file is larger than {rules.MAX_IMPORT_BYTES // 1000} kB: split it", field="file"
        )
    if data.startswith(OLE_MAGIC):
        raise ValidationError("old .xls files are not read: save the sheet as .xlsx or .csv", field="file")
    rows = _xlsx_rows(data) if data.startswith(XLSX_MAGIC) else _csv_rows(data)
    header: list[Any] | None = None
    out: list[tuple[int, list[Any]]] = []
    for row_no, cells in rows:
        if header is None:
            if rules.is_blank(cells):
                continue
            header = list(cells)
            continue
        if rules.is_blank(cells):
            continue
        if len(out) >= rules.MAX_IMPORT_ROWS:
            raise ValidationError(
                f"the file has more than {rules.MAX_IMPORT_ROWS} rows: split it",
                field="file",
                details={"max_rows": rules.MAX_IMPORT_ROWS},
            )
        out.append((row_no, list(cells)))
    if header is None:
        raise ValidationError("the file has no header row", field="file")
    return header, out


def _xlsx_rows(data: bytes) -> Iterable[tuple[int, Sequence[Any]]]:
    from openpyxl import load_workbook  # imported here: only uploads need it

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if sum(i.file_size for i in zf.infolist()) > MAX_UNCOMPRESSED_BYTES:
                raise ValidationError("the .xlsx file expands to too much data", field="file")
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        rows: list[tuple[int, Sequence[Any]]] = []
        for i, r in enumerate(
            wb.worksheets[0].iter_rows(values_only=True, max_col=rules.MAX_COLUMNS + 1), start=1
        ):
            rows.append((i, r))
            if i > 2 * rules.MAX_IMPORT_ROWS:  # blank rows aside, far over the limit: stop reading
                break
        wb.close()
    except ValidationError:
        raise
    except Exception as exc:  # openpyxl raises many kinds of error on a damaged file
        raise ValidationError("not a readable .xlsx file", field="file") from exc
    return rows


def _csv_rows(data: bytes) -> Iterable[tuple[int, Sequence[Any]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # spreadsheet programs often save CSV in the local code page
    if "\x00" in text:
        raise ValidationError("not a CSV or .xlsx file", field="file")
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        return list(enumerate(csv.reader(io.StringIO(text), dialect), start=1))
    except csv.Error as exc:
        raise ValidationError(f"the CSV file cannot be read: {exc}", field="file") from exc


# ---------------------------------------------------------------- the tenant as rows see it
def snapshot(tenant_id: str, existing: Sequence[Subscriber]) -> rules.TenantSnapshot:
    """What rows of this tenant are checked against: usable catalogue, existing usernames and IPs."""
    usable = [tenant_id, *tenant_store.ancestor_ids(tenant_id)]
    products = [p for p in catalog_store.list_for_tenants(Product, usable) if p.active]
    return rules.TenantSnapshot(
        products=[rules.CatalogItem(p.id, p.name, p.code, None, p.connection_type) for p in products],
        zones=[rules.CatalogItem(z.id, z.name) for z in catalog_store.list_for_tenants(Zone, [tenant_id])],
        gateways=[
            rules.CatalogItem(g.id, g.name, None, g.zone_id, g.plan_type)
            for g in catalog_store.list_for_tenants(Gateway, [tenant_id])
        ],
        usernames={s.username.lower() for s in existing},
        ips={s.ip: s.username.lower() for s in existing if s.ip},
        existing={s.username.lower(): _current(s) for s in existing},
    )


def _current(s: Subscriber) -> dict[str, Any]:
    return {
        "id": s.id,
        "product_id": s.product_id,
        "zone_id": s.zone_id,
        "gateway_id": s.gateway_id,
        "name": s.name,
        "email": s.email,
        "phone": s.phone,
        "address": s.address,
        "document_id": s.document_id,
        "connection_type": s.connection_type,
        "ip": s.ip,
        "local_address": s.local_address,
        "mac": s.mac,
        "hotspot_server": s.hotspot_server,
        "installed_at": s.installed_at,
    }


def parse_rows(data: bytes) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    """The file's rows as ``(row number, {column: text})`` and the headers that are not import columns."""
    header, raw_rows = read_table(data)
    hmap = rules.map_headers(header)
    return [(n, rules.row_values(hmap, cells)) for n, cells in raw_rows], hmap.ignored


def _check(
    tenant_id: str, rows: Sequence[tuple[int, dict[str, str]]], mode: str, columns: Sequence[str]
) -> tuple[list[rules.RowCheck], dict[str, Subscriber]]:
    existing = import_store.tenant_subscribers(tenant_id)
    snap = snapshot(tenant_id, existing)
    if mode == rules.MODE_CREATE:
        checks = rules.check_create_rows(rows, snap)
    else:
        checks = rules.check_update_rows(rows, snap, columns)
    return checks, {s.username.lower(): s for s in existing}


# ---------------------------------------------------------------- jobs
def job_view(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "tenant_id": job.tenant_id,
        "kind": job.kind,
        "status": job.status,
        "total": int(job.total or 0),
        "done": int(job.done or 0),
        "failed": int(job.failed or 0),
        "result": job.result or {},
        "created_by": job.created_by,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    }


def get_job(actor: Actor, job_id: str) -> Job:
    job = job_store.get_job(job_id) if 0 < len(job_id) <= 128 else None
    if job is None or not actor.can_see(job.tenant_id) or job.kind not in (KIND_CREATE, KIND_UPDATE):
        raise NotFoundError("import not found", field="job_id")
    return job


IMPORT_LIST = "admin:imports"  # the signed cursor's scope: a position in time in the import list


def list_jobs(
    signer: Signer, actor: Actor, tenant_id: str | None, limit: int = 50, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """The import jobs of the caller's subtree (or one tenant), newest first across the tenants (those
    of one instant by id): a page of ``limit`` and the next cursor."""
    position = position_of(decode_key(signer, cursor, IMPORT_LIST))
    tenants = tenant_filter(actor, tenant_id)
    jobs, last = job_store.jobs_page(tenants, (KIND_CREATE, KIND_UPDATE), limit, position)
    return [job_view(j) for j in jobs], encode_key(signer, last, IMPORT_LIST)


def report(rt: Runtime, actor: Actor, job_id: str, which: str, offset: int, limit: int) -> dict[str, Any]:
    """Rows of the preview or the result of an import, a page at a time."""
    job = get_job(actor, job_id)
    name = REPORT_RESULT if which == "result" else REPORT_PREVIEW
    rows = job_store.get_json(rt.aws.client("s3"), rt.settings.documents_bucket, job, name)
    return {
        "job_id": job.id,
        "report": which,
        "total": len(rows),
        "offset": offset,
        "rows": rows[offset : offset + limit],
    }


# ---------------------------------------------------------------- preview
def _listed(checks: Sequence[rules.RowCheck], mode: str) -> list[dict[str, Any]]:
    """What a report lists: bad rows with their reasons, and in update mode the changes of good ones."""
    if mode == rules.MODE_CREATE:
        return [c.as_dict() for c in checks if c.errors]
    return [c.as_dict() for c in checks if c.errors or c.changes]


def upload(
    rt: Runtime,
    actor: Actor,
    data: bytes,
    *,
    mode: str,
    tenant_id: str | None = None,
    columns: Sequence[str] = (),
    filename: str | None = None,
) -> dict[str, Any]:
    """Check a file and keep it for a commit. Writes no subscriber; returns the preview."""
    if mode not in (rules.MODE_CREATE, rules.MODE_UPDATE):
        raise ValidationError("mode must be create or update", field="mode")
    tid = target_tenant(actor, tenant_id)
    cols = list(dict.fromkeys(c.strip() for c in columns if c.strip()))
    rows, ignored = parse_rows(data)
    checks, _ = _check(tid, rows, mode, cols)
    summary = rules.summary(checks)
    if mode == rules.MODE_UPDATE:
        summary["changes"] = sum(1 for c in checks if c.ok and c.changes)
    kind = KIND_CREATE if mode == rules.MODE_CREATE else KIND_UPDATE
    job = job_store.create_job(
        tid,
        kind,
        total=len(checks),
        status="previewed",
        created_by=actor.actor_id,
        result={
            "mode": mode,
            "columns": cols,
            "filename": (filename or "")[:200],
            "preview": summary,
            "ignored_columns": ignored,
        },
    )
    s3, bucket = rt.aws.client("s3"), rt.settings.documents_bucket
    # the parsed rows are kept for the commit, encrypted: they may hold passwords
    sealed = rt.box.encrypt(json.dumps(rows, separators=(",", ":"))).encode("ascii")
    job_store.put_file(s3, bucket, job, ROWS, sealed, "application/octet-stream")
    listed = _listed(checks, mode)
    job_store.put_json(s3, bucket, job, REPORT_PREVIEW, listed)
    audit(actor, tid, "import", job.id, "upload", None, {"mode": mode, "filename": filename, **summary})
    return {
        "job": job_view(job),
        "summary": summary,
        "ignored_columns": ignored,
        "rows": listed[:RESPONSE_ROWS],
        "rows_truncated": len(listed) > RESPONSE_ROWS,
    }


# ---------------------------------------------------------------- commit
def commit(rt: Runtime, actor: Actor, job_id: str, all_or_nothing: bool = False) -> dict[str, Any]:
    """Create (or update) every valid row of an uploaded file, checked again against the system as it
    is now. With ``all_or_nothing`` a single bad row means nothing is written (422 listing them)."""
    job = get_job(actor, job_id)
    job_store.claim(job, "previewed", "running", {"done": 0, "failed": 0})
    try:
        s3, bucket = rt.aws.client("s3"), rt.settings.documents_bucket
        rows = [
            (int(n), dict(v))
            for n, v in json.loads(rt.box.decrypt(job_store.get_file(s3, bucket, job, ROWS).decode("ascii")))
        ]
        mode = str((job.result or {}).get("mode") or rules.MODE_CREATE)
        columns = list((job.result or {}).get("columns") or [])
        checks, existing = _check(job.tenant_id, rows, mode, columns)
    except Exception:
        job_store.claim(job, "running", "previewed")
        raise
    bad = [c for c in checks if c.errors]
    if all_or_nothing and bad:
        job_store.claim(job, "running", "previewed")
        raise ValidationError(
            f"{len(bad)} of {len(checks)} rows are not valid: nothing was written",
            field="file",
            details={"invalid": len(bad), "rows": [c.as_dict() for c in bad[:100]]},
        )
    try:
        if mode == rules.MODE_CREATE:
            outcome = create_rows(
                rt,
                actor,
                job.tenant_id,
                [c for c in checks if c.ok],
                "import",
                job,
                all_or_nothing=all_or_nothing,
            )
        else:
            outcome = _update_rows(rt, actor, [c for c in checks if c.ok and c.changes], existing, job)
    except Exception as exc:
        job_store.finish(
            job, "failed", {**(job.result or {}), "error": getattr(exc, "message", "internal error")}
        )
        raise
    rows = [c.as_dict() for c in bad] + outcome.pop("failures")
    rows.sort(key=lambda r: r["row"])
    result = {**outcome, "invalid": len(bad), "rows": len(checks)}
    status = "completed" if not rows else "completed_with_errors"
    job_store.put_json(s3, bucket, job, REPORT_RESULT, rows)
    job_store.finish(job, status, {**(job.result or {}), "commit": result})
    audit(
        actor, job.tenant_id, "import", job.id, "commit", None, {"all_or_nothing": all_or_nothing, **result}
    )
    fresh = job_store.get_job(job.id) or job
    return {
        "job": job_view(fresh),
        "summary": result,
        "rows": rows[:RESPONSE_ROWS],
        "rows_truncated": len(rows) > RESPONSE_ROWS,
    }


def _new_subscriber(
    rt: Runtime,
    tenant_id: str,
    values: dict[str, Any],
    products: dict[str, Product | None],
    created_via: str,
    now: str,
) -> Subscriber:
    data = dict(values)
    username = data.pop("username")
    password = data.pop("password", None) or random_password()
    prod = products.get(data.get("product_id") or "")
    sub = Subscriber(
        login=subscriber_store.login_key(tenant_id, username),
        id=new_id("sub"),
        tenant_id=tenant_id,
        username=username,
        password_enc=rt.box.encrypt(password),
        status=data.pop("status", None) or "new",
        product_assigned_at=now if prod else None,
        product_expires_at=subs.expiry(prod, now),
        created_via=created_via,
        created_at=now,
        updated_at=now,
        **{k: v for k, v in data.items() if v is not None},
    )
    return sub


def _write_row(item: tuple[rules.RowCheck, Subscriber]) -> tuple[rules.RowCheck, Subscriber, str | None]:
    check, sub = item
    try:
        subscriber_store.create(sub)
    except ConflictError:
        return check, sub, "username already exists in the system"
    return check, sub, None


def _write_rows(
    built: Sequence[tuple[rules.RowCheck, Subscriber]], job: Job | None
) -> tuple[list[tuple[rules.RowCheck, Subscriber]], list[dict[str, Any]]]:
    """One conditional write per row, in parallel; progress on the job every PROGRESS_EVERY rows."""
    created: list[tuple[rules.RowCheck, Subscriber]] = []
    failures: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        for start in range(0, len(built), PROGRESS_EVERY):
            chunk = built[start : start + PROGRESS_EVERY]
            ok = bad = 0
            for check, sub, error in pool.map(_write_row, chunk):
                if error is None:
                    created.append((check, sub))
                    ok += 1
                else:
                    failures.append(
                        {
                            "row": check.row,
                            "username": check.username,
                            "errors": [{"field": "username", "reason": error}],
                        }
                    )
                    bad += 1
            if job is not None:
                job_store.add_progress(job, ok, bad)
    return created, failures


def _audit_created(
    actor: Actor,
    tenant_id: str,
    created: Sequence[tuple[rules.RowCheck, Subscriber]],
    via: str,
    job: Job | None,
) -> None:
    import_store.append_audit_entries(
        (
            {
                "tenant_id": tenant_id,
                "entity_type": "subscriber",
                "entity_id": sub.id,
                "action": "create",
                "before": None,
                "after": {
                    **subs.audit_snapshot(sub),
                    "via": via,
                    **({"job_id": job.id} if job else {}),
                },
            }
            for _, sub in created
        ),
        actor_id=actor.actor_id,
        actor_kind=actor.actor_kind,
        request_id=actor.request_id,
    )


def create_rows(
    rt: Runtime,
    actor: Actor,
    tenant_id: str,
    checks: Sequence[rules.RowCheck],
    created_via: str,
    job: Job | None = None,
    *,
    all_or_nothing: bool = False,
    sync: bool = True,
) -> dict[str, Any]:
    """Create the subscribers of checked rows: one conditional write each (a username taken meanwhile
    fails that row only), audit entries in batches, progress on the job, then one provisioning
    trigger per router (it reconciles all of that router's new services at once)."""
    now = now_iso()
    product_ids = sorted({str(c.values["product_id"]) for c in checks if c.values.get("product_id")})
    products: dict[str, Product | None] = {pid: catalog_store.get(Product, pid) for pid in product_ids}
    built = [(c, _new_subscriber(rt, tenant_id, c.values, products, created_via, now)) for c in checks]
    created, failures = _write_rows(built, job)
    if all_or_nothing and failures:
        for _, sub in created:  # a row taken meanwhile: undo the others, as asked
            subscriber_store.delete(sub)
        raise ConflictError(
            f"{len(failures)} usernames were taken while importing: nothing was kept",
            field="username",
            details={"rows": failures[:100]},
        )
    _audit_created(actor, tenant_id, created, created_via, job)
    gateways = {sub.gateway_id for _, sub in created if sub.gateway_id} if sync else set()
    routers = _sync_routers(rt, actor, gateways, created_via)
    return {
        "created": len(created),
        "failed": len(failures),
        "failures": failures,
        "routers": routers,
        "subscriber_ids": [sub.id for _, sub in created][:RESPONSE_ROWS],
    }


def _sync_routers(rt: Runtime, actor: Actor, gateway_ids: Iterable[str], reason: str) -> list[dict[str, Any]]:
    out = []
    for gid in sorted(gateway_ids):
        gw = catalog_store.get(Gateway, gid)
        if gw is None:
            continue
        req = request_router_sync(rt, gw, reason, actor.actor_id)
        out.append({"gateway_id": gid, "status": req.status, "task_id": req.task_id, "warning": req.warning})
    return out


_PLAIN = (
    "name",
    "email",
    "phone",
    "address",
    "document_id",
    "ip",
    "local_address",
    "mac",
    "hotspot_server",
    "installed_at",
    "product_id",
    "zone_id",
    "gateway_id",
    "connection_type",
)
_SERVICE = frozenset({"product_id", "zone_id", "gateway_id", "connection_type"})


def _update_rows(
    rt: Runtime, actor: Actor, checks: Sequence[rules.RowCheck], existing: dict[str, Subscriber], job: Job
) -> dict[str, Any]:
    """Apply the previewed changes one subscriber at a time through the subscriber operations (audit
    and router triggers included); a row that fails is reported and the others go on."""
    updated = 0
    failures: list[dict[str, Any]] = []
    pending = ok = bad = 0
    for check in checks:
        sub = existing[check.username.lower()]
        changes = {k: v for k, v in check.values.items() if k in _PLAIN}
        try:
            if changes:
                res = subs.update_subscriber(rt, actor, sub.id, changes)
                if (
                    _SERVICE & set(res.changed)
                    and res.router.status == "not_needed"
                    and res.subscriber.gateway_id
                ):
                    subs.sync(rt, actor, res.subscriber, "import update")
            if check.values.get("password"):
                lifecycle.change_password(
                    rt, actor, sub.id, {"password": check.values["password"], "random": False}
                )
            updated += 1
            ok += 1
        except DomainError as exc:
            failures.append(
                {
                    "row": check.row,
                    "username": check.username,
                    "errors": [{"field": exc.field or "row", "reason": exc.message}],
                }
            )
            bad += 1
        pending += 1
        if pending >= PROGRESS_EVERY:
            job_store.add_progress(job, ok, bad)
            pending = ok = bad = 0
    if pending:
        job_store.add_progress(job, ok, bad)
    return {"updated": updated, "failed": len(failures), "failures": failures}
