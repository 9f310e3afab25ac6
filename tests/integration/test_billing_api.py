"""Billing admin routes through Chalice's test client; invoice PDFs parsed back with pypdf."""

from __future__ import annotations

import base64
import io
import json

import pytest
from chalice.test import Client
from pypdf import PdfReader

from services import billing
from shared.tokens import issue_operator_token
from store.models import Operator, Payment, Tenant
from tests.integration.billing_support import NOW, enable_router_api, make_sub, reload, set_zone

# 1×1 PNG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture
def client(runtime, demo):
    set_zone(demo.zone_id, 28, 28, 1, 5)
    from api.app import app

    with Client(app) as c:
        yield c


def _h(rt, operator_id="op_demo_manager", tenant_id="ten_demo", role="manager", **extra):
    return {"Authorization": "Bearer " + issue_operator_token(rt.signer, operator_id, tenant_id, role, 3600),
            "Content-Type": "application/json", **extra}


def _post(client, path, rt, body, **headers):
    return client.http.post(path, headers=_h(rt, **headers), body=json.dumps(body))


def test_invoice_payment_and_pdf_through_the_api(runtime, demo, client):
    enable_router_api("gw_demo")
    Tenant.get("ten_demo").update(actions=[Tenant.logo_url.set("data:image/png;base64," + base64.b64encode(PNG).decode()),
                                           Tenant.company_name.set("Demo WISP S.A.")])
    sub = make_sub(runtime.box, "apiuser", status="suspended")
    billing.run_tenant_invoices(runtime, "ten_demo", NOW)

    listed = client.http.get(f"/admin/invoices?subscriber_id={sub.id}", headers=_h(runtime)).json_body
    [inv] = listed["items"]
    assert (inv["id"], inv["total"], inv["status"]) == ("inv#sub_apiuser#2026-06", "25.00", "pending")
    # view by the path-safe id and by the URL-encoded one
    assert client.http.get(f"/admin/invoices/{inv['path_id']}", headers=_h(runtime)).json_body["number"] == inv["number"]
    assert client.http.get("/admin/invoices/inv%23sub_apiuser%232026-06", headers=_h(runtime)).status_code == 200

    pdf = client.http.get(f"/admin/invoices/{inv['path_id']}/pdf", headers=_h(runtime, Accept="application/pdf"))
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.body))
    text = reader.pages[0].extract_text()
    for expected in ("Demo WISP S.A.", f"No. {inv['number']}", "25.00 USD", "Apiuser", "2026-06-01 to 2026-06-30"):
        assert expected in text
    assert reader.pages[0].images  # the tenant's logo is embedded

    body = {"subscriber_id": sub.id, "amount": "25.00", "method": "transfer", "reference": "TRX-1"}
    first = _post(client, "/admin/payments", runtime, body, **{"Idempotency-Key": "api-pay-0001"})
    again = _post(client, "/admin/payments", runtime, body, **{"Idempotency-Key": "api-pay-0001"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json_body["payment"]["id"] == again.json_body["payment"]["id"] and again.json_body["replayed"]
    assert first.json_body["reactivated"] and first.json_body["sync"]["status"] == "queued"
    assert len(list(Payment.subscriber_index.query(sub.id))) == 1
    assert reload(sub).status == "active"
    # no idempotency key → 422 naming the field
    missing = _post(client, "/admin/payments", runtime, body)
    assert missing.status_code == 422 and missing.json_body["error"]["field"] == "idempotency_key"


def test_other_tenants_see_nothing(runtime, demo, client):
    sub = make_sub(runtime.box, "hidden")
    billing.run_tenant_invoices(runtime, "ten_demo", NOW)
    Tenant(id="ten_other", name="Other", kind="manager", parent_id="ten_demo_reseller", created_at="2026-01-01").save()
    Operator(id="op_other", tenant_id="ten_other", email="o@other.test", role="manager", password_hash="x",
             created_at="2026-01-01").save()
    other = _h(runtime, operator_id="op_other", tenant_id="ten_other")
    assert client.http.get("/admin/invoices/inv~sub_hidden~2026-06", headers=other).status_code == 404
    assert client.http.get("/admin/invoices", headers=other).json_body["items"] == []
    resp = client.http.post("/admin/payments", headers=other,
                            body=json.dumps({"subscriber_id": sub.id, "amount": "1", "idempotency_key": "other-0001"}))
    assert resp.status_code == 404
    assert client.http.get(f"/admin/subscribers/{sub.id}/extras", headers=other).status_code == 404


def test_manual_invoices_extras_runs_and_reports(runtime, demo, client):
    sub = make_sub(runtime.box, "manual")
    free = _post(client, "/admin/invoices", runtime, {"subscriber_id": sub.id, "kind": "internet", "period": "2026-06",
                                                        "amount": "0"})
    assert free.status_code == 201 and free.json_body["status"] == "paid"
    dup = _post(client, "/admin/invoices", runtime, {"subscriber_id": sub.id, "kind": "internet", "period": "2026-06"})
    assert dup.status_code == 409
    other = _post(client, "/admin/invoices", runtime, {"subscriber_id": sub.id, "kind": "other",
                                                        "lines": [{"description": "Antenna", "unit_price": "80"}]})
    assert other.json_body["total"] == "80.00"
    bad = _post(client, "/admin/subscribers/%s/extras" % sub.id, runtime,
                {"name": "Install", "price": "90", "mode": "installments", "installments": 1})
    assert bad.status_code == 422 and bad.json_body["error"]["field"] == "installments"
    ok = _post(client, "/admin/subscribers/%s/extras" % sub.id, runtime,
               {"name": "Install", "price": "90", "mode": "installments", "installments": 3})
    assert ok.status_code == 201 and ok.json_body["description"] == "Install"
    run = _post(client, "/admin/billing/runs", runtime, {"kind": "invoices", "tenant_id": "ten_demo"})
    assert run.status_code == 200
    runs = client.http.get("/admin/billing/runs", headers=_h(runtime)).json_body["items"]
    assert runs and runs[0]["kind"] == "billing_invoices"
    report = client.http.get("/admin/reports/sales?group_by=product", headers=_h(runtime)).json_body
    assert {r["name"] for r in report["rows"]} >= {"Antenna"}
    by_manager = client.http.get("/admin/reports/sales?group_by=manager", headers=_h(runtime)).json_body
    assert [r["key"] for r in by_manager["rows"]] == ["ten_demo"]
    cancel = client.http.post(f"/admin/invoices/{other.json_body['path_id']}/cancel", headers=_h(runtime))
    assert cancel.status_code == 200 and cancel.json_body["status"] == "cancelled"
    again = client.http.post(f"/admin/invoices/{other.json_body['path_id']}/cancel", headers=_h(runtime))
    assert again.status_code == 409
