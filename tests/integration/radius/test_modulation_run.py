"""Issue 9: a subscriber crosses half its maximum traffic; the scheduled modulation run at the
activation hour sends a CoA with the lower rate to the NAS on loopback; the next login gets it too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cfnlint.decode import cfn_yaml
from pyrad.packet import AccessAccept

from adapters.dynauth import UdpDynAuthSender
from services.disconnect import StoreGatewayDirectory
from services.modulation_run import run_modulation
from services.radius_sessions import StoreCatalog
from tests.fakes.radius import ANSWER_TIMEOUT_S, DICTIONARY, FakeNas, acct_request, pap_request

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
    sender = UdpDynAuthSender(DICTIONARY, timeout=ANSWER_TIMEOUT_S, retries=1)
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


@pytest.mark.parametrize(
    ("octet", "tz", "hour_start_utc"),
    [(133, "Asia/Kolkata", "05:30"), (134, "Asia/Kathmandu", "05:15")],  # 11:00 local
)
def test_half_and_quarter_hour_zones_get_the_change_when_their_local_hour_starts(
    env: RadiusEnv, octet: int, tz: str, hour_start_utc: str
):
    with FakeNas(f"secret-{octet}".encode(), ip=f"127.0.0.{octet}", mode="ack") as nas:
        # Given a gateway in a zone whose hours start at a half or quarter past the UTC hour
        ip = env.gateway(octet, coa_port=nas.port, timezone=tz)
        client = env.client(f"secret-{octet}".encode(), source_ip=ip)
        acct = env.account(policy={"modulation": MODULATION})  # activates at 11:00 local
        client.SendPacket(acct_request(client, "Start", acct.username, f"MOD-{octet}"))
        client.SendPacket(
            acct_request(
                client,
                "Interim-Update",
                acct.username,
                f"MOD-{octet}",
                Acct_Output_Octets=550 * MIB,
                Acct_Session_Time=600,
            )
        )
        # When the scheduled run fires at each quarter-hour of that UTC hour (each a little late)
        sent = {}
        for minute in (0, 15, 30, 45):
            at = datetime(2026, 11, 19, 5, minute, 40, tzinfo=UTC)
            before = len(nas.received)
            _run(env, at)
            sent[f"05:{minute:02d}"] = len(nas.received) - before
        # Then the CoA goes out exactly once, at the quarter-hour the local hour 11 starts
        assert sent == {k: (1 if k == hour_start_utc else 0) for k in sent}
        assert nas.received[-1]["Mikrotik-Rate-Limit"] == ["1175k/5050k"]


def test_an_activation_hour_the_clocks_skip_still_changes_the_rate_that_night(env: RadiusEnv):
    n = 135
    with FakeNas(f"secret-{n}".encode(), ip=f"127.0.0.{n}", mode="ack") as nas:
        # Given a New York gateway and a policy modulated from 02:00 to 08:00, an hour that does not
        # exist on 8 March 2026 (the clocks go from 02:00 to 03:00)
        ip = env.gateway(n, coa_port=nas.port, timezone="America/New_York")
        client = env.client(f"secret-{n}".encode(), source_ip=ip)
        acct = env.account(policy={"modulation": {**MODULATION, "activate_hour": 2, "deactivate_hour": 8}})
        env.clock.now = datetime(2026, 3, 8, 6, 40, tzinfo=UTC)  # 01:40 EST
        client.SendPacket(acct_request(client, "Start", acct.username, f"MOD-{n}"))
        client.SendPacket(
            acct_request(
                client,
                "Interim-Update",
                acct.username,
                f"MOD-{n}",
                Acct_Output_Octets=550 * MIB,
                Acct_Session_Time=600,
            )
        )
        # When the scheduled run fires at each quarter-hour around the change (each a little late)
        sent = {}
        for hour, minute in ((6, 45), (7, 0), (7, 15)):
            before = len(nas.received)
            _run(env, datetime(2026, 3, 8, hour, minute, 40, tzinfo=UTC))
            sent[f"{hour:02d}:{minute:02d}"] = len(nas.received) - before
        # Then the modulated rate goes out once, when the clocks jump to 03:00 (07:00 UTC)
        assert sent == {"06:45": 0, "07:00": 1, "07:15": 0}
        assert nas.received[-1]["Mikrotik-Rate-Limit"] == ["1175k/5050k"]


def _cron_minutes(expression: str) -> set[int]:
    minutes = expression.removeprefix("cron(").split()[0]
    if minutes == "*":
        return set(range(60))
    if "/" in minutes:
        start, step = minutes.split("/")
        return set(range(int(start), 60, int(step)))
    return {int(m) for m in minutes.split(",")}


def test_the_deployed_schedule_fires_when_every_zone_s_local_hour_starts():
    template = cfn_yaml.load(str(Path(__file__).resolve().parents[3] / "template.yaml"))
    function = template["Resources"]["ModulationRunFunction"]["Properties"]
    (event,) = function["Events"].values()
    minutes = _cron_minutes(event["Properties"]["Schedule"])
    zones = ("America/Mexico_City", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "Australia/Eucla")
    for name in zones:
        local_start = datetime(2026, 11, 19, 11, 0, tzinfo=ZoneInfo(name))
        assert local_start.astimezone(UTC).minute in minutes, name
