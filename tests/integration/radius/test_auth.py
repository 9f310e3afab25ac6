"""Access-Requests over UDP against the running service: methods, BlastRADIUS hardening, S6 rules."""

from __future__ import annotations

import re
import socket
import subprocess
from datetime import timedelta

import pytest
from pyrad.packet import AccessAccept, AccessReject, AccessRequest

from core.radius import mschap
from store.models import Gateway, Subscriber
from tests.fakes.radius import ANSWER_TIMEOUT_S, mschapv2_request, pap_request

from .conftest import NOW, RadiusEnv

MB = 1_048_576
MAC_A, MAC_B, MAC_C = "AA-AA-AA-AA-AA-01", "AA-AA-AA-AA-AA-02", "AA-AA-AA-AA-AA-03"


def send(env: RadiusEnv, user: str, password: str, **attrs):
    c = env.client()
    return c.SendPacket(pap_request(c, user, password, **attrs))


def attrs(reply) -> dict:
    return {k: reply[k] for k in reply.keys() if k != "Message-Authenticator"}


def set_subscriber(login: str, **fields) -> None:
    sub = Subscriber.get(login)
    for name, value in fields.items():
        setattr(sub, name, value)
    sub.save()


# ---------------------------------------------------------------- methods and replies
def test_pap_accept_carries_the_policy_and_a_message_authenticator_first(env):
    reply = send(env, "demo", "demo123")
    assert reply.code == AccessAccept
    assert reply.raw_packet[20] == 80  # first attribute: Message-Authenticator
    assert attrs(reply) == {
        "Acct-Interim-Interval": [300],
        "Mikrotik-Rate-Limit": ["2M/10M"],
        "Framed-IP-Address": ["10.10.0.10"],
    }


def test_wrong_password_and_unknown_user_say_why(env):
    for user, password in (("demo", "nope"), ("nobody", "demo123")):
        reply = send(env, user, password)
        assert reply.code == AccessReject and reply.raw_packet[20] == 80
        assert reply["Reply-Message"] == ["Wrong username or password."]


@pytest.mark.parametrize("method", ["pap", "chap", "mschap"])
def test_radtest_methods(env, method):
    def radtest(password: str) -> str:
        cmd = [
            "radtest",
            "-t",
            method,
            "demo",
            password,
            f"127.0.0.1:{env.harness.service.auth_port}",
            "0",
            "testing123",
        ]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout

    ok = radtest("demo123")
    assert "Received Access-Accept" in ok and 'Mikrotik-Rate-Limit = "2M/10M"' in ok
    if method == "mschap":
        assert "MS-CHAP-MPPE-Keys" in ok
    bad = radtest("wrong")
    assert "Received Access-Reject" in bad and "Wrong username or password." in bad


def test_mschapv2_success_and_mppe_keys(env):
    c = env.client()
    exchange = mschapv2_request(c, "demo", "demo123")
    reply = c.SendPacket(exchange.request)
    assert reply.code == AccessAccept
    success = reply["MS-CHAP2-Success"][0]
    assert success[:1] == b"\x07" and success[1:].decode() == exchange.expected_success()
    send_key, recv_key = mschap.mppe_keys(exchange.password_hash, exchange.nt_response)
    assert reply["MS-MPPE-Send-Key"] == [send_key] and reply["MS-MPPE-Recv-Key"] == [recv_key]
    assert reply["MS-MPPE-Encryption-Policy"] == [1]


def test_mschapv2_with_a_windows_domain_prefix(env):
    # Windows PPP clients send DOMAIN\user; RFC 2759 hashes the challenge without the domain
    acct = env.account(subscriber={"connection_type": "pppoe"})
    c = env.client()
    exchange = mschapv2_request(c, f"CORP\\{acct.username}", acct.password)
    reply = c.SendPacket(exchange.request)
    assert reply.code == AccessAccept, reply.get("Reply-Message")
    assert reply["MS-CHAP2-Success"][0][1:].decode() == exchange.expected_success()
    wrong = c.SendPacket(mschapv2_request(c, f"CORP\\{acct.username}", "not-it").request)
    assert wrong.code == AccessReject


