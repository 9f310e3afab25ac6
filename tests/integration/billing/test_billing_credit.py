"""Balance in favour never sits beside an unpaid invoice of the same client: credit that lands while an
invoice is made (a payment's surplus, what a cancelled invoice had paid) is applied to it, and the notice
and cutoff runs apply credit before they remind or suspend. Races are played deterministically, as in
``test_billing_concurrency``: the competing operation runs exactly between a read and the write decided
on it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from core.ids import frozen_clock
from services.billing import payments as payments_module
from services.billing.cutoffs import run_tenant_cutoffs
from services.billing.invoice_run import run_tenant_invoices
from services.billing.invoices import cancel_invoice, create_other_invoice
from services.billing.notices import run_tenant_notices
from services.billing.payments import register_payment
from services.billing.reversals import WON, settle_reversals
from shared.runtime import Runtime
from store import audit as audit_store
from store import billing as billing_store
from store.models import ExtraProduct, Invoice, Product, ProvisioningTask, Subscriber
from tests.integration.billing.support import NOW, World, reload
from tests.integration.billing.test_billing_concurrency import CUT_DAY, Once


@dataclass(frozen=True)
class Money:
    """The amounts of one scenario in one currency: the plan's price, a payment of ``price + credit``
    and what is left of it once the price is paid."""

    currency: str
    price: str
    payment: str
    credit: str
    zero: str


USD = Money("USD", "25.00", "40.50", "15.50", "0.00")
CLP = Money("CLP", "25000", "40500", "15500", "0")  # no minor unit
CURRENCIES = pytest.mark.parametrize("m", [USD, CLP], ids=["USD", "CLP"])


def _in(w: World, m: Money) -> None:
    w.set_tenant(currency=m.currency)
    Product.get(w.product_id).update(actions=[Product.price.set(m.price)])


def _other(rt: Runtime, w: World, sub: Subscriber, amount: str) -> Invoice:
    return create_other_invoice(
        rt, w.tenant_id, sub.id, [{"description": "Item", "unit_price": amount}], "op"
    )


def _internet(w: World, name: str) -> Invoice:
    return Invoice.get(w.inv_id(name, "2026-06"), consistent_read=True)


def _credit_entries(entity_id: str) -> list[Any]:
    entries, _ = audit_store.query_entity(entity_id, 50)
    return [e for e in entries if e.action == "credit_applied"]


def _pay(rt: Runtime, w: World, sub: Subscriber, amount: str, key: str) -> Callable[[], Any]:
    return lambda: register_payment(rt, w.tenant_id, sub.id, Decimal(amount), key, "op")


# ---------------------------------------------------------------- credit landing while an invoice is made
@CURRENCIES
def test_a_payment_landing_while_the_invoice_run_invoices_the_client_pays_the_new_invoice(
    rt, w, monkeypatch, m
):
    _in(w, m)
    sub = w.sub("payer")
    owed = _other(rt, w, sub, m.price)
    # the run creates the month's invoice after the payment read what the client owed
    run = Once(lambda: run_tenant_invoices(rt, w.tenant_id, NOW))
    monkeypatch.setattr(
        payments_module, "unpaid_oldest_first", run.after(payments_module.unpaid_oldest_first)
    )
    paid = register_payment(rt, w.tenant_id, sub.id, Decimal(m.payment), "surplus-1", "op")
    assert run.fired and run.outcome.created == 1
    assert (Invoice.get(owed.id).status, paid.payment.balance_after) == ("paid", m.credit)
    new = _internet(w, "payer")
    assert (new.paid, new.status, reload(sub).balance) == (m.credit, "partial", m.zero)
    [entry] = _credit_entries(new.id)
    assert (entry.before["paid"], entry.after["paid"], entry.after["credit_used"]) == (
        "0",
        m.credit,
        m.credit,
    )
    [by_client] = _credit_entries(sub.id)
    assert (by_client.before["balance"], by_client.after["balance"]) == (m.credit, m.zero)


def _by_run(rt: Runtime, w: World, sub: Subscriber) -> Invoice:
    run_tenant_invoices(rt, w.tenant_id, NOW)
    return _internet(w, sub.username)


def _by_hand(rt: Runtime, w: World, sub: Subscriber) -> Invoice:
    return Invoice.get(_other(rt, w, sub, "25").id, consistent_read=True)


@pytest.mark.parametrize(
    ("make", "read"),
    [(_by_run, "tenant_subscribers"), (_by_hand, "get_subscriber_by_id")],
    ids=["invoice_run", "by_hand"],
)
def test_an_invoice_made_while_a_payment_lands_is_paid_from_its_surplus(rt, w, monkeypatch, make, read):
    sub = w.sub("maker")
    # the payment lands after the invoice was drafted on the client's balance as it was (none)
    pay = Once(_pay(rt, w, sub, "15.50", "while-drafting"))
    monkeypatch.setattr(billing_store, read, pay.after(getattr(billing_store, read)))
    inv = make(rt, w, sub)
    assert pay.fired and pay.outcome.payment.balance_after == "15.50"
    assert (inv.total, inv.paid, inv.status, reload(sub).balance) == ("25.00", "15.50", "partial", "0.00")
    assert len(_credit_entries(inv.id)) == 1


@pytest.mark.parametrize("first", ["cancellation", "invoice_run"])
def test_a_cancellation_crediting_the_balance_while_the_invoice_run_invoices_the_client(
    rt, w, monkeypatch, first
):
    sub = w.sub("canceller")
    other = _other(rt, w, sub, "30")
    register_payment(rt, w.tenant_id, sub.id, Decimal("10"), "part-paid", "op")
    cancel = lambda: cancel_invoice(rt, other.id, "op")  # noqa: E731 - what was paid (10) to the balance
    run = lambda: run_tenant_invoices(rt, w.tenant_id, NOW)  # noqa: E731
    if first == "cancellation":  # the run drafts on the balance read before the cancellation
        race = Once(cancel)
        monkeypatch.setattr(billing_store, "tenant_subscribers", race.after(billing_store.tenant_subscribers))
        run()
    else:  # the run invoices the client between the cancellation's read of the balance and its write
        race = Once(run)
        monkeypatch.setattr(
            billing_store, "get_subscriber_by_id", race.after(billing_store.get_subscriber_by_id)
        )
        cancel()
    assert race.fired
    new = _internet(w, "canceller")
    assert (Invoice.get(other.id).status, new.paid, new.status) == ("cancelled", "10.00", "partial")
    assert reload(sub).balance == "0.00"


@pytest.mark.parametrize("first", ["dispute_won", "invoice_run"])
def test_a_won_dispute_giving_credit_back_while_the_invoice_run_invoices_the_client(
    rt, w, monkeypatch, first
):
    sub = w.sub("disputer")
    paid = register_payment(rt, w.tenant_id, sub.id, Decimal("40"), "to-credit", "provider")
    settle_reversals(rt, w.tenant_id, paid.payment.id, {"chargeback": Decimal("40")}, "cb-1", "provider")
    assert reload(sub).balance == "0.00"  # the charge-back took the credit back
    won = lambda: settle_reversals(  # noqa: E731 - the 40 back to the balance
        rt,
        w.tenant_id,
        paid.payment.id,
        {"chargeback": Decimal("40"), WON: Decimal("40")},
        "cb-1",
        "provider",
    )
    run = lambda: run_tenant_invoices(rt, w.tenant_id, NOW)  # noqa: E731
    if first == "dispute_won":
        race = Once(won)
        monkeypatch.setattr(billing_store, "tenant_subscribers", race.after(billing_store.tenant_subscribers))
        run()
    else:
        race = Once(run)
        monkeypatch.setattr(
            billing_store, "get_subscriber_by_id", race.after(billing_store.get_subscriber_by_id)
        )
        won()
    assert race.fired
    new = _internet(w, "disputer")
    assert (new.paid, new.status, reload(sub).balance) == ("25.00", "paid", "15.00")
    assert len(_credit_entries(new.id)) == 1


# ---------------------------------------------------------------- the cutoff and notice runs
def _with_credit(sub: Subscriber, balance: str) -> None:
    """Credit beside an unpaid invoice, as an earlier version could leave it."""
    sub.update(actions=[Subscriber.balance.set(balance)])


@CURRENCIES
def test_the_cutoff_run_pays_the_overdue_invoice_from_credit_and_keeps_the_client_connected(rt, w, m):
    _in(w, m)
    sub = w.sub("covered")
    run_tenant_invoices(rt, w.tenant_id, NOW)
    more = str(Decimal(m.price) + Decimal(m.credit))  # the price and then some
    _with_credit(sub, more)
    result = run_tenant_cutoffs(rt, w.tenant_id, CUT_DAY)
    assert (result.suspended, reload(sub).status) == ([], "active")
    inv = _internet(w, "covered")
    assert (inv.paid, inv.status, inv.cutoff_at) == (m.price, "paid", None)
    assert reload(sub).balance == m.credit  # reduced by exactly what the invoice owed
    assert len(_credit_entries(inv.id)) == 1
    # run again: nothing more is applied
    run_tenant_cutoffs(rt, w.tenant_id, CUT_DAY)
    assert (reload(sub).balance, len(_credit_entries(inv.id))) == (m.credit, 1)


def test_credit_short_of_the_overdue_invoice_is_applied_and_the_client_cut_for_the_rest(rt, w):
    sub = w.sub("short")
    run_tenant_invoices(rt, w.tenant_id, NOW)
    _with_credit(sub, "10.00")
    result = run_tenant_cutoffs(rt, w.tenant_id, CUT_DAY)
    inv = _internet(w, "short")
    assert (inv.paid, inv.status, reload(sub).balance) == ("10.00", "partial", "0.00")
    assert (result.suspended, reload(sub).status) == ([sub.id], "suspended")


def test_no_payment_reminder_for_an_invoice_credit_covers(rt, w):
    covered = w.sub("credited")
    reminded = w.sub("owing")
    run_tenant_invoices(rt, w.tenant_id, NOW)  # issued and noticed on 28 May
    _with_credit(covered, "30.00")
    result = run_tenant_notices(rt, w.tenant_id, NOW)
    assert (result.emails, result.sms) == (1, 1)  # the owing client only
    inv = _internet(w, "credited")
    assert (inv.paid, inv.status, inv.notified_at) == ("25.00", "paid", None)
    assert reload(covered).balance == "5.00"
    assert _internet(w, "owing").notified_at is not None and reload(reminded).balance == "0"


# ---------------------------------------------------------------- credit reconnecting a client cut off for its invoices
AFTER_CUT = CUT_DAY + timedelta(days=1)  # 6 June: the day after the June invoices' cutoff
FEES = {"billing": {"reconnection_fee": "50"}}


def _cut_off(rt: Runtime, w: World, sub: Subscriber) -> Invoice:
    """The client's June invoice (25.00, due 1 June) still unpaid on its cutoff day: cut off for it."""
    run_tenant_invoices(rt, w.tenant_id, NOW)
    with frozen_clock(CUT_DAY):
        assert run_tenant_cutoffs(rt, w.tenant_id, CUT_DAY).suspended == [sub.id]
    return _internet(w, sub.username)


