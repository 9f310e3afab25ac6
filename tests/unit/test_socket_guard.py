"""The unit tier's guard: a unit test that reaches for the network fails at once."""

from __future__ import annotations

import socket

import pytest

from tests.unit.conftest import SocketInUnitTest


def test_a_unit_test_cannot_bind_or_connect():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(SocketInUnitTest):
        s.bind(("127.0.0.1", 0))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s, pytest.raises(SocketInUnitTest):
        s.connect(("127.0.0.1", 9))
    with pytest.raises(SocketInUnitTest):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
