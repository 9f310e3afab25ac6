"""Fixtures of the subscriber-channel tests: the module's world emptied between tests, the Chalice test
client with operator tokens, moto serialised for concurrency tests, and the application's log lines."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from chalice.test import Client

from api.app import app
from infra.local.demo import DemoData
from shared.runtime import Runtime
from tests.conftest import emptied, serialized_moto
from tests.integration.channels.support import Http


@pytest.fixture
def runtime(world: Runtime) -> Runtime:
    """The module's runtime with empty tables and no messages sent yet."""
    return emptied(world)


@pytest.fixture
def http(runtime: Runtime, demo: DemoData) -> Iterator[Http]:
    with Client(app) as client:
        yield Http(client, runtime, demo)


@pytest.fixture
def atomic_dynamodb() -> Iterator[None]:
    """moto answering one DynamoDB request at a time, as DynamoDB applies each atomically."""
    with serialized_moto():
        yield


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.__dict__}")


@pytest.fixture
def app_logs() -> Iterator[list[str]]:
    """Every log record of the application (all levels, with its extra fields) while the test runs."""
    root = logging.getLogger("wispcloud")
    loggers = [root] + [
        logging.getLogger(n) for n in list(logging.root.manager.loggerDict) if n.startswith("wispcloud.")
    ]
    levels = [lg.level for lg in loggers]
    handler = _Collect()
    root.addHandler(handler)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
