"""Operator credentials to a :class:`Principal`: signed operator tokens and API keys.

The HTTP edge (``api.auth``) takes them out of the request headers; the subscriber portal's session
tokens resolve in :mod:`services.portal_auth`.
"""

from __future__ import annotations

import hmac

from core.errors import UnauthorizedError
from services.auth import hash_api_secret
from services.identity.actors import Principal
from shared.runtime import Runtime
from shared.tokens import OPERATOR_TOKEN, TokenError
from store import operators


def _require_active_tenant(principal: Principal) -> None:
    t = principal._tenant(principal.tenant_id)
    if t is None or not t.active:
        raise UnauthorizedError("the tenant of these credentials is disabled")
    principal._ancestors = tuple(t.ancestors or [])


def operator_principal(rt: Runtime, token: str) -> Principal:
    """The operator a bearer token names (401 when forged, expired, revoked or the operator is gone)."""
    try:
        claims = rt.signer.verify(OPERATOR_TOKEN, token)
    except TokenError as exc:
        raise UnauthorizedError(f"invalid token: {exc}") from exc
    op = operators.operator_for_credentials(str(claims.get("sub", "")))
    if op is None:
        raise UnauthorizedError("operator no longer exists")
    if not op.active:
        raise UnauthorizedError("operator is disabled")
    if int(claims.get("ep", 0) or 0) != int(op.token_epoch or 0):
        raise UnauthorizedError("token revoked: the password was changed; log in again")
    principal = Principal(op.id, "operator", op.tenant_id, op.role, extra={"operator": op})
    _require_active_tenant(principal)
    return principal


def api_key_principal(api_key: str) -> Principal:
    """The API key ``<id>.<secret>`` as a principal of its role (401 when unknown, revoked or wrong)."""
    key_id, _, secret = api_key.partition(".")
    if not key_id or not secret:
        raise UnauthorizedError("invalid API key")
    if len(key_id) > 128:
        raise UnauthorizedError("invalid API key")
    key = operators.api_key_for_credentials(key_id)
    if key is None:
        raise UnauthorizedError("invalid API key")
    if key.revoked or not hmac.compare_digest(key.secret_hash, hash_api_secret(secret)):
        raise UnauthorizedError("invalid API key")
    principal = Principal(key.id, "api_key", key.tenant_id, key.role)
    _require_active_tenant(principal)
    return principal


def principal_again(actor_kind: str, actor_id: str) -> Principal:
    """The operator or API key that started background work, as it is now (a job's later runs act with
    the caller's current role and tenant; 401 once it is gone, disabled, revoked or its tenant is)."""
    if actor_kind == "operator":
        op = operators.operator_for_credentials(actor_id)
        if op is None or not op.active:
            raise UnauthorizedError("the operator who started this no longer exists or is disabled")
        principal = Principal(op.id, "operator", op.tenant_id, op.role, extra={"operator": op})
    elif actor_kind == "api_key":
        key = operators.api_key_for_credentials(actor_id)
        if key is None or key.revoked:
            raise UnauthorizedError("the API key that started this is revoked")
        principal = Principal(key.id, "api_key", key.tenant_id, key.role)
    else:
        raise UnauthorizedError(f"{actor_kind} cannot start background work")
    _require_active_tenant(principal)
    return principal
