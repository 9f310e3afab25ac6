"""Subscriber services (SPEC S2 "from operator" / "from external procedure", S3 lists and totals).

Creating or editing a subscriber that lives on a router enqueues a provisioning trigger; the result says
what was done in the system and what is pending on the router.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from core import catalog_rules as rules
from core import lifecycle as lc
from core import listing
from core.errors import ConflictError, NotFoundError, ValidationError
from core.ids import iso, new_id, now_iso, parse_iso, utcnow
from core.statuses import ONLINE, ONLINE_24H, Status
from services.catalog import check_reference
from services.identity.actors import Actor
from services.network.triggers import SyncRequest, request_subscriber_sync
from services.tenants import audit, target_tenant, tenant_filter
from shared.crypto import hash_password, random_password
from shared.runtime import Runtime
from store import catalog as catalog_store
from store import subscribers as store
from store import tallies
from store.models import Gateway, Policy, Product, Subscriber, Zone

PUBLIC_FIELDS = (
    "id",
    "tenant_id",
    "username",
    "status",
    "connection_type",
    "name",
    "email",
    "phone",
    "address",
    "document_id",
    "zone_id",
    "gateway_id",
    "product_id",
    "product_assigned_at",
    "product_expires_at",
    "price_override",
    "ip",
    "local_address",
    "mac",
    "mac_auth",
    "hotspot_server",
    "router_profile",
    "free_user",
    "billing",
    "balance",
    "carry_over",
    "advanced",
    "devices",
    "installed_at",
    "cancelled_at",
    "last_seen_at",
    "created_at",
    "updated_at",
)
# Fields whose change must be pushed to the router
ROUTER_FIELDS = frozenset({"ip", "local_address", "mac", "hotspot_server", "router_profile"})
CREATE_STATUSES = (Status.NEW, Status.ACTIVE, Status.FREE, Status.SUSPENDED)


def open_sessions(sub: Subscriber) -> dict[str, dict[str, Any]]:
    """Open accounting sessions on the item (closed entries kept as tombstones are left out)."""
    raw = sub.open_sessions
    data = raw.as_dict() if hasattr(raw, "as_dict") else dict(raw or {})
    return {k: dict(v) for k, v in data.items() if isinstance(v, Mapping) and not v.get("cb")}


def usage_map(sub: Subscriber) -> dict[str, int]:
    """The usage counters of the item as plain integers."""
    raw = sub.usage
    data = raw.as_dict() if hasattr(raw, "as_dict") else dict(raw or {})
    out = {}
    for k, v in data.items():
        try:
            out[k] = int(v)
        except (TypeError, ValueError):
            continue
    return out


def subscriber_dict(sub: Subscriber) -> dict[str, Any]:
    """The subscriber as the API shows it (no secrets, no counters), with its online state."""
    out = {f: getattr(sub, f, None) for f in PUBLIC_FIELDS}
    out["devices"] = list(sub.devices or [])
    count = len(open_sessions(sub))
    out["online_sessions"] = count
    out["online"] = count > 0
    return out


def audit_snapshot(sub: Subscriber) -> dict[str, Any]:
    """What the audit log keeps of a subscriber (no counters, no secrets)."""
    out = {f: getattr(sub, f, None) for f in PUBLIC_FIELDS}
    out["devices"] = list(sub.devices or [])
    return out


@dataclass
class RouterEffect:
    """What happens on the router after a change made in the system."""

    status: str  # queued | api_disabled | no_gateway | not_needed
    gateway_id: str | None = None
    task_id: str | None = None
    warning: str | None = None
    message: str = ""


def router_effect(req: SyncRequest | None, gateway_name: str | None = None) -> RouterEffect:
    """Word a provisioning trigger's outcome for the caller (S4: pending task or warning)."""
    if req is None:
        return RouterEffect("not_needed", message="Nothing to change on the router.")
    where = f"router {gateway_name}" if gateway_name else "the router"
    if req.status == "queued":
        msg = f"Pending on {where}: provisioning task {req.task_id}."
        return RouterEffect("queued", req.gateway_id, req.task_id, req.warning, msg)
    if req.status == "api_disabled":
        warning = req.warning or (
            f"The router API is disabled for {gateway_name or 'this router'}: the change "
            "was made only in the system; the router was not changed."
        )
        return RouterEffect("api_disabled", req.gateway_id, None, warning, warning)
    return RouterEffect(
        "no_gateway", None, None, None, "No router is assigned: the change was made only in the system."
    )


