"""The Access-Request operation: find the subscriber, verify its credentials, apply its policy.

Blocking (one subscriber read; products and policies come from the cache): the server runs it in
its thread pool. Every reject carries a Reply-Message with the reason (and, for MS-CHAP, an
MS-CHAP-Error whose text PPP clients display).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pyrad.packet import AuthPacket

from core.ids import utcnow
from core.radius.accounting import normalize_mac
from core.radius.model import SubscriberView
from core.radius.policy import MESSAGES, AuthRequest, Modulator, RejectReason, evaluate
from radius_container import credentials
from radius_container.nas import NasClient, NasRegistry
from services.radius_sessions import Catalog, product_and_policy
from store.radius_repo import RadiusStore, login_key

Reply = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class AccessResult:
    accept: bool
    reply: Reply
    method: str
    reason: RejectReason | None = None
    restricted: bool = False


class PacketAttributes(Mapping[str, tuple[str, ...]]):
    """Request attributes by name, decoded on first use (only policies with check attributes read them)."""

    def __init__(self, pkt: AuthPacket) -> None:
        self._pkt = pkt

    def __getitem__(self, name: str) -> tuple[str, ...]:
        try:
            values = self._pkt[name]
        except Exception as exc:  # unknown name or undecodable value: the attribute is "absent"
            raise KeyError(name) from exc
        return tuple(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values)

    def __iter__(self) -> Iterator[str]:
        names = self._pkt.keys()  # pyrad's keys() decodes attribute numbers to names
        return iter([k for k in names if isinstance(k, str)])

    def __len__(self) -> int:
        return len(self._pkt)


def user_name(pkt: AuthPacket) -> str:
    values = dict.get(pkt, 1)
    if not values:
        return ""
    return bytes(values[0]).decode("utf-8", "replace").strip()


class Authorizer:
    def __init__(
        self,
        store: RadiusStore,
        catalog: Catalog,
        registry: NasRegistry,
        decrypt: Callable[[str], str],
        *,
        modulator: Modulator | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._registry = registry
        self._decrypt = decrypt
        self._modulator = modulator
        self._clock = clock

    def _find(self, tenant_id: str, name: str) -> SubscriberView | None:
        sub = self._store.get_subscriber(login_key(tenant_id, name))
        if sub is None:
            mac = normalize_mac(name)
            if mac is not None and mac.lower() != name.lower():
                # MAC authentication: NASes spell MACs in several ways; accounts use AA:BB:CC:DD:EE:FF
                sub = self._store.get_subscriber(login_key(tenant_id, mac))
        return sub

    def _refuse(
        self, pkt: AuthPacket, method: str, reason: RejectReason, message: str | None = None
    ) -> AccessResult:
        text = message or MESSAGES[reason]
        reply: Reply = (("Reply-Message", text), *credentials.mschap_error(pkt, text))
        return AccessResult(False, reply, method, reason)

    def authorize(self, nas: NasClient, pkt: AuthPacket) -> AccessResult:
        """Decide one Access-Request from ``nas`` (its Message-Authenticator is already checked)."""
        name = user_name(pkt)
        method = credentials.method_of(pkt)
        if not name or len(name) > 253:
            return self._refuse(pkt, method, RejectReason.BAD_CREDENTIALS)
        sub = self._find(nas.gateway.tenant_id, name)
        if sub is None:
            return self._refuse(pkt, method, RejectReason.BAD_CREDENTIALS)
        if sub.mac_auth:
            check = credentials.verify_mac(pkt, sub.mac or sub.username)
        else:
            check = credentials.verify(pkt, name, self._decrypt(sub.password_enc))
        if not check.ok:
            return self._refuse(pkt, check.method, RejectReason.BAD_CREDENTIALS)

        product, policy = product_and_policy(self._catalog, sub)
        request = AuthRequest(
            nas_ip=nas.gateway.nas_ip,
            mac=credentials.calling_station_mac(pkt),
            attributes=PacketAttributes(pkt),
            nas_reboots=self._registry.reboots(),
        )
        decision = evaluate(sub, product, policy, nas.gateway, request, self._clock(), self._modulator)
        if not decision.accept:
            assert decision.reason is not None
            return self._refuse(pkt, check.method, decision.reason, decision.message)
        return AccessResult(True, check.reply + decision.reply, check.method, restricted=decision.restricted)
