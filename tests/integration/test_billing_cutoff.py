"""Cutoff and notice runs on moto: never Free, never paid clients; per-router task log, re-runnable."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from services import billing
from store.models import Invoice, ProvisioningTask
from tests.integration.billing_support import NOW, enable_router_api, make_sub, reload, set_zone

CUT_DAY = NOW + timedelta(days=8)  # 5 June in Mexico City: cutoff day of the invoices issued 28 May


@pytest.fixture
def zone(demo):
    set_zone(demo.zone_id, 28, 28, 1, 5)
    enable_router_api(demo.gateway_id)
    return demo


def test_cutoff_suspends_only_unpaid_non_free_clients(runtime, zone):
    unpaid = make_sub(runtime.box, "unpaid")
    paid = make_sub(runtime.box, "paid")
    free = make_sub(runtime.box, "gratis")
    promise = make_sub(runtime.box, "promise")
    other = make_sub(runtime.box, "other", product_id=None)
    billing.run_tenant_invoices(runtime, "ten_demo", NOW)
    billing.register_payment(runtime, "ten_demo", paid.id, Decimal("25"), "key-paid-0001", "op")
    free.update(actions=[type(free).status.set("free")])  # set Free after being invoiced
    promise.update(actions=[type(promise).billing.set({"promise_until": "2026-06-10"})])
    billing.create_other_invoice(runtime, "ten_demo", other.id, [{"description": "Antenna", "unit_price": "80"}], "op")

    before_due = billing.run_tenant_cutoffs(runtime, "ten_demo", NOW + timedelta(days=7))  # 4 June: not yet
    assert before_due.suspended == []
    result = billing.run_tenant_cutoffs(runtime, "ten_demo", CUT_DAY)
    assert sorted(result.suspended) == ["sub_demo", "sub_unpaid"]
    assert (result.skipped_free, result.skipped_promise) == (1, 1)
    assert {s: reload(x).status for s, x in [("u", unpaid), ("p", paid), ("f", free), ("pr", promise), ("o", other)]} == {
        "u": "suspended", "p": "active", "f": "free", "pr": "active", "o": "active"}
    # one provisioning task for the router, in the run log
    [router] = result.routers
    assert (router["gateway_id"], router["status"], sorted(router["subscribers"])) == ("gw_demo", "queued", ["sub_demo", "sub_unpaid"])
    task = ProvisioningTask.get(router["task_id"])
    assert (task.kind, task.gateway_id) == ("reconcile_router", "gw_demo")
    assert Invoice.get("inv#sub_unpaid#2026-06").cutoff_at is not None
    # re-running the cutoff the same day changes nothing more
    again = billing.run_tenant_cutoffs(runtime, "ten_demo", CUT_DAY)
    assert again.suspended == [] and again.routers == []


def test_cutoff_task_log_shows_connection_error_and_reruns(runtime, zone):
    make_sub(runtime.box, "late")
    billing.run_tenant_invoices(runtime, "ten_demo", NOW)
    result = billing.run_tenant_cutoffs(runtime, "ten_demo", CUT_DAY)
    task = ProvisioningTask.get(result.routers[0]["task_id"])
    # the router was not connected when the provisioner tried
    task.update(actions=[ProvisioningTask.status.set("failed"), ProvisioningTask.error_category.set("unreachable"),
                         ProvisioningTask.last_error.set("connection refused")])
    [run] = billing.list_runs(["ten_demo"], kind="billing_cutoff")
    assert run["id"] == result.run_id
    assert run["result"]["routers"][0]["outcome"] == "connection error"
    rerun = billing.rerun_cutoff(runtime, result.run_id, {"ten_demo"}, "op_demo_manager")
    assert [r["gateway_id"] for r in rerun["rerun"]] == ["gw_demo"]
    assert ProvisioningTask.get(task.id).status == "queued"
    assert billing.get_run(result.run_id, {"ten_demo"})["result"]["routers"][0]["outcome"] == "queued"


def test_router_api_disabled_changes_only_the_system(runtime, demo):
    set_zone(demo.zone_id, 28, 28, 1, 5)  # the demo gateway has its API disabled
    billing.run_tenant_invoices(runtime, "ten_demo", NOW)
    result = billing.run_tenant_cutoffs(runtime, "ten_demo", CUT_DAY)
    assert result.suspended == ["sub_demo"]
    assert result.routers[0]["status"] == "api_disabled" and "router was not changed" in result.routers[0]["warning"]


def test_notices_on_the_notice_day_never_to_free_clients(runtime, zone):
    set_zone(zone.zone_id, 28, 30, 1, 5)  # notice on 30 May
    runtime.aws.client("ses").verify_email_identity(EmailAddress=runtime.settings.email_sender)
    make_sub(runtime.box, "remind")
    free = make_sub(runtime.box, "nofree")
    billing.run_tenant_invoices(runtime, "ten_demo", NOW)
    free.update(actions=[type(free).status.set("free")])
    assert billing.run_tenant_notices(runtime, "ten_demo", NOW).due == 0  # 28 May: not the notice day yet
    r = billing.run_tenant_notices(runtime, "ten_demo", NOW + timedelta(days=2))
    assert (r.due, r.emails, r.sms, r.skipped_free) == (3, 2, 2, 1)  # demo + remind; the Free client skipped
    again = billing.run_tenant_notices(runtime, "ten_demo", NOW + timedelta(days=2))
    assert again.emails == 0 and again.sms == 0
    assert Invoice.get("inv#sub_remind#2026-06").notified_at is not None
