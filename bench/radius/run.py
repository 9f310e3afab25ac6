"""RADIUS side by side with the C servers: Access-Request and accounting throughput, p99, CPU per
request and datastore calls per request, with ratios.

    .venv/bin/python -m bench.radius.run [--requests 10000] [--rounds 3] [--parallel 100] \\
        [--latency-ms 3] [--sessions 1000] [--workers 0]

Servers, all on loopback ports of this machine, fed the same radclient request files:

* WispCloud as deployed: ``python -m bench.radius.serve`` (every worker process, real code path)
  on the in-memory datastore double answering each call after ``--latency-ms`` (a DynamoDB round
  trip), loaded with the bench users and a policy with Simultaneous-Use 1, daily time 240 min,
  monthly traffic 4 GB, Session-Timeout 86400 and rate 5M/5M;
* FreeRADIUS 3 with a plain users file (C, no policy);
* FreeRADIUS 3 + PostgreSQL with the same limits (rlm_sql, sqlcounter for daily time and monthly
  traffic, Simultaneous-Use, radacct accounting) (:mod:`bench.radius.peers`).

The servers take turns, round by round, so background load on the machine hits them alike; the
median round of each is reported. Latency is read from radclient's packet log (``-x``). CPU per
request is the CPU time of the WispCloud worker processes (from ``/proc``) over the requests they
answered, immune to other load; the datastore double's own CPU is reported apart. Every accounting
round uses new sessions (Start, Interim-Update, Stop for each); afterwards every session must be
closed with exact 64-bit counters in both WispCloud's store and PostgreSQL's radacct.
Prints one JSON object per line; the last one is the summary with the ratios and targets.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

for _p in ("functions", "."):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from bench.radius.peers import FreeRadiusFiles, FreeRadiusSql  # noqa: E402
from bench.radius.shared_store import RemoteRadiusStore  # noqa: E402

SECRET = "testing123"
STOP_OCTETS = (2000, (1 << 32) + 7, 600)  # input, output (with Acct-Output-Gigawords), seconds
_SENT = re.compile(r"^Sent \S+ Id (\d+) from [\d.]+:(\d+) ")
_RECEIVED = re.compile(r"^Received (\S+) Id (\d+) from [\d.:]+ to [\d.]+:(\d+) ")
_TICK = os.sysconf("SC_CLK_TCK")


def emit(**fields: Any) -> None:
    print(json.dumps(fields, sort_keys=True), flush=True)


# ---------------------------------------------------------------- radclient load
@dataclass
class LoadResult:
    sent: int
    received: int
    lost: int
    seconds: float
    latencies_ms: list[float]
    replies: dict[str, int]
    first: float = 0.0  # perf_counter of the first request sent
    last: float = 0.0  # and of the last answer

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
    port: int,
    kind: str,
    requests: Path,
    parallel: int,
    count: int,
    timeout_s: float = 5.0,
    split: bool = False,
) -> LoadResult:
    """Send a requests file with ``parallel`` requests in flight and time every packet.

    radclient 3.2 polls without sleeping while ``-p`` (> 1) requests are in flight, taking a whole
    core of the machine the servers run on. ``split``: the file is split into ``parallel`` slices
    instead, each sent by its own radclient with ``-p 1`` (which waits in the kernel); the packets of
    one accounting session go to the same slice, in file order. That suits a few dozen requests in
    flight at a few hundred per second (the local stack); at thousands per second the processes and
    their logs cost more than the polling, so the servers' bench keeps one radclient."""
    if not split:
        return _radclient_one(port, kind, requests, count, timeout_s, parallel)
    slices = _slices(requests.read_text(), max(1, parallel))
    with tempfile.TemporaryDirectory(prefix="radclient-") as tmp:
        paths = []
        for i, blocks in enumerate(slices):
            path = Path(tmp) / f"slice-{i}"
            path.write_text("\n".join(blocks))
            paths.append(path)
        results: list[LoadResult] = [None] * len(paths)  # type: ignore[list-item]

        def run(i: int) -> None:
            results[i] = _radclient_one(port, kind, paths[i], count, timeout_s)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(paths))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    replies: dict[str, int] = {}
    for r in results:
        for name, n in r.replies.items():
            replies[name] = replies.get(name, 0) + n
    first = min((r.first for r in results if r.sent), default=0.0)
    last = max((r.last for r in results if r.received), default=0.0)
    return LoadResult(
        sum(r.sent for r in results),
        sum(r.received for r in results),
        sum(r.lost for r in results),
        (last - first) if last else 0.0,
        [x for r in results for x in r.latencies_ms],
        replies,
        first,
        last,
    )