def _paid_in_part(rt: Runtime, w: World, sub: Subscriber, paid: str) -> Invoice:
    """An antenna invoice (30.00, older than the June invoice) the client paid ``paid`` of: cancelling it
    makes that credit."""
    with frozen_clock(NOW):
        antenna = _other(rt, w, sub, "30")
        register_payment(rt, w.tenant_id, sub.id, Decimal(paid), f"antenna-{sub.id}", "op")
    return antenna


def _reconnection_tasks(w: World, sub: Subscriber) -> list[ProvisioningTask]:
    return [
        t
        for t in ProvisioningTask.gateway_index.query(w.gateway_id)
        if t.subscriber_id == sub.id and t.kind == "reconcile_subscriber"
    ]


def _fees(sub: Subscriber) -> list[tuple[str, str]]:
    return sorted((e.source, e.price) for e in ExtraProduct.subscriber_index.query(sub.id))


def _credit_by_cancellation(rt: Runtime, w: World, sub: Subscriber) -> None:
    antenna = _paid_in_part(rt, w, sub, "25")
    _cut_off(rt, w, sub)
    with frozen_clock(AFTER_CUT):
        cancel_invoice(rt, antenna.id, "op")  # the 25.00 it had paid is credit


def _credit_by_won_dispute(rt: Runtime, w: World, sub: Subscriber) -> None:
    with frozen_clock(NOW):
        paid = register_payment(rt, w.tenant_id, sub.id, Decimal("25"), f"early-{sub.id}", "provider")
        settle_reversals(rt, w.tenant_id, paid.payment.id, {"chargeback": Decimal("25")}, "cb", "provider")
    _cut_off(rt, w, sub)
    with frozen_clock(AFTER_CUT):
        settle_reversals(
            rt,
            w.tenant_id,
            paid.payment.id,
            {"chargeback": Decimal("25"), WON: Decimal("25")},
            "cb",
            "provider",
        )


