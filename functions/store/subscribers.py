"""Subscriber records, their accounting rows (connection log) and invoices (sales).

Subscriber items are shared with the RADIUS service, which updates ``usage`` and ``open_sessions``
with atomic ADD/SET: every change made here is an UpdateItem of the changed attributes only (never a
PutItem of the whole record), guarded by a condition on the status the decision was based on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from core.errors import ConflictError, NotFoundError
from core.ids import iso, now_iso, utcnow
from core.listing import is_phone_search
from core.radius.model import OpenSession
from store import tallies
from store.models import Invoice, Session, Subscriber, TokenRecord

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


_TALLIED = ("status", "product_id", "price_override")
_SEARCHED = ("name", "phone")


def search_fields(name: str | None, phone: str | None) -> dict[str, str | None]:
    """The derived attributes the name and phone prefix indexes are keyed on."""
    digits = "".join(c for c in (phone or "") if c.isdigit())
    lowered = (name or "").strip().lower()
    return {"name_lc": lowered[:256] or None, "phone_n": digits[:64] or None}


def with_search_fields(sub: Subscriber) -> Subscriber:
    for k, v in search_fields(sub.name, sub.phone).items():
        setattr(sub, k, v)
    return sub


def _tx() -> TransactWrite:
    meta: Any = Subscriber.Meta
    return TransactWrite(connection=Connection(region=meta.region, host=meta.host))


def _as_seen(sub: Subscriber) -> Condition:
    """The item still has the status, product and override price the caller read (its totals bucket)."""
    cond = Subscriber.status == sub.status
    for attr, value in (
        (Subscriber.product_id, sub.product_id),
        (Subscriber.price_override, sub.price_override),
    ):
        cond &= attr.does_not_exist() if value is None else (attr == value)
    return cond


def create(sub: Subscriber) -> Subscriber:
    """Insert; a username already taken in the tenant raises :class:`ConflictError` (conditional write).
    The tenant's totals count it once the write succeeded."""
    sub.login = login_key(sub.tenant_id, sub.username)
    with_search_fields(sub)
    try:
        sub.save(condition=Subscriber.login.does_not_exist())
    except PutError as exc:
        raise ConflictError(
            f"username {sub.username!r} is already used in this tenant", field="username"
        ) from exc
    tallies.move(sub.tenant_id, None, tallies.bucket_for(sub))
    return sub


def update_fields(
    sub: Subscriber,
    changes: dict[str, Any],
    expect_status: str | None = None,
    condition: Condition | None = None,
    conflict_field: str = "status",
) -> Subscriber:
    """Set/remove the given attributes. ``expect_status`` makes the write conditional on the status the
    caller saw, so two concurrent lifecycle actions cannot both apply; ``condition`` adds the caller's
    own (a conflict is a 409 naming ``conflict_field``)."""
    changes = dict(changes)
    if any(k in changes for k in _SEARCHED):
        changes.update(search_fields(changes.get("name", sub.name), changes.get("phone", sub.phone)))
    actions = []
    for name, value in changes.items():
        attr = getattr(Subscriber, name)
        actions.append(attr.remove() if value is None else attr.set(value))
    actions.append(Subscriber.updated_at.set(now_iso()))
    cond = Subscriber.login.exists()
    if expect_status is not None:
        cond = cond & (Subscriber.status == expect_status)
    if condition is not None:
        cond = cond & condition
    before = tallies.bucket_for(sub)
    after = tallies.bucket_of(*(changes[k] if k in changes else getattr(sub, k) for k in _TALLIED))
    if before != after:  # the write is conditional on the bucket it leaves
        cond = cond & _as_seen(sub)
    online = bool(sub.online_t)
    try:
        sub.update(actions=actions, condition=cond)
    except UpdateError as exc:
        if get_by_login(sub.tenant_id, sub.username) is None:
            raise NotFoundError("subscriber not found") from exc
        raise ConflictError(
            "the subscriber changed meanwhile; reload and retry", field=conflict_field
        ) from exc
    if before != after:
        # the totals counters move once the conditional write made the change
        tallies.move(sub.tenant_id, before, after)
        if online and (before.kind, before.ref) != (after.kind, after.ref):
            tallies.move(sub.tenant_id, before.with_status(tallies.ONLINE), after.with_status(tallies.ONLINE))
    return sub