def _slices(text: str, n: int) -> list[list[str]]:
    """The request blocks of a radclient file in ``n`` slices: blocks of one Acct-Session-Id in one
    slice, other blocks dealt in turn; empty slices dropped."""
    blocks = [b.strip("\n") + "\n" for b in re.split(r"\n\s*\n", text) if b.strip()]
    out: list[list[str]] = [[] for _ in range(n)]
    sessions: dict[str, int] = {}
    turn = 0
    for block in blocks:
        m = re.search(r'^Acct-Session-Id = "([^"]*)"', block, re.M)
        if m:
            i = sessions.setdefault(m.group(1), len(sessions) % n)
        else:
            i, turn = turn % n, turn + 1
        out[i].append(block)
    return [s for s in out if s]


def _radclient_one(
    port: int, kind: str, requests: Path, count: int, timeout_s: float, parallel: int = 1
) -> LoadResult:
    """One radclient, every packet timed from its ``-x`` log."""
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
    return LoadResult(sent, received, lost, (last - first) if last else 0.0, latencies, replies, first, last)


def answers(port: int, probe: Path) -> bool:
    return radclient(port, "auth", probe, 1, 1, timeout_s=0.5).received > 0


# ---------------------------------------------------------------- request files (the same for every server)
def users_csv(path: Path, users: list[tuple[str, str]]) -> Path:
    path.write_text("username,password\n" + "".join(f"{u},{p}\n" for u, p in users))
    return path


def access_requests_file(path: Path, users: list[tuple[str, str]]) -> Path:
    blocks = [
        f'User-Name = "{name}"\nUser-Password = "{password}"\nNAS-IP-Address = 127.0.0.1\n'
        f'NAS-Port-Type = Ethernet\nCalling-Station-Id = "02-00-00-{i >> 16 & 255:02X}-{i >> 8 & 255:02X}-{i & 255:02X}"\n'
        for i, (name, password) in enumerate(users)
    ]
    path.write_text("\n".join(blocks))
    return path


def accounting_file(path: Path, users: list[tuple[str, str]], sessions: int, tag: str) -> Path:
    """Start, Interim-Update and Stop for each session, in that order (as a NAS spreads them in time)."""
    starts, interims, stops = [], [], []
    for i in range(sessions):
        user, sid = users[i % len(users)][0], f"{tag}-{i}"
        common = (
            f'User-Name = "{user}"\nNAS-IP-Address = 127.0.0.1\nNAS-Port = {i}\nAcct-Session-Id = "{sid}"\n'
        )
        starts.append(f"{common}Acct-Status-Type = Start\n")
        interims.append(
            f"{common}Acct-Status-Type = Interim-Update\n"
            f"Acct-Session-Time = 300\nAcct-Input-Octets = 1000\nAcct-Output-Octets = 5000\n"
        )
        stops.append(
            f"{common}Acct-Status-Type = Stop\n"
            f"Acct-Session-Time = {STOP_OCTETS[2]}\nAcct-Input-Octets = {STOP_OCTETS[0]}\nAcct-Output-Octets = 7\n"
            f"Acct-Output-Gigawords = 1\nAcct-Terminate-Cause = User-Request\n"
        )
    path.write_text("\n".join(starts + interims + stops))
    return path


