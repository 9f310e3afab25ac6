"""The daily invoice run on moto: once per client and period, whatever runs twice or concurrently."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest

from core.errors import ConflictError
from services.billing.extras import add_extra
from services.billing.invoice_run import InvoiceRunResult, run_tenant_invoices
from services.billing.invoices import cancel_pending_invoices, create_internet_invoice, create_other_invoice
from services.billing.payments import register_payment
from store.models import Counter, ExtraProduct, Invoice
from tests.conftest import serialized_moto
from tests.integration.billing.support import NOW, World, reload


def _invoices(w: World) -> list[Invoice]:
    return list(Invoice.tenant_index.query(w.tenant_id))


def test_run_invoices_billable_clients_once_and_numbers_without_gaps(rt, w):
    # Given clients in every status, one with its own dates (issue day 3) and one without a plan
    for name, status in [
        ("ana", "active"),
        ("bea", "new"),
        ("cid", "suspended"),
        ("dan", "free"),
        ("eva", "cancelled"),
    ]:
        w.sub(name, status=status)
    w.sub(
        "own",
        billing={"own_dates": True, "issue_day": 3, "notice_day": 4, "payment_day": 5, "cutoff_day": 10},
    )
    w.sub("noplan", product_id=None)
    # When the run executes twice
    first = run_tenant_invoices(rt, w.tenant_id, NOW)
    second = run_tenant_invoices(rt, w.tenant_id, NOW)
    # Then active, new and suspended clients are invoiced once; Free and Cancelled never
    assert sorted(i.subscriber_id for i in _invoices(w)) == [
        w.sub_id("ana"),
        w.sub_id("bea"),
        w.sub_id("cid"),
    ]
    assert (first.created, second.created, second.existing) == (3, 0, 3)
    assert sorted(int(i.number) for i in _invoices(w)) == [1, 2, 3]
    assert Counter.get(f"invoice-number#{w.tenant_id}").value == 3
    inv = Invoice.get(w.inv_id("ana", "2026-06"))
    assert (inv.period, inv.issue_date, inv.due_date, inv.cutoff_date) == (
        "2026-06",
        "2026-05-28",
        "2026-06-01",
        "2026-06-05",
    )
    assert (inv.service_start, inv.service_end, inv.total, inv.status) == (
        "2026-06-01",
        "2026-06-30",
        "25.00",
        "pending",
    )
    # the client with its own dates is invoiced on its own issue day (3 June, for June 5 – July 4)
    run_tenant_invoices(rt, w.tenant_id, NOW.replace(day=3, month=6))
    own = Invoice.get(w.inv_id("own", "2026-06"))
    assert (own.issue_date, own.due_date, own.service_end) == ("2026-06-03", "2026-06-05", "2026-07-04")


def test_concurrent_runs_create_each_invoice_once(rt, w):
    for i in range(40):
        w.sub(f"c{i:02d}")
    results: list[InvoiceRunResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(run_tenant_invoices(rt, w.tenant_id, NOW, record_run=False))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with serialized_moto():
        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors and len(results) == 4
    invoices = _invoices(w)
    assert len(invoices) == 40 and len({i.subscriber_id for i in invoices}) == 40
    assert sum(r.created for r in results) == 40
    assert sorted(int(i.number) for i in invoices) == list(range(1, 41))  # no gap, no duplicate
    assert Counter.get(f"invoice-number#{w.tenant_id}").value == 40


def test_free_month_invoice_blocks_the_run_for_that_period(rt, w):
    sub = w.sub("gift")
    w.sub("paying")
    free = create_internet_invoice(rt, w.tenant_id, sub.id, "2026-06", w.operator_id, amount=Decimal("0"))
    assert (free.id, free.total, free.status) == (w.inv_id("gift", "2026-06"), "0.00", "paid")
    result = run_tenant_invoices(rt, w.tenant_id, NOW)
    assert Invoice.get(free.id).total == "0.00"
    assert (result.existing, result.created) == (1, 1)
    with pytest.raises(ConflictError):
        create_internet_invoice(rt, w.tenant_id, sub.id, "2026-06", w.operator_id, amount=Decimal("5"))


def test_first_invoice_is_prorated_from_installation(rt, w):
    # installed 10 May, after the 28 April issue: the 28 May invoice adds 10–31 May (22 of 31 days)
    w.sub("newbie", installed_at="2026-05-10T15:00:00Z")
    # installed in June: only its days of June
    w.sub("later", installed_at="2026-06-21T15:00:00Z")
    run_tenant_invoices(rt, w.tenant_id, NOW)
    newbie = Invoice.get(w.inv_id("newbie", "2026-06"))
    assert [(line["kind"], line["amount"]) for line in newbie.lines] == [
        ("uncovered", "17.74"),
        ("service", "25.00"),
    ]
    assert newbie.total == "42.74"
    later = Invoice.get(w.inv_id("later", "2026-06"))
    assert [(line["kind"], line["days"], line["amount"]) for line in later.lines] == [
        ("prorated", 10, "8.33")
    ]


def test_extras_tax_and_balance_in_favour(rt, w):
    w.set_tenant(tax_rate="0.16")
    sub = w.sub("xtra", balance="10.00")
    add_extra(rt, w.tenant_id, sub.id, "Router Wifi", Decimal("50"), "op", mode="one_payment")
    add_extra(
        rt, w.tenant_id, sub.id, "Instalacion", Decimal("100"), "op", mode="installments", installments=3
    )
    add_extra(rt, w.tenant_id, sub.id, "TV", Decimal("10"), "op", description="TV service")
    add_extra(rt, w.tenant_id, sub.id, "Later", Decimal("7"), "op", start_date=date(2026, 7, 1))
    run_tenant_invoices(rt, w.tenant_id, NOW)
    inv = Invoice.get(w.inv_id("xtra", "2026-06"))
    assert [(line["description"], line["amount"]) for line in inv.lines][1:] == [
        ("Router Wifi", "50.00"),
        ("Instalacion (1/3)", "33.33"),
        ("TV service", "10.00"),
    ]
    assert (inv.subtotal, inv.tax, inv.total) == ("118.33", "18.93", "137.26")
    assert (inv.paid, inv.status) == ("10.00", "partial")  # the balance in favour was used
    assert reload(sub).balance == "0.00"
    extras = {e.name: e for e in ExtraProduct.subscriber_index.query(sub.id)}
    assert (extras["Router Wifi"].active, extras["Router Wifi"].billed_count) == (False, 1)
    assert (extras["Instalacion"].active, extras["Instalacion"].billed_count) == (True, 1)
    assert extras["Later"].billed_count == 0
    # the next months: installments 2 and 3, TV every time, no router again; the extra starting
    # on 1 July appears on the first invoice issued from that date (28 July)
    run_tenant_invoices(rt, w.tenant_id, NOW.replace(month=6))
    run_tenant_invoices(rt, w.tenant_id, NOW.replace(month=7))
    june = Invoice.get(w.inv_id("xtra", "2026-07"))
    july = Invoice.get(w.inv_id("xtra", "2026-08"))
    assert [line["description"] for line in june.lines][1:] == ["Instalacion (2/3)", "TV service"]
    assert [line["description"] for line in july.lines][1:] == ["Instalacion (3/3)", "TV service", "Later"]
    assert ExtraProduct.get(extras["Instalacion"].id).active is False


def test_other_income_invoice_by_hand_and_cancel(rt, w):
    sub = w.sub("buyer")
    inv = create_other_invoice(
        rt,
        w.tenant_id,
        sub.id,
        [{"description": "Antenna", "quantity": "2", "unit_price": "45.50"}],
        w.operator_id,
    )
    assert (inv.kind, inv.total, int(inv.number)) == ("other", "91.00", 1)
    run_tenant_invoices(rt, w.tenant_id, NOW)
    register_payment(rt, w.tenant_id, sub.id, Decimal("20"), "buyer-part-1", w.operator_id)
    assert cancel_pending_invoices(rt, w.tenant_id, sub.id, w.operator_id) == 2
    statuses = {i.kind: i.status for i in Invoice.subscriber_index.query(sub.id)}
    assert statuses == {"other": "cancelled", "internet": "cancelled"}
    assert reload(sub).balance == "20.00"  # what was paid on a cancelled invoice is kept in favour
    # numbers stay: the next invoice continues the sequence
    nxt = create_other_invoice(rt, w.tenant_id, sub.id, [{"description": "Cable", "unit_price": "3"}], "op")
    assert int(nxt.number) == 3
