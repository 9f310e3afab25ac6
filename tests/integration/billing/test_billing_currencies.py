"""Money is never silently wrong: the reports, totals and dashboards over records of several currencies
(a reseller's managers in MXN and COP, a tenant whose currency changed) give each currency's figures and
never add amounts of different currencies together. Through Chalice's test client."""

from __future__ import annotations

import csv
import io
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.test import Client

from core.ids import now_iso
from shared.runtime import Runtime
from shared.tokens import issue_operator_token
from store.models import Operator, Product, Tenant
from tests.integration.billing.support import TZ, World, new_world


@pytest.fixture(scope="module")
def client(rt: Runtime) -> Iterator[Client]:
    from api.app import app

    with Client(app) as c:
        yield c


@dataclass
class Reseller:
    """A reseller with two managers: one billing in MXN, the other in COP."""

    headers: dict[str, str]
    mxn: World
    cop: World


def _manager(w: World) -> dict[str, str]:
    token = issue_operator_token(w.rt.signer, w.operator_id, w.tenant_id, "manager", 3600)
    return {"Authorization": "Bearer " + token, "Content-Type": "application/json"}


@pytest.fixture
def reseller(rt: Runtime) -> Reseller:
    sfx = secrets.token_hex(4)
    tid, op_id, now = f"ten_res_{sfx}", f"op_res_{sfx}", now_iso()
    Tenant(id=tid, name=f"Reseller {sfx}", kind="reseller", parent_id="-", timezone=TZ, created_at=now).save()
    Operator(
        id=op_id,
        tenant_id=tid,
        email=f"r-{sfx}@example.com",
        role="reseller",
        password_hash="x",
        created_at=now,
    ).save()
    mxn = new_world(rt, parent_id=tid, api_enabled=False)
    mxn.set_tenant(currency="MXN", ancestors=[tid])
    cop = new_world(rt, parent_id=tid, api_enabled=False)
    cop.set_tenant(currency="COP", ancestors=[tid])
    Product.get(cop.product_id).update(actions=[Product.price.set("60000.00")])
    token = issue_operator_token(rt.signer, op_id, tid, "reseller", 3600)
    return Reseller({"Authorization": "Bearer " + token, "Content-Type": "application/json"}, mxn, cop)


def _get(client: Client, headers: dict[str, str], path: str) -> Any:
    resp = client.http.get(path, headers=headers)
    assert resp.status_code == 200, resp.body
    return resp.json_body


def _post(client: Client, headers: dict[str, str], path: str, body: dict[str, Any], **extra: str) -> Any:
    resp = client.http.post(path, headers={**headers, **extra}, body=json.dumps(body))
    assert resp.status_code in (200, 201), resp.body
    return resp.json_body


def _antenna(client: Client, w: World, sub_id: str, price: str) -> dict[str, Any]:
    line = {"description": "Antenna", "unit_price": price}
    body = {"subscriber_id": sub_id, "kind": "other", "lines": [line]}
    return dict(_post(client, _manager(w), "/admin/invoices", body))


def _pay(client: Client, w: World, invoice: dict[str, Any], amount: str) -> None:
    body = {"subscriber_id": invoice["subscriber_id"], "amount": amount, "invoice_id": invoice["id"]}
    key = "pay-" + secrets.token_hex(6)
    _post(client, _manager(w), "/admin/payments", body, **{"Idempotency-Key": key})


