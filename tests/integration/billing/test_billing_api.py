"""Billing admin routes through Chalice's test client; invoice PDFs parsed back with pypdf."""

from __future__ import annotations

import base64
import io
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client
from pypdf import PdfReader

from core.ids import frozen_clock, now_iso
from services.billing.delivery import invoice_pdf
from services.billing.invoice_run import run_invoices, run_tenant_invoices
from services.billing.invoices import create_internet_invoice, create_other_invoice
from shared.runtime import Runtime
from shared.tokens import issue_operator_token
from store.models import Invoice, Payment, Tenant, Zone
from tests.integration.billing.support import NOW, World, new_world, reload

# 1×1 PNG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def client(rt: Runtime) -> Iterator[Client]:
    from api.app import app

    with Client(app) as c:
        yield c


def _h(w: World, **extra: str) -> dict[str, str]:
    token = issue_operator_token(w.rt.signer, w.operator_id, w.tenant_id, "manager", 3600)
    return {"Authorization": "Bearer " + token, "Content-Type": "application/json", **extra}


def _post(client: Client, w: World, path: str, body: dict[str, Any], **headers: str) -> Any:
    return client.http.post(path, headers=_h(w, **headers), body=json.dumps(body))


def test_invoice_payment_and_pdf_through_the_api(rt, client, w):
    w.set_tenant(
        logo_url="data:image/png;base64," + base64.b64encode(PNG).decode(), company_name="Demo WISP S.A."
    )
    sub = w.sub("apiuser", status="suspended")
    run_tenant_invoices(rt, w.tenant_id, NOW)

    listed = client.http.get(f"/admin/invoices?subscriber_id={sub.id}", headers=_h(w)).json_body
    [inv] = listed["items"]
    assert (inv["id"], inv["total"], inv["status"]) == (w.inv_id("apiuser", "2026-06"), "25.00", "pending")
    # view by the path-safe id and by the URL-encoded one
    assert (
        client.http.get(f"/admin/invoices/{inv['path_id']}", headers=_h(w)).json_body["number"]
        == inv["number"]
    )
    encoded = inv["id"].replace("#", "%23")
    assert client.http.get(f"/admin/invoices/{encoded}", headers=_h(w)).status_code == 200

    pdf = client.http.get(f"/admin/invoices/{inv['path_id']}/pdf", headers=_h(w, Accept="application/pdf"))
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.body))
    text = reader.pages[0].extract_text()
    for expected in (
        "Demo WISP S.A.",
        f"No. {inv['number']}",
        "25.00 USD",
        "Apiuser",
        "2026-06-01 to 2026-06-30",
    ):
        assert expected in text
    assert reader.pages[0].images  # the tenant's logo is embedded

    body = {"subscriber_id": sub.id, "amount": "25.00", "method": "transfer", "reference": "TRX-1"}
    first = _post(client, w, "/admin/payments", body, **{"Idempotency-Key": "api-pay-0001"})
    again = _post(client, w, "/admin/payments", body, **{"Idempotency-Key": "api-pay-0001"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert (
        first.json_body["payment"]["id"] == again.json_body["payment"]["id"] and again.json_body["replayed"]
    )
    assert first.json_body["reactivated"] and first.json_body["sync"]["status"] == "queued"
    assert len(list(Payment.subscriber_index.query(sub.id))) == 1
    assert reload(sub).status == "active"
    # no idempotency key → 422 naming the field
    missing = _post(client, w, "/admin/payments", body)
    assert missing.status_code == 422 and missing.json_body["error"]["field"] == "idempotency_key"
    sent = _post(client, w, f"/admin/invoices/{inv['path_id']}/send", {})
    assert sent.status_code == 200 and sent.json_body["to"] == "apiuser@example.com"
    # the e-mail carries the invoice PDF as an attachment
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    raw = [
        m
        for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
        if sent.json_body["message_id"] == m.id
    ]
    assert raw and b"application/pdf" in raw[0].raw_data.encode() and b"invoice-" in raw[0].raw_data.encode()


def test_pdf_without_logo_and_other_income(rt, client, w):
    sub = w.sub("nologo")
    inv = create_other_invoice(
        rt,
        w.tenant_id,
        sub.id,
        [{"description": "Antenna <5GHz> & pole", "quantity": "2", "unit_price": "40"}],
        "op",
    )
    data, name = invoice_pdf(inv.id, {w.tenant_id})
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert name == f"invoice-{int(inv.number)}.pdf"
    assert f"WISP {w.suffix}" in text and "Antenna <5GHz> & pole" in text and "80.00 USD" in text


def test_other_tenants_see_nothing(rt, client, w):
    sub = w.sub("hidden")
    run_tenant_invoices(rt, w.tenant_id, NOW)
    other = new_world(rt)
    path = w.inv_id("hidden", "2026-06")
    assert client.http.get(f"/admin/invoices/{path}", headers=_h(other)).status_code == 404
    assert (
        client.http.get(
            f"/admin/invoices/{path}/pdf", headers=_h(other, Accept="application/pdf")
        ).status_code
        == 404
    )
    assert client.http.post(f"/admin/invoices/{path}/cancel", headers=_h(other)).status_code == 404
    assert client.http.get("/admin/invoices", headers=_h(other)).json_body["items"] == []
    assert client.http.get(f"/admin/invoices?tenant_id={w.tenant_id}", headers=_h(other)).status_code == 404
    resp = _post(
        client,
        other,
        "/admin/payments",
        {"subscriber_id": sub.id, "amount": "1", "idempotency_key": "other-0001"},
    )
    assert resp.status_code == 404
    assert client.http.get(f"/admin/subscribers/{sub.id}/extras", headers=_h(other)).status_code == 404
    assert Tenant.get(w.tenant_id).id == w.tenant_id


def test_manual_invoices_extras_runs_and_reports(rt, client, w):
    sub = w.sub("manual")
    free = _post(
        client,
        w,
        "/admin/invoices",
        {"subscriber_id": sub.id, "kind": "internet", "period": "2026-06", "amount": "0"},
    )
    assert free.status_code == 201 and free.json_body["status"] == "paid"
    dup = _post(
        client, w, "/admin/invoices", {"subscriber_id": sub.id, "kind": "internet", "period": "2026-06"}
    )
    assert dup.status_code == 409
    other = _post(
        client,
        w,
        "/admin/invoices",
        {"subscriber_id": sub.id, "kind": "other", "lines": [{"description": "Antenna", "unit_price": "80"}]},
    )
    assert other.json_body["total"] == "80.00"
    bad = _post(
        client,
        w,
        f"/admin/subscribers/{sub.id}/extras",
        {"name": "Install", "price": "90", "mode": "installments", "installments": 1},
    )
    assert bad.status_code == 422 and bad.json_body["error"]["field"] == "installments"
    ok = _post(
        client,
        w,
        f"/admin/subscribers/{sub.id}/extras",
        {"name": "Install", "price": "90", "mode": "installments", "installments": 3},
    )
    assert ok.status_code == 201 and ok.json_body["description"] == "Install"
    run = _post(
        client,
        w,
        "/admin/billing/runs",
        {"kind": "invoices", "tenant_id": w.tenant_id, "on_date": "2026-05-28"},
    )
    assert run.status_code == 200 and run.json_body["results"][0]["existing"] == 1
    runs = client.http.get("/admin/billing/runs", headers=_h(w)).json_body["items"]
    assert runs and runs[0]["kind"] == "billing_invoices"
    report = client.http.get("/admin/reports/sales?group_by=product", headers=_h(w)).json_body
    assert {r["name"] for r in report["rows"]} >= {"Antenna", "Home 10M"}
    by_manager = client.http.get("/admin/reports/sales?group_by=manager", headers=_h(w)).json_body
    assert [(r["key"], r["invoiced"]) for r in by_manager["rows"]] == [(w.tenant_id, "80.00")]
    to_user = client.http.get(f"/admin/subscribers/{sub.id}/sales-by-product", headers=_h(w)).json_body
    assert {r["name"]: r["revenue"] for r in to_user["rows"]} == {"Antenna": "80.00", "Home 10M": "0.00"}
    cancel = client.http.post(f"/admin/invoices/{other.json_body['path_id']}/cancel", headers=_h(w))
    assert cancel.status_code == 200 and cancel.json_body["status"] == "cancelled"
    again = client.http.post(f"/admin/invoices/{other.json_body['path_id']}/cancel", headers=_h(w))
    assert again.status_code == 409
    bad_date = _post(client, w, "/admin/billing/runs", {"kind": "cutoff", "on_date": "2999-01-01"})
    assert bad_date.status_code == 422 and bad_date.json_body["error"]["field"] == "on_date"


def test_a_run_may_be_dated_today_in_any_zone_of_the_tenant(rt, client, w):
    # At 20:00 UTC on 28 May it is still the 28th in Mexico City, already the 29th in Tokyo
    with frozen_clock(datetime(2026, 5, 28, 20, 0, tzinfo=UTC)):
        day = {"kind": "notices", "tenant_id": w.tenant_id, "on_date": "2026-05-29"}
        # Given a tenant working only in Mexico City, the 29th has not begun anywhere it works
        early = _post(client, w, "/admin/billing/runs", day)
        assert early.status_code == 422 and early.json_body["error"]["field"] == "on_date"
        assert "2026-05-28" in early.json_body["error"]["message"]
        # When it opens a zone in Tokyo, a run dated the 29th is accepted, and the 30th still is not
        Zone(
            id=f"{w.zone_id}_tokyo",
            tenant_id=w.tenant_id,
            name="Tokyo",
            timezone="Asia/Tokyo",
            created_at=now_iso(),
        ).save()
        assert _post(client, w, "/admin/billing/runs", day).status_code == 200
        late = _post(client, w, "/admin/billing/runs", {**day, "on_date": "2026-05-30"})
        assert late.status_code == 422 and late.json_body["error"]["field"] == "on_date"


def test_date_ranges_are_days_of_the_tenants_calendar(rt, client, w):
    # At 02:00 UTC on 1 June it is 20:00 on 31 May in Mexico City, the tenant's time zone
    with frozen_clock(datetime(2026, 6, 1, 2, 0, tzinfo=UTC)):
        # Given an invoice made and paid now
        sub = w.sub("evening")
        line = {"description": "Antenna", "unit_price": "80"}
        inv = _post(client, w, "/admin/invoices", {"subscriber_id": sub.id, "kind": "other", "lines": [line]})
        assert inv.status_code == 201, inv.body
        pay = {"subscriber_id": sub.id, "amount": "80", "invoice_id": inv.json_body["id"]}
        assert (
            _post(client, w, "/admin/payments", pay, **{"Idempotency-Key": "evening-0001"}).status_code == 201
        )

    def get(path: str) -> Any:
        r = client.http.get(path, headers=_h(w))
        assert r.status_code == 200, r.body
        return r.json_body

    # Then it is in the reports, lists and payments of 31 May, and of no day of June
    may = "since=2026-05-31&until=2026-05-31"
    june = "since=2026-06-01&until=2026-06-30"
    assert [r["invoiced"] for r in get(f"/admin/reports/sales?group_by=manager&{may}")["rows"]] == ["80.00"]
    assert get(f"/admin/reports/sales?group_by=manager&{june}")["rows"] == []
    assert [i["id"] for i in get(f"/admin/invoices?{may}")["items"]] == [inv.json_body["id"]]
    assert get(f"/admin/invoices?{june}")["items"] == []
    assert [p["subscriber_id"] for p in get(f"/admin/payments?{may}")["items"]] == [sub.id]
    assert get(f"/admin/payments?{june}")["items"] == []


BAD_REQUESTS = [
    ("GET", "/admin/invoices?cursor=%%%", None),
    ("GET", "/admin/invoices?limit=0", None),
    ("GET", "/admin/invoices?status=unknown", None),
    ("GET", "/admin/invoices?since=2026-13-01", None),
    ("GET", "/admin/invoices/" + "x" * 3000, None),
    ("GET", "/admin/invoices/inv~nobody~2026-06/pdf", None),
    ("POST", "/admin/invoices", {"subscriber_id": "sub_nobody", "kind": "internet", "period": "2026-06"}),
    ("POST", "/admin/invoices", {"subscriber_id": "SUB", "kind": "internet", "period": "2026-13"}),
    ("POST", "/admin/invoices", {"subscriber_id": "SUB", "kind": "internet"}),
    ("POST", "/admin/invoices", {"subscriber_id": "SUB", "kind": "other", "lines": []}),
    (
        "POST",
        "/admin/invoices",
        {"subscriber_id": "SUB", "kind": "other", "lines": [{"description": "x", "unit_price": "-1"}]},
    ),
    ("POST", "/admin/payments", {"subscriber_id": "SUB", "amount": "0", "idempotency_key": "zero-amount-1"}),
    ("POST", "/admin/payments", {"subscriber_id": "SUB", "amount": 1.5, "idempotency_key": "float-amount-1"}),
    ("POST", "/admin/payments", {"subscriber_id": "SUB", "amount": "1", "idempotency_key": "k" * 500}),
    ("POST", "/admin/subscribers/SUB/payment-promise", {"until": "2000-01-01"}),
    ("POST", "/admin/subscribers/SUB/payment-promise", {"until": "2099-01-01"}),
    (
        "POST",
        "/admin/subscribers/SUB/extras",
        {"name": "x", "price": "1", "start_date": "2026-05-02", "end_date": "2026-05-01"},
    ),
    ("PATCH", "/admin/extras/xp_nothing", {"price": "2"}),
    ("GET", "/admin/payments/" + "p" * 2000, None),
    ("GET", "/admin/billing/runs/run_nothing", None),
    ("POST", "/admin/billing/runs/run_nothing/rerun", {}),
    ("POST", "/admin/billing/runs", {"kind": "nonsense"}),
    ("GET", "/admin/reports/sales?group_by=zone", None),
    ("POST", "/admin/invoices/inv~nobody~2026-06/send", {"to": "not-an-email"}),
]


@pytest.mark.parametrize(("method", "path", "body"), BAD_REQUESTS)
def test_bad_requests_are_4xx_with_a_reason(rt, client, w, method, path, body):
    sub = w.sub("target")
    resp = client.http.request(
        method,
        path.replace("SUB", sub.id),
        headers=_h(w),
        body=json.dumps(body).encode() if body is not None else b"",
    )
    assert 400 <= resp.status_code < 500, resp.body
    assert resp.json_body["error"]["message"]


def test_invoice_list_pages_with_a_cursor(rt, client, w):
    for i in range(5):
        w.sub(f"pg{i}")
    run_tenant_invoices(rt, w.tenant_id, NOW)
    seen: list[str] = []
    url = "/admin/invoices?limit=2&status=pending"
    for _ in range(5):
        page = client.http.get(url, headers=_h(w)).json_body
        seen += [i["id"] for i in page["items"]]
        if not page["next_cursor"]:
            break
        url = f"/admin/invoices?limit=2&status=pending&cursor={page['next_cursor']}"
    assert sorted(seen) == sorted(w.inv_id(f"pg{i}", "2026-06") for i in range(5))
    assert client.http.get("/admin/invoices?status=paid", headers=_h(w)).json_body["items"] == []
    # the cursor is signed: a hand-made position (the old unsigned format) is refused, naming the field
    forged = base64.urlsafe_b64encode(json.dumps(["2999-01-01T00:00:00Z", "x"]).encode()).decode().rstrip("=")
    r = client.http.get(f"/admin/invoices?limit=2&cursor={forged}", headers=_h(w))
    assert r.status_code == 422 and r.json_body["error"]["field"] == "cursor"


@pytest.fixture
def info_logs() -> Iterator[None]:
    """The cloud's log level: INFO records are built, so every field a log call passes is checked."""
    from shared.observability import logger

    before = logger.log_level
    logger.setLevel("INFO")
    try:
        yield
    finally:
        logger.setLevel(before)


def test_invoice_run_answers_at_the_clouds_info_log_level(rt, client, w, info_logs, caplog):
    # Given a billable client and the logger at INFO (WISP_LOG_LEVEL=INFO, as deployed)
    w.sub("infolog")
    # When an operator runs the invoices for the issue day
    run = _post(
        client,
        w,
        "/admin/billing/runs",
        {"kind": "invoices", "tenant_id": w.tenant_id, "on_date": "2026-05-28"},
    )
    # Then the run answers with the invoice created, and the run is logged with its counts
    assert run.status_code == 200, run.body
    assert run.json_body["results"][0]["created"] == 1
    logged = [r for r in caplog.records if r.getMessage() == "invoice run"]
    assert logged and logged[-1].__dict__["result"]["created"] == 1
    # And the scheduled run over every tenant reports no tenant failed
    assert [r.tenant_id for r in run_invoices(rt, NOW, [w.tenant_id])] == [w.tenant_id]


def _run(client: Client, w: World, kind: str, on_date: str) -> dict[str, Any]:
    resp = _post(
        client, w, "/admin/billing/runs", {"kind": kind, "tenant_id": w.tenant_id, "on_date": on_date}
    )
    assert resp.status_code == 200, resp.body
    return dict(resp.json_body["results"][0])


def _internet_invoices(client: Client, w: World, sub_id: str) -> list[dict[str, Any]]:
    items = client.http.get(f"/admin/invoices?subscriber_id={sub_id}&limit=50", headers=_h(w)).json_body[
        "items"
    ]
    return sorted((i for i in items if i["kind"] == "internet"), key=lambda i: i["issue_date"])


def test_recharge_client_invoices_tile_time_after_the_payment_moves_the_dates(rt, client, w):
    # Given the seed's recharge-type client: dates 26/26/1/8, invoiced on 26 April for 1–31 May
    days = {"issue_day": 26, "notice_day": 26, "payment_day": 1, "cutoff_day": 8}
    sub = w.sub("recharge", billing={"own_dates": True, "recharge": True, **days})
    assert _run(client, w, "invoices", "2026-04-26")["created"] == 1
    april = _internet_invoices(client, w, sub.id)[0]
    assert (april["service_start"], april["service_end"]) == ("2026-05-01", "2026-05-31")
    # When the client pays it on 28 April: the dates become 22/24/28/4
    paid = _post(
        client,
        w,
        "/admin/payments",
        {
            "subscriber_id": sub.id,
            "amount": april["total"],
            "idempotency_key": "recharge-28apr",
            "paid_on": "2026-04-28",
        },
    )
    assert paid.status_code in (200, 201), paid.body
    assert paid.json_body["billing_dates"]["next_issue_date"] == "2026-05-22"
    # Then the run of 22 May creates the next invoice, from the day after May is covered
    assert _run(client, w, "invoices", "2026-05-22")["created"] == 1
    assert _run(client, w, "invoices", "2026-06-22")["created"] == 1
    invoices = _internet_invoices(client, w, sub.id)
    assert [(i["issue_date"], i["due_date"], i["service_start"], i["service_end"]) for i in invoices] == [
        ("2026-04-26", "2026-05-01", "2026-05-01", "2026-05-31"),
        ("2026-05-22", "2026-05-28", "2026-06-01", "2026-06-27"),
        ("2026-06-22", "2026-06-28", "2026-06-28", "2026-07-27"),
    ]
    # 1–27 June is 27 of the 31 days of the 28 May – 27 June period
    assert [(line["kind"], line["days"], line["amount"]) for line in invoices[1]["lines"]] == [
        ("prorated", 27, "21.77")
    ]
    assert len({i["path_id"] for i in invoices}) == 3
    # And running a day again creates nothing
    assert _run(client, w, "invoices", "2026-05-22") | {"created": 0} == _run(
        client, w, "invoices", "2026-05-22"
    )


@pytest.mark.parametrize(
    ("first", "moved_to"),
    [
        # a zone moving its calendar later, then earlier in the month: still no gap, no overlap
        ((28, 28, 1, 5), (10, 10, 15, 20)),
        ((10, 10, 15, 20), (28, 28, 1, 5)),
    ],
)
def test_zone_calendar_change_keeps_periods_tiled(rt, client, w, first, moved_to):
    w.set_zone(*first)
    sub = w.sub("tiled")
    for on in ("2026-03-28", "2026-03-10"):
        _run(client, w, "invoices", on)
    w.set_zone(*moved_to)
    for on in ("2026-04-10", "2026-04-28", "2026-05-10", "2026-05-28"):
        _run(client, w, "invoices", on)
    invoices = _internet_invoices(client, w, sub.id)
    spans = [(date.fromisoformat(i["service_start"]), date.fromisoformat(i["service_end"])) for i in invoices]
    assert len(spans) >= 3
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start == end + timedelta(days=1), spans


def test_back_dated_runs_never_invoice_or_cut_off_a_service_created_later(rt, client, w):
    # Given a client since January and one created on 2 June
    old = w.sub("since_january")
    new = w.sub("since_june", created_at="2026-06-02T15:00:00.000000Z")
    # When the run of 28 May (missed) is made on a later day
    run = _run(client, w, "invoices", "2026-05-28")
    # Then only the client that existed on 28 May is invoiced
    assert run["created"] == 1 and run["invoice_ids"] == [_internet_invoices(client, w, old.id)[0]["id"]]
    assert _internet_invoices(client, w, new.id) == []
    # nor can an operator invoice the newer client for a period that ended before it existed
    by_hand = _post(
        client, w, "/admin/invoices", {"subscriber_id": new.id, "kind": "internet", "period": "2026-05"}
    )
    assert by_hand.status_code == 409 and by_hand.json_body["error"]["field"] == "period"
    # And an unpaid invoice for a period before the service existed (made before this rule) never cuts it off
    ghost = create_internet_invoice(rt, w.tenant_id, old.id, "2026-04", "op_test")
    Invoice(
        **{
            **ghost.attribute_values,
            "id": "inv_" + new.id + "_2026-03",
            "subscriber_id": new.id,
            "subscriber_login": new.login,
        }
    ).save()
    cut = _run(client, w, "cutoff", "2026-06-05")
    assert old.id in cut["suspended"] and new.id not in cut["suspended"]
    assert reload(new).status == "active"
    # nor does a cutoff run back-dated to before the client existed
    newest = w.sub("since_july", created_at="2026-07-02T15:00:00.000000Z")
    Invoice(
        **{
            **ghost.attribute_values,
            "id": "inv_" + newest.id + "_2026-06",
            "subscriber_id": newest.id,
            "subscriber_login": newest.login,
            "service_end": "2026-07-31",
            "cutoff_date": "2026-06-20",
        }
    ).save()
    assert newest.id not in _run(client, w, "cutoff", "2026-06-25")["suspended"]
    assert reload(newest).status == "active"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/admin/payments", {"amount": "5.00", "idempotency_key": "pay-num-date", "paid_on": 0}, "paid_on"),
        (
            "/admin/subscribers/{sub}/extras",
            {"name": "Antenna", "price": "9.00", "start_date": 0},
            "start_date",
        ),
        (
            "/admin/invoices",
            {"kind": "other", "lines": [{"description": "Antenna", "unit_price": "9.00"}], "due_date": 0},
            "due_date",
        ),
        ("/admin/billing/runs", {"kind": "notices", "on_date": 0}, "on_date"),
    ],
)
def test_a_number_where_a_date_goes_is_a_422_naming_the_field(client, w, path, body, field):
    # a JSON number is not a date (it used to be read as a Unix time: 0 became 1970-01-01)
    sub = w.sub("numdate")
    if "{sub}" not in path and path != "/admin/billing/runs":
        body = {**body, "subscriber_id": sub.id}
    r = _post(client, w, path.replace("{sub}", sub.id), body)
    assert r.status_code == 422, r.body
    assert r.json_body["error"]["field"] == field
