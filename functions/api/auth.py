"""Who is calling: operator bearer tokens and API keys, roles, and tenant scope.

Every admin lookup goes through :meth:`Principal.require_visible`: an object of a tenant outside the
caller's subtree answers 404 (not 403) so ids of other tenants leak nothing.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import GetError

from core.errors import ForbiddenError, NotFoundError, UnauthorizedError
from services.auth import hash_api_secret
from services.tenants import ROLE_RANK, ROLES
from shared.runtime import Runtime
from shared.tokens import OPERATOR_TOKEN, TokenError
from store import tenants
from store.models import ApiKey, Operator, Tenant

# Roles ordered from least to most powerful: a route's ``min_role`` admits that role and those after it.
__all__ = ["AUTHENTICATORS", "ROLES", "ROLE_RANK", "Principal", "authenticate_operator", "hash_api_secret"]


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


def _require_active_tenant(principal: Principal) -> None:
    t = principal._tenant(principal.tenant_id)
    if t is None or not t.active:
        raise UnauthorizedError("the tenant of these credentials is disabled")
    principal._ancestors = tuple(t.ancestors or [])


def authenticate_operator(rt: Runtime, headers: dict[str, str]) -> Principal:
    """Resolve ``Authorization: Bearer <token>`` or ``X-Api-Key: <id>.<secret>`` to a principal."""
    lower = {k.lower(): v for k, v in headers.items()}
    auth = lower.get("authorization", "")
    if auth.lower().startswith("bearer "):
        try:
            claims = rt.signer.verify(OPERATOR_TOKEN, auth[7:].strip())
        except TokenError as exc:
            raise UnauthorizedError(f"invalid token: {exc}") from exc
        try:
            op = Operator.get(str(claims.get("sub", "")))
        except (Operator.DoesNotExist, GetError) as exc:
            raise UnauthorizedError("operator no longer exists") from exc
        if not op.active:
            raise UnauthorizedError("operator is disabled")
        if int(claims.get("ep", 0) or 0) != int(op.token_epoch or 0):
            raise UnauthorizedError("token revoked: the password was changed; log in again")
        principal = Principal(op.id, "operator", op.tenant_id, op.role, extra={"operator": op})
        _require_active_tenant(principal)
        return principal
    api_key = lower.get("x-api-key")
    if api_key:
        key_id, _, secret = api_key.partition(".")
        if not key_id or not secret:
            raise UnauthorizedError("invalid API key")
        if len(key_id) > 128:
            raise UnauthorizedError("invalid API key")
        try:
            key = ApiKey.get(key_id)
        except (ApiKey.DoesNotExist, GetError) as exc:
            raise UnauthorizedError("invalid API key") from exc
        if key.revoked or not hmac.compare_digest(key.secret_hash, hash_api_secret(secret)):
            raise UnauthorizedError("invalid API key")
        principal = Principal(key.id, "api_key", key.tenant_id, key.role)
        _require_active_tenant(principal)
        return principal
    raise UnauthorizedError("missing credentials: send Authorization: Bearer <token> or X-Api-Key")


# Other authentication schemes (the customer portal) register here: name -> fn(rt, headers) -> Principal
AUTHENTICATORS: dict[str, Callable[[Runtime, dict[str, str]], Principal]] = {
    "operator": authenticate_operator
}
