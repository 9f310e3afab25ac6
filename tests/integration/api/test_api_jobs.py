"""Export and bulk-action jobs through the admin API and the jobs worker's code path: the export file
equals the synchronous export, the work crosses many runs (a page each here) without losing or
repeating a row, progress shows as it goes, and a finished job links its file in S3.

The module's settings make every run hand over after one page (a time budget of 0 s), pages small
and file parts small (moto's smallest part lowered to match), so a few dozen subscribers cross many
checkpoints and several multipart parts.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import moto.s3.models
import pytest
import requests

from core.ids import new_id, now_iso, utcnow
from infra.local import jobs_worker
from jobs.handler import process_event
from services.jobs import queue, runner
from shared.runtime import Runtime
from store import jobs as job_store
from store import subscribers as store
from store.models import Job, Operator, Subscriber
from tests.integration.api.support import Api, err, ok, stored

N = 47
PAGE = 7


@pytest.fixture(scope="module")
def world_settings() -> dict[str, Any]:
    return {"job_time_budget_s": 0, "job_page_size": PAGE, "job_bulk_page_size": 4, "job_part_bytes": 2048}


@pytest.fixture(autouse=True)
def empty_queue(runtime: Runtime) -> None:
    # the module's world keeps its queues between tests: a job message of an earlier test goes
    sqs, url = runtime.aws.client("sqs"), queue.queue_url(runtime)
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture(autouse=True)
def small_parts(monkeypatch):
    # parts of 2 KiB instead of S3's 5 MiB: every part but the last must still reach moto's minimum
    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", 1024)


def _seed(api: Api, demo, n: int = N) -> dict[str, str]:
    manager = api.as_(demo.operator_id, demo.tenant_id, "manager")
    cheap = ok(api.post("/admin/products", manager, {"name": "Basic", "price": "10"}), 201)
    ids = {}
    for i in range(n):
        sub = Subscriber(
            id=new_id("sub"),
            tenant_id=demo.tenant_id,
            username=f"{('ana', 'Bruno', 'carla', 'dario')[i % 4]}{i:03d}",
            password_enc="x",
            status=("active", "active", "suspended", "new", "free")[i % 5],
            name=f"{('María', 'José', '=Lucía')[i % 3]} {i}",
            phone=f"+52 55 {i:04d} 1111" if i % 2 else None,
            ip=f"10.1.0.{i}" if i % 3 else None,
            product_id=cheap["id"] if i % 3 == 0 else demo.product_id,
            price_override="99.90" if i % 7 == 0 else None,
            zone_id=demo.zone_id if i % 4 == 0 else None,
            gateway_id=demo.gateway_id if i % 2 == 0 else None,
            created_at=now_iso(),
        )
        store.create(sub)
        ids[sub.username] = sub.id
    return ids


def _run_all(rt: Runtime) -> int:
    """Run the queued job messages as the local worker does; how many runs it took."""
    return jobs_worker.drain(rt)


def _job(api: Api, who, job_id: str) -> dict[str, Any]:
    return ok(api.get(f"/admin/jobs/{job_id}", who))


def _download(job: dict[str, Any]) -> bytes:
    assert job["status"] == "done" and job["download_url"], job
    resp = requests.get(job["download_url"], timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.content


def _csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


# ---------------------------------------------------------------- export
@pytest.mark.parametrize(
    "query",
    [
        {},
        {"sort": "-username"},
        {"status": "active"},
        {"status": "blocked", "sort": "-username"},
        {"zone_id": "ZONE"},
        {"gateway_id": "GATEWAY", "status": "active"},
        {"q": "bruno0"},
        {"sort": "price"},
        {"sort": "-created_at", "status": "active"},
        {"sort": "name", "product_id": "PRODUCT"},
    ],
    ids=lambda q: "&".join(f"{k}={v}" for k, v in q.items()) or "all",
)
def test_export_job_file_equals_the_synchronous_export(api: Api, runtime, manager, demo, query):
    _seed(api, demo)
    names = {"ZONE": demo.zone_id, "GATEWAY": demo.gateway_id, "PRODUCT": demo.product_id}
    query = {k: names.get(v, v) for k, v in query.items()}
    started = ok(api.post("/admin/subscribers/export-jobs", manager, query), 202)
    assert started["kind"] == "subscriber_export" and started["status"] == "pending"
    assert started["done"] == 0 and started["download_url"] is None
    assert started["params"]["filter"] == {k: v for k, v in query.items() if k != "sort"}
    runs = _run_all(runtime)
    job = _job(api, manager, started["id"])
    sync = api.get("/admin/subscribers/export?" + "&".join(f"{k}={v}" for k, v in query.items()), manager)
    assert sync.status_code == 200
    rows = _csv(sync.body)
    assert rows, "the filter matches nothing: a weak test"
    assert _download(job) == sync.body  # the same bytes: BOM, header, rows, order
    assert job["rows"] == job["done"] == job["total"] == len(rows)
    assert runs >= 2


def test_export_job_of_a_tenant_subtree_equals_the_synchronous_export(api: Api, runtime, admin, demo):
    _seed(api, demo, 20)
    other = ok(api.post("/admin/tenants", admin, {"name": "Other", "kind": "manager"}), 201)
    for name in ("ana001", "zoe", "Bruno"):  # one username also used in the demo tenant
        ok(api.post("/admin/subscribers", admin, {"username": name, "tenant_id": other["id"]}), 201)
    for query in ("", "sort=-name", f"tenant_id={other['id']}"):
        body = dict(p.split("=") for p in query.split("&") if p)
        job_id = ok(api.post("/admin/subscribers/export-jobs", admin, body), 202)["id"]
        _run_all(runtime)
        sync = api.get(f"/admin/subscribers/export?{query}", admin).body
        data = _download(_job(api, admin, job_id))
        if query:
            assert data == sync, query
        else:  # the same rows; two tenants' "ana001" in either order (the walk orders them by tenant)
            assert sorted(data.splitlines()) == sorted(sync.splitlines())
            names = [r["username"].lower() for r in _csv(data)]
            assert names == sorted(names) and len(names) == 20 + 1 + 3


def test_export_job_total_is_known_from_the_counters_where_they_tell(api: Api, runtime, manager, demo):
    _seed(api, demo)
    everyone = ok(api.post("/admin/subscribers/export-jobs", manager, {}), 202)
    assert everyone["total"] == N + 1  # the demo subscriber too
    active = ok(api.post("/admin/subscribers/export-jobs", manager, {"status": "active"}), 202)
    assert active["total"] == sum(1 for i in range(N) if i % 5 in (0, 1)) + 1
    by_zone = ok(api.post("/admin/subscribers/export-jobs", manager, {"zone_id": demo.zone_id}), 202)
    assert by_zone["total"] is None  # known when the job ends
    _run_all(runtime)
    in_zone = sum(1 for i in range(N) if i % 4 == 0) + 1  # the demo subscriber is in the demo zone
    assert _job(api, manager, by_zone["id"])["total"] == in_zone


def test_export_job_shows_progress_and_continues_across_runs(api: Api, runtime, manager, demo):
    _seed(api, demo)
    job_id = ok(api.post("/admin/subscribers/export-jobs", manager, {"sort": "-username"}), 202)["id"]
    seen, parts = [], 0
    while jobs_worker.poll_once(runtime):
        job = _job(api, manager, job_id)
        seen.append(job["done"])
        parts = max(parts, len(((Job.get(job_id).checkpoint or {}).get("upload") or {}).get("parts", [])))
        if job["status"] == "running":
            assert job["download_url"] is None and job["total"] == N + 1
    pages = -(-(N + 1) // PAGE)
    assert len(seen) == pages  # one page per run (a budget of 0 s), each run continued by the next
    assert seen == sorted(seen) and seen[0] == PAGE and seen[-1] == N + 1
    assert parts >= 2  # the file went up in several multipart parts
    data = _download(_job(api, manager, job_id))
    names = [r["username"] for r in _csv(data)]
    assert len(names) == len(set(names)) == N + 1
    assert names == sorted(names, key=str.lower, reverse=True)
    # the pages kept while the job ran are gone; the file stays
    job = Job.get(job_id)
    listed = runtime.aws.client("s3").list_objects_v2(
        Bucket=runtime.settings.documents_bucket, Prefix=job_store.file_key(job, "")
    )
    assert [o["Key"].rsplit("/", 1)[-1] for o in listed.get("Contents", [])] == ["subscribers.csv"]
    assert job.checkpoint is None and job.lease_token is None


def test_a_duplicate_message_or_a_held_lease_never_writes_a_row_twice(api: Api, runtime, manager, demo):
    _seed(api, demo)
    job_id = ok(api.post("/admin/subscribers/export-jobs", manager, {"sort": "name"}), 202)["id"]
    body = f'{{"v":1,"job_id":"{job_id}"}}'
    assert runner.run_message(runtime, body, 0) == "continued"  # the scan's first page
    queue.send(runtime, job_id)  # a duplicate of the continuation
    # another run holds the job: a message meanwhile does nothing
    job = Job.get(job_id)
    now = utcnow().timestamp()
    assert job_store.take_lease(job, "lease_other", now, now + 300)
    assert runner.run_message(runtime, body, 0) == "held"
    # that run died: its lease runs out and its message comes back; the work goes on from the checkpoint
    job.update(actions=[Job.lease_until.set(now - 1)])
    assert _run_all(runtime) >= 3
    job = _job(api, manager, job_id)
    names = [r["name"] for r in _csv(_download(job))]
    assert len(names) == N + 1 and job["done"] == N + 1
    assert runner.run_message(runtime, body, 0) == "ignored"  # a late message for a finished job


def test_a_run_that_fails_leaves_the_job_for_the_next_delivery(api: Api, runtime, manager, demo, monkeypatch):
    _seed(api, demo)
    job_id = ok(api.post("/admin/subscribers/export-jobs", manager, {}), 202)["id"]
    assert jobs_worker.poll_once(runtime) == 1
    from services.subscribers import lists

    real = lists.walk_page

    def broken(*args, **kwargs):
        raise RuntimeError("DynamoDB went away")

    monkeypatch.setattr(lists, "walk_page", broken)
    with pytest.raises(RuntimeError):
        jobs_worker.poll_once(runtime)  # the message stays on the queue (hidden until its timeout)
    job = Job.get(job_id)
    assert job.status == "running" and job.lease_token is None and job.done == PAGE
    monkeypatch.setattr(lists, "walk_page", real)
    queue.send(runtime, job_id)  # the delivery after the visibility timeout
    _run_all(runtime)
    names = [r["username"] for r in _csv(_download(_job(api, manager, job_id)))]
    assert len(names) == len(set(names)) == N + 1


def test_a_run_that_dies_after_writing_the_file_leaves_it_whole(
    api: Api, runtime, manager, demo, monkeypatch
):
    _seed(api, demo, 10)
    job_id = ok(api.post("/admin/subscribers/export-jobs", manager, {}), 202)["id"]
    real = job_store.finish_leased

    def dies(*args, **kwargs):
        raise RuntimeError("the function timed out")

    monkeypatch.setattr(job_store, "finish_leased", dies)
    with pytest.raises(RuntimeError):
        jobs_worker.drain(runtime)  # the last run joins the parts, then dies before saying so
    assert Job.get(job_id).status == "running"
    monkeypatch.setattr(job_store, "finish_leased", real)
    queue.send(runtime, job_id)  # its message, back after the visibility timeout
    assert _run_all(runtime) == 1
    job = _job(api, manager, job_id)
    assert _download(job) == api.get("/admin/subscribers/export", manager).body and job["rows"] == 11


def test_the_lambda_handler_runs_within_the_functions_remaining_time(api: Api, runtime, manager, demo):
    _seed(api, demo, 3)
    job_id = ok(api.post("/admin/subscribers/export-jobs", manager, {}), 202)["id"]

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 900_000

    event = {"Records": [{"body": f'{{"v":1,"job_id":"{job_id}"}}'}]}
    assert process_event(runtime, event, Context()) == {"jobs": ["done"]}  # 4 rows: one page
    assert process_event(runtime, {"Records": [{"body": "not json"}]}) == {"jobs": ["ignored"]}
    assert _job(api, manager, job_id)["rows"] == 4


# ---------------------------------------------------------------- bulk actions
def _report(job: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {r["subscriber_id"]: r for r in _csv(_download(job))}


def test_bulk_job_by_ids_reports_each_subscriber(api: Api, runtime, manager, admin, demo):
    ids = _seed(api, demo, 20)
    other = ok(api.post("/admin/tenants", admin, {"name": "Other", "kind": "manager"}), 201)
    foreign = ok(api.post("/admin/subscribers", admin, {"username": "x", "tenant_id": other["id"]}), 201)
    foreign_id = foreign["subscriber"]["id"]
    targets = [*ids.values(), "sub_does_not_exist", foreign_id, next(iter(ids.values()))]
    started = ok(
        api.post(
            "/admin/subscribers/bulk-jobs/suspend", manager, {"subscriber_ids": targets, "reason": "cut"}
        ),
        202,
    )
    assert started["kind"] == "subscriber_bulk" and started["total"] == 22  # the duplicate counted once
    assert started["params"]["action"] == "suspend" and "subscriber_ids" not in started["params"]
    assert _run_all(runtime) == 6  # pages of 4
    job = _job(api, manager, started["id"])
    was_active = [sid for i, sid in enumerate(ids.values()) if i % 5 != 2]  # active, new, free
    assert (
        job["status"] == "done" and job["done"] == len(was_active) and job["failed"] == 22 - len(was_active)
    )
    report = _report(job)
    assert len(report) == 22
    for sid in ids.values():
        line = report[sid]
        if sid in was_active:
            assert line["ok"] == "yes" and stored(sid).status == "suspended"
        else:
            assert line["ok"] == "no" and line["error_code"] == "invalid_state" and line["message"]
    assert report["sub_does_not_exist"]["error_code"] == "not_found"
    assert report[foreign_id]["error_code"] == "not_found" and stored(foreign_id).status == "new"
    # the audit entries the synchronous bulk makes, as the operator who started the job
    log = ok(api.get(f"/admin/subscribers/{was_active[0]}/audit", manager))["items"]
    assert log[0]["action"] == "suspend" and log[0]["actor_id"] == demo.operator_id


def test_bulk_job_by_filter_acts_on_every_match_once(api: Api, runtime, manager, demo):
    ids = _seed(api, demo, 30)
    body = {"filter": {"status": "active", "gateway_id": demo.gateway_id}, "reason": "maintenance"}
    started = ok(api.post("/admin/subscribers/bulk-jobs/suspend", manager, body), 202)
    assert started["total"] is None
    _run_all(runtime)
    job = _job(api, manager, started["id"])
    want = {sid for i, sid in enumerate(ids.values()) if i % 5 in (0, 1) and i % 2 == 0}
    want.add(demo.subscriber_id)  # active, on the demo gateway
    assert set(_report(job)) == want  # suspending them took them out of the filter: none skipped
    assert job["done"] == job["total"] == len(want) and job["failed"] == 0
    for i, sid in enumerate(ids.values()):
        before = ("active", "active", "suspended", "new", "free")[i % 5]
        assert stored(sid).status == ("suspended" if sid in want else before)
    # a filter walked in the tenant's username order, checked row by row (no index for the zone)
    started = ok(
        api.post("/admin/subscribers/bulk-jobs/free", manager, {"filter": {"zone_id": demo.zone_id}}), 202
    )
    _run_all(runtime)
    job = _job(api, manager, started["id"])
    in_zone = {sid for i, sid in enumerate(ids.values()) if i % 4 == 0} | {demo.subscriber_id}
    report = _report(job)
    assert set(report) == in_zone
    assert job["done"] + job["failed"] == len(in_zone) == job["total"]


def test_bulk_job_validation_names_the_field(api: Api, manager, demo):
    post = lambda action, body: api.post(f"/admin/subscribers/bulk-jobs/{action}", manager, body)  # noqa: E731
    err(post("suspend", {}), 422, "subscriber_ids")
    err(post("suspend", {"subscriber_ids": ["sub_1"], "filter": {}}), 422, "filter")
    err(post("suspend", {"subscriber_ids": []}), 422, "subscriber_ids")
    err(post("suspend", {"subscriber_ids": ["bad id!"]}), 422, "subscriber_ids.0")
    err(post("suspend", {"subscriber_ids": ["sub_1"], "reasno": "typo"}), 422, "reasno")
    err(post("suspend", {"filter": {"status": "sleeping"}}), 422, "filter.status")
    err(post("recharge", {"subscriber_ids": ["sub_1"]}), 422, "product_id")
    err(post("delete", {"subscriber_ids": ["sub_1"], "mode": "system_router"}), 422, "mode")
    err(post("suspend", {"filter": {"tenant_id": "ten_nowhere"}}), 404)
    too_many = [f"sub_{i:020x}" for i in range(100_001)]
    err(post("suspend", {"subscriber_ids": too_many}), 422, "subscriber_ids")
    many = ok(post("suspend", {"subscriber_ids": too_many[:100_000]}), 202)
    assert many["total"] == 100_000
    export = lambda body: api.post("/admin/subscribers/export-jobs", manager, body)  # noqa: E731
    err(export({"sort": "password"}), 422, "sort")
    err(export({"format": "xlsx"}), 422, "format")
    err(export({"status": "sleeping"}), 422, "status")
    err(export({"tenant_id": "ten_nowhere"}), 404)


def test_jobs_are_seen_only_inside_the_tenant_subtree(api: Api, runtime, manager, admin, demo):
    other = ok(api.post("/admin/tenants", admin, {"name": "Other", "kind": "manager"}), 201)
    stranger = api.operator(other["id"], "manager")
    job_id = ok(api.post("/admin/subscribers/export-jobs", manager, {}), 202)["id"]
    _run_all(runtime)
    err(api.get(f"/admin/jobs/{job_id}", stranger), 404, "job_id")
    assert ok(api.get("/admin/jobs", stranger))["items"] == []
    assert _job(api, admin, job_id)["download_url"]  # the system tenant is above the manager's
    listed = ok(api.get("/admin/jobs?kind=subscriber_export", manager))["items"]
    assert [j["id"] for j in listed] == [job_id]
    err(api.get("/admin/jobs/job_does_not_exist", manager), 404, "job_id")
    # a stranger's bulk job by ids cannot reach this tenant's subscribers
    started = ok(
        api.post("/admin/subscribers/bulk-jobs/suspend", stranger, {"subscriber_ids": [demo.subscriber_id]}),
        202,
    )
    _run_all(runtime)
    job = _job(api, stranger, started["id"])
    assert job["failed"] == 1 and stored(demo.subscriber_id).status == "active"


def test_roles_that_may_not_act_are_refused(api: Api, runtime, demo):
    viewer = api.operator(demo.tenant_id, "read_only")
    operator = api.operator(demo.tenant_id, "operator")
    err(api.post("/admin/subscribers/bulk-jobs/suspend", viewer, {"subscriber_ids": ["sub_1"]}), 403)
    err(api.post("/admin/subscribers/bulk-jobs/delete", operator, {"subscriber_ids": ["sub_1"]}), 403)
    ok(api.post("/admin/subscribers/export-jobs", viewer, {}), 202)  # every staff role may export
    # a role taken away after the start stops the job at its next run
    started = ok(
        api.post("/admin/subscribers/bulk-jobs/suspend", operator, {"subscriber_ids": [demo.subscriber_id]}),
        202,
    )
    op_id = started["created_by"]
    Operator.get(op_id).update(actions=[Operator.role.set("read_only")])
    _run_all(runtime)
    job = _job(api, viewer, started["id"])
    assert job["status"] == "failed" and "operator role" in job["result"]["error"]
    assert job["download_url"] is None and stored(demo.subscriber_id).status == "active"
