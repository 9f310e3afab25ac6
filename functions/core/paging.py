"""The page cursor: a DynamoDB page key as an opaque, signed token bound to one list.

A cursor cannot be forged (it is signed with a key derived for cursors only), expires after a day and
cannot be replayed on another list (it names the list's ``scope``). The signer is passed in (the
runtime's token signer): this module stays pure.
"""

from __future__ import annotations

from typing import Any, Protocol

from core.errors import ValidationError

CURSOR_TOKEN = "page-cursor"
CURSOR_TTL_SECONDS = 86_400


class Signer(Protocol):
    def sign(self, typ: str, claims: dict[str, Any], ttl_seconds: int) -> str: ...

    def verify(self, typ: str, token: str) -> dict[str, Any]:
        """The claims of a token of this type; ``ValueError`` when forged, malformed or expired."""
        ...


def encode_key(signer: Signer, key: dict[str, Any] | None, scope: str) -> str | None:
    """The cursor of the next page after ``key`` (None when this was the last page)."""
    if not key:
        return None
    return signer.sign(CURSOR_TOKEN, {"k": key, "s": scope}, CURSOR_TTL_SECONDS)


def decode_key(
    signer: Signer, cursor: str | None, scope: str, field: str = "cursor"
) -> dict[str, Any] | None:
    """The page key of a cursor made by :func:`encode_key` for the same list (422 on ``field`` otherwise)."""
    if not cursor:
        return None
    try:
        claims = signer.verify(CURSOR_TOKEN, cursor)
    except ValueError as exc:
        raise ValidationError("invalid or expired cursor", field=field) from exc
    if claims.get("s") != scope or not isinstance(claims.get("k"), dict):
        raise ValidationError("the cursor belongs to another list", field=field)
    return dict(claims["k"])
