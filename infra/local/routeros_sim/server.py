"""The simulated router's TCP API server: sessions, login, tags, traps and fault controls."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.local.routeros_sim.menus import Fatal, Trap
from infra.local.routeros_sim.tables import RouterTables
from infra.local.routeros_sim.wire import SentenceReader, encode_sentence


@dataclass
class Stats:
    connections: int = 0
    refused: int = 0
    logins: int = 0
    failed_logins: int = 0
    commands: int = 0  # sentences received (including /login)
    replies: int = 0  # sentences sent
    round_trips: int = 0  # request bursts: data arriving after the router had answered
    by_command: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "refused": self.refused,
            "logins": self.logins,
            "failed_logins": self.failed_logins,
            "commands": self.commands,
            "replies": self.replies,
            "round_trips": self.round_trips,
            "by_command": dict(self.by_command),
        }


@dataclass
class _TrapRule:
    command: str
    message: str
    category: int | None
    remaining: int | None  # None = every time
    fatal: bool = False
    match: Callable[[dict[str, str]], bool] | None = None


class FakeRouter(RouterTables):
    """The in-memory router plus its TCP API server.

    ``with FakeRouter() as router:`` starts it on ``127.0.0.1:<ephemeral port>``; ``router.port`` is the
    port to give the client. Use :meth:`rows`, :meth:`add_row` and :meth:`find` to inspect and arrange
    the router's menus from a test (as an operator working on the router by hand would).
    """

    def __init__(
        self,
        username: str = "admin",
        password: str = "secret",  # noqa: S107 - a test double's default
        *,
        identity: str = "MikroTik",
        send_empty: bool = True,
        tls: bool = False,
        encoding: str = "utf-8",
    ) -> None:
        super().__init__(identity)
        self.username = username
        self.password = password
        self.send_empty = send_empty
        self.encoding = encoding
        self.delay = 0.0
        self.latency = 0.0
        self.stats = Stats()
        self.host = "127.0.0.1"
        self.port = 0
        self._tls = tls
        self._ssl_ctx: ssl.SSLContext | None = None
        self._cert_dir: tempfile.TemporaryDirectory[str] | None = None
        self._traps: list[_TrapRule] = []
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._down = False
        self._stopped = threading.Event()

    # ------------------------------------------------------------ lifecycle
    def start(self) -> FakeRouter:
        if self._tls:
            self._ssl_ctx = self._make_tls_context()
        self._stopped.clear()
        self._listen()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._close_listener()
        self._drop_connections()
        for t in list(self._threads):
            t.join(timeout=2)
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=2)
        if self._cert_dir is not None:
            self._cert_dir.cleanup()
            self._cert_dir = None

    def __enter__(self) -> FakeRouter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_down(self, down: bool) -> None:
        """Down: new connections are refused and open sessions are dropped; up: listening again."""
        if down == self._down:
            return
        self._down = down
        if down:
            self._close_listener()
            self._drop_connections()
        else:
            self._listen()

    @property
    def down(self) -> bool:
        return self._down

    def trap_on(
        self,
        command: str,
        message: str = "failure: simulated",
        *,
        times: int | None = None,
        category: int | None = None,
        fatal: bool = False,
        where: Callable[[dict[str, str]], bool] | None = None,
    ) -> None:
        """Answer ``command`` (e.g. ``/ip/firewall/address-list/add``) with a trap (or ``!fatal``),
        ``times`` times or always; ``where`` limits it to commands whose attributes match."""
        with self._lock:
            self._traps.append(_TrapRule(command, message, category, times, fatal, where))

    def clear_traps(self) -> None:
        with self._lock:
            self._traps.clear()

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = Stats()

    # ------------------------------------------------------------ server
    def _make_tls_context(self) -> ssl.SSLContext:
        from datetime import UTC, datetime, timedelta

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-routeros")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        self._cert_dir = tempfile.TemporaryDirectory(prefix="fake-ros-")
        cert_path = Path(self._cert_dir.name) / "cert.pem"
        key_path = Path(self._cert_dir.name) / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert_path), str(key_path))
        return ctx

    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        self._listener = sock
        self._accept_thread = threading.Thread(
            target=self._accept_loop, args=(sock,), daemon=True, name=f"fake-ros-accept-{self.port}"
        )
        self._accept_thread.start()

    def _close_listener(self) -> None:
        sock, self._listener = self._listener, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._accept_thread is not None and self._accept_thread is not threading.current_thread():
            self._accept_thread.join(timeout=2)

    def _drop_connections(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                c.close()

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if self._down:
                self.stats.refused += 1
                conn.close()
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.stats.connections += 1
                self._conns.add(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.add(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        sock: Any = conn
        try:
            if self._ssl_ctx is not None:
                sock = self._ssl_ctx.wrap_socket(conn, server_side=True)
            self._session(sock)
        except (OSError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(OSError):
                sock.close()
            with self._lock:
                self._conns.discard(conn)
            self._threads.discard(threading.current_thread())

    def _session(self, sock: Any) -> None:
        reader = SentenceReader(self.encoding)
        session: dict[str, Any] = {"user": None, "challenge": None}
        answered = True  # the router has answered everything received so far
        out = bytearray()
        while not self._stopped.is_set():
            sentence = reader.next_sentence()
            if sentence is None:
                # everything received is handled: answer it in one write, then wait for more
                if out:
                    sock.sendall(bytes(out))
                    out.clear()
                if reader.pending == 0:
                    answered = True
                data = sock.recv(65536)
                if not data:
                    return
                if answered:
                    with self._lock:
                        self.stats.round_trips += 1
                    if self.latency:
                        time.sleep(self.latency)
                answered = False
                reader.feed(data)
                continue
            if not sentence:
                continue  # empty sentences are ignored by RouterOS
            with self._lock:
                self.stats.commands += 1
            replies, close = self._handle(sentence, session)
            if self.delay:
                time.sleep(self.delay)
            if self._down or self._stopped.is_set():
                return
            out += b"".join(encode_sentence(r, self.encoding) for r in replies)
            with self._lock:
                self.stats.replies += len(replies)
            if close:
                sock.sendall(bytes(out))
                return

    # ------------------------------------------------------------ command dispatch
    def _handle(self, sentence: list[str], session: dict[str, Any]) -> tuple[list[list[str]], bool]:
        command = sentence[0]
        attrs: dict[str, str] = {}
        api_attrs: dict[str, str] = {}
        queries: list[str] = []
        tag: str | None = None
        for w in sentence[1:]:
            if w.startswith("="):
                k, _, v = w[1:].partition("=")
                attrs[k] = v
            elif w.startswith("."):
                k, _, v = w.partition("=")
                if k == ".tag":
                    tag = v
                else:
                    api_attrs[k] = v
            elif w.startswith("?"):
                queries.append(w)
        tagw = [f".tag={tag}"] if tag is not None else []
        with self._lock:
            self.stats.by_command[command] += 1
        try:
            if command == "/quit":
                return [["!fatal", "session terminated on request", *tagw]], True
            if command == "/login":
                rows, ret = self._login(attrs, session)
            elif session["user"] is None:
                raise Trap("not logged in", 0)
            else:
                self._check_trap(command, attrs)
                rows, ret = self._dispatch(command, attrs, api_attrs, queries)
        except Fatal as exc:
            return [["!fatal", str(exc), *tagw]], True
        except Trap as exc:
            trap = ["!trap", f"=message={exc.message}", *tagw]
            if exc.category is not None:
                trap.insert(1, f"=category={exc.category}")
            return [trap, ["!done", *tagw]], False
        replies = [["!re", *(f"={k}={v}" for k, v in row.items()), *tagw] for row in rows]
        if not rows and command.endswith("/print") and self.send_empty:
            replies.append(["!empty", *tagw])
        done = ["!done", *tagw]
        if ret is not None:
            done.insert(1, f"=ret={ret}")
        replies.append(done)
        return replies, False

    def _check_trap(self, command: str, attrs: dict[str, str]) -> None:
        with self._lock:
            for rule in self._traps:
                if rule.command != command or rule.remaining == 0:
                    continue
                if rule.match is not None and not rule.match(attrs):
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                if rule.fatal:
                    raise Fatal(rule.message)
                raise Trap(rule.message, rule.category)

    def _login(
        self, attrs: dict[str, str], session: dict[str, Any]
    ) -> tuple[list[dict[str, str]], str | None]:
        if "name" not in attrs:  # pre-6.43 challenge/response
            challenge = hashlib.md5(str(time.time_ns()).encode(), usedforsecurity=False).hexdigest()
            session["challenge"] = challenge
            return [], challenge
        ok = attrs["name"] == self.username
        if "password" in attrs:
            ok = ok and attrs["password"] == self.password
        elif "response" in attrs and session.get("challenge"):
            digest = hashlib.md5(
                b"\x00" + self.password.encode() + bytes.fromhex(session["challenge"]), usedforsecurity=False
            ).hexdigest()
            ok = ok and attrs["response"] == "00" + digest
        else:
            ok = False
        if not ok:
            self.stats.failed_logins += 1
            raise Trap("invalid user name or password (6)")
        self.stats.logins += 1
        session["user"] = attrs["name"]
        return [], None
