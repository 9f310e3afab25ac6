"""The in-memory datastore double shared by every RADIUS worker process, over a Unix socket.

The workers are separate processes, like production workers sharing DynamoDB: they reach one
:class:`tests.fakes.radius_store.InMemoryRadiusStore` (with its per-call latency, conditional
writes and call counters) through :class:`RemoteRadiusStore`, one connection per request thread.
Each call is one round trip of a pickled ``(method, args)``; the latency is spent in the store's
thread for that connection, so calls from different threads overlap as DynamoDB calls do.
"""

from __future__ import annotations

import pickle
import socket
import socketserver
import struct
import threading
from typing import Any

from core.radius.accounting import SessionLog, SubscriberWrite
from core.radius.model import GatewayView, PolicyView, ProductView, SubscriberView
from tests.fakes.radius_store import InMemoryRadiusStore

_STORE_METHODS = frozenset(
    {
        "list_gateways",
        "get_policy",
        "get_product",
        "get_subscriber",
        "apply_subscriber_write",
        "put_session_log",
        "get_session_log",
        "open_session_ids",
        "open_session_nas",
        "mark_gateway_reboot",
    }
)
_LENGTH = struct.Struct("!I")


def _send(sock: socket.socket, value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_LENGTH.pack(len(data)) + data)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(left)
        if not chunk:
            raise ConnectionError("store connection closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _recv(sock: socket.socket) -> Any:
    (size,) = _LENGTH.unpack(_recv_exactly(sock, _LENGTH.size))
    return pickle.loads(_recv_exactly(sock, size))  # our own processes, on a private socket


class StoreServer:
    """Serves ``store`` on the Unix socket ``path`` from a thread per connection."""

    def __init__(self, store: InMemoryRadiusStore, path: str) -> None:
        self.store = store
        self.path = path
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                while True:
                    try:
                        name, args = _recv(self.request)
                    except (ConnectionError, OSError):
                        return
                    try:
                        reply = ("ok", outer.dispatch(name, args))
                    except Exception as exc:
                        reply = ("error", exc)
                    _send(self.request, reply)

        self._server = socketserver.ThreadingUnixStreamServer(path, Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="store-server", daemon=True)

    def dispatch(self, name: str, args: tuple[Any, ...]) -> Any:
        if name in _STORE_METHODS:
            return getattr(self.store, name)(*args)
        if name == "calls":  # bench instrumentation: not part of the RadiusStore interface
            return dict(self.store.calls)
        if name == "reset_calls":
            self.store.calls.clear()
            return None
        if name == "sessions":
            return list(self.store.sessions.values())
        raise AttributeError(name)

    def start(self) -> StoreServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class RemoteRadiusStore:
    """A :class:`store.radius_repo.RadiusStore` on a :class:`StoreServer` (one connection per thread)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()

    def call(self, name: str, *args: Any) -> Any:
        sock: socket.socket | None = getattr(self._local, "sock", None)
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self.path)
            self._local.sock = sock
        _send(sock, (name, args))
        status, value = _recv(sock)
        if status == "error":
            raise value
        return value

    def list_gateways(self) -> list[GatewayView]:
        return self.call("list_gateways")  # type: ignore[no-any-return]

    def get_policy(self, policy_id: str) -> PolicyView | None:
        return self.call("get_policy", policy_id)  # type: ignore[no-any-return]

    def get_product(self, product_id: str) -> ProductView | None:
        return self.call("get_product", product_id)  # type: ignore[no-any-return]

    def get_subscriber(self, login: str) -> SubscriberView | None:
        return self.call("get_subscriber", login)  # type: ignore[no-any-return]

    def apply_subscriber_write(self, write: SubscriberWrite, seen_at: str | None) -> bool:
        return self.call("apply_subscriber_write", write, seen_at)  # type: ignore[no-any-return]

    def put_session_log(self, log: SessionLog) -> None:
        self.call("put_session_log", log)

    def get_session_log(self, session_id: str) -> SessionLog | None:
        return self.call("get_session_log", session_id)  # type: ignore[no-any-return]

    def open_session_ids(self, nas_ip: str, updated_before: str | None = None) -> list[str]:
        return self.call("open_session_ids", nas_ip, updated_before)  # type: ignore[no-any-return]

    def open_session_nas(self) -> list[str]:
        return self.call("open_session_nas")  # type: ignore[no-any-return]

    def mark_gateway_reboot(self, gateway_id: str, at: str) -> None:
        self.call("mark_gateway_reboot", gateway_id, at)

    def flush_counters(self) -> None:
        """The in-memory store keeps no totals counters: nothing to write."""
