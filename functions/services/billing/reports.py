"""Sales reports: per product or manager over a date range, and "sales to user" (SPEC S4).

Amounts of different currencies are never added together: a row is one currency's (a product sold in two
currencies is two rows), the totals are given per currency (``by_currency``), and ``currency`` names the
one currency of the report, or is None when its amounts are in several."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from core import money
from core.errors import NotFoundError, ValidationError
from core.money import currency_or_default
from services.billing.context import tenant_day_bounds
from services.billing.currencies import tenant_currencies
from store import billing as repo
from store.models import Invoice


def _range_invoices(tenant_ids: Iterable[str], since: date | None, until: date | None) -> list[Invoice]:
    """The invoices created from ``since`` to ``until`` (days of each tenant's time zone), not cancelled."""
    out: list[Invoice] = []
    for tid in sorted(set(tenant_ids)):
        lower, upper = tenant_day_bounds(tid, since, until)
        items, _ = repo.tenant_invoices(tid, since=lower, until=upper, newest_first=False)
        out.extend(i for i in items if i.status != "cancelled" and (upper is None or i.created_at < upper))
    return out


def _paid_ratio(inv: Invoice) -> Decimal:
    """The part of the invoice paid (its payments are spread over its lines in this proportion)."""
    total = money.to_decimal(inv.total)
    return money.to_decimal(inv.paid) / total if total > 0 else money.ZERO


def _report_currency(invoices: list[Invoice], tenant_ids: Iterable[str]) -> str | None:
    currencies = {currency_or_default(i.currency) for i in invoices}
    scope = tenant_currencies(tenant_ids).values() if not currencies else ()
    return money.report_currency(currencies, scope)


def _sales_key(line: dict[str, Any], inv: Invoice, group_by: str) -> str:
    if group_by == "manager":
        return inv.tenant_id
    if line.get("product_id"):
        return str(line["product_id"])
    return f"{'extra' if line.get('extra_id') else 'other'}:{line.get('description')}"


def _currency_totals(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The report's totals per currency: invoices, lines, invoiced and collected."""
    per: dict[str, dict[str, Any]] = {}
    for row in rows:
        t = per.setdefault(
            row["currency"],
            {"invoices": set(), "lines": 0, "invoiced": money.ZERO, "collected": money.ZERO},
        )
        t["invoices"] |= row["invoices"]
        t["lines"] += row["lines"]
        t["invoiced"] += row["invoiced"]
        t["collected"] += row["collected"]
    return [
        {
            "currency": cur,
            "invoices": len(t["invoices"]),
            "lines": t["lines"],
            "invoiced": money.fmt(t["invoiced"], cur),
            "collected": money.fmt(t["collected"], cur),
        }
        for cur, t in sorted(per.items())
    ]


def sales_report(
    tenant_ids: Iterable[str], group_by: str = "product", since: date | None = None, until: date | None = None
) -> dict[str, Any]:
    """Sales (invoiced and collected, before tax) per product or per manager (tenant) over a date range,
    a row per product or manager and currency, with the totals per currency. Collected amounts are each
    invoice's payments spread over its lines in proportion."""
    if group_by not in ("product", "manager"):
        raise ValidationError("group_by must be product or manager", field="group_by")
    tenant_ids = sorted(set(tenant_ids))
    invoices = _range_invoices(tenant_ids, since, until)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    product_ids = {
        line.get("product_id") for inv in invoices for line in inv.lines or [] if line.get("product_id")
    }
    products = repo.get_products(p for p in product_ids if p)
    tenants = (
        {t: repo.get_tenant(t) for t in {i.tenant_id for i in invoices}} if group_by == "manager" else {}
    )
    for inv in invoices:
        currency = currency_or_default(inv.currency)
        ratio = _paid_ratio(inv)
        for line in inv.lines or []:
            amount = money.to_decimal(line.get("amount"))
            key = _sales_key(line, inv, group_by)
            if group_by == "product":
                prod = products.get(line.get("product_id") or "")
                name = prod.name if prod else str(line.get("description") or "")
            else:
                tenant = tenants.get(inv.tenant_id)
                name = tenant.name if tenant else inv.tenant_id
            row = rows.setdefault(
                (key, currency),
                {
                    "key": key,
                    "name": name,
                    "currency": currency,
                    "lines": 0,
                    "invoiced": money.ZERO,
                    "collected": money.ZERO,
                    "invoices": set(),
                },
            )
            row["lines"] += 1
            row["invoiced"] += amount
            row["collected"] += amount * ratio
            row["invoices"].add(inv.id)
    ordered = sorted(rows.values(), key=lambda r: (r["currency"], -r["invoiced"]))
    out = [
        {
            **row,
            "invoices": len(row["invoices"]),
            "invoiced": money.fmt(row["invoiced"], row["currency"]),
            "collected": money.fmt(row["collected"], row["currency"]),
        }
        for row in ordered
    ]
    return {
        "group_by": group_by,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "currency": _report_currency(invoices, tenant_ids),
        "rows": out,
        "by_currency": _currency_totals(ordered),
    }


def sales_to_user(tenant_ids: Iterable[str], subscriber_id: str) -> dict[str, Any]:
    """ "Sales to user" (SPEC S4): one client's invoiced lines grouped by product (and currency), with the
    revenue of the manager that sold them (and its cost when the product has one), and the totals per
    currency."""
    tenants = set(tenant_ids)
    invoices = [
        i
        for i in repo.invoices_of_subscriber(subscriber_id)
        if i.tenant_id in tenants and i.status != "cancelled"
    ]
    sub = repo.get_subscriber_by_id(subscriber_id) if not invoices else None
    if not invoices and (sub is None or sub.tenant_id not in tenants):
        raise NotFoundError("client not found")
    products = repo.get_products(
        line.get("product_id") for i in invoices for line in i.lines or [] if line.get("product_id")
    )
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for inv in invoices:
        currency = currency_or_default(inv.currency)
        ratio = _paid_ratio(inv)
        for line in inv.lines or []:
            pid = line.get("product_id")
            key = pid or str(line.get("description"))
            prod = products.get(pid or "")
            row = rows.setdefault(
                (key, currency),
                {
                    "product_id": pid,
                    "name": prod.name if prod else line.get("description"),
                    "manager_id": inv.tenant_id,
                    "currency": currency,
                    "count": 0,
                    "revenue": money.ZERO,
                    "collected": money.ZERO,
                    "cost": None,
                },
            )
            amount = money.to_decimal(line.get("amount"))
            row["count"] += 1
            row["revenue"] += amount
            row["collected"] += amount * ratio
            unit_cost = getattr(prod, "cost", None) if prod else None
            if unit_cost:
                row["cost"] = (row["cost"] or money.ZERO) + money.to_decimal(unit_cost)
    out = sorted((_user_row(r) for r in rows.values()), key=lambda r: (r["currency"], -r["_revenue"]))
    return {
        "subscriber_id": subscriber_id,
        "currency": _report_currency(invoices, [sub.tenant_id] if sub is not None else []),
        "rows": [{k: v for k, v in r.items() if k != "_revenue"} for r in out],
        "by_currency": _user_totals(rows.values()),
    }


def _user_row(row: dict[str, Any]) -> dict[str, Any]:
    cur, cost = row["currency"], row["cost"]
    return {
        **row,
        "_revenue": row["revenue"],
        "revenue": money.fmt(row["revenue"], cur),
        "collected": money.fmt(row["collected"], cur),
        "cost": money.fmt(cost, cur) if cost is not None else None,
        "margin": money.fmt(row["revenue"] - cost, cur) if cost is not None else None,
    }


def _user_totals(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """A client's sales per currency: lines, revenue and collected."""
    per: dict[str, list[Any]] = {}
    for row in rows:
        t = per.setdefault(row["currency"], [0, money.ZERO, money.ZERO])
        t[0] += row["count"]
        t[1] += row["revenue"]
        t[2] += row["collected"]
    return [
        {"currency": cur, "count": n, "revenue": money.fmt(rev, cur), "collected": money.fmt(col, cur)}
        for cur, (n, rev, col) in sorted(per.items())
    ]
