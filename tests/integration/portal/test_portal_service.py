"""My service: plan in words, remaining allowances, traffic per day, connection log, devices, invoices."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from pypdf import PdfReader

from core.ids import frozen_clock, iso, new_id, now_iso
from core.radius.model import BYTES_PER_MB
from core.radius.usage import PeriodKind, current_periods, zone
from store.models import Gateway, Invoice, Policy, Product, Session, Subscriber
from tests.integration.portal.support import Portal, enc

TZ = zone("America/Mexico_City")  # the demo router's time zone


def _plan(portal: Portal, **policy_fields: Any) -> str:
    pol_id = f"pol_{hashlib.sha1(repr(sorted(policy_fields.items())).encode()).hexdigest()[:10]}"
    Policy(
        id=pol_id,
        tenant_id="ten_demo",
        code="LIMITED",
        description="Limited plan",
        download_rate=20_000_000,
        upload_rate=5_000_000,
        created_at=now_iso(),
        **policy_fields,
    ).save()
    prod_id = f"prod_{pol_id[4:]}"
    Product(
        id=prod_id,
        tenant_id="ten_demo",
        name="Limited 20M",
        policy_id=pol_id,
        price="30.00",
        daily_time_min=999,
        created_at=now_iso(),
    ).save()
    return prod_id


def _session(
    sub_id: str, started: datetime, minutes: int, up: int, down: int, n: int, open_: bool = False
) -> None:
    Session(
        id=hashlib.sha256(f"{sub_id}{n}".encode()).hexdigest()[:32],
        tenant_id="ten_demo",
        subscriber_id=sub_id,
        username="x",
        acct_session_id=f"acct{n}",
        gateway_id="gw_demo",
        gateway_name="Demo router",
        nas_ip="127.0.0.1",
        nas_identifier="demo-router",
        gateway_mac="AA-BB-CC-00-00-01",
        mac=f"11:22:33:44:55:{n:02d}",
        framed_ip=f"10.10.0.{n}",
        started_at=iso(started),
        ended_at=None if open_ else iso(started + timedelta(minutes=minutes)),
        last_update=iso(started),
        duration_s=minutes * 60,
        input_octets=up,
        output_octets=down,
        terminate_cause=None if open_ else "User-Request",
    ).save()


def test_my_service_shows_the_plan_in_words_and_what_is_left(portal: Portal):
    # The counters are per day and month in the router's time zone: the clock stands still at noon there,
    # mid-month, so the usage written here and the page read below fall in the same periods
    now = datetime(2026, 5, 13, 18, 0, tzinfo=UTC)
    with frozen_clock(now):
        # Given a plan whose policy allows 2 h a day and 1 GB a month (the product's 999 min a day loses)
        product_id = _plan(
            portal, daily_time_min=120, monthly_data_mb=1024, max_devices=2, idle_timeout_min=10
        )
        sub = portal.new_subscriber(product_id=product_id)
        periods = current_periods(now, TZ, 1, sub.product_assigned_at)
        day, month = periods[PeriodKind.DAY], periods[PeriodKind.MONTH]
        # and RADIUS counted 30 min today and 100 MB this month
        sub.update(
            actions=[
                sub.__class__.usage.set(
                    {
                        f"{day.key}:t": 1800,
                        f"{month.key}:t": 1800,
                        f"{month.key}:i": 40 * BYTES_PER_MB,
                        f"{month.key}:o": 60 * BYTES_PER_MB,
                    }
                )
            ]
        )
        # When the customer opens "my service"
        body = portal.get("/portal/service", portal.login_as(sub)).json_body
        # Then the rules are in words
        assert "Speed: 20 Mbit/s download, 5 Mbit/s upload." in body["rules"]
        assert "Daily time allowance: 2 h." in body["rules"]
        assert "Monthly data allowance: 1 GB." in body["rules"]
        assert "Up to 2 devices." in body["rules"]
        # and what is left matches what RADIUS enforces
        daily = body["allowances"]["daily"]["time_s"]
        assert daily == {
            "limit": 7200,
            "used": 1800,
            "remaining": 5400,
            "resets_at": "2026-05-14T06:00:00Z",  # the next midnight in Mexico City
        }
        monthly = body["allowances"]["monthly"]["data_bytes"]
        assert monthly["limit"] == 1024 * BYTES_PER_MB
        assert monthly["remaining"] == 924 * BYTES_PER_MB
        assert body["allowances"]["weekly"]["time_s"]["limit"] is None  # unlimited
        assert body["product"]["name"] == "Limited 20M"
        assert body["policy"]["code"] == "LIMITED"


def test_weekly_allowance_follows_the_gateway_s_first_day_of_the_week(portal: Portal):
    # Wednesday 18 November 2026, 11:00 in Mexico City; the router's weeks start on Sunday and the
    # policy uses the default, so RADIUS counts this week from Sunday 15 November
    now = datetime(2026, 11, 18, 17, 0, tzinfo=UTC)
    with frozen_clock(now):
        Gateway(
            id="gw_sunday_weeks",
            tenant_id="ten_demo",
            name="Sunday router",
            nas_ip="127.0.9.7",
            radius_secret_enc=portal.rt.box.encrypt("secret"),
            timezone="America/Mexico_City",
            domain_settings={"first_day_of_week": 7},
            created_at=now_iso(),
        ).save()
        sub = portal.new_subscriber(
            product_id=_plan(portal, weekly_time_min=120), gateway_id="gw_sunday_weeks"
        )
        sub.update(actions=[sub.__class__.usage.set({"w:2026-11-15:t": 1800})])
        body = portal.get("/portal/service", portal.login_as(sub)).json_body
        assert body["allowances"]["weekly"]["time_s"] == {
            "limit": 7200,
            "used": 1800,
            "remaining": 5400,
            "resets_at": "2026-11-22T06:00:00Z",  # Sunday midnight in Mexico City
        }


def test_traffic_per_day_connection_log_and_devices(portal: Portal):
    sub = portal.new_subscriber(devices=["11:22:33:44:55:01", "11:22:33:44:55:03"])
    headers = portal.login_as(sub)
    today_noon = datetime.now(TZ).replace(hour=12, minute=0, second=0, microsecond=0)
    # Given two sessions yesterday, one today (open), one 40 days ago
    _session(sub.id, today_noon - timedelta(days=1), 30, 1000, 5000, 1)
    _session(sub.id, today_noon - timedelta(days=1, hours=2), 60, 2000, 7000, 2)
    _session(sub.id, today_noon - timedelta(hours=11), 10, 300, 900, 3, open_=True)
    _session(sub.id, today_noon - timedelta(days=40), 10, 1, 1, 4)
    sub.update(
        actions=[
            sub.__class__.open_sessions.set(
                {
                    "k3": {
                        "nas": "127.0.0.1",
                        "sid": "acct3",
                        "start": now_iso(),
                        "mac": "11:22:33:44:55:03",
                        "ip": "10.10.0.3",
                    }
                }
            )
        ]
    )
    # When the chart for 7 days is asked
    chart = portal.get("/portal/usage/daily?days=7", headers).json_body
    days = {d["date"]: d for d in chart["days"]}
    assert len(chart["days"]) == 7
    yesterday = days[(today_noon - timedelta(days=1)).date().isoformat()]
    assert (
        yesterday["sessions"],
        yesterday["time_s"],
        yesterday["upload_bytes"],
        yesterday["download_bytes"],
    ) == (2, 5400, 3000, 12000)
    assert days[today_noon.date().isoformat()]["sessions"] == 1
    assert sum(d["sessions"] for d in chart["days"]) == 3  # the 40-day-old one is outside the range
    assert portal.get("/portal/usage/daily?days=0", headers).status_code == 422
    # Then the connection log pages newest first with the S4 fields
    page1 = portal.get("/portal/connections?limit=2", headers).json_body
    assert [r["mac"][-2:] for r in page1["items"]] == ["03", "01"]
    assert page1["items"][0]["open"] is True
    assert page1["items"][1]["duration"] == "0:30:00"
    assert page1["items"][1]["gateway_name"] == "Demo router"
    page2 = portal.get(f"/portal/connections?limit=2&next_token={page1['next_token']}", headers).json_body
    assert [r["mac"][-2:] for r in page2["items"]] == ["02", "04"]
    assert portal.get("/portal/connections?next_token=not-a-token", headers).status_code == 422
    # the token is signed and bound to this list: another list refuses it, naming the field
    wrong = portal.get(f"/portal/invoices?next_token={page1['next_token']}", headers)
    assert wrong.status_code == 422 and wrong.json_body["error"]["field"] == "next_token"
    # and the devices list marks the one online
    devices = portal.get("/portal/devices", headers).json_body
    assert {d["mac"]: d["online"] for d in devices["devices"]} == {
        "11:22:33:44:55:01": False,
        "11:22:33:44:55:03": True,
    }
    assert devices["online"][0]["ip"] == "10.10.0.3"


def test_invoices_list_view_and_pdf_are_the_subscribers_own(portal: Portal):
    sub = portal.new_subscriber()
    other = portal.new_subscriber()
    inv = portal.invoice("42.50", sub.id)
    foreign = portal.invoice("10.00", other.id)
    headers = portal.login_as(sub)
    listing = portal.get("/portal/invoices", headers).json_body
    assert [i["id"] for i in listing["items"]] == [inv.id]
    view = portal.get(f"/portal/invoices/{enc(inv.id)}", headers).json_body
    assert (view["total"], view["due"], view["status"]) == ("42.50", "42.50", "pending")
    pdf = portal.get(f"/portal/invoices/{enc(inv.id)}/pdf", {**headers, "Accept": "application/pdf"})
    assert pdf.status_code == 200
    assert pdf.headers["Content-Type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body)).pages)
    assert "42.50" in text
    # another subscriber's invoice does not exist for this one
    assert portal.get(f"/portal/invoices/{enc(foreign.id)}", headers).status_code == 404
    assert (
        portal.get(
            f"/portal/invoices/{enc(foreign.id)}/pdf", {**headers, "Accept": "application/pdf"}
        ).status_code
        == 404
    )


# ---------------------------------------------------------------- what I owe
def _owed_invoice(
    sub: Subscriber, n: int, total: str, paid: str = "0", status: str = "pending", currency: str = "USD"
) -> Invoice:
    """An invoice of ``sub`` issued ``n`` days after 1 January 2025 (the larger ``n``, the newer)."""
    day = (datetime(2025, 1, 1, 12, tzinfo=UTC) + timedelta(days=n)).date().isoformat()
    inv = Invoice(
        id=new_id("oth"),
        tenant_id=sub.tenant_id,
        subscriber_id=sub.id,
        number=n + 1,
        kind="other",
        status=status,
        issue_date=day,
        due_date=day,
        currency=currency,
        subtotal=total,
        total=total,
        paid=paid,
        lines=[{"description": "Service", "quantity": "1", "unit_price": total, "amount": total}],
        created_at=f"{day}T12:00:00.000000Z",
    )
    inv.save()
    return inv


def test_the_amount_due_adds_up_every_unpaid_invoice_not_only_the_first_page(portal: Portal):
    sub = portal.new_subscriber(status="suspended")
    oldest = _owed_invoice(sub, 0, "10.00")
    for n in range(1, 105):  # more unpaid invoices than the largest page of the invoice list (100)
        _owed_invoice(sub, n, "10.00")
    _owed_invoice(sub, 105, "25.00", paid="5.00", status="partial")
    _owed_invoice(sub, 106, "99.00", paid="99.00", status="paid")
    _owed_invoice(sub, 107, "77.00", status="cancelled")
    _owed_invoice(portal.new_subscriber(), 0, "500.00")  # another subscriber's
    headers = portal.login_as(sub)
    assert portal.get("/portal/invoices?limit=100", headers).json_body["next_token"]  # the list has pages

    resp = portal.get("/portal/amount-due", headers)
    assert resp.status_code == 200, resp.body
    owed = resp.json_body
    assert (owed["currency"], owed["amount"], owed["invoices"]) == ("USD", "1070.00", 106)
    assert owed["by_currency"] == [{"currency": "USD", "amount": "1070.00", "invoices": 106}]
    first = owed["oldest_invoice"]
    assert (first["id"], first["path_id"], first["due"], first["currency"]) == (
        oldest.id,
        oldest.id,
        "10.00",
        "USD",
    )


def test_the_amount_due_is_given_per_currency_and_is_zero_when_nothing_is_owed(portal: Portal):
    sub = portal.new_subscriber()
    headers = portal.login_as(sub)
    nothing = portal.get("/portal/amount-due", headers).json_body
    assert nothing == {
        "currency": "USD",
        "amount": "0.00",
        "invoices": 0,
        "by_currency": [],
        "oldest_invoice": None,
    }
    _owed_invoice(sub, 1, "20.00")
    _owed_invoice(sub, 0, "15000.00", currency="COP")  # before the operator's currency changed
    _owed_invoice(sub, 2, "30000.50", paid="0.50", status="partial", currency="COP")
    owed = portal.get("/portal/amount-due", headers).json_body
    # amounts of different currencies are never added together
    assert (owed["currency"], owed["amount"], owed["invoices"]) == (None, None, 3)
    assert owed["by_currency"] == [
        {"currency": "COP", "amount": "45000.00", "invoices": 2},
        {"currency": "USD", "amount": "20.00", "invoices": 1},
    ]
    assert owed["oldest_invoice"]["currency"] == "COP"