def gateway_name(gateway_id: str | None) -> str | None:
    """The router's name, for messages."""
    if not gateway_id:
        return None
    gw = catalog_store.get(Gateway, gateway_id)
    return gw.name if gw else None


def sync(rt: Runtime, actor: Actor, sub: Subscriber, reason: str) -> RouterEffect:
    """Ask the provisioner to apply the subscriber's state on its router."""
    return router_effect(
        request_subscriber_sync(rt, sub, reason, actor.actor_id), gateway_name(sub.gateway_id)
    )


# ---------------------------------------------------------------- reads
def get_subscriber(actor: Actor, subscriber_id: str) -> Subscriber:
    """By id, in the caller's subtree (404 otherwise, whoever owns it)."""
    sub = store.get_by_id(subscriber_id) if 0 < len(subscriber_id) <= 128 else None
    if sub is None or not actor.can_see(sub.tenant_id):
        raise NotFoundError("subscriber not found", field="subscriber_id")
    return sub


def credentials(actor: Actor, rt: Runtime, subscriber_id: str) -> dict[str, str]:
    """The network username and password (print card / send credentials); the read is audited."""
    sub = get_subscriber(actor, subscriber_id)
    audit(actor, sub.tenant_id, "subscriber", sub.id, "read_credentials", None, None)
    return {"username": sub.username, "password": rt.box.decrypt(sub.password_enc)}


# ---------------------------------------------------------------- create / update
def assign_pool_ip(tenant_id: str, gateway: Gateway, holder: str) -> str | None:
    """The next free address of the router's pool (S3: "a free IP of the pool"), reserved with a
    conditional write so services created at the same time never get the same one; None when the
    pool is full."""
    if not gateway.ip_pool:
        return None
    taken = store.ips_in_tenant(tenant_id)
    for candidate in rules.pool_hosts(gateway.ip_pool):
        if candidate not in taken and store.reserve_ip(tenant_id, candidate, holder):
            return candidate
    return None


def _service_ip(tid: str, gw: Gateway | None, data: dict[str, Any], holder: str) -> str | None:
    """The IP of a new service: the one given (checked free), else the next free one of its router's
    pool; Simple Queue and PCQ services cannot do without (422 naming ``ip``)."""
    ctype = data["connection_type"]
    if data.get("ip"):
        ip = rules.check_ip(data["ip"], "ip")
        _check_ip_free(tid, str(ip), None)
        return ip
    if gw is None or ctype == "hotspot":
        rules.require_service_ip(ctype, None, ", or assign a router with an ip_pool")
        return None
    ip = assign_pool_ip(tid, gw, holder)
    if ip is None and gw.ip_pool:
        hint = f" (the pool {gw.ip_pool} of router {gw.name} has no free address)"
    else:
        hint = f", or set an ip_pool on router {gw.name}"
    rules.require_service_ip(ctype, ip, hint if ip is None else "")
    return ip


def _check_pcq_plan(ctype: str, prod: Product | None) -> None:
    """A PCQ service needs a plan that names its MikroTik address list."""
    if ctype != "pcq":
        return
    policy = catalog_store.get(Policy, prod.policy_id) if prod and prod.policy_id else None
    rules.check_pcq_address_list(
        ctype, prod.address_list if prod else None, policy.address_list if policy else None, "product_id"
    )


def _check_ip_free(tenant_id: str, ip: str, subscriber_id: str | None) -> None:
    for other in store.by_logins(store.login_with_ip(tenant_id, ip)):
        if other.ip == ip and other.id != subscriber_id:
            raise ConflictError(f"IP {ip} is already assigned to {other.username}", field="ip")


@dataclass
class Created:
    subscriber: Subscriber
    password: str
    router: RouterEffect
    system: str = ""
    warnings: list[str] = field(default_factory=list)