def _credit_by_cutoff_run(rt: Runtime, w: World, sub: Subscriber) -> None:
    _cut_off(rt, w, sub)
    _with_credit(sub, "25.00")  # credit beside the unpaid invoice, as an earlier version could leave it
    with frozen_clock(AFTER_CUT):
        result = run_tenant_cutoffs(rt, w.tenant_id, AFTER_CUT)
    assert (result.credit_applied, result.reconnected, result.suspended) == (1, [sub.id], [])


@pytest.mark.parametrize(
    "credit",
    [_credit_by_cancellation, _credit_by_won_dispute, _credit_by_cutoff_run],
    ids=["cancellation", "dispute_won", "cutoff_run"],
)
def test_credit_paying_the_invoices_a_client_was_cut_off_for_reconnects_it_as_a_payment_would(rt, w, credit):
    w.set_tenant(settings=FEES)
    sub = w.sub("cutoff", billing={"reconnection_fee": True})
    credit(rt, w, sub)
    june = _internet(w, "cutoff")
    assert (june.status, june.paid, reload(sub).balance) == ("paid", "25.00", "0.00")
    assert reload(sub).status == "active"
    # the router is told, the reconnection fee is on the next invoice, the audit says why
    [task] = _reconnection_tasks(w, sub)
    assert task.status == "queued"
    assert _fees(sub) == [("reconnection_fee", "50.00")]
    [entry] = _credit_entries(sub.id)
    assert (entry.before["status"], entry.after["status"]) == ("suspended", "active")
    assert entry.after["reconnection"] == {
        "rule": "nothing_overdue",
        "reactivated": True,
        "overdue_left": "0.00",
    }
    assert entry.after["fees"][0]["kind"] == "reconnection_fee"


