"""Fixtures of the admin API tests: the module's world emptied between tests, the Chalice test client
and the demo operators' headers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chalice.test import Client

from api.app import app
from infra.local.demo import DemoData
from shared.runtime import Runtime
from tests.conftest import emptied
from tests.integration.api.support import Api


@pytest.fixture
def runtime(world: Runtime) -> Runtime:
    """The module's runtime with every table empty (the suite's ``runtime`` makes a new account)."""
    return emptied(world)


@pytest.fixture
def api(runtime: Runtime, demo: DemoData) -> Iterator[Api]:
    with Client(app) as client:
        yield Api(client, runtime)


@pytest.fixture
def admin(api: Api, demo: DemoData) -> dict[str, str]:
    """The demo system administrator."""
    return api.as_(demo.admin_id, demo.system_id, "system_admin")


@pytest.fixture
def manager(api: Api, demo: DemoData) -> dict[str, str]:
    """The demo manager (tenant ten_demo)."""
    return api.as_(demo.operator_id, demo.tenant_id, "manager")
