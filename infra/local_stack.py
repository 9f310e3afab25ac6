"""`make run`: the whole system on this machine, as one process tree.

The supervisor (this module) starts, each in its own process:

* ``moto``    — DynamoDB, S3, SQS, SES, SNS on 127.0.0.1 (:mod:`infra.local.moto_server`); DynamoDB and
  S3 are kept on disk under ``$WISP_LOCAL_DIR/moto`` (snapshot + fsynced journal), so the data
  survives Ctrl-C, a crash and ``kill -9``;
* ``router``  — the simulated MikroTik of the demo gateway, RouterOS API enabled (:mod:`infra.local.router`);
* ``api``     — the Chalice API (``python -m infra.local_stack api``);
* ``radius``  — the RADIUS service (``python -m radius_container``, as in its container);
* ``workers`` — the provisioner and the billing scheduler (:mod:`infra.local.workers`).

Between moto and the others it creates the tables, bucket and queues, seeds the demo on first start
and sends again the provisioning triggers lost with the in-memory queues (:mod:`infra.local.bootstrap`).
Every child shares the supervisor's process group (Ctrl-C reaches all) and is told by the kernel to
stop if the supervisor dies. If one child exits, the supervisor stops the others.

``--reset`` (``make reset``) deletes the stored data first and starts empty.

Settings (environment; see the README for all): WISP_LOCAL_DIR (.local), WISP_MOTO_PORT (5000),
WISP_API_PORT (8000), WISP_RADIUS_AUTH_PORT (1812), WISP_RADIUS_ACCT_PORT (1813), WISP_ROUTER_API_PORT
(8728), WISP_SCHEDULER_INTERVAL (60 s), WISP_DEMO_ADMIN_PASSWORD, WISP_LOCAL_COMPACT_AFTER (2000 writes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
START_CEILING_S = 180.0  # generous: the first start on a busy machine replays a long journal
STOP_CEILING_S = 20.0


class PortBusyError(RuntimeError):
    pass


class StartError(RuntimeError):
    pass


def _check_port(host: str, port: int, kind: int, setting: str, what: str) -> None:
    sock = socket.socket(socket.AF_INET, kind)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        proto = "TCP" if kind == socket.SOCK_STREAM else "UDP"
        raise PortBusyError(
            f"{what}: {proto} {host}:{port} is already in use; set {setting} to another port"
        ) from exc
    finally:
        sock.close()


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- the API process
def api_server(settings: Any) -> Any:
    """The Chalice app behind a local threaded HTTP server (the API process serves it forever)."""
    from chalice.config import Config
    from chalice.local import LocalDevServer

    from api.app import app
    from infra import local_web

    return LocalDevServer(
        app,
        Config.create(chalice_stage="local", app_name="wispcloud"),
        settings.api_host,
        settings.api_port,
        # the web console for non-API paths; the API's 404 JSON for unknown API paths
        **local_web.server_kwargs(app, base=api_request_handler()),
    )


def api_request_handler() -> Any:
    """Chalice's local request handler, answering a path no route serves with the API's 404 JSON error
    (Chalice mimics API Gateway's 403 "Missing Authentication Token" there)."""
    from chalice.local import ChaliceRequestHandler, ForbiddenError, LocalGatewayException

    class ApiRequestHandler(ChaliceRequestHandler):
        def _send_error_response(self, error: LocalGatewayException) -> None:
            if not isinstance(error, ForbiddenError):  # the app has no authorizers: only unknown paths
                super()._send_error_response(error)
                return
            path = self.path.split("?", 1)[0]
            body = {"error": {"code": "not_found", "message": f"no such path: {self.command} {path}"}}
            self._send_http_response(404, {"Content-Type": "application/json"}, json.dumps(body))

    return ApiRequestHandler


def serve_api() -> int:
    from infra.local.procs import die_with_parent

    die_with_parent()
    from composition import init_runtime
    from shared.settings import Settings

    settings = Settings.from_env()
    init_runtime(settings)
    server = api_server(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the supervisor stops the children in order
    thread = threading.Thread(target=server.server.serve_forever, name="api", daemon=True)
    thread.start()
    print(f"api ready on http://{settings.api_host}:{settings.api_port}", flush=True)
    stop.wait()
    server.shutdown()
    server.server.server_close()
    return 0


# ---------------------------------------------------------------- the supervisor
@dataclass
class Child:
    name: str
    proc: subprocess.Popen[str]
    ready: threading.Event = field(default_factory=threading.Event)
    marker: str | None = None
    tail: list[str] = field(default_factory=list)


@dataclass
class Supervisor:
    env: dict[str, str]
    children: list[Child] = field(default_factory=list)
    _out_lock: threading.Lock = field(default_factory=threading.Lock)

    def say(self, text: str) -> None:
        with self._out_lock:
            print(text, flush=True)

    def spawn(self, name: str, args: list[str], marker: str | None = None, stdin: bool = False) -> Child:
        proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        child = Child(name, proc, marker=marker)
        if marker is None:
            child.ready.set()
        self.children.append(child)
        threading.Thread(target=self._forward, args=(child,), name=f"out-{name}", daemon=True).start()
        return child

    def _forward(self, child: Child) -> None:
        assert child.proc.stdout is not None
        for line in child.proc.stdout:
            line = line.rstrip("\n")
            child.tail = [*child.tail[-40:], line]
            if child.marker and child.marker in line:
                child.ready.set()
            self.say(f"[{child.name}] {line}")

    def wait_ready(self, child: Child, check: Callable[[], bool] | None = None) -> None:
        deadline = time.monotonic() + START_CEILING_S
        while time.monotonic() < deadline:
            if child.proc.poll() is not None:
                time.sleep(0.2)  # let the last lines through
                raise StartError(f"{child.name} exited with code {child.proc.returncode} while starting")
            if child.ready.is_set() and (check is None or check()):
                return
            time.sleep(0.1)
        raise StartError(f"{child.name} was not ready after {START_CEILING_S:.0f} s")

    def exited(self) -> Child | None:
        return next((c for c in self.children if c.proc.poll() is not None), None)

    def stop(self) -> None:
        for child in reversed(self.children):  # moto last: the others may still be writing
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
            try:
                child.proc.wait(timeout=STOP_CEILING_S)
            except subprocess.TimeoutExpired:
                self.say(f"[{child.name}] did not stop in {STOP_CEILING_S:.0f} s; killed")
                child.proc.kill()
                child.proc.wait()


def _http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - local http URL
                return bool(resp.status == 200)
        except OSError:
            return False

    return check


@dataclass(frozen=True)
class LocalConfig:
    env: dict[str, str]
    local_dir: Path
    moto_port: int
    router_port: int
    radius_health_port: int


def local_env(base: dict[str, str] | None = None) -> LocalConfig:
    env = dict(os.environ if base is None else base)
    moto_port = int(env.get("WISP_MOTO_PORT") or "5000")
    router_port = int(env.get("WISP_ROUTER_API_PORT") or "8728")
    local_dir = Path(env.get("WISP_LOCAL_DIR") or str(ROOT / ".local")).resolve()
    env["WISP_LOCAL_DIR"] = str(local_dir)
    env.setdefault("WISP_STAGE", "local")
    env.setdefault("WISP_AWS_ENDPOINT_URL", f"http://127.0.0.1:{moto_port}")
    env.setdefault("WISP_DATA_KEY_FILE", str(local_dir / "data.key"))
    env.setdefault("WISP_LOG_LEVEL", "WARNING")  # a quiet console; the cloud logs at INFO
    if not env.get("WISP_RADIUS_HEALTH_PORT"):
        env["WISP_RADIUS_HEALTH_PORT"] = str(_free_tcp_port())
    for key, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("POWERTOOLS_TRACE_DISABLED", "1"),
        ("POWERTOOLS_LOG_LEVEL", env.get("WISP_LOG_LEVEL", "WARNING")),
        ("PYTHONPATH", "functions:."),
        ("PYTHONUNBUFFERED", "1"),
    ):
        env.setdefault(key, value)
        os.environ.setdefault(key, env[key])  # boto3 and powertools read these themselves
    return LocalConfig(env, local_dir, moto_port, router_port, int(env["WISP_RADIUS_HEALTH_PORT"]))


def _vpn_defaults(env: dict[str, str], local_dir: Path) -> None:
    """A local WireGuard hub key pair (kept in ``vpn-hub.key``) so the onboarding script renders."""
    if env.get("WISP_VPN_HUB_PUBLIC_KEY"):
        return
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    path = local_dir / "vpn-hub.key"
    if path.exists():
        key = X25519PrivateKey.from_private_bytes(base64.b64decode(path.read_text().strip()))
    else:
        key = X25519PrivateKey.generate()
        raw = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        path.write_text(base64.b64encode(raw).decode() + "\n")
        path.chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    env["WISP_VPN_HUB_PUBLIC_KEY"] = base64.b64encode(public).decode()


def reset(local_dir: Path) -> None:
    """Delete what the local stack keeps (data, encryption key, VPN hub key): the next start is empty."""
    for name in ("moto", "data.key", "vpn-hub.key"):
        path = local_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def check_ports(cfg: LocalConfig) -> None:
    from shared.settings import Settings

    settings = Settings.from_env(cfg.env)
    tcp, udp = socket.SOCK_STREAM, socket.SOCK_DGRAM
    _check_port("127.0.0.1", cfg.moto_port, tcp, "WISP_MOTO_PORT", "moto server")
    _check_port(settings.api_host, settings.api_port, tcp, "WISP_API_PORT", "API")
    _check_port(
        settings.radius_bind, settings.radius_auth_port, udp, "WISP_RADIUS_AUTH_PORT", "RADIUS authentication"
    )
    _check_port(
        settings.radius_bind, settings.radius_acct_port, udp, "WISP_RADIUS_ACCT_PORT", "RADIUS accounting"
    )
    _check_port("127.0.0.1", cfg.router_port, tcp, "WISP_ROUTER_API_PORT", "simulated router API")


def run(cfg: LocalConfig, sup: Supervisor) -> dict[str, Any]:
    """Start everything; returns what to print."""
    from shared.settings import Settings

    started = time.monotonic()
    env = cfg.env
    cfg.local_dir.mkdir(parents=True, exist_ok=True)
    _vpn_defaults(env, cfg.local_dir)
    moto_args = [
        "-m",
        "infra.local.moto_server",
        "--port",
        str(cfg.moto_port),
        "--data",
        str(cfg.local_dir / "moto"),
    ]
    if env.get("WISP_LOCAL_COMPACT_AFTER"):
        moto_args += ["--compact-after", env["WISP_LOCAL_COMPACT_AFTER"]]
    moto = sup.spawn("moto", moto_args, marker="moto ready")
    router = sup.spawn(
        "router", ["-m", "infra.local.router", "serve", "--port", str(cfg.router_port)], marker="router ready"
    )
    # the API and the workers import their code meanwhile; the workers start once the tables exist
    api = sup.spawn("api", ["-m", "infra.local_stack", "api"], marker="api ready")
    workers = sup.spawn(
        "workers", ["-m", "infra.local.workers", "--wait-go"], marker="workers ready", stdin=True
    )
    from infra.local.bootstrap import bootstrap

    sup.wait_ready(moto)
    sup.wait_ready(router)
    boot = bootstrap(env, cfg.router_port)
    settings = Settings.from_env(env)
    radius = sup.spawn("radius", ["-m", "infra.local.procs", "radius_container"])
    assert workers.proc.stdin is not None
    workers.proc.stdin.write("go\n")
    workers.proc.stdin.flush()
    base = f"http://{settings.api_host}:{settings.api_port}"
    sup.wait_ready(api, _http_ok(f"{base}/health"))
    sup.wait_ready(radius, _http_ok(f"http://{settings.radius_bind}:{cfg.radius_health_port}/health"))
    sup.wait_ready(workers)
    demo = boot.demo
    return {
        "console": f"{base}/",
        "api": base,
        "health": f"{base}/health",
        "openapi": f"{base}/openapi.json",
        "radius_auth": f"{settings.radius_bind}:{settings.radius_auth_port}/udp",
        "radius_acct": f"{settings.radius_bind}:{settings.radius_acct_port}/udp",
        "router_api": f"127.0.0.1:{cfg.router_port}/tcp (user {settings_user()})",
        "moto": settings.aws_endpoint_url,
        "provision_queue": boot.queue_url,
        "data": str(cfg.local_dir),
        "first_start": boot.first_start,
        "requeued": boot.requeued,
        "admin_email": demo.admin_email,
        "admin_password": demo.operator_password,
        "admin_token": boot.admin_token,
        "manager_token": boot.manager_token,
        "radtest": f"radtest {demo.username} {demo.password} {settings.radius_bind}:{settings.radius_auth_port} 0 "
        f"{demo.radius_secret}",
        "started_s": round(time.monotonic() - started, 2),
    }


def settings_user() -> str:
    from infra.local.demo import DEMO_ROUTER_USERNAME

    return DEMO_ROUTER_USERNAME


def print_banner(sup: Supervisor, info: dict[str, Any]) -> None:
    lines = [f"WispCloud local stack is running, started in {info['started_s']} s (Ctrl-C stops it)"]
    for key in (
        "console",
        "api",
        "health",
        "openapi",
        "radius_auth",
        "radius_acct",
        "router_api",
        "moto",
        "provision_queue",
    ):
        lines.append(f"  {key:16} {info[key]}")
    kept = "kept from the last run" if not info["first_start"] else "new: demo data seeded"
    lines.append(f"  {'data':16} {info['data']} ({kept}; `make reset` starts empty)")
    if info["requeued"]:
        lines.append(f"  {'requeued':16} {info['requeued']} provisioning task(s) waiting from the last run")
    password = info["admin_password"] if info["first_start"] else "(as set at first start)"
    lines.append(f"  {'admin login':16} {info['admin_email']} / {password}")
    lines.append(f"  {'admin token':16} {info['admin_token']}")
    lines.append(f"  {'manager token':16} {info['manager_token']}")
    lines.append("  router state:    make router-state   (or: python -m infra.local.router show)")
    lines.append(
        f"  try: curl -s {info['api']}/admin/subscribers -H 'Authorization: Bearer {info['manager_token']}'"
    )
    lines.append(f"  try: {info['radtest']}")
    sup.say("\n".join(lines))


def supervise(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local_stack")
    parser.add_argument("--reset", action="store_true", help="delete the stored local data and start empty")
    args = parser.parse_args(argv)
    cfg = local_env()
    try:
        check_ports(cfg)
    except PortBusyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.reset:
        reset(cfg.local_dir)
        print(f"local data in {cfg.local_dir} deleted; starting empty", flush=True)
    print(f"data: {cfg.local_dir} (DynamoDB and S3 in {cfg.local_dir / 'moto'})", flush=True)
    sup = Supervisor(cfg.env)
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        info = run(cfg, sup)
    except (StartError, OSError, RuntimeError) as exc:
        sup.say(f"error: {exc}; stopping")
        sup.stop()
        return 1
    except BaseException:  # an unexpected failure: no child outlives the supervisor
        sup.stop()
        raise
    print_banner(sup, info)
    code = 0
    while not done.wait(0.5):
        gone = sup.exited()
        if gone is not None and not done.wait(1.0):  # (Ctrl-C reaches the children at the same time)
            sup.say(f"{gone.name} exited with code {gone.proc.returncode}; stopping the stack")
            code = 1
            break
    sup.say("stopping…")
    sup.stop()
    sup.say(f"stopped; data kept in {cfg.local_dir}")
    return code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["api"]:
        return serve_api()
    return supervise(argv)


if __name__ == "__main__":
    raise SystemExit(main())
