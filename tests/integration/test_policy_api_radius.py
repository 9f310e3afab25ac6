"""Policies made through the admin API, used by gateways over UDP (SPEC S6).

The operator creates the policy, the product and the subscriber with the HTTP API (Chalice test
client); the gateway logs in and sends accounting to the running RADIUS service on loopback.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from pyrad.packet import AccessAccept, AccessReject

from core.radius.accounting import session_key
from shared.runtime import Runtime
from store.models import Policy, Session, Subscriber
from store.radius_repo import DynamoRadiusStore
from tests.fakes.radius import Clock, RadiusHarness, acct_request, pap_request
from tests.integration.api_support import (  # noqa: F401
    Api,
    api_fixture,
    api_world_fixture,
    err,
    fast_runtime_fixture,
    manager_fixture,
    ok,
)

MIB = 1024 * 1024
# Wednesday 18 November 2026, 11:00 in Mexico City (the demo gateway's zone)
NOW = datetime(2026, 11, 18, 17, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def harness(api_world: Runtime) -> Iterator[RadiusHarness]:
    with RadiusHarness(DynamoRadiusStore(), api_world.box.decrypt, clock=Clock(NOW)) as running:
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
    return Made(username, password, f"{sub['tenant_id']}#{username}", pol["id"])


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