def test_mschapv2_wrong_password_gets_ms_chap_error(env):
    c = env.client()
    reply = c.SendPacket(mschapv2_request(c, "demo", "bad-password").request)
    assert reply.code == AccessReject
    error = reply["MS-CHAP-Error"][0]
    assert re.match(rb"^\x07E=691 R=0 C=[0-9A-F]{32} V=3 M=Wrong username or password\.$", error)


def test_a_retransmitted_request_gets_the_same_answer_once_processed(env):
    c = env.client()
    raw = pap_request(c, "demo", "demo123").RequestPacket()
    before = env.harness.stats["access_requests"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(ANSWER_TIMEOUT_S)
        s.sendto(raw, ("127.0.0.1", env.harness.service.auth_port))
        first = s.recv(4096)
        s.sendto(raw, ("127.0.0.1", env.harness.service.auth_port))
        second = s.recv(4096)
    assert first == second
    assert env.harness.stats["access_requests"] == before + 1


# ---------------------------------------------------------------- BlastRADIUS hardening and NAS clients
def test_requests_without_message_authenticator_are_dropped_when_required(env):
    c = env.client()
    req = c.CreateAuthPacket(code=AccessRequest, User_Name="demo", message_authenticator=False)
    req["User-Password"] = req.PwCrypt("demo123")
    env.harness.expect_dropped(req.RequestPacket(), "dropped_missing_message_authenticator")


def test_gateway_not_requiring_message_authenticator(env):
    ip = env.gateway(require_message_authenticator=False)
    secret = f"secret-{ip.rsplit('.', 1)[1]}".encode()
    c = env.client(secret, source_ip=ip)
    plain = c.CreateAuthPacket(code=AccessRequest, User_Name="demo", message_authenticator=False)
    plain["User-Password"] = plain.PwCrypt("demo123")
    assert c.SendPacket(plain).code == AccessAccept
    # Proxy-State without Message-Authenticator: the BlastRADIUS signature, dropped
    proxied = c.CreateAuthPacket(code=AccessRequest, User_Name="demo", message_authenticator=False)
    proxied["User-Password"] = proxied.PwCrypt("demo123")
    proxied["Proxy-State"] = b"state-1"
    env.harness.expect_dropped(
        proxied.RequestPacket(), "dropped_proxy_state_without_message_authenticator", source_ip=ip
    )
    # with a Message-Authenticator the Proxy-State is fine and echoed back
    signed = pap_request(c, "demo", "demo123", Proxy_State=b"state-2")
    reply = c.SendPacket(signed)
    assert reply.code == AccessAccept and reply["Proxy-State"] == [b"state-2"]


def test_eap_message_without_message_authenticator_is_dropped(env):
    # RFC 3579 §3.2, even from a gateway that does not require Message-Authenticator
    ip = env.gateway(require_message_authenticator=False)
    c = env.client(f"secret-{ip.rsplit('.', 1)[1]}".encode(), source_ip=ip)
    eap = c.CreateAuthPacket(code=AccessRequest, User_Name="demo", message_authenticator=False)
    eap["User-Password"] = eap.PwCrypt("demo123")
    eap["EAP-Message"] = b"\x02\x01\x00\x09\x01demo"  # EAP-Response/Identity
    env.harness.expect_dropped(eap.RequestPacket(), "dropped_eap_without_message_authenticator", source_ip=ip)
    # with a valid Message-Authenticator the same request is processed
    signed = pap_request(c, "demo", "demo123", EAP_Message=b"\x02\x01\x00\x09\x01demo")
    assert c.SendPacket(signed).code in (AccessAccept, AccessReject)


def test_an_attribute_running_past_the_packet_end_is_dropped(env):
    ip = env.gateway(require_message_authenticator=False)
    c = env.client(f"secret-{ip.rsplit('.', 1)[1]}".encode(), source_ip=ip)
    req = c.CreateAuthPacket(code=AccessRequest, User_Name="demo", message_authenticator=False)
    req["User-Password"] = req.PwCrypt("demo123")
    req["NAS-Identifier"] = "demo-router"
    raw = bytearray(req.RequestPacket())
    # the last attribute (NAS-Identifier) claims 4 octets more than the packet holds
    last = 20
    while last + raw[last + 1] < len(raw):
        last += raw[last + 1]
    raw[last + 1] += 4
    env.harness.expect_dropped(bytes(raw), "dropped_malformed", source_ip=ip)
    # the same request well formed is answered
    assert c.SendPacket(req).code == AccessAccept


def test_invalid_message_authenticator_is_dropped(env):
    c = env.client(b"not-the-secret")
    env.harness.expect_dropped(
        pap_request(c, "demo", "demo123").RequestPacket(), "dropped_bad_message_authenticator"
    )


def test_packets_from_unknown_addresses_are_dropped_and_counted(env):
    c = env.client()
    env.harness.expect_dropped(
        pap_request(c, "demo", "demo123").RequestPacket(), "dropped_unknown_nas", source_ip="127.0.0.250"
    )


def test_a_new_gateway_secret_applies_without_restart(env):
    ip = env.gateway()
    n = ip.rsplit(".", 1)[1]
    first = env.client(f"secret-{n}".encode(), source_ip=ip)
    assert first.SendPacket(pap_request(first, "demo", "demo123")).code == AccessAccept
    gw = Gateway.get(f"gw_{n}")
    gw.radius_secret_enc = env.runtime.box.encrypt("rotated")
    gw.save()
    env.harness.reload_nas()  # what the periodic refresh does
    c = env.client(b"rotated", source_ip=ip)
    assert c.SendPacket(pap_request(c, "demo", "demo123")).code == AccessAccept


# ---------------------------------------------------------------- SPEC S6 rules, one concrete case each
def test_daily_time_allowance(env):
    acct = env.account(policy={"daily_time_min": 60}, subscriber={"usage": {"d:2026-11-18:t": 50 * 60}})
    reply = send(env, acct.username, acct.password)
    assert reply.code == AccessAccept and reply["Session-Timeout"] == [600]
    set_subscriber(acct.login, usage={"d:2026-11-18:t": 60 * 60})
    reply = send(env, acct.username, acct.password)
    assert reply.code == AccessReject
    assert reply["Reply-Message"] == ["Daily time allowance used up. It resets on 2026-11-19 00:00 CST."]


def test_data_allowances_cap_the_session_and_policy_beats_product(env):
    acct = env.account(
        policy={"monthly_data_mb": 6144},
        product={"monthly_data_mb": 100},
        subscriber={"usage": {"m:2026-11:o": 1024 * MB}},
    )
    reply = send(env, acct.username, acct.password)
    assert reply["Mikrotik-Total-Limit-Gigawords"] == [1] and reply["Mikrotik-Total-Limit"] == [1024 * MB]
    set_subscriber(acct.login, usage={"m:2026-11:o": 6000 * MB, "m:2026-11:i": 144 * MB})
    reply = send(env, acct.username, acct.password)
    assert reply.code == AccessReject and reply["Reply-Message"][0].startswith(
        "Monthly data allowance used up"
    )


def test_weekly_allowance_with_sunday_first(env):
    acct = env.account(
        policy={"weekly_time_min": 30, "first_day_of_week": 7}, subscriber={"usage": {"w:2026-11-15:t": 1800}}
    )
    reply = send(env, acct.username, acct.password)
    assert reply.code == AccessReject and "2026-11-22 00:00" in reply["Reply-Message"][0]


def test_timeouts_interim_burst_and_address_list(env):
    burst = {
        "download_limit": 20_000_000,
        "upload_limit": 4_000_000,
        "download_threshold": 8_000_000,
        "upload_threshold": 1_500_000,
        "download_time": 16,
        "upload_time": 16,
    }
    acct = env.account(
        policy={
            "session_timeout_min": 120,
            "idle_timeout_min": 15,
            "interim_update_s": 60,
            "burst": burst,
            "address_list": "policy-list",
        },
        product={"address_list": "product-list"},
    )
    reply = send(env, acct.username, acct.password)
    assert attrs(reply) == {
        "Session-Timeout": [7200],
        "Idle-Timeout": [900],
        "Acct-Interim-Interval": [300],
        "Mikrotik-Rate-Limit": ["2M/10M 4M/20M 1500k/8M 16/16"],
        "Mikrotik-Address-List": ["policy-list"],
    }
    partial = env.account(policy={"burst": {**burst, "upload_time": 0}})
    assert send(env, partial.username, partial.password)["Mikrotik-Rate-Limit"] == ["2M/10M"]


def test_activation_schedule(env):
    acct = env.account(policy={"schedule": {str(d): list(range(8, 18)) for d in range(1, 6)}})
    reply = send(env, acct.username, acct.password)
    assert reply.code == AccessAccept and reply["Session-Timeout"] == [7 * 3600]
    env.clock.now = NOW + timedelta(hours=9)  # 20:00 local
    reply = send(env, acct.username, acct.password)
    assert reply.code == AccessReject
    assert reply["Reply-Message"] == [
        "Login is not allowed at this hour. Next opening: 2026-11-19 08:00 CST."
    ]


def test_max_devices_counted_since_the_product_assignment(env):
    acct = env.account(
        policy={"max_devices": 2},
        subscriber={
            "devices": ["AA:AA:AA:AA:AA:01", "AA:AA:AA:AA:AA:02"],
            "devices_since": "2026-11-01T06:00:00.000000Z",
        },
    )
    assert send(env, acct.username, acct.password, Calling_Station_Id=MAC_B).code == AccessAccept
    reply = send(env, acct.username, acct.password, Calling_Station_Id=MAC_C)
    assert reply.code == AccessReject and "allows 2 device(s)" in reply["Reply-Message"][0]
    set_subscriber(acct.login, product_assigned_at="2026-11-18T00:00:00.000000Z")  # a new product
    assert send(env, acct.username, acct.password, Calling_Station_Id=MAC_C).code == AccessAccept


def test_concurrent_connections_follow_accounting(env):
    acct = env.account(policy={"concurrent_connections": 1})
    c = env.client()
    start = c.CreateAcctPacket(
        User_Name=acct.username, Acct_Status_Type="Start", Acct_Session_Id="cc-1", Calling_Station_Id=MAC_A
    )
    c.SendPacket(start)
    reply = send(env, acct.username, acct.password, Calling_Station_Id=MAC_B)
    assert reply.code == AccessReject and "1 at the same time" in reply["Reply-Message"][0]
    # the same device reconnecting (e.g. after a NAS reboot lost its Stop) is let in
    assert send(env, acct.username, acct.password, Calling_Station_Id=MAC_A).code == AccessAccept
    stop = c.CreateAcctPacket(
        User_Name=acct.username,
        Acct_Status_Type="Stop",
        Acct_Session_Id="cc-1",
        Acct_Session_Time=60,
        Calling_Station_Id=MAC_A,
    )
    c.SendPacket(stop)
    assert send(env, acct.username, acct.password, Calling_Station_Id=MAC_B).code == AccessAccept


def test_split_credits_between_concurrent_connections(env):
    acct = env.account(
        policy={
            "monthly_time_min": 300,
            "monthly_data_mb": 3000,
            "split_credits": True,
            "concurrent_connections": 3,
            "max_devices": 3,
        }
    )
    reply = send(env, acct.username, acct.password)
    assert reply["Session-Timeout"] == [100 * 60] and reply["Mikrotik-Total-Limit"] == [1000 * MB]
    set_subscriber(acct.login, usage={"m:2026-11:t": 290 * 60, "m:2026-11:o": 2990 * MB})
    reply = send(env, acct.username, acct.password)
    assert reply["Session-Timeout"] == [5 * 60] and reply["Mikrotik-Total-Limit"] == [10 * MB]


def test_check_and_reply_attributes(env):
    acct = env.account(
        policy={
            "check_attributes": [{"name": "NAS-Identifier", "op": "==", "value": "demo-router"}],
            "reply_attributes": [
                {"name": "Filter-Id", "value": "gold"},
                {"name": "Framed-IP-Netmask", "value": "255.255.255.0"},
                {"name": "Port-Limit", "value": "2"},
                {"name": "Port-Limit", "value": "not-a-number"},
                {"name": "No-Such-Attr", "value": "x"},
            ],
        }
    )
    reply = send(env, acct.username, acct.password, NAS_Identifier="demo-router")
    assert reply.code == AccessAccept
    assert reply["Filter-Id"] == ["gold"] and reply["Framed-IP-Netmask"] == ["255.255.255.0"]
    assert reply["Port-Limit"] == [2]
    assert env.harness.stats["reply_attribute_skipped"] >= 2
    reply = send(env, acct.username, acct.password, NAS_Identifier="other-router")
    assert reply.code == AccessReject and "NAS-Identifier" in reply["Reply-Message"][0]


def test_free_auto_generated_users_are_exempt_from_allowances(env):
    acct = env.account(
        policy={"daily_time_min": 10}, subscriber={"free_user": True, "usage": {"d:2026-11-18:t": 3600}}
    )
    reply = send(env, acct.username, acct.password)
    assert reply.code == AccessAccept and "Session-Timeout" not in reply


def test_mac_authentication(env):
    acct = env.account(
        subscriber={"username": "AA:BB:CC:00:00:01", "mac_auth": True, "mac": "AA:BB:CC:00:00:01"}
    )
    ok = send(env, "aa-bb-cc-00-00-01", "", Calling_Station_Id="AA-BB-CC-00-00-01")
    assert ok.code == AccessAccept, acct
    spoofed = send(env, "aa-bb-cc-00-00-01", "", Calling_Station_Id="AA-BB-CC-00-00-02")
    assert spoofed.code == AccessReject


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"status": "cancelled"}, "Your service has been cancelled. Please contact your provider."),
        (
            {"product_expires_at": "2026-11-18T16:00:00.000000Z"},
            "Your plan expired on 2026-11-18 10:00 CST. Recharge to connect again.",
        ),
        ({"product_id": None}, "You have no active plan. Buy or recharge a plan to connect."),
    ],
)
def test_refused_statuses_and_products(env, fields, message):
    acct = env.account(subscriber=fields)
    reply = send(env, acct.username, acct.password)
    assert reply.code == AccessReject and reply["Reply-Message"] == [message]


