"""Scheduled rate-modulation run (SPEC S6): at a policy's activate/deactivate hour, in each gateway's
time zone, the online subscribers whose rate changes get a CoA-Request with the new
Mikrotik-Rate-Limit (MikroTik gateways) or a Disconnect-Request so they log in again with the rate
the RADIUS service now computes. Not real time, per the spec: it acts only at those hours.

The run fires every quarter-hour and acts on the gateways whose local hour starts in that
quarter-hour, so half- and quarter-hour zones (Asia/Kolkata, Asia/Kathmandu) are served on time and
every gateway once per local hour. An hour the clocks skip when they go forward starts together with
the hour they jump to, so a policy activated or deactivated at it still changes that night.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from adapters.dynauth import DynAuthSender, UdpDynAuthSender
from core.ids import utcnow
from core.modulation import ModulationSettings, compute, local_hours_starting
from core.radius.model import GatewayView, OpenSession, PolicyView, SubscriberView
from core.radius.usage import zone
from core.rates import mikrotik_rate_limit
from core.statuses import SERVICE_STATUSES
from services.disconnect import (
    GatewayDirectory,
    SessionResult,
    StoreGatewayDirectory,
    change_session_rate,
    disconnect_session,
)
from services.live_sessions import COA_VENDORS
from services.radius_sessions import (
    Catalog,
    StoreCatalog,
    modulation_enabled,
    modulation_settings,
    product_and_policy,
)
from shared.observability import get_logger
from store.radius_repo import DynamoRadiusStore, RadiusStore, login_key

log = get_logger("modulation")


@dataclass
class ModulationRunReport:
    checked: int = 0  # online subscribers of modulated policies at a transition hour
    unchanged: int = 0
    changed_by_coa: int = 0
    disconnected: int = 0
    unreachable: int = 0
    invalid_settings: int = 0  # subscribers whose policy has a modulation setting this version cannot read
    actions: list[dict[str, Any]] = field(default_factory=list)


def _transition(settings: ModulationSettings, local_hours: tuple[int, ...]) -> bool:
    return settings.enabled and any(
        h in (settings.activate_hour, settings.deactivate_hour) for h in local_hours
    )


def _rates(
    policy: PolicyView, sub: SubscriberView, at: datetime, gateway: GatewayView
) -> tuple[int, int, Any]:
    r = compute(
        policy.modulation,
        policy.download_rate,
        policy.upload_rate,
        policy.burst,
        sub.usage,
        at,
        zone(gateway.timezone),
    )
    return r.download, r.upload, r.burst


def _online(store: RadiusStore, gateway: GatewayView) -> dict[str, tuple[SubscriberView, list[OpenSession]]]:
    """Online subscribers of a gateway with their open sessions on it, by login."""
    found: dict[str, tuple[SubscriberView, list[OpenSession]]] = {}
    for session_id in store.open_session_ids(gateway.nas_ip):
        row = store.get_session_log(session_id)
        if row is None or row.ended_at:
            continue
        login = login_key(row.tenant_id, row.username)
        if login in found:
            continue
        sub = store.get_subscriber(login)
        if sub is None:
            continue
        sessions = [s for s in sub.open_sessions.values() if s.is_open and s.nas_ip == gateway.nas_ip]
        if sessions:
            found[login] = (sub, sessions)
    return found


def run_modulation(
    store: RadiusStore,
    catalog: Catalog,
    sender: DynAuthSender,
    gateways: GatewayDirectory,
    now: datetime,
) -> ModulationRunReport:
    """Apply the rate changes due at this hour; returns what was done per subscriber."""
    report = ModulationRunReport()
    for gateway in store.list_gateways():
        local_hours = local_hours_starting(now, zone(gateway.timezone))
        if not local_hours:
            continue  # this gateway's local hour starts at another quarter-hour run
        for sub, sessions in _online(store, gateway).values():
            if sub.status not in SERVICE_STATUSES:
                continue
            _, policy = product_and_policy(catalog, sub)
            if policy is None or not modulation_enabled(policy):
                continue
            settings = modulation_settings(policy)
            if settings is None:
                report.invalid_settings += 1
                continue
            if not _transition(settings, local_hours):
                continue
            report.checked += 1
            new = _rates(policy, sub, now, gateway)
            before = _rates(policy, sub, now - timedelta(hours=1), gateway)
            if new[:2] == before[:2]:
                report.unchanged += 1
                continue
            rate_limit = mikrotik_rate_limit(new[0], new[1], new[2])
            for session in sessions:
                action = "coa"
                outcome = None
                if gateway.vendor in COA_VENDORS:
                    outcome = change_session_rate(sender, gateways, sub, session, rate_limit)
                if outcome is None or outcome.result not in (SessionResult.CHANGED,):
                    action = "disconnect"
                    outcome = disconnect_session(store, sender, gateways, sub, session, now)
                if outcome.result == SessionResult.UNREACHABLE:
                    report.unreachable += 1
                elif action == "coa":
                    report.changed_by_coa += 1
                else:
                    report.disconnected += 1
                report.actions.append(
                    {
                        "subscriber_id": sub.id,
                        "gateway_id": gateway.id,
                        "action": action,
                        "result": outcome.result.value,
                        "rate_limit": rate_limit,
                    }
                )
    return report


def run_modulation_now(
    rt: Any, now: datetime | None = None, sender_factory: Callable[[], DynAuthSender] | None = None
) -> ModulationRunReport:
    """The scheduled run against the real store (cron function and local scheduler)."""
    store = DynamoRadiusStore()
    sender = sender_factory() if sender_factory else UdpDynAuthSender()
    return run_modulation(
        store,
        StoreCatalog(store),
        sender,
        StoreGatewayDirectory(store, rt.box.decrypt),
        now or utcnow(),
    )
