"""Scheduled entry points: the Lambda handlers and the local-stack scheduler call the same runs."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from billing_cron import handlers, scheduler
from core.billing_calendar import local_date
from store.models import Invoice, Subscriber
from tests.integration.billing_support import NOW, make_sub, set_zone


@dataclass
class LambdaContext:
    function_name: str = "billing"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:billing"
    aws_request_id: str = "req-1"


def test_handlers_replay_a_day_and_are_idempotent(runtime, demo):
    set_zone(demo.zone_id, 28, 28, 1, 5)
    make_sub(runtime.box, "cron")
    event = {"date": NOW.date().isoformat(), "tenant_ids": ["ten_demo"]}
    first = handlers.handle_invoice_run(event, LambdaContext())
    second = handlers.handle_invoice_run(event, LambdaContext())
    assert (first["created"], second["created"], second["existing"]) == (2, 0, 2)
    assert handlers.handle_notice_run(event, LambdaContext())["tenants"] == 1
    cut = handlers.handle_cutoff_run({"date": "2026-06-05", "tenant_ids": ["ten_demo"]}, LambdaContext())
    assert cut["suspended"] == 2
    assert Subscriber.get("ten_demo#cron").status == "suspended"
    assert handlers.handle_promise_expiry(event, LambdaContext())["suspended"] == 0


def test_scheduler_runs_billing_until_stopped(runtime, demo):
    today = local_date(scheduler.utcnow(), "America/Mexico_City")  # the demo zone's time zone
    set_zone(demo.zone_id, today.day, 1, 1, 1)
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run_scheduler, args=(runtime, stop, 0.05, 3600), daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if list(Invoice.subscriber_index.query("sub_demo")):
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert len(list(Invoice.subscriber_index.query("sub_demo"))) == 1