# ---------------------------------------------------------------- WispCloud as deployed
class WispCloud:
    """``python -m bench.radius.serve`` in its own process group, on free ports."""

    def __init__(self, users_csv: Path, latency_ms: float, workers: int) -> None:
        self.cmd = [
            sys.executable,
            "-m",
            "bench.radius.serve",
            "--users-csv",
            str(users_csv),
            "--auth-port",
            "0",
            "--acct-port",
            "0",
            "--secret",
            SECRET,
            "--latency-ms",
            str(latency_ms),
            "--workers",
            str(workers),
        ]
        self.proc: subprocess.Popen[str] | None = None
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.ready: dict[str, Any] = {}

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": "functions:.", "POWERTOOLS_LOG_LEVEL": "WARNING"}
        self.proc = subprocess.Popen(
            self.cmd, stdout=subprocess.PIPE, text=True, env=env, start_new_session=True
        )
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise RuntimeError("bench.radius.serve exited before it was ready") from None
                continue
            if line.get("serve") == "ready":
                self.ready = line
                self.store = RemoteRadiusStore(line["store_socket"])
                return
        raise RuntimeError("bench.radius.serve did not get ready")

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                self.lines.put(json.loads(raw))
            except ValueError:
                continue

    @property
    def auth_port(self) -> int:
        return int(self.ready["auth_port"])

    @property
    def acct_port(self) -> int:
        return int(self.ready["acct_port"])

    def cpu_s(self) -> tuple[float, float]:
        """(CPU seconds of the workers, of the supervisor holding the datastore double)."""
        assert self.proc is not None
        workers = sum(_proc_cpu(pid) for pid in self.ready["worker_pids"])
        return workers, _proc_cpu(self.proc.pid)

    def stop(self) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            return {}
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        while not self.lines.empty():
            line = self.lines.get()
            if line.get("serve") == "stopped":
                return line
        return {}


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


