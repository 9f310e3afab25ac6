"""Property-based fuzz of the customer portal (sign-in and auto-login, account, service and usage,
invoices, checkouts and payment reports, contracts, signing links and attachments, the providers'
webhooks) over the app's own /openapi.json: valid and malformed requests, known, unknown and other
subscribers' ids, garbage uploads, bad, missing or operator credentials, webhooks without a valid
signature. No response is a 5xx, every status is documented for its operation, every JSON body
validates against the document, a body the document rejects is never accepted, an unsigned webhook
is never accepted, and every 4xx names its error (a 422 its field)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import strategies as st

from store.models import TokenRecord
from tests.integration.api.test_api_fuzz import send_and_check
from tests.integration.openapi_fuzz import SchemaStrategies, draw_request, ids_for, run_requests
from tests.integration.portal.support import Portal, enc, path_of, query_of

TAGS = {"portal", "portal-payments", "portal-contracts", "portal-auth"}
EXAMPLES = 1500
WEBHOOK = "/portal/payments/webhooks/{provider}/{tenant_id}"
UPLOADS = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [
            b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
            b"\xff\xd8\xff\xe0garbage-jpeg",
            b'{"id": "evt_1", "type": "checkout.completed", "data": {"reference": "chk_x"}}',
            b"",
        ]
    ),
)
SIGNATURES = st.one_of(
    st.just({}),
    st.builds(lambda s: {"Wisp-Signature": s}, st.sampled_from(["", "t=1,v1=00", "garbage", "t=x,v1="])),
    st.just({"Stripe-Signature": "t=1,v1=deadbeef"}),
    st.just({"x-signature": "ts=1,v1=00", "x-request-id": "r1"}),
)


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    ops = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            if set(op.get("tags", [])) & TAGS:
                ops.append((path, method.upper(), op))
    return sorted(ops, key=lambda o: (o[0], o[1]))


def _world(portal: Portal) -> tuple[dict[str, list[str]], list[str], dict[str, str]]:
    """Ids the fuzz can hit (the demo subscriber's invoices, a checkout, a contract and its attachment,
    another subscriber's invoice, the providers' names), tokens for the token queries (an auto-login
    and a signing token) and the demo subscriber's portal session."""
    demo = portal.demo
    op = portal.operator()
    portal.enable_payments()
    inv = portal.invoice("25.00")
    paid_later = portal.invoice("10.00")
    foreign = portal.invoice("5.00", portal.new_subscriber().id)
    session = portal.login()
    chk = portal.post(f"/portal/invoices/{enc(inv.id)}/checkout", session)
    assert chk.status_code == 201, chk.body
    contract = portal.post(
        f"/admin/subscribers/{demo.subscriber_id}/contracts",
        op,
        {"content": "Internet service.", "start_date": "2026-01-01", "end_date": "2027-01-01"},
    )
    assert contract.status_code == 201, contract.body
    cid = contract.json_body["id"]
    att = portal.call(
        "POST",
        f"/portal/contracts/{cid}/attachments?kind=proof_of_address",
        {**session, "Content-Type": "application/pdf"},
        raw=b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
    )
    assert att.status_code == 201, att.body
    link = portal.post(f"/admin/contracts/{cid}/signing-link", op)
    assert link.status_code == 200, link.body
    auto = portal.post(f"/admin/subscribers/{demo.subscriber_id}/autologin-link", op)
    assert auto.status_code == 201, auto.body
    tokens = [query_of(link.json_body["url"])["token"], query_of(auto.json_body["url"])["token"]]
    known = {
        "invoice_id": [inv.id, paid_later.id, foreign.id],
        "checkout_id": [chk.json_body["checkout_id"]],
        "contract_id": [cid],
        "attachment_id": [att.json_body["id"]],
        "code": [path_of(auto.json_body["short_url"]).rsplit("/", 1)[-1]],
        "provider": ["hosted", "stripe", "mercadopago"],
        "tenant_id": [demo.tenant_id, "ten_other"],
        "other": [demo.subscriber_id, "inv_00000000000000000000"],
    }
    return known, tokens, session


@pytest.mark.slow
def test_fuzz_customer_portal_routes_against_the_openapi_document(portal: Portal) -> None:
    doc = portal.get("/openapi.json").json_body
    sch = SchemaStrategies(doc)
    ops = _operations(doc)
    assert len(ops) >= 30
    known, tokens, session = _world(portal)
    other = portal.login_as(portal.new_subscriber())
    auths = [session] * 6 + [
        other,
        portal.operator(),
        {},
        {"Authorization": "Bearer forged.token"},
    ]
    started = time.monotonic()

    def one_request(data: st.DataObject) -> int:
        op = data.draw(st.sampled_from(ops), label="operation")
        if "portal-auth" in op[2].get("tags", []):
            for rec in TokenRecord.scan(TokenRecord.kind == "rate-limit"):
                rec.delete()  # every request comes from one address: keep the handlers reachable
        req = draw_request(
            data,
            sch,
            [op],
            ids_for(op[0], known),
            auths,
            json_content_types=("application/json",) * 9 + ("text/plain",),
            uploads=UPLOADS,
        )
        if "token=" not in req.url and any(
            p["name"] == "token" for p in req.op.get("parameters", []) if p["in"] == "query"
        ):
            if data.draw(st.booleans(), label="known token"):
                token = data.draw(st.sampled_from(tokens), label="token")
                req.url += ("&" if "?" in req.url else "?") + "token=" + quote(token, safe="")
        if req.path == WEBHOOK:
            req.headers.update(data.draw(SIGNATURES, label="signature"))
        resp = send_and_check(portal.client, sch, req)
        if req.path == WEBHOOK:
            # nothing is accepted from a provider without a valid signature
            assert resp.status_code >= 400, f"unsigned webhook accepted: {req.url} -> {resp.status_code}"
        return int(resp.status_code)

    by_status = run_requests(EXAMPLES, one_request)
    print(
        f"portal fuzz: {sum(by_status.values())} requests in {time.monotonic() - started:.1f}s, "
        f"statuses {sorted(by_status.items())}"
    )
    assert sum(by_status.values()) >= EXAMPLES
    assert by_status.get(200, 0) + by_status.get(201, 0) >= 50
    assert by_status.get(422, 0) >= 50 and by_status.get(404, 0) >= 20
