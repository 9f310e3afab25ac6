"""Zones, gateways, policies and products: reads by id and tenant, conditional creates, partial updates."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError
from pynamodb.models import Model

from core.errors import ConflictError, NotFoundError
from core.ids import now_iso
from store.models import Gateway, Policy, Product, Subscriber, Zone

# A catalogue (or any table) item's model, for code outside the store that handles them generically
ItemModel = Model
T = TypeVar("T", bound=Model)

KINDS: dict[str, type[Model]] = {"zone": Zone, "gateway": Gateway, "policy": Policy, "product": Product}


def get(model: type[T], item_id: str) -> T | None:
    if not 0 < len(item_id) <= 256:  # DynamoDB rejects empty or oversized keys: treat as unknown
        return None
    try:
        return model.get(item_id)
    except DoesNotExist:
        return None


def list_for_tenants(model: type[T], tenant_ids: Iterable[str]) -> list[T]:
    out: list[T] = []
    for tid in tenant_ids:
        out.extend(model.tenant_index.query(tid))  # type: ignore[attr-defined]
    return out


def create(item: T) -> T:
    try:
        item.save(condition=type(item)._hash_key_attribute().does_not_exist())
    except PutError as exc:
        raise ConflictError("an object with this id already exists", field="id") from exc
    return item


def update(item: T, changes: dict[str, Any]) -> T:
    """One UpdateItem with the changed attributes (None removes an attribute)."""
    cls = type(item)
    actions = []
    for name, value in changes.items():
        attr = getattr(cls, name)
        actions.append(attr.remove() if value is None else attr.set(value))
    actions.append(cls.updated_at.set(now_iso()))  # type: ignore[attr-defined]
    try:
        item.update(actions=actions, condition=cls._hash_key_attribute().exists())
    except UpdateError as exc:
        raise NotFoundError("object not found") from exc
    return item


def delete(item: Model) -> None:
    try:
        item.delete(condition=type(item)._hash_key_attribute().exists())
    except DeleteError as exc:
        raise NotFoundError("object not found") from exc


def gateways_by_nas_ip(nas_ip: str) -> list[Gateway]:
    return list(Gateway.nas_index.query(nas_ip))


def references(attribute: str, value: str, tenant_ids: Iterable[str]) -> dict[str, int]:
    """How many gateways, products and subscribers of these tenants point at ``value`` through
    ``attribute`` (zone_id, policy_id, gateway_id, product_id): a referenced object cannot be deleted."""
    counts: dict[str, int] = {}
    targets: list[tuple[str, type[Model]]] = []
    if attribute == "zone_id":
        targets = [("gateways", Gateway), ("subscribers", Subscriber)]
    elif attribute == "policy_id":
        targets = [("products", Product)]
    elif attribute in ("gateway_id", "product_id"):
        targets = [("subscribers", Subscriber)]
    for tid in tenant_ids:
        for label, model in targets:
            cond = getattr(model, attribute) == value
            n = model.tenant_index.count(tid, filter_condition=cond)  # type: ignore[attr-defined]
            if n:
                counts[label] = counts.get(label, 0) + n
    return counts
