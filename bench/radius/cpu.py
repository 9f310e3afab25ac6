"""CPU per RADIUS request on the service's own code path, without sockets or datastore latency.

    .venv/bin/python -m bench.radius.cpu [--batches 15] [--batch 1000]

Decoded packets go through the server's Access-Request and Accounting-Request operations
(``_authorize`` / ``_account``: decode, credentials, policy, reply encoding; accounting plan and
writes) on the in-memory datastore double answering at once, with the bench policy of
:mod:`bench.radius.serve`. Prints one JSON line per kind: the best batch's process CPU per request
(the least disturbed by other load on a shared machine) and the median, in microseconds. What the
full benchmark (``bench.radius.run``) adds on top of this is the I/O: UDP, the hand-off to request
threads and the datastore round trips.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "functions"))

from pyrad.dictionary import Dictionary
from pyrad.packet import AccessRequest, AccountingRequest, AcctPacket, AuthPacket

from bench.radius.serve import load_store
from radius_container.app import DICTIONARY_PATH, build_service
from radius_container.codec import AcctRequest, AuthRequest
from shared.crypto import SecretBox, StaticKeyProvider
from tests.fakes.radius_store import InMemoryRadiusStore

SECRET = b"bench-cpu"
USERS = 3000


def _access(d: Dictionary, n: int) -> list[bytes]:
    out = []
    for i in range(n):
        p = AuthPacket(
            code=AccessRequest, id=i % 256, secret=SECRET, dict=d, authenticator=secrets.token_bytes(16)
        )
        p["User-Name"] = f"user{i % USERS}"
        p["User-Password"] = p.PwCrypt(f"pw{i % USERS}")
        p["NAS-IP-Address"] = "127.0.0.1"
        p["NAS-Port-Type"] = "Ethernet"
        p["Calling-Station-Id"] = "02-00-00-00-00-01"
        out.append(p.RequestPacket())
    return out


def _accounting(d: Dictionary, n: int, tag: str) -> list[bytes]:
    """Start, Interim-Update and Stop of n // 3 new sessions (so nothing is a duplicate)."""
    out = []
    for i in range(max(1, n // 3)):
        for status, t in (("Start", 0), ("Interim-Update", 300), ("Stop", 600)):
            p = AcctPacket(code=AccountingRequest, id=i % 256, secret=SECRET, dict=d)
            p["User-Name"] = f"user{i % USERS}"
            p["Acct-Status-Type"] = status
            p["Acct-Session-Id"] = f"{tag}-{i}"
            p["NAS-IP-Address"] = "127.0.0.1"
            p["Framed-IP-Address"] = "10.0.0.1"
            p["Calling-Station-Id"] = "02-00-00-00-00-01"
            p["Acct-Session-Time"] = t
            p["Acct-Input-Octets"] = t * 1000
            p["Acct-Output-Octets"] = t * 5000
            out.append(p.RequestPacket())
    return out


def _measure(
    run: Callable[[list[bytes]], None], make: Callable[[int], list[bytes]], batches: int, size: int
) -> list[float]:
    run(make(min(size, 300)))  # warm the caches
    per_request = []
    for _ in range(batches):
        packets = make(size)
        started = time.process_time()
        run(packets)
        per_request.append(1e6 * (time.process_time() - started) / len(packets))
    return per_request


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=15)
    parser.add_argument("--batch", type=int, default=1000, help="requests per batch")
    args = parser.parse_args(argv)

    box = SecretBox(StaticKeyProvider(secrets.token_bytes(32)))
    store = InMemoryRadiusStore(latency_s=0)
    load_store(store, box, [(f"user{i}", f"pw{i}") for i in range(USERS)], SECRET.decode())
    server = build_service(store, box.decrypt, auth_port=0, acct_port=0, reaper_s=None).server
    server.registry.reload()
    nas = server.registry.get("127.0.0.1")
    assert nas is not None
    d = Dictionary(DICTIONARY_PATH)

    def authorize(packets: list[bytes]) -> None:
        for raw in packets:
            if server._authorize(nas, AuthRequest(secret=nas.secret, dict=server.dict, packet=raw)) is None:
                raise RuntimeError("an Access-Request was not answered")

    def account(packets: list[bytes]) -> None:
        for raw in packets:
            pkt = AcctRequest(secret=nas.secret, dict=server.dict, packet=raw)
            if not pkt.VerifyAcctRequest() or server._account(nas, pkt) is None:
                raise RuntimeError("an Accounting-Request was not answered")

    rounds = iter(range(1_000_000))
    kinds: dict[str, tuple[Callable[[list[bytes]], None], Callable[[int], list[bytes]]]] = {
        "access_request": (authorize, lambda n: _access(d, n)),
        "accounting_request": (account, lambda n: _accounting(d, n, f"r{next(rounds)}")),
    }
    for kind, (run, make) in kinds.items():
        cpu = _measure(run, make, args.batches, args.batch)
        emit(
            bench="radius_cpu",
            request=kind,
            cpu_us_best=round(min(cpu), 1),
            cpu_us_median=round(statistics.median(cpu), 1),
            batches=args.batches,
            batch=args.batch,
            load_average_1m=round(os.getloadavg()[0], 2),
        )


def emit(**fields: Any) -> None:
    print(json.dumps(fields, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
