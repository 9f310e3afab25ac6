"""ISP scale on moto, in counts that do not depend on the machine: DynamoDB write units per RADIUS
packet (table and every index, from the real item sizes) and requests / read units per admin page at
1k, 10k and 100k subscribers in one tenant, and per single-router reconcile.

    .venv/bin/python -m bench.scale.run [--sizes 1000,10000,100000] [--routers 300] [--online-share 0.1]

Prints one JSON object per line. Units are computed by :mod:`bench.dynamo_units` (DynamoDB's sizing
rules) over the requests the real code makes: RADIUS packets over UDP to the real service on a moto
datastore, admin pages through the Chalice test client.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
for _p in ("functions", "."):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from moto import mock_aws  # noqa: E402

from bench.dynamo_units import CapacityMeter  # noqa: E402
from core.ids import now_iso  # noqa: E402

NOW = datetime(2026, 11, 18, 17, 2, tzinfo=UTC)  # Wednesday 11:02 in Mexico City
MIB = 1024 * 1024
MODULATION = {
    "algorithm": "linear",
    "activate_hour": 0,
    "deactivate_hour": 0,
    "period": "hours",
    "period_hours": 168,
    "traffic_type": "total",
    "max_total_mb": 50_000,
    "min_download_rate": 1_000_000,
    "min_upload_rate": 500_000,
}


def emit(**fields: Any) -> None:
    print(json.dumps(fields, sort_keys=True), flush=True)


def _base(table: str) -> str:
    """``bench-1a2b3c-sessions:open-hour-index`` → ``sessions:open-hour-index``."""
    return table.split("-", 2)[-1] if table.startswith("bench-") else table


def _steady_usage(assigned: str) -> dict[str, int]:
    """Counters a subscriber online every day carries: current and previous day, week and month, and
    the product period (what ``core.radius.usage.stale_keys`` keeps)."""
    out: dict[str, int] = {}
    for key in ("d:2026-11-17", "w:2026-11-09", "w:2026-11-16", "m:2026-10", "m:2026-11", f"p:{assigned}"):
        out[f"{key}:t"] = 86_400 if key.startswith("d") else 2_419_200
        out[f"{key}:i"] = 3_221_225_472
        out[f"{key}:o"] = 48_318_382_080
    return out


# ---------------------------------------------------------------- RADIUS write units
def _seed_radius_subscribers(rt: Any) -> None:
    """Per policy kind (plain, modulated): a policy, a product and one subscriber with a full record."""
    from infra.local.demo import DEMO_TENANT
    from store.models import Policy, Product

    for name, modulation in (("plain", None), ("modulated", MODULATION)):
        Policy(
            id=f"pol_{name}",
            tenant_id=DEMO_TENANT,
            code=name,
            download_rate=20_000_000,
            upload_rate=5_000_000,
            interim_update_s=300,
            monthly_data_mb=200_000,
            max_devices=3,
            concurrent_connections=2,
            modulation=modulation,
            created_at=now_iso(),
        ).save()
        Product(
            id=f"prod_{name}",
            tenant_id=DEMO_TENANT,
            name=f"Home 20M {name}",
            policy_id=f"pol_{name}",
            price="25.00",
            created_at=now_iso(),
        ).save()
        _full_subscriber(rt, f"customer-{name}", f"prod_{name}").save()


def _full_subscriber(rt: Any, username: str, product_id: str) -> Any:
    """A subscriber with a full record and a steady-state usage map."""
    from infra.local.demo import DEMO_TENANT
    from store.models import Subscriber

    assigned = "2026-11-01T06:00:00.000000Z"
    return Subscriber(
        login=f"{DEMO_TENANT}#{username}",
        id=f"sub_{secrets.token_hex(8)}",
        tenant_id=DEMO_TENANT,
        username=username,
        password_enc=rt.box.encrypt("a-long-network-password"),
        status="active",
        connection_type="pppoe",
        name="María Fernanda González Pérez",
        email="maria.gonzalez@example.com",
        phone="+52 55 1234 5678",
        address="Av. Insurgentes Sur 1234, Col. Del Valle, CDMX",
        document_id="GOPM850101MDFNRR09",
        zone_id="zone_demo",
        gateway_id="gw_demo",
        product_id=product_id,
        product_assigned_at=assigned,
        ip="10.20.30.40",
        mac="AA:BB:CC:DD:EE:01",
        billing={"own_dates": False},
        usage=_steady_usage(assigned),
        devices=["AA:BB:CC:DD:EE:01"],
        devices_since=assigned,
        created_at="2026-01-15T10:00:00.000000Z",
    )


def _session_packets(client: Any, name: str, common: dict[str, str]) -> list[tuple[str, Any]]:
    """One hour online: Access-Request, Start, 12 Interim-Updates (5 min apart, one of them in the next
    hour as in every hour of a longer session), Stop."""
    from tests.fakes.radius import acct_request, pap_request

    user = f"customer-{name}"
    steps: list[tuple[str, Any]] = [
        ("Access-Request", pap_request(client, user, "a-long-network-password")),
        ("Start", acct_request(client, "Start", user, f"S-{name}", **common)),
    ]
    for i in range(1, 13):
        steps.append(
            (
                "Interim-Update",
                acct_request(
                    client,
                    "Interim-Update",
                    user,
                    f"S-{name}",
                    Acct_Session_Time=300 * i,
                    Acct_Input_Octets=20 * MIB * i,
                    Acct_Output_Octets=(300 * MIB * i) % (1 << 32),
                    Acct_Output_Gigawords=(300 * MIB * i) >> 32,
                    **common,
                ),
            )
        )
    steps.append(
        (
            "Stop",
            acct_request(
                client,
                "Stop",
                user,
                f"S-{name}",
                Acct_Session_Time=3900,
                Acct_Input_Octets=260 * MIB,
                Acct_Output_Octets=(3900 * MIB) % (1 << 32),
                Acct_Output_Gigawords=(3900 * MIB) >> 32,
                Acct_Terminate_Cause="User-Request",
                **common,
            ),
        )
    )
    return steps


def _write_units(
    client: Any, clock: Any, meter: CapacityMeter, name: str, steps: list[tuple[str, Any]]
) -> None:
    """Send the packets one by one; one line per packet kind with its write units."""
    per_kind: dict[str, list[dict[str, Any]]] = {}
    for i, (kind, packet) in enumerate(steps):
        if kind != "Access-Request":
            clock.now = NOW + timedelta(seconds=300 * max(0, i - 1))
        meter.reset()
        client.SendPacket(packet)
        per_kind.setdefault(kind, []).append(
            {"wcu": meter.write_units, "by": dict(meter.wcu), "requests": meter.request_count}
        )
    for kind, runs in per_kind.items():
        wcu = [r["wcu"] for r in runs]
        by: dict[str, int] = {}
        for r in runs:
            for k, v in r["by"].items():
                by[_base(k)] = by.get(_base(k), 0) + v
        emit(
            metric="radius_write_units",
            subscriber=name,
            packet=kind,
            packets=len(runs),
            wcu_mean=round(sum(wcu) / len(wcu), 2),
            wcu_max=max(wcu),
            wcu_by_table_index={k: round(v / len(runs), 2) for k, v in sorted(by.items()) if v},
        )


COUNTER_FLUSH_S = 3600


def _counter_flush(meter: CapacityMeter, store: Any) -> None:
    """The deferred totals counter writes: one per (tenant, product) bucket whatever the Starts and
    Stops of the interval (here 2 subscribers of 2 products, each opened and closed: net 0, no write)."""
    meter.reset()
    store.flush_counters()
    emit(
        metric="radius_counter_flush",
        wcu=meter.write_units,
        requests=meter.request_count,
        note="one write per counter whose count changed in the interval, not per Start/Stop",
    )


REAPED_SESSIONS = 20


def _reaper_reads(rt: Any, client: Any, clock: Any, meter: CapacityMeter, store: Any) -> None:
    """Read units of the stale-session reaper per open session and hour, as it runs in production:
    in the RADIUS service every minute (one long-lived store) and in the scheduled function every 5
    minutes (a new store each run). Sessions opened a few seconds apart send an Interim-Update every
    5 minutes for two hours; the reaper runs of the second hour are counted."""
    from radius_container.app import REAPER_INTERVAL_S
    from services.radius_sessions import reap_stale_sessions
    from store.radius_repo import DynamoRadiusStore
    from tests.fakes.radius import acct_request

    events: list[tuple[datetime, str, Any]] = []
    for k in range(REAPED_SESSIONS):
        user = f"reap-{k:02d}"
        meter.enabled = False
        _full_subscriber(rt, user, "prod_plain").save()
        meter.enabled = True
        start = NOW + timedelta(seconds=14 * k)
        events.append((start, "packet", acct_request(client, "Start", user, f"R-{k}")))
        for j in range(1, 25):
            attrs = {"Acct_Session_Time": 300 * j, "Acct_Output_Octets": MIB * j}
            packet = acct_request(client, "Interim-Update", user, f"R-{k}", **attrs)
            events.append((start + timedelta(seconds=300 * j), "packet", packet))
    every = int(REAPER_INTERVAL_S)
    events += [(NOW + timedelta(seconds=every * r + 7), "service", None) for r in range(7200 // every)]
    events += [(NOW + timedelta(seconds=300 * r + 150), "scheduled", None) for r in range(24)]
    measured_from = NOW.replace(minute=0) + timedelta(hours=1)
    # items (rows, subscriber items) read per session; index pages (Query/Scan) per run, which at this
    # size are the 1-unit minimum of each request (docs/cost.md sizes them for a full index)
    rcu: dict[str, dict[str, float]] = {"service": {}, "scheduled": {}}
    runs: dict[str, int] = {"service": 0, "scheduled": 0}
    reaped = 0
    for at, kind, packet in sorted(events, key=lambda e: (e[0], e[1])):
        clock.now = at
        if kind == "packet":
            client.SendPacket(packet)
            continue
        meter.reset()
        reaped += reap_stale_sessions(store if kind == "service" else DynamoRadiusStore(), at)
        if measured_from <= at < measured_from + timedelta(hours=1):
            for op, units in meter.rcu_by_op.items():
                rcu[kind][op] = rcu[kind].get(op, 0.0) + units
            runs[kind] += 1
    for kind in ("service", "scheduled"):
        emit(
            metric="reaper_read_units",
            reaper=kind,
            open_sessions=REAPED_SESSIONS,
            runs_per_hour=runs[kind],
            item_read_units_per_session_hour=round(
                sum(rcu[kind].get(op, 0.0) for op in ("BatchGetItem", "GetItem")) / REAPED_SESSIONS, 2
            ),
            index_read_units_per_run=round(
                sum(rcu[kind].get(op, 0.0) for op in ("Query", "Scan")) / max(1, runs[kind]), 2
            ),
            reaped=reaped,
        )


def radius_writes() -> None:
    from composition import init_runtime
    from infra.local.demo import seed_demo
    from shared.crypto import StaticKeyProvider
    from shared.settings import Settings
    from store import db
    from store.models import ALL_MODELS
    from store.radius_repo import DynamoRadiusStore
    from tests.fakes.radius import Clock, RadiusHarness

    with mock_aws():
        rt = init_runtime(
            Settings(stage="bench", table_prefix=f"bench-{secrets.token_hex(3)}-"),
            StaticKeyProvider(secrets.token_bytes(32)),
        )
        db.create_tables()
        seed_demo(rt.box)
        _seed_radius_subscribers(rt)

        meter = CapacityMeter()
        meter.install(ALL_MODELS)
        clock = Clock(NOW)
        # as deployed, the online totals counters are gathered and written once per interval
        # (WISP_RADIUS_COUNTER_FLUSH_S); here the interval outlasts the run and the flush is measured apart
        store = DynamoRadiusStore(counter_flush_s=COUNTER_FLUSH_S)
        with RadiusHarness(store, rt.box.decrypt, clock=clock) as harness:
            client = harness.client(b"testing123", timeout=30.0)
            common = {
                "Framed_IP_Address": "10.20.30.40",
                "Calling_Station_Id": "AA-BB-CC-DD-EE-01",
                "Called_Station_Id": "00-11-22-33-44-55",
                "NAS_Identifier": "torre-norte",
            }
            for name in ("plain", "modulated"):
                clock.now = NOW
                steps = _session_packets(client, name, common)
                _write_units(client, clock, meter, name, steps)
            _counter_flush(meter, store)
            emit(
                metric="item_bytes",
                **{_base(k): v for k, v in sorted(meter.sizes.items())},
            )
            _reaper_reads(rt, client, clock, meter, store)


# ---------------------------------------------------------------- admin reads per page
def _subscriber(i: int, tenant_id: str, product_id: str, gateways: list[str], enc: str, online: bool) -> Any:
    from store.models import Subscriber
    from store.subscribers import search_fields

    name, phone = f"Customer {i}", f"+52 55 {i:08d}"
    keys = search_fields(name, phone)
    sessions = (
        {
            f"s{i}": {
                "nas": "127.0.0.1",
                "sid": f"a{i}",
                "st": "2026-11-18T16:00:00.000000Z",
                "v": 1,
                "i": 1000 * i,
            }
        }
        if online
        else {}
    )
    return Subscriber(
        login=f"{tenant_id}#bench{i:06d}",
        id=f"sub_bench{i:06d}",
        tenant_id=tenant_id,
        username=f"bench{i:06d}",
        password_enc=enc,
        status="active" if i % 10 else "suspended",
        name=name,
        phone=phone,
        product_id=product_id,
        gateway_id=gateways[i % len(gateways)],
        ip=f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
        open_sessions=sessions,
        online_t=tenant_id if online else None,
        created_at=f"2026-01-01T00:00:00.{i:06d}Z",
        name_lc=keys["name_lc"],
        phone_n=keys["phone_n"],
    )


def _moto_table(name: str) -> Any:
    """moto's in-memory table (writing to it directly seeds 100k items in seconds, not minutes)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[DEFAULT_ACCOUNT_ID][os.environ["AWS_DEFAULT_REGION"]].get_table(name)


