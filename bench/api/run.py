"""Admin API cost on moto: milliseconds and DynamoDB requests per call, for a tenant of N subscribers.

    .venv/bin/python -m bench.api.run [--subscribers 1000] [--online 100] [--bulk 100]

Prints one JSON object per line. Requests are counted with a botocore ``before-call`` hook on every
DynamoDB client the store uses; they do not depend on the machine, the milliseconds do (moto
in-process, Chalice test client, no network). Lists are computed over the tenant's whole subscriber
set (filter, sort, keyset page), so their cost grows with N: the figures say by how much.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
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


def emit(**fields: Any) -> None:
    print(json.dumps(fields, sort_keys=True), flush=True)


class RequestCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, **_: Any) -> None:
        self.count += 1

    def install(self) -> None:
        from store.models import ALL_MODELS

        seen: set[int] = set()
        for model in ALL_MODELS:
            events = model._get_connection().connection.client.meta.events
            if id(events) not in seen:
                seen.add(id(events))
                events.register("before-call.dynamodb", self)


def measure(counter: RequestCounter, fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median milliseconds and mean DynamoDB requests per call."""
    times, before = [], counter.count
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), (counter.count - before) / repeat


def _seed(rt: Any, demo: Any, subscribers: int, online_count: int) -> str:
    """``subscribers`` more subscribers in the demo tenant, the first ``online_count`` online."""
    from core.ids import iso, new_id, now_iso, utcnow
    from store.models import Subscriber

    now = now_iso()
    enc = rt.box.encrypt("bench-pass")
    with Subscriber.batch_write() as batch:
        for i in range(subscribers):
            online = i < online_count
            sessions = (
                {
                    f"s{i}": {
                        "nas": "127.0.0.1",
                        "sid": f"a{i}",
                        "st": iso(utcnow() - timedelta(hours=1)),
                        "lu": now,
                        "v": 1,
                        "i": 1000 * i,
                        "o": 5000 * i,
                        "t": 3600,
                    }
                }
                if online
                else {}
            )
            batch.save(
                Subscriber(
                    login=f"{demo.tenant_id}#bench{i:06d}",
                    id=new_id("sub"),
                    tenant_id=demo.tenant_id,
                    username=f"bench{i:06d}",
                    password_enc=enc,
                    status="active" if i % 10 else "suspended",
                    name=f"Customer {i}",
                    product_id=demo.product_id,
                    gateway_id=demo.gateway_id,
                    ip=f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
                    open_sessions=sessions,
                    created_at=now,
                )
            )
    return now


def _reads(client: Any, h: dict[str, str], counter: RequestCounter, demo: Any, subscribers: int) -> None:
    def get(path: str) -> Any:
        resp = client.http.get(path, headers=h)
        assert resp.status_code == 200, resp.body[:300]
        return resp

    for name, path, repeat in (
        ("me (auth only)", "/admin/me", 20),
        ("get subscriber", f"/admin/subscribers/{demo.subscriber_id}", 20),
        ("list page 50", "/admin/subscribers?limit=50", 5),
        ("list filtered+search", "/admin/subscribers?status=suspended&q=customer%2019&sort=-name", 5),
        ("totals", "/admin/subscribers/totals", 5),
        ("online list", "/admin/subscribers/online", 5),
        ("export csv", "/admin/subscribers/export", 2),
    ):
        ms, reqs = measure(counter, functools.partial(get, path), repeat)
        emit(
            metric="api_call",
            call=name,
            subscribers=subscribers + 1,
            median_ms=round(ms, 1),
            dynamodb_requests=round(reqs, 1),
        )


def _create(client: Any, h: dict[str, str], counter: RequestCounter, demo: Any) -> None:
    seq = iter(range(10**6))

    def create() -> None:
        resp = client.http.post(
            "/admin/subscribers",
            headers=h,
            body=json.dumps({"username": f"new{next(seq)}", "product_id": demo.product_id}),
        )
        assert resp.status_code == 201, resp.body[:300]

    ms, reqs = measure(counter, create, 10)
    emit(
        metric="api_call",
        call="create subscriber",
        median_ms=round(ms, 1),
        dynamodb_requests=round(reqs, 1),
    )


def _bulk_suspend(client: Any, h: dict[str, str], counter: RequestCounter, demo: Any, bulk: int) -> None:
    from store.models import Subscriber

    ids = [
        s.id
        for s in Subscriber.tenant_index.query(
            demo.tenant_id, filter_condition=Subscriber.status == "active", limit=bulk
        )
    ][:bulk]
    before, t = counter.count, time.perf_counter()
    resp = client.http.post(
        "/admin/subscribers/bulk/suspend", headers=h, body=json.dumps({"subscriber_ids": ids})
    )
    elapsed = (time.perf_counter() - t) * 1000
    body = resp.json_body
    emit(
        metric="bulk_suspend",
        subscribers=len(ids),
        succeeded=body["succeeded"],
        ms_per_subscriber=round(elapsed / max(1, len(ids)), 1),
        dynamodb_requests_per_subscriber=round((counter.count - before) / max(1, len(ids)), 1),
        router="api_disabled warning (demo router)",
    )


def _core_listing(now: str) -> None:
    from core import listing

    rows = [
        {
            "id": f"id{i:06d}",
            "username": f"user{i:06d}",
            "status": "active",
            "price": "25",
            "created_at": now,
            "name": f"N{i % 97}",
        }
        for i in range(10_000)
    ]
    t = time.perf_counter()
    ordered = listing.sort_rows(rows, "name", True)
    _page, cursor = listing.paginate(ordered, "name", True, 50, None)
    for _ in range(20):
        _page, cursor = listing.paginate(ordered, "name", True, 50, cursor)
    emit(metric="core_listing", rows=10_000, pages=21, ms=round((time.perf_counter() - t) * 1000, 1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--online", type=int, default=100)
    ap.add_argument("--bulk", type=int, default=100)
    args = ap.parse_args()

    from chalice.test import Client

    from api.app import app
    from composition import init_runtime
    from infra.local.demo import seed_demo
    from shared.crypto import StaticKeyProvider
    from shared.settings import Settings
    from shared.tokens import issue_operator_token
    from store import db

    started = time.monotonic()
    with mock_aws():
        rt = init_runtime(
            Settings(stage="bench", table_prefix=f"bench-{secrets.token_hex(3)}-"),
            StaticKeyProvider(secrets.token_bytes(32)),
        )
        db.create_tables()
        demo = seed_demo(rt.box)
        now = _seed(rt, demo, args.subscribers, args.online)
        emit(
            metric="seed",
            subscribers=args.subscribers + 1,
            online=args.online,
            seconds=round(time.monotonic() - started, 1),
        )
        counter = RequestCounter()
        counter.install()
        token = issue_operator_token(rt.signer, demo.operator_id, demo.tenant_id, "manager", 3600)
        h = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        with Client(app) as client:
            _reads(client, h, counter, demo, args.subscribers)
            _create(client, h, counter, demo)
            _bulk_suspend(client, h, counter, demo, args.bulk)
        _core_listing(now)
    emit(metric="summary", seconds=round(time.monotonic() - started, 1))


if __name__ == "__main__":
    main()
