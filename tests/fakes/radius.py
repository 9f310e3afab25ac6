"""Helpers for driving the RADIUS service over UDP in tests: a threaded server harness, a settable
clock, pyrad clients and an MS-CHAPv2 client (RFC 2759) that checks the server's MS-CHAP2-Success."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pyrad.client import Client
from pyrad.dictionary import Dictionary
from pyrad.packet import (
    AccessRequest,
    AccountingRequest,
    AuthPacket,
    CoANAK,
    CoAPacket,
    DisconnectNAK,
    DisconnectRequest,
)

from adapters.dynauth import DynAuthSender
from core.radius import DICTIONARY_PATH, mschap
from radius_container.app import RadiusService, RadiusThread, build_service, load_modulator, start_in_thread
from store.radius_repo import RadiusStore

DICTIONARY = Dictionary(DICTIONARY_PATH)


class Clock:
    """A settable clock for the server: rules about days, weeks and hours need a fixed 'now'."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


# Ceilings for waiting on the service: generous, so a busy machine cannot fail a test. A wait ends as
# soon as its condition holds; only a broken service ever waits this long.
ANSWER_TIMEOUT_S = 10.0
ANSWER_RETRIES = 2
CONDITION_CEILING_S = 60.0


def wait_for(condition: Callable[[], object], what: str, ceiling: float = CONDITION_CEILING_S) -> None:
    """Poll until ``condition()`` is true; fail with ``what`` after the ceiling."""
    deadline = time.monotonic() + ceiling
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {ceiling:.0f} s")
        time.sleep(0.01)


class RadiusHarness:
    """The real service (real code path) on ephemeral loopback ports, in a background event loop."""

    def __init__(
        self,
        store: RadiusStore,
        decrypt: Callable[[str], str],
        clock: Callable[[], datetime] | None = None,
        dynauth: DynAuthSender | None = None,
        workers: int = 8,
        health_port: int = 0,
        counter_flush_s: float | None = None,
    ) -> None:
        self.clock = clock or Clock(datetime(2026, 11, 18, 17, 0, tzinfo=UTC))  # Wed 11:00 in Mexico City
        self.health_port = health_port
        self.service: RadiusService = build_service(
            store,
            decrypt,
            auth_port=0,
            acct_port=0,
            cache_ttl=0.0,
            workers=workers,
            clock=self.clock,
            dynauth=dynauth,
            modulator=load_modulator(),
            reaper_s=None,
            refresh_s=3600,
            counter_flush_s=counter_flush_s,
        )
        self._running: RadiusThread | None = None

    def __enter__(self) -> RadiusHarness:
        self._running = start_in_thread(self.service, "127.0.0.1", self.health_port)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._running is not None:
            self._running.stop()

    @property
    def stats(self) -> Any:
        return self.service.server.stats

    def reload_nas(self) -> None:
        self.service.registry.reload()

    def expect_dropped(
        self, raw: bytes, counter: str, *, source_ip: str = "127.0.0.1", acct: bool = False
    ) -> None:
        """Send ``raw`` from ``source_ip``; the service must drop it: wait until ``counter`` grows
        (dropping is decided on arrival, before any answer), then check that nothing was answered."""
        before = self.stats[counter]
        port = self.service.acct_port if acct else self.service.auth_port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((source_ip, 0))
            sock.sendto(raw, ("127.0.0.1", port))
            wait_for(lambda: self.stats[counter] > before, f"{counter} counted")
            sock.setblocking(False)
            try:
                answer = sock.recv(4096)
            except BlockingIOError:
                return
            raise AssertionError(f"a dropped packet was answered: {answer[:20].hex()}")

    def client(
        self, secret: bytes = b"testing123", timeout: float = ANSWER_TIMEOUT_S, retries: int = ANSWER_RETRIES
    ) -> Client:
        return Client(
            server="127.0.0.1",
            authport=self.service.auth_port,
            acctport=self.service.acct_port,
            secret=secret,
            dict=DICTIONARY,
            timeout=timeout,
            retries=retries,
            enforce_ma=True,
        )


# ---------------------------------------------------------------- request builders
def pap_request(client: Client, user: str, password: str, **attrs: Any) -> AuthPacket:
    req = client.CreateAuthPacket(code=AccessRequest, User_Name=user)
    req["User-Password"] = req.PwCrypt(password)
    for name, value in attrs.items():
        req.AddAttribute(name.replace("_", "-"), value)
    return req


@dataclass
class MsChapV2Exchange:
    request: AuthPacket
    authenticator_challenge: bytes
    peer_challenge: bytes
    nt_response: bytes
    password_hash: bytes
    user: str

    def expected_success(self) -> str:
        return mschap.authenticator_response(
            self.password_hash, self.nt_response, self.peer_challenge, self.authenticator_challenge, self.user
        )


def mschapv2_request(client: Client, user: str, password: str, **attrs: Any) -> MsChapV2Exchange:
    """Build MS-CHAP-Challenge + MS-CHAP2-Response per RFC 2759, as a PPPoE NAS relays them."""
    auth_challenge, peer_challenge = os.urandom(16), os.urandom(16)
    pw_hash = mschap.nt_password_hash(password)
    nt_response = mschap.generate_nt_response(auth_challenge, peer_challenge, user, pw_hash)
    req = client.CreateAuthPacket(code=AccessRequest, User_Name=user)
    req["MS-CHAP-Challenge"] = auth_challenge
    req["MS-CHAP2-Response"] = b"\x07\x00" + peer_challenge + b"\x00" * 8 + nt_response
    for name, value in attrs.items():
        req.AddAttribute(name.replace("_", "-"), value)
    return MsChapV2Exchange(req, auth_challenge, peer_challenge, nt_response, pw_hash, user)


def acct_request(client: Client, status: str, user: str, session_id: str, **attrs: Any) -> Any:
    req = client.CreateAcctPacket(code=AccountingRequest, User_Name=user)
    req["Acct-Status-Type"] = status
    req["Acct-Session-Id"] = session_id
    for name, value in attrs.items():
        req.AddAttribute(name.replace("_", "-"), value)
    return req


class FakeNas:
    """A NAS's RFC 5176 listener on loopback: answers Disconnect/CoA requests with ACK, NAK or silence."""

    def __init__(self, secret: bytes, ip: str = "127.0.0.1", mode: str = "ack") -> None:
        self.secret = secret
        self.mode = mode  # ack | nak | nak-not-found | silent
        self.received: list[Any] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((ip, 0))
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeNas:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self._sock.recvfrom(4096)
            except OSError:
                continue
            req = CoAPacket(secret=self.secret, dict=DICTIONARY, packet=data)
            if not req.VerifyCoARequest() or (
                req.message_authenticator and not req.verify_message_authenticator()
            ):
                continue
            self.received.append(req)
            if self.mode == "silent":
                continue
            reply = req.CreateReply()
            if self.mode.startswith("nak"):
                reply.code = DisconnectNAK if req.code == DisconnectRequest else CoANAK
                reply["Error-Cause"] = 503 if self.mode == "nak-not-found" else 501
            self._sock.sendto(reply.ReplyPacket(), addr)
