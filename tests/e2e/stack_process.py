"""`make run`'s stack as a child process on free ports, for the browser tests and the web benchmark."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port(kind: int) -> int:
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


@dataclass
class StackProcess:
    proc: subprocess.Popen[str]
    env: dict[str, str]
    output: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.env['WISP_API_PORT']}"

    def printed(self, label: str) -> str:
        """A value the stack printed on start (``manager token``, ``admin token``)."""
        found = re.search(rf"{label}\s+(\S+)", self.output)
        if found is None:
            raise KeyError(label)
        return found.group(1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_stack(local_dir: Path, timeout_s: float = 120) -> StackProcess:
    """Start ``python -m infra.local_stack`` on free ports; the public base URL is its own API port."""
    ports = {
        "WISP_MOTO_PORT": free_port(socket.SOCK_STREAM),
        "WISP_API_PORT": free_port(socket.SOCK_STREAM),
        "WISP_RADIUS_AUTH_PORT": free_port(socket.SOCK_DGRAM),
        "WISP_RADIUS_ACCT_PORT": free_port(socket.SOCK_DGRAM),
    }
    env = dict(
        os.environ,
        PYTHONPATH="functions:.",
        WISP_LOCAL_DIR=str(local_dir),
        WISP_SCHEDULER_INTERVAL="3600",
        WISP_PUBLIC_BASE_URL=f"http://127.0.0.1:{ports['WISP_API_PORT']}",
        **{k: str(v) for k, v in ports.items()},
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.local_stack"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "try: radtest" in line:
            break
    text = "".join(lines)
    if proc.poll() is not None or "try: radtest" not in text:
        proc.kill()
        raise RuntimeError("local stack did not start:\n" + text)
    # keep reading its output so a chatty stack never blocks on a full pipe
    import threading

    threading.Thread(target=lambda: [None for _ in proc.stdout or []], daemon=True).start()
    return StackProcess(proc, env, text)
