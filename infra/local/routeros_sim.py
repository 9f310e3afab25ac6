"""A simulated MikroTik router: the RouterOS API wire protocol over TCP on 127.0.0.1.

The local stack runs it as the demo gateway's router (``python -m infra.local.router``, see the README);
the tests drive the provisioner against it (``tests.fakes.routeros`` is this module).

Speaks what librouteros (and any other API client) expects from RouterOS ≥ 6.43:

* words are length-prefixed (1–5 byte length), a sentence ends with an empty word;
* ``/login =name= =password=`` (plain) or the pre-6.43 challenge ``/login`` → ``=ret=`` + ``=response=``;
* ``!re`` rows carrying ``=.id=*N``, ``!done`` (``=ret=*N`` after ``add``), ``!trap`` with ``=message=``
  (and ``=category=``) followed by ``!done``, ``!fatal`` then close, ``!empty`` (RouterOS 7.18+) for a
  print without rows;
* ``.tag`` echoed on every reply of a command (so pipelined commands can be matched);
* ``print`` with ``=.proplist=`` and query words ``?k=v`` / ``?=k=v`` / ``?k`` / ``?-k`` / ``?<k=v`` /
  ``?>k=v`` and the stack operators ``?#|`` ``?#&`` ``?#!`` ``?#.``; ``count-only``;
* ``add`` / ``set`` / ``unset`` / ``remove`` / ``enable`` / ``disable`` with RouterOS' validation
  (unknown parameter, unique names, "already have such entry", "no such item") and its normalisation
  of printed values (queue rates in bits/s, ``/32`` targets, ``10s`` burst times, ``true``/``false``).

Menus kept in memory: /ppp/secret, /ppp/active, /ppp/profile, /ip/hotspot/user, /ip/hotspot/active,
/ip/hotspot/user/profile, /queue/simple, /ip/firewall/address-list, /ip/firewall/filter,
/ip/firewall/nat, /ip/arp, /system/identity, /system/resource.

Controls for fault tests: :meth:`FakeRouter.set_down` (connections refused, open sessions dropped),
``delay`` (seconds before each reply), ``latency`` (seconds per request burst: a network round trip),
:meth:`FakeRouter.trap_on` (trap a given command), wrong credentials, and :class:`Stats` counters of
connections, logins, commands, replies and request bursts (round trips).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import re
import socket
import ssl
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# ---------------------------------------------------------------- codec


class WireError(ValueError):
    """Bytes that are not a valid API word/sentence."""


def encode_length(n: int) -> bytes:
    if n < 0:
        raise WireError("negative length")
    if n < 0x80:
        return bytes([n])
    if n < 0x4000:
        return (n | 0x8000).to_bytes(2, "big")
    if n < 0x200000:
        return (n | 0xC00000).to_bytes(3, "big")
    if n < 0x10000000:
        return (n | 0xE0000000).to_bytes(4, "big")
    if n < 0x100000000:
        return b"\xf0" + n.to_bytes(4, "big")
    raise WireError("word too long")


def decode_length(buf: bytes | bytearray, pos: int = 0) -> tuple[int, int] | None:
    """``(length, bytes used)`` of the length prefix at ``pos``; None when more bytes are needed."""
    if pos >= len(buf):
        return None
    c = buf[pos]
    if c < 0x80:
        size, value = 1, c
    elif c < 0xC0:
        size, value = 2, c & 0x3F
    elif c < 0xE0:
        size, value = 3, c & 0x1F
    elif c < 0xF0:
        size, value = 4, c & 0x0F
    elif c == 0xF0:
        size, value = 5, 0
    else:
        raise WireError(f"reserved control byte 0x{c:02x}")
    if pos + size > len(buf):
        return None
    for b in buf[pos + 1 : pos + size]:
        value = (value << 8) | b
    return value, size


def encode_word(word: str, encoding: str = "utf-8") -> bytes:
    raw = word.encode(encoding)
    return encode_length(len(raw)) + raw


def encode_sentence(words: Iterable[str], encoding: str = "utf-8") -> bytes:
    return b"".join(encode_word(w, encoding) for w in words) + b"\x00"


class SentenceReader:
    """Incremental decoder: feed bytes, take complete sentences (lists of words)."""

    def __init__(self, encoding: str = "utf-8") -> None:
        self._buf = bytearray()
        self._encoding = encoding

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_sentence(self) -> list[str] | None:
        pos = 0
        words: list[str] = []
        while True:
            got = decode_length(self._buf, pos)
            if got is None:
                return None
            length, used = got
            pos += used
            if length == 0:
                del self._buf[:pos]
                return words
            if pos + length > len(self._buf):
                return None
            words.append(bytes(self._buf[pos : pos + length]).decode(self._encoding, errors="replace"))
            pos += length

    def sentences(self) -> Iterator[list[str]]:
        while (s := self.next_sentence()) is not None:
            yield s

    @property
    def pending(self) -> int:
        return len(self._buf)


# ---------------------------------------------------------------- queries


def _prop_word(word: str) -> tuple[str, str, str | None]:
    """``?name=v`` / ``?=name=v`` / ``?<name=v`` / ``?>name=v`` / ``?-name`` / ``?name`` → (op, key, value)."""
    body = word[1:]
    op = "="
    if body[:1] in ("=", "<", ">", "-"):
        op, body = body[0], body[1:]
    if op == "-":
        return "-", body, None
    if "=" in body:
        key, value = body.split("=", 1)
        return op, key, value
    return ("has" if op == "=" else op), body, None


def _compare(a: str, b: str) -> int:
    try:
        x, y = int(a), int(b)
    except ValueError:
        return (a > b) - (a < b)
    return (x > y) - (x < y)


def _or_of_equalities(parsed: list[tuple[str, str, str | None]]) -> dict[str, set[str]] | None:
    """``?a=1 ?b=2 ?#| ?c=3 ?#| ...`` (how clients ask for "any of these") as key → values, so the
    common query costs one dict lookup per row instead of a stack run."""
    if not parsed or parsed[0][0] != "=":
        return None
    rest = parsed[1:]
    if len(rest) % 2:
        return None
    for i in range(0, len(rest), 2):
        if rest[i][0] != "=" or rest[i + 1] != ("#", "|", None):
            return None
    wanted: dict[str, set[str]] = {}
    for op, key, value in parsed:
        if op == "=" and value is not None:
            wanted.setdefault(key, set()).add(value)
    return wanted


def compile_query(words: list[str]) -> Callable[[dict[str, str]], bool]:
    """RouterOS query words → a predicate on a row (a stack machine; results on the stack are ANDed)."""
    steps = [w for w in words if w.startswith("?")]
    parsed: list[tuple[str, str, str | None]] = []
    for w in steps:  # validate and parse once, so a bad query traps instead of matching nothing
        if w.startswith("?#"):
            if not w[2:] or any(ch not in "|&!.0123456789" for ch in w[2:]):
                raise WireError(f"unknown query operation {w}")
            parsed.append(("#", w[2:], None))
        elif len(w) < 2:
            raise WireError("empty query word")
        else:
            parsed.append(_prop_word(w))
    fast = _or_of_equalities(parsed)
    if fast is not None:
        return lambda row: any(row.get(k) in values for k, values in fast.items())

    def predicate(row: dict[str, str]) -> bool:
        stack: list[bool] = []
        for op, key, value in parsed:
            if op == "#":
                for ch in key:
                    if ch == "!":
                        stack.append(not stack.pop() if stack else False)
                    elif ch in "|&":
                        b = stack.pop() if stack else True
                        a = stack.pop() if stack else True
                        stack.append((a or b) if ch == "|" else (a and b))
                    elif ch == ".":
                        stack.append(stack[-1] if stack else True)
                    elif ch.isdigit():
                        idx = int(ch)
                        stack.append(stack[-1 - idx] if idx < len(stack) else True)
            elif op == "-":
                stack.append(key not in row)
            elif op == "has":
                stack.append(key in row)
            elif op == "=":
                stack.append(row.get(key) == value)
            elif key not in row:
                stack.append(False)
            else:
                c = _compare(row[key], value or "")
                stack.append(c < 0 if op == "<" else c > 0)
        return all(stack)

    return predicate


# ---------------------------------------------------------------- value normalisation (as RouterOS prints)

_BOOL = {"yes": "true", "true": "true", "no": "false", "false": "false"}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)\s*$")


class ValueError_(Exception):
    """A value RouterOS would reject (``invalid value for argument``)."""


def _rate(text: str) -> str:
    m = _RATE.match(text)
    if not m:
        raise ValueError_(text)
    mult = {"": 1, "k": 1000, "m": 1_000_000, "g": 1_000_000_000}[m.group(2).lower()]
    return str(round(float(m.group(1)) * mult))


def _pair(text: str, one: Callable[[str], str]) -> str:
    parts = text.split("/")
    if len(parts) == 1:
        parts = [parts[0], parts[0]]
    if len(parts) != 2:
        raise ValueError_(text)
    return "/".join(one(p) for p in parts)


def _seconds(text: str) -> str:
    t = text.strip()
    if t.isdigit():
        return f"{int(t)}s"
    if re.fullmatch(r"(\d+[wdhms])+", t):
        return t
    raise ValueError_(text)


def _ip(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text.strip()))
    except ValueError as exc:
        raise ValueError_(text) from exc


def _ip_or_net(text: str) -> str:
    t = text.strip()
    try:
        net = ipaddress.IPv4Network(t, strict=False)
    except ValueError:
        if re.fullmatch(r"[A-Za-z0-9.-]+", t):
            return t  # a DNS name (address lists accept them)
        raise ValueError_(text) from None
    return str(net.network_address) if net.prefixlen == 32 else str(net)


def _target(text: str) -> str:
    out = []
    for part in text.split(","):
        p = part.strip()
        try:
            net = ipaddress.IPv4Network(p, strict=False)
            out.append(f"{net.network_address}/{net.prefixlen}")
        except ValueError:
            out.append(p)  # an interface name
    return ",".join(out)


def _mac(text: str) -> str:
    t = text.strip().upper().replace("-", ":")
    if not re.fullmatch(r"([0-9A-F]{2}:){5}[0-9A-F]{2}", t):
        raise ValueError_(text)
    return t


def _bool(text: str) -> str:
    v = _BOOL.get(text.strip().lower())
    if v is None:
        raise ValueError_(text)
    return v


_NORMALISE: dict[str, Callable[[str], str]] = {
    "disabled": _bool,
    "max-limit": lambda v: _pair(v, _rate),
    "limit-at": lambda v: _pair(v, _rate),
    "burst-limit": lambda v: _pair(v, _rate),
    "burst-threshold": lambda v: _pair(v, _rate),
    "burst-time": lambda v: _pair(v, _seconds),
    "mac-address": _mac,
}

_NORMALISE_PER_MENU: dict[str, dict[str, Callable[[str], str]]] = {
    "/ppp/secret": {"remote-address": _ip, "local-address": _ip},
    "/ip/hotspot/user": {"address": _ip},
    "/queue/simple": {"target": _target},
    "/ip/firewall/address-list": {"address": _ip_or_net},
    "/ip/arp": {"address": _ip},
}


# ---------------------------------------------------------------- menus


@dataclass(frozen=True)
class MenuSpec:
    fields: frozenset[str]
    defaults: dict[str, str] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    unique: tuple[str, ...] = ()  # the combination must be unique
    unique_message: str = "failure: already have such entry"
    read_only: bool = False  # rows appear from the router itself (active sessions): print / remove
    singleton: bool = False
    ordered: bool = False  # rules: add accepts place-before
    auto_name: str | None = None  # prefix of generated names ("queue1")


_COMMON = {"comment", "disabled"}


def _spec(fields: Iterable[str], **kw: Any) -> MenuSpec:
    return MenuSpec(fields=frozenset(fields) | _COMMON, **kw)


_RULE_FIELDS = {
    "chain",
    "action",
    "src-address",
    "dst-address",
    "src-address-list",
    "dst-address-list",
    "protocol",
    "src-port",
    "dst-port",
    "in-interface",
    "out-interface",
    "in-interface-list",
    "out-interface-list",
    "connection-state",
    "jump-target",
    "reject-with",
    "log",
    "log-prefix",
    "to-addresses",
    "to-ports",
}

MENUS: dict[str, MenuSpec] = {
    "/ppp/secret": _spec(
        {
            "name",
            "password",
            "profile",
            "service",
            "local-address",
            "remote-address",
            "caller-id",
            "routes",
            "limit-bytes-in",
            "limit-bytes-out",
            "ipv6-routes",
        },
        defaults={
            "service": "any",
            "profile": "default",
            "password": "",
            "caller-id": "",
            "routes": "",
            "limit-bytes-in": "0",
            "limit-bytes-out": "0",
            "disabled": "false",
        },
        required=("name",),
        unique=("name",),
        unique_message="failure: secret with the same name already exists",
    ),
    "/ppp/active": _spec(
        {
            "name",
            "service",
            "caller-id",
            "address",
            "uptime",
            "encoding",
            "session-id",
            "radius",
            "limit-bytes-in",
            "limit-bytes-out",
        },
        defaults={"service": "pppoe", "uptime": "0s", "radius": "false", "encoding": ""},
        read_only=True,
    ),
    "/ppp/profile": _spec(
        {
            "name",
            "local-address",
            "remote-address",
            "rate-limit",
            "address-list",
            "only-one",
            "dns-server",
            "parent-queue",
            "change-tcp-mss",
            "use-encryption",
            "incoming-filter",
            "outgoing-filter",
        },
        defaults={"only-one": "default", "change-tcp-mss": "yes", "use-encryption": "default"},
        required=("name",),
        unique=("name",),
        unique_message="failure: profile with the same name already exists",
    ),
    "/ip/hotspot/user": _spec(
        {
            "name",
            "password",
            "server",
            "profile",
            "address",
            "mac-address",
            "email",
            "limit-uptime",
            "limit-bytes-in",
            "limit-bytes-out",
            "limit-bytes-total",
            "routes",
        },
        defaults={
            "server": "all",
            "profile": "default",
            "password": "",
            "uptime": "0s",
            "bytes-in": "0",
            "bytes-out": "0",
            "packets-in": "0",
            "packets-out": "0",
            "dynamic": "false",
            "disabled": "false",
        },
        required=("name",),
        unique=("name",),
        unique_message="failure: already have user with this name for this server",
    ),
    "/ip/hotspot/active": _spec(
        {
            "server",
            "user",
            "address",
            "mac-address",
            "login-by",
            "uptime",
            "session-time-left",
            "idle-time",
            "bytes-in",
            "bytes-out",
            "radius",
        },
        defaults={"server": "hotspot1", "login-by": "http-chap", "uptime": "0s", "radius": "false"},
        read_only=True,
    ),
    "/ip/hotspot/user/profile": _spec(
        {
            "name",
            "rate-limit",
            "shared-users",
            "address-list",
            "session-timeout",
            "idle-timeout",
            "keepalive-timeout",
            "status-autorefresh",
            "transparent-proxy",
            "address-pool",
            "parent-queue",
        },
        defaults={"shared-users": "1", "status-autorefresh": "1m", "transparent-proxy": "false"},
        required=("name",),
        unique=("name",),
        unique_message="failure: profile with the same name already exists",
    ),
    "/queue/simple": _spec(
        {
            "name",
            "target",
            "dst",
            "max-limit",
            "limit-at",
            "burst-limit",
            "burst-threshold",
            "burst-time",
            "priority",
            "parent",
            "queue",
            "packet-marks",
            "time",
            "bucket-size",
        },
        defaults={
            "max-limit": "0/0",
            "limit-at": "0/0",
            "burst-limit": "0/0",
            "burst-threshold": "0/0",
            "burst-time": "0s/0s",
            "priority": "8/8",
            "parent": "none",
            "queue": "default-small/default-small",
            "bucket-size": "0.1/0.1",
            "dynamic": "false",
            "invalid": "false",
            "disabled": "false",
        },
        required=("target",),
        unique=("name",),
        unique_message="failure: already have such name",
        auto_name="queue",
    ),
    "/ip/firewall/address-list": _spec(
        {"list", "address", "timeout"},
        defaults={"dynamic": "false", "creation-time": "2026-01-01 00:00:00", "disabled": "false"},
        required=("list", "address"),
        unique=("list", "address"),
    ),
    "/ip/firewall/filter": _spec(
        _RULE_FIELDS,
        defaults={
            "action": "accept",
            "log": "false",
            "dynamic": "false",
            "invalid": "false",
            "disabled": "false",
        },
        required=("chain",),
        ordered=True,
    ),
    "/ip/firewall/nat": _spec(
        _RULE_FIELDS,
        defaults={
            "action": "accept",
            "log": "false",
            "dynamic": "false",
            "invalid": "false",
            "disabled": "false",
        },
        required=("chain",),
        ordered=True,
    ),
    "/ip/arp": _spec(
        {"address", "mac-address", "interface", "published", "arp-authenticated"},
        defaults={
            "published": "false",
            "dynamic": "false",
            "invalid": "false",
            "DHCP": "false",
            "complete": "true",
            "disabled": "false",
        },
        required=("address", "interface"),
        unique=("address", "interface"),
        unique_message="failure: already have static entry for this address",
    ),
    "/system/identity": _spec({"name"}, defaults={"name": "MikroTik"}, singleton=True),
    "/system/resource": _spec(
        {"uptime", "version", "board-name", "cpu-load", "free-memory", "total-memory", "architecture-name"},
        defaults={
            "uptime": "1d2h3m4s",
            "version": "7.18.2 (stable)",
            "board-name": "hEX",
            "cpu-load": "3",
            "free-memory": "200000000",
            "total-memory": "268435456",
            "architecture-name": "mmips",
        },
        singleton=True,
        read_only=True,
    ),
}

_PRINT_ARGS = {".proplist", "detail", "count-only", "without-paging", "terse", "stats", "brief", "follow"}


class Trap(Exception):
    def __init__(self, message: str, category: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.category = category


class Fatal(Exception):
    pass


# ---------------------------------------------------------------- router state


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


class FakeRouter:
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
        self._lock = threading.RLock()
        self._rows: dict[str, list[dict[str, str]]] = {m: [] for m in MENUS}
        self._by_id: dict[str, dict[str, dict[str, str]]] = {m: {} for m in MENUS}
        self._unique: dict[str, dict[tuple[str, ...], str]] = {m: {} for m in MENUS}
        self._next_id = 1
        self._traps: list[_TrapRule] = []
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._down = False
        self._stopped = threading.Event()
        self._rows["/system/identity"].append({"name": identity})
        self._rows["/system/resource"].append(dict(MENUS["/system/resource"].defaults))
        for menu in ("/ppp/profile", "/ip/hotspot/user/profile"):
            self._insert(menu, {**MENUS[menu].defaults, "name": "default", "default": "true"})
        self._insert(
            "/ppp/profile",
            {
                **MENUS["/ppp/profile"].defaults,
                "name": "default-encryption",
                "use-encryption": "yes",
                "default": "true",
            },
        )

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

    # ------------------------------------------------------------ state access for tests
    def rows(self, menu: str) -> list[dict[str, str]]:
        with self._lock:
            return [dict(r) for r in self._rows[menu]]

    def find(self, menu: str, **attrs: str) -> list[dict[str, str]]:
        want = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [r for r in self.rows(menu) if all(r.get(k) == v for k, v in want.items())]

    def add_row(self, menu: str, **attrs: str) -> str:
        """Create a row directly (hand-made by an operator, or a session the router opened)."""
        values = {k.replace("_", "-"): str(v) for k, v in attrs.items()}
        with self._lock:
            return self._add(menu, values, from_api=False)

    def remove_row(self, menu: str, row_id: str) -> None:
        with self._lock:
            self._remove(menu, [row_id])

    def set_row(self, menu: str, row_id: str, **attrs: str) -> None:
        with self._lock:
            self._set(menu, row_id, {k.replace("_", "-"): str(v) for k, v in attrs.items()}, from_api=False)

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

    def _dispatch(
        self, command: str, attrs: dict[str, str], api_attrs: dict[str, str], queries: list[str]
    ) -> tuple[list[dict[str, str]], str | None]:
        menu, _, verb = command.rpartition("/")
        if menu not in MENUS:
            raise Trap("no such command prefix", 0)
        spec = MENUS[menu]
        with self._lock:
            if verb in ("print", "getall"):
                return self._print(menu, attrs, api_attrs, queries)
            if spec.singleton:
                if verb == "set" and not spec.read_only:
                    unknown = set(attrs) - spec.fields
                    if unknown:
                        raise Trap(f"unknown parameter {sorted(unknown)[0]}", 0)
                    self._rows[menu][0].update(attrs)
                    return [], None
                raise Trap("no such command", 0)
            if verb == "add" and not spec.read_only:
                return [], self._add(menu, attrs, from_api=True)
            if verb == "set" and not spec.read_only:
                for row_id in self._ids(attrs):
                    self._set(
                        menu,
                        row_id,
                        {k: v for k, v in attrs.items() if k not in (".id", "numbers")},
                        from_api=True,
                    )
                return [], None
            if verb == "unset" and not spec.read_only:
                name = attrs.get("value-name", "")
                if name not in spec.fields:
                    raise Trap(f"unknown parameter {name}", 0)
                for row_id in self._ids(attrs):
                    row = self._row(menu, row_id)
                    self._unindex(menu, row)
                    row.pop(name, None)
                    if name in spec.defaults:
                        row[name] = spec.defaults[name]
                    self._index(menu, row)
                return [], None
            if verb in ("enable", "disable") and not spec.read_only:
                for row_id in self._ids(attrs):
                    self._row(menu, row_id)["disabled"] = "true" if verb == "disable" else "false"
                return [], None
            if verb == "remove":
                self._remove(menu, self._ids(attrs))
                return [], None
        raise Trap("no such command", 0)

    @staticmethod
    def _ids(attrs: dict[str, str]) -> list[str]:
        raw = attrs.get(".id") or attrs.get("numbers")
        if not raw:
            raise Trap("missing =.id= argument", 1)
        return [x.strip() for x in raw.split(",") if x.strip()]

    def _row(self, menu: str, row_id: str) -> dict[str, str]:
        row = self._by_id[menu].get(row_id)
        if row is None:
            raise Trap("no such item", 1)
        return row

    # unique keys are indexed so that a router with thousands of entries answers as fast as RouterOS
    def _unique_key(self, menu: str, row: dict[str, str]) -> tuple[str, ...] | None:
        unique = MENUS[menu].unique
        if not unique or any(k not in row for k in unique):
            return None
        return tuple(row[k] for k in unique)

    def _index(self, menu: str, row: dict[str, str]) -> None:
        key = self._unique_key(menu, row)
        if key is not None:
            self._unique[menu][key] = row[".id"]

    def _unindex(self, menu: str, row: dict[str, str]) -> None:
        key = self._unique_key(menu, row)
        if key is not None and self._unique[menu].get(key) == row[".id"]:
            del self._unique[menu][key]

    def _print(
        self, menu: str, attrs: dict[str, str], api_attrs: dict[str, str], queries: list[str]
    ) -> tuple[list[dict[str, str]], str | None]:
        for k in attrs:
            if k not in _PRINT_ARGS:
                raise Trap(f"unknown parameter {k}", 0)
        try:
            pred = compile_query(queries)
        except WireError as exc:
            raise Trap(str(exc), 0) from exc
        rows = [r for r in self._rows[menu] if pred(r)]
        if "count-only" in attrs:
            return [], str(len(rows))
        proplist = api_attrs.get(".proplist") or attrs.get(".proplist")
        if proplist:
            keys = [k for k in proplist.split(",") if k]
            return [{k: r[k] for k in keys if k in r} for r in rows], None
        return [dict(r) for r in rows], None

    def _normalise(self, menu: str, key: str, value: str) -> str:
        fn = _NORMALISE_PER_MENU.get(menu, {}).get(key) or _NORMALISE.get(key)
        if fn is None:
            return value
        try:
            return fn(value)
        except ValueError_:
            raise Trap(f"invalid value for argument {key}", 1) from None

    def _insert(self, menu: str, row: dict[str, str], before: str | None = None) -> str:
        row_id = f"*{self._next_id:X}"
        self._next_id += 1
        new = {".id": row_id, **row}
        rows = self._rows[menu]
        if before is not None:
            for i, r in enumerate(rows):
                if r[".id"] == before:
                    rows.insert(i, new)
                    break
            else:
                raise Trap("no such item", 1)
        else:
            rows.append(new)
        self._by_id[menu][row_id] = new
        self._index(menu, new)
        return row_id

    def _add(self, menu: str, attrs: dict[str, str], *, from_api: bool) -> str:
        spec = MENUS[menu]
        values = dict(attrs)
        before = values.pop("place-before", None) if spec.ordered else None
        if from_api:
            unknown = set(values) - spec.fields
            if unknown:
                raise Trap(f"unknown parameter {sorted(unknown)[0]}", 0)
            for req in spec.required:
                if not values.get(req):
                    raise Trap(f"failure: {req} not specified", 1)
        values = {k: self._normalise(menu, k, v) for k, v in values.items()}
        if spec.auto_name and not values.get("name"):
            n = 1
            names = {r.get("name") for r in self._rows[menu]}
            while f"{spec.auto_name}{n}" in names:
                n += 1
            values["name"] = f"{spec.auto_name}{n}"
        self._check_unique(menu, values, None)
        row = {**spec.defaults, **values}
        return self._insert(menu, row, before)

    def _set(self, menu: str, row_id: str, attrs: dict[str, str], *, from_api: bool) -> None:
        spec = MENUS[menu]
        if from_api:
            unknown = set(attrs) - spec.fields
            if unknown:
                raise Trap(f"unknown parameter {sorted(unknown)[0]}", 0)
        row = self._row(menu, row_id)
        values = {k: self._normalise(menu, k, v) for k, v in attrs.items()}
        self._check_unique(menu, {**row, **values}, row_id)
        self._unindex(menu, row)
        row.update(values)
        self._index(menu, row)

    def _check_unique(self, menu: str, values: dict[str, str], row_id: str | None) -> None:
        key = self._unique_key(menu, values)
        if key is None:
            return
        holder = self._unique[menu].get(key)
        if holder is not None and holder != row_id:
            raise Trap(MENUS[menu].unique_message, 1)

    def _remove(self, menu: str, ids: list[str]) -> None:
        for i in ids:
            if i not in self._by_id[menu]:
                raise Trap("no such item", 1)
        wanted = set(ids)
        for i in wanted:
            self._unindex(menu, self._by_id[menu].pop(i))
        self._rows[menu] = [r for r in self._rows[menu] if r[".id"] not in wanted]