def test_the_sales_report_over_managers_of_two_currencies_gives_each_currency_its_own_rows(
    rt, client, reseller
):
    # Given an antenna sold by the MXN manager (paid) and one by the COP manager (unpaid)
    mxn_inv = _antenna(client, reseller.mxn, reseller.mxn.sub("ana").id, "1500")
    _pay(client, reseller.mxn, mxn_inv, "1500")
    _antenna(client, reseller.cop, reseller.cop.sub("beto").id, "350000")

    # When the reseller reads the sales per product
    report = _get(client, reseller.headers, "/admin/reports/sales?group_by=product")
    # Then the antenna is a row per currency, and the report has no one currency
    assert report["currency"] is None
    assert [(r["name"], r["currency"], r["invoiced"], r["collected"]) for r in report["rows"]] == [
        ("Antenna", "COP", "350000.00", "0.00"),
        ("Antenna", "MXN", "1500.00", "1500.00"),
    ]
    assert report["by_currency"] == [
        {"currency": "COP", "invoices": 1, "lines": 1, "invoiced": "350000.00", "collected": "0.00"},
        {"currency": "MXN", "invoices": 1, "lines": 1, "invoiced": "1500.00", "collected": "1500.00"},
    ]
    # And per manager, each manager's row is in its own currency
    by_manager = _get(client, reseller.headers, "/admin/reports/sales?group_by=manager")
    assert sorted((r["key"], r["currency"], r["invoiced"]) for r in by_manager["rows"]) == sorted(
        [(reseller.mxn.tenant_id, "MXN", "1500.00"), (reseller.cop.tenant_id, "COP", "350000.00")]
    )
    # And one manager's report is in its currency, with its totals beside it
    one = _get(client, reseller.headers, f"/admin/reports/sales?tenant_id={reseller.cop.tenant_id}")
    assert one["currency"] == "COP" and [t["currency"] for t in one["by_currency"]] == ["COP"]


def test_a_tenant_whose_currency_changed_reports_its_sales_per_currency(rt, client):
    # Given a client invoiced (and paid) in USD, then in MXN once the tenant changed its currency
    w = new_world(rt, api_enabled=False)
    sub = w.sub("carla")
    usd_inv = _antenna(client, w, sub.id, "80")
    _pay(client, w, usd_inv, "80")
    w.set_tenant(currency="MXN")
    mxn_inv = _antenna(client, w, sub.id, "1500")
    assert (usd_inv["currency"], mxn_inv["currency"]) == ("USD", "MXN")
    headers = _manager(w)

    # Then the tenant's sales report has a row per currency and no one currency
    report = _get(client, headers, "/admin/reports/sales?group_by=manager")
    assert report["currency"] is None
    assert [(r["currency"], r["invoiced"], r["collected"]) for r in report["rows"]] == [
        ("MXN", "1500.00", "0.00"),
        ("USD", "80.00", "80.00"),
    ]
    assert [(t["currency"], t["invoiced"]) for t in report["by_currency"]] == [
        ("MXN", "1500.00"),
        ("USD", "80.00"),
    ]
    # And so has the client's sales by product
    to_user = _get(client, headers, f"/admin/subscribers/{sub.id}/sales-by-product")
    assert to_user["currency"] is None
    assert [(r["name"], r["currency"], r["revenue"]) for r in to_user["rows"]] == [
        ("Antenna", "MXN", "1500.00"),
        ("Antenna", "USD", "80.00"),
    ]
    assert [(t["currency"], t["revenue"], t["collected"]) for t in to_user["by_currency"]] == [
        ("MXN", "1500.00", "0.00"),
        ("USD", "80.00", "80.00"),
    ]


def test_the_subscriber_dashboard_gives_the_sales_of_each_currency(rt, client):
    # Given a client paying an invoice and a recharge in USD, then billed and recharged in MXN
    w = new_world(rt, api_enabled=False)
    sub = w.sub("dora")
    headers = _manager(w)
    _pay(client, w, _antenna(client, w, sub.id, "80"), "80")
    _post(client, headers, f"/admin/subscribers/{sub.id}/recharge", {"product_id": w.product_id})
    w.set_tenant(currency="MXN")
    Product.get(w.product_id).update(actions=[Product.price.set("450.00")])
    _antenna(client, w, sub.id, "1500")
    _post(client, headers, f"/admin/subscribers/{sub.id}/recharge", {"product_id": w.product_id})

    # When its sales and its dashboard are read
    sales = _get(client, headers, f"/admin/subscribers/{sub.id}/sales")
    # Then the plan is a row per currency (the invoices name the client's plan), and the revenue is
    # given per currency only
    assert [(r["product_name"], r["currency"], r["billed"], r["revenue"]) for r in sales["rows"]] == [
        ("Home 10M", "MXN", "1950.00", "450.00"),
        ("Home 10M", "USD", "105.00", "105.00"),
    ]
    assert [(r["quantity"], r["sources"]) for r in sales["rows"]] == [(2, ["invoice", "recharge"])] * 2
    assert (sales["currency"], sales["revenue"], sales["cost"]) == (None, None, None)
    assert sales["by_currency"] == [
        {"currency": "MXN", "revenue": "450.00", "cost": "0.00"},
        {"currency": "USD", "revenue": "105.00", "cost": "0.00"},
    ]
    dash = _get(client, headers, f"/admin/subscribers/{sub.id}/dashboard?days=7")
    assert dash["sales"] == sales


