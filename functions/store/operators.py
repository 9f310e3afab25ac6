"""Operators, API keys and login throttling.

Operator e-mails are unique across the platform: a lock row ``opemail#<email>`` in the tokens table is
written in the same transaction as the operator (``attribute_not_exists``), so two concurrent requests
cannot create the same login.
"""

from __future__ import annotations

from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, GetError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from core.errors import ConflictError, NotFoundError
from core.ids import now_iso
from store.models import ApiKey, Counter, Operator, TokenRecord


def _connection() -> Connection:
    meta: Any = Operator.Meta
    return Connection(region=meta.region, host=meta.host)


def _email_lock(email: str) -> str:
    return f"opemail#{email.strip().lower()}"


def get_operator(operator_id: str) -> Operator | None:
    if not 0 < len(operator_id) <= 256:
        return None
    try:
        return Operator.get(operator_id)
    except DoesNotExist:
        return None


def operator_for_credentials(operator_id: str) -> Operator | None:
    """The operator a verified token names; None when it is gone or cannot be read (the caller answers 401)."""
    try:
        return Operator.get(operator_id)
    except (DoesNotExist, GetError):
        return None


def find_by_email(email: str) -> Operator | None:
    if not 0 < len(email) <= 320:
        return None
    for op in Operator.email_index.query(email.strip().lower(), limit=1):
        return op
    return None


def list_operators(tenant_id: str) -> list[Operator]:
    return list(Operator.tenant_index.query(tenant_id))


def create_operator(op: Operator) -> Operator:
    op.email = op.email.strip().lower()
    lock = TokenRecord(
        id=_email_lock(op.email),
        kind="operator_email",
        tenant_id=op.tenant_id,
        data={"operator_id": op.id},
        created_at=now_iso(),
    )
    try:
        with TransactWrite(connection=_connection()) as tx:
            tx.save(lock, condition=TokenRecord.id.does_not_exist())
            tx.save(op, condition=Operator.id.does_not_exist())
    except TransactWriteError as exc:
        raise ConflictError(f"an operator with e-mail {op.email} already exists", field="email") from exc
    return op


def update_operator(op: Operator, changes: dict[str, Any]) -> Operator:
    """Apply attribute changes; a new e-mail moves the uniqueness lock in the same transaction."""
    changes = dict(changes)
    new_email = changes.pop("email", None)
    actions = [
        getattr(Operator, k).remove() if v is None else getattr(Operator, k).set(v)
        for k, v in changes.items()
    ]
    actions.append(Operator.updated_at.set(now_iso()))
    if new_email and new_email.strip().lower() != op.email:
        new_email = new_email.strip().lower()
        actions.append(Operator.email.set(new_email))
        lock = TokenRecord(
            id=_email_lock(new_email),
            kind="operator_email",
            tenant_id=op.tenant_id,
            data={"operator_id": op.id},
            created_at=now_iso(),
        )
        try:
            with TransactWrite(connection=_connection()) as tx:
                tx.save(lock, condition=TokenRecord.id.does_not_exist())
                tx.delete(TokenRecord(id=_email_lock(op.email)))
                tx.update(op, actions=actions, condition=Operator.id.exists())
        except TransactWriteError as exc:
            raise ConflictError(f"an operator with e-mail {new_email} already exists", field="email") from exc
        op.refresh()
        return op
    try:
        op.update(actions=actions, condition=Operator.id.exists())
    except UpdateError as exc:
        raise NotFoundError("operator not found") from exc
    return op


def delete_operator(op: Operator) -> None:
    with TransactWrite(connection=_connection()) as tx:
        tx.delete(TokenRecord(id=_email_lock(op.email)))
        tx.delete(op)


def touch_login(op: Operator) -> None:
    op.update(actions=[Operator.last_login_at.set(now_iso())])


# ---------------------------------------------------------------- API keys
def get_api_key(key_id: str) -> ApiKey | None:
    if not 0 < len(key_id) <= 256:
        return None
    try:
        return ApiKey.get(key_id)
    except DoesNotExist:
        return None


def api_key_for_credentials(key_id: str) -> ApiKey | None:
    """The API key a request presents; None when it is unknown or cannot be read (the caller answers 401)."""
    try:
        return ApiKey.get(key_id)
    except (DoesNotExist, GetError):
        return None


def list_api_keys(tenant_id: str) -> list[ApiKey]:
    return list(ApiKey.tenant_index.query(tenant_id))


def create_api_key(key: ApiKey) -> ApiKey:
    key.save(condition=ApiKey.id.does_not_exist())
    return key


def revoke_api_key(key: ApiKey) -> ApiKey:
    key.update(actions=[ApiKey.revoked.set(True)], condition=ApiKey.id.exists())
    return key


# ---------------------------------------------------------------- login throttling
def count_failure(name: str, ttl_window: str) -> int:
    """Atomically add one failed attempt to the window counter ``name#window``; returns the new count."""
    c = Counter(name=f"{name}#{ttl_window}")
    c.update(actions=[Counter.value.add(1)])
    return int(c.value)


def failures(name: str, ttl_window: str) -> int:
    try:
        return int(Counter.get(f"{name}#{ttl_window}").value)
    except DoesNotExist:
        return 0
