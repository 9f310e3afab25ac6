"""Shared set-up for the billing integration tests (moto)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from core.ids import now_iso
from shared.crypto import SecretBox
from store.models import Gateway, Subscriber, Tenant, Zone

# 28 May 2026, noon in Mexico City (the demo zone's time zone)
NOW = datetime(2026, 5, 28, 18, 0, tzinfo=UTC)


def set_zone(zone_id: str, issue: int, notice: int, payment: int, cutoff: int) -> None:
    z = Zone.get(zone_id)
    z.update(actions=[Zone.issue_day.set(issue), Zone.notice_day.set(notice), Zone.payment_day.set(payment),
                      Zone.cutoff_day.set(cutoff)])


def enable_router_api(gateway_id: str) -> None:
    Gateway.get(gateway_id).update(actions=[Gateway.api_enabled.set(True)])


def set_tenant(tenant_id: str, **changes: Any) -> None:
    Tenant.get(tenant_id).update(actions=[getattr(Tenant, k).set(v) for k, v in changes.items()])


def make_sub(box: SecretBox, username: str, tenant_id: str = "ten_demo", status: str = "active", **kw: Any) -> Subscriber:
    values: dict[str, Any] = {
        "zone_id": "zone_demo", "gateway_id": "gw_demo", "product_id": "prod_demo", "email": f"{username}@example.com",
        "phone": "+15555550101", "name": username.title(),
    }
    values.update(kw)
    sub = Subscriber(
        login=f"{tenant_id}#{username.lower()}", id=f"sub_{username}", tenant_id=tenant_id, username=username,
        password_enc=box.encrypt("pw-" + username), status=status, connection_type="pppoe", created_at=now_iso(),
        **values,
    )
    sub.save()
    return sub


def reload(sub: Subscriber) -> Subscriber:
    return Subscriber.get(sub.login, consistent_read=True)


@contextmanager
def serialized_moto() -> Iterator[None]:
    """DynamoDB applies each request atomically; in-process moto does not isolate concurrent requests
    from threads. Serialise moto's request handling so concurrent runs see DynamoDB's semantics."""
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoHandler.call_action = original  # type: ignore[method-assign]
