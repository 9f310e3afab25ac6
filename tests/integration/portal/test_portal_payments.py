"""Paying from the portal: hosted checkout + signed webhooks (forged, stale, replayed, out of order),
bank-transfer reports confirmed by an operator, and a suspended subscriber reconnected by paying."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import quote

import pytest

from core.ids import frozen_clock, new_id, now_iso
from services.billing.invoices import create_internet_invoice
from services.network.triggers import queue_urls
from store import billing as billing_store
from store.models import ExtraProduct, Gateway, Invoice, Payment, ProvisioningTask, Subscriber, Tenant, Zone
from store.radius_repo import DynamoRadiusStore
from tests.fakes.radius import Clock, RadiusHarness, pap_request
from tests.integration.portal.support import Portal, completed_event, enc, payments_of, query_of


@pytest.fixture
def paying(portal: Portal) -> Portal:
    portal.enable_payments()
    gw = Gateway.get("gw_demo")
    if not gw.api_enabled:  # the provisioner only queues work for routers whose API is enabled
        gw.update(actions=[Gateway.api_enabled.set(True)])
    return portal


def _invoice_status(invoice_id: str) -> str:
    inv = billing_store.get_invoice(invoice_id)
    assert inv is not None
    return str(inv.status)


def _checkout(portal: Portal, headers: dict[str, str], invoice_id: str) -> dict:
    resp = portal.post(f"/portal/invoices/{enc(invoice_id)}/checkout", headers)
    assert resp.status_code == 201, resp.body
    return dict(resp.json_body)


def test_checkout_then_signed_webhook_pays_the_invoice_once(paying: Portal):
    portal = paying
    sub = portal.new_subscriber()
    inv = portal.invoice("25.00", sub.id)
    headers = portal.login_as(sub)
    # Given a hosted checkout for the invoice
    chk = _checkout(portal, headers, inv.id)
    params = query_of(chk["url"])
    assert chk["url"].startswith("https://pay.example.com/checkout?")
    assert (params["reference"], params["amount"], params["currency"]) == (chk["checkout_id"], "25.00", "USD")
    assert params["notify_url"].endswith("/portal/payments/webhooks/hosted/ten_demo")
    # When the provider reports the payment
    event = completed_event(chk["checkout_id"], "25.00")
    first = portal.webhook(event)
    # Then one payment pays the invoice
    assert first.status_code == 200, first.body
    assert first.json_body["status"] == "applied"
    assert portal.get(f"/portal/invoices/{enc(inv.id)}", headers).json_body["status"] == "paid"
    status = portal.get(f"/portal/payments/checkouts/{chk['checkout_id']}", headers).json_body
    assert status["status"] == "paid"
    # And the same event again (a provider retry) changes nothing
    again = portal.webhook(event)
    assert again.status_code == 200
    assert again.json_body["status"] == "duplicate"
    # nor does another event for the same checkout
    other_event = portal.webhook(completed_event(chk["checkout_id"], "25.00"))
    assert other_event.json_body["status"] == "duplicate"
    assert len(payments_of(sub.id)) == 1
    assert payments_of(sub.id)[0].amount == "25.00"
    listed = portal.get("/portal/payments", headers).json_body
    assert [p["amount"] for p in listed if p["kind"] == "payment"] == ["25.00"]


def test_forged_and_stale_webhooks_are_refused(paying: Portal):
    portal = paying
    sub = portal.new_subscriber()
    inv = portal.invoice("25.00", sub.id)
    chk = _checkout(portal, portal.login_as(sub), inv.id)
    event = completed_event(chk["checkout_id"], "25.00")
    # a signature made with another secret
    forged = portal.webhook(event, secret="whsec_" + "0" * 64)
    assert forged.status_code == 401
    # a body changed after signing
    body = json.dumps(event).encode()
    from services.billing.online import sign_payload, webhook_secret

    sig = sign_payload(webhook_secret(portal.rt, "ten_demo"), int(time.time()), body)
    tampered = body.replace(b'"25.00"', b'"2500.00"')
    r = portal.call(
        "POST", "/portal/payments/webhooks/hosted/ten_demo", {"Wisp-Signature": sig}, raw=tampered
    )
    assert r.status_code == 401
    # no signature at all
    r = portal.call("POST", "/portal/payments/webhooks/hosted/ten_demo", {}, raw=body)
    assert r.status_code == 401
    # a correctly signed request captured and replayed ten minutes later
    stale = portal.webhook(event, timestamp=int(time.time()) - 600)
    assert stale.status_code == 401
    # the secret of another tenant does not sign for this one
    assert portal.webhook(event, secret=webhook_secret(portal.rt, "ten_demo_reseller")).status_code == 401
    assert payments_of(sub.id) == []
    assert _invoice_status(inv.id) == "pending"


def test_out_of_order_events_never_undo_or_lose_a_payment(paying: Portal):
    portal = paying
    sub = portal.new_subscriber()
    headers = portal.login_as(sub)
    inv1 = portal.invoice("10.00", sub.id)
    chk1 = _checkout(portal, headers, inv1.id)
    # "completed" then a late "expired": the checkout stays paid
    assert portal.webhook(completed_event(chk1["checkout_id"], "10.00")).json_body["status"] == "applied"
    expired = {"id": new_id("evt"), "type": "checkout.expired", "data": {"reference": chk1["checkout_id"]}}
    assert portal.webhook(expired).json_body["status"] == "expired"
    assert (
        portal.get(f"/portal/payments/checkouts/{chk1['checkout_id']}", headers).json_body["status"] == "paid"
    )
    # "expired" first, then the payment completes after all: it is applied
    inv2 = portal.invoice("15.00", sub.id)
    chk2 = _checkout(portal, headers, inv2.id)
    portal.webhook(
        {"id": new_id("evt"), "type": "checkout.expired", "data": {"reference": chk2["checkout_id"]}}
    )
    late = portal.webhook(completed_event(chk2["checkout_id"], "15.00"))
    assert late.json_body["status"] == "applied"
    assert _invoice_status(inv2.id) == "paid"
    assert sorted(p.amount for p in payments_of(sub.id)) == ["10.00", "15.00"]
    # an event type we do not handle is acknowledged and ignored
    ignored = portal.webhook({"id": new_id("evt"), "type": "charge.dispute.created", "data": {}})
    assert ignored.status_code == 200
    assert ignored.json_body["status"] == "ignored"


def test_checkout_needs_payments_enabled_and_an_unpaid_invoice(portal: Portal):
    sub = portal.new_subscriber()
    headers = portal.login_as(sub)
    inv = portal.invoice("5.00", sub.id)
    portal.call("PUT", "/admin/payment-settings", portal.operator(), {"enabled": False})
    assert portal.post(f"/portal/invoices/{enc(inv.id)}/checkout", headers).status_code == 409
    portal.enable_payments()
    foreign = portal.invoice("5.00", portal.new_subscriber().id)
    assert portal.post(f"/portal/invoices/{enc(foreign.id)}/checkout", headers).status_code == 404
    # the webhook secret is shown to managers only
    assert portal.get("/admin/payment-settings", portal.operator(role="operator")).status_code == 403
    settings = portal.get("/admin/payment-settings", portal.operator()).json_body
    assert settings["webhook_secret"].startswith("whsec_")
    assert settings["webhook_url"].endswith("/portal/payments/webhooks/hosted/ten_demo")


def _radius_reply(harness: RadiusHarness, username: str, password: str) -> tuple[int, dict]:
    client = harness.client()
    reply = client.SendPacket(pap_request(client, f"{username}", password, NAS_IP_Address="127.0.0.1"))
    return reply.code, {k: reply[k] for k in reply.keys()}


def test_suspended_subscriber_who_pays_online_is_reactivated_at_once(paying: Portal):
    portal = paying
    # Given a suspended subscriber with an unpaid invoice
    sub = portal.new_subscriber(status="suspended")
    inv = portal.invoice("25.00", sub.id)
    headers = portal.login_as(sub)  # a suspended customer can still sign in to pay
    harness = RadiusHarness(DynamoRadiusStore(), portal.rt.box.decrypt, clock=Clock(datetime.now(UTC)))
    with harness:
        code, attrs = _radius_reply(harness, sub.username, "net-pass-1")
        assert code == 2  # Access-Accept into the restricted list: connects but cannot browse
        assert "morosos" in [str(v) for v in attrs.get("Mikrotik-Address-List", [])]
        # When they pay online
        chk = _checkout(portal, headers, inv.id)
        resp = portal.webhook(completed_event(chk["checkout_id"], "25.00"))
        assert resp.json_body["status"] == "applied"
        # Then the subscriber is active again at once
        assert portal.get("/portal/me", headers).json_body["status"] == "active"
        # a provisioning task to reconcile the router is queued
        tasks = list(
            ProvisioningTask.gateway_index.query(
                "gw_demo", filter_condition=ProvisioningTask.subscriber_id == sub.id
            )
        )
        assert len(tasks) == 1 and tasks[0].kind == "reconcile_subscriber"
        sqs = portal.rt.aws.client("sqs")
        messages = sqs.receive_message(QueueUrl=queue_urls(portal.rt)[0], MaxNumberOfMessages=10).get(
            "Messages", []
        )
        bodies = [json.loads(m["Body"]) for m in messages]
        assert {"subscriber_id": sub.id, "task_id": tasks[0].id}.items() <= next(
            b for b in bodies if b.get("subscriber_id") == sub.id
        ).items()
        # and RADIUS lets them browse: no restricted list, the plan's rate
        code, attrs = _radius_reply(harness, sub.username, "net-pass-1")
        assert code == 2
        assert "Mikrotik-Address-List" not in attrs
        assert attrs.get("Mikrotik-Rate-Limit") == ["2M/10M"]
    # the replayed event does not reconnect twice nor pay twice
    assert len(payments_of(sub.id)) == 1


def test_bank_transfer_report_confirmed_by_an_operator(paying: Portal):
    portal = paying
    sub = portal.new_subscriber(status="suspended")
    inv = portal.invoice("30.00", sub.id)
    headers = portal.login_as(sub)
    # Given the customer reports a transfer
    r = portal.post(
        "/portal/payments/reports",
        headers,
        {
            "amount": "30.00",
            "method": "bank_transfer",
            "reference": "TRX-778",
            "paid_on": "2026-01-05",
            "invoice_id": inv.id,
        },
    )
    assert r.status_code == 201, r.body
    report = r.json_body
    assert (report["status"], report["kind"]) == ("pending_confirmation", "reported")
    assert payments_of(sub.id) == []  # nothing is applied before an operator checks it
    # When an operator of the tenant lists and confirms it
    operator = portal.operator(role="operator")
    listed = portal.get("/admin/payment-reports", operator).json_body
    assert report["id"] in [p["id"] for p in listed["items"]]
    stranger = portal.operator(portal.other_tenant())
    assert portal.post(f"/admin/payment-reports/{report['id']}/confirm", stranger).status_code == 404
    ok = portal.post(f"/admin/payment-reports/{report['id']}/confirm", operator)
    assert ok.status_code == 200, ok.body
    assert ok.json_body["reactivated"] is True
    # Then the invoice is paid, the subscriber active, and a second confirmation changes nothing
    assert _invoice_status(inv.id) == "paid"
    assert portal.get("/portal/me", headers).json_body["status"] == "active"
    assert portal.post(f"/admin/payment-reports/{report['id']}/confirm", operator).status_code == 409
    assert (
        portal.post(f"/admin/payment-reports/{report['id']}/reject", operator, {"reason": "late"}).status_code
        == 409
    )
    assert len(payments_of(sub.id)) == 1


def test_a_transfer_made_today_in_the_customers_zone_can_be_reported(paying: Portal):
    portal = paying
    tokyo = Zone(
        id=new_id("zone"), tenant_id="ten_demo", name="Tokyo", timezone="Asia/Tokyo", created_at=now_iso()
    )
    tokyo.save()
    east = portal.new_subscriber(zone_id=tokyo.id)
    west = portal.new_subscriber()  # the demo zone: Mexico City
    report = {"amount": "30.00", "reference": "TRX-29", "paid_on": "2026-05-29"}
    # At 20:00 UTC on 28 May it is the 29th in Tokyo and still the 28th in Mexico City
    with frozen_clock(datetime(2026, 5, 28, 20, 0, tzinfo=UTC)):
        # Then the customer in Tokyo reports a transfer of their today, and not of their tomorrow
        assert portal.post("/portal/payments/reports", portal.login_as(east), report).status_code == 201
        tomorrow = portal.post(
            "/portal/payments/reports", portal.login_as(east), {**report, "paid_on": "2026-05-30"}
        )
        assert tomorrow.status_code == 422 and tomorrow.json_body["error"]["field"] == "paid_on"
        assert "2026-05-29" in tomorrow.json_body["error"]["message"]
        # and for the customer in Mexico City the 29th has not begun
        early = portal.post("/portal/payments/reports", portal.login_as(west), report)
        assert early.status_code == 422 and "2026-05-28" in early.json_body["error"]["message"]


def test_rejected_report_applies_nothing(paying: Portal):
    portal = paying
    sub = portal.new_subscriber()
    portal.invoice("30.00", sub.id)
    headers = portal.login_as(sub)
    bad = portal.post(
        "/portal/payments/reports", headers, {"amount": "-3", "reference": "x", "paid_on": "2026-01-05"}
    )
    assert bad.status_code == 422
    future = portal.post(
        "/portal/payments/reports", headers, {"amount": "3.00", "reference": "x", "paid_on": "2999-01-01"}
    )
    assert future.status_code == 422
    report = portal.post(
        "/portal/payments/reports",
        headers,
        {"amount": "30.00", "reference": "TRX-9", "paid_on": "2026-01-05"},
    ).json_body
    operator = portal.operator(role="operator")
    r = portal.post(f"/admin/payment-reports/{report['id']}/reject", operator, {"reason": "no such transfer"})
    assert r.status_code == 200
    assert r.json_body["status"] == "rejected"
    assert portal.post(f"/admin/payment-reports/{report['id']}/confirm", operator).status_code == 409
    assert payments_of(sub.id) == []


def test_subscriber_opens_downloads_and_pays_a_monthly_invoice(paying: Portal):
    portal = paying
    sub = portal.new_subscriber()
    # Given the subscriber's monthly internet invoice
    inv = create_internet_invoice(portal.rt, portal.demo.tenant_id, sub.id, "2027-03", "op_test")
    headers = portal.login_as(sub)
    listed = portal.get("/portal/invoices", headers).json_body["items"]
    row = next(i for i in listed if i["kind"] == "internet")
    assert row["id"] == inv.id and row["period"] == "2027-03"
    # its id is safe in a URL path as it is (no encoding needed)
    assert quote(row["path_id"], safe="") == row["path_id"]
    for path in (row["path_id"], enc(row["id"])):
        # When the subscriber opens it and downloads the PDF
        opened = portal.get(f"/portal/invoices/{path}", headers)
        assert opened.status_code == 200, opened.body
        assert (opened.json_body["id"], opened.json_body["due"]) == (inv.id, inv.total)
        pdf = portal.get(f"/portal/invoices/{path}/pdf", {**headers, "Accept": "application/pdf"})
        assert pdf.status_code == 200 and pdf.body.startswith(b"%PDF")
    # And pays it online
    chk = _checkout(portal, headers, row["path_id"])
    assert portal.webhook(completed_event(chk["checkout_id"], inv.total)).json_body["status"] == "applied"
    assert _invoice_status(inv.id) == "paid"


def test_invoices_with_ids_from_before_url_safe_ids_stay_readable(portal: Portal):
    sub = portal.new_subscriber()
    old = create_internet_invoice(portal.rt, portal.demo.tenant_id, sub.id, "2027-04", "op_test")
    legacy_id = f"inv#{sub.id}#2027-04"
    Invoice(**{**old.attribute_values, "id": legacy_id}).save()
    old.delete()
    headers = portal.login_as(sub)
    row = next(i for i in portal.get("/portal/invoices", headers).json_body["items"] if i["id"] == legacy_id)
    assert row["path_id"] == legacy_id.replace("#", "~")
    for path in (row["path_id"], enc(legacy_id)):
        assert portal.get(f"/portal/invoices/{path}", headers).json_body["id"] == legacy_id
        admin = portal.get(f"/admin/invoices/{path}", portal.operator())
        assert admin.status_code == 200 and admin.json_body["id"] == legacy_id
    # a path that cannot name an invoice is a 404, not an error
    assert portal.get("/portal/invoices/%25%00bad", headers).status_code == 404


def _monthly(portal: Portal, sub_id: str, period: str) -> Invoice:
    return create_internet_invoice(portal.rt, portal.demo.tenant_id, sub_id, period, "op_test")


def test_checkout_pays_its_own_invoice_and_reconnects_only_when_nothing_is_overdue(paying: Portal):
    portal = paying
    # Given a suspended subscriber owing an overdue October invoice and a January one not yet due
    sub = portal.new_subscriber(status="suspended", created_at="2026-01-05T12:00:00.000000Z")
    overdue = _monthly(portal, sub.id, "2026-10")
    current = _monthly(portal, sub.id, "2027-01")
    headers = portal.login_as(sub)
    # When they pay January's invoice online
    chk = _checkout(portal, headers, current.id)
    assert portal.webhook(completed_event(chk["checkout_id"], current.total)).json_body["status"] == "applied"
    # Then January's invoice is the one paid, October's still owed
    assert (_invoice_status(current.id), _invoice_status(overdue.id)) == ("paid", "pending")
    # and the subscriber stays suspended, the checkout saying why
    status = portal.get(f"/portal/payments/checkouts/{chk['checkout_id']}", headers).json_body
    assert status["reconnection"] == {
        "rule": "nothing_overdue",
        "reactivated": False,
        "overdue_left": overdue.total,
    }
    assert portal.get("/portal/me", headers).json_body["status"] == "suspended"
    # When October is paid too, nothing overdue remains: reconnected
    chk2 = _checkout(portal, headers, overdue.id)
    portal.webhook(completed_event(chk2["checkout_id"], overdue.total))
    status = portal.get(f"/portal/payments/checkouts/{chk2['checkout_id']}", headers).json_body
    assert status["reconnection"] == {"rule": "nothing_overdue", "reactivated": True, "overdue_left": "0.00"}
    assert portal.get("/portal/me", headers).json_body["status"] == "active"


def test_partial_payments_add_late_and_reconnection_fees_once_per_overdue_period(paying: Portal):
    portal = paying
    op = portal.operator()
    tenant = Tenant.get(portal.demo.tenant_id)
    settings = dict(tenant.settings or {})
    billing_options = dict(settings.get("billing") or {})
    try:
        tenant.update(
            actions=[
                Tenant.settings.set(
                    {**settings, "billing": {**billing_options, "late_fee": "20", "reconnection_fee": "50"}}
                )
            ]
        )
        sub = portal.new_subscriber(
            status="suspended",
            created_at="2026-01-05T12:00:00.000000Z",
            billing={"late_fee": True, "reconnection_fee": True},
        )
        overdue = _monthly(portal, sub.id, "2026-10")
        owed = Decimal(overdue.total)

        def pay(amount: Decimal, key: str) -> dict:
            body = {"subscriber_id": sub.id, "amount": str(amount), "idempotency_key": key}
            resp = portal.post("/admin/payments", op, body)
            assert resp.status_code == 201, resp.body
            return dict(resp.json_body)

        # When the client pays part of the overdue invoice
        first = pay(owed - Decimal("10"), f"part-1-{sub.id}")
        # Then they stay suspended (10.00 still overdue), with one late fee for that invoice
        assert first["reconnection"] == {
            "rule": "nothing_overdue",
            "reactivated": False,
            "overdue_left": "10.00",
        }
        assert Subscriber.get(sub.login).status == "suspended"
        # When they pay the rest: reconnected, with one reconnection fee; no second late fee
        second = pay(Decimal("10"), f"part-2-{sub.id}")
        assert second["reactivated"] and second["reconnection"]["overdue_left"] == "0.00"
        fees = sorted(e.source for e in ExtraProduct.subscriber_index.query(sub.id))
        assert fees == ["late_fee", "reconnection_fee"]
        # And with the tenant's rule "any payment", a partial payment reconnects and says so
        tenant.update(
            actions=[
                Tenant.settings.set(
                    {**settings, "billing": {**billing_options, "reconnect_rule": "any_payment"}}
                )
            ]
        )
        other = portal.new_subscriber(status="suspended", created_at="2026-01-05T12:00:00.000000Z")
        late = _monthly(portal, other.id, "2026-10")
        body = {"subscriber_id": other.id, "amount": "1", "idempotency_key": f"part-{other.id}"}
        resp = portal.post("/admin/payments", op, body).json_body
        assert resp["reconnection"] == {
            "rule": "any_payment",
            "reactivated": True,
            "overdue_left": str(Decimal(late.total) - 1),
        }
    finally:
        tenant.update(actions=[Tenant.settings.set(settings)])


def test_payment_report_with_a_number_for_paid_on_is_a_422_naming_the_field(portal: Portal):
    # a JSON number is not a date (it used to be read as a Unix time: 0 became 1970-01-01)
    headers = portal.login_as(portal.new_subscriber())
    for paid_on in (0, 1767225600):
        r = portal.post(
            "/portal/payments/reports",
            headers,
            {"amount": "30.00", "reference": "TRX-1", "paid_on": paid_on},
        )
        assert r.status_code == 422, r.body
        assert r.json_body["error"]["field"] == "paid_on"


def test_money_in_another_currency_than_the_accounts_is_never_taken_as_the_accounts(paying: Portal):
    portal = paying
    sub = portal.new_subscriber()
    # Given an invoice in EUR, the tenant's currency before it became USD
    inv = portal.invoice("30.00", sub.id)
    Invoice.get(inv.id).update(actions=[Invoice.currency.set("EUR")])
    headers = portal.login_as(sub)
    # When the subscriber opens a checkout for it, or reports a transfer made for it
    checkout = portal.post(f"/portal/invoices/{enc(inv.id)}/checkout", headers)
    report = {"amount": "30.00", "reference": "TRX-EUR", "paid_on": "2026-01-05", "invoice_id": inv.id}
    reported = portal.post("/portal/payments/reports", headers, report)
    # Then both are refused naming the invoice: the account takes USD only
    for resp in (checkout, reported):
        assert resp.status_code == 409, resp.body
        assert resp.json_body["error"]["field"] == "invoice_id"
        assert "EUR" in resp.json_body["error"]["message"]
    # Given a transfer reported in EUR before the change
    earlier = portal.post(
        "/portal/payments/reports",
        headers,
        {"amount": "30.00", "reference": "TRX-OLD", "paid_on": "2026-01-05"},
    ).json_body
    Payment.get(earlier["id"]).update(actions=[Payment.currency.set("EUR")])
    # When an operator confirms it, it is refused naming the currency, and nothing is applied
    operator = portal.operator(role="operator")
    confirm = portal.post(f"/admin/payment-reports/{earlier['id']}/confirm", operator)
    assert confirm.status_code == 409, confirm.body
    assert confirm.json_body["error"]["field"] == "currency"
    assert payments_of(sub.id) == [] and _invoice_status(inv.id) == "pending"
    # And it can still be rejected
    rejected = portal.post(f"/admin/payment-reports/{earlier['id']}/reject", operator, {"reason": "in EUR"})
    assert rejected.status_code == 200, rejected.body