def create_subscriber(rt: Runtime, actor: Actor, data: dict[str, Any]) -> Created:
    """Create a subscriber service (operator channel or external procedure). The username is unique per
    tenant (conditional write); the network password is random unless given."""
    tid = target_tenant(actor, data.pop("tenant_id", None))
    username = lc.check_username(data.pop("username"))
    if data.get("mac_auth"):
        # complementary access: the user is named by its MAC address (S2)
        username = lc.normalise_mac(username, "username")
        data["mac"] = username
    password = data.pop("password", None) or random_password()
    lc.check_network_password(password)
    portal_password = data.pop("portal_password", None)
    status = data.pop("status", None) or Status.NEW
    if status not in CREATE_STATUSES:
        raise ValidationError(
            f"a new subscriber starts as one of {', '.join(CREATE_STATUSES)}", field="status"
        )
    gw = check_reference(actor, Gateway, data.get("gateway_id"), tid, "gateway_id")
    zone = check_reference(actor, Zone, data.get("zone_id"), tid, "zone_id")
    prod = check_reference(actor, Product, data.get("product_id"), tid, "product_id")
    if gw is not None and zone is None and gw.zone_id:
        data["zone_id"] = gw.zone_id
    elif gw is not None and zone is not None and gw.zone_id and gw.zone_id != zone.id:
        raise ValidationError("the router belongs to another zone", field="zone_id")
    ctype = (
        data.get("connection_type")
        or (gw.plan_type if gw else None)
        or (prod.connection_type if prod else None)
    )
    data["connection_type"] = ctype or "pppoe"
    if data["connection_type"] not in rules.CONNECTION_TYPES:
        raise ValidationError(f"must be one of {', '.join(rules.CONNECTION_TYPES)}", field="connection_type")
    if gw is not None and gw.plan_type != data["connection_type"]:
        raise ValidationError(
            f"router {gw.name} serves {gw.plan_type} plans, not {data['connection_type']}",
            field="connection_type",
        )
    if data.get("price_override") is not None:
        data["price_override"] = rules.check_money(data["price_override"], "price_override")
    if data.get("mac"):
        data["mac"] = lc.normalise_mac(data["mac"])
    _check_pcq_plan(data["connection_type"], prod)
    sub_id = new_id("sub")
    data["ip"] = _service_ip(tid, gw, data, sub_id)
    now = now_iso()
    sub = Subscriber(
        id=sub_id,
        tenant_id=tid,
        username=username,
        password_enc=rt.box.encrypt(password),
        portal_password_hash=hash_password(portal_password) if portal_password else None,
        status=status,
        created_at=now,
        updated_at=now,
        product_assigned_at=now if prod else None,
        product_expires_at=expiry(prod, now),
        **{k: v for k, v in data.items() if v is not None},
    )
    store.create(sub)
    audit(actor, tid, "subscriber", sub.id, "create", None, audit_snapshot(sub))
    effect = sync(rt, actor, sub, "create")
    where = "in the system and queued for the router" if effect.status == "queued" else "in the system"
    return Created(
        sub,
        password,
        effect,
        f"Subscriber {username} added {where}.",
        [effect.warning] if effect.warning else [],
    )


def expiry(prod: Product | None, now: str) -> str | None:
    """When a product assigned at ``now`` expires (None without validity days)."""
    if prod is None or not prod.validity_days:
        return None
    return iso(parse_iso(now) + timedelta(days=int(prod.validity_days)))


@dataclass
class Updated:
    subscriber: Subscriber
    router: RouterEffect
    changed: list[str]


def update_subscriber(rt: Runtime, actor: Actor, subscriber_id: str, changes: dict[str, Any]) -> Updated:
    """Edit personal, service and billing data. Status, username, password, plan and router have their
    own actions (they have side effects: cancel dates, renames, carried-over credit, migrations)."""
    sub = get_subscriber(actor, subscriber_id)
    if changes.get("mac"):
        changes["mac"] = lc.normalise_mac(changes["mac"])
    if changes.get("ip"):
        changes["ip"] = rules.check_ip(changes["ip"], "ip")
        if changes["ip"] != sub.ip:
            _check_ip_free(sub.tenant_id, changes["ip"], sub.id)
    elif "ip" in changes:
        rules.require_service_ip(sub.connection_type, None, " (it cannot be removed)")
    if changes.get("price_override") is not None:
        changes["price_override"] = rules.check_money(changes["price_override"], "price_override")
    if "portal_password" in changes:
        pw = changes.pop("portal_password")
        changes["portal_password_hash"] = hash_password(pw) if pw else None
    changed = {k: v for k, v in changes.items() if getattr(sub, k, None) != v}
    if not changed:
        return Updated(sub, router_effect(None), [])
    before = audit_snapshot(sub)
    store.update_fields(sub, changed)
    audit(actor, sub.tenant_id, "subscriber", sub.id, "update", before, audit_snapshot(sub))
    effect = (
        sync(rt, actor, sub, "update")
        if ROUTER_FIELDS & set(changed) and sub.gateway_id
        else router_effect(None)
    )
    return Updated(
        sub,
        effect,
        sorted(k for k in changed if k != "portal_password_hash")
        + (["portal_password"] if "portal_password_hash" in changed else []),
    )


