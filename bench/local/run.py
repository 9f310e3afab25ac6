"""The local stack (`make run`) as an operator meets it: start times, restart after ``kill -9``, the
data-loss window, and RADIUS throughput against the stack's own processes (moto with its journal).

    .venv/bin/python -m bench.local.run [--auth 2000] [--sessions 300] [--parallel 32] [--no-first-start]

Steps (one JSON object per line):

* ``start``: a start with the existing virtualenv and no data (demo seeded), seconds to the banner;
* ``radius_access`` / ``radius_accounting``: radclient against the stack's RADIUS process, the demo
  subscriber's Access-Requests, then Start / Interim-Update / Stop of ``--sessions`` sessions;
  ``--parallel`` radclients with one request in flight each (radclient 3.2 with ``-p`` > 1 polls
  a core away, half of this machine);
* ``loss_window``: writer threads put items into DynamoDB through moto while every process of the
  stack is SIGKILLed; after the restart, acknowledged writes missing (must be 0) and unacknowledged
  writes found (in flight at the kill) are counted;
* ``restart``: the start after that ``kill -9`` (journal replayed), seconds to the banner and moto's
  replay line;
* ``first_start``: a new virtualenv, ``pip install -r requirements.txt`` (pip's cache warm), then the
  start: what ``make run`` costs on a fresh checkout. Bounded by ``--first-start-ceiling``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for _p in (str(ROOT / "functions"), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from bench.radius.run import radclient  # noqa: E402

for _k, _v in (
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
):
    os.environ.setdefault(_k, _v)  # moto's

SECRET = "testing123"
READY = "try: radtest"


def emit(**fields: Any) -> None:
    print(json.dumps(fields, sort_keys=True), flush=True)


def _free(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Run:
    """One `python -m infra.local_stack` in its own process group, its output drained."""

    def __init__(self, python: str, env: dict[str, str], ceiling: float) -> None:
        self.started = time.monotonic()
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.proc = subprocess.Popen(
            [python, "-m", "infra.local_stack"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + ceiling
        while time.monotonic() < deadline and self.proc.poll() is None and not self.ready.wait(0.2):
            pass
        self.seconds = round(time.monotonic() - self.started, 2)
        if not self.ready.is_set():
            self.kill()
            raise RuntimeError("the local stack did not start:\n" + "\n".join(self.lines[-30:]))

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if READY in line:
                self.ready.set()

    def line(self, pattern: str) -> str | None:
        return next((m.group(1) for m in (re.search(pattern, x) for x in self.lines) if m), None)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):  # the whole group, even with the supervisor gone
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


def stack_env(local_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH="functions:.",
        WISP_LOCAL_DIR=str(local_dir),
        WISP_SCHEDULER_INTERVAL="3600",
        WISP_MOTO_PORT=str(_free()),
        WISP_API_PORT=str(_free()),
        WISP_ROUTER_API_PORT=str(_free()),
        WISP_RADIUS_AUTH_PORT=str(_free(socket.SOCK_DGRAM)),
        WISP_RADIUS_ACCT_PORT=str(_free(socket.SOCK_DGRAM)),
    )
    for k in ("WISP_AWS_ENDPOINT_URL", "WISP_DATA_KEY_FILE", "WISP_RADIUS_HEALTH_PORT"):
        env.pop(k, None)
    return env


def wait_free(port: int, ceiling: float = 30.0) -> None:
    deadline = time.monotonic() + ceiling
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
                return
            except OSError:
                time.sleep(0.2)
    raise RuntimeError(f"port {port} still busy")


# ---------------------------------------------------------------- RADIUS load
def moto_stats(env: dict[str, str]) -> dict[str, Any]:
    """The moto process's counters (``/_local/stats``): requests and CPU seconds per operation, its
    CPU seconds in all."""
    url = f"http://127.0.0.1:{env['WISP_MOTO_PORT']}/_local/stats"
    with urllib.request.urlopen(url, timeout=30) as resp:
        return dict(json.loads(resp.read()))


def per_request(before: dict[str, Any], after: dict[str, Any], answered: int) -> dict[str, Any]:
    """The datastore work behind one answered RADIUS request: moto calls per request by operation,
    moto's CPU per request (the whole process: HTTP server, moto, journal) and per call of each
    operation (moto and the journal)."""
    n = max(1, answered)
    calls = {
        op: after["requests"][op] - before["requests"].get(op, 0)
        for op in after["requests"]
        if after["requests"][op] != before["requests"].get(op, 0)
    }
    cpu = {op: after["cpu_seconds"].get(op, 0.0) - before["cpu_seconds"].get(op, 0.0) for op in calls}
    return {
        "moto_calls_per_request": {op: round(c / n, 2) for op, c in calls.items()},
        "moto_cpu_ms_per_request": round(
            (after["process_cpu_seconds"] - before["process_cpu_seconds"]) * 1000 / n, 2
        ),
        "moto_cpu_ms_per_call": {op: round(cpu[op] * 1000 / c, 2) for op, c in calls.items()},
    }


def seed_subscribers(env: dict[str, str], count: int) -> list[str]:
    """``count`` active PPPoE subscribers of the demo gateway (``lb<i>`` / ``pw-lb<i>``), written
    straight into the stack's tables with its key: different subscribers, as a NAS's load has."""
    from composition import init_runtime
    from core.ids import now_iso
    from infra.local.demo import DEMO_GATEWAY, DEMO_TENANT
    from shared.settings import Settings
    from store.models import Subscriber

    local = Path(env["WISP_LOCAL_DIR"])
    settings = Settings.from_env(
        {
            **env,
            "WISP_AWS_ENDPOINT_URL": f"http://127.0.0.1:{env['WISP_MOTO_PORT']}",
            "WISP_DATA_KEY_FILE": str(local / "data.key"),
        }
    )
    rt = init_runtime(settings)
    names = [f"lb{i}" for i in range(count)]
    with Subscriber.batch_write() as batch:
        for i, name in enumerate(names):
            batch.save(
                Subscriber(
                    login=f"{DEMO_TENANT}#{name}",
                    id=f"sub_lb{i}",
                    tenant_id=DEMO_TENANT,
                    username=name,
                    password_enc=rt.box.encrypt(f"pw-{name}"),
                    status="active",
                    connection_type="pppoe",
                    name=f"Load {i}",
                    zone_id="zone_demo",
                    gateway_id=DEMO_GATEWAY,
                    product_id="prod_demo",
                    product_assigned_at=now_iso(),
                    created_at=now_iso(),
                )
            )
    return names


def radius_load(env: dict[str, str], work: Path, auth: int, sessions: int, parallel: int) -> None:
    users = seed_subscribers(env, 64)
    access = work / "access"
    access.write_text(
        "\n".join(
            f'User-Name = "{u}"\nUser-Password = "pw-{u}"\nMessage-Authenticator = 0x00\n' for u in users
        )
    )
    port = int(env["WISP_RADIUS_AUTH_PORT"])
    radclient(port, "auth", access, parallel, 1, split=True)  # warm-up: caches, connections, threads
    before = moto_stats(env)
    result = radclient(port, "auth", access, parallel, max(1, auth // 64), split=True)
    emit(
        bench="local",
        step="radius_access",
        users=len(users),
        parallel=parallel,
        target_per_second=200,
        load_average=round(os.getloadavg()[0], 1),
        **per_request(before, moto_stats(env), result.received),
        **result.summary(),
    )

    starts, interims, stops = [], [], []
    for i in range(sessions):
        sid = f"L-{os.getpid()}-{i}"
        head = f'User-Name = "{users[i % len(users)]}"\nAcct-Session-Id = "{sid}"\n'
        starts.append(head + "Acct-Status-Type = Start\n")
        interims.append(
            head + "Acct-Status-Type = Interim-Update\nAcct-Session-Time = 300\n"
            "Acct-Input-Octets = 1000\nAcct-Output-Octets = 5000\n"
        )
        stops.append(
            head + "Acct-Status-Type = Stop\nAcct-Session-Time = 600\nAcct-Input-Octets = 2000\n"
            "Acct-Output-Octets = 9000\nAcct-Terminate-Cause = User-Request\n"
        )
    acct = work / "acct"
    acct.write_text("\n".join(starts + interims + stops))
    before = moto_stats(env)
    result = radclient(int(env["WISP_RADIUS_ACCT_PORT"]), "acct", acct, parallel, 1, split=True)
    emit(
        bench="local",
        step="radius_accounting",
        parallel=parallel,
        sessions=sessions,
        target_per_second=100,
        load_average=round(os.getloadavg()[0], 1),
        **per_request(before, moto_stats(env), result.received),
        **result.summary(),
    )


# ---------------------------------------------------------------- loss window
class Writers:
    """Threads putting numbered items into a scratch table; each remembers what was acknowledged."""

    def __init__(self, endpoint: str, threads: int = 4) -> None:
        import boto3

        self.table = "bench-loss-window"
        self.client = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        self.client.create_table(
            TableName=self.table,
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.acked: set[str] = set()
        self.sent: set[str] = set()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._write, args=(t,), daemon=True) for t in range(threads)]
        for t in self.threads:
            t.start()

    def _write(self, t: int) -> None:
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "dynamodb",
            endpoint_url=self.client.meta.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 0}, connect_timeout=2, read_timeout=5),
        )
        n = 0
        while not self.stop.is_set():
            key = f"{t}-{n}"
            self.sent.add(key)
            try:
                client.put_item(TableName=self.table, Item={"k": {"S": key}})
            except Exception:  # the stack was killed
                return
            self.acked.add(key)
            n += 1

    def found(self, endpoint: str) -> set[str]:
        import boto3

        client = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        keys: set[str] = set()
        for page in client.get_paginator("scan").paginate(TableName=self.table):
            keys.update(item["k"]["S"] for item in page["Items"])
        return keys


def journal_entries(local_dir: Path) -> int:
    total = 0
    for path in (local_dir / "moto").glob("journal-*.log"):
        with path.open("rb") as fh:
            total += sum(1 for _ in fh)
    return total


# ---------------------------------------------------------------- first start
def first_start(work: Path, ceiling: float) -> None:
    venv = work / "venv"
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=ceiling)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-r",
            str(ROOT / "requirements.txt"),
        ],
        check=True,
        timeout=ceiling,
    )
    install_s = round(time.monotonic() - started, 2)
    run = Run(python, stack_env(work / "first"), ceiling)
    try:
        total = round(time.monotonic() - started, 2)
        emit(
            bench="local",
            step="first_start",
            install_seconds=install_s,
            start_seconds=run.seconds,
            seconds=total,
            target_seconds=90,
            load_average=round(os.getloadavg()[0], 1),
        )
    finally:
        run.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.local.run")
    parser.add_argument("--auth", type=int, default=2000, help="Access-Requests to send")
    parser.add_argument("--sessions", type=int, default=300, help="accounting sessions (3 requests each)")
    parser.add_argument("--parallel", type=int, default=32, help="requests in flight (one radclient each)")
    parser.add_argument("--ceiling", type=float, default=300.0, help="seconds allowed for one start")
    parser.add_argument("--no-first-start", action="store_true", help="skip the fresh-virtualenv start")
    parser.add_argument("--first-start-ceiling", type=float, default=900.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="wisp-bench-local-") as tmp:
        work = Path(tmp)
        env = stack_env(work / "local")
        run = Run(sys.executable, env, args.ceiling)
        try:
            emit(
                bench="local", step="start", seconds=run.seconds, target_seconds=20, data="new (demo seeded)"
            )
            if shutil.which("radclient"):
                radius_load(env, work, args.auth, args.sessions, args.parallel)
            else:
                emit(bench="local", step="radius", skipped="radclient is not installed (freeradius-utils)")
            endpoint = f"http://127.0.0.1:{env['WISP_MOTO_PORT']}"
            writers = Writers(endpoint)
            time.sleep(3)
            entries = journal_entries(work / "local")
            run.kill()  # every process of the stack, mid-write
            writers.stop.set()
        except BaseException:
            run.kill()
            raise
        for name in ("WISP_MOTO_PORT", "WISP_API_PORT", "WISP_ROUTER_API_PORT"):
            wait_free(int(env[name]))
        run = Run(sys.executable, env, args.ceiling)
        try:
            found = writers.found(endpoint)
            emit(
                bench="local",
                step="loss_window",
                acknowledged=len(writers.acked),
                acknowledged_lost=len(writers.acked - found),
                unacknowledged_found=len(found - writers.acked),
                in_flight_at_kill=len(writers.sent - writers.acked),
            )
            emit(
                bench="local",
                step="restart",
                after="kill -9 of every process",
                journal_entries=entries,
                seconds=run.seconds,
                load_average=round(os.getloadavg()[0], 1),
                moto=run.line(r"\[moto\] moto ready .*\((generation .*)\)$"),
            )
        finally:
            run.stop()
        if not args.no_first_start:
            first_start(work, args.first_start_ceiling)
    return 0


if __name__ == "__main__":
    sys.exit(main())
