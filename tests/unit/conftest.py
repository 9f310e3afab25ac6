"""Unit tests exercise pure code: none of them may open a network connection or bind a port.

Anything that needs a socket (a RADIUS server, the RouterOS wire protocol, moto over HTTP) belongs in
``tests/integration``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest


class SocketInUnitTest(AssertionError):
    """A unit test tried to use the network."""


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise SocketInUnitTest("unit tests cannot open sockets; move this test to tests/integration")


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for method in ("connect", "connect_ex", "bind", "sendto", "listen"):
        monkeypatch.setattr(socket.socket, method, _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)
    yield
