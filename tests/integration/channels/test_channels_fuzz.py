"""Property-based fuzz of the subscriber-channel routes (cards and vouchers, credentials, registration,
imports) over the app's own /openapi.json: valid and malformed requests, unknown and foreign ids,
garbage uploads. No response is a 5xx, every status is documented, every JSON body validates against
the document and every 4xx names its error (a 422 its field)."""

from __future__ import annotations

import re
import time
from typing import Any

from hypothesis import note
from hypothesis import strategies as st

from core.ids import now_iso
from store.models import Gateway, Product
from tests.integration.channels.support import Http
from tests.integration.openapi_fuzz import SchemaStrategies, draw_request, run_requests, send

TAGS = {"vouchers", "credentials", "registration", "imports"}
EXAMPLES = 400
UPLOADS = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [
            b"username,plan\nfz1,Home 10M\nfz2,nope\n",
            b"usuario;plan;ip\nfz3;prod_demo;10.1.1.300\n",
            b"PK\x03\x04garbage",
            b"\xd0\xcf\x11\xe0old-xls",
            b"",
        ]
    ),
)


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    ops = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            if set(op.get("tags", [])) & TAGS:
                ops.append((path, method.upper(), op))
    return sorted(ops, key=lambda o: (o[0], o[1]))


def _world(http: Http) -> list[str]:
    """Objects the fuzz can hit by id: a card batch and its codes, an import job, a hotspot with
    registration on, plus the demo ids and another tenant's."""
    demo, now = http.demo, now_iso()
    Product(
        id="prod_card",
        tenant_id=demo.tenant_id,
        name="Card",
        price="1",
        connection_type="hotspot",
        created_at=now,
    ).save()
    Gateway(
        id="gw_fz",
        tenant_id=demo.tenant_id,
        name="Fuzz hotspot",
        nas_ip="10.77.0.1",
        plan_type="hotspot",
        radius_secret_enc=http.rt.box.encrypt("x"),
        api_enabled=False,
        domain_settings={"registration": {"mode": "register", "verify": "email", "products": ["prod_card"]}},
        created_at=now,
    ).save()
    m = http.manager()
    batch = http.post("/admin/voucher-batches", m, {"product_id": "prod_card", "count": 3}).json_body
    codes = (
        http.get(f"/admin/voucher-batches/{batch['id']}/export", m).body.decode("utf-8-sig").splitlines()[1:]
    )
    job = http.post(
        "/admin/imports", m, raw=b"username,plan\nfzx,Home 10M\n", headers={"Content-Type": "text/csv"}
    ).json_body["job"]
    http.other_manager()
    return [
        demo.subscriber_id,
        demo.tenant_id,
        demo.gateway_id,
        demo.product_id,
        batch["id"],
        job["id"],
        codes[0].split(",")[0],
        "gw_fz",
        "ten_other",
        "sub_00000000000000000000",
    ]


def test_fuzz_channel_routes_against_the_openapi_document(http: Http) -> None:
    doc = http.get("/openapi.json").json_body
    sch = SchemaStrategies(doc)
    ops = _operations(doc)
    assert len(ops) >= 20
    known = _world(http)
    auths = [http.manager()] * 5 + [
        http.as_(http.demo.admin_id, http.demo.system_id, "system_admin"),
        {},
        {"Authorization": "Bearer forged.token"},
    ]
    started = time.monotonic()

    def one_request(data: st.DataObject) -> int:
        req = draw_request(data, sch, ops, known, auths, uploads=UPLOADS)
        note(f"{req.method} {req.url} body={req.kind} {req.raw[:200] if req.raw else b''!r}")
        resp = send(http.client, req)
        _check(sch, req.op, req.method, req.url, req.kind, resp)
        return int(resp.status_code)

    by_status = run_requests(EXAMPLES, one_request)
    print(
        f"channels fuzz: {sum(by_status.values())} requests in {time.monotonic() - started:.1f}s, "
        f"statuses {sorted(by_status.items())}"
    )
    assert sum(by_status.values()) >= EXAMPLES
    assert by_status.get(200, 0) + by_status.get(201, 0) >= 20
    assert by_status.get(422, 0) >= 40 and by_status.get(404, 0) >= 10


def _check(sch: SchemaStrategies, op: dict[str, Any], method: str, url: str, kind: str, resp: Any) -> None:
    status = resp.status_code
    where = f"{method} {url} ({kind}) -> {status}: {resp.body[:500]!r}"
    assert status < 500, where
    spec = op["responses"].get(str(status))
    assert spec is not None, f"undocumented status {where}"
    content = spec.get("content", {})
    ctype = resp.headers.get("Content-Type", "")
    if "application/json" in content:
        assert ctype.startswith("application/json"), where
        body = resp.json_body
        errors = sorted(sch.validator(content["application/json"]["schema"]).iter_errors(body), key=str)
        assert not errors, f"{where}\n{errors[0]}"
        if status >= 400:
            assert body["error"]["code"] and body["error"]["message"], where
            if status == 422:
                assert body["error"].get("field"), f"422 without field: {where}"
    else:
        media = next(iter(content))
        assert re.match(re.escape(media.split(";")[0]), ctype), where
    if kind in ("wrong_type", "unknown_field", "not_object", "invalid_json", "oversized"):
        assert status >= 400, where
