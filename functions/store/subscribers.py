"""Subscriber records, their accounting rows (connection log) and invoices (sales).

Subscriber items are shared with the RADIUS service, which updates ``usage`` and ``open_sessions``
with atomic ADD/SET: every change made here is an UpdateItem of the changed attributes only (never a
PutItem of the whole record), guarded by a condition on the status the decision was based on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from core.errors import ConflictError, NotFoundError
from core.ids import now_iso
from store.models import Invoice, Session, Subscriber

_COPY_SKIP = {"login", "username"}


def login_key(tenant_id: str, username: str) -> str:
    """The item key: usernames are unique per tenant regardless of case."""
    return f"{tenant_id}#{username.lower()}"


def login_of(subscriber_id: str) -> str | None:
    """The item key of a subscriber id (the id index holds keys only)."""
    for row in Subscriber.id_index.query(subscriber_id, limit=1):
        return str(row.login)
    return None


def get_by_id(subscriber_id: str, consistent: bool = False) -> Subscriber | None:
    login = login_of(subscriber_id)
    if login is None:
        return None
    try:
        sub = Subscriber.get(login, consistent_read=consistent)
    except DoesNotExist:
        return None
    return sub if sub.id == subscriber_id else None


def by_logins(logins: Iterable[str]) -> list[Subscriber]:
    """Items by key, in the order of ``logins`` (missing ones left out); 100 keys per request."""
    wanted = list(dict.fromkeys(k for k in logins if k))
    found = {s.login: s for s in Subscriber.batch_get(wanted)} if wanted else {}
    return [found[k] for k in wanted if k in found]


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
    """Every subscriber item of a tenant (whole-tenant batch runs only, never an admin page)."""
    return by_logins(r.login for r in Subscriber.tenant_index.query(tenant_id, attributes_to_get=["login"]))


def ips_in_tenant(tenant_id: str) -> set[str]:
    return {s.ip for s in Subscriber.tenant_index.query(tenant_id, attributes_to_get=["ip", "login"]) if s.ip}


def session_rows(keys: Iterable[Session]) -> list[Session]:
    """Connection-log rows for index results (keys only), in the index order."""
    ids = [k.id for k in keys]
    found = {r.id: r for r in Session.batch_get(ids)} if ids else {}
    return [found[i] for i in ids if i in found]


# ---------------------------------------------------------------- accounting rows
def sessions_page(
    subscriber_id: str, limit: int, start_key: dict[str, Any] | None, wifi_only: bool = False
) -> tuple[list[Session], dict[str, Any] | None]:
    """Connection log rows, newest first."""
    if not wifi_only:
        res = Session.subscriber_index.query(
            subscriber_id, scan_index_forward=False, limit=limit, last_evaluated_key=start_key
        )
        keys = list(res)
        return session_rows(keys), res.last_evaluated_key
    # Wi-Fi rows (with an SSID) only: the index holds keys, so rows are read a page at a time
    out: list[Session] = []
    last = start_key
    while True:
        res = Session.subscriber_index.query(
            subscriber_id, scan_index_forward=False, limit=limit, last_evaluated_key=last
        )
        for row in session_rows(list(res)):
            if row.ssid:
                out.append(row)
                if len(out) == limit:
                    return out, _row_key(row)
        last = res.last_evaluated_key
        if last is None:
            return out, None


def _row_key(row: Session) -> dict[str, Any]:
    """The index position of a row, as a query's start key."""
    return {
        "id": {"S": row.id},
        "subscriber_id": {"S": row.subscriber_id},
        "started_at": {"S": row.started_at},
    }


def sessions_since(subscriber_id: str, since_iso: str) -> list[Session]:
    return session_rows(Session.subscriber_index.query(subscriber_id, Session.started_at >= since_iso))


def open_sessions(subscriber_id: str) -> list[Session]:
    rows = session_rows(Session.subscriber_index.query(subscriber_id))
    return [r for r in rows if r.ended_at is None]


def invoices_for(subscriber_id: str) -> list[Invoice]:
    return list(Invoice.subscriber_index.query(subscriber_id))
