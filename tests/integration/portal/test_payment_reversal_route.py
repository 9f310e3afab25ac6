"""A manager reverses (part of) a payment through ``POST /admin/payments/{payment_id}/reverse``: once per
idempotency key, the balance in favour first and then the invoices (or leaving them paid), never past
what is left, never another tenant's payment, audited."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from core.ids import frozen_clock
from services.billing.invoices import create_internet_invoice
from services.billing.reversals import reverse_manually, settle_reversals
from store import billing as billing_store
from store.models import Invoice, Subscriber, Tenant
from tests.conftest import serialized_moto
from tests.integration.portal.support import Portal


def _pay(portal: Portal, sub: Subscriber, amount: str, invoice_id: str) -> dict[str, Any]:
    body = {
        "subscriber_id": sub.id,
        "amount": amount,
        "idempotency_key": f"cash-{sub.id}",
        "invoice_id": invoice_id,
    }
    r = portal.post("/admin/payments", portal.operator(), body)
    assert r.status_code == 201, r.body
    return dict(r.json_body["payment"])


def _reverse(
    portal: Portal, payment_id: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Any:
    return portal.post(f"/admin/payments/{payment_id}/reverse", headers or portal.operator(), body)


def _state(invoice_id: str, sub_id: str) -> tuple[str, str, str]:
    inv = billing_store.get_invoice(invoice_id)
    sub = billing_store.get_subscriber_by_id(sub_id)
    assert inv is not None and sub is not None
    return inv.status, inv.paid, sub.balance


def test_a_manager_reverses_a_payment_in_parts_once_per_key(portal: Portal):
    sub = portal.new_subscriber()
    inv = portal.invoice("25.00", sub.id)
    payment = _pay(portal, sub, "30.00", inv.id)  # 25.00 on the invoice, 5.00 balance in favour
    assert _state(inv.id, sub.id) == ("paid", "25.00", "5.00")
    # 10.00 back: the balance in favour first, then the invoice owes 5.00 again
    first = _reverse(
        portal,
        payment["id"],
        {"amount": "10", "reason": "refunded at the counter", "idempotency_key": "rev-key-1"},
    )
    assert first.status_code == 201, first.body
    body = first.json_body
    assert (body["amount"], body["balance_taken"], body["reversed_total"]) == ("10.00", "5.00", "10.00")
    assert [(r["invoice_id"], r["amount"], r["status"]) for r in body["reopened"]] == [
        (inv.id, "5.00", "partial")
    ]
    assert body["payment"]["status"] == "partially_reversed"
    assert body["payment"]["reversed_amount"] == "10.00"  # the console's "Reversed" column
    assert body["payment"]["reversals"]
    assert _state(inv.id, sub.id) == ("partial", "20.00", "0.00")
    # the same request again: the same answer, nothing new; the key with another amount: refused
    again = _reverse(
        portal,
        payment["id"],
        {"amount": "10", "reason": "refunded at the counter", "idempotency_key": "rev-key-1"},
    )
    assert again.status_code == 201 and again.json_body["duplicate"] is True
    assert again.json_body["reversal_id"] == body["reversal_id"]
    clash = _reverse(
        portal,
        payment["id"],
        {"amount": "3", "reason": "refunded at the counter", "idempotency_key": "rev-key-1"},
    )
    assert clash.status_code == 409 and clash.json_body["error"]["field"] == "idempotency_key"
    assert _state(inv.id, sub.id) == ("partial", "20.00", "0.00")
    # more than what is left is refused naming the field; no amount takes back the rest
    over = _reverse(portal, payment["id"], {"amount": "20.01", "reason": "x", "idempotency_key": "rev-key-2"})
    assert over.status_code == 422 and over.json_body["error"]["field"] == "amount"
    assert "20.00" in over.json_body["error"]["message"]
    rest = _reverse(portal, payment["id"], {"reason": "chargeback by phone"}, None)
    assert rest.status_code == 422 and rest.json_body["error"]["field"] == "idempotency_key"
    rest = portal.post(
        f"/admin/payments/{payment['id']}/reverse",
        {**portal.operator(), "Idempotency-Key": "rev-key-3"},
        {"reason": "chargeback by phone"},
    )
    assert rest.status_code == 201, rest.body
    assert rest.json_body["amount"] == "20.00" and rest.json_body["payment"]["status"] == "reversed"
    assert _state(inv.id, sub.id) == ("pending", "0.00", "0.00")
    # nothing is left: 409
    done = _reverse(portal, payment["id"], {"reason": "again", "idempotency_key": "rev-key-4"})
    assert done.status_code == 409 and done.json_body["error"]["field"] == "payment_id"
    # audited with the reason; the subscriber was not suspended
    audit = portal.get(f"/admin/audit?entity_id={payment['id']}", portal.operator()).json_body["items"]
    reasons = sorted(e["after"]["reason"] for e in audit if e["action"] == "reverse")
    assert reasons == ["chargeback by phone", "refunded at the counter"]
    assert portal.subscriber(sub.id).status == "active"


def test_reversal_can_leave_the_invoices_paid(portal: Portal):
    sub = portal.new_subscriber()
    inv = portal.invoice("25.00", sub.id)
    payment = _pay(portal, sub, "30.00", inv.id)
    r = _reverse(
        portal,
        payment["id"],
        {"amount": "8", "reason": "goodwill", "reopen_invoices": False, "idempotency_key": "goodwill-1"},
    )
    assert r.status_code == 201, r.body
    assert r.json_body["balance_taken"] == "5.00" and r.json_body["reversed_total"] == "8.00"
    assert _state(inv.id, sub.id) == ("paid", "25.00", "0.00")  # the invoice stays paid; the credit is gone
    row = billing_store.get_payment(r.json_body["reversal_id"])
    assert row is not None and row.kind == "reversal" and row.applied == [] and row.amount == "8.00"


def test_reversal_input_and_access_are_checked(portal: Portal):
    sub = portal.new_subscriber()
    inv = portal.invoice("10.00", sub.id)
    payment = _pay(portal, sub, "10.00", inv.id)
    for body, field in (
        ({"amount": "5", "idempotency_key": "no-reason-1"}, "reason"),
        ({"amount": "5", "reason": "   ", "idempotency_key": "blank-reason"}, "reason"),
        ({"amount": "0", "reason": "zero", "idempotency_key": "zero-amount"}, "amount"),
        ({"amount": "-1", "reason": "neg", "idempotency_key": "neg-amount"}, "amount"),
        ({"amount": "5", "reason": "short key", "idempotency_key": "short"}, "idempotency_key"),
    ):
        r = _reverse(portal, payment["id"], body)
        assert r.status_code == 422, (body, r.body)
        assert r.json_body["error"]["field"] == field, (body, r.body)
    # below manager: 403; another tenant's operator, or an unknown payment: 404
    low = portal.operator(role="operator")
    assert (
        _reverse(portal, payment["id"], {"reason": "x", "idempotency_key": "low-role-1"}, low).status_code
        == 403
    )
    other = portal.operator(tenant_id=portal.other_tenant())
    r = _reverse(portal, payment["id"], {"reason": "x", "idempotency_key": "other-tenant-1"}, other)
    assert r.status_code == 404 and r.json_body["error"]["field"] == "payment_id"
    assert (
        _reverse(portal, "pay_" + "0" * 32, {"reason": "x", "idempotency_key": "unknown-1"}).status_code
        == 404
    )
    assert _state(inv.id, sub.id) == ("paid", "10.00", "0.00")


def test_concurrent_reversals_never_take_back_more_than_the_payment(portal: Portal):
    sub = portal.new_subscriber()
    inv = portal.invoice("20.00", sub.id)
    payment = _pay(portal, sub, "20.00", inv.id)
    tenants = [portal.demo.tenant_id]

    def one(key: str) -> str:
        try:
            reverse_manually(portal.rt, tenants, payment["id"], Decimal("15"), "x", True, key, "op_test")
        except Exception as exc:  # the loser finds only 5.00 left
            return type(exc).__name__
        return "ok"

    with serialized_moto(), ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(one, [f"concurrent-{i}" for i in range(4)]))
    assert outcomes == ["ValidationError"] * 3 + ["ok"]
    stored = billing_store.get_payment(payment["id"])
    assert stored is not None and stored.reversed_amount == "15.00"
    assert _state(inv.id, sub.id) == ("partial", "5.00", "0.00")


def test_a_reopened_invoice_is_overdue_only_after_its_due_date_in_the_clients_zone(portal: Portal):
    # Given a client of the Mexico City zone whose May invoice, due 31 May, was paid
    with frozen_clock(datetime(2026, 5, 20, 18, 0, tzinfo=UTC)):
        sub = portal.new_subscriber(created_at="2026-01-05T12:00:00.000000Z")
        inv = create_internet_invoice(portal.rt, portal.demo.tenant_id, sub.id, "2026-05", "op_test")
        inv.update(actions=[Invoice.due_date.set("2026-05-31")])
        payment = _pay(portal, sub, inv.total, inv.id)
    # When part of the payment is taken back at 02:00 UTC on 1 June, 20:00 on 31 May in Mexico City
    with frozen_clock(datetime(2026, 6, 1, 2, 0, tzinfo=UTC)):
        due_day = _reverse(
            portal, payment["id"], {"amount": "1", "reason": "fee", "idempotency_key": "due-day-1"}
        )
    # Then the re-opened invoice is not overdue yet: it is still its due day there
    assert due_day.status_code == 201, due_day.body
    assert due_day.json_body["overdue"] == [] and due_day.json_body["reopened"][0]["overdue"] is False
    # and taken back after midnight in Mexico City it is
    with frozen_clock(datetime(2026, 6, 1, 7, 0, tzinfo=UTC)):
        next_day = _reverse(
            portal, payment["id"], {"amount": "1", "reason": "fee", "idempotency_key": "due-day-2"}
        )
    assert next_day.status_code == 201, next_day.body
    assert next_day.json_body["overdue"] == [inv.id]


def test_a_reversal_sent_again_answers_in_the_currencys_decimals_like_the_first(portal: Portal):
    tenant = billing_store.get_tenant(portal.demo.tenant_id)
    assert tenant is not None
    before = tenant.currency
    tenant.update(actions=[Tenant.currency.set("CLP")])
    try:
        sub = portal.new_subscriber()
        inv = portal.invoice("25000", sub.id)
        payment = _pay(portal, sub, "25000", inv.id)
        body = {"amount": "10000", "reason": "refunded at the counter", "idempotency_key": f"rev-{sub.id}"}
        first = _reverse(portal, payment["id"], body)
        assert first.status_code == 201, first.body
        assert (first.json_body["amount"], first.json_body["reversed_total"]) == ("10000", "10000")
        assert (first.json_body["balance_taken"], first.json_body["balance_returned"]) == ("0", "0")
        again = _reverse(portal, payment["id"], body)
        assert again.status_code == 201 and again.json_body["duplicate"] is True
        assert (again.json_body["balance_taken"], again.json_body["balance_returned"]) == ("0", "0")
        # the same total reported again: nothing new, and zeros without the decimals CLP lacks
        dup = settle_reversals(
            portal.rt, portal.demo.tenant_id, payment["id"], {"manual": Decimal(10000)}, None, "op_test"
        )
        assert dup.duplicate and (dup.amount, dup.balance_taken, dup.balance_returned) == ("0", "0", "0")
        assert _state(inv.id, sub.id) == ("partial", "15000", "0")
    finally:
        tenant.update(actions=[Tenant.currency.set(before)])
