"""Subscriber records, their accounting rows (connection log) and invoices (sales).

Subscriber items are shared with the RADIUS service, which updates ``usage`` and ``open_sessions``
with atomic ADD/SET: every change made here is an UpdateItem of the changed attributes only (never a
PutItem of the whole record), guarded by a condition on the status the decision was based on.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from core.errors import ConflictError, NotFoundError
from core.ids import iso, now_iso, utcnow
from store.models import Invoice, Session, Subscriber, TokenRecord

_COPY_SKIP = {"login", "username"}


def login_key(tenant_id: str, username: str) -> str:
    """The item key: usernames are unique per tenant regardless of case."""
    return f"{tenant_id}#{username.lower()}"


def get_by_id(subscriber_id: str) -> Subscriber | None:
    for sub in Subscriber.id_index.query(subscriber_id, limit=1):
        return sub
    return None


def get_by_login(tenant_id: str, username: str) -> Subscriber | None:
    try:
        return Subscriber.get(login_key(tenant_id, username))
    except DoesNotExist:
        return None


def create(sub: Subscriber) -> Subscriber:
    """Insert; a username already taken in the tenant raises :class:`ConflictError` (conditional write)."""
    sub.login = login_key(sub.tenant_id, sub.username)
    try:
        sub.save(condition=Subscriber.login.does_not_exist())
    except PutError as exc:
        raise ConflictError(
            f"username {sub.username!r} is already used in this tenant", field="username"
        ) from exc
    return sub


def update_fields(sub: Subscriber, changes: dict[str, Any], expect_status: str | None = None) -> Subscriber:
    """Set/remove the given attributes. ``expect_status`` makes the write conditional on the status the
    caller saw, so two concurrent lifecycle actions cannot both apply."""
    actions = []
    for name, value in changes.items():
        attr = getattr(Subscriber, name)
        actions.append(attr.remove() if value is None else attr.set(value))
    actions.append(Subscriber.updated_at.set(now_iso()))
    cond = Subscriber.login.exists()
    if expect_status is not None:
        cond = cond & (Subscriber.status == expect_status)
    try:
        sub.update(actions=actions, condition=cond)
    except UpdateError as exc:
        if get_by_login(sub.tenant_id, sub.username) is None:
            raise NotFoundError("subscriber not found") from exc
        raise ConflictError("the subscriber changed meanwhile; reload and retry", field="status") from exc
    return sub


def rename(sub: Subscriber, new_username: str, changes: dict[str, Any]) -> Subscriber:
    """Move the record to the new login key in one transaction (the new name must be free)."""
    data = {k: v for k, v in sub.attribute_values.items() if k not in _COPY_SKIP}
    data.update(changes)
    data["updated_at"] = now_iso()
    new = Subscriber(login=login_key(sub.tenant_id, new_username), username=new_username, **data)
    meta: Any = Subscriber.Meta
    try:
        with TransactWrite(connection=Connection(region=meta.region, host=meta.host)) as tx:
            tx.save(new, condition=Subscriber.login.does_not_exist())
            tx.delete(sub, condition=Subscriber.login.exists() & (Subscriber.status == sub.status))
    except TransactWriteError as exc:
        if get_by_login(sub.tenant_id, new_username) is not None:
            raise ConflictError(
                f"username {new_username!r} is already used in this tenant", field="username"
            ) from exc
        raise ConflictError("the subscriber changed meanwhile; reload and retry") from exc
    return new


def delete(sub: Subscriber) -> None:
    try:
        sub.delete(condition=Subscriber.login.exists())
    except DeleteError as exc:
        raise NotFoundError("subscriber not found") from exc


def list_tenant(tenant_id: str) -> list[Subscriber]:
    return list(Subscriber.tenant_index.query(tenant_id))


def ips_in_tenant(tenant_id: str) -> set[str]:
    return {s.ip for s in Subscriber.tenant_index.query(tenant_id, attributes_to_get=["ip", "login"]) if s.ip}


# ---------------------------------------------------------------- accounting rows
def sessions_page(
    subscriber_id: str, limit: int, start_key: dict[str, Any] | None, wifi_only: bool = False
) -> tuple[list[Session], dict[str, Any] | None]:
    """Connection log rows, newest first."""
    cond = Session.ssid.exists() if wifi_only else None
    res = Session.subscriber_index.query(
        subscriber_id,
        scan_index_forward=False,
        limit=limit,
        last_evaluated_key=start_key,
        filter_condition=cond,
    )
    items = list(res)
    return items, res.last_evaluated_key


def sessions_since(subscriber_id: str, since_iso: str) -> list[Session]:
    return list(Session.subscriber_index.query(subscriber_id, Session.started_at >= since_iso))


def open_sessions(subscriber_id: str) -> list[Session]:
    return list(
        Session.subscriber_index.query(subscriber_id, filter_condition=Session.ended_at.does_not_exist())
    )


def invoices_for(subscriber_id: str) -> list[Invoice]:
    return list(Invoice.subscriber_index.query(subscriber_id))


# ---------------------------------------------------------------- address reservations
IP_RESERVATION_S = 600


def reserve_ip(tenant_id: str, ip: str, holder: str, seconds: int = IP_RESERVATION_S) -> bool:
    """Reserve ``ip`` in the tenant for a service being created (conditional write): True for the one
    caller that got it. Reservations expire on their own: they only cover the time until the new
    service is written and visible to the tenant's address reads."""
    now = utcnow()
    record = TokenRecord(
        id=f"ip#{tenant_id}#{ip}",
        kind="ip_reservation",
        tenant_id=tenant_id,
        data={"holder": holder},
        expires_at=now + timedelta(seconds=seconds),
        created_at=iso(now),
    )
    try:
        record.save(condition=TokenRecord.id.does_not_exist() | (TokenRecord.expires_at < now))
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True
