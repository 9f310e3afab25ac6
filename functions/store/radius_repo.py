"""Datastore access of the RADIUS service: one subscriber read per Access-Request, conditional
accounting writes, and the NAS / policy / product records it caches.

:class:`RadiusStore` is the interface the service and the session operations use;
:class:`DynamoRadiusStore` implements it on the pynamodb models. Every method is blocking: the
asyncio server calls them from a thread pool.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.condition import Condition

from core.radius.accounting import SessionLog, SubscriberWrite
from core.radius.model import (
    Allowances,
    CustomAttribute,
    GatewayView,
    PolicyView,
    ProductView,
    SubscriberView,
)
from core.radius.mschap import strip_domain
from core.rates import Burst
from core.retention import USAGE_HOURS_DAYS, connection_log_days, expiry_epoch
from shared.observability import get_logger
from store import subscribers as subscriber_store
from store import tallies
from store.models import Gateway, Policy, Product, Session, Subscriber, Tenant, UsageHour
from store.subscribers import as_int as _i
from store.subscribers import plain_map as _plain
from store.subscribers import session_from_map, session_to_map
from store.vouchers import mark_card_used

log = get_logger("radius")
HOUR_PREFIX = "h:"
TENANT_SETTINGS_TTL_S = 300.0

_BURST_FIELDS = (
    "download_limit",
    "upload_limit",
    "download_threshold",
    "upload_threshold",
    "download_time",
    "upload_time",
)


def login_key(tenant_id: str, username: str) -> str:
    """The subscriber item key: ``<tenant_id>#<lower-case username>``. A ``DOMAIN\\`` prefix (Windows
    PPP clients send ``DOMAIN\\user``) is not part of it, as RFC 2759 leaves it out of the challenge
    hash; network usernames never contain a backslash."""
    return subscriber_store.login_key(tenant_id, strip_domain(username.strip()))


class RadiusStore(Protocol):
    def list_gateways(self) -> list[GatewayView]: ...

    def get_policy(self, policy_id: str) -> PolicyView | None: ...

    def get_product(self, product_id: str) -> ProductView | None: ...

    def get_subscriber(self, login: str) -> SubscriberView | None: ...

    def apply_subscriber_write(self, write: SubscriberWrite, seen_at: str | None) -> bool:
        """Apply one conditional subscriber update; False when the session entry changed meanwhile.

        ``seen_at`` (the time of an accounting packet) becomes the subscriber's ``last_seen_at``.
        """
        ...

    def put_session_log(self, log: SessionLog) -> None:
        """Upsert a connection-log row unless a newer version of it is stored already."""
        ...

    def get_session_log(self, session_id: str) -> SessionLog | None: ...

    def open_session_ids(self, nas_ip: str, updated_before: str | None = None) -> list[str]: ...

    def open_session_nas(self) -> list[str]:
        """The NAS addresses that have open sessions (for the stale-session reaper)."""
        ...

    def mark_gateway_reboot(self, gateway_id: str, at: str) -> None: ...

    def flush_counters(self) -> None:
        """Write the totals counter moves gathered since the last flush (none where they are immediate)."""


# ---------------------------------------------------------------- conversions
def _burst(raw: Mapping[str, Any] | None) -> Burst | None:
    if not raw:
        return None
    values = [_i(raw.get(f)) for f in _BURST_FIELDS]
    if any(v <= 0 for v in values):
        return None  # SPEC S6: all burst fields are required to use burst
    return Burst(*values)


def _schedule(raw: Any) -> dict[str, list[int]] | None:
    if not isinstance(raw, Mapping):
        return None
    out: dict[str, list[int]] = {}
    for day, hours in raw.items():
        if isinstance(hours, Iterable) and not isinstance(hours, str | bytes):
            out[str(day)] = sorted({h for h in (_i(x, -1) for x in hours) if 0 <= h <= 23})
    return out


def _attributes(raw: Any) -> tuple[CustomAttribute, ...]:
    out = []
    for item in raw or ():
        if isinstance(item, Mapping) and item.get("name"):
            out.append(
                CustomAttribute(str(item["name"]), str(item.get("value", "")), str(item.get("op") or "=="))
            )
    return tuple(out)


def _allowances(row: Policy | Product) -> Allowances:
    return Allowances(
        daily_time_min=_i(row.daily_time_min),
        weekly_time_min=_i(row.weekly_time_min),
        monthly_time_min=_i(row.monthly_time_min),
        daily_data_mb=_i(row.daily_data_mb),
        weekly_data_mb=_i(row.weekly_data_mb),
        monthly_data_mb=_i(row.monthly_data_mb),
    )


def gateway_view(g: Gateway) -> GatewayView:
    return GatewayView(
        id=g.id,
        tenant_id=g.tenant_id,
        name=g.name,
        nas_ip=g.nas_ip,
        secret_enc=g.radius_secret_enc,
        nas_identifier=g.nas_identifier,
        vendor=g.vendor or "mikrotik",
        timezone=g.timezone or "UTC",
        require_message_authenticator=bool(g.require_message_authenticator),
        send_disconnect_requests=bool(g.send_disconnect_requests),
        coa_port=_i(g.coa_port, 3799),
        blocked_mode=g.blocked_mode or "restricted",
        blocked_address_list=g.blocked_address_list,
        blocked_pool=g.blocked_pool,
        last_reboot_at=g.last_reboot_at,
        domain_settings=dict(g.domain_settings or {}),
    )


def policy_view(p: Policy) -> PolicyView:
    return PolicyView(
        id=p.id,
        code=p.code,
        session_timeout_min=_i(p.session_timeout_min),
        idle_timeout_min=_i(p.idle_timeout_min),
        download_rate=_i(p.download_rate),
        upload_rate=_i(p.upload_rate),
        interim_update_s=_i(p.interim_update_s, 300),
        allowances=_allowances(p),
        first_day_of_week=_i(p.first_day_of_week),
        max_devices=_i(p.max_devices),
        concurrent_connections=_i(p.concurrent_connections),
        split_credits=bool(p.split_credits),
        min_split_time_min=_i(p.min_split_time_min, 5),
        min_split_data_mb=_i(p.min_split_data_mb, 10),
        schedule=_schedule(p.schedule),
        address_list=p.address_list or None,
        burst=_burst(p.burst),
        modulation=p.modulation or None,
        check_attributes=_attributes(p.check_attributes),
        reply_attributes=_attributes(p.reply_attributes),
    )


def product_view(p: Product) -> ProductView:
    return ProductView(
        id=p.id,
        name=p.name,
        policy_id=p.policy_id,
        validity_days=_i(p.validity_days),
        allowances=_allowances(p),
        time_credit_min=_i(p.time_credit_min),
        data_credit_mb=_i(p.data_credit_mb),
        address_list=p.address_list or None,
        router_profile=p.router_profile,
    )


def subscriber_view(s: Subscriber) -> SubscriberView:
    usage = _plain(s.usage)
    sessions = _plain(s.open_sessions)
    return SubscriberView(
        login=s.login,
        id=s.id,
        tenant_id=s.tenant_id,
        username=s.username,
        password_enc=s.password_enc,
        status=s.status or "active",
        connection_type=s.connection_type or "pppoe",
        product_id=s.product_id,
        product_assigned_at=s.product_assigned_at,
        product_expires_at=s.product_expires_at,
        expires_days_after_first_login=int(s.expires_days_after_first_login or 0),
        ip=s.ip,
        mac=s.mac,
        mac_auth=bool(s.mac_auth),
        free_user=bool(s.free_user),
        router_profile=s.router_profile,
        carry_over=dict(s.carry_over or {}),
        usage={k: _i(v) for k, v in (usage or {}).items()},
        open_sessions={
            k: session_from_map(k, v) for k, v in (sessions or {}).items() if isinstance(v, Mapping)
        },
        devices=tuple(str(d) for d in (s.devices or ())),
        devices_since=s.devices_since,
        has_usage_map=usage is not None,
        has_sessions_map=sessions is not None,
    )


def session_log_view(r: Session) -> SessionLog:
    return SessionLog(
        id=r.id,
        tenant_id=r.tenant_id,
        subscriber_id=r.subscriber_id,
        username=r.username,
        acct_session_id=r.acct_session_id,
        nas_ip=r.nas_ip,
        started_at=r.started_at,
        last_update=r.last_update,
        version=_i(r.version),
        interim_s=_i(r.interim_s, 300),
        duration_s=_i(r.duration_s),
        input_octets=_i(r.input_octets),
        output_octets=_i(r.output_octets),
        ended_at=r.ended_at,
        terminate_cause=r.terminate_cause,
        closed_by=r.closed_by,
        gateway_id=r.gateway_id,
        gateway_name=r.gateway_name,
        nas_identifier=r.nas_identifier,
        gateway_mac=r.gateway_mac,
        mac=r.mac,
        ssid=r.ssid,
        framed_ip=r.framed_ip,
    )


def _condition_failed(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def _last_updates(logins: Iterable[str]) -> dict[str, str]:
    """The last update of every session entry of these subscribers, by session id (one batch read)."""
    out: dict[str, str] = {}
    for sub in Subscriber.batch_get(sorted(logins), attributes_to_get=["login", "open_sessions"]):
        for key, entry in (_plain(sub.open_sessions) or {}).items():
            if isinstance(entry, Mapping):
                out[key] = str(entry.get("lu", entry.get("st", "")))
    return out


# ---------------------------------------------------------------- DynamoDB implementation
class DynamoRadiusStore:
    """:class:`RadiusStore` on DynamoDB (tables bound by :func:`store.db.configure`).

    ``pool_connections`` sizes the HTTP connection pool of the tables the RADIUS service uses: its
    request threads call DynamoDB concurrently, more than pynamodb's default pool of 10 allows.
    """

    def __init__(self, pool_connections: int | None = None, counter_flush_s: float = 0.0) -> None:
        self._online_tallies = tallies.TallyBuffer(counter_flush_s)
        self._tenant_lock = threading.Lock()
        self._tenant_days: dict[str, tuple[int, float]] = {}
        self._reaper_lock = threading.Lock()
        self._heard: dict[str, dict[str, tuple[str, str]]] = {}  # NAS → session id → (login, last update)
        if pool_connections:
            for model in (Subscriber, Session, Gateway, Policy, Product, UsageHour, Tenant):
                meta: Any = model.Meta
                if getattr(meta, "max_pool_connections", 0) < pool_connections:
                    meta.max_pool_connections = pool_connections
                    model._connection = None  # rebuilt with the larger pool on next use
                    for index in model._indexes.values():
                        index._connection = None  # type: ignore[attr-defined]

    def list_gateways(self) -> list[GatewayView]:
        return [gateway_view(g) for g in Gateway.scan()]

    def get_policy(self, policy_id: str) -> PolicyView | None:
        try:
            return policy_view(Policy.get(policy_id))
        except DoesNotExist:
            return None

    def get_product(self, product_id: str) -> ProductView | None:
        try:
            return product_view(Product.get(product_id))
        except DoesNotExist:
            return None

    def get_subscriber(self, login: str) -> SubscriberView | None:
        try:
            # strongly consistent: a Stop just written must count before the next login is decided
            sub = Subscriber.get(login, consistent_read=True)
        except DoesNotExist:
            return None
        view = subscriber_view(sub)
        if not sub.hist:
            return view
        # rate modulation by traffic: the hourly buckets live in their own rows (usage_hours)
        usage = dict(view.usage)
        for row in UsageHour.query(login, consistent_read=True):
            usage[f"{HOUR_PREFIX}{row.hour}:i"] = _i(row.i)
            usage[f"{HOUR_PREFIX}{row.hour}:o"] = _i(row.o)
        return dataclasses.replace(view, usage=usage)

    def _add_hours(self, login: str, hours: Mapping[str, int]) -> None:
        """ADD the hourly traffic deltas (``h:<UTC hour>:i/o`` keys) to their rows."""
        by_hour: dict[str, dict[str, int]] = {}
        for key, delta in hours.items():
            hour, _, counter = key[len(HOUR_PREFIX) :].partition(":")
            if counter in ("i", "o") and hour:
                by_hour.setdefault(hour, {})[counter] = by_hour.get(hour, {}).get(counter, 0) + delta
        for hour, deltas in sorted(by_hour.items()):
            try:
                start = datetime.strptime(hour, "%Y%m%d%H").replace(tzinfo=UTC)
            except ValueError:
                continue
            expires = datetime.fromtimestamp(start.timestamp() + USAGE_HOURS_DAYS * 86400, UTC)
            actions: list[Any] = [UsageHour.expires_at.set(expires)]
            actions.extend(getattr(UsageHour, c).add(v) for c, v in deltas.items())
            UsageHour._get_connection().update_item(login, range_key=hour, actions=actions)

    def _retention_days(self, tenant_id: str) -> int:
        """The tenant's connection-log retention (settings cached a few minutes)."""
        now = time.monotonic()
        with self._tenant_lock:
            cached = self._tenant_days.get(tenant_id)
            if cached is not None and cached[1] > now:
                return cached[0]
        try:
            days = connection_log_days(Tenant.get(tenant_id).settings)
        except DoesNotExist:
            days = connection_log_days(None)
        with self._tenant_lock:
            self._tenant_days[tenant_id] = (days, now + TENANT_SETTINGS_TTL_S)
        return days

    @staticmethod
    def _session_actions(write: SubscriberWrite, actions: list[Any], condition: Condition) -> Condition:
        """The open-session entry (created, or replaced at the version read) and the closed ones removed."""
        entry = session_to_map(write.entry)
        if write.create_sessions_map:
            actions.append(Subscriber.open_sessions.set({write.key: entry}))
            return condition & Subscriber.open_sessions.does_not_exist()
        path = Subscriber.open_sessions[write.key]
        actions.append(path.set(entry))
        if write.expect_version is None:
            condition &= path.does_not_exist()
        else:
            condition &= Subscriber.open_sessions[write.key]["v"] == write.expect_version
        actions.extend(Subscriber.open_sessions[k].remove() for k in write.remove_sessions)
        return condition

    @staticmethod
    def _usage_actions(write: SubscriberWrite, actions: list[Any], condition: Condition) -> Condition:
        """Usage counters on the item (the hourly buckets go to their own rows)."""
        add_usage = {k: v for k, v in write.add_usage.items() if not k.startswith(HOUR_PREFIX)}
        remove_usage = [k for k in write.remove_usage if not k.startswith(HOUR_PREFIX)]
        if write.create_usage_map:
            actions.append(Subscriber.usage.set(add_usage))
            return condition & Subscriber.usage.does_not_exist()
        for key, delta in add_usage.items():
            counter = Subscriber.usage[key]
            actions.append(counter.set((counter | 0) + delta))
        actions.extend(Subscriber.usage[k].remove() for k in remove_usage)
        return condition

    @staticmethod
    def _state_actions(write: SubscriberWrite, actions: list[Any], condition: Condition) -> Condition:
        """Online flag, devices, the expiry started by a first session and the first-use activation."""
        if write.online is True:  # unchanged on an interim: no index write
            actions.append(Subscriber.online_t.set(write.login.split("#", 1)[0]))
        elif write.online is False:
            actions.append(Subscriber.online_t.remove())
        if write.devices_since is not None:
            actions.append(Subscriber.devices.set([write.add_device] if write.add_device else []))
            actions.append(Subscriber.devices_since.set(write.devices_since))
        elif write.add_device:
            actions.append(Subscriber.devices.set((Subscriber.devices | []).append([write.add_device])))
        if write.start_expiry_at is not None:
            actions.append(Subscriber.product_expires_at.set(write.start_expiry_at))
            condition &= Subscriber.product_expires_at.does_not_exist()  # the first session wins
        if write.activate:
            actions.append(Subscriber.status.set("active"))
            condition &= Subscriber.status == "new"  # never overwrite a status set meanwhile
        return condition

    def apply_subscriber_write(self, write: SubscriberWrite, seen_at: str | None) -> bool:
        # hourly buckets (rate modulation) go to their own rows; old ones expire by TTL
        hours = {k: v for k, v in write.add_usage.items() if k.startswith(HOUR_PREFIX)}
        actions: list[Any] = [Subscriber.last_seen_at.set(seen_at)] if seen_at else []
        condition: Condition = Subscriber.login.exists()
        condition = self._session_actions(write, actions, condition)
        condition = self._usage_actions(write, actions, condition)
        if hours:
            actions.append(Subscriber.hist.set(True))
        condition = self._state_actions(write, actions, condition)
        try:
            # the old item comes back at no capacity cost: it says which counters the change moves
            # (and, on the first session of a login, which card it spends)
            old = Subscriber._get_connection().update_item(
                write.login, actions=actions, condition=condition, return_values="ALL_OLD"
            )
        except UpdateError as exc:
            if _condition_failed(exc):
                return False
            raise
        if hours:
            self._add_hours(write.login, hours)
        self._after_write(write, old.get("Attributes") or {})
        return True

    def _after_write(self, write: SubscriberWrite, item: Mapping[str, Any]) -> None:
        """Totals counters and the card spent by a first session; the accounting is already recorded."""
        tenant_id = write.login.split("#", 1)[0]
        try:
            self._move_tallies(tenant_id, write, item)
        except Exception:  # the totals counters are repaired by a recount
            log.warning("totals counter not moved", extra={"login": write.login}, exc_info=True)
        if write.activate:
            voucher_id = (item.get("voucher_id") or {}).get("S")
            if voucher_id:
                try:
                    mark_card_used(voucher_id, (item.get("id") or {}).get("S") or write.login)
                except Exception:  # the card record is only informative
                    log.exception("could not mark a card used", extra={"voucher_id": voucher_id})

    def flush_counters(self) -> None:
        self._online_tallies.flush()

    def _move_tallies(self, tenant_id: str, write: SubscriberWrite, old: Mapping[str, Any]) -> None:
        """Totals counters: the first use of a New service, the first open and the last closed session."""

        def s(name: str) -> str | None:
            value = old.get(name) or {}
            return value.get("S") if isinstance(value, Mapping) else None

        bucket = tallies.bucket_of(s("status"), s("product_id"), s("price_override"))
        if write.activate and s("status") == "new":
            tallies.move(tenant_id, bucket, bucket.with_status("active"))
        was_online = s("online_t") is not None
        if write.online is not None and write.online != was_online:
            online = bucket.with_status(tallies.ONLINE)
            if write.online:
                self._online_tallies.move(tenant_id, None, online)
            else:
                self._online_tallies.move(tenant_id, online, None)

    def put_session_log(self, log: SessionLog) -> None:
        values: dict[str, Any] = {
            "tenant_id": log.tenant_id,
            "subscriber_id": log.subscriber_id,
            "username": log.username,
            "acct_session_id": log.acct_session_id,
            "nas_ip": log.nas_ip,
            "started_at": log.started_at,
            "last_update": log.last_update,
            "version": log.version,
            "interim_s": log.interim_s,
            "duration_s": log.duration_s,
            "input_octets": log.input_octets,
            "output_octets": log.output_octets,
        }
        for name in (
            "ended_at",
            "terminate_cause",
            "closed_by",
            "gateway_id",
            "gateway_name",
            "nas_identifier",
            "gateway_mac",
            "mac",
            "ssid",
            "framed_ip",
        ):
            value = getattr(log, name)
            if value is not None:
                values[name] = value
        actions: list[Any] = [getattr(Session, name).set(value) for name, value in values.items()]
        if log.ended_at is None:
            # open (or reopened: an update proved a session closed on our side alive); the open index
            # is keyed by the hour of the last update, so most interim updates leave it untouched
            actions.extend(
                [
                    Session.open_nas.set(log.nas_ip),
                    Session.open_hour.set(log.last_update[:13]),
                    Session.ended_at.remove(),
                    Session.expires_at.remove(),
                ]
            )
            if log.closed_by is None:
                actions.append(Session.closed_by.remove())
        else:
            actions.extend([Session.open_nas.remove(), Session.open_hour.remove()])
            epoch = expiry_epoch(log.ended_at, self._retention_days(log.tenant_id))
            if epoch is not None:
                actions.append(Session.expires_at.set(datetime.fromtimestamp(epoch, UTC)))
        condition = Session.id.does_not_exist() | (Session.version < log.version)
        try:
            Session._get_connection().update_item(log.id, actions=actions, condition=condition)
        except (UpdateError, PutError) as exc:
            if not _condition_failed(exc):
                raise
            # a newer version of this row is stored already

    def get_session_log(self, session_id: str) -> SessionLog | None:
        try:
            return session_log_view(Session.get(session_id))
        except DoesNotExist:
            return None

    def open_session_ids(self, nas_ip: str, updated_before: str | None = None) -> list[str]:
        if updated_before is None:
            return [r.id for r in Session.open_index.query(nas_ip)]
        # rows of earlier hours are stale for sure; those of the cutoff's hour are read to compare
        cutoff_hour = updated_before[:13]
        out: list[str] = []
        same_hour: list[str] = []
        for r in Session.open_index.query(nas_ip, Session.open_hour <= cutoff_hour):
            (same_hour if r.open_hour == cutoff_hour else out).append(r.id)
        out.extend(self._stale_in_hour(nas_ip, same_hour, updated_before))
        return out

    def _stale_in_hour(self, nas_ip: str, ids: list[str], updated_before: str) -> list[str]:
        """Open sessions of the cutoff's hour last heard of before ``updated_before``.

        A row is rewritten once an hour; the subscriber item's session entry has the last update.
        The store remembers, per session, the login and the last update it has seen, and reads an item
        again only once that update is older than the cutoff: a reaper running every minute reads each
        live session about once per 2 x interim, not on every run.
        """
        with self._reaper_lock:
            cached = self._heard.get(nas_ip, {})
            known = {i: cached[i] for i in ids if i in cached}
        unknown = [i for i in ids if i not in known]
        if unknown:
            names = ["id", "last_update", "open_nas", "tenant_id", "username"]
            for r in Session.batch_get(unknown, attributes_to_get=names):
                if r.open_nas:
                    known[r.id] = (login_key(r.tenant_id, r.username), r.last_update)
        due = {i: v for i, v in known.items() if v[1] < updated_before}
        if due:
            heard = _last_updates({login for login, _ in due.values()})
            known.update({i: (login, max(heard.get(i, ""), seen)) for i, (login, seen) in due.items()})
        with self._reaper_lock:
            self._heard[nas_ip] = known  # the sessions of this NAS in the cutoff's hour
        return sorted(i for i, (_, seen) in known.items() if seen < updated_before)

    def open_session_nas(self) -> list[str]:
        seen: set[str] = set()
        for row in Session.open_index.scan(attributes_to_get=["open_nas"]):
            if row.open_nas:
                seen.add(row.open_nas)
        return sorted(seen)

    def mark_gateway_reboot(self, gateway_id: str, at: str) -> None:
        try:
            Gateway._get_connection().update_item(
                gateway_id, actions=[Gateway.last_reboot_at.set(at)], condition=Gateway.id.exists()
            )
        except UpdateError as exc:
            if not _condition_failed(exc):
                raise
