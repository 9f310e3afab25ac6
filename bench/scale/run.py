"""ISP scale on moto, in counts that do not depend on the machine: DynamoDB write units per RADIUS
packet (table and every index, from the real item sizes) and requests / read units per admin page at
1k, 10k and 100k subscribers in one tenant, and per single-router reconcile.

    .venv/bin/python -m bench.scale.run

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
def radius_writes() -> None:
    from core.ids import now_iso
    from shared.crypto import StaticKeyProvider
    from shared.runtime import init_runtime
    from shared.settings import Settings
    from store import db
    from store.demo import DEMO_TENANT, seed_demo
    from store.models import ALL_MODELS, Policy, Product, Subscriber
    from store.radius_repo import DynamoRadiusStore
    from tests.fakes.radius import Clock, RadiusHarness, acct_request, pap_request

    with mock_aws():
        rt = init_runtime(
            Settings(stage="bench", table_prefix=f"bench-{secrets.token_hex(3)}-"),
            StaticKeyProvider(secrets.token_bytes(32)),
        )
        db.create_tables()
        seed_demo(rt.box)
        assigned = "2026-11-01T06:00:00.000000Z"
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
            Subscriber(
                login=f"{DEMO_TENANT}#customer-{name}",
                id=f"sub_{secrets.token_hex(8)}",
                tenant_id=DEMO_TENANT,
                username=f"customer-{name}",
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
                product_id=f"prod_{name}",
                product_assigned_at=assigned,
                ip="10.20.30.40",
                mac="AA:BB:CC:DD:EE:01",
                billing={"own_dates": False},
                usage=_steady_usage(assigned),
                devices=["AA:BB:CC:DD:EE:01"],
                devices_since=assigned,
                created_at="2026-01-15T10:00:00.000000Z",
            ).save()

        meter = CapacityMeter()
        meter.install(ALL_MODELS)
        clock = Clock(NOW)
        store = DynamoRadiusStore()
        with RadiusHarness(store, rt.box.decrypt, clock=clock) as harness:
            client = harness.client(b"testing123")
            common = {
                "Framed_IP_Address": "10.20.30.40",
                "Calling_Station_Id": "AA-BB-CC-DD-EE-01",
                "Called_Station_Id": "00-11-22-33-44-55",
                "NAS_Identifier": "torre-norte",
            }
            for name in ("plain", "modulated"):
                user = f"customer-{name}"
                clock.now = NOW
                steps: list[tuple[str, Any]] = [
                    ("Access-Request", pap_request(client, user, "a-long-network-password")),
                    ("Start", acct_request(client, "Start", user, f"S-{name}", **common)),
                ]
                for i in range(1, 12):
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
                            Acct_Session_Time=3600,
                            Acct_Input_Octets=240 * MIB,
                            Acct_Output_Octets=(3600 * MIB) % (1 << 32),
                            Acct_Output_Gigawords=(3600 * MIB) >> 32,
                            Acct_Terminate_Cause="User-Request",
                            **common,
                        ),
                    )
                )
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
            emit(
                metric="item_bytes",
                **{_base(k): v for k, v in sorted(meter.sizes.items())},
            )


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    started = time.monotonic()
    radius_writes()
    emit(metric="summary", seconds=round(time.monotonic() - started, 1))


if __name__ == "__main__":
    main()