def rename(sub: Subscriber, new_username: str, changes: dict[str, Any]) -> Subscriber:
    """Move the record to the new login key in one transaction (the new name must be free)."""
    data = {k: v for k, v in sub.attribute_values.items() if k not in _COPY_SKIP}
    data.update(changes)
    data["updated_at"] = now_iso()
    new = with_search_fields(
        Subscriber(login=login_key(sub.tenant_id, new_username), username=new_username, **data)
    )
    try:
        with _tx() as tx:
            tx.save(new, condition=Subscriber.login.does_not_exist())
            tx.delete(sub, condition=Subscriber.login.exists() & _as_seen(sub))
            tallies.add_to_transaction(tx, sub.tenant_id, tallies.bucket_for(sub), tallies.bucket_for(new))
    except TransactWriteError as exc:
        if get_by_login(sub.tenant_id, new_username) is not None:
            raise ConflictError(
                f"username {new_username!r} is already used in this tenant", field="username"
            ) from exc
        raise ConflictError("the subscriber changed meanwhile; reload and retry") from exc
    return new


def delete(sub: Subscriber) -> None:
    bucket = tallies.bucket_for(sub)
    try:
        sub.delete(condition=Subscriber.login.exists() & _as_seen(sub))
    except DeleteError as exc:
        if get_by_login(sub.tenant_id, sub.username) is None:
            raise NotFoundError("subscriber not found") from exc
        raise ConflictError("the subscriber changed meanwhile; reload and retry") from exc
    tallies.move(sub.tenant_id, bucket, None)
    if sub.online_t:
        tallies.move(sub.tenant_id, bucket.with_status(tallies.ONLINE), None)


def list_tenant(tenant_id: str) -> list[Subscriber]:
    """Every subscriber item of a tenant (whole-tenant batch runs only, never an admin page)."""
    return by_logins(r.login for r in Subscriber.tenant_index.query(tenant_id, attributes_to_get=["login"]))


def ips_in_tenant(tenant_id: str) -> set[str]:
    """Every address in use in the tenant (the sparse IP index: keys only, services with an IP)."""
    return {s.ip for s in Subscriber.ip_index.query(tenant_id) if s.ip}


def as_int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def plain_map(attr: Any) -> dict[str, Any] | None:
    if attr is None:
        return None
    if hasattr(attr, "as_dict"):
        return dict(attr.as_dict())
    return dict(attr)


# Compact field names inside ``open_sessions`` entries keep the subscriber item small
def session_to_map(s: OpenSession) -> dict[str, Any]:
    out: dict[str, Any] = {
        "nas": s.nas_ip,
        "sid": s.acct_session_id,
        "st": s.started_at,
        "lu": s.last_update,
        "v": s.version,
        "i": s.input_octets,
        "o": s.output_octets,
        "t": s.time_s,
        "iv": s.interim_s,
    }
    for name, value in (("ip", s.framed_ip), ("mac", s.mac), ("cb", s.closed_by), ("et", s.ended_at)):
        if value is not None:
            out[name] = value
    return out


def session_from_map(key: str, m: Mapping[str, Any]) -> OpenSession:
    return OpenSession(
        key=key,
        nas_ip=str(m.get("nas", "")),
        acct_session_id=str(m.get("sid", "")),
        started_at=str(m.get("st", "")),
        last_update=str(m.get("lu", m.get("st", ""))),
        version=as_int(m.get("v")),
        input_octets=as_int(m.get("i")),
        output_octets=as_int(m.get("o")),
        time_s=as_int(m.get("t")),
        interim_s=as_int(m.get("iv"), 300),
        framed_ip=m.get("ip"),
        mac=m.get("mac"),
        closed_by=m.get("cb"),
        ended_at=m.get("et"),
    )


def session_rows(keys: Iterable[Session]) -> list[Session]:
    """Connection-log rows for index results (keys only), in the index order, open ones as of the
    subscriber's last accounting packet."""
    ids = [k.id for k in keys]
    found = {r.id: r for r in Session.batch_get(ids)} if ids else {}
    return with_live_counters([found[i] for i in ids if i in found])


def with_live_counters(rows: list[Session]) -> list[Session]:
    """Open rows with the counters of their subscriber item's session entry: RADIUS updates the entry
    on every accounting packet and rewrites the row once an hour (``core.radius.accounting.log_row_due``)."""
    for subscriber_id in sorted({r.subscriber_id for r in rows if r.ended_at is None}):
        sub = get_by_id(subscriber_id)
        entries = plain_map(sub.open_sessions) if sub is not None else None
        for row in rows:
            raw = (entries or {}).get(row.id) if row.subscriber_id == subscriber_id else None
            if row.ended_at is None and isinstance(raw, Mapping):
                _take_entry(row, session_from_map(row.id, raw))
    return rows


