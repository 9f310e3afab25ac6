"""Property-based fuzz of the operator routes of billing (invoices, payments, extras, billing runs,
sales reports), the portal administration (payment settings and provider accounts, payment reports,
contracts, autologin links) and provisioning (tasks, drift, export, live router reads, onboarding)
over the app's own /openapi.json: valid and malformed requests (missing fields, wrong types, unknown
fields, invalid JSON, oversized bodies, bad query values), known, unknown and foreign ids, bad or
missing credentials. No response is a 5xx, every status is documented for its operation, every JSON
body validates against the document, a body the document rejects is never accepted, and every 4xx
names its error (a 422 its field)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client
from hypothesis import strategies as st

from api.app import app
from core.ids import now_iso
from infra.local.demo import seed_demo
from shared.runtime import Runtime
from store.models import ProvisioningTask
from tests.fakes.payment_providers import ProviderDouble
from tests.integration.api.test_api_fuzz import send_and_check
from tests.integration.openapi_fuzz import SchemaStrategies, draw_request, ids_for, run_requests
from tests.integration.portal.support import Portal

TAGS = {"billing", "portal-admin", "provisioning"}
EXAMPLES = 1500


@pytest.fixture(scope="module")
def provider_api() -> Iterator[str]:
    """The payment providers' APIs served locally (account tests and checkouts never leave the host)."""
    double = ProviderDouble(stripe_keys={"sk_test_" + "a" * 30}, mp_tokens=set())
    base = double.start()
    try:
        yield base
    finally:
        double.stop()


@pytest.fixture(scope="module")
def world_settings(provider_api: str) -> dict[str, Any]:
    return {"stripe_api_base": provider_api, "mercadopago_api_base": provider_api}


@pytest.fixture
def portal(rt: Runtime) -> Iterator[Portal]:
    demo = seed_demo(rt.box)
    with Client(app) as client:
        yield Portal(client, rt, demo)


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    ops = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            if set(op.get("tags", [])) & TAGS:
                ops.append((path, method.upper(), op))
    return sorted(ops, key=lambda o: (o[0], o[1]))


def _world(portal: Portal, m: dict[str, str]) -> dict[str, list[str]]:
    """Objects the fuzz can hit by id: an invoice, a payment, an extra, a billing run, a provisioning
    task, a contract, a reported payment, plus the demo ids, the providers' names and another tenant's."""
    demo = portal.demo
    portal.enable_payments()
    inv = portal.invoice("40.00")
    pay = portal.call(
        "POST",
        "/admin/payments",
        m,
        {
            "subscriber_id": demo.subscriber_id,
            "amount": "5.00",
            "method": "cash",
            "idempotency_key": "fuzz-pay-1",
        },
    )
    assert pay.status_code == 201, pay.body
    extra = portal.post(
        f"/admin/subscribers/{demo.subscriber_id}/extras", m, {"name": "Antenna", "price": "12.00"}
    )
    assert extra.status_code == 201, extra.body
    run = portal.post("/admin/billing/runs", m, {"kind": "notices"})
    assert run.status_code == 200, run.body
    contract = portal.post(
        f"/admin/subscribers/{demo.subscriber_id}/contracts",
        m,
        {"content": "Internet service.", "start_date": "2026-01-01", "end_date": "2027-01-01"},
    )
    assert contract.status_code == 201, contract.body
    report = portal.post(
        "/portal/payments/reports",
        portal.login(),
        {"amount": "40.00", "method": "bank_transfer", "reference": "TRX-1", "paid_on": "2026-01-05"},
    )
    assert report.status_code == 201, report.body
    for status in ("failed", "succeeded"):
        ProvisioningTask(
            id=f"task_fz_{status}",
            tenant_id=demo.tenant_id,
            gateway_id=demo.gateway_id,
            kind="reconcile_subscriber",
            subscriber_id=demo.subscriber_id,
            status=status,
            attempts=1,
            created_at=now_iso(),
        ).save()
    other = portal.other_tenant()
    runs = portal.get("/admin/billing/runs", m).json_body["items"]
    return {
        "subscriber_id": [demo.subscriber_id],
        "gateway_id": [demo.gateway_id],
        "invoice_id": [inv.id],
        "payment_id": [pay.json_body["payment"]["id"], report.json_body["id"]],
        "extra_id": [extra.json_body["id"]],
        "run_id": [r["id"] for r in runs[:2]] or ["run_unknown"],
        "contract_id": [contract.json_body["id"]],
        "task_id": ["task_fz_failed", "task_fz_succeeded"],
        "provider": ["hosted", "stripe", "mercadopago"],
        "other": [demo.tenant_id, other, "sub_00000000000000000000", "inv_00000000000000000000"],
    }


@pytest.mark.slow
def test_fuzz_billing_portal_admin_and_provisioning_routes(portal: Portal) -> None:
    doc = portal.get("/openapi.json").json_body
    sch = SchemaStrategies(doc)
    ops = _operations(doc)
    assert len(ops) >= 50
    m = portal.operator()
    known = _world(portal, m)
    auths = [m] * 6 + [
        portal.operator(role="operator"),
        portal.operator(role="read_only"),
        portal.operator(portal.other_tenant()),
        {},
        {"Authorization": "Bearer forged.token"},
        {"X-Api-Key": "key_nope.secret"},
    ]
    started = time.monotonic()

    def one_request(data: st.DataObject) -> int:
        op = data.draw(st.sampled_from(ops), label="operation")
        req = draw_request(
            data,
            sch,
            [op],
            ids_for(op[0], known),
            auths,
            json_content_types=("application/json",) * 9 + ("text/plain",),
        )
        resp = send_and_check(portal.client, sch, req)
        return int(resp.status_code)

    by_status = run_requests(EXAMPLES, one_request)
    print(
        f"billing fuzz: {sum(by_status.values())} requests in {time.monotonic() - started:.1f}s, "
        f"statuses {sorted(by_status.items())}"
    )
    assert sum(by_status.values()) >= EXAMPLES
    assert by_status.get(200, 0) + by_status.get(201, 0) + by_status.get(202, 0) >= 50
    assert by_status.get(422, 0) >= 50 and by_status.get(404, 0) >= 20
