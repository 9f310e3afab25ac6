"""Fixtures of the provisioner tests: the module's world with immediate retries and a short router API
timeout, emptied of what the tests write and seeded with the catalogue before each test."""

from __future__ import annotations

from typing import Any

import pytest

from shared.runtime import Runtime
from tests.fakes.provisioning import SETTINGS, reset


@pytest.fixture(scope="module")
def world_settings() -> dict[str, Any]:
    return dict(SETTINGS)


@pytest.fixture
def rt(world: Runtime) -> Runtime:
    return reset(world)
