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
from decimal import Decimal
from typing import Any

import pytest
from chalice.test import Client

from core.ids import now_iso
from services.billing.invoices import create_internet_invoice
from shared.runtime import Runtime
from shared.tokens import issue_operator_token
from store.models import Operator, Product, Tenant
from tests.integration.billing.support import TZ, World, new_world, reload


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


# ---------------------------------------------------------------- a currency change with money still open
def _patch(client: Client, headers: dict[str, str], path: str, body: dict[str, Any]) -> Any:
    return client.http.patch(path, headers=headers, body=json.dumps(body))


def _payment(client: Client, w: World, body: dict[str, Any]) -> Any:
    key = "pay-" + secrets.token_hex(6)
    return client.http.post(
        "/admin/payments", headers={**_manager(w), "Idempotency-Key": key}, body=json.dumps(body)
    )


def test_a_tenant_keeps_its_currency_while_money_in_it_is_open(rt, client):
    # Given a client owing part of an invoice and another with a balance in favour, both in USD
    w = new_world(rt, api_enabled=False)
    headers = _manager(w)
    owing = _antenna(client, w, w.sub("elena").id, "80")
    _pay(client, w, owing, "30")
    fabio = w.sub("fabio")
    _pay(client, w, _antenna(client, w, fabio.id, "80"), "100")

    # When the manager changes the tenant's currency
    resp = _patch(client, headers, f"/admin/tenants/{w.tenant_id}", {"currency": "MXN"})
    # Then it is refused naming the field, with what keeps it
    assert resp.status_code == 409, resp.body
    error = resp.json_body["error"]
    assert error["field"] == "currency"
    assert error["details"] == {"currency": "USD", "unpaid_invoices": 1, "subscribers_with_balance": 1}
    assert Tenant.get(w.tenant_id).currency == "USD"
    # And other edits, or the same currency sent back, go on
    same = _patch(client, headers, f"/admin/tenants/{w.tenant_id}", {"currency": "USD", "name": "Renamed"})
    assert same.status_code == 200, same.body

    # When the invoice is cancelled (its 30.00 paid goes to elena's balance) and both balances are used
    cancel = client.http.post(f"/admin/invoices/{owing['path_id']}/cancel", headers=headers, body="{}")
    assert cancel.status_code == 200, cancel.body
    still = _patch(client, headers, f"/admin/tenants/{w.tenant_id}", {"currency": "MXN"})
    assert still.json_body["error"]["details"]["subscribers_with_balance"] == 2
    _antenna(client, w, owing["subscriber_id"], "30")
    _antenna(client, w, fabio.id, "20")
    # Then nothing is open in USD and the currency changes
    changed = _patch(client, headers, f"/admin/tenants/{w.tenant_id}", {"currency": "MXN"})
    assert changed.status_code == 200, changed.body
    assert changed.json_body["currency"] == "MXN"


def test_a_payment_for_an_invoice_in_another_currency_is_refused(rt, client):
    # Given a USD invoice left unpaid when the tenant's currency became MXN (a change made earlier)
    w = new_world(rt, api_enabled=False)
    sub = w.sub("gina")
    usd = _antenna(client, w, sub.id, "80")
    w.set_tenant(currency="MXN")

    # When a payment (in MXN, the tenant's currency) is registered for that invoice
    resp = _payment(client, w, {"subscriber_id": sub.id, "amount": "80", "invoice_id": usd["id"]})
    # Then it is refused, naming the invoice, and nothing is recorded
    assert resp.status_code == 409, resp.body
    assert resp.json_body["error"]["field"] == "invoice_id"
    assert "USD" in resp.json_body["error"]["message"] and "MXN" in resp.json_body["error"]["message"]
    after = _get(client, _manager(w), f"/admin/invoices/{usd['path_id']}")
    assert (after["status"], Decimal(after["paid"])) == ("pending", 0)
    assert _get(client, _manager(w), f"/admin/payments?subscriber_id={sub.id}")["items"] == []
    assert reload(sub).balance == "0"


def test_a_payment_pays_only_invoices_of_its_currency_and_reconnects_when_none_is_overdue(rt, client):
    # Given a suspended client owing a March invoice in USD and, since the currency changed, April's in MXN
    w = new_world(rt, api_enabled=False)
    sub = w.sub("hugo", status="suspended")
    usd = create_internet_invoice(rt, w.tenant_id, sub.id, "2026-03", w.operator_id)
    w.set_tenant(currency="MXN")
    mxn = create_internet_invoice(rt, w.tenant_id, sub.id, "2026-04", w.operator_id)
    assert (usd.currency, mxn.currency) == ("USD", "MXN")

    # When the client pays more than April's invoice, in MXN, in June
    amount = Decimal(mxn.total) + Decimal("5")
    body = {"subscriber_id": sub.id, "amount": str(amount), "paid_on": "2026-06-15", "activate": True}
    resp = _payment(client, w, body)
    assert resp.status_code == 201, resp.body
    paid = resp.json_body
    # Then only the MXN invoice is paid; the USD one is still owed, and the rest is balance in MXN
    assert [(a["invoice_id"], a["status"]) for a in paid["payment"]["applied"]] == [(mxn.id, "paid")]
    assert (paid["payment"]["currency"], paid["payment"]["balance_after"]) == ("MXN", "5.00")
    usd_after = _get(client, _manager(w), f"/admin/invoices/{usd.id}")
    assert (usd_after["status"], Decimal(usd_after["paid"])) == ("pending", 0)
    # And the client stays suspended: the USD invoice is still overdue, never added to MXN amounts
    assert paid["reactivated"] is False
    assert paid["reconnection"] == {
        "rule": "nothing_overdue",
        "reactivated": False,
        "overdue_left": "0.00",
        "overdue_left_other_currencies": {"USD": usd.total},
    }
    assert reload(sub).status == "suspended"


def test_the_subscriber_list_its_export_and_the_dashboard_say_the_currency_of_their_amounts(
    rt, client, reseller
):
    # Given a client of the MXN manager and one of the COP manager, on their plans
    ana = reseller.mxn.sub("cur-list-ana")
    reseller.cop.sub("cur-list-beto")

    # When the reseller reads the list (from the index, and computed over the subscribers) and exports it
    for query in ("?q=cur-list-", "?q=cur-list-&sort=price"):
        rows = _get(client, reseller.headers, f"/admin/subscribers{query}")["items"]
        # Then each row says the currency of its price and balance: its tenant's
        assert sorted((r["username"], r["price"], r["balance"], r["currency"]) for r in rows) == [
            ("cur-list-ana", "25.00", "0", "MXN"),
            ("cur-list-beto", "60000.00", "0", "COP"),
        ], query
    text = client.http.get("/admin/subscribers/export?q=cur-list-", headers=reseller.headers).body.decode(
        "utf-8-sig"
    )
    exported = sorted(
        (r["username"], r["price"], r["balance"], r["currency"]) for r in csv.DictReader(io.StringIO(text))
    )
    assert exported == [("cur-list-ana", "25.00", "0", "MXN"), ("cur-list-beto", "60000.00", "0", "COP")]
    # And the client's dashboard gives the currency of its balance and plan price
    dash = _get(client, _manager(reseller.mxn), f"/admin/subscribers/{ana.id}/dashboard?days=7")
    assert dash["currency"] == "MXN"
