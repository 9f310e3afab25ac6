"""Starting, killing and talking to the local stack (`python -m infra.local_stack`) from e2e tests."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "try: radtest"
START_CEILING_S = 240.0  # generous: two cores shared with the rest of the suite


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stack_env(local_dir: Path, **extra: str) -> dict[str, str]:
    ports = {
        "WISP_MOTO_PORT": free_port(),
        "WISP_API_PORT": free_port(),
        "WISP_ROUTER_API_PORT": free_port(),
        "WISP_RADIUS_AUTH_PORT": free_port(socket.SOCK_DGRAM),
        "WISP_RADIUS_ACCT_PORT": free_port(socket.SOCK_DGRAM),
    }
    return dict(
        os.environ,
        PYTHONPATH="functions:.",
        WISP_LOCAL_DIR=str(local_dir),
        WISP_SCHEDULER_INTERVAL="3600",
        **{k: str(v) for k, v in ports.items()},
        **extra,
    )


@dataclass
class Stack:
    env: dict[str, str]
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def port(self, name: str) -> int:
        return int(self.env[name])

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.env['WISP_API_PORT']}"

    def token(self, which: str = "manager") -> str:
        return re.findall(rf"{which} token\s+(\S+)", self.output)[-1]

    def _drain(self) -> None:  # keep reading: a full pipe would block the stack's processes
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if READY_LINE in line:
                self.ready.set()

    def wait_line(self, text: str, ceiling: float = 60.0) -> bool:
        deadline = time.monotonic() + ceiling
        while time.monotonic() < deadline:
            if any(text in line for line in list(self.lines)):
                return True
            time.sleep(0.2)
        return False

    def kill9(self) -> None:
        """SIGKILL every process of the stack at once (supervisor, moto, API, RADIUS, workers, router)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def interrupt(self, ceiling: float = 60.0) -> int:
        """Ctrl-C: SIGINT to the whole process group, as a terminal does."""
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(timeout=ceiling)

    def ensure_stopped(self) -> None:
        if self.proc.poll() is None:
            try:
                self.interrupt(30)
            except subprocess.TimeoutExpired:
                pass
        try:  # whatever is left of the group
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.api + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token or self.token()}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


def start_stack(env: dict[str, str], *args: str) -> Stack:
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.local_stack", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: kill9()/interrupt() reach every process of it
    )
    stack = Stack(env, proc)
    threading.Thread(target=stack._drain, daemon=True).start()
    deadline = time.monotonic() + START_CEILING_S
    while time.monotonic() < deadline and proc.poll() is None and not stack.ready.wait(0.5):
        pass
    if not stack.ready.is_set():
        stack.ensure_stopped()
        raise AssertionError("local stack did not start:\n" + stack.output)
    return stack


def wait_ports_free(env: dict[str, str], ceiling: float = 30.0) -> None:
    deadline = time.monotonic() + ceiling
    names = ("WISP_MOTO_PORT", "WISP_API_PORT", "WISP_ROUTER_API_PORT")
    while time.monotonic() < deadline:
        busy = []
        for name in names:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", int(env[name])))
            except OSError:
                busy.append(name)
            finally:
                s.close()
        if not busy:
            return
        time.sleep(0.2)
    raise AssertionError(f"ports still busy after {ceiling} s: {busy}")
