"""Property-based fuzz of the admin API over its own /openapi.json: at least 1,000 generated requests
(valid and malformed: missing fields, wrong types, unknown ids, oversized bodies, invalid JSON,
unknown fields, bad query values, bad or missing credentials). No response is a 5xx, every status is
documented for its operation and every body validates against the document; every 4xx names its
error (and a 422 its field)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from hypothesis import note
from hypothesis import strategies as st

from tests.integration.api.support import Api, ok
from tests.integration.openapi_fuzz import DrawnRequest, SchemaStrategies, draw_request, run_requests, send

# The admin API of this issue (other teams' routes are fuzzed by their own suites)
ADMIN_TAGS = {
    "auth",
    "operators",
    "api-keys",
    "tenants",
    "zones",
    "gateways",
    "policies",
    "products",
    "subscribers",
    "lifecycle",
    "audit",
    "meta",
}
MIN_REQUESTS = 1_000
EXAMPLES = 1_100


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    ops = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            if set(op.get("tags", [])) & ADMIN_TAGS:
                ops.append((path, method.upper(), op))
    return sorted(ops, key=lambda o: (o[0], o[1]))


def _known_ids(api: Api, admin: dict[str, str], demo: Any) -> list[str]:
    other = ok(api.post("/admin/tenants", admin, {"name": "Fuzz other", "kind": "manager"}), 201)
    foreign = ok(api.post("/admin/subscribers", admin, {"username": "fz", "tenant_id": other["id"]}), 201)
    key = ok(api.post("/admin/api-keys", admin, {"name": "fuzz"}), 201)
    return [
        demo.subscriber_id,
        demo.zone_id,
        demo.gateway_id,
        demo.policy_id,
        demo.product_id,
        demo.tenant_id,
        demo.reseller_id,
        demo.system_id,
        demo.operator_id,
        demo.admin_id,
        key["id"],
        other["id"],
        foreign["subscriber"]["id"],
        "sub_00000000000000000000",
        "ten_unknown",
    ]


@pytest.mark.slow
def test_fuzz_admin_api_against_its_openapi_document(api: Api, admin, manager, demo):
    doc = ok(api.get("/openapi.json"))
    sch = SchemaStrategies(doc)
    ops = _operations(doc)
    assert len(ops) >= 60
    known = _known_ids(api, admin, demo)
    read_only = api.operator(demo.tenant_id, "read_only")
    auths = (
        [admin] * 4
        + [manager] * 4
        + [read_only, {}, {"Authorization": "Bearer forged.token"}, {"X-Api-Key": "key_nope.secret"}]
    )
    started = time.monotonic()

    def one_request(data: st.DataObject) -> int:
        req = draw_request(
            data, sch, ops, known, auths, json_content_types=("application/json",) * 9 + ("text/plain",)
        )
        return int(send_and_check(api.client, sch, req).status_code)

    by_status = run_requests(EXAMPLES, one_request)
    elapsed = time.monotonic() - started
    requests = sum(by_status.values())
    print(f"fuzz: {requests} requests in {elapsed:.1f}s, statuses {sorted(by_status.items())}")
    assert requests >= MIN_REQUESTS
    # the run reached the handlers, not only the validation layer
    assert by_status.get(200, 0) + by_status.get(201, 0) >= 100
    assert by_status.get(422, 0) >= 100 and by_status.get(404, 0) >= 20


def send_and_check(client: Any, sch: SchemaStrategies, req: DrawnRequest) -> Any:
    """Send one drawn request and check its answer against the document (see :func:`_check_response`);
    an uploaded file is not a JSON body to validate."""
    body_valid: bool | None = None
    if req.raw is not None and req.kind != "upload":
        body_schema = req.op["requestBody"]["content"]["application/json"]["schema"]
        body_valid = _valid_json(sch, body_schema, req.raw)
    note(f"{req.method} {req.url} {req.headers} body={req.kind} {req.raw[:300] if req.raw else b''!r}")
    resp = send(client, req)
    _check_response(sch, req.op, req.method, req.url, req.kind, resp, body_valid)
    return resp


def _valid_json(sch: SchemaStrategies, schema: dict[str, Any], raw: bytes) -> bool:
    """Whether the request body is valid JSON that the operation's request schema accepts."""
    try:
        value = json.loads(raw)
    except ValueError:
        return False
    return len(raw) <= 1_000_000 and sch.validator(schema).is_valid(value)


def _check_response(
    sch: SchemaStrategies,
    op: dict[str, Any],
    method: str,
    url: str,
    kind: str,
    resp: Any,
    body_valid: bool | None,
) -> None:
    status = resp.status_code
    where = f"{method} {url} ({kind}) -> {status}: {resp.body[:500]!r}"
    assert status < 500, where
    spec = op["responses"].get(str(status))
    assert spec is not None, f"undocumented status {where}"
    ctype = resp.headers.get("Content-Type", "")
    content = spec.get("content", {})
    if "application/json" in content:
        assert ctype.startswith("application/json"), where
        body = resp.json_body
        errors = sorted(sch.validator(content["application/json"]["schema"]).iter_errors(body), key=str)
        assert not errors, f"{where}\n{errors[0]}"
        if status >= 400:
            err = body["error"]
            assert err["code"] and err["message"], where
            if status == 422:
                assert err.get("field"), f"422 without field: {where}"
    else:
        media = next(iter(content))
        assert re.match(re.escape(media.split(";")[0]), ctype), where
    if body_valid is False:
        # a body the document's request schema rejects is never accepted
        assert status >= 400, f"accepted an invalid body: {where}"
