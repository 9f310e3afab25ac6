"""Policies made through the admin API, used by gateways over UDP (SPEC S6).

The operator creates the policy, the product and the subscriber with the HTTP API (Chalice test
client); the gateway logs in and sends accounting to the running RADIUS service on loopback.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pyrad.packet import AccessAccept, AccessReject

from core.radius.accounting import session_key
from services.billing.cutoffs import run_tenant_cutoffs
from services.billing.invoices import create_internet_invoice
from services.disconnect import NOT_REACHABLE_WARNING
from shared.runtime import Runtime
from store.models import Policy, Session, Subscriber
from store.radius_repo import DynamoRadiusStore
from tests.fakes.radius import Clock, FakeNas, RadiusHarness, acct_request, pap_request
from tests.integration.api.support import Api, err, ok

MIB = 1024 * 1024
# Wednesday 18 November 2026, 11:00 in Mexico City (the demo gateway's zone)
NOW = datetime(2026, 11, 18, 17, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def harness(world: Runtime) -> Iterator[RadiusHarness]:
    with RadiusHarness(DynamoRadiusStore(), world.box.decrypt, clock=Clock(NOW)) as running:
        yield running


@pytest.fixture
def radius(harness: RadiusHarness, api: Api) -> RadiusHarness:
    """The service with the demo gateway (127.0.0.1, secret testing123) of this test's data."""
    harness.reload_nas()
    return harness


@dataclass(frozen=True)
class Made:
    username: str
    password: str
    login: str  # the subscriber item's key
    policy_id: str
    id: str


def subscriber_on(api: Api, who: dict[str, str], policy: dict[str, Any]) -> Made:
    """Policy → product → subscriber, all through the API."""
    uid = secrets.token_hex(3)
    rates = {"download_rate": 10_000_000, "upload_rate": 2_000_000}
    pol = ok(api.post("/admin/policies", who, {"code": f"P-{uid}", **rates, **policy}), 201)
    prod = ok(api.post("/admin/products", who, {"name": f"Plan {uid}", "policy_id": pol["id"]}), 201)
    username, password = f"user-{uid}", f"pw-{uid}-secret"
    body = {
        "username": username,
        "password": password,
        "status": "active",
        "connection_type": "hotspot",
        "product_id": prod["id"],
    }
    sub = ok(api.post("/admin/subscribers", who, body), 201)["subscriber"]
    return Made(username, password, f"{sub['tenant_id']}#{username}", pol["id"], sub["id"])


def login(radius: RadiusHarness, username: str, password: str, **attrs: Any) -> Any:
    client = radius.client(timeout=10, retries=3)
    return client.SendPacket(pap_request(client, username, password, **attrs))


# ---------------------------------------------------------------- issue 12 item 1: modulation period
MODULATION = {
    "algorithm": "linear",
    "traffic_type": "total",
    "max_total_mb": 1000,
    "min_download_rate": 1_000_000,
    "min_upload_rate": 500_000,
}


def test_modulation_without_a_period_modulates_at_login_and_accounting_is_answered(
    api: Api, manager, radius: RadiusHarness
):
    # Given a policy created through the API with modulation and no period (the API's default)
    made = subscriber_on(api, manager, {"modulation": MODULATION})
    assert Policy.get(made.policy_id).modulation["period"] == "current_month"
    # When the subscriber has used half the month's maximum and logs in
    Subscriber.get(made.login).update(actions=[Subscriber.usage.set({"m:2026-11:o": 500 * MIB})])
    reply = login(radius, made.username, made.password)
    # Then the rate is modulated half way (10M → 1M down, 2M → 0.5M up)
    assert reply.code == AccessAccept
    assert reply["Mikrotik-Rate-Limit"] == ["1250k/5500k"]
    # And its accounting is answered and recorded
    client = radius.client(timeout=10, retries=3)
    answer = client.SendPacket(
        acct_request(client, "Start", made.username, "MODP-1", Framed_IP_Address="10.9.9.1")
    )
    assert answer.code == 5  # Accounting-Response
    assert Session.get(session_key("127.0.0.1", "MODP-1", made.username)).ended_at is None


