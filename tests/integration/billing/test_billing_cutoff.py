"""Cutoff and notice runs on moto: never Free, never paid clients; per-router task log, re-runnable."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from core.errors import NotFoundError
from services.billing.cutoffs import rerun_cutoff, run_promise_expiry, run_tenant_cutoffs
from services.billing.invoice_run import run_tenant_invoices
from services.billing.invoices import create_other_invoice
from services.billing.notices import run_tenant_notices
from services.billing.payments import register_payment
from services.billing.runs import get_run, list_runs
from store.models import Invoice, ProvisioningTask, Subscriber
from tests.integration.billing.support import NOW, new_world, reload

CUT_DAY = NOW + timedelta(days=8)  # 5 June in Mexico City: cutoff day of the invoices issued 28 May


def test_cutoff_suspends_only_unpaid_non_free_clients(rt, w):
    unpaid = w.sub("unpaid")
    paid = w.sub("paid")
    free = w.sub("gratis")
    promise = w.sub("promise")
    other = w.sub("other", product_id=None)
    run_tenant_invoices(rt, w.tenant_id, NOW)
    register_payment(rt, w.tenant_id, paid.id, Decimal("25"), "key-paid-0001", "op")
    free.update(actions=[Subscriber.status.set("free")])  # set Free after being invoiced
    promise.update(actions=[Subscriber.billing.set({"promise_until": "2026-06-10"})])
    create_other_invoice(rt, w.tenant_id, other.id, [{"description": "Antenna", "unit_price": "80"}], "op")

    before_due = run_tenant_cutoffs(rt, w.tenant_id, NOW + timedelta(days=7))  # 4 June: not yet
    assert before_due.suspended == []
    result = run_tenant_cutoffs(rt, w.tenant_id, CUT_DAY)
    assert result.suspended == [unpaid.id]
    assert (result.skipped_free, result.skipped_promise) == (1, 1)
    assert [reload(s).status for s in (unpaid, paid, free, promise, other)] == [
        "suspended",
        "active",
        "free",
        "active",
        "active",
    ]
    # one provisioning task for the router, in the run log
    [router] = result.routers
    assert (router["gateway_id"], router["status"], router["subscribers"]) == (
        w.gateway_id,
        "queued",
        [unpaid.id],
    )
    task = ProvisioningTask.get(router["task_id"])
    assert (task.kind, task.gateway_id) == ("reconcile_router", w.gateway_id)
    assert Invoice.get(w.inv_id("unpaid", "2026-06")).cutoff_at is not None
    # re-running the cutoff the same day changes nothing more
    again = run_tenant_cutoffs(rt, w.tenant_id, CUT_DAY)
    assert again.suspended == [] and again.routers == []
    # once the promise has passed, the promise-expiry run cuts that client too
    [expired] = run_promise_expiry(rt, NOW + timedelta(days=14), [w.tenant_id])
    assert expired.suspended == [promise.id] and reload(promise).status == "suspended"


def test_cutoff_task_log_shows_connection_error_and_reruns(rt, w):
    w.sub("late")
    run_tenant_invoices(rt, w.tenant_id, NOW)
    result = run_tenant_cutoffs(rt, w.tenant_id, CUT_DAY)
    assert result.run_id is not None
    task = ProvisioningTask.get(result.routers[0]["task_id"])
    # the router was not connected when the provisioner tried
    task.update(
        actions=[
            ProvisioningTask.status.set("failed"),
            ProvisioningTask.error_category.set("unreachable"),
            ProvisioningTask.last_error.set("connection refused"),
        ]
    )
    [run], _next = list_runs(rt.signer, [w.tenant_id], kind="billing_cutoff")
    assert run["id"] == result.run_id
    assert run["result"]["routers"][0]["outcome"] == "connection error"
    rerun = rerun_cutoff(rt, result.run_id, {w.tenant_id}, w.operator_id)
    assert [r["gateway_id"] for r in rerun["rerun"]] == [w.gateway_id]
    assert ProvisioningTask.get(task.id).status == "queued"
    assert get_run(result.run_id, {w.tenant_id})["result"]["routers"][0]["outcome"] == "queued"
    # a run of another tenant is not visible
    with pytest.raises(NotFoundError):
        get_run(result.run_id, {"ten_someone_else"})


def test_router_api_disabled_changes_only_the_system(rt):
    w = new_world(rt, api_enabled=False)
    sub = w.sub("noapi")
    run_tenant_invoices(rt, w.tenant_id, NOW)
    result = run_tenant_cutoffs(rt, w.tenant_id, CUT_DAY)
    assert result.suspended == [sub.id] and reload(sub).status == "suspended"
    assert (
        result.routers[0]["status"] == "api_disabled"
        and "router was not changed" in result.routers[0]["warning"]
    )


def test_notices_on_the_notice_day_never_to_free_clients(rt):
    w = new_world(rt, days=(28, 30, 1, 5))  # notice on 30 May
    w.sub("remind")
    w.sub("mailonly", phone=None)
    free = w.sub("nofree")
    run_tenant_invoices(rt, w.tenant_id, NOW)
    free.update(actions=[Subscriber.status.set("free")])
    assert run_tenant_notices(rt, w.tenant_id, NOW).due == 0  # 28 May: not the notice day yet
    r = run_tenant_notices(rt, w.tenant_id, NOW + timedelta(days=2))
    assert (r.due, r.emails, r.sms, r.skipped_free) == (3, 2, 1, 1)
    again = run_tenant_notices(rt, w.tenant_id, NOW + timedelta(days=2))
    assert again.emails == 0 and again.sms == 0
    assert Invoice.get(w.inv_id("remind", "2026-06")).notified_at is not None
    assert Invoice.get(w.inv_id("nofree", "2026-06")).notified_at is None
    # the SMS is the tenant's template with {{ empresa }} and the auto-login link, within 164 characters
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends
    from moto.sns.models import sns_backends

    sms = [text for _, text in sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values()]
    mine = [t for t in sms if t.startswith(f"WISP {w.suffix}:")]
    assert len(mine) == 1 and len(mine[0]) <= 164 and "/my/autologin?token=" in mine[0]
    mails = [
        m
        for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
        if m.destinations["ToAddresses"][0] in ("remind@example.com", "mailonly@example.com")
    ]
    assert len(mails) == 2 and all(f"WISP {w.suffix}" in m.subject for m in mails)
