"""Disconnect a subscriber or change its rate on the gateway (RFC 5176), SPEC S4 "Disconnect user".

The request goes to the NAS recorded in accounting and names the session by User-Name,
Acct-Session-Id and Framed-IP-Address. On ACK (or "session not found") the session is closed in
the RADIUS data too; when the gateway does not answer it is closed in the data anyway and the
report carries the S4 warning. Also used to enforce allowances on gateways that cannot cut a
session at a traffic limit themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from adapters.dynauth import COA_REQUEST, DISCONNECT_REQUEST, DynAuthOutcome, DynAuthSender
from core.errors import InvalidStateError, NotFoundError
from core.radius.accounting import ClosedBy
from core.radius.model import GatewayView, OpenSession, SubscriberView
from services.radius_sessions import close_session
from store.radius_repo import RadiusStore, login_key

NOT_REACHABLE_WARNING = (
    "The gateway is not reachable and therefore it is not possible to disconnect the user. "
    "Anyway, it has been disconnected in the data of the radius"
)
SESSION_CONTEXT_NOT_FOUND = 503


class GatewayDirectory(Protocol):
    def for_nas(self, nas_ip: str) -> tuple[GatewayView, bytes] | None:
        """The gateway that owns a NAS address and its RADIUS secret."""
        ...


class StoreGatewayDirectory:
    """A :class:`GatewayDirectory` reading the gateways from the store (API and cron functions)."""

    def __init__(self, store: RadiusStore, decrypt: Callable[[str], str]) -> None:
        self._store = store
        self._decrypt = decrypt

    def for_nas(self, nas_ip: str) -> tuple[GatewayView, bytes] | None:
        for gw in self._store.list_gateways():
            if gw.nas_ip == nas_ip:
                return gw, self._decrypt(gw.secret_enc).encode()
        return None


class SessionResult(StrEnum):
    DISCONNECTED = "disconnected"  # the gateway acknowledged
    NOT_ON_GATEWAY = "not_on_gateway"  # the gateway no longer had it (NAK 503)
    REFUSED = "refused"  # the gateway refused (NAK with another cause)
    UNREACHABLE = "unreachable"  # no answer, or the gateway does not accept requests
    CHANGED = "changed"  # CoA acknowledged


@dataclass(frozen=True)
class SessionOutcome:
    session_id: str
    nas_ip: str
    acct_session_id: str
    result: SessionResult
    error_cause: int | None = None


@dataclass(frozen=True)
class DynAuthReport:
    subscriber_id: str
    sessions: tuple[SessionOutcome, ...]

    @property
    def gateway_reachable(self) -> bool:
        return all(s.result != SessionResult.UNREACHABLE for s in self.sessions)

    @property
    def warning(self) -> str | None:
        return None if self.gateway_reachable else NOT_REACHABLE_WARNING


def _identify(sub: SubscriberView, session: OpenSession) -> list[tuple[str, str | int]]:
    attrs: list[tuple[str, str | int]] = [
        ("User-Name", sub.username),
        ("Acct-Session-Id", session.acct_session_id),
    ]
    if session.framed_ip:
        attrs.append(("Framed-IP-Address", session.framed_ip))
    return attrs


def disconnect_session(
    store: RadiusStore,
    sender: DynAuthSender,
    gateways: GatewayDirectory,
    sub: SubscriberView,
    session: OpenSession,
    at: datetime,
) -> SessionOutcome:
    """Send a Disconnect-Request for one session and record the result in the RADIUS data."""
    found = gateways.for_nas(session.nas_ip)
    result, cause = SessionResult.UNREACHABLE, None
    if found is not None and found[0].send_disconnect_requests:
        gateway, secret = found
        reply = sender.send(
            gateway.nas_ip, gateway.coa_port, secret, DISCONNECT_REQUEST, _identify(sub, session)
        )
        cause = reply.error_cause
        if reply.outcome == DynAuthOutcome.ACK:
            result = SessionResult.DISCONNECTED
        elif reply.outcome == DynAuthOutcome.NAK:
            result = (
                SessionResult.NOT_ON_GATEWAY if cause == SESSION_CONTEXT_NOT_FOUND else SessionResult.REFUSED
            )
    if result != SessionResult.REFUSED:
        close_session(store, session.key, ClosedBy.ADMIN, at)
    return SessionOutcome(session.key, session.nas_ip, session.acct_session_id, result, cause)


def _connected(store: RadiusStore, tenant_id: str, username: str) -> tuple[SubscriberView, list[OpenSession]]:
    sub = store.get_subscriber(login_key(tenant_id, username))
    if sub is None:
        raise NotFoundError("subscriber not found", field="username")
    sessions = [s for s in sub.open_sessions.values() if s.is_open]
    if not sessions:
        raise InvalidStateError("the subscriber is not connected", field="username")
    return sub, sessions


def disconnect_subscriber(
    store: RadiusStore,
    sender: DynAuthSender,
    gateways: GatewayDirectory,
    tenant_id: str,
    username: str,
    at: datetime,
) -> DynAuthReport:
    """Disconnect every open session of a subscriber from its gateway and from the RADIUS data.

    Raises NotFoundError for an unknown subscriber and InvalidStateError when nothing is connected.
    """
    sub, sessions = _connected(store, tenant_id, username)
    outcomes = tuple(disconnect_session(store, sender, gateways, sub, s, at) for s in sessions)
    return DynAuthReport(sub.id, outcomes)


def change_session(
    sender: DynAuthSender,
    gateways: GatewayDirectory,
    sub: SubscriberView,
    session: OpenSession,
    attributes: Sequence[tuple[str, str | int]],
) -> SessionOutcome:
    """CoA-Request with new attributes for a live session (the RADIUS data is not changed)."""
    found = gateways.for_nas(session.nas_ip)
    result, cause = SessionResult.UNREACHABLE, None
    if found is not None and found[0].send_disconnect_requests:
        gateway, secret = found
        reply = sender.send(
            gateway.nas_ip, gateway.coa_port, secret, COA_REQUEST, [*_identify(sub, session), *attributes]
        )
        cause = reply.error_cause
        if reply.outcome == DynAuthOutcome.ACK:
            result = SessionResult.CHANGED
        elif reply.outcome == DynAuthOutcome.NAK:
            result = (
                SessionResult.NOT_ON_GATEWAY if cause == SESSION_CONTEXT_NOT_FOUND else SessionResult.REFUSED
            )
    return SessionOutcome(session.key, session.nas_ip, session.acct_session_id, result, cause)


def change_session_rate(
    sender: DynAuthSender,
    gateways: GatewayDirectory,
    sub: SubscriberView,
    session: OpenSession,
    rate_limit: str,
) -> SessionOutcome:
    """CoA-Request with a new Mikrotik-Rate-Limit for a live session (the data is not changed)."""
    return change_session(sender, gateways, sub, session, [("Mikrotik-Rate-Limit", rate_limit)])


def change_subscriber_rate(
    store: RadiusStore,
    sender: DynAuthSender,
    gateways: GatewayDirectory,
    tenant_id: str,
    username: str,
    rate_limit: str,
) -> DynAuthReport:
    """Change the rate of every open session of a subscriber with a CoA-Request."""
    sub, sessions = _connected(store, tenant_id, username)
    return DynAuthReport(
        sub.id, tuple(change_session_rate(sender, gateways, sub, s, rate_limit) for s in sessions)
    )
