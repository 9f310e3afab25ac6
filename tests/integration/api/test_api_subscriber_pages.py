"""Subscriber lists at a size where paging matters: the pages read from the indexes walk exactly the
rows the whole-list computation gives, and the totals kept as counters equal the totals computed over
every subscriber, also after lifecycle actions."""

from __future__ import annotations

from core import listing
from core.ids import new_id, now_iso, utcnow
from services.subscribers import Catalogue, list_row
from store import subscribers as store
from store.models import Subscriber
from tests.integration.api.support import Api, ok, open_session

N = 230


def _seed(api: Api, demo) -> dict[str, str]:
    manager = api.as_(demo.operator_id, demo.tenant_id, "manager")
    cheap = ok(api.post("/admin/products", manager, {"name": "Basic", "price": "10"}), 201)
    ids = {}
    for i in range(N):
        status = ("active", "active", "suspended", "new", "free", "cancelled")[i % 6]
        sub = Subscriber(
            id=new_id("sub"),
            tenant_id=demo.tenant_id,
            username=f"{('ana', 'Bruno', 'carla', 'dario')[i % 4]}{i:03d}",
            password_enc="x",
            status=status,
            name=f"{('María', 'José', 'Lucía')[i % 3]} {i}",
            phone=f"+52 55 {i:04d} 1111" if i % 2 else None,
            ip=f"10.1.{i // 200}.{i % 200}" if i % 5 else None,
            product_id=cheap["id"] if i % 3 == 0 else demo.product_id,
            price_override="99.90" if i % 17 == 0 else None,
            gateway_id=demo.gateway_id if i % 4 == 0 else None,
            created_at=now_iso(),
        )
        store.create(sub)
        ids[sub.username] = sub.id
    return ids


def _walk(api: Api, who, query: str) -> tuple[list[str], int]:
    names, cursor, total = [], None, -1
    for _ in range(50):
        page = ok(
            api.get(f"/admin/subscribers?limit=50&{query}" + (f"&cursor={cursor}" if cursor else ""), who)
        )
        assert len(page["items"]) <= 50
        names += [r["username"] for r in page["items"]]
        total = page["total"]
        cursor = page["next_cursor"]
        if not cursor:
            return names, total
    raise AssertionError("pagination did not end")


def _all_rows(tenant_id: str) -> list[dict]:
    subs = store.list_tenant(tenant_id)
    cat = Catalogue()
    return [list_row(s, cat) for s in subs]


def _expected(rows: list[dict], f: listing.SubscriberFilter, desc: bool = False) -> list[str]:
    now = utcnow()
    return [
        r["username"]
        for r in listing.sort_rows([r for r in rows if listing.matches(r, f, now)], "username", desc)
    ]


def test_index_pages_walk_the_same_rows_as_the_whole_list(api: Api, manager, demo):
    ids = _seed(api, demo)
    for name in ("ana000", "Bruno005", "dario227"):
        open_session(ids[name], key=f"k-{name}")
    rows = _all_rows(demo.tenant_id)
    assert len(rows) == N + 1
    for query, f, desc in (
        ("", listing.SubscriberFilter(), False),
        ("sort=-username", listing.SubscriberFilter(), True),
        ("status=suspended", listing.SubscriberFilter(status="suspended"), False),
        ("status=blocked&sort=-username", listing.SubscriberFilter(status="suspended"), True),
        ("status=online", listing.SubscriberFilter(status="online"), False),
        (f"gateway_id={demo.gateway_id}", listing.SubscriberFilter(gateway_id=demo.gateway_id), False),
    ):
        names, total = _walk(api, manager, query)
        want = _expected(rows, f, desc)
        assert names == want, query
        assert total == len(want), query
    # prefix search on username, name, phone digits and IP
    for q, match in (
        ("bruno1", lambda r: r["username"].lower().startswith("bruno1")),
        ("lucía 1", lambda r: (r["name"] or "").lower().startswith("lucía 1")),
        ("+52 55 001", lambda r: (r["phone"] or "").startswith("+52 55 001")),
        ("10.1.1.", lambda r: (r["ip"] or "").startswith("10.1.1.")),
    ):
        names, total = _walk(api, manager, f"q={q.replace('+', '%2B').replace(' ', '%20')}")
        want = sorted((r["username"] for r in rows if match(r)), key=str.lower)
        assert names == want and total == len(want) and want, q


def test_totals_from_counters_equal_the_totals_over_every_subscriber(api: Api, manager, demo):
    ids = _seed(api, demo)
    open_session(ids["carla002"], key="k-carla")

    def check() -> None:
        got = ok(api.get("/admin/subscribers/totals", manager))["statuses"]
        want = listing.totals(_all_rows(demo.tenant_id), utcnow())
        for key in ("new", "active", "suspended", "free", "cancelled", "inactive", "all", "online"):
            assert got[key] == want[key], key

    check()
    # lifecycle actions, an edit of the price and a deletion move the counters with the change
    ok(api.post(f"/admin/subscribers/{ids['ana004']}/suspend", manager, {"reason": "test"}))
    ok(api.post(f"/admin/subscribers/{ids['Bruno001']}/free", manager, {"reason": "test"}))
    ok(api.patch(f"/admin/subscribers/{ids['carla002']}", manager, {"price_override": "12.50"}))
    check()


def test_index_pages_of_a_tenant_subtree_walk_every_tenants_rows(api: Api, admin, demo):
    _seed(api, demo)
    other = ok(api.post("/admin/tenants", admin, {"name": "Other", "kind": "manager"}), 201)["id"]
    # usernames before, between and after the demo tenant's, two of them also used there
    for i, name in enumerate(("aaron", "ana000", "Bruno005", "carla1", "dario999", "zoe")):
        store.create(
            Subscriber(
                id=new_id("sub"),
                tenant_id=other,
                username=name,
                password_enc="x",
                status="active" if i % 2 else "new",
                created_at=now_iso(),
            )
        )
    rows = _all_rows(demo.tenant_id) + _all_rows(other)
    for query, f, desc in (
        ("", listing.SubscriberFilter(), False),
        ("sort=-username", listing.SubscriberFilter(), True),
        ("status=active", listing.SubscriberFilter(status="active"), False),
    ):
        names, total = _walk(api, admin, query)
        want = _expected(rows, f, desc)
        # pages are in username order across the tenants (a username both tenants use: by tenant)
        assert [n.lower() for n in names] == [n.lower() for n in want], query
        assert sorted(names) == sorted(want) and total == len(want), query
