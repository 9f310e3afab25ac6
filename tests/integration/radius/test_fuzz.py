"""Fuzzing the UDP ports: 10,000+ malformed, truncated, oversized and garbage-attribute packets.

The server must never crash, never send an Access-Accept for them, and keep answering valid
requests. Many packets carry a valid Message-Authenticator / Request Authenticator so they get past
the first checks into attribute decoding, credential checks and accounting.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import socket
import struct
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.radius.model import GatewayView, PolicyView, ProductView, SubscriberView
from shared.crypto import SecretBox, StaticKeyProvider
from tests.fakes.radius import RadiusHarness, pap_request
from tests.fakes.radius_store import InMemoryRadiusStore

SECRET = b"testing123"
BATCH = 100
EXAMPLES = 100  # x BATCH = 10,000 packets

BOX = SecretBox(StaticKeyProvider(b"k" * 32))


@pytest.fixture(scope="module")
def server() -> Iterator[RadiusHarness]:
    store = InMemoryRadiusStore()
    store.gateways["127.0.0.1"] = GatewayView(
        id="gw",
        tenant_id="t",
        name="Fuzz",
        nas_ip="127.0.0.1",
        secret_enc=BOX.encrypt(SECRET.decode()),
        timezone="UTC",
    )
    store.policies["pol"] = PolicyView(
        id="pol", download_rate=1_000_000, upload_rate=500_000, concurrent_connections=2
    )
    store.products["prod"] = ProductView(id="prod", policy_id="pol")
    store.subscribers["t#demo"] = SubscriberView(
        login="t#demo",
        id="sub",
        tenant_id="t",
        username="demo",
        password_enc=BOX.encrypt("demo123"),
        product_id="prod",
        product_assigned_at="2026-11-01T00:00:00.000000Z",
    )
    with RadiusHarness(store, BOX.decrypt, clock=lambda: datetime(2026, 11, 18, 12, tzinfo=UTC)) as h:
        yield h


def _attrs(items: list[tuple[int, bytes, int | None]]) -> bytes:
    out = b""
    for code, value, lie in items:
        value = value[:253]
        length = (len(value) + 2) if lie is None else lie
        out += bytes([code, length & 0xFF]) + value
    return out


def _sign_access(ident: int, authenticator: bytes, attrs: bytes) -> bytes:
    body = bytes([80, 18]) + b"\x00" * 16 + attrs
    header = struct.pack("!BBH", 1, ident, 20 + len(body))
    mac = hmac.new(SECRET, header + authenticator + body, hashlib.md5).digest()
    return header + authenticator + bytes([80, 18]) + mac + attrs


def _sign_accounting(ident: int, attrs: bytes) -> bytes:
    header = struct.pack("!BBH", 4, ident, 20 + len(attrs))
    return header + hashlib.md5(header + b"\x00" * 16 + attrs + SECRET).digest() + attrs


VENDORS = (311, 14988, 14122, 9)
INTERESTING = (1, 2, 3, 26, 31, 33, 60, 79, 80)
KINDS = ("random", "truncated", "bad_length", "signed", "unsigned", "oversized", "acct")


def _attribute(rng: random.Random) -> tuple[int, bytes, int | None]:
    code = rng.choice(INTERESTING) if rng.random() < 0.5 else rng.randrange(256)
    shape = rng.randrange(4)
    if shape == 0:
        value = rng.randbytes(rng.randrange(41))
    elif shape == 1:
        value = rng.randbytes(rng.randrange(200, 261))
    elif shape == 2:  # vendor-specific with a sub-attribute that may lie about its length
        inner = rng.randbytes(rng.randrange(61))
        value = (
            struct.pack("!I", rng.choice(VENDORS))
            + bytes([rng.randrange(256), (len(inner) + 2) & 0xFF])
            + inner
        )
    else:
        value = b"demo"
    lie = rng.randrange(256) if rng.random() < 0.2 else None  # sometimes the length field lies
    return code, value, lie


def hostile_packet(rng: random.Random, kind: str | None = None) -> tuple[str, bytes]:
    """One hostile packet of the given (or a random) kind, reproducible from the generator's seed."""
    kind = kind or rng.choice(KINDS)
    ident, auth = rng.randrange(256), rng.randbytes(16)
    attrs = _attrs([_attribute(rng) for _ in range(rng.randrange(13))])
    port = "acct" if kind == "acct" or rng.random() < 0.1 else "auth"
    if kind == "random":
        return port, rng.randbytes(rng.randrange(301))
    if kind == "truncated":
        full = _sign_access(ident, auth, attrs)
        return port, full[: rng.randrange(len(full))]
    if kind == "bad_length":
        full = _sign_access(ident, auth, attrs)
        return port, full[:2] + struct.pack("!H", rng.randrange(65536)) + full[4:]
    if kind == "signed":
        return port, _sign_access(ident, auth, attrs)
    if kind == "unsigned":
        return port, struct.pack("!BBH", rng.randrange(256), ident, 20 + len(attrs)) + auth + attrs
    if kind == "oversized":
        big = attrs
        while len(big) < 4200:
            big += bytes([18, 255]) + rng.randbytes(253)
        return port, _sign_access(ident, auth, big)
    return "acct", _sign_accounting(ident, attrs)


# Hypothesis picks the seed and the kind mix of each batch of 100 packets (cheap to draw, so 10,000
# packets take seconds); a failing batch is reproducible from its seed.
@given(seed=st.integers(0, 2**64 - 1), kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=7))
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
def _hostile_batches(server: RadiusHarness, seed: int, kinds: list[str]) -> None:
    rng = random.Random(seed)
    batch = [hostile_packet(rng, rng.choice(kinds)) for _ in range(BATCH)]
    ports = {"auth": server.service.auth_port, "acct": server.service.acct_port}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        for port, data in batch:
            s.sendto(data, ("127.0.0.1", ports[port]))
        _SENT[0] += len(batch)
        # the server keeps answering a valid request...
        client = server.client()
        assert client.SendPacket(pap_request(client, "demo", "demo123")).code == 2
        # ...and whatever it answered to the hostile packets, none is an Access-Accept
        s.setblocking(False)
        while True:
            try:
                reply = s.recv(8192)
            except BlockingIOError:
                break
            assert reply[:1] != b"\x02", "hostile packet accepted"


_SENT = [0]


def test_hostile_packets_never_crash_or_accept(server: RadiusHarness) -> None:
    """At least 10,000 malformed, truncated, oversized or forged packets: no crash, no Accept, and the
    server keeps answering valid requests (checked after every batch)."""
    _SENT[0] = 0
    _hostile_batches(server)
    assert _SENT[0] >= 10_000
    counts = server.stats.counts
    assert sum(counts.values()) > 0 and counts["errors"] == 0
