"""RFC 5176 Disconnect/CoA to a NAS listening on loopback, and allowance enforcement by disconnect."""

from __future__ import annotations

import pytest

from adapters.dynauth import UdpDynAuthSender
from core.errors import InvalidStateError
from core.radius.accounting import session_key
from infra.local.demo import DEMO_TENANT
from services.disconnect import (
    NOT_REACHABLE_WARNING,
    SessionResult,
    StoreGatewayDirectory,
    change_subscriber_rate,
    disconnect_subscriber,
)
from store.models import Session
from tests.fakes.radius import ANSWER_TIMEOUT_S, DICTIONARY, FakeNas, wait_for

from .conftest import NOW, RadiusEnv

# A NAS that answers is waited for generously; one that stays silent by design needs no long wait
SENDER = UdpDynAuthSender(DICTIONARY, timeout=ANSWER_TIMEOUT_S, retries=1)
TO_SILENT_NAS = UdpDynAuthSender(DICTIONARY, timeout=0.5, retries=1)


def connected(env: RadiusEnv, fake: FakeNas, **gateway_fields):
    """A gateway whose CoA port is the fake NAS, and a subscriber with a session open on it."""
    n = int(fake_ip(fake).rsplit(".", 1)[1])
    ip = env.gateway(n, coa_port=fake.port, **gateway_fields)
    assert ip == fake_ip(fake)
    c = env.client(f"secret-{n}".encode(), source_ip=ip)
    a = env.account(policy={"daily_data_mb": 1})
    c.SendPacket(
        c.CreateAcctPacket(
            User_Name=a.username,
            Acct_Status_Type="Start",
            Acct_Session_Id="D-1",
            Framed_IP_Address="10.9.0.5",
        )
    )
    return a, c, ip


def fake_ip(fake: FakeNas) -> str:
    return fake._sock.getsockname()[0]


_next = iter(range(60, 120))


def nas(mode: str) -> FakeNas:
    n = next(_next)
    return FakeNas(f"secret-{n}".encode(), ip=f"127.0.0.{n}", mode=mode)


def directory(env: RadiusEnv) -> StoreGatewayDirectory:
    return StoreGatewayDirectory(env.store, env.runtime.box.decrypt)


def test_disconnect_acknowledged_closes_the_session_everywhere(env):
    with nas("ack") as fake:
        a, _, ip = connected(env, fake)
        report = disconnect_subscriber(env.store, SENDER, directory(env), DEMO_TENANT, a.username, NOW)
        assert [s.result for s in report.sessions] == [SessionResult.DISCONNECTED]
        assert report.gateway_reachable and report.warning is None
        (request,) = fake.received
        assert request.code == 40 and request.message_authenticator
        assert request["User-Name"] == [a.username] and request["Acct-Session-Id"] == ["D-1"]
        assert request["Framed-IP-Address"] == ["10.9.0.5"]
        row = Session.get(session_key(ip, "D-1", a.username))
        assert row.closed_by == "admin" and row.open_nas is None


def test_unreachable_gateway_is_reported_and_the_radius_data_disconnected_anyway(env):
    with nas("silent") as fake:
        a, _, ip = connected(env, fake)
        report = disconnect_subscriber(env.store, TO_SILENT_NAS, directory(env), DEMO_TENANT, a.username, NOW)
        assert report.sessions[0].result == SessionResult.UNREACHABLE
        wait_for(lambda: len(fake.received) == 2, "the request and its one retry reached the NAS")
        assert report.warning == NOT_REACHABLE_WARNING
        assert Session.get(session_key(ip, "D-1", a.username)).closed_by == "admin"


@pytest.mark.parametrize(
    "mode, result, closed",
    [("nak-not-found", SessionResult.NOT_ON_GATEWAY, True), ("nak", SessionResult.REFUSED, False)],
)
def test_disconnect_refused(env, mode, result, closed):
    with nas(mode) as fake:
        a, _, ip = connected(env, fake)
        report = disconnect_subscriber(env.store, SENDER, directory(env), DEMO_TENANT, a.username, NOW)
        assert report.sessions[0].result == result
        assert report.sessions[0].error_cause == (503 if closed else 501)
        assert (Session.get(session_key(ip, "D-1", a.username)).ended_at is not None) is closed


def test_coa_changes_the_rate_of_a_live_session(env):
    with nas("ack") as fake:
        a, _, ip = connected(env, fake)
        report = change_subscriber_rate(env.store, SENDER, directory(env), DEMO_TENANT, a.username, "1M/2M")
        assert report.sessions[0].result == SessionResult.CHANGED
        (request,) = fake.received
        assert request.code == 43 and request["Mikrotik-Rate-Limit"] == ["1M/2M"]
        assert Session.get(session_key(ip, "D-1", a.username)).ended_at is None  # still connected


def test_disconnect_needs_a_connected_subscriber(env):
    a = env.account()
    with pytest.raises(InvalidStateError):
        disconnect_subscriber(env.store, SENDER, directory(env), DEMO_TENANT, a.username, NOW)


def test_allowance_used_up_on_a_gateway_that_cannot_cut_is_enforced_by_disconnect(env):
    with nas("ack") as fake:
        a, c, _ = connected(env, fake, vendor="unifi")
        c.SendPacket(
            c.CreateAcctPacket(
                User_Name=a.username,
                Acct_Status_Type="Interim-Update",
                Acct_Session_Id="D-1",
                Acct_Session_Time=300,
                Acct_Output_Octets=2 * 1_048_576,
                Framed_IP_Address="10.9.0.5",
            )
        )
        wait_for(lambda: fake.received, "the Disconnect-Request reached the NAS")
        assert fake.received[0].code == 40
        assert fake.received[0]["Acct-Session-Id"] == ["D-1"]
