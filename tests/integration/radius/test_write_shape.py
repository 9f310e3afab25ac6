"""The accounting write path keeps the subscriber item small and lets rows expire: hourly traffic of
modulated policies lives in ``usage_hours`` rows (with a TTL), closed connection-log rows carry the
tenant's retention as TTL, and the open-session index moves only when the hour of the last update does."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from bench.dynamo_units import CapacityMeter
from core.ids import iso, now_iso
from core.radius.accounting import SessionLog, session_key
from infra.template.capacity import ACCOUNTING_TABLES
from store.models import Session, Subscriber, Tenant, UsageHour
from store.radius_repo import DynamoRadiusStore

from .conftest import NOW, RadiusEnv
from .test_accounting import send
from .test_modulation_run import MIB, MODULATION


def test_hourly_traffic_of_a_modulated_policy_lives_outside_the_subscriber_item(env: RadiusEnv):
    # Given a subscriber on a policy modulated by traffic over the last hours
    a = env.account(policy={"modulation": MODULATION})
    # When a session reports 300 MiB down and 10 MiB up in this hour
    send(env, "Start", a.username, "H-1")
    send(env, "Interim-Update", a.username, "H-1", Acct_Output_Octets=300 * MIB, Acct_Input_Octets=10 * MIB)
    # Then the subscriber item has no hourly keys, only the marker that hourly rows exist
    item = Subscriber.get(a.login, consistent_read=True)
    assert not [k for k in item.usage.as_dict() if k.startswith("h:")]
    assert item.hist is True
    # And the hour's row holds the traffic and expires eight days after the hour
    hour = NOW.strftime("%Y%m%d%H")
    row = UsageHour.get(a.login, hour, consistent_read=True)
    assert (int(row.o), int(row.i)) == (300 * MIB, 10 * MIB)
    assert row.expires_at == NOW.replace(minute=0) + timedelta(days=8)
    # And the RADIUS view of the subscriber sees the hour as before (modulation reads it)
    view = DynamoRadiusStore().get_subscriber(a.login)
    assert view is not None and view.usage[f"h:{hour}:o"] == 300 * MIB


def test_connection_log_rows_expire_after_the_tenant_retention_once_closed(env: RadiusEnv):
    # Given a tenant keeping its connection log 30 days
    Tenant(
        id="ten_ret",
        name="Retention",
        kind="manager",
        created_at=now_iso(),
        settings={"connection_log_retention_days": 30},
    ).save()
    store = DynamoRadiusStore()
    start = NOW
    log = SessionLog(
        id="ret-session-1",
        tenant_id="ten_ret",
        subscriber_id="sub_ret",
        username="ret",
        acct_session_id="R-1",
        nas_ip="127.0.0.1",
        started_at=iso(start),
        last_update=iso(start),
        version=1,
        interim_s=300,
    )
    # When the session opens and sends an update in the same hour
    store.put_session_log(log)
    row = Session.get("ret-session-1", consistent_read=True)
    assert row.expires_at is None and row.open_hour == iso(start)[:13]  # open rows never expire
    later = start + timedelta(minutes=5)
    store.put_session_log(dataclasses.replace(log, last_update=iso(later), version=2, duration_s=300))
    assert Session.get("ret-session-1", consistent_read=True).open_hour == iso(start)[:13]
    # And an update in the next hour moves it to that hour
    next_hour = start + timedelta(minutes=65)
    store.put_session_log(dataclasses.replace(log, last_update=iso(next_hour), version=3, duration_s=3900))
    assert Session.get("ret-session-1", consistent_read=True).open_hour == iso(next_hour)[:13]
    # And it is closed
    end = start + timedelta(minutes=70)
    store.put_session_log(
        dataclasses.replace(log, last_update=iso(end), ended_at=iso(end), closed_by="stop", version=4)
    )
    # Then the closed row leaves the open index and expires 30 days after its end
    row = Session.get("ret-session-1", consistent_read=True)
    assert row.open_nas is None and row.open_hour is None
    assert row.expires_at == end.replace(microsecond=0) + timedelta(days=30)


def test_stale_sessions_are_found_by_hour_and_checked_in_the_cutoff_hour(env: RadiusEnv):
    store = DynamoRadiusStore()
    nas = "127.0.0.250"
    base = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
    for sid, minutes in (("old", 0), ("same-hour-stale", 125), ("same-hour-fresh", 150), ("new", 190)):
        at = iso(base + timedelta(minutes=minutes))
        store.put_session_log(
            SessionLog(
                id=f"stale-{sid}",
                tenant_id="ten_ret",
                subscriber_id="s",
                username=sid,
                acct_session_id=sid,
                nas_ip=nas,
                started_at=at,
                last_update=at,
                version=1,
                interim_s=300,
            )
        )
    cutoff = iso(base + timedelta(minutes=140))  # 12:20
    assert sorted(store.open_session_ids(nas, cutoff)) == ["stale-old", "stale-same-hour-stale"]
    assert len(store.open_session_ids(nas)) == 4


def test_every_table_an_interim_update_writes_can_run_provisioned(env: RadiusEnv):
    # Given a subscriber on a policy modulated by traffic (the widest interim write) with a session open
    a = env.account(policy={"modulation": MODULATION})
    send(env, "Start", a.username, "P-1")
    meter = CapacityMeter()
    meter.install([Subscriber, Session, UsageHour])
    try:
        # When the first Interim-Update of the next hour reports traffic (it rewrites the log row too)
        env.clock.advance(minutes=65)
        send(env, "Interim-Update", a.username, "P-1", Acct_Session_Time=3900, Acct_Output_Octets=9 * MIB)
    finally:
        meter.uninstall()
    # Then every table it wrote is one the template can run on provisioned capacity with auto scaling
    written = {name.split(":")[0].removeprefix(env.runtime.settings.table_prefix) for name in meter.wcu}
    assert written == {"subscribers", "sessions", "usage_hours"}
    assert written <= set(ACCOUNTING_TABLES)


def test_the_reaper_reads_a_live_session_again_only_once_its_last_update_may_be_stale(env: RadiusEnv):
    # Given a session on its own gateway heard of at 17:15, its row written at the Start (17:00)
    ip = env.gateway()
    c = env.client(f"secret-{ip.rsplit('.', 1)[1]}".encode(), source_ip=ip)
    a = env.account()
    for seconds in (0, 300, 600, 900):
        env.clock.now = NOW + timedelta(seconds=seconds)
        status = "Start" if seconds == 0 else "Interim-Update"
        req = c.CreateAcctPacket(User_Name=a.username, Acct_Status_Type=status, Acct_Session_Id="RR-1")
        req.AddAttribute("Acct-Session-Time", seconds)
        assert c.SendPacket(req).code == 5
    store = DynamoRadiusStore()
    meter = CapacityMeter()
    meter.install([Session, Subscriber])
    try:
        # When the reaper looks every minute from 17:20 to 17:26 (cutoff 12 minutes earlier)
        reads = []
        for minute in range(20, 27):
            meter.reset()
            assert store.open_session_ids(ip, iso(NOW + timedelta(minutes=minute - 12))) == []
            reads.append(meter.requests["BatchGetItem"])
        # Then only the first look reads (the row, then the subscriber item with the last update)
        assert reads == [2, 0, 0, 0, 0, 0, 0]
        # And once the cutoff passes the last update seen, the item is read again and the session is stale
        meter.reset()
        stale = store.open_session_ids(ip, iso(NOW + timedelta(minutes=16)))
        assert stale == [session_key(ip, "RR-1", a.username)] and meter.requests["BatchGetItem"] == 1
    finally:
        meter.uninstall()
