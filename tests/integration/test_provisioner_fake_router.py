"""librouteros 4.2.2, unmodified, against the fake RouterOS over TCP: what the provisioner relies on."""

from __future__ import annotations

import socket
import time
from typing import Any

import librouteros
import pytest
from librouteros.exceptions import ConnectionClosed, FatalError, TrapError
from librouteros.login import token
from librouteros.query import Key

from adapters.routeros import (
    Command,
    RouterAuthError,
    RouterTarget,
    RouterTimeout,
    RouterTrap,
    RouterUnreachable,
    connect,
)
from tests.fakes.routeros import FakeRouter

ANSWER_TIMEOUT_S = 30.0  # a ceiling on waiting for the router, not an expected time: a busy machine must pass


@pytest.fixture
def router():
    with FakeRouter(username="admin", password="pässwörd") as r:
        yield r


def api(router: FakeRouter, **kw):
    return librouteros.connect(
        router.host,
        router.username,
        router.password,
        port=router.port,
        timeout=ANSWER_TIMEOUT_S,
        encoding="UTF-8",
        **kw,
    )


def test_librouteros_crud_queries_and_traps(router):
    a = api(router)
    secrets = a.path("ppp", "secret")
    new_id = secrets.add(name="josé", password="1234", service="pppoe", comment="wisp:sub_1")
    assert new_id.startswith("*")
    secrets.add(name="ana", password="x")
    rows = list(secrets.select(Key(".id"), Key("name")).where(Key("name") == "josé"))
    assert rows == [{".id": new_id, "name": "josé"}]
    assert [r["name"] for r in secrets.select(Key("name")).where(Key("name").In("ana", "josé"))] == [
        "josé",
        "ana",
    ]
    secrets.update(**{".id": new_id, "profile": "plan-10M"})
    assert router.find("/ppp/secret", name="josé")[0]["profile"] == "plan-10M"
    with pytest.raises(TrapError, match="same name already exists"):
        secrets.add(name="ana")
    with pytest.raises(TrapError, match="unknown parameter"):
        secrets.add(name="x", colour="blue")
    with pytest.raises(TrapError, match="no such item"):
        secrets.remove("*999")
    secrets.remove(new_id)
    assert [r["name"] for r in secrets] == ["ana"]
    # RouterOS 7.18+ answers an empty print with !empty before !done: librouteros ignores it
    assert list(a.path("ip", "arp")) == []
    assert list(a.path("system", "identity")) == [{"name": "MikroTik"}]
    a.close()
    assert router.stats.logins == 1 and router.stats.by_command["/ppp/secret/add"] == 4


def test_login_methods_and_failures(router):
    with FakeRouter(username="admin", password="ascii-only") as old:  # librouteros' token login is ASCII
        a = api(old, login_method=token)  # pre-6.43 challenge/response
        assert next(iter(a.path("system", "resource")))["version"].startswith("7.")
        a.close()
    with pytest.raises(TrapError, match="invalid user name or password"):
        librouteros.connect(router.host, "admin", "wrong", port=router.port, timeout=ANSWER_TIMEOUT_S)
    raw = socket.create_connection((router.host, router.port), timeout=ANSWER_TIMEOUT_S)
    raw.close()
    assert router.stats.failed_logins == 1


def test_down_slow_fatal(router):
    router.set_down(True)
    with pytest.raises(ConnectionRefusedError):
        api(router)
    router.set_down(False)
    a = api(router)
    router.trap_on("/ppp/secret/print", "session killed", fatal=True, times=1)
    with pytest.raises(FatalError):
        list(a.path("ppp", "secret"))
    b = api(router)
    router.delay = 0.3
    started = time.monotonic()
    list(b.path("ppp", "secret"))
    assert time.monotonic() - started >= 0.3
    router.delay = 0
    router.set_down(True)  # drops open sessions too
    with pytest.raises((ConnectionClosed, OSError)):
        list(b.path("ppp", "secret"))


def _target(router: FakeRouter, **kw) -> RouterTarget:
    values: dict[str, Any] = {
        "name": "r1",
        "host": router.host,
        "port": router.port,
        "username": router.username,
        "password": router.password,
        "timeout": 1.0,
    }
    values.update(kw)
    return RouterTarget(**values)


def test_adapter_pipelines_tagged_commands_in_one_round_trip(router):
    client = connect(_target(router))
    router.reset_stats()
    cmds = [
        Command.of("/ip/firewall/address-list/add", {"list": "morosos", "address": f"10.0.0.{i}"})
        for i in range(1, 151)
    ]
    cmds.append(Command.of("/ip/firewall/address-list/add", {"list": "morosos", "address": "10.0.0.1"}))
    replies = client.pipeline(cmds)
    assert all(r.ret and r.ret.startswith("*") for r in replies[:150])
    assert replies[150].trap is not None and "already have such entry" in replies[150].trap.trap_message
    assert client.stats.round_trips == 2 and router.stats.round_trips <= 3  # login + one pipelined burst
    rows = client.print("/ip/firewall/address-list", ["?list=morosos"], [".id", "address"])
    assert len(rows) == 150 and set(rows[0]) == {".id", "address"}
    with pytest.raises(RouterTrap):
        client.run(Command.of("/ip/firewall/address-list/add", {"list": "morosos", "address": "10.0.0.1"}))
    client.close()


def test_adapter_typed_errors(router):
    with pytest.raises(RouterAuthError):
        connect(_target(router, password="nope"))
    router.set_down(True)
    with pytest.raises(RouterUnreachable, match="refused"):
        connect(_target(router))
    router.set_down(False)
    router.delay = 1.5
    with pytest.raises(RouterTimeout):
        connect(_target(router))
    router.delay = 0
    with pytest.raises((RouterUnreachable, RouterTimeout)):  # TLS to a plain API port
        connect(_target(router, tls=True))
