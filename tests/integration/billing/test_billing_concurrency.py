"""Money flows racing each other on moto: operators, provider webhooks, the cutoff run and promise expiry
working on the same client at once. Each race is played deterministically: the competing operation runs
exactly between the interrupted operation's read and its write (a store function wrapped to run it once),
so the outcome never depends on timing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pynamodb.connection.base import Connection

from core.errors import ConflictError
from core.ids import frozen_clock
from services.billing import payments as payments_module
from services.billing import promises as promises_module
from services.billing.cutoffs import run_promise_expiry, run_tenant_cutoffs
from services.billing.invoice_run import run_tenant_invoices
from services.billing.invoices import cancel_invoice, create_other_invoice
from services.billing.notices import run_tenant_notices
from services.billing.payments import register_payment
from services.billing.promises import register_promise
from services.billing.reversals import reverse_manually
from shared.runtime import Runtime
from store import billing as billing_store
from store.models import Invoice, Payment, Subscriber
from tests.integration.billing.support import NOW, World, reload

CUT_DAY = NOW + timedelta(days=8)  # 5 June in Mexico City: cutoff day of the invoices issued 28 May
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
RECHARGE = {
    "own_dates": True,
    "recharge": True,
    "issue_day": 19,
    "notice_day": 20,
    "payment_day": 22,
    "cutoff_day": 29,
}


class Once:
    """Runs ``competing`` once, at the first call of the wrapped function: ``after`` its result was read
    (a read the interrupted operation decides on) or ``before`` it runs (the interrupted write)."""

    def __init__(self, competing: Callable[[], Any]) -> None:
        self.competing = competing
        self.fired = False
        self.outcome: Any = None

    def _fire(self) -> None:
        if not self.fired:
            self.fired = True
            self.outcome = self.competing()

    def after(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            result = fn(*args, **kwargs)
            if isinstance(result, list | dict) or not hasattr(result, "__next__"):
                self._fire()
                return result
            items = list(result)  # an iterator: read it all first
            self._fire()
            return iter(items)

        return wrapped

    def before(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self._fire()
            return fn(*args, **kwargs)

        return wrapped


def _other(rt: Runtime, w: World, sub: Subscriber, amount: str) -> Invoice:
    return create_other_invoice(
        rt, w.tenant_id, sub.id, [{"description": "Item", "unit_price": amount}], "op"
    )


def _payments(sub: Subscriber) -> list[Payment]:
    return [p for p in billing_store.payments_of_subscriber(sub.id) if p.kind == "payment"]


# ---------------------------------------------------------------- payments on the same invoice
def test_two_payments_on_one_invoice_at_once_pay_it_once_and_credit_the_surplus(rt, w, monkeypatch):
    sub = w.sub("twice")
    inv = _other(rt, w, sub, "30")
    second = Once(
        lambda: register_payment(
            rt, w.tenant_id, sub.id, Decimal("20"), "online-1", "provider", invoice_id=inv.id
        )
    )
    monkeypatch.setattr(
        payments_module, "unpaid_oldest_first", second.after(payments_module.unpaid_oldest_first)
    )
    first = register_payment(rt, w.tenant_id, sub.id, Decimal("25"), "manual-1", "op", invoice_id=inv.id)
    assert second.fired
    now = Invoice.get(inv.id)
    assert (now.status, now.paid) == ("paid", "30.00")
    # the one that lands second pays what is left and the rest is balance in favour
    assert [(a["invoice_id"], a["amount"]) for a in second.outcome.invoices] == [(inv.id, "20.00")]
    assert [(a["invoice_id"], a["amount"]) for a in first.invoices] == [(inv.id, "10.00")]
    assert (first.payment.balance_after, reload(sub).balance) == ("15.00", "15.00")
    assert sorted(p.amount for p in _payments(sub)) == ["20.00", "25.00"]


def test_a_payment_for_an_invoice_cancelled_meanwhile_goes_to_the_balance_and_says_so(rt, w, monkeypatch):
    sub = w.sub("cancelled")
    inv = _other(rt, w, sub, "30")
    cancel = Once(lambda: cancel_invoice(rt, inv.id, "op"))
    monkeypatch.setattr(billing_store, "get_invoice", cancel.after(billing_store.get_invoice))
    r = register_payment(rt, w.tenant_id, sub.id, Decimal("30"), "late-1", "op", invoice_id=inv.id)
    assert cancel.fired
    now = Invoice.get(inv.id)
    assert (now.status, now.paid) == ("cancelled", "0")
    assert (r.invoices, reload(sub).balance) == ([], "30.00")
    assert r.payment.effects["invoice_status"] == "cancelled"  # not applied where it was meant: said so


def test_a_reversal_and_a_payment_on_one_invoice_at_once_leave_it_owing_the_difference(rt, w, monkeypatch):
    sub = w.sub("both")
    inv = _other(rt, w, sub, "50")
    paid = register_payment(rt, w.tenant_id, sub.id, Decimal("20"), "pay-a", "op", invoice_id=inv.id)
    pay = Once(
        lambda: register_payment(rt, w.tenant_id, sub.id, Decimal("25"), "pay-b", "op", invoice_id=inv.id)
    )
    monkeypatch.setattr(billing_store, "get_invoice", pay.after(billing_store.get_invoice))
    reverse_manually(rt, [w.tenant_id], paid.payment.id, None, "bounced", True, "rev-a", "op")
    assert pay.fired
    now = Invoice.get(inv.id)
    assert (now.status, now.paid, reload(sub).balance) == ("partial", "25.00", "0.00")


# ---------------------------------------------------------------- the cutoff run
def _pay_in_full(rt: Runtime, w: World, sub: Subscriber) -> Callable[[], Any]:
    return lambda: register_payment(rt, w.tenant_id, sub.id, Decimal("25"), "paid-at-cutoff", "portal")


def _promise(rt: Runtime, w: World, sub: Subscriber) -> Callable[[], Any]:
    return lambda: register_promise(rt, w.tenant_id, sub.id, date(2026, 6, 8), "op")


@pytest.mark.parametrize("competing", [_pay_in_full, _promise], ids=["payment", "promise"])
def test_a_client_who_pays_or_promises_while_the_cutoff_decides_stays_connected(
    rt, w, monkeypatch, competing
):
    sub = w.sub("racer")
    run_tenant_invoices(rt, w.tenant_id, NOW)  # 25.00 due 1 June, cut on 5 June
    race = Once(competing(rt, w, sub))
    for name in ("update_subscriber", "transact"):  # the cutoff's write, whichever the run uses
        monkeypatch.setattr(billing_store, name, race.before(getattr(billing_store, name)))
    with frozen_clock(CUT_DAY):
        result = run_tenant_cutoffs(rt, w.tenant_id, CUT_DAY)
    assert race.fired
    assert (reload(sub).status, result.suspended) == ("active", [])
    assert Invoice.get(w.inv_id("racer", "2026-06")).cutoff_at is None


def test_a_promise_renewed_while_the_old_one_expires_is_kept(rt, w, monkeypatch):
    sub = w.sub("renewer", billing={"promise_until": "2026-06-04"})
    run_tenant_invoices(rt, w.tenant_id, NOW)
    renew = Once(_promise(rt, w, sub))
    monkeypatch.setattr(billing_store, "tenant_subscribers", renew.after(billing_store.tenant_subscribers))
    with frozen_clock(CUT_DAY):
        results = run_promise_expiry(rt, CUT_DAY, [w.tenant_id])
    assert renew.fired
    assert reload(sub).billing == {"promise_until": "2026-06-08"}
    assert reload(sub).status == "active"
    assert all(sub.id not in r.suspended for r in results)


# ---------------------------------------------------------------- billing options written by two operations
def _recharge_payment(rt: Runtime, w: World, sub: Subscriber) -> Callable[[], Any]:
    return lambda: register_payment(rt, w.tenant_id, sub.id, Decimal("10"), "partial-1", "op")


@pytest.mark.parametrize("interrupted", ["payment", "promise"])
def test_a_promise_and_a_payment_moving_the_dates_at_once_keep_both(rt, w, monkeypatch, interrupted):
    sub = w.sub("recharger", billing=dict(RECHARGE))
    _other(rt, w, sub, "25")
    pay, promise = _recharge_payment(rt, w, sub), _promise(rt, w, sub)
    module, competing, first = (
        (payments_module, promise, pay) if interrupted == "payment" else (promises_module, pay, promise)
    )
    race = Once(competing)
    monkeypatch.setattr(module, "unpaid_oldest_first", race.after(module.unpaid_oldest_first))
    with frozen_clock(NOW):  # paid on 28 May: payment day 28, issue 22, notice 24, cutoff 3
        first()
    assert race.fired
    billing = reload(sub).billing
    assert billing["promise_until"] == "2026-06-08"  # a partial payment keeps the promise
    assert (billing["issue_day"], billing["payment_day"], billing["cutoff_day"]) == (22, 28, 3)


# ---------------------------------------------------------------- balance in favour
def test_balance_in_favour_used_by_two_invoices_at_once_is_used_once(rt, w, monkeypatch):
    sub = w.sub("credit", balance="30.00")
    second: list[Invoice] = []
    make = Once(lambda: second.append(_other(rt, w, sub, "20")))
    monkeypatch.setattr(billing_store, "read_counter", make.after(billing_store.read_counter))
    with pytest.raises(
        ConflictError
    ):  # decided on a balance that was used meanwhile: said so, nothing written
        _other(rt, w, sub, "20")
    assert make.fired
    assert (second[0].paid, second[0].status, reload(sub).balance) == ("20.00", "paid", "10.00")
    again = _other(rt, w, sub, "20")  # the operator's retry uses what is left
    assert (again.paid, again.status, reload(sub).balance) == ("10.00", "partial", "0.00")
    assert sorted(int(i.number) for i in billing_store.invoices_of_subscriber(sub.id)) == [1, 2]


def test_cancelling_a_partly_paid_invoice_credits_what_was_paid_in_the_same_write(rt, w, monkeypatch):
    sub = w.sub("partly")
    inv = _other(rt, w, sub, "30")
    register_payment(rt, w.tenant_id, sub.id, Decimal("10"), "part-1", "op")
    writes: list[str] = []
    original = Connection._make_api_call

    def stops_after_one_write(self: Connection, operation: str, *args: Any, **kwargs: Any) -> Any:
        if operation in WRITES:
            writes.append(operation)
            if len(writes) > 1:
                raise RuntimeError("the function stopped here")
        return original(self, operation, *args, **kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", stops_after_one_write)
    with pytest.raises(RuntimeError):
        cancel_invoice(rt, inv.id, "op")
    monkeypatch.setattr(Connection, "_make_api_call", original)
    now = Invoice.get(inv.id)
    assert (now.status, now.paid, reload(sub).balance) == ("cancelled", "10.00", "10.00")


# ---------------------------------------------------------------- the notice run
def _reminders(w: World) -> list[str]:
    """The SMS reminders sent for the world's tenant (the tenant's template quotes what is owed)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    sent = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values()
    return [text for _, text in sent if text.startswith(f"WISP {w.suffix}:")]


