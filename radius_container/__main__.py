"""Entry point: ``python -m radius_container`` (container, local stack).

Reads the settings, binds the store to DynamoDB and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import signal

from radius_container.app import service_for
from shared.runtime import get_runtime


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


def main() -> None:
    asyncio.run(serve())


if __name__ == "__main__":
    main()
