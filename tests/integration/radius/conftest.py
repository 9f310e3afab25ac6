"""One moto datastore and one running RADIUS service for the whole package (creating the tables
takes seconds); each test creates its own policy, product, subscriber and, when it needs other
gateway settings, its own gateway on another loopback address."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from moto import mock_aws
from pyrad.client import Client

from core.ids import now_iso
from infra.local.demo import DEMO_TENANT, DemoData, seed_demo
from shared.runtime import Runtime
from store.models import (
    Gateway,
    Operator,
    Policy,
    Product,
    Session,
    Subscriber,
    Tally,
    Tenant,
    UsageHour,
    Zone,
)
from store.radius_repo import DynamoRadiusStore
from tests.conftest import new_runtime
from tests.fakes.radius import Clock, RadiusHarness

# Wednesday 18 November 2026, 11:00 in Mexico City (the demo gateway's zone)
NOW = datetime(2026, 11, 18, 17, 0, tzinfo=UTC)
ASSIGNED = "2026-11-01T06:00:00.000000Z"
RADIUS_TABLES = (Tenant, Zone, Operator, Gateway, Policy, Product, Subscriber, Session, UsageHour, Tally)


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    subscriber_id: str
    login: str
    policy_id: str
    product_id: str


@dataclass
class RadiusEnv:
    runtime: Runtime
    demo: DemoData
    harness: RadiusHarness
    clock: Clock
    store: DynamoRadiusStore
    _next_ip: int = 10

    def client(self, secret: bytes = b"testing123", source_ip: str | None = None, **kw: Any) -> Client:
        c = self.harness.client(secret, **kw)
        if source_ip:
            c.bind((source_ip, 0))
        return c

    def account(
        self,
        policy: dict[str, Any] | None = None,
        product: dict[str, Any] | None = None,
        subscriber: dict[str, Any] | None = None,
    ) -> Account:
        uid = secrets.token_hex(4)
        now = now_iso()
        Policy(
            id=f"pol_{uid}",
            tenant_id=DEMO_TENANT,
            code=f"P{uid}",
            created_at=now,
            **{"download_rate": 10_000_000, "upload_rate": 2_000_000, **(policy or {})},
        ).save()
        Product(
            id=f"prod_{uid}",
            tenant_id=DEMO_TENANT,
            name=f"Plan {uid}",
            policy_id=f"pol_{uid}",
            created_at=now,
            **(product or {}),
        ).save()
        fields = {
            "status": "active",
            "product_id": f"prod_{uid}",
            "product_assigned_at": ASSIGNED,
            "connection_type": "hotspot",
            **(subscriber or {}),
        }
        username = str(fields.pop("username", f"user{uid}"))
        password = f"pw-{uid}"
        login = f"{DEMO_TENANT}#{username.lower()}"
        Subscriber(
            login=login,
            id=f"sub_{uid}",
            tenant_id=DEMO_TENANT,
            username=username,
            password_enc=self.runtime.box.encrypt(password),
            created_at=now,
            **fields,
        ).save()
        return Account(username, password, f"sub_{uid}", login, f"pol_{uid}", f"prod_{uid}")

    def gateway(self, octet: int | None = None, **fields: Any) -> str:
        """A gateway on loopback address 127.0.0.<octet> (secret ``secret-<octet>``); returns its address.

        Without ``octet`` the next free address from 11 up is used; tests that need a given address
        (a fake NAS bound to it) pass one from 60 up, so the two never collide whatever the test order.
        """
        if octet is None:
            self._next_ip += 1
            octet = self._next_ip
        ip = f"127.0.0.{octet}"
        Gateway(
            id=f"gw_{octet}",
            tenant_id=DEMO_TENANT,
            name=f"Router {octet}",
            nas_ip=ip,
            radius_secret_enc=self.runtime.box.encrypt(f"secret-{octet}"),
            created_at=now_iso(),
            **{"timezone": "America/Mexico_City", **fields},
        ).save()
        self.harness.reload_nas()
        return ip


@pytest.fixture(scope="package")
def radius_env() -> Iterator[RadiusEnv]:
    with mock_aws():
        runtime = new_runtime(
            tables=RADIUS_TABLES
        )  # only what RADIUS and the demo data use: each table costs a client
        demo = seed_demo(runtime.box)
        clock = Clock(NOW)
        store = DynamoRadiusStore()
        with RadiusHarness(store, runtime.box.decrypt, clock=clock) as harness:
            yield RadiusEnv(runtime, demo, harness, clock, store)


@pytest.fixture
def env(radius_env: RadiusEnv) -> Iterator[RadiusEnv]:
    radius_env.clock.now = NOW
    yield radius_env
    radius_env.clock.now = NOW
