"""Accounting over UDP: 64-bit counters, duplicates, connection log, NAS restarts and the reaper."""

from __future__ import annotations

import socket
from collections import Counter
from datetime import timedelta
from typing import Any

from pyrad.packet import AccessAccept, AccessReject

from core.radius.accounting import AccountingEvent, AcctStatus, session_key
from services.radius_sessions import StoreCatalog, reap_stale_sessions, record_accounting
from store.models import Session, Subscriber
from store.radius_repo import DynamoRadiusStore
from store.subscribers import sessions_page
from tests.fakes.radius import ANSWER_TIMEOUT_S, pap_request

from .conftest import NOW, RadiusEnv

GIB = 1 << 32


def acct(env: RadiusEnv, status: str, user: str, sid: str, **attrs: Any):
    c = env.client()
    req = c.CreateAcctPacket(User_Name=user, Acct_Status_Type=status, Acct_Session_Id=sid)
    for name, value in attrs.items():
        req.AddAttribute(name.replace("_", "-"), value)
    return c, req


def send(env: RadiusEnv, status: str, user: str, sid: str, **attrs: Any):
    c, req = acct(env, status, user, sid, **attrs)
    return c.SendPacket(req)


def usage(login: str) -> dict[str, int]:
    return {k: int(v) for k, v in Subscriber.get(login, consistent_read=True).usage.as_dict().items()}


def test_session_lifecycle_with_gigawords_and_connection_log(env):
    a = env.account(subscriber={"status": "new"})
    common = {
        "Calling_Station_Id": "AA-BB-CC-DD-EE-01",
        "Called-Station-Id": "00-11-22-33-44-55:Lobby",
        "Framed_IP_Address": "10.5.0.7",
        "NAS_Identifier": "demo-router",
    }
    send(env, "Start", a.username, "S-100", **common)
    env.clock.advance(minutes=5)
    send(
        env,
        "Interim-Update",
        a.username,
        "S-100",
        Acct_Session_Time=300,
        Acct_Input_Octets=1000,
        Acct_Output_Octets=5,
        Acct_Output_Gigawords=1,
        **common,
    )
    env.clock.advance(minutes=5)
    reply = send(
        env,
        "Stop",
        a.username,
        "S-100",
        Acct_Session_Time=600,
        Acct_Input_Octets=2000,
        Acct_Output_Octets=10,
        Acct_Output_Gigawords=2,
        Acct_Terminate_Cause="User-Request",
        **common,
    )
    assert reply.code == 5  # Accounting-Response
    u = usage(a.login)
    assert u["d:2026-11-18:t"] == 600 and u["m:2026-11:i"] == 2000 and u["w:2026-11-16:o"] == 2 * GIB + 10

    row = Session.get(session_key("127.0.0.1", "S-100", a.username))
    assert (row.started_at, row.ended_at) == ("2026-11-18T17:00:00.000000Z", "2026-11-18T17:10:00.000000Z")
    assert (row.duration_s, row.input_octets, row.output_octets) == (600, 2000, 2 * GIB + 10)
    assert (row.framed_ip, row.mac, row.gateway_name, row.nas_identifier, row.gateway_mac, row.ssid) == (
        "10.5.0.7",
        "AA:BB:CC:DD:EE:01",
        "Demo router",
        "demo-router",
        "00:11:22:33:44:55",
        "Lobby",
    )
    assert row.terminate_cause == "User-Request" and row.closed_by == "stop" and row.open_nas is None
    sub = Subscriber.get(a.login)
    assert sub.devices == ["AA:BB:CC:DD:EE:01"]
    assert sub.status == "active"  # New until the service is first used
    assert sub.last_seen_at == "2026-11-18T17:10:00.000000Z"


def test_retransmissions_and_duplicates_change_nothing(env):
    a = env.account()
    send(env, "Start", a.username, "S-200")
    _, interim = acct(
        env,
        "Interim-Update",
        a.username,
        "S-200",
        Acct_Session_Time=300,
        Acct_Input_Octets=700,
        Acct_Output_Octets=900,
    )
    raw = interim.RequestPacket()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(ANSWER_TIMEOUT_S)
        for _ in range(3):  # the NAS retransmits the very same packet
            s.sendto(raw, ("127.0.0.1", env.harness.service.acct_port))
            assert s.recv(4096)[0] == 5
    # and a duplicate with a new identifier and Acct-Delay-Time (a new packet with the same counters)
    send(
        env,
        "Interim-Update",
        a.username,
        "S-200",
        Acct_Session_Time=300,
        Acct_Input_Octets=700,
        Acct_Output_Octets=900,
        Acct_Delay_Time=2,
    )
    assert usage(a.login)["d:2026-11-18:o"] == 900 and usage(a.login)["d:2026-11-18:t"] == 300


