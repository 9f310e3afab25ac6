"""Scheduled entry points: the Lambda handlers and the local-stack scheduler call the same runs."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from billing_cron import handlers
from core.billing_calendar import local_date
from core.ids import frozen_clock
from infra.local import scheduler
from store.models import Invoice, Subscriber
from tests.integration.billing.support import NOW, TZ, new_world


@dataclass
class LambdaContext:
    function_name: str = "billing"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:billing"
    aws_request_id: str = "req-1"


def test_handlers_replay_a_day_and_are_idempotent(rt):
    w = new_world(rt)
    w.sub("cron")
    w.sub("cron2")
    event = {"date": NOW.date().isoformat(), "tenant_ids": [w.tenant_id]}
    first = handlers.handle_invoice_run(event, LambdaContext())
    second = handlers.handle_invoice_run(event, LambdaContext())
    assert (first["created"], second["created"], second["existing"]) == (2, 0, 2)
    assert handlers.handle_notice_run(event, LambdaContext())["tenants"] == 1
    cut = handlers.handle_cutoff_run({"date": "2026-06-05", "tenant_ids": [w.tenant_id]}, LambdaContext())
    assert cut["suspended"] == 2 and cut["routers"] == 1
    assert Subscriber.get(f"{w.tenant_id}#cron").status == "suspended"
    assert handlers.handle_promise_expiry(event, LambdaContext())["suspended"] == 0


def test_scheduler_runs_billing_until_stopped(rt):
    # The invoice run bills the clients whose issue day is the scheduler's local "today": the clock
    # stands still at noon in the zone, so the day the zone is set to is the day the scheduler runs on
    today = local_date(NOW, TZ)
    w = new_world(rt, days=(today.day, today.day, today.day, today.day))
    sub = w.sub("sched")
    stop = threading.Event()
    with frozen_clock(NOW):
        thread = threading.Thread(target=scheduler.run_scheduler, args=(rt, stop, 0.05, 3600), daemon=True)
        thread.start()
        try:
            # a ceiling, not an expected time: the loop ends as soon as the invoice exists
            deadline = time.monotonic() + 120
            while not list(Invoice.subscriber_index.query(sub.id)) and time.monotonic() < deadline:
                stop.wait(0.05)
        finally:
            stop.set()
            thread.join(60)
    assert not thread.is_alive()
    [invoice] = list(Invoice.subscriber_index.query(sub.id))
    assert invoice.issue_date == today.isoformat()
