"""Who is calling, read from the request headers: operator bearer tokens and API keys, and the
subscriber portal's session tokens. The credentials resolve to a principal in ``services``."""

from __future__ import annotations

from collections.abc import Callable

from core.errors import UnauthorizedError
from services.identity.actors import Principal
from services.identity.authentication import api_key_principal, operator_principal
from services.portal_auth import subscriber_principal
from shared.runtime import Runtime


def _bearer(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def authenticate_operator(rt: Runtime, headers: dict[str, str]) -> Principal:
    """Resolve ``Authorization: Bearer <token>`` or ``X-Api-Key: <id>.<secret>`` to a principal."""
    lower = {k.lower(): v for k, v in headers.items()}
    token = _bearer(lower)
    if token is not None:
        return operator_principal(rt, token)
    api_key = lower.get("x-api-key")
    if api_key:
        return api_key_principal(api_key)
    raise UnauthorizedError("missing credentials: send Authorization: Bearer <token> or X-Api-Key")


def authenticate_subscriber(rt: Runtime, headers: dict[str, str]) -> Principal:
    """Resolve ``Authorization: Bearer <portal token>`` to a subscriber principal."""
    token = _bearer({k.lower(): v for k, v in headers.items()})
    if token is None:
        raise UnauthorizedError("missing credentials: send Authorization: Bearer <portal token>")
    return subscriber_principal(rt, token)


# A route's ``auth`` names one of these: name -> fn(rt, headers) -> Principal
AUTHENTICATORS: dict[str, Callable[[Runtime, dict[str, str]], Principal]] = {
    "operator": authenticate_operator,
    "subscriber": authenticate_subscriber,
}