def _owes_template(w: World) -> None:
    w.set_tenant(
        settings={"templates": {"invoice_notice_sms": "{{ empresa }}: {{ factura }} owes {{ saldo }}"}}
    )


@pytest.mark.parametrize(
    ("read", "credit"), [("invoices_since", "0"), ("get_invoice", "10.00")], ids=["listed", "after_credit"]
)
def test_no_reminder_for_an_invoice_paid_after_the_notice_run_read_it(rt, w, monkeypatch, read, credit):
    _owes_template(w)
    sub = w.sub("paidlate")
    run_tenant_invoices(rt, w.tenant_id, NOW)  # 25.00 noticed on 28 May
    sub.update(actions=[Subscriber.balance.set(credit)])
    owed = str(Decimal("25") - Decimal(credit))
    # the client pays what is left after the run read the invoice, before it is marked reminded
    pay = Once(lambda: register_payment(rt, w.tenant_id, sub.id, Decimal(owed), "paid-at-notice", "portal"))
    monkeypatch.setattr(billing_store, read, pay.after(getattr(billing_store, read)))
    result = run_tenant_notices(rt, w.tenant_id, NOW)
    assert pay.fired
    inv = Invoice.get(w.inv_id("paidlate", "2026-06"), consistent_read=True)
    assert (inv.status, inv.notified_at) == ("paid", None)
    assert (result.due, result.emails, result.sms, result.paid_before_notice) == (1, 0, 0, 1)
    assert _reminders(w) == []


def test_a_reminder_for_an_invoice_paid_in_part_meanwhile_quotes_what_is_left(rt, w, monkeypatch):
    _owes_template(w)
    sub = w.sub("inpart")
    run_tenant_invoices(rt, w.tenant_id, NOW)
    pay = Once(lambda: register_payment(rt, w.tenant_id, sub.id, Decimal("10"), "part-at-notice", "portal"))
    monkeypatch.setattr(billing_store, "invoices_since", pay.after(billing_store.invoices_since))
    result = run_tenant_notices(rt, w.tenant_id, NOW)
    assert pay.fired
    inv = Invoice.get(w.inv_id("inpart", "2026-06"), consistent_read=True)
    assert (inv.status, inv.paid, inv.notified_at is not None) == ("partial", "10.00", True)
    assert (result.emails, result.sms) == (1, 1)
    [sms] = _reminders(w)
    assert sms.endswith("owes 15.00 USD")
    # run again: reminded once
    assert run_tenant_notices(rt, w.tenant_id, NOW).sms == 0
