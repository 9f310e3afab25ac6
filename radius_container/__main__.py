"""Entry point: ``python -m radius_container`` (container, local stack).

Reads the settings, binds the store to DynamoDB and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import signal

from radius_container.app import build_service, load_modulator
from shared.runtime import get_runtime
from store.radius_repo import DynamoRadiusStore


async def serve() -> None:
    runtime = get_runtime()
    settings = runtime.settings
    service = build_service(
        DynamoRadiusStore(),
        runtime.box.decrypt,
        auth_port=settings.radius_auth_port,
        acct_port=settings.radius_acct_port,
        cache_ttl=settings.radius_cache_ttl,
        modulator=load_modulator(),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await service.start(settings.radius_bind)
    await stop.wait()
    await service.stop()


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
