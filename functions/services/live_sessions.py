"""Apply a subscriber's new status or plan to its live RADIUS sessions (SPEC S3, S4, S6).

A suspension, a cancellation or a product change made while the subscriber is online would otherwise
wait for the session to end. Per open session, on the gateway that reported it:

| change | MikroTik (CoA supported) | other gateways |
|---|---|---|
| suspend, gateway in ``restricted`` mode | CoA with ``Mikrotik-Address-List`` = the blocked list | Disconnect |
| suspend, gateway in ``reject`` mode; cancel | Disconnect | Disconnect |
| product change | CoA with the new ``Mikrotik-Rate-Limit`` (what a login would get now) | Disconnect |
| back to service (activate a suspended one) | Disconnect: it logs in again without the restriction | Disconnect |

A CoA the gateway refuses is followed by a Disconnect; a product change whose new plan refuses the
login (allowance used up, outside hours) or sets no rate disconnects. When the gateway does not
answer, the session is closed in the RADIUS data and the report carries the S4 warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from adapters.dynauth import DynAuthSender, UdpDynAuthSender
from core.ids import utcnow
from core.modulation import modulated_rates
from core.radius.accounting import ClosedBy
from core.radius.model import GatewayView, OpenSession, SubscriberView
from core.radius.policy import AuthRequest, evaluate
from services.disconnect import (
    NOT_REACHABLE_WARNING,
    GatewayDirectory,
    SessionResult,
    StoreGatewayDirectory,
    change_session,
    disconnect_session,
)
from services.radius_sessions import Catalog, StoreCatalog, close_session, product_and_policy
from store.radius_repo import DynamoRadiusStore, RadiusStore, login_key

COA_VENDORS = frozenset({"mikrotik"})  # RouterOS applies CoA attributes to a live session
# Requests from an API call: an unreachable gateway costs at most 2 x 1 s per session
API_TIMEOUT_S = 1.0
API_RETRIES = 1


class LiveChange(StrEnum):
    SUSPEND = "suspend"
    CANCEL = "cancel"
    PLAN = "plan"
    RESTORE = "restore"


@dataclass(frozen=True)
class LiveSession:
    session_id: str
    nas_ip: str
    acct_session_id: str
    action: str  # coa | disconnect
    result: str  # SessionResult

    def as_dict(self) -> dict[str, str]:
        return {
            "session_id": self.session_id,
            "nas_ip": self.nas_ip,
            "acct_session_id": self.acct_session_id,
            "action": self.action,
            "result": self.result,
        }


@dataclass(frozen=True)
class LiveReport:
    sessions: tuple[LiveSession, ...]

    @property
    def warning(self) -> str | None:
        unreachable = any(s.result == SessionResult.UNREACHABLE for s in self.sessions)
        return NOT_REACHABLE_WARNING if unreachable else None


def _coa_attributes(
    change: LiveChange,
    sub: SubscriberView,
    session: OpenSession,
    gateway: GatewayView,
    catalog: Catalog,
    now: datetime,
) -> Sequence[tuple[str, str | int]] | None:
    """What a CoA must carry for the change, or None when only a Disconnect applies it."""
    if gateway.vendor not in COA_VENDORS:
        return None
    if change is LiveChange.SUSPEND:
        if gateway.blocked_mode == "restricted" and gateway.blocked_address_list:
            return [("Mikrotik-Address-List", gateway.blocked_address_list)]
        return None
    if change is LiveChange.PLAN:
        product, policy = product_and_policy(catalog, sub)
        request = AuthRequest(nas_ip=session.nas_ip, mac=session.mac)
        decision = evaluate(sub, product, policy, gateway, request, now, modulated_rates)
        rate = decision.attribute("Mikrotik-Rate-Limit") if decision.accept else None
        return [("Mikrotik-Rate-Limit", str(rate))] if rate else None
    return None


def apply_change(
    store: RadiusStore,
    sender: DynAuthSender,
    gateways: GatewayDirectory,
    catalog: Catalog,
    tenant_id: str,
    username: str,
    change: LiveChange,
    now: datetime,
) -> LiveReport | None:
    """CoA or Disconnect for every open session of the subscriber; None when it has none."""
    sub = store.get_subscriber(login_key(tenant_id, username))
    sessions = [s for s in sub.open_sessions.values() if s.is_open] if sub is not None else []
    if sub is None or not sessions:
        return None
    done = []
    for session in sessions:
        found = gateways.for_nas(session.nas_ip)
        attrs = _coa_attributes(change, sub, session, found[0], catalog, now) if found else None
        action, result = "disconnect", None
        if attrs:
            action, result = "coa", change_session(sender, gateways, sub, session, attrs).result
            if result == SessionResult.UNREACHABLE:
                close_session(store, session.key, ClosedBy.ADMIN, now)  # as a Disconnect would
        if result not in (SessionResult.CHANGED, SessionResult.UNREACHABLE):
            action = "disconnect"
            result = disconnect_session(store, sender, gateways, sub, session, now).result
        done.append(LiveSession(session.key, session.nas_ip, session.acct_session_id, action, str(result)))
    return LiveReport(tuple(done))


def apply_change_now(rt: Any, tenant_id: str, username: str, change: LiveChange) -> LiveReport | None:
    """:func:`apply_change` against the real store and gateways (the lifecycle actions)."""
    store = DynamoRadiusStore()
    return apply_change(
        store,
        UdpDynAuthSender(timeout=API_TIMEOUT_S, retries=API_RETRIES),
        StoreGatewayDirectory(store, rt.box.decrypt),
        StoreCatalog(store),
        tenant_id,
        username,
        change,
        utcnow(),
    )
