"""Billing days in the time zones furthest from UTC: Pacific/Kiritimati (UTC+14) and Pacific/Pago_Pago
(UTC-11). Noon UTC of a date is already the next day in Kiritimati, and no single instant is the same
date in both: a run for a given date acts on that date in each time zone; the scheduled run acts on
each zone's own date at the hour it runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from chalice.test import Client

from billing_cron import handlers
from core.ids import frozen_clock
from services.billing.invoice_run import run_invoices, run_tenant_invoices
from shared.runtime import Runtime
from shared.tokens import issue_operator_token
from store.models import Invoice, Subscriber, Zone
from tests.integration.billing.support import World, new_world, reload

KIRITIMATI = "Pacific/Kiritimati"  # UTC+14 all year
PAGO_PAGO = "Pacific/Pago_Pago"  # UTC-11 all year
# The worlds' calendar: issue and notice on the 28th, payment on the 1st, cutoff on the 5th.
ISSUE_DAY = date(2026, 5, 28)
CUTOFF_DAY = date(2026, 6, 5)


@dataclass
class LambdaContext:
    function_name: str = "billing"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:billing"
    aws_request_id: str = "req-tz"


@pytest.fixture(scope="module")
def client(rt: Runtime) -> Iterator[Client]:
    from api.app import app

    with Client(app) as c:
        yield c


def world_in(rt: Runtime, tz: str) -> World:
    """A fresh tenant whose own time zone and zone's are ``tz``."""
    w = new_world(rt)
    w.set_tenant(timezone=tz)
    Zone.get(w.zone_id).update(actions=[Zone.timezone.set(tz)])
    return w


def local_noon(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(12), ZoneInfo(tz)).astimezone(UTC)


def start_run(client: Client, w: World, kind: str, on_date: str) -> dict[str, Any]:
    token = issue_operator_token(w.rt.signer, w.operator_id, w.tenant_id, "manager", 3600)
    resp = client.http.post(
        "/admin/billing/runs",
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
        body=json.dumps({"kind": kind, "tenant_id": w.tenant_id, "on_date": on_date}),
    )
    assert resp.status_code == 200, resp.body
    [result] = resp.json_body["results"]
    return dict(result)


def internet_invoices(sub: Subscriber) -> list[Invoice]:
    return [i for i in Invoice.subscriber_index.query(sub.id) if i.kind == "internet"]


def replay(handler: Any, day: str, *worlds: World) -> dict[str, Any]:
    event = {"date": day, "tenant_ids": [w.tenant_id for w in worlds]}
    return dict(handler(event, LambdaContext()))


def test_an_invoice_run_dated_by_hand_issues_on_that_date_in_a_zone_at_utc_plus_14(rt, client):
    # Given a tenant in Kiritimati, at 00:00 UTC on 29 May (14:00 on the 29th there)
    w = world_in(rt, KIRITIMATI)
    sub = w.sub("atoll")
    with frozen_clock(datetime(2026, 5, 29, 0, 0, tzinfo=UTC)):
        # When an operator runs the invoices dated the day before the issue day, nothing is issued
        assert start_run(client, w, "invoices", "2026-05-27")["created"] == 0
        assert internet_invoices(sub) == []
        # And a run dated the issue day issues the invoice of that day, with the zone's dates
        assert start_run(client, w, "invoices", "2026-05-28")["created"] == 1
    [inv] = internet_invoices(sub)
    assert (inv.issue_date, inv.notice_date, inv.due_date, inv.cutoff_date) == (
        "2026-05-28",
        "2026-05-28",
        "2026-06-01",
        "2026-06-05",
    )


