"""Mass suspension of 1,000 subscribers on one router: RouterOS API round trips and seconds.

    .venv/bin/python -m bench.provisioner.run [--subscribers 1000] [--latency-ms 5]

The router is the fake RouterOS (``tests/fakes/routeros.py``) on 127.0.0.1, speaking the real API
protocol to librouteros; ``--latency-ms`` adds that delay to every request burst it receives, i.e.
one network round trip through the VPN (0 = loopback). DynamoDB and SQS are moto, in process.

Measured in the same run, each from the same starting point (1,000 active PPPoE services provisioned):

* ``router_trigger``: the billing cutoff's path, one "reconcile router" trigger through the queue;
* ``per_service_triggers``: an operator's mass action, one trigger per service, delivered by the
  Lambda event source in FIFO batches of 10 (one connection per batch);
* ``naive_per_subscriber``: what a provisioner without batching does: for each subscriber open a
  connection, log in, find its secret, add its IP to the blocked list, close.

Prints one JSON object per line; ``router_seconds`` is time spent connecting to / waiting on the
router, ``seconds`` the wall time including the moto DynamoDB reads and writes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
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

from adapters.routeros import ClientStats, Command, RouterTarget, connect  # noqa: E402
from infra.local.provisioner_worker import poll_once  # noqa: E402
from provisioner.handler import process_batch  # noqa: E402
from services.network.triggers import message_body, request_router_sync  # noqa: E402
from shared.runtime import Runtime  # noqa: E402
from store import provisioning as repo  # noqa: E402
from store.models import Gateway, ProvisioningTask, Subscriber  # noqa: E402
from tests.fakes.provisioning import (  # noqa: E402
    TENANT,
    many_subscribers,
    provisioning_runtime,
    router_gateway,
)
from tests.fakes.routeros import FakeRouter  # noqa: E402

ALIST = "/ip/firewall/address-list"


def emit(**row: Any) -> None:
    print(json.dumps({"bench": "provisioner", **row}), flush=True)


def drain_queue(rt: Runtime, stats: ClientStats) -> int:
    batches = 0
    while poll_once(rt, 0, stats):
        batches += 1
    return batches


def unblock(router: FakeRouter) -> None:
    for row in router.find(ALIST, list="morosos"):
        router.remove_row(ALIST, row[".id"])
    router.reset_stats()


def check(router: FakeRouter, subs: list[Subscriber]) -> bool:
    listed = [r["address"] for r in router.find(ALIST, list="morosos")]
    return len(listed) == len(subs) and set(listed) == {s.ip for s in subs}


def result(
    mode: str,
    router: FakeRouter,
    stats: ClientStats,
    seconds: float,
    subs: list[Subscriber],
    latency_ms: float,
    **extra: Any,
) -> dict[str, Any]:
    row = {
        "scenario": "mass_suspension",
        "mode": mode,
        "subscribers": len(subs),
        "latency_ms": latency_ms,
        "round_trips": stats.round_trips,
        "router_bursts": router.stats.round_trips,
        "commands": router.stats.commands,
        "connections": router.stats.connections,
        "router_seconds": round(stats.io_seconds, 3),
        "seconds": round(seconds, 3),
        "all_applied_once": check(router, subs),
        **extra,
    }
    emit(**row)
    return row


def run_router_trigger(
    rt: Runtime, gw: Gateway, router: FakeRouter, subs: list[Subscriber], latency_ms: float
) -> dict[str, Any]:
    stats = ClientStats()
    started = time.perf_counter()
    req = request_router_sync(rt, gw, "cutoff")
    drain_queue(rt, stats)
    seconds = time.perf_counter() - started
    assert ProvisioningTask.get(req.task_id).status == "succeeded"
    return result("router_trigger", router, stats, seconds, subs, latency_ms)


def run_per_service(
    rt: Runtime, gw: Gateway, router: FakeRouter, subs: list[Subscriber], latency_ms: float
) -> dict[str, Any]:
    """The Lambda event source's FIFO batches of 10, fed straight to the handler (moto's SQS costs
    O(queue depth) per call, which would dominate a 1,000-message measurement)."""
    tasks = [
        repo.new_task(
            tenant_id=TENANT,
            gateway_id=gw.id,
            kind="reconcile_subscriber",
            subscriber_id=s.id,
            reason="mass suspension",
            actor="bench",
            target={"login": s.login},
        )
        for s in subs
    ]
    repo.save_tasks(tasks)
    stats = ClientStats()
    started = time.perf_counter()
    failures = 0
    for start in range(0, len(tasks), 10):
        records = [
            {
                "messageId": t.id,
                "receiptHandle": None,
                "body": json.dumps(message_body(t)),
                "attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": gw.id},
            }
            for t in tasks[start : start + 10]
        ]
        failures += len(process_batch(rt, {"Records": records}, stats=stats)["batchItemFailures"])
    seconds = time.perf_counter() - started
    return result(
        "per_service_triggers",
        router,
        stats,
        seconds,
        subs,
        latency_ms,
        batches=len(tasks) // 10,
        failures=failures,
    )


def run_naive(
    gw: Gateway, router: FakeRouter, subs: list[Subscriber], latency_ms: float, password: str
) -> dict[str, Any]:
    target = RouterTarget(gw.name, router.host, router.port, router.username, password, timeout=10)
    stats = ClientStats()
    started = time.perf_counter()
    for sub in subs:
        client = connect(target, stats)
        try:
            client.print("/ppp/secret", [f"?name={sub.username}"], [".id", "name"])
            client.run(
                Command.of(
                    f"{ALIST}/add", {"list": "morosos", "address": sub.ip or "", "comment": f"wisp:{sub.id}"}
                )
            )
        finally:
            client.close()
    seconds = time.perf_counter() - started
    return result("naive_per_subscriber", router, stats, seconds, subs, latency_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    args = parser.parse_args()
    latency_ms = args.latency_ms
    with mock_aws(), FakeRouter(username="wispcloud", password="bench-pass") as router:
        rt = provisioning_runtime()
        gw = router_gateway(rt, router)
        subs = many_subscribers(rt, gw, args.subscribers, "active")
        started = time.perf_counter()
        request_router_sync(rt, gw, "initial export")
        drain_queue(rt, ClientStats())
        emit(
            scenario="initial_export",
            subscribers=len(subs),
            secrets=len(router.rows("/ppp/secret")),
            seconds=round(time.perf_counter() - started, 3),
        )

        subs = many_subscribers(rt, gw, args.subscribers, "suspended")
        router.latency = latency_ms / 1000
        unblock(router)
        batched = run_router_trigger(rt, gw, router, subs, latency_ms)
        unblock(router)
        per_service = run_per_service(rt, gw, router, subs, latency_ms)
        unblock(router)
        naive = run_naive(gw, router, subs, latency_ms, router.password)
        emit(
            scenario="mass_suspension",
            mode="comparison",
            subscribers=len(subs),
            latency_ms=latency_ms,
            naive_vs_router_trigger_round_trips=round(
                naive["round_trips"] / max(1, batched["round_trips"]), 1
            ),
            naive_vs_router_trigger_router_seconds=round(
                naive["router_seconds"] / max(1e-9, batched["router_seconds"]), 1
            ),
            naive_vs_per_service_round_trips=round(
                naive["round_trips"] / max(1, per_service["round_trips"]), 1
            ),
            naive_vs_per_service_router_seconds=round(
                naive["router_seconds"] / max(1e-9, per_service["router_seconds"]), 1
            ),
        )


if __name__ == "__main__":
    main()
