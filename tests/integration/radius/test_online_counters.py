"""The totals page's online counters: RADIUS gathers their moves and writes one ADD per counter per
interval (``WISP_RADIUS_COUNTER_FLUSH_S``), at stop too; a failed write keeps its moves."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.radius.accounting import AccountingEvent, AcctStatus
from infra.local.demo import DEMO_TENANT
from services.radius_sessions import StoreCatalog, record_accounting
from store import tallies
from store.models import Tally
from store.radius_repo import DynamoRadiusStore
from tests.fakes.radius import RadiusHarness

from .conftest import NOW, RadiusEnv
from .test_accounting import send


def online(product_id: str) -> int:
    counts, _ = tallies.read(DEMO_TENANT)
    return counts.get(tallies.Bucket(tallies.ONLINE, "p", product_id), 0)


def account_event(
    env: RadiusEnv, store: DynamoRadiusStore, status: AcctStatus, user: str, sid: str, t: int
) -> None:
    gateway = next(g for g in store.list_gateways() if g.nas_ip == "127.0.0.1")
    ev = AccountingEvent(status, "127.0.0.1", user, sid, NOW + timedelta(seconds=t), session_time=t)
    record_accounting(store, StoreCatalog(store), gateway, ev, {})


class CountingTally:
    """Counts the counter writes (``Tally.update``) and can make the next ones fail."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.writes = 0
        self.fail = 0
        original = Tally.update

        def update(tally: Tally, *args, **kwargs):
            if self.fail:
                self.fail -= 1
                raise RuntimeError("DynamoDB unavailable")
            self.writes += 1
            return original(tally, *args, **kwargs)

        monkeypatch.setattr(Tally, "update", update)


def test_starts_and_stops_of_an_interval_cost_one_counter_write(env, monkeypatch):
    # Given a product with three subscribers and a store gathering counter moves for an hour
    a = env.account()
    others = [env.account(subscriber={"product_id": a.product_id}) for _ in range(2)]
    store = DynamoRadiusStore(counter_flush_s=3600)
    spy = CountingTally(monkeypatch)
    before = online(a.product_id)
    # When the three start and one stops again
    for i, user in enumerate([a.username, *(o.username for o in others)]):
        account_event(env, store, AcctStatus.START, user, f"C-{i}", 0)
    account_event(env, store, AcctStatus.STOP, a.username, "C-0", 60)
    # Then no counter was written with the packets
    assert spy.writes == 0 and online(a.product_id) == before
    # And the flush writes the net move of the bucket once
    store.flush_counters()
    assert spy.writes == 1 and online(a.product_id) == before + 2
    store.flush_counters()  # nothing left
    assert spy.writes == 1


def test_a_failed_flush_keeps_its_moves_for_the_next_one(env, monkeypatch):
    a = env.account()
    store = DynamoRadiusStore(counter_flush_s=3600)
    spy = CountingTally(monkeypatch)
    account_event(env, store, AcctStatus.START, a.username, "F-1", 0)
    spy.fail = 1
    with pytest.raises(RuntimeError):
        store.flush_counters()
    assert online(a.product_id) == 0
    store.flush_counters()
    assert online(a.product_id) == 1 and spy.writes == 1


def test_without_an_interval_each_start_and_stop_moves_the_counter_at_once(env):
    a = env.account()
    store = DynamoRadiusStore(counter_flush_s=0)
    account_event(env, store, AcctStatus.START, a.username, "I-1", 0)
    assert online(a.product_id) == 1
    account_event(env, store, AcctStatus.STOP, a.username, "I-1", 60)
    assert online(a.product_id) == 0


def test_the_service_writes_the_gathered_counters_when_it_stops(env):
    # Given a service gathering counter moves for an hour
    a, b = env.account(), env.account()
    store = DynamoRadiusStore(counter_flush_s=3600)
    with RadiusHarness(store, env.runtime.box.decrypt, clock=env.clock, counter_flush_s=3600) as harness:
        # When two subscribers start sessions over UDP
        for acc, sid in ((a, "U-1"), (b, "U-2")):
            c = harness.client(b"testing123")
            reply = c.SendPacket(
                c.CreateAcctPacket(User_Name=acc.username, Acct_Status_Type="Start", Acct_Session_Id=sid)
            )
            assert reply.code == 5  # Accounting-Response: the session is durably recorded
        assert (online(a.product_id), online(b.product_id)) == (0, 0)
    # Then stopping the service wrote both counters
    assert (online(a.product_id), online(b.product_id)) == (1, 1)


def test_the_shared_environment_still_counts_at_once(env):
    """The other tests' service writes each move with its packet (the default of the store)."""
    a = env.account()
    send(env, "Start", a.username, "D-1")
    assert online(a.product_id) == 1