def test_a_cutoff_run_dated_by_hand_judges_the_cutoff_day_in_each_zone(rt, client):
    # Given a client in Kiritimati and one in Pago Pago, each with its 28 May invoice unpaid
    east, west = world_in(rt, KIRITIMATI), world_in(rt, PAGO_PAGO)
    atoll, islet = east.sub("atoll"), west.sub("islet")
    run_tenant_invoices(rt, east.tenant_id, local_noon(ISSUE_DAY, KIRITIMATI))
    run_tenant_invoices(rt, west.tenant_id, local_noon(ISSUE_DAY, PAGO_PAGO))
    # At 00:00 UTC on 5 June: 14:00 on the 5th in Kiritimati, 13:00 on the 4th in Pago Pago
    with frozen_clock(datetime(2026, 6, 5, 0, 0, tzinfo=UTC)):
        for w, sub in ((east, atoll), (west, islet)):
            # When an operator runs the cutoff dated the 4th, no one is cut
            assert start_run(client, w, "cutoff", "2026-06-04")["suspended"] == []
            assert reload(sub).status == "active"
            # And a run dated the cutoff day cuts the client
            assert start_run(client, w, "cutoff", CUTOFF_DAY.isoformat())["suspended"] == [sub.id]
            assert reload(sub).status == "suspended"


def test_a_replayed_day_acts_on_that_date_in_every_tenants_time_zone(rt):
    # Given a tenant in Kiritimati and one in Pago Pago: no instant is 28 May in both
    east, west = world_in(rt, KIRITIMATI), world_in(rt, PAGO_PAGO)
    atoll, islet = east.sub("atoll"), west.sub("islet")
    with frozen_clock(datetime(2026, 6, 5, 0, 0, tzinfo=UTC)):
        # When the schedule's missed days are replayed for both tenants at once
        assert replay(handlers.handle_invoice_run, "2026-05-27", east, west)["created"] == 0
        assert replay(handlers.handle_invoice_run, "2026-05-28", east, west)["created"] == 2
        # Then each client's invoice is issued on the 28th of its own calendar
        for sub in (atoll, islet):
            [inv] = internet_invoices(sub)
            assert (inv.issue_date, inv.due_date, inv.cutoff_date) == (
                "2026-05-28",
                "2026-06-01",
                "2026-06-05",
            )
        # And the reminders go on the notice day, not the day before
        assert replay(handlers.handle_notice_run, "2026-05-27", east, west)["sent"] == 0
        assert (
            replay(handlers.handle_notice_run, "2026-05-28", east, west)["sent"] == 4
        )  # e-mail and SMS each
        # And the cutoff comes on the cutoff day, not the day before
        assert replay(handlers.handle_cutoff_run, "2026-06-04", east, west)["suspended"] == 0
        assert replay(handlers.handle_cutoff_run, "2026-06-05", east, west)["suspended"] == 2
    assert (reload(atoll).status, reload(islet).status) == ("suspended", "suspended")


def test_the_scheduled_run_bills_each_zone_on_its_own_local_date(rt):
    # Given a tenant in Kiritimati and one in Pago Pago, billed by the hourly schedule
    east, west = world_in(rt, KIRITIMATI), world_in(rt, PAGO_PAGO)
    atoll, islet = east.sub("atoll"), west.sub("islet")
    tenants = [east.tenant_id, west.tenant_id]

    def created_at(utc_hour: datetime) -> dict[str, int]:
        with frozen_clock(utc_hour):
            return {r.tenant_id: r.created for r in run_invoices(rt, None, tenants)}

    # 23:30 on 27 May in Kiritimati: the issue day has not begun anywhere
    assert created_at(datetime(2026, 5, 27, 9, 30, tzinfo=UTC)) == {east.tenant_id: 0, west.tenant_id: 0}
    # 00:30 on 28 May in Kiritimati (still the 26th in Pago Pago): Kiritimati is billed
    assert created_at(datetime(2026, 5, 27, 10, 30, tzinfo=UTC)) == {east.tenant_id: 1, west.tenant_id: 0}
    # 23:30 on 27 May in Pago Pago (the 29th in Kiritimati): nothing new
    assert created_at(datetime(2026, 5, 28, 10, 30, tzinfo=UTC)) == {east.tenant_id: 0, west.tenant_id: 0}
    # 00:30 on 28 May in Pago Pago: Pago Pago is billed
    assert created_at(datetime(2026, 5, 28, 11, 30, tzinfo=UTC)) == {east.tenant_id: 0, west.tenant_id: 1}
    assert [i.issue_date for i in internet_invoices(atoll) + internet_invoices(islet)] == [
        "2026-05-28",
        "2026-05-28",
    ]