def _seed_gateways(rt: Any, tid: str, routers: int) -> list[str]:
    from store.models import Gateway

    gateways = [f"gw_bench{g:03d}" for g in range(routers)]
    with Gateway.batch_write() as batch:
        for g, gid in enumerate(gateways):
            batch.save(
                Gateway(
                    id=gid,
                    tenant_id=tid,
                    name=f"Torre {g}",
                    nas_ip=f"10.250.{g >> 8}.{g & 255}",
                    radius_secret_enc=rt.box.encrypt("s"),
                    api_enabled=False,
                    created_at=now_iso(),
                )
            )
    return gateways


def _seed_subscribers(
    demo: Any,
    gateways: list[str],
    enc: str,
    online_share: float,
    seeded: int,
    size: int,
    counts: dict[Any, int],
) -> None:
    """Subscribers ``seeded``..``size`` straight into moto's table, and the tenant's tallies."""
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    from store import tallies
    from store.models import Subscriber

    tid = demo.tenant_id
    table = _moto_table(Subscriber.Meta.table_name)
    size_check = LimitedSizeDict.__setitem__
    LimitedSizeDict.__setitem__ = dict.__setitem__  # type: ignore[method-assign]  # seeding only
    for i in range(seeded, size):
        sub = _subscriber(i, tid, demo.product_id, gateways, enc, i % int(1 / online_share) == 0)
        table.put_item(sub.serialize())  # straight into moto's table: seeding only
        b = tallies.bucket_for(sub)
        for k in [b, b.with_status(tallies.ONLINE)] if sub.online_t else [b]:
            counts[k] = counts.get(k, 0) + 1
    LimitedSizeDict.__setitem__ = size_check  # type: ignore[method-assign]
    demo_bucket = tallies.bucket_of("active", demo.product_id, None)  # the demo subscriber
    tallies.replace_all(tid, {**counts, demo_bucket: counts.get(demo_bucket, 0) + 1})


