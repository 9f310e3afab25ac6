"""Session operations on the in-memory store double: conflicts, NAS restarts, reaper, caches, NAS list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.ids import iso
from core.radius.accounting import AccountingEvent, AcctStatus, ClosedBy, SubscriberWrite
from core.radius.model import GatewayView, PolicyView, ProductView, SubscriberView
from radius_container.catalog import TtlCache
from radius_container.nas import NasRegistry
from services.radius_sessions import StoreCatalog, close_nas_sessions, reap_stale_sessions, record_accounting
from tests.fakes.radius_store import InMemoryRadiusStore

T0 = datetime(2026, 11, 18, 17, 0, tzinfo=UTC)
GW = GatewayView(id="gw", tenant_id="t", name="R1", nas_ip="10.0.0.1", secret_enc="enc:s1", timezone="UTC")


@pytest.fixture
def store() -> InMemoryRadiusStore:
    s = InMemoryRadiusStore()
    s.gateways[GW.nas_ip] = GW
    s.policies["pol"] = PolicyView(id="pol", interim_update_s=300)
    s.products["prod"] = ProductView(id="prod", policy_id="pol")
    s.subscribers["t#ana"] = SubscriberView(
        login="t#ana", id="sub", tenant_id="t", username="ana", password_enc="x", product_id="prod"
    )
    return s


def ev(status: AcctStatus, sid: str = "S1", at: datetime = T0, t: int = 0, o: int = 0) -> AccountingEvent:
    return AccountingEvent(status, GW.nas_ip, "ana", sid, at, session_time=t, output_octets=o)


def record(store: InMemoryRadiusStore, event: AccountingEvent):
    return record_accounting(store, StoreCatalog(store), GW, event, {})


class RacingStore(InMemoryRadiusStore):
    """Another packet of the same session is written between our read and our write, once."""

    def __init__(self, base: InMemoryRadiusStore, racer: AccountingEvent) -> None:
        super().__init__()
        self.__dict__.update({k: v for k, v in base.__dict__.items() if k not in ("calls", "_lock")})
        self.racer: AccountingEvent | None = racer

    def apply_subscriber_write(self, write: SubscriberWrite, seen_at: str | None) -> bool:
        if self.racer is not None:
            racer, self.racer = self.racer, None
            record(self, racer)
        return super().apply_subscriber_write(write, seen_at)


def test_a_racing_update_is_retried_on_fresh_data_and_counted_once(store):
    record(store, ev(AcctStatus.START))
    racing = RacingStore(store, ev(AcctStatus.INTERIM, t=300, o=100))
    result = record(racing, ev(AcctStatus.INTERIM, at=T0 + timedelta(minutes=10), t=600, o=250))
    assert result.recorded
    assert racing.subscribers["t#ana"].usage["d:2026-11-18:o"] == 250
    assert racing.subscribers["t#ana"].usage["d:2026-11-18:t"] == 600


def test_unknown_subscribers_are_answered_but_not_recorded(store):
    result = record_accounting(
        store, StoreCatalog(store), GW, AccountingEvent(AcctStatus.START, GW.nas_ip, "ghost", "S9", T0), {}
    )
    assert not result.recorded and result.unknown_subscriber and not store.sessions


def test_nas_restart_closes_only_sessions_started_before_it(store):
    record(store, ev(AcctStatus.START, "A"))
    record(store, ev(AcctStatus.START, "B", at=T0 + timedelta(minutes=2)))
    closed = close_nas_sessions(store, GW, ClosedBy.ACCOUNTING_ON, T0 + timedelta(minutes=1))
    assert closed == 1
    states = {s.acct_session_id: s.closed_by for s in store.sessions.values()}
    assert states == {"A": ClosedBy.ACCOUNTING_ON, "B": None}
    assert store.gateways[GW.nas_ip].last_reboot_at == iso(T0 + timedelta(minutes=1))


def test_reaper_honours_each_session_interim(store):
    store.policies["pol"] = PolicyView(id="pol", interim_update_s=900)
    record(store, ev(AcctStatus.START, "slow"))
    # 2 x 300 + 120 s would be stale for the default interim, but this session reports every 900 s
    assert reap_stale_sessions(store, T0 + timedelta(seconds=1000)) == 0
    assert reap_stale_sessions(store, T0 + timedelta(seconds=2 * 900 + 121)) == 1
    assert reap_stale_sessions(store, T0 + timedelta(hours=2)) == 0  # already closed


def test_ttl_cache_serves_stale_values_while_refreshing_and_on_errors():
    now = [0.0]
    calls: list[str] = []
    fail = [False]

    def load(key: str) -> str:
        calls.append(key)
        if fail[0]:
            raise RuntimeError("datastore down")
        return f"{key}-v{len(calls)}"

    cache: TtlCache[str] = TtlCache(load, ttl=30, clock=lambda: now[0])
    assert cache.get("p") == "p-v1" and cache.get("p") == "p-v1" and len(calls) == 1
    now[0] = 31
    assert cache.get("p") == "p-v2"
    now[0] = 62
    fail[0] = True
    assert cache.get("p") == "p-v2"  # refresh failed: keep serving the cached value


def test_nas_registry_reload_skips_undecryptable_secrets_and_keeps_reboot_notes():
    gateways = [GW, GatewayView(id="gw2", tenant_id="t", name="R2", nas_ip="10.0.0.2", secret_enc="broken")]

    def decrypt(token: str) -> str:
        if not token.startswith("enc:"):
            raise ValueError("bad ciphertext")
        return token[4:]

    registry = NasRegistry(lambda: list(gateways), decrypt)
    assert registry.reload() == 1
    client = registry.get("10.0.0.1")
    assert client is not None and client.secret == b"s1" and registry.get("10.0.0.2") is None
    assert set(registry.hosts) == {"10.0.0.1"}
    registry.note_reboot("10.0.0.1", "2026-11-18T17:00:00.000000Z")
    registry.reload()  # the datastore has not caught up yet: the note survives
    assert registry.reboots() == {"10.0.0.1": "2026-11-18T17:00:00.000000Z"}
    gateways.pop(0)
    registry.reload()
    assert registry.get("10.0.0.1") is None and registry.hosts == {}


def test_a_reload_that_read_the_gateways_earlier_never_replaces_a_later_one():
    """Two reloads at once (the periodic one reading the old list, one after a gateway was saved):
    the later one waits for the earlier to finish, so the new gateway stays known."""
    import threading

    new = GatewayView(
        id="gw2", tenant_id="t", name="R2", nas_ip="10.0.0.2", secret_enc="enc:s2", timezone="UTC"
    )
    slow_started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def load() -> list[GatewayView]:
        if not calls:
            calls.append("old")
            slow_started.set()
            assert release.wait(60)
            return [GW]
        calls.append("new")
        return [GW, new]

    registry = NasRegistry(load, lambda token: token[4:])
    old_reload = threading.Thread(target=registry.reload)
    old_reload.start()
    assert slow_started.wait(60)
    new_reload = threading.Thread(target=registry.reload)
    new_reload.start()
    new_reload.join(1.0)  # it waits for the first (without the fix it would be done by now)
    release.set()
    old_reload.join(60)
    new_reload.join(60)
    assert calls == ["old", "new"]
    assert registry.get("10.0.0.2") is not None and set(registry.hosts) == {"10.0.0.1", "10.0.0.2"}