def test_suspended_subscriber_restricted_or_rejected_per_gateway(env):
    acct = env.account(subscriber={"status": "suspended"})
    reply = send(env, acct.username, acct.password)  # demo gateway: restricted list
    assert reply.code == AccessAccept and reply["Mikrotik-Address-List"] == ["morosos"]
    assert "non-payment" in reply["Reply-Message"][0]
    ip = env.gateway(blocked_mode="reject")
    c = env.client(f"secret-{ip.rsplit('.', 1)[1]}".encode(), source_ip=ip)
    reply = c.SendPacket(pap_request(c, acct.username, acct.password))
    assert reply.code == AccessReject
    assert reply["Reply-Message"] == [
        "Your service is suspended for non-payment. Pay your invoice to reconnect."
    ]


def test_rate_modulation_by_traffic_lowers_the_rate_at_login(env):
    modulation = {
        "algorithm": "linear",
        "period": "month",
        "traffic_type": "total",
        "max_total_mb": 1000,
        "min_download_rate": 1_000_000,
        "min_upload_rate": 500_000,
    }
    acct = env.account(policy={"modulation": modulation})
    assert send(env, acct.username, acct.password)["Mikrotik-Rate-Limit"] == ["2M/10M"]
    set_subscriber(acct.login, usage={"m:2026-11:o": 500 * 1024 * 1024})  # half the maximum traffic (MiB)
    assert send(env, acct.username, acct.password)["Mikrotik-Rate-Limit"] == ["1250k/5500k"]
