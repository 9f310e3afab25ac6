"""Tenant tree reads used for scoping (system → resellers → managers)."""

from __future__ import annotations

from store.models import Tenant


def get_tenant(tenant_id: str) -> Tenant | None:
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
