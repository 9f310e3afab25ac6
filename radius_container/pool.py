"""Several RADIUS worker processes on one pair of UDP ports: every core of the task serves.

The supervisor (this module, in the parent process) holds the ports while the workers start, so
port 0 resolves to one free port for all of them and a busy port fails at once. Each worker is a
separate process running the whole service (:func:`radius_container.app.build_service` through a
factory): its own event loop, request threads, caches and duplicate cache. The workers bind the
ports with ``SO_REUSEPORT`` and packets are steered to them by identifier
(:mod:`radius_container.reuseport`), so a retransmission reaches the worker that saw the original.
When it reaches another one (a worker was restarted meanwhile), nothing is counted twice: the
accounting writes are conditional on the session version in the store, and an Access-Request only
reads.

Stopping is graceful: every worker answers the requests it has in flight (an Accounting-Response
only once its write is durable) before it closes its sockets. A worker that dies is restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import math
import multiprocessing as mp
import os
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from radius_container.reuseport import reserve
from shared.observability import get_logger

log = get_logger("radius")

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
MONITOR_INTERVAL_S = 1.0


def default_workers() -> int:
    """One worker per CPU the task may use (affinity, and the cgroup CPU quota where there is one)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


@dataclass(frozen=True)
class WorkerSpec:
    """How a worker builds its service: ``factory`` ("module:function") is called in the worker as
    ``factory(index=..., auth_port=..., acct_port=..., **kwargs)`` and returns a ``RadiusService``.
    Worker 0 is the one that runs the once-per-deployment jobs (the stale-session reaper)."""

    factory: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def build(self, index: int, auth_port: int, acct_port: int) -> Any:
        module, _, name = self.factory.partition(":")
        function: Callable[..., Any] = getattr(importlib.import_module(module), name)
        return function(index=index, auth_port=auth_port, acct_port=acct_port, **self.kwargs)


