"""Entry point: ``python -m radius_container`` (container, local stack).

Reads the settings, binds the store to DynamoDB and serves until SIGTERM/SIGINT: with
``WISP_RADIUS_WORKERS`` worker processes sharing the ports (default: one per CPU of the task), or
in this process when that is 1.
"""

from __future__ import annotations

import asyncio
import signal
import threading

from composition import get_runtime
from radius_container.app import service_for
from radius_container.pool import RadiusPool, WorkerSpec, default_workers
from shared.settings import get_settings


async def serve() -> None:
    runtime = get_runtime()
    settings = runtime.settings
    service = service_for(runtime)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await service.start(settings.radius_bind, settings.radius_health_port)
    await stop.wait()
    await service.stop()


def serve_pool(workers: int) -> None:
    settings = get_settings()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    pool = RadiusPool(
        WorkerSpec("radius_container.app:worker_service"),
        workers=workers,
        bind=settings.radius_bind,
        auth_port=settings.radius_auth_port,
        acct_port=settings.radius_acct_port,
        health_port=settings.radius_health_port,
    )
    with pool:
        stop.wait()


def main() -> None:
    workers = get_settings().radius_workers or default_workers()
    if workers == 1:
        asyncio.run(serve())
    else:
        serve_pool(workers)


if __name__ == "__main__":
    main()