def test_totals_per_status_over_managers_of_two_currencies_are_per_currency(rt, client, reseller):
    # Given active clients of the MXN manager (25.00 each) and of the COP one (60000.00), one cancelled
    for name in ("cur-ana", "cur-beto"):
        reseller.mxn.sub(name)
    reseller.cop.sub("cur-carla")
    reseller.cop.sub("cur-dora", status="cancelled", cancelled_at=now_iso())

    # When the reseller reads the totals, from the counters and (with a search) over the list
    for query in ("", "?q=cur-"):
        totals = _get(client, reseller.headers, f"/admin/subscribers/totals{query}")
        # Then the counts are of every client, the sums only per currency
        assert totals["currency"] is None, query
        assert totals["statuses"]["active"] == {"count": 3, "services_total": None}, query
        assert totals["statuses"]["all"] == {"count": 4, "services_total": None}, query
        per = {t["currency"]: t["statuses"] for t in totals["by_currency"]}
        assert list(per) == ["COP", "MXN"], query
        assert per["MXN"]["active"] == {"count": 2, "services_total": "50.00"}, query
        assert per["COP"]["active"] == {"count": 1, "services_total": "60000.00"}, query
        assert per["COP"]["cancelled"] == {"count": 1, "services_total": "60000.00"}, query
    # And one manager's totals are in its currency
    one = _get(client, reseller.headers, f"/admin/subscribers/totals?tenant_id={reseller.mxn.tenant_id}")
    assert one["currency"] == "MXN" and one["statuses"]["active"] == {"count": 2, "services_total": "50.00"}
    # And the export has a line per status and currency, saying the currency
    text = client.http.get("/admin/subscribers/totals/export", headers=reseller.headers).body.decode(
        "utf-8-sig"
    )
    lines = {(r["status"], r["currency"]): r for r in csv.DictReader(io.StringIO(text))}
    assert lines[("active", "MXN")]["services_total"] == "50.00"
    assert lines[("active", "COP")]["services_total"] == "60000.00"
    assert lines[("all", "COP")]["count"] == "2"


def test_cancellation_statistics_over_managers_of_two_currencies_are_per_currency(rt, client, reseller):
    # Given a client cancelled this month at each manager
    reseller.mxn.sub("gone-mx", status="cancelled", cancelled_at=now_iso())
    reseller.cop.sub("gone-co", status="cancelled", cancelled_at=now_iso())

    # When the reseller reads the cancellation statistics
    stats = _get(client, reseller.headers, "/admin/subscribers/cancellations?months=2")
    # Then this month counts both, with the monthly sums only per currency
    assert stats["currency"] is None and stats["total"] == 2
    assert (stats["months"][-1]["cancelled"], stats["months"][-1]["services_total"]) == (2, None)
    per = {c["currency"]: c for c in stats["by_currency"]}
    assert list(per) == ["COP", "MXN"]
    assert [m["services_total"] for m in per["COP"]["months"]] == ["0.00", "60000.00"]
    assert [m["services_total"] for m in per["MXN"]["months"]] == ["0.00", "25.00"]
    assert (per["COP"]["total"], per["MXN"]["total"]) == (1, 1)