@pytest.mark.parametrize(("rule", "status"), [("nothing_overdue", "suspended"), ("any_payment", "active")])
def test_credit_paying_part_of_the_overdue_invoice_reconnects_under_the_tenants_rule(rt, w, rule, status):
    w.set_tenant(settings={"billing": {"reconnect_rule": rule}})
    sub = w.sub("partial")
    antenna = _paid_in_part(rt, w, sub, "10")
    _cut_off(rt, w, sub)
    with frozen_clock(AFTER_CUT):
        cancel_invoice(rt, antenna.id, "op")  # 10.00 of credit for the 25.00 overdue
    june = _internet(w, "partial")
    assert (june.status, june.paid) == ("partial", "10.00")
    assert reload(sub).status == status
    assert len(_reconnection_tasks(w, sub)) == (1 if status == "active" else 0)
    # a payment of the same amount decides the same: the other client, cut off the same way
    payer = w.sub("payer")
    run_tenant_invoices(rt, w.tenant_id, NOW)
    with frozen_clock(CUT_DAY):
        run_tenant_cutoffs(rt, w.tenant_id, CUT_DAY)
    with frozen_clock(AFTER_CUT):
        paid = register_payment(rt, w.tenant_id, payer.id, Decimal("10"), "same", "provider", activate=True)
    assert (paid.reactivated, reload(payer).status) == (status == "active", status)
    [entry] = _credit_entries(sub.id)
    assert entry.after.get("reconnection") == paid.reconnection


