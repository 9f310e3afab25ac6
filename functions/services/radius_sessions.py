"""RADIUS session operations: record accounting, close sessions, reap stale ones.

Used by the RADIUS service for every Accounting-Request, by the admin "disconnect user" action and
by the scheduled stale-session reaper. Each operation reads the subscriber item once and writes it
with one conditional update (usage increments and the session entry together), then upserts the
connection-log row when it is due (:func:`core.radius.accounting.log_row_due`: opening, closing, the
first update of each hour): at most two writes per accounting packet, one for most Interim-Updates,
and a repeated packet writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from core.errors import ConflictError
from core.ids import iso, parse_iso
from core.modulation import ModulationSettingError, ModulationSettings, is_active
from core.radius.accounting import (
    AccountingEvent,
    ClosedBy,
    SessionLog,
    SubscriberWrite,
    plan_close,
    plan_update,
    session_log,
)
from core.radius.model import GatewayView, OpenSession, PolicyView, ProductView, SubscriberView
from core.radius.policy import (
    MIN_INTERIM_S,
    STALE_GRACE_S,
    Decision,
    allowance_refusal,
    interim_interval,
    week_start_day,
)
from core.radius.usage import zone
from shared.observability import get_logger
from store.radius_repo import RadiusStore, login_key

log = get_logger("radius")

_WRITE_ATTEMPTS = 4


class Catalog(Protocol):
    """Products and policies by id (cached in the RADIUS service, read directly elsewhere)."""

    def product(self, product_id: str | None) -> ProductView | None: ...

    def policy(self, policy_id: str | None) -> PolicyView | None: ...


class StoreCatalog:
    """Uncached :class:`Catalog` on the store, for the cron functions and the API."""

    def __init__(self, store: RadiusStore) -> None:
        self._store = store

    def product(self, product_id: str | None) -> ProductView | None:
        return self._store.get_product(product_id) if product_id else None

    def policy(self, policy_id: str | None) -> PolicyView | None:
        return self._store.get_policy(policy_id) if policy_id else None


def product_and_policy(catalog: Catalog, sub: SubscriberView) -> tuple[ProductView | None, PolicyView | None]:
    product = catalog.product(sub.product_id)
    return product, catalog.policy(product.policy_id if product else None)


def modulation_settings(policy: PolicyView) -> ModulationSettings | None:
    """The policy's modulation settings; None (logged) when a stored value is unknown to this version.

    A bad setting must never stop accounting or a login: the policy is then used without modulation.
    """
    try:
        return ModulationSettings.from_mapping(policy.modulation)
    except (ModulationSettingError, TypeError, ValueError) as exc:
        log.warning(
            "unknown modulation setting; the policy is used without modulation",
            extra={"policy_id": policy.id, "setting": getattr(exc, "field", None), "error": str(exc)},
        )
        return None


def _modulation_active_month(settings: ModulationSettings | None, at: datetime, tz: ZoneInfo) -> str | None:
    """The local month while rate modulation is active at ``at``, else None."""
    if settings is None:
        return None
    local = at.astimezone(tz)
    return local.strftime("%Y-%m") if is_active(settings, local.hour) else None


def modulation_enabled(policy: PolicyView | None) -> bool:
    return bool(policy and policy.modulation and policy.modulation.get("algorithm", "disabled") != "disabled")


@dataclass(frozen=True)
class AccountingResult:
    recorded: bool  # False: unknown subscriber, or a duplicate that changed nothing
    session: OpenSession | None = None
    subscriber: SubscriberView | None = None
    unknown_subscriber: bool = False
    # set when the gateway cannot cut the session itself and an allowance is now used up
    enforce: Decision | None = None
    # the policy's stored modulation settings could not be read (the packet was accounted all the same)
    invalid_modulation: bool = False


def _with_usage(sub: SubscriberView, write: SubscriberWrite) -> SubscriberView:
    usage = dict(sub.usage)
    for key, delta in write.add_usage.items():
        usage[key] = usage.get(key, 0) + delta
    sessions = dict(sub.open_sessions)
    sessions[write.key] = write.entry
    return replace(sub, usage=usage, open_sessions=sessions)


def record_accounting(
    store: RadiusStore,
    catalog: Catalog,
    gateway: GatewayView,
    event: AccountingEvent,
    nas_reboots: Mapping[str, str],
) -> AccountingResult:
    """Apply a Start / Interim-Update / Stop once: usage deltas, session entry and connection log.

    Returns when both writes are durable, so the caller may then send the Accounting-Response.
    """
    login = login_key(gateway.tenant_id, event.username)
    sub = store.get_subscriber(login)
    if sub is None:
        return AccountingResult(recorded=False, unknown_subscriber=True)
    product, policy = product_and_policy(catalog, sub)
    tz = zone(gateway.timezone)
    modulated = modulation_enabled(policy)
    settings = modulation_settings(policy) if policy is not None and modulated else None
    invalid_modulation = modulated and settings is None
    active_month = _modulation_active_month(settings, event.received_at, tz)
    for _ in range(_WRITE_ATTEMPTS):
        plan = plan_update(
            sub,
            event,
            interim_s=interim_interval(policy),
            tz=tz,
            first_day_of_week=week_start_day(policy, gateway),
            hourly=modulated,
            nas_reboots=nas_reboots,
            active_month=active_month,
        )
        if plan is None:
            return AccountingResult(
                recorded=False,
                session=sub.open_sessions.get(event.key),
                subscriber=sub,
                invalid_modulation=invalid_modulation,
            )
        write, change = plan
        if store.apply_subscriber_write(write, iso(event.received_at)):
            break
        # another packet for this session won the race: decide again on fresh data
        fresh = store.get_subscriber(login)
        if fresh is None:
            return AccountingResult(recorded=False, unknown_subscriber=True)
        sub = fresh
    else:
        raise ConflictError("accounting update kept conflicting", details={"session": event.key})

    if change.log_due:  # within an hour, an Interim-Update's counters live on the subscriber item only
        store.put_session_log(
            session_log(
                change.entry,
                tenant_id=sub.tenant_id,
                subscriber_id=sub.id,
                username=event.username,
                gateway_id=gateway.id,
                gateway_name=gateway.name,
                ev=event,
            )
        )
    updated = _with_usage(sub, write)
    enforce = None
    if change.entry.is_open and not gateway.enforces_traffic_limits and gateway.send_disconnect_requests:
        enforce = allowance_refusal(updated, product, policy, gateway, event.received_at)
    return AccountingResult(
        recorded=True,
        session=change.entry,
        subscriber=updated,
        enforce=enforce,
        invalid_modulation=invalid_modulation,
    )


def close_session(
    store: RadiusStore,
    session_id: str,
    closed_by: str,
    at: datetime,
    *,
    started_before: datetime | None = None,
) -> SessionLog | None:
    """Close a session on our side (NAS reboot, reaper, admin) in the subscriber item and the log.

    Returns the closed row (or the row as it was if it is already closed or started after
    ``started_before``), None if there is no such session.
    """
    log = store.get_session_log(session_id)
    if log is None or not log.is_open:
        return log
    if started_before is not None and parse_iso(log.started_at) >= started_before:
        return log
    login = login_key(log.tenant_id, log.username)
    entry: OpenSession | None = None
    for _ in range(_WRITE_ATTEMPTS):
        sub = store.get_subscriber(login)
        write = plan_close(sub, session_id, closed_by, at) if sub is not None else None
        if write is None:
            break
        if store.apply_subscriber_write(write, None):
            entry = write.entry
            break
    if entry is not None:
        closed = session_log(
            entry,
            tenant_id=log.tenant_id,
            subscriber_id=log.subscriber_id,
            username=log.username,
            gateway_id=log.gateway_id,
            gateway_name=log.gateway_name,
            previous=log,
        )
    else:
        # the subscriber item no longer knows the session: close the row alone
        closed = replace(log, ended_at=iso(at), closed_by=closed_by, version=log.version + 1)
    store.put_session_log(closed)
    return closed


def close_nas_sessions(store: RadiusStore, gateway: GatewayView, closed_by: str, at: datetime) -> int:
    """Accounting-On/Off: the NAS (re)started, so every session it had open is over.

    The reboot time is written first: from then on the login checks ignore the old sessions even
    before each one is closed. Returns the number of sessions closed.
    """
    store.mark_gateway_reboot(gateway.id, iso(at))
    closed = 0
    for session_id in store.open_session_ids(gateway.nas_ip):
        row = close_session(store, session_id, closed_by, at, started_before=at)
        if row is not None and row.closed_by == closed_by:
            closed += 1
    return closed


def reap_stale_sessions(store: RadiusStore, now: datetime, grace_s: int = STALE_GRACE_S) -> int:
    """Close sessions with no accounting for 2 x interim + grace (their Stop never came).

    The end time recorded is the last update heard. Safe to run concurrently and repeatedly.
    """
    earliest_cutoff = iso(now - timedelta(seconds=2 * MIN_INTERIM_S + grace_s))
    reaped = 0
    for nas_ip in store.open_session_nas():
        for session_id in store.open_session_ids(nas_ip, updated_before=earliest_cutoff):
            log = store.get_session_log(session_id)
            if log is None or not log.is_open:
                continue
            last_update, interim_s = _last_heard(store, log)
            silent = (now - parse_iso(last_update)).total_seconds()
            if silent <= 2 * max(MIN_INTERIM_S, interim_s) + grace_s:
                continue
            row = close_session(store, session_id, ClosedBy.REAPER, parse_iso(last_update))
            if row is not None and row.closed_by == ClosedBy.REAPER:
                reaped += 1
    return reaped


def _last_heard(store: RadiusStore, log: SessionLog) -> tuple[str, int]:
    """The last update of an open session and its interval: the subscriber item's entry holds them
    after every packet, the row only as of its last rewrite."""
    sub = store.get_subscriber(login_key(log.tenant_id, log.username))
    entry = sub.open_sessions.get(log.id) if sub is not None else None
    if entry is None or entry.version < log.version:
        return log.last_update, log.interim_s
    return entry.last_update, entry.interim_s
