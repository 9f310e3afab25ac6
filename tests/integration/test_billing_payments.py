"""Payments on moto: once per idempotency key, oldest invoices first, balance in favour, reactivation,
fees, recharge-type date moves, promises."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core.errors import ConflictError, ValidationError
from services import billing
from store.models import ExtraProduct, Invoice, Payment, ProvisioningTask
from tests.integration.billing_support import NOW, enable_router_api, make_sub, reload, set_tenant, set_zone


@pytest.fixture
def zone(demo):
    set_zone(demo.zone_id, 28, 28, 1, 5)
    return demo


def _other(rt, sub, amount: str, what: str = "Item") -> Invoice:
    return billing.create_other_invoice(rt, "ten_demo", sub.id, [{"description": what, "unit_price": amount}], "op")


def test_payment_posted_twice_records_once(runtime, zone):
    sub = make_sub(runtime.box, "payer")
    billing.run_tenant_invoices(runtime, "ten_demo", NOW)
    first = billing.register_payment(runtime, "ten_demo", sub.id, Decimal("25"), "key-0001-payer", "op_demo_manager")
    again = billing.register_payment(runtime, "ten_demo", sub.id, Decimal("25"), "key-0001-payer", "op_demo_manager")
    assert (first.replayed, again.replayed) == (False, True)
    assert first.payment.id == again.payment.id
    assert len(list(Payment.subscriber_index.query(sub.id))) == 1
    inv = Invoice.get("inv#sub_payer#2026-06")
    assert (inv.paid, inv.status) == ("25.00", "paid")
    assert reload(sub).balance == "0.00"  # not credited twice
    # the same key for a different payment is refused
    with pytest.raises(ConflictError):
        billing.register_payment(runtime, "ten_demo", sub.id, Decimal("30"), "key-0001-payer", "op_demo_manager")
    with pytest.raises(ValidationError):
        billing.register_payment(runtime, "ten_demo", sub.id, Decimal("30"), "", "op_demo_manager")


def test_oldest_first_partial_and_balance_in_favour(runtime, zone):
    sub = make_sub(runtime.box, "multi")
    a = _other(runtime, sub, "30", "Old")
    b = _other(runtime, sub, "20", "New")
    r = billing.register_payment(runtime, "ten_demo", sub.id, Decimal("40"), "key-multi-1", "op")
    assert [(x["invoice_id"], x["amount"], x["status"]) for x in r.invoices] == [(a.id, "30.00", "paid"), (b.id, "10.00", "partial")]
    billing.register_payment(runtime, "ten_demo", sub.id, Decimal("25"), "key-multi-2", "op")
    assert (Invoice.get(b.id).status, reload(sub).balance) == ("paid", "15.00")
    # the balance in favour pays the next invoice
    billing.run_tenant_invoices(runtime, "ten_demo", NOW)
    inv = Invoice.get("inv#sub_multi#2026-06")
    assert (inv.paid, inv.status, reload(sub).balance) == ("15.00", "partial", "0.00")


def test_payment_reactivates_a_suspended_client(runtime, zone):
    enable_router_api("gw_demo")
    sub = make_sub(runtime.box, "cutme", status="suspended")
    _other(runtime, sub, "25")
    r = billing.register_payment(runtime, "ten_demo", sub.id, Decimal("25"), "key-react-1", "op", activate=True)
    assert r.reactivated and reload(sub).status == "active"
    assert r.sync is not None and r.sync["status"] == "queued"
    task = ProvisioningTask.get(r.sync["task_id"])
    assert (task.kind, task.subscriber_id, task.status) == ("reconcile_subscriber", sub.id, "queued")
    msgs = runtime.aws.client("sqs").receive_message(
        QueueUrl=runtime.aws.client("sqs").get_queue_url(QueueName=runtime.settings.provision_queue_name)["QueueUrl"],
        MaxNumberOfMessages=10,
    ).get("Messages", [])
    assert any(task.id in m["Body"] for m in msgs)


def test_payment_without_activation_leaves_status(runtime, zone):
    sub = make_sub(runtime.box, "stay", status="suspended")
    _other(runtime, sub, "25")
    r = billing.register_payment(runtime, "ten_demo", sub.id, Decimal("25"), "key-stay-1", "op", activate=False)
    assert not r.reactivated and reload(sub).status == "suspended"


def test_reconnection_and_late_fees_only_with_the_options_on(runtime, zone):
    set_tenant("ten_demo", settings={"billing": {"reconnection_fee": "50", "late_fee": "20"}})
    on = make_sub(runtime.box, "feeon", status="suspended", billing={"reconnection_fee": True, "late_fee": True})
    off = make_sub(runtime.box, "feeoff", status="suspended")
    billing.run_tenant_invoices(runtime, "ten_demo", NOW)  # due 1 June
    for sub in (on, off):
        billing.register_payment(runtime, "ten_demo", sub.id, Decimal("25"), f"key-fee-{sub.id}", "op", activate=True,
                                 paid_on=date(2026, 6, 3))
    fees = sorted((e.source, e.price, e.mode) for e in ExtraProduct.subscriber_index.query(on.id))
    assert fees == [("late_fee", "20.00", "one_payment"), ("reconnection_fee", "50.00", "one_payment")]
    assert list(ExtraProduct.subscriber_index.query(off.id)) == []
    # the fees are on the next invoice (28 June for July)
    billing.run_tenant_invoices(runtime, "ten_demo", NOW.replace(month=6))
    nxt = Invoice.get("inv#sub_feeon#2026-07")
    assert sorted(l["description"] for l in nxt.lines if l["kind"] == "extra") == ["Late fee (invoice 2)", "Reconnection fee"]


@pytest.mark.parametrize(
    ("before", "paid_on", "after", "next_issue"),
    [
        ((19, 20, 22, 29), date(2026, 4, 24), (18, 20, 24, 30), "2026-05-18"),
        ((26, 26, 1, 8), date(2026, 4, 28), (22, 24, 28, 4), "2026-05-22"),
    ],
)
def test_recharge_type_user_dates_move_on_payment(runtime, zone, before, paid_on, after, next_issue):
    keys = ("issue_day", "notice_day", "payment_day", "cutoff_day")
    sub = make_sub(runtime.box, "recharge", billing={"own_dates": True, "recharge": True, **dict(zip(keys, before))})
    _other(runtime, sub, "25")
    r = billing.register_payment(runtime, "ten_demo", sub.id, Decimal("25"), "key-recharge-1", "op", paid_on=paid_on)
    got = reload(sub).billing
    assert tuple(got[k] for k in keys) == after
    assert r.billing_dates is not None and r.billing_dates["next_issue_date"] == next_issue


def test_promise_delays_the_cutoff_and_reactivates(runtime, zone):
    sub = make_sub(runtime.box, "promiser", status="suspended")
    _other(runtime, sub, "25")
    today = billing.local_date(billing.utcnow(), "America/Mexico_City")
    r = billing.register_promise(runtime, "ten_demo", sub.id, today, "op")
    assert r.reactivated and reload(sub).status == "active"
    assert reload(sub).billing["promise_until"] == today.isoformat()
    with pytest.raises(ValidationError):
        billing.register_promise(runtime, "ten_demo", sub.id, date(2000, 1, 1), "op")