def test_an_unknown_stored_period_is_logged_counted_and_the_packet_accounted(
    api: Api, manager, radius: RadiusHarness
):
    # Given a policy whose stored modulation period this version does not know
    made = subscriber_on(api, manager, {"modulation": MODULATION})
    pol = Policy.get(made.policy_id)
    pol.update(actions=[Policy.modulation.set({**pol.modulation, "period": "fortnight"})])
    before = radius.stats["modulation_setting_invalid"]
    # When the gateway logs the subscriber in and sends accounting
    reply = login(radius, made.username, made.password)
    assert reply.code == AccessAccept and reply["Mikrotik-Rate-Limit"] == ["2M/10M"]  # the policy's rate
    client = radius.client(timeout=10, retries=3)
    start = client.SendPacket(acct_request(client, "Start", made.username, "MODP-2"))
    interim = client.SendPacket(
        acct_request(client, "Interim-Update", made.username, "MODP-2", Acct_Output_Octets=7 * MIB)
    )
    # Then every packet is answered, the usage is counted and the bad setting is counted
    assert start.code == 5 and interim.code == 5
    usage = Subscriber.get(made.login, consistent_read=True).usage.as_dict()
    assert int(usage["m:2026-11:o"]) == 7 * MIB
    assert radius.stats["modulation_setting_invalid"] >= before + 2


def test_the_api_speaks_the_same_period_names_as_the_radius_side(api: Api, manager):
    pol = ok(
        api.post(
            "/admin/policies",
            manager,
            {"code": "P-hours", "modulation": {**MODULATION, "period": "hours", "period_hours": 168}},
        ),
        201,
    )
    assert pol["modulation"]["period"] == "hours"
    err(
        api.post(
            "/admin/policies", manager, {"code": "P-m", "modulation": {**MODULATION, "period": "month"}}
        ),
        422,
    )
    err(
        api.post(
            "/admin/policies",
            manager,
            {"code": "P-long", "modulation": {**MODULATION, "period": "hours", "period_hours": 169}},
        ),
        422,
    )


# ---------------------------------------------------------------- issue 12 item 2: check and reply operators
def test_check_operators_follow_freeradius_and_plus_equal_adds_a_reply_value(
    api: Api, manager, radius: RadiusHarness
):
    # Given a policy made through the API with the operators gateways' operators use
    made = subscriber_on(
        api,
        manager,
        {
            "address_list": "clients",
            "check_attributes": [
                {"name": "Simultaneous-Use", "op": ":=", "value": 1},
                {"name": "NAS-Identifier", "op": "=*"},
                {"name": "Called-Station-Id", "op": "!*", "value": "ANY"},
                {"name": "NAS-Port-Type", "op": "!=", "value": "Virtual"},
            ],
            "reply_attributes": [{"name": "Mikrotik-Address-List", "op": "+=", "value": "vip"}],
        },
    )
    # When the gateway sends what the checks ask for, the login is accepted
    reply = login(radius, made.username, made.password, NAS_Identifier="hs-1", NAS_Port_Type="Ethernet")
    assert reply.code == AccessAccept, reply.get("Reply-Message")
    # And += added the custom address list next to the policy's own
    assert reply["Mikrotik-Address-List"] == ["clients", "vip"]
    # Then each check is enforced: a missing NAS-Identifier (=*), a present Called-Station-Id (!*),
    # a missing NAS-Port-Type (!= needs the attribute) are refused
    refused = [
        login(radius, made.username, made.password, NAS_Port_Type="Ethernet"),
        login(
            radius,
            made.username,
            made.password,
            NAS_Identifier="hs-1",
            NAS_Port_Type="Ethernet",
            Called_Station_Id="00-11-22-33-44-55:Lobby",
        ),
        login(radius, made.username, made.password, NAS_Identifier="hs-1"),
    ]
    assert [r.code for r in refused] == [AccessReject] * 3
    assert ["NAS-Identifier", "Called-Station-Id", "NAS-Port-Type"] == [
        r["Reply-Message"][0].split("(")[1].split(" ")[0] for r in refused
    ]


def test_simultaneous_use_limits_the_sessions(api: Api, manager, radius: RadiusHarness):
    made = subscriber_on(
        api, manager, {"check_attributes": [{"name": "Simultaneous-Use", "op": ":=", "value": 1}]}
    )
    client = radius.client(timeout=10, retries=3)
    start = acct_request(client, "Start", made.username, "SU-1", Calling_Station_Id="AA-00-00-00-00-01")
    assert client.SendPacket(start).code == 5
    other_device = login(radius, made.username, made.password, Calling_Station_Id="AA-00-00-00-00-02")
    assert other_device.code == AccessReject
    assert other_device["Reply-Message"] == ["Too many connections: your plan allows 1 at the same time."]


