"""Payments on moto: once per idempotency key, oldest invoices first, balance in favour, reactivation,
fees, recharge-type date moves, promises."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest

from core.billing_calendar import local_date
from core.errors import ConflictError, ValidationError
from core.ids import utcnow
from services.billing.invoice_run import run_tenant_invoices
from services.billing.invoices import create_other_invoice
from services.billing.payments import PaymentResult, register_payment
from services.billing.promises import register_promise
from shared.runtime import Runtime
from store.models import ExtraProduct, Invoice, Payment, ProvisioningTask, Subscriber
from tests.conftest import serialized_moto
from tests.integration.billing.support import (
    NOW,
    TZ,
    World,
    reload,
)


def _other(rt: Runtime, w: World, sub: Subscriber, amount: str, what: str = "Item") -> Invoice:
    return create_other_invoice(rt, w.tenant_id, sub.id, [{"description": what, "unit_price": amount}], "op")


def test_payment_posted_twice_records_once(rt, w):
    sub = w.sub("payer")
    run_tenant_invoices(rt, w.tenant_id, NOW)
    first = register_payment(rt, w.tenant_id, sub.id, Decimal("25"), "key-0001-payer", w.operator_id)
    again = register_payment(rt, w.tenant_id, sub.id, Decimal("25"), "key-0001-payer", w.operator_id)
    assert (first.replayed, again.replayed) == (False, True)
    assert first.payment.id == again.payment.id
    assert len(list(Payment.subscriber_index.query(sub.id))) == 1
    inv = Invoice.get(w.inv_id("payer", "2026-06"))
    assert (inv.paid, inv.status) == ("25.00", "paid")
    assert reload(sub).balance == "0.00"  # not credited twice
    # the same key for a different payment is refused; an empty key is invalid
    with pytest.raises(ConflictError):
        register_payment(rt, w.tenant_id, sub.id, Decimal("30"), "key-0001-payer", w.operator_id)
    with pytest.raises(ValidationError):
        register_payment(rt, w.tenant_id, sub.id, Decimal("30"), "", w.operator_id)


def test_the_same_payment_posted_concurrently_records_once(rt, w):
    sub = w.sub("racer")
    _other(rt, w, sub, "30")
    results: list[PaymentResult] = []

    def post() -> None:
        results.append(register_payment(rt, w.tenant_id, sub.id, Decimal("50"), "key-race-0001", "op"))

    with serialized_moto():
        threads = [threading.Thread(target=post) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert len(results) == 3 and sum(not r.replayed for r in results) == 1
    assert len(list(Payment.subscriber_index.query(sub.id))) == 1
    assert reload(sub).balance == "20.00"


def test_oldest_first_partial_and_balance_in_favour(rt, w):
    sub = w.sub("multi")
    a = _other(rt, w, sub, "30", "Old")
    b = _other(rt, w, sub, "20", "New")
    r = register_payment(rt, w.tenant_id, sub.id, Decimal("40"), "key-multi-1", "op")
    assert [(x["invoice_id"], x["amount"], x["status"]) for x in r.invoices] == [
        (a.id, "30.00", "paid"),
        (b.id, "10.00", "partial"),
    ]
    register_payment(rt, w.tenant_id, sub.id, Decimal("25"), "key-multi-2", "op")
    assert (Invoice.get(b.id).status, reload(sub).balance) == ("paid", "15.00")
    # the balance in favour pays the next invoice
    run_tenant_invoices(rt, w.tenant_id, NOW)
    inv = Invoice.get(w.inv_id("multi", "2026-06"))
    assert (inv.paid, inv.status, reload(sub).balance) == ("15.00", "partial", "0.00")


def test_payment_reactivates_a_suspended_client(rt, w):
    sub = w.sub("cutme", status="suspended")
    _other(rt, w, sub, "25")
    r = register_payment(rt, w.tenant_id, sub.id, Decimal("25"), "key-react-1", "op", activate=True)
    assert r.reactivated and reload(sub).status == "active"
    assert r.sync is not None and r.sync["status"] == "queued"
    task = ProvisioningTask.get(r.sync["task_id"])
    assert (task.kind, task.subscriber_id, task.status, task.gateway_id) == (
        "reconcile_subscriber",
        sub.id,
        "queued",
        w.gateway_id,
    )
    sqs = rt.aws.client("sqs")
    url = sqs.get_queue_url(QueueName=rt.settings.provision_queue_name)["QueueUrl"]
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert any(task.id in m["Body"] for m in msgs)
    assert Payment.get(r.payment.id).effects["sync"]["task_id"] == task.id


def test_payment_without_activation_leaves_status(rt, w):
    sub = w.sub("stay", status="suspended")
    _other(rt, w, sub, "25")
    r = register_payment(rt, w.tenant_id, sub.id, Decimal("25"), "key-stay-1", "op", activate=False)
    assert not r.reactivated and reload(sub).status == "suspended"


def test_reconnection_and_late_fees_only_with_the_options_on(rt, w):
    w.set_tenant(settings={"billing": {"reconnection_fee": "50", "late_fee": "20"}})
    on = w.sub("feeon", status="suspended", billing={"reconnection_fee": True, "late_fee": True})
    off = w.sub("feeoff", status="suspended")
    run_tenant_invoices(rt, w.tenant_id, NOW)  # due 1 June
    for sub in (on, off):
        register_payment(
            rt,
            w.tenant_id,
            sub.id,
            Decimal("25"),
            f"key-fee-{sub.id}",
            "op",
            activate=True,
            paid_on=date(2026, 6, 3),
        )
    fees = sorted((e.source, e.price, e.mode) for e in ExtraProduct.subscriber_index.query(on.id))
    assert fees == [("late_fee", "20.00", "one_payment"), ("reconnection_fee", "50.00", "one_payment")]
    assert list(ExtraProduct.subscriber_index.query(off.id)) == []
    # the fees are on the next invoice (28 June for July), once
    run_tenant_invoices(rt, w.tenant_id, NOW.replace(month=6))
    nxt = Invoice.get(w.inv_id("feeon", "2026-07"))
    number = Invoice.get(w.inv_id("feeon", "2026-06")).number
    assert sorted(line["description"] for line in nxt.lines if line["kind"] == "extra") == [
        f"Late fee (invoice {number})",
        "Reconnection fee",
    ]
    run_tenant_invoices(rt, w.tenant_id, NOW.replace(month=7))
    assert [line["kind"] for line in Invoice.get(w.inv_id("feeon", "2026-08")).lines] == ["service"]


@pytest.mark.parametrize(
    ("before", "paid_on", "after", "next_issue"),
    [
        ((19, 20, 22, 29), date(2026, 4, 24), (18, 20, 24, 30), "2026-05-18"),
        ((26, 26, 1, 8), date(2026, 4, 28), (22, 24, 28, 4), "2026-05-22"),
    ],
)
def test_recharge_type_user_dates_move_on_payment(rt, w, before, paid_on, after, next_issue):
    keys = ("issue_day", "notice_day", "payment_day", "cutoff_day")
    sub = w.sub(
        "recharge", billing={"own_dates": True, "recharge": True, **dict(zip(keys, before, strict=True))}
    )
    _other(rt, w, sub, "25")
    r = register_payment(rt, w.tenant_id, sub.id, Decimal("25"), "key-recharge-1", "op", paid_on=paid_on)
    got = reload(sub).billing
    assert tuple(got[k] for k in keys) == after
    assert r.billing_dates is not None and r.billing_dates["next_issue_date"] == next_issue


def test_recharge_user_next_invoice_follows_the_moved_dates(rt, w):
    # seed example 2: 26/26/1/8, paid 28 April → 22/24/28/4: the next invoice is issued 22 May
    sub = w.sub(
        "moved",
        billing={
            "own_dates": True,
            "recharge": True,
            "issue_day": 26,
            "notice_day": 26,
            "payment_day": 1,
            "cutoff_day": 8,
        },
    )
    _other(rt, w, sub, "25")
    register_payment(rt, w.tenant_id, sub.id, Decimal("25"), "key-moved-1", "op", paid_on=date(2026, 4, 28))
    assert run_tenant_invoices(rt, w.tenant_id, NOW.replace(day=21)).created == 0
    run_tenant_invoices(rt, w.tenant_id, NOW.replace(day=22))
    inv = Invoice.get(w.inv_id("moved", "2026-05"))
    assert (inv.issue_date, inv.notice_date, inv.due_date, inv.cutoff_date) == (
        "2026-05-22",
        "2026-05-24",
        "2026-05-28",
        "2026-06-04",
    )


def test_promise_delays_the_cutoff_and_reactivates(rt, w):
    sub = w.sub("promiser", status="suspended")
    _other(rt, w, sub, "25")
    today = local_date(utcnow(), TZ)
    r = register_promise(rt, w.tenant_id, sub.id, today + timedelta(days=3), "op")
    assert r.reactivated and reload(sub).status == "active"
    assert reload(sub).billing["promise_until"] == (today + timedelta(days=3)).isoformat()
    assert r.payment.kind == "promise"
    with pytest.raises(ValidationError):
        register_promise(rt, w.tenant_id, sub.id, date(2000, 1, 1), "op")
    # paying everything keeps the promise: it is cleared
    register_payment(rt, w.tenant_id, sub.id, Decimal("25"), "key-promise-pay", "op")
    assert "promise_until" not in reload(sub).billing
