"""Fixtures of the billing tests: the module's world, in which every test works in a tenant of its own
(tests stay independent without paying for the tables again)."""

from __future__ import annotations

import pytest

from shared.runtime import Runtime
from tests.integration.billing.support import World, new_world


@pytest.fixture(scope="module")
def rt(world: Runtime) -> Runtime:
    return world


@pytest.fixture
def w(rt: Runtime) -> World:
    """A fresh tenant; the zone's calendar is the seed's (issue 28, notice 28, pay 1, cut 5)."""
    return new_world(rt)
