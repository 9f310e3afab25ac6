"""Fixtures of the customer-portal tests: the module's world with the demo data and a Chalice test
client; tests keep out of each other's way by using their own subscribers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chalice.test import Client

from api.app import app
from infra.local.demo import seed_demo
from shared.runtime import Runtime
from store.models import TokenRecord
from tests.integration.portal.support import Portal


@pytest.fixture(scope="module")
def portal_env(world: Runtime) -> Iterator[Portal]:
    demo = seed_demo(world.box)
    with Client(app) as client:
        yield Portal(client, world, demo)


@pytest.fixture
def portal(portal_env: Portal) -> Portal:
    """The module's environment with the sign-in rate-limit windows cleared (all tests share 127.0.0.1)."""
    for rec in TokenRecord.scan(TokenRecord.kind == "rate-limit"):
        rec.delete()
    return portal_env
