"""The local stack as `make run` starts it: /health, radtest against the demo subscriber, the simulated
router following the system, the onboarding script, busy ports, a clean stop with Ctrl-C."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from infra.local.demo import DEMO_ROUTER_PASSWORD, DEMO_ROUTER_USERNAME
from infra.local.router import read_state
from tests.e2e.local_stack_support import ROOT, free_port, stack_env, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = start_stack(stack_env(tmp_path_factory.mktemp("local")))
    yield stack
    stack.ensure_stopped()


def _router(stack) -> dict:
    return read_state(
        "127.0.0.1", stack.port("WISP_ROUTER_API_PORT"), DEMO_ROUTER_USERNAME, DEMO_ROUTER_PASSWORD
    )


def _wait_router(stack, predicate, ceiling: float = 60.0) -> dict:
    deadline = time.monotonic() + ceiling
    state = _router(stack)
    while not predicate(state) and time.monotonic() < deadline:
        time.sleep(0.5)
        state = _router(stack)
    return state


def test_processes_are_separate_and_the_data_directory_is_announced(stack):
    out = stack.output
    for name in ("moto", "router", "api", "workers"):
        assert f"[{name}]" in out, out
    assert f"data: {stack.env['WISP_LOCAL_DIR']}" in out
    assert "new: demo data seeded" in out


def test_health_answers_with_versions(stack):
    with urllib.request.urlopen(f"{stack.api}/health", timeout=30) as resp:
        body = json.loads(resp.read())
        assert resp.status == 200
    assert body["datastore"] == "ok" and body["versions"]["pyrad"] != "missing"


def test_printed_admin_token_is_accepted(stack):
    req = urllib.request.Request(
        f"{stack.api}/openapi.json", headers={"Authorization": f"Bearer {stack.token('admin')}"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200 and "paths" in json.loads(resp.read())


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer whatever"}])
def test_unknown_path_answers_404_json(stack, headers):
    req = urllib.request.Request(
        f"http://127.0.0.1:{stack.port('WISP_API_PORT')}/admin/no-such-thing?x=1", headers=headers
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 404
    assert info.value.headers["Content-Type"] == "application/json"
    body = json.loads(info.value.read())
    assert body["error"]["code"] == "not_found" and "/admin/no-such-thing" in body["error"]["message"]


@pytest.mark.skipif(shutil.which("radtest") is None, reason="radtest (freeradius-utils) not installed")
def test_radtest_demo_gets_accept_with_the_policy_rate_and_wrong_password_reject(stack):
    port = stack.port("WISP_RADIUS_AUTH_PORT")
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


def test_the_simulated_router_holds_the_demo_subscriber_and_the_block_rules(stack):
    state = _wait_router(
        stack,
        lambda s: (
            any(r.get("name") == "demo" for r in s["/ppp/secret"]) and len(s["/ip/firewall/filter"]) >= 3
        ),
    )
    assert [r["name"] for r in state["/ppp/secret"]] == ["demo"], state["/ppp/secret"]
    assert {r.get("src-address-list") for r in state["/ip/firewall/filter"]} == {"morosos"}
    assert state["/ip/firewall/address-list"] == []


def test_suspending_the_demo_subscriber_puts_it_on_the_routers_blocked_list(stack):
    status, body = stack.call("POST", "/admin/subscribers/sub_demo/suspend", {})
    assert status == 200 and body["status"] == "suspended", body
    assert body["router"]["status"] == "queued", body
    state = _wait_router(stack, lambda s: bool(s["/ip/firewall/address-list"]))
    assert [(r["list"], r["address"], r["comment"]) for r in state["/ip/firewall/address-list"]] == [
        ("morosos", "10.10.0.10", "wisp:sub_demo")
    ]
    # and the router-state command shows it
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.local.router",
            "show",
            "--port",
            str(stack.port("WISP_ROUTER_API_PORT")),
        ],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert "list=morosos address=10.10.0.10" in shown.stdout and "router-demo-pass" not in shown.stdout
    # activating takes it off again
    status, body = stack.call("POST", "/admin/subscribers/sub_demo/activate", {})
    assert status == 200, body
    state = _wait_router(stack, lambda s: not s["/ip/firewall/address-list"])
    assert state["/ip/firewall/address-list"] == []


def test_the_onboarding_script_renders_with_the_local_vpn_defaults(stack):
    status, body = stack.call("POST", "/admin/gateways/gw_demo/onboarding-script", {})
    assert status == 200, body
    script = body["script"]
    assert "/interface wireguard peers add" in script and "public-key=" in script
    # the demo router stays reachable where it is
    status, gateway = stack.call("GET", "/admin/gateways/gw_demo")
    assert status == 200 and gateway["api_host"] == "127.0.0.1", gateway


def test_busy_port_gives_a_one_line_error_naming_the_setting(stack):
    env = dict(
        stack.env, WISP_MOTO_PORT=str(free_port()), WISP_LOCAL_DIR=stack.env["WISP_LOCAL_DIR"] + "-other"
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
    assert len(err) == 1 and "WISP_API_PORT" in err[0] and stack.env["WISP_API_PORT"] in err[0]


def test_ctrl_c_stops_everything_cleanly(stack):
    assert stack.interrupt() == 0, stack.output
    assert "stopped; data kept in" in stack.output
    assert "moto stopped; data saved" in stack.output
