"""Wiring of the RADIUS service: store, caches, NAS registry, server and its background jobs.

The same :func:`build_service` runs the container, the local stack, the tests and the benchmark;
only the store (DynamoDB or a double) and the ports differ.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aws_lambda_powertools.metrics import MetricUnit
from pyrad.dictionary import Dictionary

from adapters.dynauth import DynAuthSender, UdpDynAuthSender
from composition import get_runtime
from core import modulation
from core.ids import utcnow
from core.radius import DICTIONARY_PATH
from core.radius.policy import Modulator, Rates
from radius_container.authorize import Authorizer
from radius_container.catalog import CachedCatalog
from radius_container.nas import NasClient, NasRegistry
from radius_container.server import RadiusServer
from services.disconnect import disconnect_session
from services.radius_sessions import AccountingResult, reap_stale_sessions
from shared.observability import get_logger, metrics
from shared.runtime import Runtime
from store.radius_repo import DynamoRadiusStore, RadiusStore

log = get_logger("radius")

REAPER_INTERVAL_S = 60.0
REQUEST_WORKERS = 64  # request threads: enough for the datastore calls in flight at peak
STATS_INTERVAL_S = 60.0


def load_modulator() -> Modulator | None:
    """Dynamic rate modulation by traffic: ``core.modulation.modulated_rates`` behind a guard.

    It is called with the keywords of :class:`core.radius.policy.Modulator`. If it fails, the
    policy's own rates are used: a modulation bug must never refuse or delay a login.
    """
    function = modulation.modulated_rates

    def modulator(
        *, modulation: Mapping[str, Any], rates: Rates, usage: Mapping[str, int], now: datetime, tz: ZoneInfo
    ) -> Rates:
        try:
            result = function(modulation=modulation, rates=rates, usage=usage, now=now, tz=tz)
        except Exception:
            log.exception("rate modulation failed; using the policy's rates")
            return rates
        return result if isinstance(result, Rates) else rates

    return modulator


@dataclass
class RadiusService:
    server: RadiusServer
    registry: NasRegistry
    store: RadiusStore
    executor: ThreadPoolExecutor
    refresh_s: float
    reaper_s: float | None
    clock: Callable[[], datetime]
    counter_flush_s: float | None = None
    _jobs: list[asyncio.Task[None]] = field(default_factory=list)
    _health: asyncio.Server | None = None
    _published: dict[str, int] = field(default_factory=dict)

    @property
    def auth_port(self) -> int:
        return self.server.auth_port

    @property
    def acct_port(self) -> int:
        return self.server.acct_port

    async def start(self, bind: str, health_port: int = 0, processes: int | None = None) -> None:
        """Serve on ``bind``; with ``processes``: as one of that many processes sharing the ports."""
        loop = asyncio.get_running_loop()
        count = await loop.run_in_executor(self.executor, self.registry.reload)
        await self.server.initialize_transports(
            enable_auth=True, enable_acct=True, addresses=[bind], processes=processes
        )
        if health_port:
            self._health = await asyncio.start_server(
                self._health_check, bind, health_port, reuse_port=processes is not None or None
            )
        log.info(
            "RADIUS service listening",
            extra={
                "bind": bind,
                "auth_port": self.auth_port,
                "acct_port": self.acct_port,
                "nas_clients": count,
            },
        )
        self._jobs.append(asyncio.ensure_future(self._every(self.refresh_s, self.registry.reload)))
        if self.reaper_s:
            self._jobs.append(asyncio.ensure_future(self._every(self.reaper_s, self._reap)))
        self._jobs.append(asyncio.ensure_future(self._every(STATS_INTERVAL_S, self._log_stats)))
        if self.counter_flush_s:
            self._jobs.append(
                asyncio.ensure_future(self._every(self.counter_flush_s, self.store.flush_counters))
            )

    async def _health_check(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """``GET /health`` for the load balancer: 200 while serving (NAS clients loaded), else 503."""
        try:
            await asyncio.wait_for(reader.readline(), timeout=2)
            ok = self.registry.loaded and bool(self.server.auth_protocols)
            body = json.dumps(
                {"status": "ok" if ok else "starting", "nas_clients": self.registry.count}
            ).encode()
            status = "200 OK" if ok else "503 Service Unavailable"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    def _reap(self) -> int:
        return reap_stale_sessions(self.store, self.clock())

    def _log_stats(self) -> None:
        """Log the counters and publish what changed since the last time as CloudWatch metrics (EMF)."""
        counts = dict(self.server.stats.counts)
        log.info("RADIUS counters", extra={"counters": counts})
        published = False
        for name, value in counts.items():
            delta = value - self._published.get(name, 0)
            if delta > 0:
                metrics.add_metric(
                    name="".join(p.capitalize() for p in name.split("_")), unit=MetricUnit.Count, value=delta
                )
                published = True
        self._published = counts
        if published:
            metrics.flush_metrics()

    async def _every(self, seconds: float, job: Callable[[], object]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(seconds)
            try:
                await loop.run_in_executor(self.executor, job)
            except Exception:
                log.exception("background job failed", extra={"job": getattr(job, "__name__", str(job))})

    async def stop(self) -> None:
        for job in self._jobs:
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
        self._jobs.clear()
        if self._health is not None:
            self._health.close()
            await self._health.wait_closed()
        await self.server.drain()
        await self.server.deinitialize_transports()
        try:  # the totals counter moves of the last interval
            await asyncio.get_running_loop().run_in_executor(self.executor, self.store.flush_counters)
        except Exception:
            log.exception("totals counters not written at stop (the recount repairs them)")
        self.executor.shutdown(wait=False, cancel_futures=True)


def build_service(
    store: RadiusStore,
    decrypt: Callable[[str], str],
    *,
    auth_port: int,
    acct_port: int,
    cache_ttl: float = 30.0,
    workers: int = REQUEST_WORKERS,
    clock: Callable[[], datetime] = utcnow,
    modulator: Modulator | None = None,
    dynauth: DynAuthSender | None = None,
    reaper_s: float | None = REAPER_INTERVAL_S,
    refresh_s: float | None = None,
    counter_flush_s: float | None = None,
) -> RadiusService:
    """The service on ``store``: NAS clients refresh every ``refresh_s`` (default: the cache TTL)."""
    dictionary = Dictionary(DICTIONARY_PATH)
    registry = NasRegistry(store.list_gateways, decrypt)
    catalog = CachedCatalog(store, cache_ttl)
    executor = ThreadPoolExecutor(
        max_workers=4, thread_name_prefix="radius-jobs"
    )  # reloads, reaper, enforcement
    authorizer = Authorizer(store, catalog, registry, decrypt, modulator=modulator, clock=clock)
    sender = dynauth or UdpDynAuthSender(dictionary)

    def enforce(nas: NasClient, result: AccountingResult) -> None:
        """An allowance ran out on a gateway that cannot cut the session: disconnect it."""
        if result.subscriber is None or result.session is None:
            return
        sub, session = result.subscriber, result.session

        def run() -> None:
            try:
                outcome = disconnect_session(store, sender, registry, sub, session, clock())
                log.info(
                    "allowance enforced by Disconnect-Request",
                    extra={"subscriber_id": sub.id, "result": outcome.result.value},
                )
            except Exception:
                log.exception("allowance enforcement failed", extra={"subscriber_id": sub.id})

        executor.submit(run)

    server = RadiusServer(
        store=store,
        catalog=catalog,
        registry=registry,
        authorizer=authorizer,
        executor=executor,
        dictionary=dictionary,
        auth_port=auth_port,
        acct_port=acct_port,
        clock=clock,
        on_enforce=enforce,
        request_workers=workers,
    )
    return RadiusService(
        server,
        registry,
        store,
        executor,
        refresh_s=cache_ttl,
        reaper_s=reaper_s,
        clock=clock,
        counter_flush_s=counter_flush_s,
    )


@dataclass
class RadiusThread:
    """The service running in a background thread with its own event loop (local stack, tests)."""

    service: RadiusService
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread

    @property
    def auth_port(self) -> int:
        return self.service.auth_port

    @property
    def acct_port(self) -> int:
        return self.service.acct_port

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


def start_in_thread(service: RadiusService, bind: str, health_port: int = 0) -> RadiusThread:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="radius", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(service.start(bind, health_port), loop).result(30)
    return RadiusThread(service, loop, thread)


def start_runtime_in_thread(runtime: Runtime) -> RadiusThread:
    """The production service in a background thread (the local stack): ``.auth_port``, ``.stop()``."""
    settings = runtime.settings
    return start_in_thread(service_for(runtime), settings.radius_bind, settings.radius_health_port)


def service_for(
    runtime: Runtime, *, auth_port: int | None = None, acct_port: int | None = None, reaper: bool = True
) -> RadiusService:
    """The production wiring: DynamoDB store, the runtime's key, the settings' ports and cache TTL."""
    settings = runtime.settings
    return build_service(
        DynamoRadiusStore(pool_connections=REQUEST_WORKERS, counter_flush_s=settings.radius_counter_flush_s),
        runtime.box.decrypt,
        auth_port=settings.radius_auth_port if auth_port is None else auth_port,
        acct_port=settings.radius_acct_port if acct_port is None else acct_port,
        cache_ttl=settings.radius_cache_ttl,
        modulator=load_modulator(),
        reaper_s=REAPER_INTERVAL_S if reaper else None,
        counter_flush_s=settings.radius_counter_flush_s,
    )


def worker_service(*, index: int, auth_port: int, acct_port: int) -> RadiusService:
    """One process of the production pool (:mod:`radius_container.pool`): the settings' wiring on the
    ports the supervisor holds; only worker 0 runs the stale-session reaper."""
    return service_for(get_runtime(), auth_port=auth_port, acct_port=acct_port, reaper=index == 0)
