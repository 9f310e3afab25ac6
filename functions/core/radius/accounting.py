"""Accounting rules (RFC 2866/2869): 64-bit counters, idempotent cumulative updates, session states.

A NAS reports cumulative counters for a session in Start / Interim-Update / Stop. The subscriber
item keeps, per session, the last values applied to the usage counters; an update applies only the
increase, so retransmitted, duplicated or reordered packets change nothing. A closed session stays
as a tombstone for a while so that a late packet for it is recognised.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum
from zoneinfo import ZoneInfo

from core.ids import iso, parse_iso
from core.radius.model import OpenSession, SubscriberView
from core.radius.policy import is_live
from core.radius.usage import current_periods, stale_keys, usage_deltas

TOMBSTONE_TTL = timedelta(days=1)  # closed sessions kept to absorb late packets
ABANDONED_AFTER = timedelta(days=7)  # open entries with no news for this long are dropped from the item


class AcctStatus(IntEnum):
    START = 1
    STOP = 2
    INTERIM = 3
    ACCOUNTING_ON = 7
    ACCOUNTING_OFF = 8


class ClosedBy:
    STOP = "stop"
    ACCOUNTING_ON = "accounting-on"
    ACCOUNTING_OFF = "accounting-off"
    REAPER = "reaper"
    ADMIN = "admin"


# Sessions closed on our side only (no Stop seen): an update proves they are alive, so they reopen
_REOPENABLE = {ClosedBy.REAPER, ClosedBy.ADMIN}

_MAC_RE = re.compile(
    r"^([0-9A-Fa-f]{2})[:\-.]?([0-9A-Fa-f]{2})[:\-.]?([0-9A-Fa-f]{2})[:\-.]?"
    r"([0-9A-Fa-f]{2})[:\-.]?([0-9A-Fa-f]{2})[:\-.]?([0-9A-Fa-f]{2})$"
)
_DOTTED_RE = re.compile(r"^([0-9A-Fa-f]{4})\.([0-9A-Fa-f]{4})\.([0-9A-Fa-f]{4})$")


def normalize_mac(value: str | None) -> str | None:
    """``aa-bb-cc-dd-ee-ff``, ``AABB.CCDD.EEFF``, ``aabbccddeeff`` → ``AA:BB:CC:DD:EE:FF``; else None."""
    if not value:
        return None
    text = value.strip()
    dotted = _DOTTED_RE.match(text)
    if dotted:
        text = "".join(dotted.groups())
    m = _MAC_RE.match(text)
    if not m:
        return None
    return ":".join(g.upper() for g in m.groups())


def called_station(value: str | None) -> tuple[str | None, str | None]:
    """Called-Station-Id is ``<gateway MAC>[:<SSID>]`` on most access points: split it."""
    if not value:
        return None, None
    mac = normalize_mac(value[:17])
    if mac is None:
        return None, None
    rest = value[17:]
    return mac, (rest[1:] if rest.startswith(":") and len(rest) > 1 else None)


def combine(octets: int | None, gigawords: int | None) -> int:
    """64-bit counter from the 32-bit octets attribute and its gigawords (bits 32–63)."""
    return ((int(gigawords or 0) & 0xFFFFFFFF) << 32) | (int(octets or 0) & 0xFFFFFFFF)


def unwrap_32bit(previous: int, reported: int) -> int:
    """The 64-bit counter from a NAS that sends only the low 32 bits (no gigawords): the reported
    value in the same 4 GiB turn as the previous one, or in the next turn when it went down."""
    turn, low = previous >> 32, previous & 0xFFFFFFFF
    return ((turn + (reported < low)) << 32) | (reported & 0xFFFFFFFF)


def session_key(nas_ip: str, acct_session_id: str, username: str) -> str:
    """Stable id of an accounting session (the Session row id and the key in ``open_sessions``)."""
    raw = f"{nas_ip}|{acct_session_id}|{username.lower()}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


@dataclass(frozen=True)
class AccountingEvent:
    """One decoded Accounting-Request (status Start, Stop or Interim-Update)."""

    status: AcctStatus
    nas_ip: str
    username: str
    acct_session_id: str
    received_at: datetime
    session_time: int = 0
    input_octets: int = 0  # client upload, 64-bit
    output_octets: int = 0  # client download, 64-bit
    framed_ip: str | None = None
    mac: str | None = None
    gateway_mac: str | None = None
    ssid: str | None = None
    nas_identifier: str | None = None
    terminate_cause: str | None = None
    # whether the NAS sent Acct-Input/Output-Gigawords: without them the octets are 32-bit counters
    # that wrap at 4 GiB (see :func:`apply_event`)
    input_gigawords: bool = True
    output_gigawords: bool = True

    @property
    def key(self) -> str:
        return session_key(self.nas_ip, self.acct_session_id, self.username)


@dataclass(frozen=True)
class SessionChange:
    """The new state of one session entry and the increments to add to the usage counters."""

    entry: OpenSession
    time_s: int
    upload: int
    download: int
    reopened: bool = False
    closed: bool = False
    # whether the connection-log row is rewritten (see :func:`log_row_due`)
    log_due: bool = True


def log_row_due(prev: OpenSession, entry: OpenSession, status: AcctStatus) -> bool:
    """Whether an update of a known session rewrites its connection-log row.

    The subscriber item holds the session's counters after every packet (``open_sessions``); the row
    is rewritten when the session opens, closes or reopens, when its address or device changes, and
    on the first update of each UTC hour: the hour of the row's last update keys the open-session
    index the reaper reads, so an open row always carries the hour of the session's latest update,
    while the Interim-Updates within the hour write the subscriber item only. Readers of an open row
    take its counters from the subscriber item (``store.subscribers.session_rows``, the reaper).
    """
    if status == AcctStatus.START or entry.closed_by != prev.closed_by or entry.ended_at != prev.ended_at:
        return True
    if (entry.framed_ip, entry.mac) != (prev.framed_ip, prev.mac):
        return True
    return entry.last_update[:13] != prev.last_update[:13]


def apply_event(prev: OpenSession | None, ev: AccountingEvent, interim_s: int) -> SessionChange | None:
    """The change an accounting event makes to a session; None when it changes nothing."""
    now = iso(ev.received_at)
    if prev is None:
        # Interim/Stop without a Start we saw (lost, or sent before a restart): count what it reports
        started = (
            ev.received_at - timedelta(seconds=ev.session_time)
            if ev.status != AcctStatus.START
            else ev.received_at
        )
        stopped = ev.status == AcctStatus.STOP
        entry = OpenSession(
            key=ev.key,
            nas_ip=ev.nas_ip,
            acct_session_id=ev.acct_session_id,
            started_at=iso(started),
            last_update=now,
            version=1,
            input_octets=ev.input_octets,
            output_octets=ev.output_octets,
            time_s=ev.session_time,
            interim_s=interim_s,
            framed_ip=ev.framed_ip,
            mac=ev.mac,
            closed_by=ClosedBy.STOP if stopped else None,
            ended_at=now if stopped else None,
        )
        return SessionChange(entry, ev.session_time, ev.input_octets, ev.output_octets, closed=stopped)

    time_s = max(prev.time_s, ev.session_time)
    reported_up, reported_down = ev.input_octets, ev.output_octets
    # 32-bit counters without gigawords: read them in the 4 GiB turn of the previous value; one that
    # went down while the session time went up has wrapped (a reordered older packet has not)
    later = ev.session_time > prev.time_s
    if not ev.input_gigawords:
        reported_up = _unwrap(prev.input_octets, ev.input_octets, later)
    if not ev.output_gigawords:
        reported_down = _unwrap(prev.output_octets, ev.output_octets, later)
    up = max(prev.input_octets, reported_up)
    down = max(prev.output_octets, reported_down)
    d_time, d_up, d_down = time_s - prev.time_s, up - prev.input_octets, down - prev.output_octets
    closed_by, ended_at, reopened, closed = prev.closed_by, prev.ended_at, False, False
    if ev.status == AcctStatus.STOP and prev.closed_by != ClosedBy.STOP:
        closed_by, ended_at, closed = ClosedBy.STOP, now, True
    elif ev.status == AcctStatus.INTERIM and prev.closed_by in _REOPENABLE:
        closed_by, ended_at, reopened = None, None, True
    if not (d_time or d_up or d_down or closed or reopened):
        return None  # a duplicate or an out-of-date packet
    entry = replace(
        prev,
        version=prev.version + 1,
        time_s=time_s,
        input_octets=up,
        output_octets=down,
        last_update=now if ev.status != AcctStatus.START else prev.last_update,
        framed_ip=ev.framed_ip or prev.framed_ip,
        mac=ev.mac or prev.mac,
        closed_by=closed_by,
        ended_at=ended_at,
    )
    return SessionChange(
        entry,
        d_time,
        d_up,
        d_down,
        reopened=reopened,
        closed=closed,
        log_due=log_row_due(prev, entry, ev.status),
    )


def _unwrap(previous: int, reported: int, later: bool) -> int:
    if reported >= 1 << 32:
        return reported
    if later or reported >= previous & 0xFFFFFFFF:
        return unwrap_32bit(previous, reported)
    return reported  # an older packet arriving late: below the previous value, so it counts nothing


def close_entry(prev: OpenSession, closed_by: str, at: datetime) -> OpenSession | None:
    """Close a session on our side (NAS reboot, reaper, admin); None if it is already closed."""
    if not prev.is_open:
        return None
    return replace(prev, version=prev.version + 1, closed_by=closed_by, ended_at=iso(at))


def expired_entries(
    sessions: Mapping[str, OpenSession], now: datetime, nas_reboots: Mapping[str, str]
) -> list[str]:
    """Entries the subscriber item no longer needs: old tombstones and long-abandoned sessions."""
    out = []
    for key, s in sessions.items():
        if s.ended_at is not None:
            if now - parse_iso(s.ended_at) > TOMBSTONE_TTL:
                out.append(key)
        elif not is_live(s, now, nas_reboots) and now - parse_iso(s.last_update) > ABANDONED_AFTER:
            out.append(key)
    return out


# ---------------------------------------------------------------- what to write
@dataclass(frozen=True)
class SubscriberWrite:
    """One conditional update of the subscriber item (the store applies it atomically).

    The session entry is written only if its version is still ``expect_version`` (None: the entry
    must not exist yet), so two packets racing for the same session cannot both apply their delta.
    """

    login: str
    key: str
    entry: OpenSession
    expect_version: int | None
    add_usage: Mapping[str, int]
    remove_usage: tuple[str, ...] = ()
    remove_sessions: tuple[str, ...] = ()
    add_device: str | None = None
    devices_since: str | None = None  # set: restart the device list (new product assignment)
    create_usage_map: bool = False
    create_sessions_map: bool = False
    activate: bool = False  # first use of the service: status New becomes Active (SPEC S3)
    start_expiry_at: str | None = None  # first use of a card valid N days from first login
    online: bool | None = None  # whether a session of the subscriber is open after this write


@dataclass(frozen=True)
class SessionLog:
    """The connection-log row of a session (SPEC S4)."""

    id: str
    tenant_id: str
    subscriber_id: str
    username: str
    acct_session_id: str
    nas_ip: str
    started_at: str
    last_update: str
    version: int
    interim_s: int
    duration_s: int = 0
    input_octets: int = 0
    output_octets: int = 0
    ended_at: str | None = None
    terminate_cause: str | None = None
    closed_by: str | None = None
    gateway_id: str | None = None
    gateway_name: str | None = None
    nas_identifier: str | None = None
    gateway_mac: str | None = None
    mac: str | None = None
    ssid: str | None = None
    framed_ip: str | None = None

    @property
    def is_open(self) -> bool:
        return self.ended_at is None


def session_log(
    entry: OpenSession,
    *,
    tenant_id: str,
    subscriber_id: str,
    username: str,
    gateway_id: str | None,
    gateway_name: str | None,
    ev: AccountingEvent | None = None,
    previous: SessionLog | None = None,
) -> SessionLog:
    """The row for a session entry, taking the connection details from the event or the old row."""
    src_nas_id = ev.nas_identifier if ev else None
    return SessionLog(
        id=entry.key,
        tenant_id=tenant_id,
        subscriber_id=subscriber_id,
        username=username,
        acct_session_id=entry.acct_session_id,
        nas_ip=entry.nas_ip,
        started_at=entry.started_at,
        last_update=entry.ended_at or entry.last_update,
        version=entry.version,
        interim_s=entry.interim_s,
        duration_s=entry.time_s,
        input_octets=entry.input_octets,
        output_octets=entry.output_octets,
        ended_at=entry.ended_at,
        terminate_cause=(ev.terminate_cause if ev and ev.terminate_cause else None)
        or (previous.terminate_cause if previous else None),
        closed_by=entry.closed_by,
        gateway_id=gateway_id,
        gateway_name=gateway_name,
        nas_identifier=src_nas_id or (previous.nas_identifier if previous else None),
        gateway_mac=(ev.gateway_mac if ev else None) or (previous.gateway_mac if previous else None),
        mac=entry.mac,
        ssid=(ev.ssid if ev else None) or (previous.ssid if previous else None),
        framed_ip=entry.framed_ip,
    )


MAX_DEVICES_KEPT = 64


def plan_update(
    sub: SubscriberView,
    ev: AccountingEvent,
    *,
    interim_s: int,
    tz: ZoneInfo,
    first_day_of_week: int,
    hourly: bool,
    nas_reboots: Mapping[str, str],
    active_month: str | None = None,
) -> tuple[SubscriberWrite, SessionChange] | None:
    """The subscriber update for a Start/Interim/Stop; None when the packet changes nothing."""
    prev = sub.open_sessions.get(ev.key)
    change = apply_event(prev, ev, interim_s)
    if change is None:
        return None
    periods = current_periods(ev.received_at, tz, first_day_of_week, sub.product_assigned_at)
    add = usage_deltas(
        periods.values(), ev.received_at, change.time_s, change.upload, change.download, hourly, active_month
    )
    remove = tuple(k for k in stale_keys(sub.usage.keys(), ev.received_at, tz, periods) if k not in add)
    expired = tuple(k for k in expired_entries(sub.open_sessions, ev.received_at, nas_reboots) if k != ev.key)
    add_device, since = None, None
    if prev is None and ev.mac:
        if sub.devices_since != sub.product_assigned_at:
            add_device, since = ev.mac, sub.product_assigned_at or ""
        elif ev.mac not in sub.devices and len(sub.devices) < MAX_DEVICES_KEPT:
            add_device = ev.mac
    write = SubscriberWrite(
        login=sub.login,
        key=ev.key,
        entry=change.entry,
        expect_version=prev.version if prev else None,
        add_usage=add,
        remove_usage=remove,
        remove_sessions=expired,
        add_device=add_device,
        devices_since=since,
        create_usage_map=not sub.has_usage_map,
        create_sessions_map=not sub.has_sessions_map,
        activate=sub.status == "new",
        start_expiry_at=_first_use_expiry(sub, prev, ev),
        online=_online_after(sub, ev.key, change.entry, expired),
    )
    return write, change


def _online_after(sub: SubscriberView, key: str, entry: OpenSession, removed: tuple[str, ...] = ()) -> bool:
    """Whether any session of the subscriber is open once ``entry`` is written and ``removed`` dropped."""
    if entry.closed_by is None:
        return True
    return any(k != key and k not in removed and s.closed_by is None for k, s in sub.open_sessions.items())


def _first_use_expiry(sub: SubscriberView, prev: OpenSession | None, ev: AccountingEvent) -> str | None:
    """Cards whose validity starts at first login get their expiry on the first session's start."""
    if prev is not None or sub.product_expires_at or sub.expires_days_after_first_login <= 0:
        return None
    return iso(ev.received_at + timedelta(days=sub.expires_days_after_first_login))


def plan_close(sub: SubscriberView, key: str, closed_by: str, at: datetime) -> SubscriberWrite | None:
    """Close one session on our side (NAS reboot, reaper, admin disconnect)."""
    prev = sub.open_sessions.get(key)
    if prev is None:
        return None
    entry = close_entry(prev, closed_by, at)
    if entry is None:
        return None
    return SubscriberWrite(
        login=sub.login,
        key=key,
        entry=entry,
        expect_version=prev.version,
        add_usage={},
        online=_online_after(sub, key, entry),
    )
