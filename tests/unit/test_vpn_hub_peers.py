"""The VPN hub's peer set: one peer per onboarded gateway, never an invalid or ambiguous one."""

from __future__ import annotations

import base64
from types import SimpleNamespace

from services.network.vpn_hub import peer_set, render_peers

CIDR, HUB = "10.99.0.0/16", "10.99.0.1"


def key(n: int) -> str:
    return base64.b64encode(bytes([n]) * 32).decode()


def gw(gid: str, k: str | None, addr: str | None, name: str = "") -> SimpleNamespace:
    return SimpleNamespace(id=gid, name=name or gid, vpn_public_key=k, vpn_address=addr)


def test_onboarded_gateways_become_peers_ordered_by_address():
    got = peer_set(
        [gw("b", key(2), "10.99.0.10"), gw("a", key(1), "10.99.0.9"), gw("c", None, None)], CIDR, HUB
    )
    assert [(p.gateway_id, p.address) for p in got.peers] == [("a", "10.99.0.9"), ("b", "10.99.0.10")]
    assert got.skipped == []  # "c" is not onboarded yet: not a peer, not an error


def test_invalid_keys_and_addresses_are_left_out_and_reported():
    got = peer_set(
        [
            gw("bad-key", "not-a-key", "10.99.0.2"),
            gw("short-key", base64.b64encode(b"x" * 16).decode(), "10.99.0.3"),
            gw("outside", key(3), "192.168.1.1"),
            gw("hub", key(4), HUB),
            gw("network", key(5), "10.99.0.0"),
            gw("garbage", key(6), "10.99.0.300"),
            gw("ok", key(7), "10.99.0.4"),
        ],
        CIDR,
        HUB,
    )
    assert [p.gateway_id for p in got.peers] == ["ok"]
    assert {s["gateway_id"] for s in got.skipped} == {
        "bad-key",
        "short-key",
        "outside",
        "hub",
        "network",
        "garbage",
    }


def test_two_gateways_with_one_key_or_one_address_are_both_left_out():
    got = peer_set(
        [
            gw("a", key(1), "10.99.0.5"),
            gw("b", key(1), "10.99.0.6"),
            gw("c", key(2), "10.99.0.7"),
            gw("d", key(3), "10.99.0.7"),
            gw("e", key(4), "10.99.0.8"),
        ],
        CIDR,
        HUB,
    )
    assert [p.gateway_id for p in got.peers] == ["e"]
    assert [s["gateway_id"] for s in got.skipped] == ["a", "b", "c", "d"]


def test_rendered_peers_are_wg_syncconf_sections():
    text = render_peers(peer_set([gw("g1", key(9), "10.99.0.20", "Tower 1")], CIDR, HUB).peers)
    assert text == f"# g1 Tower 1\n[Peer]\nPublicKey = {key(9)}\nAllowedIPs = 10.99.0.20/32\n\n"
    assert render_peers([]) == ""