def _admin_pages(client: Any, h: dict[str, str], meter: CapacityMeter, size: int) -> None:
    first = client.http.get("/admin/subscribers?limit=50", headers=h).json_body
    for call, path in (
        ("list page 50", "/admin/subscribers?limit=50"),
        ("list next page", f"/admin/subscribers?limit=50&cursor={first['next_cursor']}"),
        ("list status=suspended", "/admin/subscribers?limit=50&status=suspended"),
        ("list status=online", "/admin/subscribers?limit=50&status=online"),
        ("search q=bench0000", "/admin/subscribers?limit=50&q=bench0000"),
        ("search q=+52 55 0000001 (phone)", "/admin/subscribers?limit=50&q=%2B52%2055%200000001"),
        ("totals", "/admin/subscribers/totals"),
        ("online list page 50", "/admin/subscribers/online?limit=50"),
    ):
        meter.reset()
        resp = client.http.get(path, headers=h)
        assert resp.status_code == 200, resp.body[:300]
        emit(
            metric="admin_page",
            call=call,
            subscribers=size + 1,
            dynamodb_requests=meter.request_count,
            read_units=round(meter.rcu, 1),
        )


def admin_reads(sizes: list[int], routers: int, online_share: float) -> None:
    from chalice.test import Client

    from api.app import app
    from composition import init_runtime
    from infra.local.demo import seed_demo
    from services.network.reconcile import services_for_router
    from shared.crypto import StaticKeyProvider
    from shared.settings import Settings
    from shared.tokens import issue_operator_token
    from store import db
    from store.models import ALL_MODELS, Gateway

    with mock_aws():
        rt = init_runtime(
            Settings(stage="bench", table_prefix=f"bench-{secrets.token_hex(3)}-"),
            StaticKeyProvider(secrets.token_bytes(32)),
        )
        db.create_tables()
        demo = seed_demo(rt.box)
        tid = demo.tenant_id
        gateways = _seed_gateways(rt, tid, routers)
        enc = rt.box.encrypt("bench-pass")
        meter = CapacityMeter()
        meter.install(ALL_MODELS)
        token = issue_operator_token(rt.signer, demo.operator_id, tid, "manager", 3600)
        h = {"Authorization": f"Bearer {token}"}
        seeded = 0
        counts: dict[Any, int] = {}
        with Client(app) as client:
            for size in sizes:
                t0 = time.monotonic()
                meter.enabled = False
                _seed_subscribers(demo, gateways, enc, online_share, seeded, size, counts)
                seeded = size
                meter.enabled = True
                emit(metric="admin_seed", subscribers=size + 1, seconds=round(time.monotonic() - t0, 1))
                _admin_pages(client, h, meter, size)
                meter.reset()
                gw = Gateway.get(gateways[0])
                services = services_for_router(gw, rt.box)
                emit(
                    metric="router_reconcile_reads",
                    subscribers=size + 1,
                    routers=routers,
                    router_services=len(services),
                    dynamodb_requests=meter.request_count,
                    read_units=round(meter.rcu, 1),
                )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000,10000,100000", help="subscribers in the tenant, ascending")
    ap.add_argument("--routers", type=int, default=300)
    ap.add_argument("--online-share", type=float, default=0.1)
    args = ap.parse_args()
    started = time.monotonic()
    radius_writes()
    admin_reads([int(x) for x in args.sizes.split(",")], args.routers, args.online_share)
    emit(metric="summary", seconds=round(time.monotonic() - started, 1))


if __name__ == "__main__":
    main()
