"""Subscriber lists, totals, cancellations and the CSV export (SPEC S3): index-served pages where
the filter allows, otherwise computed over the tenant's subscribers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from core import listing
from core.billing_calendar import zone_info
from core.errors import ValidationError
from core.ids import utcnow
from core.money import currency_or_default
from core.paging import Signer, decode_key, encode_key
from core.statuses import ONLINE, ONLINE_24H, Status
from services.billing.context import load_context
from services.billing.currencies import tenant_currencies
from services.identity.actors import Actor
from services.subscribers.records import subscriber_dict
from services.tenants import tenant_filter
from store import catalog as catalog_store
from store import subscribers as store
from store import tallies
from store.models import Gateway, Product, Subscriber


class Catalogue:
    """Products, gateways and tenants' currencies read once per list request."""

    def __init__(self) -> None:
        self.products: dict[str, Product | None] = {}
        self.gateways: dict[str, Gateway | None] = {}
        self.currencies: dict[str, str] = {}

    def product(self, pid: str | None) -> Product | None:
        if not pid:
            return None
        if pid not in self.products:
            self.products[pid] = catalog_store.get(Product, pid)
        return self.products[pid]

    def gateway(self, gid: str | None) -> Gateway | None:
        if not gid:
            return None
        if gid not in self.gateways:
            self.gateways[gid] = catalog_store.get(Gateway, gid)
        return self.gateways[gid]

    def currency(self, tenant_id: str) -> str:
        """The currency of a tenant's amounts (its subscribers' prices and balances)."""
        if tenant_id not in self.currencies:
            found = tenant_currencies([tenant_id]).get(tenant_id)
            self.currencies[tenant_id] = currency_or_default(found)
        return self.currencies[tenant_id]

    def preload_products(self, ids: Iterable[str | None]) -> None:
        wanted = sorted({i for i in ids if i and i not in self.products})
        for i in range(0, len(wanted), 100):
            chunk = wanted[i : i + 100]
            found = {p.id: p for p in Product.batch_get(chunk)}
            for pid in chunk:
                self.products[pid] = found.get(pid)


def service_price(sub: Subscriber, cat: Catalogue) -> str:
    """The monthly price of the service: the override, else the product's price."""
    if sub.price_override not in (None, ""):
        return str(sub.price_override)
    prod = cat.product(sub.product_id)
    return str(prod.price) if prod is not None else "0"


def list_row(sub: Subscriber, cat: Catalogue) -> dict[str, Any]:
    """A row of the subscriber lists: the subscriber plus its plan name and price, and the currency of
    the price and the balance (its tenant's)."""
    row = subscriber_dict(sub)
    prod = cat.product(sub.product_id)
    row["product_name"] = prod.name if prod else None
    row["price"] = service_price(sub, cat)
    row["currency"] = cat.currency(sub.tenant_id)
    return row


def _rows(actor: Actor, tenant_id: str | None) -> list[dict[str, Any]]:
    subs: list[Subscriber] = []
    for tid in tenant_filter(actor, tenant_id):
        subs.extend(store.list_tenant(tid))
    cat = Catalogue()
    cat.preload_products(s.product_id for s in subs)
    return [list_row(s, cat) for s in subs]


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
    total: int


SUBSCRIBER_LIST = "admin:subscribers"  # the signed cursor's scope: a position in the subscriber list


def signed_cursor(signer: Signer, position: str | None, scope: str) -> str | None:
    """The cursor the API hands out for a list position (:mod:`core.listing`'s cursor): signed, so a
    position cannot be made up."""
    return encode_key(signer, {"p": position} if position else None, scope)


def cursor_position(signer: Signer, cursor: str | None, scope: str) -> str | None:
    """The list position of a cursor made by :func:`signed_cursor` for the same list (422 otherwise)."""
    key = decode_key(signer, cursor, scope)
    if key is None:
        return None
    position = key.get("p")
    if not isinstance(position, str) or not position:
        raise ValidationError("invalid or expired cursor", field="cursor")
    return position


