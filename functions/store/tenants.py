"""Tenant tree reads used for scoping (system → resellers → managers)."""

from __future__ import annotations

from store.models import Tenant


def get_tenant(tenant_id: str) -> Tenant | None:
    if not 0 < len(tenant_id) <= 256:  # DynamoDB rejects empty or oversized keys: treat as unknown
        return None
    try:
        return Tenant.get(tenant_id)
    except Tenant.DoesNotExist:
        return None


def child_ids(tenant_id: str) -> list[str]:
    return [t.id for t in Tenant.parent_index.query(tenant_id)]


def subtree_ids(tenant_id: str) -> frozenset[str]:
    """The tenant and every tenant below it (breadth-first over the parent index)."""
    seen = {tenant_id}
    frontier = [tenant_id]
    while frontier:
        nxt = []
        for tid in frontier:
            for cid in child_ids(tid):
                if cid not in seen:
                    seen.add(cid)
                    nxt.append(cid)
        frontier = nxt
    return frozenset(seen)


def ancestor_ids(tenant_id: str) -> list[str]:
    """Ids from the root down to the tenant's parent (empty for the system tenant or an unknown id)."""
    t = get_tenant(tenant_id)
    return list(t.ancestors or []) if t is not None else []


def list_children(tenant_id: str) -> list[Tenant]:
    return list(Tenant.parent_index.query(tenant_id))


def batch_get_tenants(ids: list[str]) -> list[Tenant]:
    return list(Tenant.batch_get(ids)) if ids else []


def create_tenant(tenant: Tenant) -> Tenant:
    tenant.save(condition=Tenant.id.does_not_exist())
    return tenant


def update_tenant(tenant: Tenant, changes: dict[str, object]) -> Tenant:
    """Set (or remove, for None) the given attributes with one UpdateItem."""
    actions = []
    for name, value in changes.items():
        attr = getattr(Tenant, name)
        actions.append(attr.remove() if value is None else attr.set(value))
    if actions:
        tenant.update(actions=actions, condition=Tenant.id.exists())
    return tenant


def all_tenants() -> list[Tenant]:
    """Every tenant (scheduled runs walk them; a platform has hundreds, not millions)."""
    return list(Tenant.scan())
