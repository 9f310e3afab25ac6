"""Who is calling: operator bearer tokens and API keys, roles, and tenant scope.

Every admin lookup goes through :meth:`Principal.require_visible`: an object of a tenant outside the
caller's subtree answers 404 (not 403) so ids of other tenants leak nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.errors import ForbiddenError, NotFoundError, UnauthorizedError
from shared.runtime import Runtime
from shared.tokens import OPERATOR_TOKEN, TokenError
from store import tenants
from store.models import ApiKey, Operator

# Ordered from least to most powerful; a route's ``min_role`` admits that role and those after it.
ROLES = ("read_only", "operator", "manager", "reseller", "system_admin")
ROLE_RANK = {r: i for i, r in enumerate(ROLES)}


@dataclass
class Principal:
    actor_id: str
    actor_kind: str  # operator | api_key | subscriber
    tenant_id: str
    role: str
    _visible: frozenset[str] | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def visible_tenants(self) -> frozenset[str]:
        if self._visible is None:
            self._visible = tenants.subtree_ids(self.tenant_id)
        return self._visible

    def can_see(self, tenant_id: str | None) -> bool:
        return tenant_id is not None and tenant_id in self.visible_tenants

    def require_visible(self, tenant_id: str | None, what: str = "object") -> None:
        if not self.can_see(tenant_id):
            raise NotFoundError(f"{what} not found")

    def has_role(self, min_role: str) -> bool:
        return ROLE_RANK.get(self.role, -1) >= ROLE_RANK[min_role]

    def require_role(self, min_role: str) -> None:
        if not self.has_role(min_role):
            raise ForbiddenError(f"this action needs the {min_role} role or higher; you are {self.role}")


def hash_api_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


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
            op = Operator.get(claims["sub"])
        except Operator.DoesNotExist as exc:
            raise UnauthorizedError("operator no longer exists") from exc
        if not op.active:
            raise UnauthorizedError("operator is disabled")
        return Principal(op.id, "operator", op.tenant_id, op.role)
    api_key = lower.get("x-api-key")
    if api_key:
        key_id, _, secret = api_key.partition(".")
        try:
            key = ApiKey.get(key_id)
        except ApiKey.DoesNotExist as exc:
            raise UnauthorizedError("invalid API key") from exc
        if key.revoked or not hmac.compare_digest(key.secret_hash, hash_api_secret(secret)):
            raise UnauthorizedError("invalid API key")
        return Principal(key.id, "api_key", key.tenant_id, key.role)
    raise UnauthorizedError("missing credentials: send Authorization: Bearer <token> or X-Api-Key")


# Other authentication schemes (the customer portal) register here: name -> fn(rt, headers) -> Principal
AUTHENTICATORS: dict[str, Callable[[Runtime, dict[str, str]], Principal]] = {"operator": authenticate_operator}