# ---------------------------------------------------------------- issue 12 item 3: regular expressions
@pytest.mark.parametrize("pattern", [r"([unclosed", r"(a)\1", r"(?=lookahead)x"])
def test_a_pattern_that_does_not_compile_is_refused_naming_the_field(api: Api, manager, pattern):
    body = {"code": "P-re", "check_attributes": [{"name": "NAS-Identifier", "op": "=~", "value": pattern}]}
    error = err(api.post("/admin/policies", manager, body), 422, "check_attributes.0.value")
    assert "regular expression" in error["message"]


def test_a_catastrophic_pattern_does_not_stall_the_service(api: Api, manager, radius: RadiusHarness):
    # Given a policy whose check pattern backtracks exponentially in a backtracking engine
    made = subscriber_on(
        api,
        manager,
        {"check_attributes": [{"name": "NAS-Identifier", "op": "=~", "value": "^(a+)+$"}]},
    )
    other = subscriber_on(api, manager, {})
    # When a gateway sends a long NAS-Identifier that almost matches
    reply = login(radius, made.username, made.password, NAS_Identifier="a" * 60 + "!")
    # Then it is refused (it does not match) and the service keeps answering others
    assert reply.code == AccessReject and "NAS-Identifier" in reply["Reply-Message"][0]
    assert login(radius, other.username, other.password).code == AccessAccept
    assert login(radius, made.username, made.password, NAS_Identifier="a" * 60).code == AccessAccept


# ---------------------------------------------------------------- issue 12 item 6: live sessions
def online(radius: RadiusHarness, made: Made, session_id: str) -> None:
    client = radius.client(timeout=10, retries=3)
    start = acct_request(client, "Start", made.username, session_id, Framed_IP_Address="10.9.9.7")
    assert client.SendPacket(start).code == 5


def session_row(made: Made, session_id: str) -> Session:
    return Session.get(session_key("127.0.0.1", session_id, made.username), consistent_read=True)


def test_plan_change_suspend_and_cancel_reach_the_live_session(api: Api, manager, radius, demo):
    with FakeNas(b"testing123", ip="127.0.0.1", mode="ack") as nas:
        # Given an online subscriber on the demo MikroTik gateway (restricted mode, list "morosos")
        ok(api.patch(f"/admin/gateways/{demo.gateway_id}", manager, {"coa_port": nas.port}))
        made = subscriber_on(api, manager, {})
        faster = subscriber_on(api, manager, {"download_rate": 20_000_000, "upload_rate": 5_000_000})
        faster_product = Subscriber.get(faster.login).product_id
        online(radius, made, "LIVE-1")

        # When the operator changes its product, the live session gets the new rate by CoA
        res = ok(api.post(f"/admin/subscribers/{made.id}/recharge", manager, {"product_id": faster_product}))
        assert [(p.code, p["Mikrotik-Rate-Limit"]) for p in nas.received] == [(43, ["5M/20M"])]
        assert nas.received[-1]["Acct-Session-Id"] == ["LIVE-1"]
        assert res["data"]["live_sessions"][0] | {"session_id": ""} == {
            "session_id": "",
            "nas_ip": "127.0.0.1",
            "acct_session_id": "LIVE-1",
            "action": "coa",
            "result": "changed",
        }

        # When it is suspended, the session moves into the gateway's blocked address list by CoA
        res = ok(api.post(f"/admin/subscribers/{made.id}/suspend", manager))
        assert nas.received[-1].code == 43 and nas.received[-1]["Mikrotik-Address-List"] == ["morosos"]
        assert res["warnings"] == [] and session_row(made, "LIVE-1").ended_at is None

        # When it is cancelled, the session is disconnected and closed in the RADIUS data
        res = ok(api.post(f"/admin/subscribers/{made.id}/cancel", manager))
        assert nas.received[-1].code == 40 and nas.received[-1]["User-Name"] == [made.username]
        assert res["data"]["live_sessions"][0]["action"] == "disconnect"
        assert session_row(made, "LIVE-1").closed_by == "admin"
        assert len(nas.received) == 3


