"""The online list (SPEC S3): sessions open now, from the sparse online index and accounting."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from core import lifecycle as lc
from core import listing
from core.errors import ValidationError
from core.ids import parse_iso, utcnow
from core.paging import Signer
from core.statuses import ONLINE
from services.identity.actors import Actor
from services.subscribers.lists import (
    Page,
    cursor_position,
    page_key,
    resume_at,
    signed_cursor,
    tally_count,
)
from services.subscribers.records import open_sessions
from services.tenants import tenant_filter
from store import catalog as catalog_store
from store import subscribers as store
from store.models import Gateway, Subscriber

ONLINE_COLUMNS = (
    "subscriber_id",
    "username",
    "name",
    "status",
    "session_id",
    "acct_session_id",
    "ip",
    "mac",
    "gateway_id",
    "gateway_name",
    "nas_ip",
    "started_at",
    "last_update",
    "online_seconds",
    "online_time",
    "download_mb",
    "upload_mb",
)


ONLINE_LIST = "admin:online"  # the signed cursor's scope: a position in the Online list
EXPORT_PAGE = 1000  # subscribers read at a time by the export (it reads every page)


def online_rows(actor: Actor, tenant_id: str | None, q: str | None = None) -> list[dict[str, Any]]:
    """Every session open now (the CSV export): the pages of :func:`online_page` one after another."""
    out: list[dict[str, Any]] = []
    position = None
    while True:
        page = _online_page(actor, tenant_id, q, EXPORT_PAGE, position)
        out.extend(page.items)
        position = page.next_cursor
        if not position:
            return out


def online_page(
    signer: Signer, actor: Actor, tenant_id: str | None, q: str | None, limit: int, cursor: str | None
) -> Page:
    """Sessions open now (S3 Online list): download/upload MB, MAC/IP, time online, from accounting.

    A page of ``limit`` online subscribers (username order across the tenants) from the sparse online
    index, with every open session of each; ``total`` counts the subscribers online (the tenants'
    counters) or, when every one is on this page, those listed. The cursor is signed."""
    page = _online_page(actor, tenant_id, q, limit, cursor_position(signer, cursor, ONLINE_LIST))
    page.next_cursor = signed_cursor(signer, page.next_cursor, ONLINE_LIST)
    return page


def _online_page(
    actor: Actor, tenant_id: str | None, q: str | None, limit: int, position: str | None
) -> Page:
    now = utcnow()
    after = None
    if position:
        _present, _value, after = listing.decode_cursor(position, "username", False)
        if "#" not in after:
            raise ValidationError(
                "invalid cursor: pass back the next_cursor of the previous page", field="cursor"
            )
    tenant_ids = tenant_filter(actor, tenant_id)
    needle = (q or "").lower()
    keys: list[str] = []
    for tid in tenant_ids:
        # every tenant resumes past the cursor's username (pages are in username order across tenants)
        start, same_name = resume_at(tid, after, False)
        keys.extend(same_name)
        keys.extend(store.logins_page(tid, online=True, after=start, limit=limit + 1))
    keys.sort(key=page_key)
    if after is not None:
        keys = [k for k in keys if page_key(k) > page_key(after)]
    more = len(keys) > limit
    page_keys = keys[:limit]
    gateways_by_ip: dict[str, Gateway] = {}
    for tid in tenant_ids:
        gateways_by_ip.update({g.nas_ip: g for g in catalog_store.list_for_tenants(Gateway, [tid])})
    out: list[dict[str, Any]] = []
    for sub in store.by_logins(page_keys):
        sessions = open_sessions(sub)
        if not sessions or sub.tenant_id not in tenant_ids:
            continue
        if needle and needle not in f"{sub.username} {sub.name or ''} {sub.ip or ''} {sub.mac or ''}".lower():
            continue
        # in the page's order (username, then tenant), each subscriber's sessions by key
        out.extend(_online_row(sub, key, sessions[key], gateways_by_ip, now) for key in sorted(sessions))
    nxt = None
    if more and page_keys:
        nxt = listing.encode_cursor(
            "username", False, {"username": page_key(page_keys[-1])[0], "id": page_keys[-1]}
        )
    if after is None and not more:  # everyone online is on this page: count them, as listed
        return Page(out, None, len({r["subscriber_id"] for r in out}))
    return Page(out, nxt, sum(tally_count(tid, ONLINE) for tid in tenant_ids))


def _online_row(
    sub: Subscriber, key: str, s: Mapping[str, Any], gateways_by_ip: Mapping[str, Gateway], now: Any
) -> dict[str, Any]:
    gw = gateways_by_ip.get(str(s.get("nas", "")))
    started = str(s.get("st") or "")
    try:
        secs = int((now - parse_iso(started)).total_seconds()) if started else int(s.get("t") or 0)
    except ValueError:
        secs = int(s.get("t") or 0)
    return {
        "subscriber_id": sub.id,
        "username": sub.username,
        "name": sub.name,
        "status": sub.status,
        "session_id": key,
        "acct_session_id": s.get("sid"),
        "ip": s.get("ip") or sub.ip,
        "mac": s.get("mac"),
        "gateway_id": gw.id if gw else None,
        "gateway_name": gw.name if gw else None,
        "nas_ip": s.get("nas"),
        "started_at": started or None,
        "last_update": s.get("lu"),
        "online_seconds": max(0, secs),
        "online_time": lc.format_duration(secs),
        "download_mb": _mb(s.get("o")),
        "upload_mb": _mb(s.get("i")),
    }


def _mb(octets: Any) -> str:
    try:
        value = Decimal(int(octets or 0)) / Decimal(lc.BYTES_PER_MB)
    except (TypeError, ValueError):
        value = Decimal(0)
    return str(value.quantize(Decimal("0.01")))