def list_subscribers(
    signer: Signer,
    actor: Actor,
    f: listing.SubscriberFilter,
    tenant_id: str | None,
    sort: str | None,
    limit: int,
    cursor: str | None,
) -> Page:
    """One page of the filtered, sorted subscriber list of the caller's subtree (or one tenant).

    Username order with no filter, one status (incl. online), one router, or a prefix search is read
    from an index, a page at a time (:func:`_index_page`); other combinations are computed over the
    tenant's subscribers. The cursor is signed: a position that was not handed out is refused."""
    field_name, desc = listing.parse_sort(sort)
    tenant_ids = tenant_filter(actor, tenant_id)
    position = cursor_position(signer, cursor, SUBSCRIBER_LIST)
    if _index_served(f, field_name):
        page = _index_page(tenant_ids, f, desc, limit, position)
    else:
        now = utcnow()
        rows = [r for r in _rows(actor, tenant_id) if listing.matches(r, f, now)]
        ordered = listing.sort_rows(rows, field_name, desc)
        items, nxt = listing.paginate(ordered, field_name, desc, limit, position)
        page = Page([dict(r) for r in items], nxt, len(ordered))
    page.next_cursor = signed_cursor(signer, page.next_cursor, SUBSCRIBER_LIST)
    return page


def _status_of(f: listing.SubscriberFilter) -> str | None:
    return Status.SUSPENDED.value if f.status == "blocked" else f.status


def _index_served(f: listing.SubscriberFilter, field_name: str) -> bool:
    if field_name != "username" or f.zone_id or f.product_id or f.connection_type:
        return False
    if _status_of(f) == ONLINE_24H:
        return False
    return sum(1 for v in (f.status, f.gateway_id, f.q) if v) <= 1


def page_key(login: str) -> tuple[str, str]:
    return login.split("#", 1)[-1], login


def _beyond(login: str, after: str, desc: bool) -> bool:
    """Whether ``login`` comes after the cursor's ``after`` in the walking direction."""
    return page_key(login) < page_key(after) if desc else page_key(login) > page_key(after)


def resume_at(tenant_id: str, after: str | None, desc: bool) -> tuple[str | None, list[str]]:
    """Where a tenant's index walk resumes after the cursor's login ``after`` (pages are in username
    order across the tenants): past the cursor's username in this tenant. The walk leaves out a login
    equal to where it starts, so this tenant's login with the cursor's username, when it comes after
    the cursor (the tie is ordered by login), is given back as a candidate (missing or not matching:
    left out when the page is read)."""
    if after is None:
        return None, []
    after_tenant, username = after.split("#", 1)
    if tenant_id == after_tenant:
        return after, []
    start = f"{tenant_id}#{username}"
    return start, [start] if _beyond(start, after, desc) else []


def _index_page(
    tenant_ids: list[str], f: listing.SubscriberFilter, desc: bool, limit: int, cursor: str | None
) -> Page:
    after: str | None = None
    if cursor:
        _present, _value, rid = listing.decode_cursor(cursor, "username", desc)
        after = rid if "#" in rid else None
        if after is None:
            raise ValidationError(
                "invalid cursor: pass back the next_cursor of the previous page", field="cursor"
            )
    status = _status_of(f)
    keys: list[str] = []
    total = 0
    for tid in tenant_ids:
        if f.q:
            matches = sorted(store.search_logins(tid, f.q), key=page_key, reverse=desc)
            total += len(matches)
            keys.extend(k for k in matches if after is None or _beyond(k, after, desc))
            continue
        start, same_name = resume_at(tid, after, desc)
        keys.extend(same_name)
        if f.gateway_id:
            gw = catalog_store.get(Gateway, f.gateway_id) if tid == tenant_ids[0] else None
            total += (
                store.count_on_gateway(f.gateway_id) if gw is not None and gw.tenant_id in tenant_ids else 0
            )
        else:
            total += tally_count(tid, status)
        keys.extend(
            store.logins_page(
                tid,
                status=None if status == ONLINE else status,
                online=status == ONLINE,
                gateway_id=f.gateway_id,
                after=start,
                desc=desc,
                limit=limit + 1,
            )
        )
    keys.sort(key=page_key, reverse=desc)
    if after is not None:
        keys = [k for k in keys if _beyond(k, after, desc)]
    more = len(keys) > limit
    page_keys = keys[:limit]
    subs = [s for s in store.by_logins(page_keys) if s.tenant_id in tenant_ids]
    cat = Catalogue()
    cat.preload_products(s.product_id for s in subs)
    rows = [list_row(s, cat) for s in subs]
    now = utcnow()
    # the index is eventually consistent: a row that changed meanwhile no longer matching is left out
    rows = [
        r for r in rows if listing.matches(r, listing.SubscriberFilter(f.status, None, f.gateway_id), now)
    ]
    nxt = None
    if more and page_keys:
        last = page_keys[-1]
        nxt = listing.encode_cursor("username", desc, {"username": page_key(last)[0], "id": last})
    return Page(rows, nxt, total)