def test_32_bit_counters_without_gigawords_wrap_instead_of_stopping(env):
    # Given a NAS that sends 32-bit octet counters and no gigawords
    a = env.account()
    send(env, "Start", a.username, "S-WRAP")
    send(env, "Interim-Update", a.username, "S-WRAP", Acct_Session_Time=300, Acct_Output_Octets=4_000_000_000)
    # When the download counter passes 4 GiB it starts again from 0 while the session time goes on
    send(env, "Interim-Update", a.username, "S-WRAP", Acct_Session_Time=600, Acct_Output_Octets=100_000_000)
    send(env, "Interim-Update", a.username, "S-WRAP", Acct_Session_Time=900, Acct_Output_Octets=300_000_000)
    # Then the wrap is counted: 4 GiB + 300 MB downloaded
    assert usage(a.login)["d:2026-11-18:o"] == GIB + 300_000_000
    # And a late copy of an older packet (lower time, lower counter) changes nothing
    send(env, "Interim-Update", a.username, "S-WRAP", Acct_Session_Time=600, Acct_Output_Octets=100_000_000)
    assert usage(a.login)["d:2026-11-18:o"] == GIB + 300_000_000
    # And the connection log shows the open session with the wrapped total
    (row,), _ = sessions_page(a.subscriber_id, 10, None)
    assert row.id == session_key("127.0.0.1", "S-WRAP", a.username) and row.ended_at is None
    assert row.output_octets == GIB + 300_000_000 and row.duration_s == 900


def test_accounting_of_a_windows_domain_user_name_is_recorded(env):
    a = env.account(subscriber={"connection_type": "pppoe"})
    reply = send(
        env, "Interim-Update", f"CORP\\{a.username}", "S-DOM", Acct_Session_Time=60, Acct_Output_Octets=5
    )
    assert reply.code == 5 and usage(a.login)["d:2026-11-18:o"] == 5


def test_the_response_comes_after_the_write_is_durable(env):
    a = env.account()
    send(env, "Interim-Update", a.username, "S-300", Acct_Session_Time=120, Acct_Output_Octets=42)
    # read right after the response: the update is there
    assert usage(a.login)["d:2026-11-18:o"] == 42
    assert Session.get(session_key("127.0.0.1", "S-300", a.username)).open_nas == "127.0.0.1"


def test_accounting_with_a_wrong_secret_is_dropped(env):
    a = env.account()
    c = env.client(b"wrong")
    req = c.CreateAcctPacket(User_Name=a.username, Acct_Status_Type="Start", Acct_Session_Id="S-400")
    env.harness.expect_dropped(req.RequestPacket(), "dropped_bad_authenticator", acct=True)


def test_accounting_on_closes_every_session_of_that_nas(env):
    ip = env.gateway()
    secret = f"secret-{ip.rsplit('.', 1)[1]}".encode()
    c = env.client(secret, source_ip=ip)
    a = env.account(policy={"concurrent_connections": 1})
    for sid, mac in (("R-1", "AA-00-00-00-00-01"), ("R-2", "AA-00-00-00-00-02")):
        c.SendPacket(
            c.CreateAcctPacket(
                User_Name=a.username, Acct_Status_Type="Start", Acct_Session_Id=sid, Calling_Station_Id=mac
            )
        )
    login = pap_request(c, a.username, a.password, Calling_Station_Id="AA-00-00-00-00-03")
    assert c.SendPacket(login).code == AccessReject  # two sessions open, limit 1
    env.clock.advance(seconds=30)
    c.SendPacket(c.CreateAcctPacket(Acct_Status_Type="Accounting-On"))
    rows = [Session.get(session_key(ip, sid, a.username)) for sid in ("R-1", "R-2")]
    assert all(r.closed_by == "accounting-on" and r.ended_at and r.open_nas is None for r in rows)
    # the stale sessions no longer lock the subscriber out
    login = pap_request(c, a.username, a.password, Calling_Station_Id="AA-00-00-00-00-03")
    assert c.SendPacket(login).code == AccessAccept


