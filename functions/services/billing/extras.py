"""Extra products and services on a client's monthly invoices (recurring, one payment, installments)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from core import money
from core.billing_calendar import (
    parse_date,
)
from core.errors import NotFoundError, ValidationError
from core.ids import new_id, now_iso
from core.installments import validate_terms
from services.audit import record_audit
from services.billing.context import load_context, require_subscriber
from shared.runtime import Runtime
from store import billing as repo
from store.models import ExtraProduct


def extra_dict(e: ExtraProduct) -> dict[str, Any]:
    return {
        "id": e.id,
        "tenant_id": e.tenant_id,
        "subscriber_id": e.subscriber_id,
        "name": e.name,
        "description": e.description or e.name,
        "price": e.price,
        "mode": e.mode,
        "installments": int(e.installments or 0),
        "billed_count": int(e.billed_count or 0),
        "start_date": e.start_date,
        "end_date": e.end_date,
        "active": bool(e.active),
        "last_billed_period": e.last_billed_period,
        "source": e.source,
        "created_at": e.created_at,
    }


def add_extra(
    rt: Runtime,
    tenant_id: str,
    subscriber_id: str,
    name: str,
    price: Decimal,
    actor_id: str,
    actor_kind: str = "operator",
    mode: str = "recurring",
    installments: int = 0,
    description: str | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
) -> ExtraProduct:
    """Add an extra product/service to a client's monthly invoices (recurring, one payment, or 2–24
    installments of the price), between optional payment start/end dates; description defaults to the name."""
    sub = require_subscriber(tenant_id, subscriber_id)
    name = (name or "").strip()
    if not name:
        raise ValidationError("name is required", field="name")
    money.require_non_negative(price, "price")
    validate_terms(mode, installments, start_date, end_date)
    ctx = load_context(tenant_id)
    now = now_iso()
    extra = ExtraProduct(
        id=new_id("xp"),
        tenant_id=tenant_id,
        subscriber_id=sub.id,
        name=name,
        description=(description or "").strip() or name,
        price=money.fmt(price, ctx.currency),
        mode=mode,
        installments=installments if mode == "installments" else 0,
        billed_count=0,
        start_date=start_date.isoformat() if start_date else None,
        end_date=end_date.isoformat() if end_date else None,
        active=True,
        source="operator",
        created_by=actor_id,
        created_at=now,
        updated_at=now,
    )
    repo.save_extra(extra, must_be_new=True)
    record_audit(
        actor_id, actor_kind, tenant_id, "extra_product", extra.id, "create", None, extra_dict(extra)
    )
    return extra


def list_extras(tenant_ids: Iterable[str], subscriber_id: str) -> list[ExtraProduct]:
    tenants = set(tenant_ids)
    return [e for e in repo.extras_of_subscriber(subscriber_id) if e.tenant_id in tenants]


def get_extra(extra_id: str, visible: Iterable[str]) -> ExtraProduct:
    e = repo.get_extra(extra_id)
    if e is None or e.tenant_id not in set(visible):
        raise NotFoundError("extra product not found")
    return e


def update_extra(
    rt: Runtime,
    extra_id: str,
    visible: Iterable[str],
    changes: dict[str, Any],
    actor_id: str,
    actor_kind: str = "operator",
) -> ExtraProduct:
    """Edit an extra (name, description, price, dates, active); billed parts are not changed."""
    extra = get_extra(extra_id, visible)
    before = extra_dict(extra)
    mode = changes.get("mode", extra.mode)
    installments = int(changes.get("installments", extra.installments or 0))
    start = changes.get("start_date", parse_date(extra.start_date) if extra.start_date else None)
    end = changes.get("end_date", parse_date(extra.end_date) if extra.end_date else None)
    validate_terms(mode, installments, start, end)
    if mode == "installments" and installments < int(extra.billed_count or 0):
        raise ValidationError(
            "installments cannot be fewer than the parts already billed", field="installments"
        )
    actions = []
    if "name" in changes:
        if not str(changes["name"]).strip():
            raise ValidationError("name is required", field="name")
        actions.append(ExtraProduct.name.set(str(changes["name"]).strip()))
    if "description" in changes:
        actions.append(
            ExtraProduct.description.set(
                str(changes["description"] or "").strip() or str(changes.get("name") or extra.name)
            )
        )
    if "price" in changes:
        price = money.require_non_negative(money.to_decimal(changes["price"], "price"), "price")
        actions.append(ExtraProduct.price.set(money.fmt(price, load_context(extra.tenant_id).currency)))
    if "mode" in changes:
        actions.append(ExtraProduct.mode.set(mode))
    if "installments" in changes or "mode" in changes:
        actions.append(ExtraProduct.installments.set(installments if mode == "installments" else 0))
    if "start_date" in changes:
        actions.append(
            ExtraProduct.start_date.set(start.isoformat()) if start else ExtraProduct.start_date.remove()
        )
    if "end_date" in changes:
        actions.append(ExtraProduct.end_date.set(end.isoformat()) if end else ExtraProduct.end_date.remove())
    if "active" in changes:
        actions.append(ExtraProduct.active.set(bool(changes["active"])))
    if actions:
        repo.update_extra(extra, actions, ExtraProduct.billed_count == int(extra.billed_count or 0))
    extra = get_extra(extra_id, visible)
    record_audit(
        actor_id, actor_kind, extra.tenant_id, "extra_product", extra.id, "update", before, extra_dict(extra)
    )
    return extra


def remove_extra(
    rt: Runtime, extra_id: str, visible: Iterable[str], actor_id: str, actor_kind: str = "operator"
) -> ExtraProduct:
    """Stop an extra (it stays in the history of the invoices that carried it)."""
    return update_extra(rt, extra_id, visible, {"active": False}, actor_id, actor_kind)