def tally_count(tenant_id: str, status: str | None) -> int:
    counts = _tallies(tenant_id)
    if status is None:
        return sum(n for b, n in counts.items() if b.status not in (tallies.ONLINE, tallies.ONLINE_24H))
    return sum(n for b, n in counts.items() if b.status == status)


def _tallies(tenant_id: str) -> dict[tallies.Bucket, int]:
    counts, at = tallies.read(tenant_id)
    if at is None:  # never counted (a tenant from before the counters): count it once
        tallies.recount(tenant_id, utcnow(), store.list_tenant(tenant_id))
        counts, _ = tallies.read(tenant_id)
    return counts


def walk_page(
    tenant_ids: list[str], f: listing.SubscriberFilter, desc: bool, limit: int, cursor: str | None
) -> Page:
    """One page of a walk over every subscriber matching ``f``, in username order (export and bulk
    jobs). Read from the filter's index where it answers the filter exactly (no filter, one status,
    online, one router: the list's pages); otherwise from the username index a page at a time, each
    row checked against the filter — a page may then hold fewer rows than ``limit``, or none, and still
    have a next cursor. Any tenant size: never more than a page in memory."""
    if _index_served(f, "username") and not f.q:  # a search's index reads stop at SEARCH_CAP matches
        return _index_page(tenant_ids, f, desc, limit, cursor)
    page = _index_page(tenant_ids, listing.SubscriberFilter(), desc, limit, cursor)
    now = utcnow()
    return Page([r for r in page.items if listing.matches(r, f, now)], page.next_cursor, page.total)


def walk_total(tenant_ids: list[str], f: listing.SubscriberFilter) -> int | None:
    """How many subscribers a walk over ``f`` meets, when the tenants' counters tell (no filter, one
    status or online); None otherwise (known when the walk ends)."""
    if f.zone_id or f.gateway_id or f.product_id or f.connection_type or f.q:
        return None
    status = _status_of(f)
    if status == ONLINE_24H:
        return None
    return sum(tally_count(tid, status) for tid in tenant_ids)


def rows_by_logins(
    tenant_ids: list[str], logins: list[str], f: listing.SubscriberFilter
) -> list[dict[str, Any]]:
    """List rows of these subscribers in the order given, those still matching ``f`` (an export in
    another order than the username reads its pages by key)."""
    subs = [s for s in store.by_logins(logins) if s.tenant_id in tenant_ids]
    cat = Catalogue()
    cat.preload_products(s.product_id for s in subs)
    now = utcnow()
    return [r for r in (list_row(s, cat) for s in subs) if listing.matches(r, f, now)]


def row_login(row: dict[str, Any]) -> str:
    """The item key of a list row."""
    return store.login_key(str(row["tenant_id"]), str(row["username"]))


def recount_totals(tenant_id: str) -> dict[str, int]:
    """The repair job: recompute every totals counter of a tenant from its subscribers."""
    return tallies.recount(tenant_id, utcnow(), store.list_tenant(tenant_id))


def export_subscribers(
    actor: Actor, f: listing.SubscriberFilter, tenant_id: str | None, sort: str | None
) -> str:
    """The filtered, sorted subscriber list as CSV."""
    field_name, desc = listing.parse_sort(sort)
    now = utcnow()
    rows = listing.sort_rows(
        [r for r in _rows(actor, tenant_id) if listing.matches(r, f, now)], field_name, desc
    )
    return listing.to_csv(EXPORT_COLUMNS, rows)


