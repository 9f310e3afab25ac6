"""The real RADIUS service (every worker process) on the in-memory datastore double, for any load tool.

    python -m bench.radius.serve --users-csv FILE --auth-port P --acct-port P --secret S \\
        --latency-ms 3 [--workers N]

Loads the ``username,password`` rows of the CSV (a ``username,password`` header line is skipped)
as subscribers of one tenant, behind one gateway at 127.0.0.1 with secret S, all on one product
whose policy matches a FreeRADIUS sqlcounter setup: Simultaneous-Use 1, daily time 240 min,
monthly traffic 4 GB, Session-Timeout 86400, rate 5M/5M. The datastore double answers every call
after ``--latency-ms`` (a DynamoDB round trip) and is shared by the workers over a Unix socket.

Prints one JSON line when it answers (ports, worker pids, the store socket for instrumentation),
then serves until SIGTERM or SIGINT, stops every worker gracefully and prints a JSON line with the
workers' counters. Port 0 picks free ports.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

for _p in ("functions", "."):
    if _p not in sys.path:
        sys.path.insert(0, _p)

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")

from bench.radius.shared_store import RemoteRadiusStore, StoreServer  # noqa: E402
from core.radius.model import Allowances, GatewayView, PolicyView, ProductView, SubscriberView  # noqa: E402
from radius_container.app import RadiusService, build_service  # noqa: E402
from radius_container.pool import RadiusPool, WorkerSpec, default_workers  # noqa: E402
from shared.crypto import SecretBox, StaticKeyProvider  # noqa: E402
from tests.fakes.radius_store import InMemoryRadiusStore  # noqa: E402

TENANT = "bench"
ASSIGNED = "2026-01-01T06:00:00.000000Z"


def bench_policy() -> PolicyView:
    """The FreeRADIUS + SQL counters setup of the peer, as a WispCloud policy."""
    return PolicyView(
        id="pol_bench",
        download_rate=5_000_000,
        upload_rate=5_000_000,
        session_timeout_min=1440,
        allowances=Allowances(daily_time_min=240, monthly_data_mb=4096),
        concurrent_connections=1,
    )


def read_users(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="") as f:
        rows = [(r[0].strip(), r[1]) for r in csv.reader(f) if len(r) >= 2 and r[0].strip()]
    return rows[1:] if rows and rows[0] == ("username", "password") else rows


def load_store(store: InMemoryRadiusStore, box: SecretBox, users: list[tuple[str, str]], secret: str) -> None:
    store.gateways["127.0.0.1"] = GatewayView(
        id="gw_bench",
        tenant_id=TENANT,
        name="Bench",
        nas_ip="127.0.0.1",
        secret_enc=box.encrypt(secret),
        timezone="UTC",
        require_message_authenticator=False,
    )
    policy = bench_policy()
    store.policies[policy.id] = policy
    store.products["prod_bench"] = ProductView(id="prod_bench", policy_id=policy.id)
    for i, (username, password) in enumerate(users):
        login = f"{TENANT}#{username.lower()}"
        store.subscribers[login] = SubscriberView(
            login=login,
            id=f"sub{i}",
            tenant_id=TENANT,
            username=username,
            password_enc=box.encrypt(password),
            product_id="prod_bench",
            product_assigned_at=ASSIGNED,
        )


def worker(*, index: int, auth_port: int, acct_port: int, store_socket: str, key_hex: str) -> RadiusService:
    """One worker process: the production wiring on the shared datastore double."""
    box = SecretBox(StaticKeyProvider(bytes.fromhex(key_hex)))
    return build_service(
        RemoteRadiusStore(store_socket), box.decrypt, auth_port=auth_port, acct_port=acct_port, reaper_s=None
    )


def emit(**fields: Any) -> None:
    print(json.dumps(fields, sort_keys=True), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users-csv", type=Path, required=True)
    parser.add_argument("--auth-port", type=int, default=1812)
    parser.add_argument("--acct-port", type=int, default=1813)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--latency-ms", type=float, default=3.0, help="datastore latency per call")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (0: one per CPU)")
    parser.add_argument("--bind", default="127.0.0.1")
    args = parser.parse_args(argv)

    key = secrets.token_bytes(32)
    box = SecretBox(StaticKeyProvider(key))
    store = InMemoryRadiusStore(latency_s=args.latency_ms / 1000)
    users = read_users(args.users_csv)
    load_store(store, box, users, args.secret)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="wisp-radius-bench-") as tmp:
        socket_path = str(Path(tmp) / "store.sock")
        server = StoreServer(store, socket_path).start()
        pool = RadiusPool(
            WorkerSpec("bench.radius.serve:worker", {"store_socket": socket_path, "key_hex": key.hex()}),
            workers=args.workers or default_workers(),
            bind=args.bind,
            auth_port=args.auth_port,
            acct_port=args.acct_port,
        )
        try:
            pool.start()
            emit(
                serve="ready",
                auth_port=pool.auth_port,
                acct_port=pool.acct_port,
                workers=pool.count,
                worker_pids=pool.pids,
                store_socket=socket_path,
                users=len(users),
            )
            stop.wait()
        finally:
            pool.stop()
            server.stop()
        totals: dict[str, int] = {}
        for counts in pool.final_stats:
            for name, value in counts.items():
                totals[name] = totals.get(name, 0) + value
        emit(serve="stopped", counters=totals, datastore_calls=dict(store.calls))


if __name__ == "__main__":
    main()
