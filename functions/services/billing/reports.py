"""Sales reports: per product or manager over a date range, and "sales to user" (SPEC S4)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from core import money
from core.errors import NotFoundError, ValidationError
from core.money import DEFAULT_CURRENCY
from services.billing.context import tenant_day_bounds
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


def sales_report(
    tenant_ids: Iterable[str], group_by: str = "product", since: date | None = None, until: date | None = None
) -> dict[str, Any]:
    """Sales (invoiced and collected, before tax) per product or per manager (tenant) over a date range.
    Collected amounts are each invoice's payments spread over its lines in proportion."""
    if group_by not in ("product", "manager"):
        raise ValidationError("group_by must be product or manager", field="group_by")
    invoices = _range_invoices(tenant_ids, since, until)
    rows: dict[str, dict[str, Any]] = {}
    product_ids = {
        line.get("product_id") for inv in invoices for line in inv.lines or [] if line.get("product_id")
    }
    products = repo.get_products(p for p in product_ids if p)
    tenants = (
        {t: repo.get_tenant(t) for t in {i.tenant_id for i in invoices}} if group_by == "manager" else {}
    )
    currency = invoices[0].currency if invoices else DEFAULT_CURRENCY
    for inv in invoices:
        total = money.to_decimal(inv.total)
        ratio = money.to_decimal(inv.paid) / total if total > 0 else money.ZERO
        for line in inv.lines or []:
            amount = money.to_decimal(line.get("amount"))
            if group_by == "product":
                key = line.get("product_id") or (
                    f"extra:{line.get('description')}"
                    if line.get("extra_id")
                    else f"other:{line.get('description')}"
                )
                prod = products.get(line.get("product_id") or "")
                name = prod.name if prod else str(line.get("description") or "")
            else:
                key = inv.tenant_id
                tenant = tenants.get(inv.tenant_id)
                name = tenant.name if tenant else inv.tenant_id
            row = rows.setdefault(
                key,
                {
                    "key": key,
                    "name": name,
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
    out = []
    for row in sorted(rows.values(), key=lambda r: r["invoiced"], reverse=True):
        out.append(
            {
                "key": row["key"],
                "name": row["name"],
                "lines": row["lines"],
                "invoices": len(row["invoices"]),
                "invoiced": money.fmt(row["invoiced"], currency),
                "collected": money.fmt(row["collected"], currency),
            }
        )
    return {
        "group_by": group_by,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "currency": currency,
        "rows": out,
    }


def sales_to_user(tenant_ids: Iterable[str], subscriber_id: str) -> dict[str, Any]:
    """ "Sales to user" (SPEC S4): one client's invoiced lines grouped by product, with the revenue of
    the manager that sold them (and its cost when the product has one)."""
    tenants = set(tenant_ids)
    invoices = [
        i
        for i in repo.invoices_of_subscriber(subscriber_id)
        if i.tenant_id in tenants and i.status != "cancelled"
    ]
    if not invoices:
        sub = repo.get_subscriber_by_id(subscriber_id)
        if sub is None or sub.tenant_id not in tenants:
            raise NotFoundError("client not found")
    products = repo.get_products(
        line.get("product_id") for i in invoices for line in i.lines or [] if line.get("product_id")
    )
    rows: dict[str, dict[str, Any]] = {}
    currency = invoices[0].currency if invoices else DEFAULT_CURRENCY
    for inv in invoices:
        total = money.to_decimal(inv.total)
        ratio = money.to_decimal(inv.paid) / total if total > 0 else money.ZERO
        for line in inv.lines or []:
            pid = line.get("product_id")
            key = pid or str(line.get("description"))
            prod = products.get(pid or "")
            row = rows.setdefault(
                key,
                {
                    "product_id": pid,
                    "name": prod.name if prod else line.get("description"),
                    "manager_id": inv.tenant_id,
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
    out = []
    for row in rows.values():
        cost = row["cost"]
        out.append(
            {
                **row,
                "revenue": money.fmt(row["revenue"], currency),
                "collected": money.fmt(row["collected"], currency),
                "cost": money.fmt(cost, currency) if cost is not None else None,
                "margin": money.fmt(row["revenue"] - cost, currency) if cost is not None else None,
            }
        )
    out.sort(key=lambda r: money.to_decimal(r["revenue"]), reverse=True)
    return {"subscriber_id": subscriber_id, "currency": currency, "rows": out}