# ---------------------------------------------------------------- lists
class Catalogue:
    """Products and gateways read once per list request."""

    def __init__(self) -> None:
        self.products: dict[str, Product | None] = {}
        self.gateways: dict[str, Gateway | None] = {}

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
    """A row of the subscriber lists: the subscriber plus its plan name and price."""
    row = subscriber_dict(sub)
    prod = cat.product(sub.product_id)
    row["product_name"] = prod.name if prod else None
    row["price"] = service_price(sub, cat)
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


def list_subscribers(
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
    tenant's subscribers."""
    field_name, desc = listing.parse_sort(sort)
    tenant_ids = tenant_filter(actor, tenant_id)
    if _index_served(f, field_name):
        return _index_page(tenant_ids, f, desc, limit, cursor)
    now = utcnow()
    rows = [r for r in _rows(actor, tenant_id) if listing.matches(r, f, now)]
    ordered = listing.sort_rows(rows, field_name, desc)
    page, nxt = listing.paginate(ordered, field_name, desc, limit, cursor)
    return Page([dict(r) for r in page], nxt, len(ordered))


def _status_of(f: listing.SubscriberFilter) -> str | None:
    return Status.SUSPENDED.value if f.status == "blocked" else f.status


def _index_served(f: listing.SubscriberFilter, field_name: str) -> bool:
    if field_name != "username" or f.zone_id or f.product_id or f.connection_type:
        return False
    if _status_of(f) == ONLINE_24H:
        return False
    return sum(1 for v in (f.status, f.gateway_id, f.q) if v) <= 1


def _page_key(login: str) -> tuple[str, str]:
    return login.split("#", 1)[-1], login


def _beyond(login: str, after: str, desc: bool) -> bool:
    """Whether ``login`` comes after the cursor's ``after`` in the walking direction."""
    return _page_key(login) < _page_key(after) if desc else _page_key(login) > _page_key(after)


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
        start = after if after is not None and after.startswith(f"{tid}#") else None
        skip = after is not None and start is None and ((tid > after.split("#", 1)[0]) == desc)
        if f.q:
            matches = sorted(store.search_logins(tid, f.q), key=_page_key, reverse=desc)
            total += len(matches)
            if not skip:
                keys.extend(k for k in matches if after is None or _beyond(k, after, desc))
            continue
        if f.gateway_id:
            gw = catalog_store.get(Gateway, f.gateway_id) if tid == tenant_ids[0] else None
            total += (
                store.count_on_gateway(f.gateway_id) if gw is not None and gw.tenant_id in tenant_ids else 0
            )
        else:
            total += _tally_count(tid, status)
        if not skip:
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
    keys.sort(key=_page_key, reverse=desc)
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
        nxt = listing.encode_cursor("username", desc, {"username": _page_key(last)[0], "id": last})
    return Page(rows, nxt, total)


def _tally_count(tenant_id: str, status: str | None) -> int:
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
    """Customers per status with the sums of their services (status filter ignored: every status counts).

    Without other filters the figures come from the tenant's counters (a few rows, priced from the
    products); ``online_24h`` is as of the last recount. With filters they are computed over the list."""
    now = utcnow()
    if not (f.zone_id or f.gateway_id or f.product_id or f.connection_type or f.q):
        return _totals_from_tallies(tenant_filter(actor, tenant_id))
    f = listing.SubscriberFilter(None, f.zone_id, f.gateway_id, f.product_id, f.connection_type, f.q)
    rows = [r for r in _rows(actor, tenant_id) if listing.matches(r, f, now)]
    return listing.totals(rows, now)


def _totals_from_tallies(tenant_ids: list[str]) -> dict[str, Any]:
    counts: dict[tallies.Bucket, int] = {}
    for tid in tenant_ids:
        for b, n in _tallies(tid).items():
            counts[b] = counts.get(b, 0) + n
    cat = Catalogue()
    cat.preload_products(b.ref for b in counts if b.kind == "p" and b.ref != "-")
    priced: list[tuple[str, int, str]] = []
    for b, n in counts.items():
        if b.kind == "o":
            price = b.ref
        else:
            prod = cat.product(None if b.ref == "-" else b.ref)
            price = str(prod.price) if prod is not None else "0"
        priced.append((b.status, n, price))
    return listing.totals_from_counts(priced)


def cancellation_stats(
    actor: Actor, f: listing.SubscriberFilter, tenant_id: str | None, months: int
) -> dict[str, Any]:
    """Services cancelled per month and per zone over the last ``months`` months (S4)."""
    now = utcnow()
    f = listing.SubscriberFilter(None, f.zone_id, f.gateway_id, f.product_id, f.connection_type, f.q)
    rows = [r for r in _rows(actor, tenant_id) if listing.matches(r, f, now)]
    return listing.cancellations(rows, now, months)


# ---------------------------------------------------------------- online list
ONLINE_COLUMNS = (
    "subscriber_id",
    "username",
    "name",
    "status",
    "session_id",
    "acct_session_id",
    "ip",
    "mac",
    "gateway_id",
    "gateway_name",
    "nas_ip",
    "started_at",
    "last_update",
    "online_seconds",
    "online_time",
    "download_mb",
    "upload_mb",
)


def online_rows(actor: Actor, tenant_id: str | None, q: str | None = None) -> list[dict[str, Any]]:
    """Every session open now (the CSV export): the pages of :func:`online_page` one after another."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = online_page(actor, tenant_id, q, 1000, cursor)
        out.extend(page.items)
        cursor = page.next_cursor
        if not cursor:
            return out


def online_page(actor: Actor, tenant_id: str | None, q: str | None, limit: int, cursor: str | None) -> Page:
    """Sessions open now (S3 Online list): download/upload MB, MAC/IP, time online, from accounting.

    A page of ``limit`` online subscribers (username order) from the sparse online index, with every
    open session of each; ``total`` counts the subscribers online (the tenant's counter) or, with a
    search, those matching on the pages read."""
    now = utcnow()
    after = None
    if cursor:
        _present, _value, after = listing.decode_cursor(cursor, "username", False)
    tenant_ids = tenant_filter(actor, tenant_id)
    needle = (q or "").lower()
    keys: list[str] = []
    for tid in tenant_ids:
        start = after if after is not None and after.startswith(f"{tid}#") else None
        if after is not None and start is None and tid < after.split("#", 1)[0]:
            continue
        keys.extend(store.logins_page(tid, online=True, after=start, limit=limit + 1))
    keys.sort(key=_page_key)
    if after is not None:
        keys = [k for k in keys if _page_key(k) > _page_key(after)]
    more = len(keys) > limit
    page_keys = keys[:limit]
    gateways_by_ip: dict[str, Gateway] = {}
    for tid in tenant_ids:
        gateways_by_ip.update({g.nas_ip: g for g in catalog_store.list_for_tenants(Gateway, [tid])})
    out: list[dict[str, Any]] = []
    for sub in store.by_logins(page_keys):
        sessions = open_sessions(sub)
        if not sessions:
            continue
        if needle and needle not in f"{sub.username} {sub.name or ''} {sub.ip or ''} {sub.mac or ''}".lower():
            continue
        out.extend(_online_row(sub, key, s, gateways_by_ip, now) for key, s in sessions.items())
    out.sort(key=lambda r: (r["username"].lower(), r["session_id"]))
    nxt = None
    if more and page_keys:
        nxt = listing.encode_cursor(
            "username", False, {"username": _page_key(page_keys[-1])[0], "id": page_keys[-1]}
        )
    if after is None and not more:  # everything is on this page: count its sessions, as listed
        return Page(out, None, len(out))
    return Page(out, nxt, sum(_tally_count(tid, ONLINE) for tid in tenant_ids))


def _online_row(
    sub: Subscriber, key: str, s: Mapping[str, Any], gateways_by_ip: Mapping[str, Gateway], now: Any
) -> dict[str, Any]:
    gw = gateways_by_ip.get(str(s.get("nas", "")))
    started = str(s.get("st") or "")
    try:
        secs = int((now - parse_iso(started)).total_seconds()) if started else int(s.get("t") or 0)
    except ValueError:
        secs = int(s.get("t") or 0)
    return {
        "subscriber_id": sub.id,
        "username": sub.username,
        "name": sub.name,
        "status": sub.status,
        "session_id": key,
        "acct_session_id": s.get("sid"),
        "ip": s.get("ip") or sub.ip,
        "mac": s.get("mac"),
        "gateway_id": gw.id if gw else None,
        "gateway_name": gw.name if gw else None,
        "nas_ip": s.get("nas"),
        "started_at": started or None,
        "last_update": s.get("lu"),
        "online_seconds": max(0, secs),
        "online_time": lc.format_duration(secs),
        "download_mb": _mb(s.get("o")),
        "upload_mb": _mb(s.get("i")),
    }


def _mb(octets: Any) -> str:
    try:
        value = Decimal(int(octets or 0)) / Decimal(lc.BYTES_PER_MB)
    except (TypeError, ValueError):
        value = Decimal(0)
    return str(value.quantize(Decimal("0.01")))
