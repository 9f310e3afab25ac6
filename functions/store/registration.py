"""Self-registration records: one short-lived :class:`TokenRecord` per registration.

The record holds the HMAC of the one-time code (never the code), the person's data, and its stage in
``kind`` (``reg-pending`` → ``reg-verified`` → ``reg-completed``) so every step is a conditional write:
a code is checked at most ``max_attempts`` times, a verification completes one account.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from core.ids import epoch_seconds, now_iso, utcnow
from store.models import TokenRecord

PENDING, VERIFIED, COMPLETED = "reg-pending", "reg-verified", "reg-completed"


def _key(registration_id: str) -> str:
    return f"reg#{registration_id}"


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(int(epoch), tz=UTC)


def create(
    registration_id: str, tenant_id: str, data: dict[str, Any], ttl_seconds: int, stage: str = PENDING
) -> None:
    TokenRecord(
        _key(registration_id),
        kind=stage,
        tenant_id=tenant_id,
        data=data,
        attempts=0,
        expires_at=_at(epoch_seconds() + ttl_seconds),
        created_at=now_iso(),
    ).save(condition=TokenRecord.id.does_not_exist())


def get(registration_id: str) -> TokenRecord | None:
    """A live registration (DynamoDB deletes expired items lazily, so expiry is checked here)."""
    try:
        rec = TokenRecord.get(_key(registration_id))
    except DoesNotExist:
        return None
    if rec.expires_at is not None and rec.expires_at <= utcnow():
        return None
    return rec


def count_attempt(rec: TokenRecord, max_attempts: int) -> int | None:
    """Count one code check, only while the registration is pending and under the limit.
    Returns the attempts made so far including this one; None when no attempt is left."""
    try:
        rec.update(
            actions=[TokenRecord.attempts.add(1)],
            condition=(TokenRecord.kind == PENDING) & (TokenRecord.attempts < max_attempts),
        )
    except UpdateError as exc:
        if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
            return None
        raise
    return int(rec.attempts or 0)


def advance(
    rec: TokenRecord,
    from_stage: str,
    to_stage: str,
    ttl_seconds: int | None = None,
    data: dict[str, Any] | None = None,
) -> bool:
    """Move the registration to the next stage; True only for the one caller that did."""
    actions: list[Any] = [TokenRecord.kind.set(to_stage)]
    if ttl_seconds is not None:
        actions.append(TokenRecord.expires_at.set(_at(epoch_seconds() + ttl_seconds)))
    if data is not None:
        actions.append(TokenRecord.data.set(data))
    try:
        rec.update(actions=actions, condition=TokenRecord.id.exists() & (TokenRecord.kind == from_stage))
    except UpdateError as exc:
        if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
            return False
        raise
    return True
