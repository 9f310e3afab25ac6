"""The RouterOS API adapter: the only module that talks to a router (through librouteros).

librouteros opens the TCP (or TLS) connection and logs in; commands are written and read here at the
sentence level so that many independent commands can be pipelined, each with its own ``.tag``, in
one network round trip (a router behind a VPN is tens of milliseconds away: one command per round
trip is what makes naive provisioning slow). Every value is kept as the string the router sent.

Failures are typed: :class:`RouterUnreachable`, :class:`RouterAuthError`, :class:`RouterTimeout`
(connection-level, the whole batch for that router is retried) and :class:`RouterTrap` (one command
refused by RouterOS).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import librouteros
from librouteros.exceptions import ConnectionClosed, FatalError, LibRouterosError, ProtocolError, TrapError
from librouteros.protocol import encode_sentence

ENCODING = "UTF-8"
PIPELINE_WINDOW = 200  # commands in flight at once (bounded so neither side's socket buffer fills up)


class RouterError(Exception):
    """Base of the provisioner's router errors; ``category`` is stored on the task."""

    category = "router"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RouterUnreachable(RouterError):
    category = "unreachable"


class RouterAuthError(RouterError):
    category = "auth"


class RouterTimeout(RouterError):
    category = "timeout"


class RouterTrap(RouterError):
    """RouterOS refused one command (``!trap``): bad value, duplicate name, missing item..."""

    category = "trap"

    def __init__(self, message: str, command: str = "", trap_category: int | None = None) -> None:
        super().__init__(f"{command}: {message}" if command else message)
        self.command = command
        self.trap_message = message
        self.trap_category = trap_category


@dataclass(frozen=True)
class RouterTarget:
    """Where and how to reach one router (password already decrypted; never logged)."""

    name: str
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    tls: bool = False
    timeout: float = 10.0


@dataclass(frozen=True)
class Command:
    """One API sentence: ``path`` like ``/ppp/secret/add``, ``=attrs``, ``?queries`` and ``.proplist``."""

    path: str
    attrs: tuple[tuple[str, str], ...] = ()
    queries: tuple[str, ...] = ()
    proplist: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        path: str,
        attrs: dict[str, str] | None = None,
        queries: Sequence[str] = (),
        proplist: Sequence[str] = (),
    ) -> Command:
        return cls(path, tuple((attrs or {}).items()), tuple(queries), tuple(proplist))

    def words(self) -> list[str]:
        out = [f"={k}={v}" for k, v in self.attrs]
        if self.proplist:
            out.append("=.proplist=" + ",".join(self.proplist))
        out.extend(self.queries)
        return out


@dataclass
class Reply:
    rows: list[dict[str, str]] = field(default_factory=list)
    ret: str | None = None
    trap: RouterTrap | None = None

    def raise_for_trap(self) -> Reply:
        if self.trap is not None:
            raise self.trap
        return self


@dataclass
class ClientStats:
    connections: int = 0
    round_trips: int = 0
    commands: int = 0
    io_seconds: float = 0.0  # time spent connecting to and waiting on routers


def _tls_context() -> ssl.SSLContext:
    # api-ssl on RouterOS uses a self-signed certificate; the WireGuard tunnel authenticates the peer,
    # TLS adds encryption on top for routers configured to accept only api-ssl.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _parse_words(words: Sequence[str]) -> tuple[dict[str, str], str | None]:
    attrs: dict[str, str] = {}
    tag: str | None = None
    for w in words:
        if w.startswith(".tag="):
            tag = w[5:]
        elif w.startswith("="):
            key, _, value = w[1:].partition("=")
            attrs[key] = value
    return attrs, tag


