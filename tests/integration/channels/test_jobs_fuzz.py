"""Property-based fuzz of the background-job routes (export and bulk-action jobs, the job list and
reads) and the manual payment reversal over the app's own /openapi.json: valid and malformed
requests, unknown and foreign ids. No response is a 5xx, every status is documented, every JSON body
validates against the document and every 4xx names its error (a 422 its field)."""

from __future__ import annotations

import time
from typing import Any

from hypothesis import note
from hypothesis import strategies as st

from tests.integration.channels.support import Http
from tests.integration.channels.test_channels_fuzz import _check
from tests.integration.openapi_fuzz import SchemaStrategies, draw_request, run_requests, send

EXAMPLES = 250


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    ops = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            if "jobs" in op.get("tags", []) or path == "/admin/payments/{payment_id}/reverse":
                ops.append((path, method.upper(), op))
    return sorted(ops, key=lambda o: (o[0], o[1]))


def test_fuzz_job_and_reversal_routes_against_the_openapi_document(http: Http) -> None:
    doc = http.get("/openapi.json").json_body
    sch = SchemaStrategies(doc)
    ops = _operations(doc)
    assert len(ops) >= 10
    m = http.manager()
    job = http.post("/admin/subscribers/export-jobs", m, {"status": "active"})
    assert job.status_code == 202, job.body
    http.other_manager()
    known = [
        http.demo.subscriber_id,
        http.demo.tenant_id,
        http.demo.product_id,
        job.json_body["id"],
        "ten_other",
        "pay_00000000000000000000",
        "job_00000000000000000000",
    ]
    auths = [m] * 5 + [
        http.as_(http.demo.admin_id, http.demo.system_id, "system_admin"),
        {},
        {"Authorization": "Bearer forged.token"},
    ]
    started = time.monotonic()

    def one_request(data: st.DataObject) -> int:
        req = draw_request(data, sch, ops, known, auths)
        note(f"{req.method} {req.url} body={req.kind} {req.raw[:200] if req.raw else b''!r}")
        resp = send(http.client, req)
        _check(sch, req.op, req.method, req.url, req.kind, resp)
        return int(resp.status_code)

    by_status = run_requests(EXAMPLES, one_request)
    print(
        f"jobs fuzz: {sum(by_status.values())} requests in {time.monotonic() - started:.1f}s, "
        f"statuses {sorted(by_status.items())}"
    )
    assert sum(by_status.values()) >= EXAMPLES
    assert by_status.get(202, 0) >= 5 and by_status.get(422, 0) >= 20 and by_status.get(404, 0) >= 5
