"""The WireGuard hub's peers, kept in step with the gateways in DynamoDB.

The hub pulls: a systemd timer on the hub invokes :func:`handle_hub_peers` every 30 seconds and
applies the ``config`` it answers with ``wg syncconf`` (peers added, changed and removed without
dropping the tunnels that stay). A router onboarded through the API is therefore reachable within
a minute, and a gateway deleted in the system loses its tunnel as quickly.

The peer set is decided here, not on the hub: only a valid WireGuard public key (32 bytes, base64)
with one address inside the VPN range (not the hub's, not the network or broadcast address) makes
a peer; two gateways claiming the same key or address are both left out and reported, since
WireGuard would silently route to one of them.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from composition import get_runtime
from shared.observability import get_logger, logger
from store.provisioning import list_gateways

log = get_logger("vpn_hub")


@dataclass(frozen=True)
class HubPeer:
    gateway_id: str
    name: str
    public_key: str
    address: str


@dataclass(frozen=True)
class PeerSet:
    peers: list[HubPeer]
    skipped: list[dict[str, str]]  # {"gateway_id", "reason"}


def _valid_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def peer_set(gateways: Iterable[Any], vpn_cidr: str, hub_address: str) -> PeerSet:
    """The hub's peers for these gateways (any object with ``id``, ``name``, ``vpn_public_key`` and
    ``vpn_address``), ordered by address."""
    net = ipaddress.IPv4Network(vpn_cidr, strict=False)
    hub = ipaddress.IPv4Address(hub_address)
    candidates: list[HubPeer] = []
    skipped: list[dict[str, str]] = []
    for gw in gateways:
        key = (getattr(gw, "vpn_public_key", None) or "").strip()
        raw = (getattr(gw, "vpn_address", None) or "").strip()
        gid = str(getattr(gw, "id", ""))
        if not key and not raw:
            continue  # not onboarded
        try:
            addr = ipaddress.IPv4Address(raw)
        except ValueError:
            skipped.append({"gateway_id": gid, "reason": f"VPN address {raw!r} is not an IPv4 address"})
            continue
        if not _valid_key(key):
            skipped.append({"gateway_id": gid, "reason": "the tunnel public key is not a WireGuard key"})
        elif addr not in net or addr in (net.network_address, net.broadcast_address, hub):
            skipped.append(
                {"gateway_id": gid, "reason": f"VPN address {addr} is not a router address of {net}"}
            )
        else:
            candidates.append(HubPeer(gid, str(getattr(gw, "name", "") or ""), key, str(addr)))
    keys = Counter(p.public_key for p in candidates)
    addrs = Counter(p.address for p in candidates)
    peers = []
    for p in candidates:
        if keys[p.public_key] > 1:
            skipped.append({"gateway_id": p.gateway_id, "reason": "another gateway has the same tunnel key"})
        elif addrs[p.address] > 1:
            skipped.append(
                {"gateway_id": p.gateway_id, "reason": f"another gateway has VPN address {p.address}"}
            )
        else:
            peers.append(p)
    peers.sort(key=lambda p: ipaddress.IPv4Address(p.address))
    return PeerSet(peers, sorted(skipped, key=lambda s: s["gateway_id"]))


def render_peers(peers: Iterable[HubPeer]) -> str:
    """``[Peer]`` sections for ``wg syncconf`` (the hub adds its own ``[Interface]`` section)."""
    return "".join(
        f"# {p.gateway_id} {p.name}".rstrip()
        + f"\n[Peer]\nPublicKey = {p.public_key}\nAllowedIPs = {p.address}/32\n\n"
        for p in peers
    )


@logger.inject_lambda_context(clear_state=True)
def handle_hub_peers(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Invoked by the hub's sync timer: the peers it must have."""
    rt = get_runtime()
    result = peer_set(list_gateways(), rt.settings.vpn_cidr, rt.settings.vpn_hub_address)
    if result.skipped:
        log.warning("gateways left out of the VPN hub", extra={"skipped": result.skipped})
    return {"peers": len(result.peers), "skipped": result.skipped, "config": render_peers(result.peers)}