class RouterClient:
    """One logged-in API session. Not thread-safe: one batch, one router, one client."""

    def __init__(self, api: librouteros.Api, target: RouterTarget, stats: ClientStats | None = None) -> None:
        self._api = api
        self.target = target
        self.stats = stats or ClientStats()
        self._tag = 0
        self._closed = False

    # ------------------------------------------------------------ commands
    def run(self, command: Command) -> Reply:
        """One command, one round trip; a trap is raised as :class:`RouterTrap`."""
        return self.pipeline([command])[0].raise_for_trap()

    def print(
        self, menu: str, queries: Sequence[str] = (), proplist: Sequence[str] = ()
    ) -> list[dict[str, str]]:
        return self.run(Command.of(f"{menu}/print", queries=queries, proplist=proplist)).rows

    def pipeline(self, commands: Sequence[Command], window: int = PIPELINE_WINDOW) -> list[Reply]:
        """Send independent commands ``window`` at a time, each tagged; replies in command order.

        Traps are returned in their :class:`Reply` (the other commands still apply); connection
        failures raise.
        """
        replies: list[Reply] = []
        for start in range(0, len(commands), window):
            chunk = commands[start : start + window]
            replies.extend(self._round_trip(chunk))
        return replies

    def _round_trip(self, chunk: Sequence[Command]) -> list[Reply]:
        if self._closed:
            raise RouterUnreachable(f"{self.target.name}: the connection is closed")
        tags: dict[str, int] = {}
        payload = bytearray()
        for i, cmd in enumerate(chunk):
            self._tag += 1
            tag = str(self._tag)
            tags[tag] = i
            payload += encode_sentence(cmd.path, *cmd.words(), f".tag={tag}", encoding=ENCODING)
        replies = [Reply() for _ in chunk]
        pending = set(tags)
        started = time.perf_counter()
        try:
            self._api.protocol.transport.write(bytes(payload))
            self.stats.round_trips += 1
            self.stats.commands += len(chunk)
            while pending:
                reply_word, words = self._api.protocol.readSentence()
                attrs, got = _parse_words(words)
                if got is None or got not in tags:
                    continue  # an untagged notice: not an answer to any of ours
                reply = replies[tags[got]]
                if reply_word == "!re":
                    reply.rows.append(attrs)
                elif reply_word == "!trap":
                    cat = attrs.get("category")
                    reply.trap = RouterTrap(
                        attrs.get("message", "trap"),
                        chunk[tags[got]].path,
                        int(cat) if cat and cat.isdigit() else None,
                    )
                elif reply_word == "!done":
                    reply.ret = attrs.get("ret")
                    pending.discard(got)
                # "!empty" (RouterOS 7.18+: a print without rows) needs nothing
        except (OSError, LibRouterosError, UnicodeError) as exc:
            self._closed = True
            self.close()
            raise _map_error(exc, self.target, during="command") from exc
        finally:
            self.stats.io_seconds += time.perf_counter() - started
        return replies

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError, LibRouterosError):
            self._api.close()

    def __enter__(self) -> RouterClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _map_error(exc: BaseException, target: RouterTarget, during: str) -> RouterError:
    where = f"{target.name} ({target.host}:{target.port})"
    if isinstance(exc, RouterError):
        return exc
    if isinstance(exc, TimeoutError | socket.timeout):
        return RouterTimeout(f"{where}: no answer within {target.timeout:g} s during {during}")
    if isinstance(exc, TrapError) and during == "login":
        return RouterAuthError(f"{where}: the router refused the API credentials ({exc})")
    if isinstance(exc, FatalError):
        return RouterUnreachable(f"{where}: the router closed the session ({exc})")
    if isinstance(exc, ConnectionClosed):
        return RouterUnreachable(f"{where}: the connection was closed by the router")
    if isinstance(exc, ssl.SSLError):
        return RouterUnreachable(f"{where}: TLS handshake failed ({exc.reason or exc})")
    if isinstance(exc, ConnectionRefusedError):
        return RouterUnreachable(f"{where}: connection refused (API service disabled or router down)")
    if isinstance(exc, OSError):
        return RouterUnreachable(f"{where}: cannot connect ({exc.strerror or exc})")
    if isinstance(exc, ProtocolError | UnicodeError):
        return RouterUnreachable(f"{where}: protocol error ({exc})")
    return RouterUnreachable(f"{where}: {type(exc).__name__}")


def connect(target: RouterTarget, stats: ClientStats | None = None) -> RouterClient:
    """Open and log in (RouterOS ≥ 6.43 plain login, UTF-8, optional TLS)."""
    started = time.perf_counter()
    try:
        api = librouteros.connect(
            target.host,
            target.username,
            target.password,
            port=target.port,
            timeout=target.timeout,
            encoding=ENCODING,
            ssl_wrapper=_tls_context().wrap_socket if target.tls else None,
        )
    except (OSError, LibRouterosError, UnicodeError) as exc:
        raise _map_error(exc, target, during="login") from exc
    finally:
        if stats is not None:
            stats.io_seconds += time.perf_counter() - started
    client = RouterClient(api, target, stats)
    client.stats.connections += 1
    client.stats.round_trips += 1  # the login
    return client