# ---------------------------------------------------------------- in the worker process
def _worker_main(
    spec: WorkerSpec,
    index: int,
    workers: int,
    bind: str,
    ports: tuple[int, int, int],
    conn: Connection,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the supervisor decides
    auth_port, acct_port, health_port = ports
    try:
        service = spec.build(index, auth_port, acct_port)
        asyncio.run(_serve(service, bind, health_port, workers, conn))
    except Exception as exc:
        log.exception("RADIUS worker failed", extra={"worker": index})
        with contextlib.suppress(OSError):
            conn.send(("failed", repr(exc)))
        raise SystemExit(1) from exc


async def _serve(service: Any, bind: str, health_port: int, workers: int, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await service.start(bind, health_port, workers)
    conn.send(("ready", os.getpid()))

    def command() -> None:
        try:
            name = conn.recv()
        except (EOFError, OSError):  # the supervisor is gone: stop as if told to
            loop.remove_reader(conn.fileno())
            stop.set()
            return
        if name == "stats":
            conn.send(("stats", dict(service.server.stats.counts)))
        elif name == "stop":
            stop.set()

    loop.add_reader(conn.fileno(), command)
    await stop.wait()
    loop.remove_reader(conn.fileno())
    await service.stop()  # answers what is in flight, then closes the sockets
    with contextlib.suppress(OSError):
        conn.send(("stopped", dict(service.server.stats.counts)))


# ---------------------------------------------------------------- the supervisor
@dataclass
class _Worker:
    index: int
    process: BaseProcess
    conn: Connection
    pid: int = 0
    stopping: bool = False


class RadiusPool:
    """``workers`` processes serving ``bind:auth_port`` and ``bind:acct_port`` (0: free ports)."""

    def __init__(
        self,
        spec: WorkerSpec,
        *,
        workers: int,
        bind: str,
        auth_port: int,
        acct_port: int,
        health_port: int = 0,
    ) -> None:
        self.spec = spec
        self.count = max(1, workers)
        self.bind = bind
        self.auth_port = auth_port
        self.acct_port = acct_port
        self.health_port = health_port
        self.final_stats: list[dict[str, int]] = []
        self.restarts = 0
        self._ctx = mp.get_context("spawn")  # no inherited threads, locks or open connections
        self._workers: list[_Worker] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None

    # ------------------------------------------------------------ life cycle
    def start(self) -> RadiusPool:
        holds = [reserve(self.bind, self.auth_port), reserve(self.bind, self.acct_port)]
        try:
            self.auth_port = holds[0].getsockname()[1]
            self.acct_port = holds[1].getsockname()[1]
            with self._lock:
                self._workers = [self._spawn(i) for i in range(self.count)]
                for worker in self._workers:
                    self._await_ready(worker)
        except BaseException:
            self.stop()
            raise
        finally:
            for sock in holds:  # from now on the workers alone hold the ports
                sock.close()
        self._monitor = threading.Thread(target=self._watch, name="radius-pool", daemon=True)
        self._monitor.start()
        log.info(
            "RADIUS workers started",
            extra={"workers": self.count, "auth_port": self.auth_port, "acct_port": self.acct_port},
        )
        return self

    def _spawn(self, index: int) -> _Worker:
        parent, child = self._ctx.Pipe()
        ports = (self.auth_port, self.acct_port, self.health_port)
        process = self._ctx.Process(
            target=_worker_main,
            args=(self.spec, index, self.count, self.bind, ports, child),
            name=f"radius-worker-{index}",
            daemon=True,
        )
        process.start()
        child.close()
        return _Worker(index, process, parent)

    def _await_ready(self, worker: _Worker) -> None:
        message: Any = None
        if worker.conn.poll(READY_TIMEOUT_S):
            try:
                message = worker.conn.recv()
            except EOFError:
                message = None
        if not (isinstance(message, tuple) and message[0] == "ready"):
            worker.process.join(1)
            raise RuntimeError(f"RADIUS worker {worker.index} did not start: {message!r}")
        worker.pid = int(message[1])

    def _watch(self) -> None:
        """Restart a worker that died (its requests in flight are retransmitted by the NAS)."""
        while not self._stopping.wait(MONITOR_INTERVAL_S):
            with self._lock:
                for position, worker in enumerate(self._workers):
                    if worker.stopping or worker.process.is_alive() or self._stopping.is_set():
                        continue
                    log.error(
                        "RADIUS worker died; restarting it",
                        extra={"worker": worker.index, "exitcode": worker.process.exitcode},
                    )
                    worker.conn.close()
                    try:
                        replacement = self._spawn(worker.index)
                        self._await_ready(replacement)
                    except Exception:
                        log.exception("restarting a RADIUS worker failed", extra={"worker": worker.index})
                        continue
                    self._workers[position] = replacement
                    self.restarts += 1

    def _stop_workers(self, workers: list[_Worker]) -> list[dict[str, int]]:
        for worker in workers:
            worker.stopping = True
            with contextlib.suppress(OSError):
                worker.conn.send("stop")
        stats = []
        for worker in workers:
            try:
                while worker.conn.poll(STOP_TIMEOUT_S):
                    message = worker.conn.recv()
                    if message[0] == "stopped":
                        stats.append(message[1])
                        break
            except (EOFError, OSError):
                pass
            worker.process.join(STOP_TIMEOUT_S)
            if worker.process.is_alive():
                log.error("RADIUS worker did not stop; killing it", extra={"worker": worker.index})
                worker.process.kill()
                worker.process.join(5)
            worker.conn.close()
        return stats

    def replace_worker(self, index: int) -> None:
        """Stop worker ``index`` gracefully and start a fresh one in its place (a rolling restart)."""
        with self._lock:
            position = next(p for p, w in enumerate(self._workers) if w.index == index)
            self._stop_workers([self._workers[position]])
            replacement = self._spawn(index)
            self._await_ready(replacement)
            self._workers[position] = replacement

    def stop(self) -> None:
        """Stop every worker together; each answers its requests in flight first."""
        self._stopping.set()
        with self._lock:
            workers, self._workers = self._workers, []
            self.final_stats = self._stop_workers(workers)
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(5)

    def __enter__(self) -> RadiusPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ observation
    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self._workers]

    def stats(self) -> list[dict[str, int]]:
        """Each worker's counters, in worker order."""
        out = []
        with self._lock:
            for worker in self._workers:
                worker.conn.send("stats")
                if not worker.conn.poll(STOP_TIMEOUT_S):
                    raise TimeoutError(f"RADIUS worker {worker.index} did not report")
                out.append(worker.conn.recv()[1])
        return out
