"""Issue 9: a subscriber crosses half its maximum traffic; the scheduled modulation run at the
activation hour sends a CoA with the lower rate to the NAS on loopback; the next login gets it too."""

from __future__ import annotations

from pyrad.packet import AccessAccept

from billing_cron.modulation import run_modulation
from services.disconnect import StoreGatewayDirectory
from services.dynauth import UdpDynAuthSender
from services.radius_sessions import StoreCatalog
from tests.fakes.radius import DICTIONARY, FakeNas, acct_request, pap_request

from .conftest import NOW, RadiusEnv

MIB = 1024 * 1024
MODULATION = {
    "algorithm": "linear",
    "activate_hour": 11,  # NOW is 11:00 in the gateway's zone (America/Mexico_City)
    "deactivate_hour": 20,
    "period": "hours",
    "period_hours": 24,
    "traffic_type": "total",
    "max_total_mb": 1000,
    "min_download_rate": 1_000_000,
    "min_upload_rate": 500_000,
}


def _run(env: RadiusEnv, now):
    sender = UdpDynAuthSender(DICTIONARY, timeout=0.5, retries=1)
    return run_modulation(
        env.store,
        StoreCatalog(env.store),
        sender,
        StoreGatewayDirectory(env.store, env.runtime.box.decrypt),
        now,
    )


def _login(env: RadiusEnv, client, acct) -> list[str]:
    reply = client.SendPacket(pap_request(client, acct.username, acct.password))
    assert reply.code == AccessAccept
    return reply["Mikrotik-Rate-Limit"]


def test_scheduled_run_sends_coa_with_the_lower_rate_and_next_login_gets_it(env: RadiusEnv):
    n = 131
    with FakeNas(f"secret-{n}".encode(), ip=f"127.0.0.{n}", mode="ack") as nas:
        # Given a MikroTik gateway whose CoA port is the fake NAS, and a subscriber on a modulated policy
        ip = env.gateway(n, coa_port=nas.port)
        client = env.client(f"secret-{n}".encode(), source_ip=ip)
        acct = env.account(policy={"modulation": MODULATION})
        assert _login(env, client, acct) == ["2M/10M"]  # no traffic yet: the policy's rate

        # When it downloads 550 MiB (55 % of the maximum) in this hour
        client.SendPacket(acct_request(client, "Start", acct.username, "MOD-1", Framed_IP_Address="10.9.9.9"))
        client.SendPacket(
            acct_request(
                client,
                "Interim-Update",
                acct.username,
                "MOD-1",
                Acct_Output_Octets=550 * MIB,
                Acct_Session_Time=600,
            )
        )

        # And the scheduled run fires at the activation hour
        report = _run(env, NOW)

        # Then the NAS received one CoA naming the session, with the modulated rate
        # 10M − (10M − 1M) × 0.55 = 5.05M down; 2M − (2M − 0.5M) × 0.55 = 1.175M up
        assert report.changed_by_coa == 1 and report.disconnected == 0
        assert len(nas.received) == 1
        coa = nas.received[0]
        assert coa.code == 43
        assert coa["User-Name"] == [acct.username] and coa["Acct-Session-Id"] == ["MOD-1"]
        assert coa["Mikrotik-Rate-Limit"] == ["1175k/5050k"]

        # And the next Access-Request gets the same lower rate
        assert _login(env, client, acct) == ["1175k/5050k"]

        # An hour later is not a transition hour: nothing is sent again
        from datetime import timedelta

        assert _run(env, NOW + timedelta(hours=1)).checked == 0
        assert len(nas.received) == 1


def test_gateway_without_coa_support_gets_a_disconnect(env: RadiusEnv):
    n = 132
    with FakeNas(f"secret-{n}".encode(), ip=f"127.0.0.{n}", mode="ack") as nas:
        ip = env.gateway(n, coa_port=nas.port, vendor="cisco_wlc")
        client = env.client(f"secret-{n}".encode(), source_ip=ip)
        acct = env.account(policy={"modulation": MODULATION})
        client.SendPacket(acct_request(client, "Start", acct.username, "MOD-2"))
        client.SendPacket(
            acct_request(
                client,
                "Interim-Update",
                acct.username,
                "MOD-2",
                Acct_Output_Octets=800 * MIB,
                Acct_Session_Time=600,
            )
        )
        report = _run(env, NOW)
        assert report.disconnected == 1 and report.changed_by_coa == 0
        assert [p.code for p in nas.received] == [40]  # Disconnect-Request