# ---------------------------------------------------------------- main
def _median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(rounds, key=lambda r: r["per_second"])[len(rounds) // 2]


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


class Measured:
    """Our rounds with the CPU and datastore calls they cost."""

    def __init__(self, server: WispCloud) -> None:
        self.server = server
        self.rounds: list[dict[str, Any]] = []
        self.cpu_s = self.store_cpu_s = 0.0
        self.calls: dict[str, int] = {}
        self.load: list[float] = []

    def run(self, load: Callable[[], LoadResult]) -> None:
        self.server.store.call("reset_calls")
        cpu, store_cpu = self.server.cpu_s()
        result = load()
        cpu_after, store_cpu_after = self.server.cpu_s()
        self.cpu_s += cpu_after - cpu
        self.store_cpu_s += store_cpu_after - store_cpu
        for name, n in self.server.store.call("calls").items():
            self.calls[name] = self.calls.get(name, 0) + n
        self.load.append(os.getloadavg()[0])
        self.rounds.append(result.summary())

    def report(self) -> dict[str, Any]:
        answered = max(1, sum(r["answered"] for r in self.rounds))
        return {
            **_median_round(self.rounds),
            "rounds_per_second": [r["per_second"] for r in self.rounds],
            "cpu_us_per_request": round(1e6 * self.cpu_s / answered, 1),
            "datastore_double_cpu_us_per_request": round(1e6 * self.store_cpu_s / answered, 1),
            "datastore_calls_per_request": round(sum(self.calls.values()) / answered, 3),
            "datastore_calls": self.calls,
            "load_average_1m": [round(x, 2) for x in self.load],
        }


@dataclass
class _Outcome:
    """What the rounds measured, before reporting."""

    ours: WispCloud
    auth: Measured
    theirs: dict[str, list[dict[str, Any]]]
    acct: Measured
    their_acct: list[dict[str, Any]]
    exact: int
    peer_exact: int | None
    final: dict[str, Any]


def _start_peers(
    peers: dict[str, FreeRadiusFiles | FreeRadiusSql], probe: Path
) -> dict[str, FreeRadiusFiles | FreeRadiusSql]:
    running: dict[str, FreeRadiusFiles | FreeRadiusSql] = {}
    for name, peer in peers.items():
        why_not = peer.start(lambda port: answers(port, probe))
        if why_not:
            emit(bench="radius", step="peer", server=name, skipped=why_not)
        else:
            running[name] = peer
    return running


def _access_rounds(
    ours: WispCloud, running: dict[str, FreeRadiusFiles | FreeRadiusSql], access: Path, args: Any, count: int
) -> tuple[Measured, dict[str, list[dict[str, Any]]]]:
    # warm-up: caches, NAS registry, threads, connection pools
    radclient(ours.auth_port, "auth", access, args.parallel, 1)
    for peer in running.values():
        radclient(peer.auth_port, "auth", access, args.parallel, 1)

    auth = Measured(ours)
    theirs: dict[str, list[dict[str, Any]]] = {name: [] for name in running}
    for _ in range(args.rounds):
        auth.run(lambda: radclient(ours.auth_port, "auth", access, args.parallel, count))
        for name, peer in running.items():
            theirs[name].append(radclient(peer.auth_port, "auth", access, args.parallel, count).summary())
    return auth, theirs


def _accounting_rounds(
    ours: WispCloud, sql: FreeRadiusSql | None, work: Path, users: list[tuple[str, str]], args: Any
) -> tuple[Measured, list[dict[str, Any]]]:
    acct = Measured(ours)
    their_acct: list[dict[str, Any]] = []
    for r in range(args.rounds):
        ours_file = accounting_file(work / f"acct-w{r}", users, args.sessions, f"W{r}")
        acct.run(lambda f=ours_file: radclient(ours.acct_port, "acct", f, args.parallel, 1))  # type: ignore[misc]
        if sql is not None:
            peer_file = accounting_file(work / f"acct-f{r}", users, args.sessions, f"F{r}")
            their_acct.append(radclient(sql.acct_port, "acct", peer_file, args.parallel, 1).summary())
    return acct, their_acct


def _exact_sessions(ours: WispCloud, sql: FreeRadiusSql | None) -> tuple[int, int | None]:
    """Sessions closed by a Stop with exact counters: in our store, and in PostgreSQL's radacct."""
    sessions = ours.store.call("sessions")
    exact = sum(
        1
        for s in sessions
        if s.closed_by == "stop" and (s.input_octets, s.output_octets, s.duration_s) == STOP_OCTETS
    )
    peer_exact = None
    if sql is not None:
        peer_exact = int(
            sql.db.psql(
                "SELECT count(*) FROM radacct WHERE acctstoptime IS NOT NULL "
                f"AND acctinputoctets = {STOP_OCTETS[0]} AND acctoutputoctets = {STOP_OCTETS[1]} "
                f"AND acctsessiontime = {STOP_OCTETS[2]}"
            ).strip()
        )
    return exact, peer_exact


def _run(args: Any, users: list[tuple[str, str]], count: int) -> _Outcome:
    with tempfile.TemporaryDirectory(prefix="wisp-radius-bench-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # PostgreSQL runs as its own user and reads its directory below this one
        access = access_requests_file(work / "access", users)
        probe = access_requests_file(work / "probe", users[:1])
        ours = WispCloud(users_csv(work / "users.csv", users), args.latency_ms, args.workers)
        peers: dict[str, FreeRadiusFiles | FreeRadiusSql] = {
            "freeradius-users-file": FreeRadiusFiles(work, SECRET, users),
            "freeradius-postgresql": FreeRadiusSql(work, SECRET, users),
        }
        try:
            ours.start()
            running = _start_peers(peers, probe)
            auth, theirs = _access_rounds(ours, running, access, args, count)
            sql = running.get("freeradius-postgresql")
            assert sql is None or isinstance(sql, FreeRadiusSql)
            acct, their_acct = _accounting_rounds(ours, sql, work, users, args)
            exact, peer_exact = _exact_sessions(ours, sql)
        finally:
            for peer in peers.values():
                peer.stop()
            final = ours.stop()
    return _Outcome(ours, auth, theirs, acct, their_acct, exact, peer_exact, final)


def _report_rounds(
    out: _Outcome, expected: int, auth_report: dict[str, Any], acct_report: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """One line per server and step; returns the peers' median access rounds and accounting round."""
    emit(
        bench="radius",
        step="access_requests",
        server="wispcloud",
        workers=out.ours.ready.get("workers"),
        **auth_report,
    )
    their_auth = {name: _median_round(rounds) for name, rounds in out.theirs.items()}
    for name, mid in their_auth.items():
        emit(
            bench="radius",
            step="access_requests",
            server=name,
            rounds_per_second=[r["per_second"] for r in out.theirs[name]],
            **mid,
        )
    emit(
        bench="radius",
        step="accounting_requests",
        server="wispcloud",
        sessions=expected,
        sessions_closed_with_exact_counters=out.exact,
        lost_accounting=(3 * expected - sum(r["answered"] for r in out.acct.rounds)) + (expected - out.exact),
        **acct_report,
    )
    their_acct_mid = _median_round(out.their_acct) if out.their_acct else None
    if their_acct_mid is not None:
        emit(
            bench="radius",
            step="accounting_requests",
            server="freeradius-postgresql",
            rounds_per_second=[r["per_second"] for r in out.their_acct],
            sessions=expected,
            sessions_closed_with_exact_counters=out.peer_exact,
            lost_accounting=(3 * expected - sum(r["answered"] for r in out.their_acct))
            + (expected - (out.peer_exact or 0)),
            **their_acct_mid,
        )
    return their_auth, their_acct_mid


def _rate(report: dict[str, Any] | None) -> float | None:
    return report["per_second"] if report else None


def _report_summary(out: _Outcome, args: Any, command: str, started: float) -> None:
    expected = args.sessions * args.rounds
    auth_report = out.auth.report()
    acct_report = out.acct.report()
    their_auth, their_acct_mid = _report_rounds(out, expected, auth_report, acct_report)
    ratios = {
        "access_vs_freeradius_users_file": _ratio(
            auth_report["per_second"], _rate(their_auth.get("freeradius-users-file"))
        ),
        "access_vs_freeradius_postgresql": _ratio(
            auth_report["per_second"], _rate(their_auth.get("freeradius-postgresql"))
        ),
        "accounting_vs_freeradius_postgresql": _ratio(acct_report["per_second"], _rate(their_acct_mid)),
    }
    lost = (3 * expected - sum(r["answered"] for r in out.acct.rounds)) + (expected - out.exact)
    targets = {
        "access_vs_freeradius_users_file>=0.5": (ratios["access_vs_freeradius_users_file"] or 0) >= 0.5,
        "access_vs_freeradius_postgresql>=10": (ratios["access_vs_freeradius_postgresql"] or 0) >= 10,
        "access_p99_ms<=10": (auth_report["p99_ms"] or 1e9) <= 10,
        "accounting_vs_freeradius_postgresql>=3": (ratios["accounting_vs_freeradius_postgresql"] or 0) >= 3,
        "accounting_lost==0_counters_exact": lost == 0,
    }
    emit(
        bench="radius",
        step="summary",
        command=command,
        cpus=os.cpu_count(),
        workers=out.ours.ready.get("workers"),
        datastore_latency_ms=args.latency_ms,
        parallel=args.parallel,
        ratios=ratios,
        access_p99_ms=auth_report["p99_ms"],
        access_cpu_us_per_request=auth_report["cpu_us_per_request"],
        accounting_cpu_us_per_request=acct_report["cpu_us_per_request"],
        access_datastore_calls_per_request=auth_report["datastore_calls_per_request"],
        accounting_datastore_calls_per_request=acct_report["datastore_calls_per_request"],
        targets_met=targets,
        load_average_1m_during_wispcloud_rounds=[round(x, 2) for x in out.auth.load + out.acct.load],
        load_average_end=[round(x, 2) for x in os.getloadavg()],
        server_counters=out.final.get("counters"),
        seconds=round(time.monotonic() - started, 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10_000, help="Access-Requests per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, the servers taking turns")
    parser.add_argument("--parallel", type=int, default=100, help="requests in flight (radclient -p)")
    parser.add_argument("--latency-ms", type=float, default=3.0, help="datastore double latency per call")
    parser.add_argument(
        "--sessions", type=int, default=1000, help="accounting sessions per round (3 packets)"
    )
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=0, help="WispCloud worker processes (0: one per CPU)")
    args = parser.parse_args()
    command = "python -m bench.radius.run " + shlex.join(sys.argv[1:])
    if shutil.which("radclient") is None:
        emit(bench="radius", skipped="radclient is not installed (freeradius-utils)")
        return
    users = [(f"bench{i}", f"pw{i}") for i in range(args.users)]
    count = max(1, args.requests // len(users))
    started = time.monotonic()
    out = _run(args, users, count)
    _report_summary(out, args, command, started)


if __name__ == "__main__":
    main()
