"""Access-Request throughput and latency over loopback with ``radclient``, DynamoDB calls per request,
accounting without loss, and the same load against FreeRADIUS (plain users file) for a ratio.

    .venv/bin/python -m bench.radius.run [--requests 12000] [--parallel 96] [--latency-ms 3]

The server runs its real code path (packet checks, credentials, policy evaluation, accounting
rules) in its own process on a datastore double that sleeps ``--latency-ms`` per call, like a
DynamoDB round trip. Latency is measured on radclient's own packet log (``-x``): the time between
the "Sent" and "Received" lines of each packet, read with a timestamp as radclient prints them.
Prints one JSON object per line.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

for _p in ("functions", "."):
    if _p not in sys.path:
        sys.path.insert(0, _p)

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")

SECRET = "testing123"
USERS = 2000
_SENT = re.compile(r"^Sent \S+ Id (\d+) from [\d.]+:(\d+) ")
_RECEIVED = re.compile(r"^Received (\S+) Id (\d+) from [\d.:]+ to [\d.]+:(\d+) ")


def emit(**fields: Any) -> None:
    print(json.dumps(fields, sort_keys=True), flush=True)


# ---------------------------------------------------------------- the server process
def _serve(conn: Connection, latency_s: float) -> None:
    from core.radius.model import Allowances, GatewayView, PolicyView, ProductView, SubscriberView
    from core.rates import Burst
    from radius_container.app import build_service, start_in_thread
    from shared.crypto import SecretBox, StaticKeyProvider
    from tests.fakes.radius_store import InMemoryRadiusStore

    box = SecretBox(StaticKeyProvider(b"b" * 32))
    store = InMemoryRadiusStore(latency_s=latency_s)
    store.gateways["127.0.0.1"] = GatewayView(
        id="gw",
        tenant_id="t",
        name="Bench",
        nas_ip="127.0.0.1",
        secret_enc=box.encrypt(SECRET),
        timezone="America/Mexico_City",
    )
    store.policies["pol"] = PolicyView(
        id="pol",
        download_rate=10_000_000,
        upload_rate=2_000_000,
        session_timeout_min=240,
        idle_timeout_min=15,
        allowances=Allowances(daily_time_min=600, monthly_data_mb=20_000),
        max_devices=3,
        concurrent_connections=2,
        burst=Burst(20_000_000, 4_000_000, 8_000_000, 1_500_000, 16, 16),
        address_list="clients",
    )
    store.products["prod"] = ProductView(id="prod", policy_id="pol")
    for i in range(USERS):
        store.subscribers[f"t#bench{i}"] = SubscriberView(
            login=f"t#bench{i}",
            id=f"sub{i}",
            tenant_id="t",
            username=f"bench{i}",
            password_enc=box.encrypt(f"pw{i}"),
            product_id="prod",
            product_assigned_at="2026-11-01T06:00:00.000000Z",
        )
    service = build_service(store, box.decrypt, auth_port=0, acct_port=0, workers=48, reaper_s=None)
    running = start_in_thread(service, "127.0.0.1")
    conn.send({"auth_port": service.auth_port, "acct_port": service.acct_port})
    while True:
        command = conn.recv()
        if command == "reset":
            store.calls.clear()
            service.server.stats.counts.clear()
            conn.send("ok")
        elif command == "cpu":
            times = os.times()
            conn.send(times.user + times.system)
        elif command == "stats":
            sessions = [
                {
                    "id": s.id,
                    "closed_by": s.closed_by,
                    "in": s.input_octets,
                    "out": s.output_octets,
                    "t": s.duration_s,
                }
                for s in store.sessions.values()
            ]
            conn.send(
                {
                    "calls": dict(store.calls),
                    "server": dict(service.server.stats.counts),
                    "sessions": sessions,
                }
            )
        else:
            running.stop()
            conn.send("stopped")
            return


# ---------------------------------------------------------------- radclient load
@dataclass
class LoadResult:
    sent: int
    received: int
    lost: int
    seconds: float
    latencies_ms: list[float]
    replies: dict[str, int]

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        pct = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 2)) if lat else (lambda q: None)
        return {
            "requests": self.sent,
            "answered": self.received,
            "lost": self.lost,
            "seconds": round(self.seconds, 3),
            "per_second": round(self.received / self.seconds) if self.seconds else 0,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "mean_ms": round(statistics.fmean(lat), 2) if lat else None,
            "replies": self.replies,
        }


def radclient(
    port: int, kind: str, requests: Path, parallel: int, count: int, timeout_s: float = 5.0
) -> LoadResult:
    """Run radclient on a requests file and time every packet from its ``-x`` log."""
    cmd = [
        "radclient",
        "-x",
        "-s",
        "-f",
        str(requests),
        "-p",
        str(parallel),
        "-c",
        str(count),
        "-r",
        "1",
        "-t",
        str(timeout_s),
        f"127.0.0.1:{port}",
        kind,
        SECRET,
    ]
    if shutil.which("stdbuf"):
        cmd = ["stdbuf", "-oL", *cmd]
    sent_at: dict[tuple[str, str], float] = {}
    latencies: list[float] = []
    replies: dict[str, int] = {}
    sent = received = lost = 0
    first = last = 0.0
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.perf_counter()
        if line.startswith("Sent"):
            m = _SENT.match(line)
            if m:
                sent += 1
                first = first or now
                sent_at[(m.group(2), m.group(1))] = now
        elif line.startswith("Received"):
            m = _RECEIVED.match(line)
            if m:
                received += 1
                last = now
                replies[m.group(1)] = replies.get(m.group(1), 0) + 1
                start = sent_at.pop((m.group(3), m.group(2)), None)
                if start is not None:
                    latencies.append((now - start) * 1000)
        elif "Lost" in line and ":" in line:
            lost = int(line.split(":")[1])
    proc.wait()
    return LoadResult(sent, received, lost, (last - first) if last else 0.0, latencies, replies)


def access_requests_file(path: Path, users: int) -> Path:
    blocks = [
        f'User-Name = "bench{i}"\nUser-Password = "pw{i}"\nMessage-Authenticator = 0x00\n'
        f'NAS-Port-Type = Ethernet\nCalling-Station-Id = "02-00-00-{i >> 16 & 255:02X}-{i >> 8 & 255:02X}-{i & 255:02X}"\n'
        for i in range(users)
    ]
    path.write_text("\n".join(blocks))
    return path


def accounting_file(path: Path, sessions: int) -> Path:
    """Start, Interim-Update and Stop for each session, in that order (as a NAS spreads them in time)."""
    starts, interims, stops = [], [], []
    for i in range(sessions):
        user, sid = f"bench{i}", f"B-{i}"
        starts.append(f'User-Name = "{user}"\nAcct-Status-Type = Start\nAcct-Session-Id = "{sid}"\n')
        interims.append(
            f'User-Name = "{user}"\nAcct-Status-Type = Interim-Update\nAcct-Session-Id = "{sid}"\n'
            f"Acct-Session-Time = 300\nAcct-Input-Octets = 1000\nAcct-Output-Octets = 5000\n"
        )
        stops.append(
            f'User-Name = "{user}"\nAcct-Status-Type = Stop\nAcct-Session-Id = "{sid}"\n'
            f"Acct-Session-Time = 600\nAcct-Input-Octets = 2000\nAcct-Output-Octets = 7\n"
            f"Acct-Output-Gigawords = 1\nAcct-Terminate-Cause = User-Request\n"
        )
    path.write_text("\n".join(starts + interims + stops))
    return path


# ---------------------------------------------------------------- FreeRADIUS with a plain users file
FREERADIUS_CONF = """
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = {dir}
raddbdir = {dir}
radacctdir = {dir}
name = freeradius
confdir = {dir}
modconfdir = {dir}
run_dir = {dir}
db_dir = {dir}
libdir = /usr/lib/freeradius
pidfile = {dir}/radiusd.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 65536
hostname_lookups = no
log {{
    destination = files
    file = {dir}/radius.log
    auth = no
}}
security {{
    allow_core_dumps = no
    max_attributes = 200
    reject_delay = 0
    status_server = no
}}
thread pool {{
    start_servers = 8
    max_servers = 32
    min_spare_servers = 4
    max_spare_servers = 16
    max_requests_per_server = 0
}}
client bench {{
    ipaddr = 127.0.0.1
    secret = {secret}
}}
modules {{
    files {{
        filename = {dir}/users
    }}
    pap {{
    }}
}}
server default {{
    listen {{
        type = auth
        ipaddr = 127.0.0.1
        port = {port}
    }}
    authorize {{
        files
        pap
    }}
    authenticate {{
        Auth-Type PAP {{
            pap
        }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FreeRadius:
    """FreeRADIUS (``freeradius -f``) with a users file holding the same subscribers, on a free port."""

    def __init__(self, work: Path) -> None:
        self.binary = shutil.which("freeradius") or shutil.which("radiusd")
        self.conf = work / "freeradius"
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str | None:
        """Start it; returns why it cannot run, or None."""
        if self.binary is None:
            return "freeradius is not installed"
        self.conf.mkdir()
        (self.conf / "radiusd.conf").write_text(
            FREERADIUS_CONF.format(dir=self.conf, secret=SECRET, port=self.port)
        )
        users = [
            f'bench{i} Cleartext-Password := "pw{i}"\n\tMikrotik-Rate-Limit = "2M/10M", Acct-Interim-Interval = 300\n'
            for i in range(USERS)
        ]
        (self.conf / "users").write_text("".join(users))
        self.proc = subprocess.Popen(
            [self.binary, "-f", "-d", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        probe = access_requests_file(self.conf / "probe", 1)
        for _ in range(100):
            if self.proc.poll() is not None:
                error = self.proc.stderr.read().decode()[-300:] if self.proc.stderr else ""
                return f"freeradius did not start: {error}"
            if radclient(self.port, "auth", probe, 1, 1, timeout_s=0.2).received:
                return None
            time.sleep(0.1)
        return "freeradius did not answer"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


# ---------------------------------------------------------------- main
def _median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(rounds, key=lambda r: r["per_second"])[len(rounds) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10_000, help="Access-Requests per measured round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, alternating with FreeRADIUS")
    parser.add_argument("--parallel", type=int, default=32, help="requests in flight (radclient -p)")
    parser.add_argument("--latency-ms", type=float, default=3.0, help="datastore double latency per call")
    parser.add_argument("--sessions", type=int, default=1000, help="accounting sessions (3 packets each)")
    args = parser.parse_args()
    if shutil.which("radclient") is None:
        emit(bench="radius", skipped="radclient is not installed (freeradius-utils)")
        return
    count = max(1, args.requests // USERS)
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(child, args.latency_ms / 1000), daemon=True)
    server.start()
    ports = parent.recv()

    def command(name: str) -> Any:
        parent.send(name)
        return parent.recv()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        requests = access_requests_file(work / "access", USERS)
        freeradius = FreeRadius(work)
        why_not = freeradius.start()
        if why_not:
            emit(bench="radius", step="freeradius", skipped=why_not)
        try:
            radclient(ports["auth_port"], "auth", requests, args.parallel, 1)  # warm-up: caches, NAS, threads
            if not why_not:
                radclient(freeradius.port, "auth", requests, args.parallel, 1)
            command("reset")
            ours: list[dict[str, Any]] = []
            theirs: list[dict[str, Any]] = []
            cpu_s = 0.0
            # alternate the two servers so background load on the machine hits both alike
            for _ in range(args.rounds):
                before = command("cpu")
                ours.append(radclient(ports["auth_port"], "auth", requests, args.parallel, count).summary())
                cpu_s += command("cpu") - before
                if not why_not:
                    theirs.append(
                        radclient(freeradius.port, "auth", requests, args.parallel, count).summary()
                    )
        finally:
            freeradius.stop()
        calls = command("stats")["calls"]
        answered = max(1, sum(r["answered"] for r in ours))
        mid = _median_round(ours)
        cpu_ms = 1000 * cpu_s / answered  # CPU the server process spent per request: immune to other load
        emit(
            bench="radius",
            step="access_requests",
            server="wispcloud",
            datastore_latency_ms=args.latency_ms,
            parallel=args.parallel,
            rounds_per_second=[r["per_second"] for r in ours],
            server_cpu_ms_per_request=round(cpu_ms, 3),
            one_core_capacity_per_second=round(1000 / cpu_ms) if cpu_ms else None,
            **mid,
        )
        emit(
            bench="radius",
            step="datastore_calls_per_access_request",
            subscriber_reads=round(calls.get("get_subscriber", 0) / answered, 3),
            all_calls=round(sum(calls.values()) / answered, 3),
            calls=calls,
        )
        if theirs:
            their_mid = _median_round(theirs)
            emit(
                bench="radius",
                step="access_requests",
                server="freeradius-users-file",
                parallel=args.parallel,
                rounds_per_second=[r["per_second"] for r in theirs],
                **their_mid,
            )

        command("reset")
        acct = radclient(
            ports["acct_port"], "acct", accounting_file(work / "acct", args.sessions), args.parallel, 1
        )
        stats = command("stats")
        calls = stats["calls"]
        packets = max(1, acct.received)
        exact = [
            s
            for s in stats["sessions"]
            if s["closed_by"] == "stop" and (s["in"], s["out"], s["t"]) == (2000, (1 << 32) + 7, 600)
        ]
        writes = calls.get("apply_subscriber_write", 0) + calls.get("put_session_log", 0)
        emit(
            bench="radius",
            step="accounting_requests",
            **acct.summary(),
            writes_per_request=round(writes / packets, 3),
            reads_per_request=round(calls.get("get_subscriber", 0) / packets, 3),
            sessions=args.sessions,
            sessions_closed_with_exact_counters=len(exact),
            lost_accounting=(args.sessions * 3 - acct.received) + (args.sessions - len(exact)),
        )
        command("stop")
        server.join(10)
        if theirs:
            emit(
                bench="radius",
                step="summary",
                throughput_ratio_wispcloud_over_freeradius=round(
                    mid["per_second"] / max(1, their_mid["per_second"]), 3
                ),
                wispcloud_per_second=mid["per_second"],
                freeradius_per_second=their_mid["per_second"],
                wispcloud_p99_ms=mid["p99_ms"],
                freeradius_p99_ms=their_mid["p99_ms"],
                target_per_second=3000,
                target_p99_ms=20,
                cpus=os.cpu_count(),
                load_average=[round(x, 2) for x in os.getloadavg()],
            )


if __name__ == "__main__":
    main()