def _take_entry(row: Session, entry: OpenSession) -> None:
    if entry.version <= as_int(row.version):
        return
    row.version = entry.version
    row.last_update = entry.ended_at or entry.last_update
    row.duration_s = entry.time_s
    row.input_octets = entry.input_octets
    row.output_octets = entry.output_octets
    row.framed_ip = entry.framed_ip or row.framed_ip
    row.mac = entry.mac or row.mac
    if entry.ended_at is not None:  # closed on the item, the row's rewrite did not happen
        row.ended_at, row.closed_by = entry.ended_at, entry.closed_by


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


# ---------------------------------------------------------------- admin list indexes (keys only)
# Index key of the row after/before which a page starts: "<tenant>#<username lower>" (the login).
_END = "\uffff"


def _login_range(tenant_id: str, after: str | None, desc: bool) -> tuple[str, str]:
    """Bounds (inclusive) of a tenant's logins strictly past ``after`` in the walking direction; the
    row equal to ``after`` itself is dropped by the caller."""
    low, high = f"{tenant_id}#", f"{tenant_id}#{_END}"
    if after is not None:
        if desc:
            high = after
        else:
            low = after
    return low, high


def _walk(index: Any, hash_key: str, tenant_id: str, after: str | None, desc: bool, limit: int) -> list[str]:
    low, high = _login_range(tenant_id, after, desc)
    rows = index.query(
        hash_key,
        Subscriber.login.between(low, high),
        scan_index_forward=not desc,
        limit=limit + 1,
        page_size=limit + 1,
    )
    out: list[str] = []
    for row in rows:
        if row.login != after:
            out.append(row.login)
        if len(out) >= limit:
            break
    return out


def logins_page(
    tenant_id: str,
    *,
    status: str | None = None,
    online: bool = False,
    gateway_id: str | None = None,
    after: str | None = None,
    desc: bool = False,
    limit: int = 50,
) -> list[str]:
    """Up to ``limit`` logins of one tenant in username order after ``after``, from the index that
    serves the filter: reads proportional to the page, whatever the size of the tenant."""
    if online:
        return _walk(Subscriber.online_index, tenant_id, tenant_id, after, desc, limit)
    if status:
        return _walk(Subscriber.status_index, status, tenant_id, after, desc, limit)
    if gateway_id:
        return _walk(Subscriber.gateway_index, gateway_id, tenant_id, after, desc, limit)
    return _walk(Subscriber.user_index, tenant_id, tenant_id, after, desc, limit)


def count_on_gateway(gateway_id: str) -> int:
    return int(Subscriber.gateway_index.count(gateway_id))


SEARCH_CAP = 2000  # matches read per index for one search


def search_logins(tenant_id: str, q: str) -> set[str]:
    """Logins whose username, name, phone or IP starts with ``q`` (case-insensitive)."""
    needle = q.strip().lower()
    if not needle:
        return set()
    found: set[str] = set()
    queries: list[Any] = [
        Subscriber.user_index.query(
            tenant_id, Subscriber.login.startswith(f"{tenant_id}#{needle}"), limit=SEARCH_CAP
        ),
        Subscriber.name_index.query(tenant_id, Subscriber.name_lc.startswith(needle), limit=SEARCH_CAP),
        Subscriber.ip_index.query(tenant_id, Subscriber.ip.startswith(needle), limit=SEARCH_CAP),
    ]
    digits = "".join(c for c in needle if c.isdigit())
    if is_phone_search(needle):
        queries.append(
            Subscriber.phone_index.query(tenant_id, Subscriber.phone_n.startswith(digits), limit=SEARCH_CAP)
        )
    for rows in queries:
        found.update(r.login for r in rows)
    return found


def login_with_ip(tenant_id: str, ip: str) -> list[str]:
    """Logins of the tenant holding this exact IP (ip-index)."""
    return [r.login for r in Subscriber.ip_index.query(tenant_id, Subscriber.ip == ip)]


def any_in_tenant(tenant_id: str) -> bool:
    return any(True for _ in Subscriber.user_index.query(tenant_id, limit=1))


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
