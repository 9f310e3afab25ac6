"""The local stack as `make run` starts it: /health, radtest against the demo subscriber, clean stop."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def _free_port(kind: int) -> int:
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    ports = {
        "WISP_MOTO_PORT": _free_port(socket.SOCK_STREAM),
        "WISP_API_PORT": _free_port(socket.SOCK_STREAM),
        "WISP_RADIUS_AUTH_PORT": _free_port(socket.SOCK_DGRAM),
        "WISP_RADIUS_ACCT_PORT": _free_port(socket.SOCK_DGRAM),
    }
    env = dict(
        os.environ,
        PYTHONPATH="functions:.",
        WISP_LOCAL_DIR=str(tmp_path_factory.mktemp("local")),
        WISP_SCHEDULER_INTERVAL="3600",
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
    lines: list[str] = []
    deadline = time.time() + 60
    assert proc.stdout is not None
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
        pytest.fail("local stack did not start:\n" + text)
    yield {"proc": proc, "output": text, **ports}
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_health_answers_with_versions(stack):
    with urllib.request.urlopen(f"http://127.0.0.1:{stack['WISP_API_PORT']}/health", timeout=10) as resp:
        body = json.loads(resp.read())
        assert resp.status == 200
    assert body["datastore"] == "ok" and body["versions"]["pyrad"] != "missing"


def test_printed_admin_token_is_accepted(stack):
    token = re.search(r"admin token\s+(\S+)", stack["output"]).group(1)
    req = urllib.request.Request(
        f"http://127.0.0.1:{stack['WISP_API_PORT']}/openapi.json",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200 and "paths" in json.loads(resp.read())


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer whatever"}])
def test_unknown_path_answers_404_json(stack, headers):
    req = urllib.request.Request(
        f"http://127.0.0.1:{stack['WISP_API_PORT']}/admin/no-such-thing?x=1", headers=headers
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 404
    assert info.value.headers["Content-Type"] == "application/json"
    body = json.loads(info.value.read())
    assert body["error"]["code"] == "not_found" and "/admin/no-such-thing" in body["error"]["message"]


@pytest.mark.skipif(shutil.which("radtest") is None, reason="radtest (freeradius-utils) not installed")
def test_radtest_demo_gets_accept_with_the_policy_rate_and_wrong_password_reject(stack):
    port = stack["WISP_RADIUS_AUTH_PORT"]
    ok = subprocess.run(
        ["radtest", "demo", "demo123", f"127.0.0.1:{port}", "0", "testing123"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "Received Access-Accept" in ok.stdout, ok.stdout + ok.stderr
    assert 'Mikrotik-Rate-Limit = "2M/10M"' in ok.stdout
    bad = subprocess.run(
        ["radtest", "demo", "wrong-pass", f"127.0.0.1:{port}", "0", "testing123"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "Received Access-Reject" in bad.stdout, bad.stdout + bad.stderr


def test_busy_port_gives_a_one_line_error_naming_the_setting(stack):
    env = dict(
        os.environ,
        PYTHONPATH="functions:.",
        WISP_MOTO_PORT=str(_free_port(socket.SOCK_STREAM)),
        WISP_API_PORT=str(stack["WISP_API_PORT"]),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "infra.local_stack"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "WISP_API_PORT" in err[0] and str(stack["WISP_API_PORT"]) in err[0]


def test_ctrl_c_stops_everything_cleanly(stack):
    proc = stack["proc"]
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "stopped" in out
