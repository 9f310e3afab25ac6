"""The local stack's simulated MikroTik: the demo gateway's router, and a command that shows its state.

``python -m infra.local.router serve --port 8728`` runs the RouterOS API simulator
(:mod:`infra.local.routeros_sim`) with the demo gateway's API user and logs every change the
provisioner makes (passwords masked). It starts as a freshly reset router; the local stack asks the
provisioner to reconcile it at start, so it always mirrors what the system says it should hold.

``python -m infra.local.router show`` (``make router-state``) logs in over the API, as the
provisioner does, and prints the router's menus: PPP secrets, hotspot users, queues, the blocked
address list, firewall filter and NAT rules. It works against a real RouterOS too (``--host``,
``--port``, ``--username``, ``--password``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

from infra.local.procs import die_with_parent
from infra.local.routeros_sim import FakeRouter

DEFAULT_PORT = 8728
IDENTITY = "wisp-demo-router"
SHOWN_MENUS = (
    "/system/identity",
    "/ppp/secret",
    "/ppp/active",
    "/ip/hotspot/user",
    "/queue/simple",
    "/ip/firewall/address-list",
    "/ip/firewall/filter",
    "/ip/firewall/nat",
)
_MASKED = ("password", "secret")


def _masked(attrs: dict[str, str]) -> dict[str, str]:
    return {k: ("***" if any(m in k for m in _MASKED) else v) for k, v in attrs.items()}


class LoggingRouter(FakeRouter):
    """The simulator, printing each change made through the API (what an operator would see in the
    router's log)."""

    def _dispatch(
        self, command: str, attrs: dict[str, str], api_attrs: dict[str, str], queries: list[str]
    ) -> tuple[list[dict[str, str]], str | None]:
        result = super()._dispatch(command, attrs, api_attrs, queries)
        if not command.endswith(("/print", "/getall")):
            words = " ".join(f"{k}={v}" for k, v in _masked(attrs).items())
            print(f"{command} {words}".rstrip(), flush=True)
        return result


def serve(host: str, port: int, username: str, password: str) -> int:
    die_with_parent()
    router = LoggingRouter(username, password, identity=IDENTITY)
    router.host, router.port = host, port
    router.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"router ready: RouterOS API on {host}:{router.port} (identity {IDENTITY})", flush=True)
    stop.wait()
    router.stop()
    return 0


def read_state(host: str, port: int, username: str, password: str, timeout: float = 10.0) -> dict[str, Any]:
    """Every shown menu's rows, read over the RouterOS API."""
    import librouteros

    api = librouteros.connect(host=host, username=username, password=password, port=port, timeout=timeout)
    try:
        return {menu: [dict(row) for row in api.path(*menu.strip("/").split("/"))] for menu in SHOWN_MENUS}
    finally:
        api.close()


def format_state(state: dict[str, Any]) -> str:
    lines = []
    for menu, rows in state.items():
        lines.append(f"{menu} ({len(rows)})")
        for row in rows:
            shown = _masked({k: str(v) for k, v in row.items() if k != ".id"})
            lines.append("  " + " ".join(f"{k}={v}" for k, v in shown.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from infra.local.demo import DEMO_ROUTER_PASSWORD, DEMO_ROUTER_USERNAME

    parser = argparse.ArgumentParser(prog="python -m infra.local.router")
    parser.add_argument("action", choices=("serve", "show"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("WISP_ROUTER_API_PORT") or DEFAULT_PORT)
    )
    parser.add_argument("--username", default=DEMO_ROUTER_USERNAME)
    parser.add_argument("--password", default=DEMO_ROUTER_PASSWORD)
    parser.add_argument("--json", action="store_true", help="show: print JSON")
    args = parser.parse_args(argv)
    if args.action == "serve":
        return serve(args.host, args.port, args.username, args.password)
    try:
        state = read_state(args.host, args.port, args.username, args.password)
    except (OSError, Exception) as exc:  # librouteros raises its own error types
        print(f"error: cannot read the router at {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        import json

        print(json.dumps(state, indent=2, default=str))
    else:
        print(format_state(state))
    return 0


if __name__ == "__main__":
    sys.exit(main())
