"""The daily invoice run on moto: once per client and period, whatever runs twice or concurrently."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from core.errors import ConflictError
from services import billing
from store.models import Counter, ExtraProduct, Invoice
from tests.integration.billing_support import NOW, make_sub, reload, serialized_moto, set_tenant, set_zone


@pytest.fixture
def zone(demo):  # issue 28 (today), notice 28, pay 1, cut 5: the seed's zone calendar
    set_zone(demo.zone_id, 28, 28, 1, 5)
    return demo


def _invoices(tenant_id: str = "ten_demo") -> list[Invoice]:
    return list(Invoice.tenant_index.query(tenant_id))


def test_run_invoices_billable_clients_once_and_numbers_without_gaps(runtime, zone):
    # Given clients in every status, one with its own dates (issue day 3) and one without a plan
    for name, status in [("ana", "active"), ("bea", "new"), ("cid", "suspended"), ("dan", "free"), ("eva", "cancelled")]:
        make_sub(runtime.box, name, status=status)
    make_sub(runtime.box, "own", billing={"own_dates": True, "issue_day": 3, "notice_day": 4, "payment_day": 5,
                                          "cutoff_day": 10})
    make_sub(runtime.box, "noplan", product_id=None)
    # When the run executes twice
    first = billing.run_tenant_invoices(runtime, "ten_demo", NOW)
    second = billing.run_tenant_invoices(runtime, "ten_demo", NOW)
    # Then active, new, suspended and the demo client are invoiced once; Free/Cancelled never
    invoiced = sorted(i.subscriber_id for i in _invoices())
    assert invoiced == ["sub_ana", "sub_bea", "sub_cid", "sub_demo"]
    assert (first.created, second.created, second.existing) == (4, 0, 4)
    assert sorted(int(i.number) for i in _invoices()) == [1, 2, 3, 4]
    assert Counter.get("invoice-number#ten_demo").value == 4
    inv = Invoice.get("inv#sub_ana#2026-06")
    assert (inv.period, inv.issue_date, inv.due_date, inv.cutoff_date) == ("2026-06", "2026-05-28", "2026-06-01", "2026-06-05")
    assert (inv.service_start, inv.service_end, inv.total, inv.status) == ("2026-06-01", "2026-06-30", "25.00", "pending")


def test_concurrent_runs_create_each_invoice_once(runtime, zone):
    for i in range(40):
        make_sub(runtime.box, f"c{i:02d}")
    results: list[billing.InvoiceRunResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(billing.run_tenant_invoices(runtime, "ten_demo", NOW, record_run=False))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with serialized_moto():
        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors
    invoices = _invoices()
    assert len(invoices) == 41  # 40 + the demo client, each once
    assert sum(r.created for r in results) == 41
    assert sorted(int(i.number) for i in invoices) == list(range(1, 42))  # no gap, no duplicate
    assert Counter.get("invoice-number#ten_demo").value == 41


def test_free_month_invoice_blocks_the_run_for_that_period(runtime, zone):
    sub = make_sub(runtime.box, "gift")
    free = billing.create_internet_invoice(runtime, "ten_demo", sub.id, "2026-06", "op_demo_manager", amount=Decimal("0"))
    assert (free.id, free.total, free.status) == ("inv#sub_gift#2026-06", "0.00", "paid")
    result = billing.run_tenant_invoices(runtime, "ten_demo", NOW)
    assert Invoice.get(free.id).total == "0.00"
    assert result.existing == 1 and result.created == 1  # only the demo client
    with pytest.raises(ConflictError):
        billing.create_internet_invoice(runtime, "ten_demo", sub.id, "2026-06", "op_demo_manager", amount=Decimal("5"))


def test_first_invoice_is_prorated_from_installation(runtime, zone):
    # installed 10 May, after the 28 April issue: the 28 May invoice adds 10–31 May (22 of 31 days)
    make_sub(runtime.box, "newbie", installed_at="2026-05-10T15:00:00Z")
    # installed in June: only its days of June
    make_sub(runtime.box, "later", installed_at="2026-06-21T15:00:00Z")
    billing.run_tenant_invoices(runtime, "ten_demo", NOW)
    newbie = Invoice.get("inv#sub_newbie#2026-06")
    assert [(l["kind"], l["amount"]) for l in newbie.lines] == [("uncovered", "17.74"), ("service", "25.00")]
    assert newbie.total == "42.74"
    later = Invoice.get("inv#sub_later#2026-06")
    assert [(l["kind"], l["days"], l["amount"]) for l in later.lines] == [("prorated", 10, "8.33")]


def test_extras_tax_and_balance_in_favour(runtime, zone):
    set_tenant("ten_demo", tax_rate="0.16")
    sub = make_sub(runtime.box, "xtra", balance="10.00")
    billing.add_extra(runtime, "ten_demo", sub.id, "Router Wifi", Decimal("50"), "op", mode="one_payment")
    billing.add_extra(runtime, "ten_demo", sub.id, "Instalacion", Decimal("100"), "op", mode="installments", installments=3)
    billing.add_extra(runtime, "ten_demo", sub.id, "TV", Decimal("10"), "op", description="TV service")
    billing.add_extra(runtime, "ten_demo", sub.id, "Later", Decimal("7"), "op", start_date=__import__("datetime").date(2026, 7, 1))
    billing.run_tenant_invoices(runtime, "ten_demo", NOW)
    inv = Invoice.get("inv#sub_xtra#2026-06")
    assert [(l["description"], l["amount"]) for l in inv.lines][1:] == [
        ("Router Wifi", "50.00"), ("Instalacion (1/3)", "33.33"), ("TV service", "10.00")]
    assert (inv.subtotal, inv.tax, inv.total) == ("118.33", "18.93", "137.26")
    assert (inv.paid, inv.status) == ("10.00", "partial")  # the balance in favour was used
    assert reload(sub).balance == "0.00"
    extras = {e.name: e for e in ExtraProduct.subscriber_index.query(sub.id)}
    assert (extras["Router Wifi"].active, extras["Router Wifi"].billed_count) == (False, 1)
    assert (extras["Instalacion"].active, extras["Instalacion"].billed_count) == (True, 1)
    assert extras["Later"].billed_count == 0


def test_other_income_invoice_by_hand_and_cancel(runtime, zone):
    sub = make_sub(runtime.box, "buyer")
    inv = billing.create_other_invoice(
        runtime, "ten_demo", sub.id, [{"description": "Antenna", "quantity": "2", "unit_price": "45.50"}], "op_demo_manager"
    )
    assert (inv.kind, inv.total, int(inv.number)) == ("other", "91.00", 1)
    billing.run_tenant_invoices(runtime, "ten_demo", NOW)
    assert billing.cancel_pending_invoices(runtime, "ten_demo", sub.id, "op_demo_manager") == 2
    statuses = {i.kind: i.status for i in Invoice.subscriber_index.query(sub.id)}
    assert statuses == {"other": "cancelled", "internet": "cancelled"}
    # numbers stay: the next invoice continues the sequence
    nxt = billing.create_other_invoice(runtime, "ten_demo", sub.id, [{"description": "Cable", "unit_price": "3"}], "op")
    assert int(nxt.number) == 4
