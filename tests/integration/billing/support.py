"""Shared set-up for the billing integration tests (moto).

Creating every table in moto costs seconds, so each billing test module creates them once
(:func:`module_runtime`) and every test works in its own freshly made tenant (:func:`new_world`):
tests stay independent without paying for the tables again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.ids import now_iso
from shared.runtime import Runtime
from store.models import Gateway, Invoice, Operator, Product, Subscriber, Tenant, Zone

# 28 May 2026, noon in Mexico City (the worlds' time zone)
NOW = datetime(2026, 5, 28, 18, 0, tzinfo=UTC)
TZ = "America/Mexico_City"
# when the worlds' clients were created: before every day the tests run billing on
CREATED = "2026-01-05T12:00:00.000000Z"


@dataclass
class World:
    """One tenant with a zone, a router, a plan and a manager operator."""

    rt: Runtime
    suffix: str
    tenant_id: str
    zone_id: str
    gateway_id: str
    product_id: str
    operator_id: str

    def sub(self, name: str, status: str = "active", **kw: Any) -> Subscriber:
        values: dict[str, Any] = {
            "zone_id": self.zone_id,
            "gateway_id": self.gateway_id,
            "product_id": self.product_id,
            "email": f"{name}@example.com",
            "phone": "+15555550101",
            "name": name.title(),
            "created_at": CREATED,
        }
        values.update(kw)
        sub = Subscriber(
            login=f"{self.tenant_id}#{name.lower()}",
            id=self.sub_id(name),
            tenant_id=self.tenant_id,
            username=name,
            password_enc=self.rt.box.encrypt("pw-" + name),
            status=status,
            connection_type="pppoe",
            **values,
        )
        sub.save()
        return sub

    def sub_id(self, name: str) -> str:
        return f"sub_{self.suffix}_{name}"

    def inv_id(self, name: str, period: str) -> str:
        """The id of the client's internet invoice for ``period`` (month of the payment date)."""
        for inv in Invoice.subscriber_index.query(self.sub_id(name)):
            if inv.kind == "internet" and inv.period == period:
                return str(inv.id)
        return f"no internet invoice of {name} for {period}"

    def set_zone(self, issue: int, notice: int, payment: int, cutoff: int) -> None:
        Zone.get(self.zone_id).update(
            actions=[
                Zone.issue_day.set(issue),
                Zone.notice_day.set(notice),
                Zone.payment_day.set(payment),
                Zone.cutoff_day.set(cutoff),
            ]
        )

    def set_tenant(self, **changes: Any) -> None:
        Tenant.get(self.tenant_id).update(actions=[getattr(Tenant, k).set(v) for k, v in changes.items()])


def new_world(
    rt: Runtime,
    days: tuple[int, int, int, int] = (28, 28, 1, 5),
    api_enabled: bool = True,
    parent_id: str = "-",
) -> World:
    """A fresh tenant; the zone's calendar defaults to the seed's (issue 28, pay 1, cut 5)."""
    sfx = secrets.token_hex(4)
    now = now_iso()
    w = World(rt, sfx, f"ten_{sfx}", f"zone_{sfx}", f"gw_{sfx}", f"prod_{sfx}", f"op_{sfx}")
    Tenant(
        id=w.tenant_id,
        name=f"WISP {sfx}",
        kind="manager",
        parent_id=parent_id,
        company_name=f"WISP {sfx}",
        currency="USD",
        tax_rate="0",
        timezone=TZ,
        created_at=now,
    ).save()
    Zone(
        id=w.zone_id,
        tenant_id=w.tenant_id,
        name="Centro",
        timezone=TZ,
        issue_day=days[0],
        notice_day=days[1],
        payment_day=days[2],
        cutoff_day=days[3],
        created_at=now,
    ).save()
    Gateway(
        id=w.gateway_id,
        tenant_id=w.tenant_id,
        zone_id=w.zone_id,
        name=f"Router {sfx}",
        nas_ip="127.0.0.1",
        radius_secret_enc=rt.box.encrypt("testing123"),
        api_enabled=api_enabled,
        api_host="127.0.0.1",
        timezone=TZ,
        created_at=now,
    ).save()
    Product(id=w.product_id, tenant_id=w.tenant_id, name="Home 10M", price="25.00", created_at=now).save()
    Operator(
        id=w.operator_id,
        tenant_id=w.tenant_id,
        email=f"m-{sfx}@example.com",
        role="manager",
        password_hash="unused",
        created_at=now,
    ).save()
    return w


def reload(sub: Subscriber) -> Subscriber:
    return Subscriber.get(sub.login, consistent_read=True)