def test_credit_never_reconnects_a_client_suspended_by_hand(rt, w):
    sub = w.sub("byhand")
    antenna = _paid_in_part(rt, w, sub, "25")
    run_tenant_invoices(rt, w.tenant_id, NOW)
    sub.update(actions=[Subscriber.status.set("suspended")])  # by an operator, not for the invoice
    with frozen_clock(AFTER_CUT):
        assert run_tenant_cutoffs(rt, w.tenant_id, AFTER_CUT).suspended == []
        cancel_invoice(rt, antenna.id, "op")
    june = _internet(w, "byhand")
    assert (june.status, june.cutoff_at, reload(sub).balance) == ("paid", None, "0.00")
    assert reload(sub).status == "suspended"
    assert _reconnection_tasks(w, sub) == []
    [entry] = _credit_entries(sub.id)
    assert "reconnection" not in entry.after


def test_the_cutoff_run_using_credit_for_a_connected_client_neither_cuts_nor_reconnects_it(rt, w):
    w.set_tenant(settings=FEES)
    sub = w.sub("connected", billing={"reconnection_fee": True})
    run_tenant_invoices(rt, w.tenant_id, NOW)
    _with_credit(sub, "25.00")
    with frozen_clock(CUT_DAY):
        result = run_tenant_cutoffs(rt, w.tenant_id, CUT_DAY)
    assert (result.suspended, result.reconnected, reload(sub).status) == ([], [], "active")
    assert (_internet(w, "connected").status, _fees(sub), _reconnection_tasks(w, sub)) == ("paid", [], [])


def test_a_client_reconnected_by_its_credit_in_the_cutoff_run_is_not_cut_again_by_it(rt, w):
    w.set_tenant(settings={"billing": {"reconnect_rule": "any_payment"}})
    sub = w.sub("again")
    _cut_off(rt, w, sub)
    _with_credit(sub, "10.00")
    with frozen_clock(AFTER_CUT):
        result = run_tenant_cutoffs(rt, w.tenant_id, AFTER_CUT)
    assert (result.reconnected, result.suspended, reload(sub).status) == ([sub.id], [], "active")
    assert _internet(w, "again").status == "partial"
    assert len(_reconnection_tasks(w, sub)) == 1


def test_a_payment_reconnecting_the_client_while_its_credit_is_decided_reconnects_it_once(rt, w, monkeypatch):
    w.set_tenant(settings=FEES)
    sub = w.sub("both", billing={"reconnection_fee": True})
    antenna = _paid_in_part(rt, w, sub, "25")
    _cut_off(rt, w, sub)
    # the client pays online after the credit read what it owes, before the credit is written
    pay = Once(
        lambda: register_payment(rt, w.tenant_id, sub.id, Decimal("25"), "online", "provider", activate=True)
    )
    monkeypatch.setattr(billing_store, "invoices_current", pay.after(billing_store.invoices_current))
    with frozen_clock(AFTER_CUT):
        cancel_invoice(rt, antenna.id, "op")
    assert pay.fired and pay.outcome.reactivated
    assert (reload(sub).status, reload(sub).balance, _internet(w, "both").paid) == (
        "active",
        "25.00",
        "25.00",
    )
    assert _fees(sub) == [("reconnection_fee", "50.00")]
    assert len(_reconnection_tasks(w, sub)) == 1
    assert _credit_entries(sub.id) == []