EXPORT_COLUMNS = (
    "id",
    "tenant_id",
    "username",
    "status",
    "online",
    "name",
    "email",
    "phone",
    "address",
    "document_id",
    "connection_type",
    "zone_id",
    "gateway_id",
    "product_id",
    "product_name",
    "price",
    "currency",  # of the price and the balance
    "ip",
    "local_address",
    "mac",
    "hotspot_server",
    "router_profile",
    "balance",
    "installed_at",
    "cancelled_at",
    "last_seen_at",
    "created_at",
)


def subscriber_totals(actor: Actor, f: listing.SubscriberFilter, tenant_id: str | None) -> dict[str, Any]:
    """Customers per status with the sums of their services (status filter ignored: every status counts),
    summed per currency (each service's price is in its tenant's currency): ``statuses`` has the counts,
    with the sums when the customers are of one ``currency``; ``by_currency`` each currency's.

    Without other filters the figures come from the tenant's counters (a few rows, priced from the
    products); ``online_24h`` is as of the last recount. With filters they are computed over the list."""
    now = utcnow()
    tenant_ids = tenant_filter(actor, tenant_id)
    currencies = tenant_currencies(tenant_ids)
    if not (f.zone_id or f.gateway_id or f.product_id or f.connection_type or f.q):
        return _totals_from_tallies(tenant_ids, currencies)
    f = listing.SubscriberFilter(None, f.zone_id, f.gateway_id, f.product_id, f.connection_type, f.q)
    rows = [r for r in _rows(actor, tenant_id) if listing.matches(r, f, now)]
    return listing.totals_by_currency(rows, now, _currency_of(currencies), currencies.values())


def _currency_of(currencies: Mapping[str, str]) -> Callable[[Mapping[str, Any]], str | None]:
    """The currency of a list row: its tenant's."""
    return lambda row: currencies.get(str(row.get("tenant_id") or ""))


def _totals_from_tallies(tenant_ids: list[str], currencies: Mapping[str, str]) -> dict[str, Any]:
    counts: dict[tuple[str | None, tallies.Bucket], int] = {}
    for tid in tenant_ids:
        for b, n in _tallies(tid).items():
            key = (currencies.get(tid), b)
            counts[key] = counts.get(key, 0) + n
    cat = Catalogue()
    cat.preload_products(b.ref for _, b in counts if b.kind == "p" and b.ref != "-")
    priced: list[tuple[str, str, int, str]] = []
    for (currency, b), n in counts.items():
        if b.kind == "o":
            price = b.ref
        else:
            prod = cat.product(None if b.ref == "-" else b.ref)
            price = str(prod.price) if prod is not None else "0"
        priced.append((currency_or_default(currency), b.status, n, price))
    return listing.totals_from_counts_by_currency(priced, currencies.values())


def cancellation_stats(
    actor: Actor, f: listing.SubscriberFilter, tenant_id: str | None, months: int
) -> dict[str, Any]:
    """Services cancelled per month and per zone over the last ``months`` months (S4), each in the month
    of the client's zone's calendar (the tenant's time zone without a zone), the monthly sums per
    currency (each service's price is in its tenant's currency)."""
    now = utcnow()
    f = listing.SubscriberFilter(None, f.zone_id, f.gateway_id, f.product_id, f.connection_type, f.q)
    rows = [r for r in _rows(actor, tenant_id) if listing.matches(r, f, now)]
    contexts = {tid: load_context(tid) for tid in tenant_filter(actor, tenant_id)}

    def tz_of(row: Mapping[str, Any]) -> tzinfo:
        ctx = contexts.get(str(row.get("tenant_id") or ""))
        return zone_info(ctx.tz(row.get("zone_id")) if ctx is not None else None)

    time_zones = [zone_info(tz) for ctx in contexts.values() for tz in ctx.time_zones()]
    currencies = {tid: ctx.currency for tid, ctx in contexts.items()}
    return listing.cancellations_by_currency(
        rows, now, months, _currency_of(currencies), tz_of, time_zones, currencies.values()
    )
