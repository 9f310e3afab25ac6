"""Who is acting: roles, the :class:`Actor` every domain operation takes, and :class:`Principal`, the
actor an authenticated request (or a self-service flow) acts as.

Every admin lookup goes through :meth:`Principal.require_visible`: an object of a tenant outside the
caller's subtree answers 404 (not 403) so ids of other tenants leak nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from core.errors import ForbiddenError, NotFoundError
from store import tenants
from store.models import Tenant

# Roles ordered from least to most powerful: a route's ``min_role`` admits that role and those after it.
ROLES = ("read_only", "operator", "manager", "reseller", "system_admin")
ROLE_RANK = {r: i for i, r in enumerate(ROLES)}


class Actor(Protocol):
    actor_id: str
    actor_kind: str
    tenant_id: str
    role: str
    request_id: str | None

    @property
    def visible_tenants(self) -> frozenset[str]: ...

    @property
    def ancestor_tenants(self) -> tuple[str, ...]: ...

    def can_see(self, tenant_id: str | None) -> bool: ...

    def can_use(self, tenant_id: str | None) -> bool: ...

    def require_visible(self, tenant_id: str | None, what: str = "object") -> None: ...

    def has_role(self, min_role: str) -> bool: ...

    def require_role(self, min_role: str) -> None: ...


@dataclass
class Principal:
    actor_id: str
    actor_kind: str  # operator | api_key | subscriber
    tenant_id: str
    role: str
    _visible: frozenset[str] | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    _ancestors: tuple[str, ...] | None = field(default=None, repr=False)
    _tenant_cache: dict[str, Tenant | None] = field(default_factory=dict, repr=False)

    @property
    def visible_tenants(self) -> frozenset[str]:
        """The caller's tenant and every tenant below it (lists query these)."""
        if self._visible is None:
            self._visible = tenants.subtree_ids(self.tenant_id)
        return self._visible

    @property
    def ancestor_tenants(self) -> tuple[str, ...]:
        """Tenants above the caller's, root first (their policies and products are usable here)."""
        if self._ancestors is None:
            self._ancestors = tuple(tenants.ancestor_ids(self.tenant_id))
        return self._ancestors

    def tenant(self) -> Tenant | None:
        """The caller's own tenant record (read once per request)."""
        return self._tenant(self.tenant_id)

    def _tenant(self, tenant_id: str) -> Tenant | None:
        if tenant_id not in self._tenant_cache:
            self._tenant_cache[tenant_id] = tenants.get_tenant(tenant_id)
        return self._tenant_cache[tenant_id]

    def can_see(self, tenant_id: str | None) -> bool:
        """True for the caller's tenant and its descendants (one tenant read, no subtree walk)."""
        if tenant_id is None:
            return False
        if tenant_id == self.tenant_id or (self._visible is not None and tenant_id in self._visible):
            return True
        if self._visible is not None:
            return False
        t = self._tenant(tenant_id)
        return t is not None and self.tenant_id in (t.ancestors or [])

    def can_use(self, tenant_id: str | None) -> bool:
        """Visible, or owned by a tenant above (catalogue defined at a higher level is usable below)."""
        return tenant_id is not None and (self.can_see(tenant_id) or tenant_id in self.ancestor_tenants)

    def require_visible(self, tenant_id: str | None, what: str = "object") -> None:
        if not self.can_see(tenant_id):
            raise NotFoundError(f"{what} not found")

    def has_role(self, min_role: str) -> bool:
        return ROLE_RANK.get(self.role, -1) >= ROLE_RANK[min_role]

    def require_role(self, min_role: str) -> None:
        if not self.has_role(min_role):
            raise ForbiddenError(f"this action needs the {min_role} role or higher; you are {self.role}")