def test_a_gateway_without_coa_gets_a_disconnect_and_an_unreachable_one_the_warning(
    api: Api, manager, radius, demo
):
    with FakeNas(b"testing123", ip="127.0.0.1", mode="ack") as nas:
        ok(
            api.patch(
                f"/admin/gateways/{demo.gateway_id}", manager, {"coa_port": nas.port, "vendor": "unifi"}
            )
        )
        made = subscriber_on(api, manager, {})
        online(radius, made, "LIVE-2")
        ok(api.post(f"/admin/subscribers/{made.id}/suspend", manager))
        assert [p.code for p in nas.received] == [40]  # no CoA on this vendor: Disconnect
    with FakeNas(b"testing123", ip="127.0.0.1", mode="silent") as nas:
        ok(
            api.patch(
                f"/admin/gateways/{demo.gateway_id}", manager, {"coa_port": nas.port, "vendor": "mikrotik"}
            )
        )
        made = subscriber_on(api, manager, {})
        online(radius, made, "LIVE-3")
        res = ok(api.post(f"/admin/subscribers/{made.id}/suspend", manager))
        assert res["warnings"] == [NOT_REACHABLE_WARNING]
        assert res["data"]["live_sessions"][0]["result"] == "unreachable"
        assert session_row(made, "LIVE-3").closed_by == "admin"  # closed in the RADIUS data anyway


def test_the_automatic_cutoff_reaches_the_live_session_of_a_client_it_suspends(
    api: Api, manager, radius, demo, world: Runtime
):
    with FakeNas(b"testing123", ip="127.0.0.1", mode="ack") as nas:
        # Given an online client of the demo MikroTik gateway with an unpaid internet invoice
        ok(api.patch(f"/admin/gateways/{demo.gateway_id}", manager, {"coa_port": nas.port}))
        made = subscriber_on(api, manager, {})
        online(radius, made, "LIVE-CUT")
        tenant_id = Subscriber.get(made.login).tenant_id
        create_internet_invoice(world, tenant_id, made.id, "2027-01", "op", amount=Decimal("25"))

        # When the daily cutoff runs on the days after the invoice's cutoff day comes
        day, result = datetime(2027, 1, 1, 18, tzinfo=UTC), None
        while day < datetime(2027, 3, 1, tzinfo=UTC):
            result = run_tenant_cutoffs(world, tenant_id, day, only_subscribers={made.id})
            if result.suspended:
                break
            day += timedelta(days=1)

        # Then the client is suspended and its live session moved to the blocked list by CoA at once
        assert result is not None and result.suspended == [made.id]
        assert [p.code for p in nas.received] == [43]
        assert nas.received[0]["Mikrotik-Address-List"] == ["morosos"]
        assert result.live_sessions[made.id][0]["action"] == "coa"
        assert result.live_sessions[made.id][0]["result"] == "changed"
        assert result.warnings == []


def test_the_connection_log_shows_an_open_session_as_of_its_last_interim_update(
    api: Api, manager, radius: RadiusHarness
):
    # Given a subscriber made through the API with a session open on the gateway
    made = subscriber_on(api, manager, {})
    client = radius.client(timeout=10, retries=3)
    assert client.SendPacket(acct_request(client, "Start", made.username, "LOG-1")).code == 5
    # When two Interim-Updates within the hour report time and traffic
    for seconds, down in ((300, 40 * MIB), (600, 90 * MIB)):
        packet = acct_request(
            client,
            "Interim-Update",
            made.username,
            "LOG-1",
            Acct_Session_Time=seconds,
            Acct_Output_Octets=down,
            Acct_Input_Octets=down // 10,
        )
        assert client.SendPacket(packet).code == 5
    # Then the stored row is still the one the Start wrote (the counters went to the subscriber item)
    key = session_key("127.0.0.1", "LOG-1", made.username)
    assert int(Session.get(key, consistent_read=True).duration_s) == 0
    # And the connection log shows the open session with the last update's time and traffic
    log = ok(api.get(f"/admin/subscribers/{made.id}/connections", manager))
    (row,) = [r for r in log["items"] if r["connection_id"] == "LOG-1"]
    assert row["open"] is True and row["ended_at"] is None
    assert (row["duration_s"], row["download_bytes"], row["upload_bytes"]) == (600, 90 * MIB, 9 * MIB)