def test_reaper_closes_sessions_whose_stop_never_came(env):
    a = env.account()
    send(env, "Start", a.username, "S-500")
    send(env, "Interim-Update", a.username, "S-500", Acct_Session_Time=300, Acct_Output_Octets=10)
    key = session_key("127.0.0.1", "S-500", a.username)
    store = DynamoRadiusStore()
    assert reap_stale_sessions(store, NOW + timedelta(minutes=5)) == 0  # recent: kept
    later = NOW + timedelta(seconds=2 * 300 + 121)
    assert reap_stale_sessions(store, later) >= 1
    row = Session.get(key)
    assert (
        row.closed_by == "reaper" and row.ended_at == "2026-11-18T17:00:00.000000Z" and row.open_nas is None
    )
    assert Subscriber.get(a.login).open_sessions.as_dict()[key]["cb"] == "reaper"
    # the session was alive after all: its next update reopens it
    env.clock.now = later
    send(env, "Interim-Update", a.username, "S-500", Acct_Session_Time=900, Acct_Output_Octets=30)
    row = Session.get(key)
    assert row.ended_at is None and row.open_nas == "127.0.0.1" and usage(a.login)["d:2026-11-18:o"] == 30


def test_reaper_judges_a_session_by_its_last_update_on_the_subscriber_item(env):
    # Given a session whose Interim-Updates within the hour went to the subscriber item only
    a = env.account()
    send(env, "Start", a.username, "S-510")
    for seconds in (300, 600, 900):
        env.clock.now = NOW + timedelta(seconds=seconds)
        send(
            env, "Interim-Update", a.username, "S-510", Acct_Session_Time=seconds, Acct_Output_Octets=seconds
        )
    key = session_key("127.0.0.1", "S-510", a.username)
    assert Session.get(key, consistent_read=True).last_update == "2026-11-18T17:00:00.000000Z"
    store = DynamoRadiusStore()
    # When the reaper runs 25 minutes after the row's last rewrite, 10 after the last update heard
    reap_stale_sessions(store, NOW + timedelta(minutes=25))
    # Then the session is kept
    assert Session.get(key, consistent_read=True).ended_at is None
    # And once the last update heard is older than 2 x interim + grace it is closed at that update
    assert reap_stale_sessions(store, NOW + timedelta(minutes=28)) >= 1
    row = Session.get(key, consistent_read=True)
    assert row.closed_by == "reaper" and row.ended_at == "2026-11-18T17:15:00.000000Z"
    assert (int(row.duration_s), int(row.output_octets)) == (900, 900)


class CountingStore(DynamoRadiusStore):
    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def get_subscriber(self, login):
        self.calls["read"] += 1
        return super().get_subscriber(login)

    def apply_subscriber_write(self, write, seen_at):
        self.calls["write"] += 1
        return super().apply_subscriber_write(write, seen_at)

    def put_session_log(self, log):
        self.calls["write"] += 1
        return super().put_session_log(log)


def test_one_read_and_at_most_two_writes_per_accounting_request_one_within_the_hour(env):
    a = env.account()
    store = CountingStore()
    gateway = next(g for g in store.list_gateways() if g.nas_ip == "127.0.0.1")
    # the connection-log row is rewritten on opening, closing and the first update of each hour; the
    # other Interim-Updates write the subscriber item only
    expected = {"Start": 2, "Interim-Update": 1, "duplicate": 0, "Interim-Update, next hour": 2, "Stop": 2}
    for label, status, t in (
        ("Start", AcctStatus.START, 0),
        ("Interim-Update", AcctStatus.INTERIM, 300),
        ("duplicate", AcctStatus.INTERIM, 300),
        ("Interim-Update, next hour", AcctStatus.INTERIM, 3600),
        ("Stop", AcctStatus.STOP, 3700),
    ):
        store.calls.clear()
        ev = AccountingEvent(
            status, "127.0.0.1", a.username, "S-600", NOW + timedelta(seconds=t), session_time=t
        )
        record_accounting(store, StoreCatalog(store), gateway, ev, {})
        assert store.calls["read"] == 1 and store.calls["write"] == expected[label], (label, store.calls)


def test_card_valid_from_first_login_gets_its_expiry_on_the_first_session_only(env):
    # Given a card-created subscriber valid 3 days from first use, never used
    a = env.account(subscriber={"status": "new", "expires_days_after_first_login": 3})
    assert Subscriber.get(a.login, consistent_read=True).product_expires_at is None
    start = env.clock()
    # When its first session starts
    send(env, "Start", a.username, "CARD-1")
    # Then the expiry is 3 days after that start, and a later session does not move it
    first = Subscriber.get(a.login, consistent_read=True).product_expires_at
    assert first is not None and first.startswith((start + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"))
    env.clock.advance(hours=5)
    send(env, "Start", a.username, "CARD-2")
    assert Subscriber.get(a.login, consistent_read=True).product_expires_at == first
