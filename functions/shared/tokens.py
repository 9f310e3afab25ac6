"""Signed, expiring tokens (operator sessions, auto-login links, signing links).

Format: ``<base64url(json payload)>.<base64url(hmac-sha256)>`` with ``exp`` (epoch seconds) and
``typ`` in the payload; the key is derived from the root data key per token type.
"""

from __future__ import annotations

import base64
import hmac
import json
from hashlib import sha256
from typing import Any

from core.ids import epoch_seconds
from shared.crypto import SecretBox


class TokenError(ValueError):
    """The token is malformed, forged, of the wrong type or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


class TokenSigner:
    def __init__(self, box: SecretBox) -> None:
        self._box = box
        self._keys: dict[str, bytes] = {}

    def _key(self, typ: str) -> bytes:
        if typ not in self._keys:
            self._keys[typ] = self._box.derive(b"wisp-token-" + typ.encode())
        return self._keys[typ]

    def sign(self, typ: str, claims: dict[str, Any], ttl_seconds: int, now: float | None = None) -> str:
        issued = int(now if now is not None else epoch_seconds())
        payload = dict(claims, typ=typ, iat=issued, exp=issued + int(ttl_seconds))
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        mac = hmac.new(self._key(typ), body.encode(), sha256).digest()
        return f"{body}.{_b64(mac)}"

    def verify(self, typ: str, token: str, now: float | None = None) -> dict[str, Any]:
        try:
            body, mac = token.split(".", 1)
            expected = hmac.new(self._key(typ), body.encode(), sha256).digest()
            if not hmac.compare_digest(expected, _unb64(mac)):
                raise TokenError("invalid signature")
            payload: dict[str, Any] = json.loads(_unb64(body))
        except TokenError:
            raise
        except Exception as exc:
            raise TokenError("malformed token") from exc
        if payload.get("typ") != typ:
            raise TokenError("wrong token type")
        if int(payload.get("exp", 0)) < int(now if now is not None else epoch_seconds()):
            raise TokenError("token expired")
        return payload


OPERATOR_TOKEN = "operator"


def issue_operator_token(
    signer: TokenSigner, operator_id: str, tenant_id: str, role: str, ttl_seconds: int, epoch: int = 0
) -> str:
    """Bearer token for the admin API: ``Authorization: Bearer <token>``. ``epoch`` is the operator's
    token epoch: raising it (password change) revokes every token issued before."""
    claims: dict[str, Any] = {"sub": operator_id, "tid": tenant_id, "role": role}
    if epoch:
        claims["ep"] = epoch
    return signer.sign(OPERATOR_TOKEN, claims, ttl_seconds)
