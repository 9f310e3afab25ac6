"""What a subscriber did (SPEC S4): connection log, Wi-Fi locations, the dashboard and the sales
to the user (per currency: a tenant whose currency changed has sales in both)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from core import lifecycle as lc
from core import money
from core.billing_calendar import local_date, local_midnight
from core.ids import iso, parse_iso, utcnow
from core.money import currency_or_default
from core.paging import decode_key, encode_key
from services.billing.context import subscriber_time_zone
from services.billing.currencies import tenant_currencies
from services.identity.actors import Actor
from services.subscribers.records import get_subscriber, open_sessions, subscriber_dict
from shared.runtime import Runtime
from store import audit as audit_store
from store import catalog as catalog_store
from store import subscribers as store
from store.models import Gateway, Product, Subscriber

LOG_COLUMNS = (
    "connection_id",
    "started_at",
    "ended_at",
    "duration",
    "duration_s",
    "upload_bytes",
    "download_bytes",
    "ip",
    "mac",
    "gateway_name",
    "nas_identifier",
    "gateway_mac",
    "ssid",
    "terminate_cause",
    "open",
)


def log_row(s: Any) -> dict[str, Any]:
    """A connection-log row (S4 fields) from an accounting session."""
    return {
        "connection_id": s.acct_session_id,
        "session_id": s.id,
        "started_at": s.started_at,
        "ended_at": s.ended_at,
        "duration": lc.format_duration(s.duration_s or 0),
        "duration_s": int(s.duration_s or 0),
        "upload_bytes": int(s.input_octets or 0),
        "download_bytes": int(s.output_octets or 0),
        "ip": s.framed_ip,
        "mac": s.mac,
        "gateway_id": s.gateway_id,
        "gateway_name": s.gateway_name,
        "nas_ip": s.nas_ip,
        "nas_identifier": s.nas_identifier,
        "gateway_mac": s.gateway_mac,
        "ssid": s.ssid,
        "terminate_cause": s.terminate_cause,
        "closed_by": s.closed_by,
        "open": s.ended_at is None,
    }


def connection_log(
    rt: Runtime, actor: Actor, subscriber_id: str, limit: int, cursor: str | None, wifi_only: bool = False
) -> tuple[list[dict[str, Any]], str | None]:
    """Connection log (or Wi-Fi connection log), newest first, with a signed cursor."""
    sub = get_subscriber(actor, subscriber_id)
    start = decode_key(rt.signer, cursor, sub.id)
    items, last = store.sessions_page(sub.id, limit, start, wifi_only)
    return [log_row(s) for s in items], encode_key(rt.signer, last, sub.id)


def locate(actor: Actor, subscriber_id: str, connections: int = 50) -> dict[str, Any]:
    """Locate on the Wi-Fi heatmap (S4): the gateways and access points (Called-Station-Id MAC and
    SSID) of the subscriber's last Wi-Fi connections, most recent first, with the gateway's position."""
    sub = get_subscriber(actor, subscriber_id)
    rows, _ = store.sessions_page(sub.id, connections, None, wifi_only=True)
    points: dict[tuple[str, str, str], dict[str, Any]] = {}
    for s in rows:
        key = (s.gateway_id or s.nas_ip, s.gateway_mac or "", s.ssid or "")
        point = points.setdefault(
            key,
            {
                "gateway_id": s.gateway_id,
                "gateway_name": s.gateway_name,
                "nas_ip": s.nas_ip,
                "ap_mac": s.gateway_mac,
                "ssid": s.ssid,
                "connections": 0,
                "last_seen": s.started_at,
            },
        )
        point["connections"] += 1
        point["last_seen"] = max(point["last_seen"], s.started_at)
    gateways: dict[str, Gateway | None] = {}
    for point in points.values():
        gid = point["gateway_id"]
        if gid and gid not in gateways:
            gateways[gid] = catalog_store.get(Gateway, gid)
        gw = gateways.get(gid) if gid else None
        point["location"] = gw.location if gw is not None else None
    ordered = sorted(points.values(), key=lambda p: p["last_seen"], reverse=True)
    return {"subscriber_id": sub.id, "connections": len(rows), "points": ordered}


def dashboard(actor: Actor, subscriber_id: str, days: int) -> dict[str, Any]:
    """Main chart data (traffic and time per day), connections, traffic totals and sales (S4 Dashboard),
    and the currency of the balance and the plan price (the tenant's)."""
    sub = get_subscriber(actor, subscriber_id)
    tz = subscriber_time_zone(sub)  # the days of the subscriber's zone's calendar
    first = local_date(utcnow(), tz) - timedelta(days=days - 1)
    sessions = store.sessions_since(sub.id, iso(local_midnight(first, tz)))
    per_day: dict[str, dict[str, int]] = {}
    for i in range(days):
        d = (first + timedelta(days=i)).isoformat()
        per_day[d] = {"download_bytes": 0, "upload_bytes": 0, "time_s": 0, "sessions": 0}
    for s in sessions:
        d = local_date(parse_iso(s.started_at), tz).isoformat()  # a session counts on the day it started
        if d in per_day:
            b = per_day[d]
            b["download_bytes"] += int(s.output_octets or 0)
            b["upload_bytes"] += int(s.input_octets or 0)
            b["time_s"] += int(s.duration_s or 0)
            b["sessions"] += 1
    totals = {
        k: sum(v[k] for v in per_day.values())
        for k in ("download_bytes", "upload_bytes", "time_s", "sessions")
    }
    last = max(sessions, key=lambda s: s.started_at) if sessions else None
    prod = catalog_store.get(Product, sub.product_id) if sub.product_id else None
    return {
        "subscriber": subscriber_dict(sub),
        "currency": currency_or_default(tenant_currencies([sub.tenant_id]).get(sub.tenant_id)),
        "product": {"id": prod.id, "name": prod.name, "price": prod.price} if prod else None,
        "online": bool(open_sessions(sub)),
        "open_sessions": len(open_sessions(sub)),
        "traffic_per_day": [{"date": d, **v} for d, v in sorted(per_day.items())],
        "totals": totals,
        "last_connection": log_row(last) if last else None,
        "sales": sales(actor, subscriber_id, sub),
    }


def sales(actor: Actor, subscriber_id: str, sub: Subscriber | None = None) -> dict[str, Any]:
    """Sales to the user grouped by product and currency: quantity, revenue and the managers' cost (S4).
    Amounts of different currencies are never added together: the revenue and cost are per currency
    (``by_currency``), and beside the rows only when the sales are of one ``currency``."""
    sub = sub or get_subscriber(actor, subscriber_id)
    tenant_currency = tenant_currencies([sub.tenant_id]).get(sub.tenant_id)
    groups: dict[tuple[str, str], dict[str, Any]] = {}

    def add(sale: _Sale) -> None:
        key = (sale.product_id or f"other:{sale.name}", sale.currency)
        g = groups.setdefault(
            key,
            {
                "product_id": sale.product_id,
                "product_name": sale.name,
                "currency": sale.currency,
                "quantity": 0,
                "billed": Decimal(0),
                "revenue": Decimal(0),
                "cost": Decimal(0),
                "sources": set(),
            },
        )
        g["quantity"] += 1
        g["billed"] += sale.billed
        g["revenue"] += sale.revenue
        g["cost"] += sale.cost
        g["sources"].add(sale.source)

    for sale in _invoice_sales(sub):
        add(sale)
    for sale in _recharge_sales(sub, currency_or_default(tenant_currency)):
        add(sale)
    rows = [
        _sales_row(g)
        for g in sorted(groups.values(), key=lambda g: (g["product_name"].lower(), g["currency"]))
    ]
    per = _sales_per_currency(groups.values())
    currency = money.report_currency(per, [tenant_currency] if tenant_currency else [])
    one = per.get(currency or "")
    zero = money.fmt(Decimal(0), currency) if currency else None
    return {
        "rows": rows,
        "currency": currency,
        "revenue": one["revenue"] if one else zero,
        "cost": one["cost"] if one else zero,
        "by_currency": [per[c] for c in sorted(per)],
    }


@dataclass(frozen=True)
class _Sale:
    product_id: str | None
    name: str
    source: str
    currency: str
    revenue: Decimal
    billed: Decimal
    cost: Decimal


def _invoice_sales(sub: Subscriber) -> list[_Sale]:
    """The client's invoices (not cancelled) as sales, each in the invoice's currency."""
    products: dict[str, Product | None] = {}
    out = []
    for inv in store.invoices_for(sub.id):
        if inv.status == "cancelled":
            continue
        pid = getattr(inv, "product_id", None)
        if pid and pid not in products:
            products[pid] = catalog_store.get(Product, pid)
        prod = products.get(pid) if pid else None
        name = prod.name if prod else ("Internet service" if inv.kind == "internet" else "Other income")
        cost = Decimal(str(prod.cost)) if prod and prod.cost else Decimal(0)
        cur = currency_or_default(inv.currency)
        out.append(_Sale(pid, name, "invoice", cur, _dec(inv.paid), _dec(inv.total), cost))
    return out


def _recharge_sales(sub: Subscriber, tenant_currency: str) -> list[_Sale]:
    """The recharges of the client's plan, each in the currency recorded with it (the tenant's before)."""
    out = []
    entries, _ = audit_store.query_entity(sub.id, 1000)
    for e in entries:
        sale = (e.after or {}).get("sale") if e.action == "recharge" else None
        if sale:
            price = _dec(sale.get("price"))
            name = str(sale.get("product_name") or sale.get("product_id"))
            cur = currency_or_default(sale.get("currency") or tenant_currency)
            out.append(
                _Sale(sale.get("product_id"), name, "recharge", cur, price, price, _dec(sale.get("cost")))
            )
    return out


def _sales_row(g: dict[str, Any]) -> dict[str, Any]:
    cur = g["currency"]
    return {
        **g,
        "billed": money.fmt(g["billed"], cur),
        "revenue": money.fmt(g["revenue"], cur),
        "cost": money.fmt(g["cost"], cur),
        "margin": money.fmt(g["revenue"] - g["cost"], cur),
        "sources": sorted(g["sources"]),
    }


def _sales_per_currency(groups: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Revenue and cost of each currency's sales."""
    sums: dict[str, list[Decimal]] = {}
    for g in groups:
        s = sums.setdefault(g["currency"], [Decimal(0), Decimal(0)])
        s[0] += g["revenue"]
        s[1] += g["cost"]
    return {
        c: {"currency": c, "revenue": money.fmt(rev, c), "cost": money.fmt(cost, c)}
        for c, (rev, cost) in sums.items()
    }


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except Exception:
        return Decimal(0)
