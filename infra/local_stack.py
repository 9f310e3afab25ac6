"""`make run`: the whole system on this machine, in one process tree.

moto server (DynamoDB, SQS, SES, SNS, KMS/SSM) on 127.0.0.1, tables created from the models, the
Chalice API, the RADIUS server on UDP, the provisioner worker polling the local queue and the billing
scheduler; demo data seeded. Ctrl-C stops everything.

Settings (environment): WISP_MOTO_PORT (5000), WISP_API_PORT (8000), WISP_RADIUS_AUTH_PORT (1812),
WISP_RADIUS_ACCT_PORT (1813), WISP_LOCAL_DIR (.local), WISP_SCHEDULER_INTERVAL (60 s).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class PortBusyError(RuntimeError):
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


@dataclass
class LocalStack:
    env: dict[str, str]
    moto_port: int
    stop_event: threading.Event = field(default_factory=threading.Event)
    stoppers: list[Callable[[], None]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def start(self) -> dict[str, Any]:
        from moto.server import ThreadedMotoServer

        from shared.settings import Settings

        settings = Settings.from_env(self.env)
        _check_port("127.0.0.1", self.moto_port, socket.SOCK_STREAM, "WISP_MOTO_PORT", "moto server")
        _check_port(settings.api_host, settings.api_port, socket.SOCK_STREAM, "WISP_API_PORT", "API")
        _check_port(
            settings.radius_bind,
            settings.radius_auth_port,
            socket.SOCK_DGRAM,
            "WISP_RADIUS_AUTH_PORT",
            "RADIUS authentication",
        )
        _check_port(
            settings.radius_bind,
            settings.radius_acct_port,
            socket.SOCK_DGRAM,
            "WISP_RADIUS_ACCT_PORT",
            "RADIUS accounting",
        )

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        moto.start()
        self.stoppers.append(moto.stop)

        from shared.runtime import init_runtime
        from store import db
        from store.demo import seed_demo

        rt = init_runtime(settings)
        db.create_tables()
        rt.aws.client("ses").verify_email_identity(EmailAddress=settings.email_sender)
        rt.aws.client("s3").create_bucket(Bucket=settings.documents_bucket)

        from provisioner.triggers import ensure_queues

        queue_url, dlq_url = ensure_queues(rt)
        demo = seed_demo(rt.box, admin_password=self.env.get("WISP_DEMO_ADMIN_PASSWORD", "admin-demo-123"))

        self._start_api(settings)
        radius = self._start_radius(rt)
        self._start_thread("provisioner", self._provisioner_target(rt))
        self._start_thread("scheduler", self._scheduler_target(rt))

        from shared.tokens import issue_operator_token

        token = issue_operator_token(
            rt.signer, demo.admin_id, demo.system_id, "system_admin", settings.token_ttl_seconds
        )
        manager_token = issue_operator_token(
            rt.signer, demo.operator_id, demo.tenant_id, "manager", settings.token_ttl_seconds
        )
        self.info = {
            "api": f"http://{settings.api_host}:{settings.api_port}",
            "health": f"http://{settings.api_host}:{settings.api_port}/health",
            "openapi": f"http://{settings.api_host}:{settings.api_port}/openapi.json",
            "radius_auth": f"{settings.radius_bind}:{radius.auth_port}/udp",
            "radius_acct": f"{settings.radius_bind}:{radius.acct_port}/udp",
            "moto": settings.aws_endpoint_url,
            "provision_queue": queue_url,
            "provision_dlq": dlq_url,
            "admin_email": demo.admin_email,
            "admin_password": demo.operator_password,
            "admin_token": token,
            "manager_token": manager_token,
            "radtest": f"radtest {demo.username} {demo.password} {settings.radius_bind}:{radius.auth_port} 0 "
            f"{demo.radius_secret}",
        }
        return self.info

    def _start_api(self, settings: Any) -> None:
        from chalice.config import Config
        from chalice.local import LocalDevServer

        from api.app import app

        server = LocalDevServer(
            app,
            Config.create(chalice_stage="local", app_name="wispcloud"),
            settings.api_host,
            settings.api_port,
            handler_cls=api_request_handler(),
        )
        thread = threading.Thread(target=server.server.serve_forever, name="api", daemon=True)
        thread.start()

        def stop() -> None:
            server.shutdown()
            server.server.server_close()

        self.stoppers.append(stop)

    def _start_radius(self, rt: Any) -> Any:
        from radius_container.server import start_in_thread

        handle = start_in_thread(rt)
        self.stoppers.append(handle.stop)
        return handle

    def _provisioner_target(self, rt: Any) -> Callable[[], None]:
        from provisioner.worker import run_worker

        return lambda: run_worker(rt, self.stop_event)

    def _scheduler_target(self, rt: Any) -> Callable[[], None]:
        from billing_cron.scheduler import run_scheduler

        interval = int(self.env.get("WISP_SCHEDULER_INTERVAL", "60"))
        return lambda: run_scheduler(rt, self.stop_event, interval)

    def _start_thread(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.stoppers.append(lambda: thread.join(timeout=5))

    def stop(self) -> None:
        self.stop_event.set()
        for fn in reversed(self.stoppers):
            try:
                fn()
            except Exception as exc:  # keep stopping the rest
                print(f"while stopping: {exc}", file=sys.stderr)
        self.stoppers.clear()


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


def local_env(base: dict[str, str] | None = None) -> tuple[dict[str, str], int]:
    env = dict(os.environ if base is None else base)
    moto_port = int(env.get("WISP_MOTO_PORT", "5000"))
    local_dir = Path(env.get("WISP_LOCAL_DIR", str(ROOT / ".local")))
    env.setdefault("WISP_STAGE", "local")
    env.setdefault("WISP_AWS_ENDPOINT_URL", f"http://127.0.0.1:{moto_port}")
    env.setdefault("WISP_DATA_KEY_FILE", str(local_dir / "data.key"))
    for key, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("POWERTOOLS_TRACE_DISABLED", "1"),
        ("POWERTOOLS_LOG_LEVEL", env.get("WISP_LOG_LEVEL", "WARNING")),
    ):
        env.setdefault(key, value)
        os.environ.setdefault(key, env[key])  # boto3 and powertools read these themselves
    return env, moto_port


def main() -> int:
    env, moto_port = local_env()
    stack = LocalStack(env, moto_port)
    try:
        info = stack.start()
    except PortBusyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        stack.stop()
        return 2
    print("WispCloud local stack is running (Ctrl-C stops it)")
    for key in ("api", "health", "openapi", "radius_auth", "radius_acct", "moto", "provision_queue"):
        print(f"  {key:16} {info[key]}")
    print(f"  {'admin login':16} {info['admin_email']} / {info['admin_password']}")
    print(f"  {'admin token':16} {info['admin_token']}")
    print(f"  {'manager token':16} {info['manager_token']}")
    print(
        f"  try: curl -s {info['api']}/admin/subscribers -H 'Authorization: Bearer {info['manager_token']}'"
    )
    print(f"  try: {info['radtest']}")
    sys.stdout.flush()
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    print("stopping…", flush=True)
    stack.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
