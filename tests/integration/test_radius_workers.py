"""Several RADIUS worker processes on one pair of ports (radius_container.pool), over UDP with pyrad.

The workers are separate processes: they share a moto server (DynamoDB over HTTP), as production
workers share DynamoDB.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer
from pyrad.client import Client
from pyrad.packet import AccessAccept, AccountingResponse

from composition import init_runtime
from core.ids import now_iso
from radius_container.pool import RadiusPool, WorkerSpec
from shared.crypto import StaticKeyProvider
from shared.runtime import Runtime
from store.models import Gateway, Policy, Product, Session, Subscriber
from store.radius_repo import DynamoRadiusStore
from tests.conftest import make_settings
from tests.fakes.radius import DICTIONARY, acct_request, pap_request

TENANT = "ten_workers"
SECRET = b"secret-workers"
CEILING_S = 30.0


@dataclass
class Datastore:
    runtime: Runtime
    endpoint: str
    key: bytes

    def spec(self, **kwargs: Any) -> WorkerSpec:
        return WorkerSpec(
            "tests.fakes.radius_workers:moto_worker",
            {
                "endpoint": self.endpoint,
                "table_prefix": self.runtime.settings.table_prefix,
                "key_hex": self.key.hex(),
                **kwargs,
            },
        )

    def subscriber(self, username: str) -> str:
        now = now_iso()
        Subscriber(
            login=f"{TENANT}#{username}",
            id=f"sub_{username}",
            tenant_id=TENANT,
            username=username,
            password_enc=self.runtime.box.encrypt(f"pw-{username}"),
            status="active",
            product_id="prod_w",
            product_assigned_at="2026-11-01T06:00:00.000000Z",
            connection_type="pppoe",
            created_at=now,
        ).save()
        return f"{TENANT}#{username}"


@pytest.fixture(scope="module")
def datastore() -> Iterator[Datastore]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    key = secrets.token_bytes(32)
    try:
        runtime = init_runtime(make_settings(aws_endpoint_url=endpoint), StaticKeyProvider(key))
        for model in (Gateway, Policy, Product, Subscriber, Session):
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        now = now_iso()
        Gateway(
            id="gw_workers",
            tenant_id=TENANT,
            name="Workers",
            nas_ip="127.0.0.1",
            radius_secret_enc=runtime.box.encrypt(SECRET.decode()),
            timezone="America/Mexico_City",
            created_at=now,
        ).save()
        Policy(
            id="pol_w",
            tenant_id=TENANT,
            code="W",
            download_rate=5_000_000,
            upload_rate=5_000_000,
            created_at=now,
        ).save()
        Product(id="prod_w", tenant_id=TENANT, name="W", policy_id="pol_w", created_at=now).save()
        yield Datastore(runtime, endpoint, key)
    finally:
        server.stop()
        init_runtime(make_settings(), StaticKeyProvider(key))  # unbind the models from this server


@pytest.fixture(scope="module")
def pool(datastore: Datastore) -> Iterator[RadiusPool]:
    with RadiusPool(datastore.spec(), workers=2, bind="127.0.0.1", auth_port=0, acct_port=0) as running:
        yield running


def _client(pool: RadiusPool) -> Client:
    return Client(
        server="127.0.0.1",
        authport=pool.auth_port,
        acctport=pool.acct_port,
        secret=SECRET,
        dict=DICTIONARY,
        timeout=5,
        retries=2,
        enforce_ma=True,
    )


def _total(stats: list[dict[str, int]], name: str) -> int:
    return sum(s.get(name, 0) for s in stats)


def test_several_workers_answer_on_one_port(datastore: Datastore, pool: RadiusPool):
    datastore.subscriber("alice")
    client = _client(pool)
    before = pool.stats()
    for identifier in range(16):
        req = pap_request(client, "alice", "pw-alice")
        req.id = identifier
        assert client.SendPacket(req).code == AccessAccept
    after = pool.stats()
    per_worker = [a.get("access_requests", 0) - b.get("access_requests", 0) for a, b in zip(after, before)]
    assert len(set(pool.pids)) == 2
    assert sum(per_worker) == 16
    assert all(n > 0 for n in per_worker), per_worker  # both processes served this one NAS


def _usage(login: str) -> tuple[int, dict[str, int]]:
    """The open session's input octets and the subscriber's usage counters, as stored."""
    sub = DynamoRadiusStore().get_subscriber(login)
    assert sub is not None
    session = next(iter(sub.open_sessions.values()))
    return session.input_octets, sub.usage


def test_retransmission_on_another_worker_is_counted_once(datastore: Datastore, pool: RadiusPool):
    login = datastore.subscriber("bob")
    client = _client(pool)
    start = acct_request(client, "Start", "bob", "W-1")
    assert client.SendPacket(start).code == AccountingResponse
    interim = acct_request(
        client, "Interim-Update", "bob", "W-1", Acct_Session_Time=300, Acct_Input_Octets=1000
    )
    interim.id = 77
    before = pool.stats()
    assert client.SendPacket(interim).code == AccountingResponse
    # a retransmission from the same flow reaches the same worker and is answered from its cache
    assert client.SendPacket(interim).code == AccountingResponse
    after = pool.stats()
    served = [
        i
        for i, (a, b) in enumerate(zip(after, before))
        if a.get("accounting_requests", 0) > b.get("accounting_requests", 0)
    ]
    assert len(served) == 1
    assert _total(after, "duplicates") - _total(before, "duplicates") == 1
    recorded = _usage(login)
    assert recorded[0] == 1000 and sum(recorded[1].values()) > 0

    # the worker that saw it restarts: the next retransmission is processed by a worker that never saw it
    pool.replace_worker(served[0])
    before = pool.stats()
    assert client.SendPacket(interim).code == AccountingResponse
    after = pool.stats()
    assert _total(after, "accounting_requests") - _total(before, "accounting_requests") == 1
    assert _total(after, "duplicates") - _total(before, "duplicates") == 0
    assert _usage(login) == recorded  # nothing counted twice


def test_stop_answers_the_accounting_write_in_flight(datastore: Datastore, tmp_path: Path):
    login = datastore.subscriber("carol")
    marker = tmp_path / "write-started"
    spec = datastore.spec(write_marker=str(marker), write_delay_s=1.0)
    running = RadiusPool(spec, workers=2, bind="127.0.0.1", auth_port=0, acct_port=0).start()
    replies: list[Any] = []
    try:
        client = _client(running)
        client.retries = 1  # the answer must come from the worker that is stopping
        start = acct_request(client, "Start", "carol", "W-2", Acct_Input_Octets=10)
        sender = threading.Thread(target=lambda: replies.append(client.SendPacket(start)))
        sender.start()
        deadline = time.monotonic() + CEILING_S
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists()
    finally:
        running.stop()  # while the write is in progress
    sender.join(CEILING_S)
    assert [r.code for r in replies] == [AccountingResponse]
    assert _total(running.final_stats, "accounting_responses") == 1
    sub = DynamoRadiusStore().get_subscriber(login)
    assert sub is not None and [s.acct_session_id for s in sub.open_sessions.values()] == ["W-2"]
