"""Every paged list of the admin API and the customer portal, walked page by page (the lists and the
data they walk: ``paging_world``).

For each list and each page size (1, 2, 3 and the largest) the pages together are the whole list, each
row once, in one order, with one total; another tenant's or subscriber's cursor shows nothing of the
caller's rows, and a tampered or made-up cursor is refused on the cursor's field; a cursor sent with
another filter is refused or reads that filter; page sizes out of bounds are refused on the limit. These
tests only read: the module seeds its world once.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client
from jsonschema import Draft202012Validator

from api.app import app
from api.openapi import build_openapi
from core import listing
from core.errors import ValidationError
from infra.local.demo import seed_demo
from services.subscribers import online
from shared.runtime import Runtime
from store.models.base import TenantIndex
from tests.conftest import emptied
from tests.integration.api.paging import PagedList, check_walks, page, walk
from tests.integration.api.paging_world import LISTS, Seeded, audit_key, getter, online_key, seed_world
from tests.integration.api.support import Api, err, ok


@pytest.fixture(scope="module")
def env(world: Runtime) -> Iterator[tuple[Api, Seeded]]:
    """The module's world with the paging data, seeded once, and a test client."""
    rt = emptied(world)
    demo = seed_demo(rt.box)
    with Client(app) as client:
        api = Api(client, rt)
        yield api, seed_world(api, demo)


@pytest.mark.parametrize("name", sorted(LISTS))
def test_the_pages_of_a_list_hold_every_row_once_in_one_order(env: tuple[Api, Seeded], name: str) -> None:
    api, seeded = env
    lst, who, rows = LISTS[name]
    check_walks(getter(api), lst, seeded.who[who], seeded.rows[rows])


# ---------------------------------------------------------------- cursors of other callers, tampered cursors
def first_cursor(api: Api, lst: PagedList, who: dict[str, str]) -> str:
    _items, cursor = page(getter(api), lst, who, 1)
    assert cursor, f"{lst.name}: a page of one row of several has a next page"
    return cursor


@pytest.mark.parametrize("name", sorted(LISTS))
def test_a_cursor_shows_another_caller_nothing_of_the_callers_rows(
    env: tuple[Api, Seeded], name: str
) -> None:
    api, seeded = env
    lst, who, rows = LISTS[name]
    cursor = first_cursor(api, lst, seeded.who[who])
    portal = lst.cursor_in == "next_token" and lst.path.startswith("/portal/")
    stranger = seeded.who["portal_other" if portal else "foreign"]
    resp = api.get(lst.url(1, cursor), stranger)
    if portal:  # another subscriber's page token is refused on the token
        err(resp, 422, lst.cursor_in)
        return
    assert resp.status_code in (200, 404, 422), f"{name}: {resp.status_code} {resp.body[:300]!r}"
    if resp.status_code == 422:
        assert resp.json_body["error"]["field"] == lst.cursor_in
    if resp.status_code == 200:
        leaked = {lst.key(r) for r in resp.json_body["items"]} & seeded.rows[rows]
        assert not leaked, f"{name}: another tenant's rows {leaked}"


def b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize("name", sorted(LISTS))
def test_a_tampered_cursor_is_refused_on_the_cursor_field(env: tuple[Api, Seeded], name: str) -> None:
    api, seeded = env
    lst, who, _rows = LISTS[name]
    real = first_cursor(api, lst, seeded.who[who])
    middle = len(real) // 2
    flipped = real[:middle] + ("A" if real[middle] != "A" else "B") + real[middle + 1 :]
    for bad in ("garbage", real[: len(real) - 5], flipped, b64({"k": {}, "s": "x"}), b64([1, 2]), "%00"):
        resp = api.get(lst.url(2, bad), seeded.who[who])
        assert resp.status_code == 422, f"{name} cursor {bad!r}: {resp.status_code} {resp.body[:300]!r}"
        assert resp.json_body["error"]["field"] == lst.cursor_in, resp.json_body


@pytest.mark.parametrize(
    ("sort", "cursor"),
    [
        ("price", ["price", False, 1, "NaN", "sub_x"]),
        ("-price", ["price", True, 1, "sNaN", "sub_x"]),
        ("price", ["price", False, 1, "Infinity", "sub_x"]),
        ("created_at", ["created_at", False, 1, 5, "sub_x"]),
        ("username", ["username", False, 1, "zz", "ten_demo#zz\U0001f600"]),
    ],
)
def test_a_forged_subscriber_cursor_is_refused_on_the_cursor_field(
    env: tuple[Api, Seeded], sort: str, cursor: list[Any]
) -> None:
    api, seeded = env
    resp = api.get(f"/admin/subscribers?sort={sort}&limit=2&cursor={b64(cursor)}", seeded.who["reseller"])
    err(resp, 422, "cursor")


# ---------------------------------------------------------------- a cursor read against another filter
FILTER_CHANGES = [
    # (list the cursor comes from, the filter it is then sent with)
    ("subscribers by username", "status=suspended"),
    ("subscribers by username", "zone_id=zone_demo"),
    ("subscribers of a zone (few)", ""),
    ("subscribers by creation time (ties)", "sort=name"),
    ("online subscribers", "q=dan"),
    ("invoices", "status=paid"),
    ("payments", "tenant_id=ten_demo"),
    ("payment reports", "status=confirmed"),
    ("audit log of a tenant", "since=2026-03-04"),
    ("audit log of a tenant since a day (few)", "since=2026-01-01"),
    ("audit log of an object", "entity_id=sub_other"),
    ("tasks of a tenant", "status=failed"),
    ("billing runs", "kind=billing_cutoff"),
    ("jobs", "kind=import_create"),
    ("imports", "tenant_id=ten_demo"),
]


@pytest.mark.parametrize(("name", "change"), FILTER_CHANGES)
def test_a_cursor_sent_with_another_filter_is_refused_or_reads_that_filter(
    env: tuple[Api, Seeded], name: str, change: str
) -> None:
    api, seeded = env
    lst, who, _rows = LISTS[name]
    cursor = first_cursor(api, lst, seeded.who[who])
    base = lst.path.partition("?")[0]
    other = PagedList(lst.name, f"{base}?{change}" if change else base, lst.max_limit, lst.key, lst.cursor_in)
    resp = api.get(other.url(50, cursor), seeded.who[who])
    assert resp.status_code in (200, 422), f"{name} → {change}: {resp.status_code} {resp.body[:300]!r}"
    if resp.status_code == 422:
        assert resp.json_body["error"]["field"] == lst.cursor_in
        return
    whole = set(walk(getter(api), other, seeded.who[who], other.max_limit))
    stray = {lst.key(r) for r in resp.json_body["items"]} - whole
    assert not stray, f"{name} → {change}: rows outside the filter {stray}"


def test_an_audit_cursor_is_bound_to_its_time_window(env: tuple[Api, Seeded]) -> None:
    """A page of the log read since one day continues only that window: DynamoDB refuses a start key
    outside the key condition of the query it is sent with."""
    api, seeded = env
    who = seeded.who["manager"]
    for path in ("/admin/audit", "/admin/audit?entity_id=sub_demo"):
        lst = PagedList("audit", path, 500, audit_key)
        cursor = first_cursor(api, lst, who)
        sep = "&" if "?" in path else "?"
        for window in ("since=2026-03-04", "until=2026-02-28", "since=2026-02-01&until=2026-03-02"):
            err(api.get(f"{path}{sep}{window}&limit=5&cursor={cursor}", who), 422, "cursor")
        windowed = PagedList("audit", f"{path}{sep}since=2026-01-01", 500, audit_key)
        cursor = first_cursor(api, windowed, who)
        err(api.get(f"{path}{sep}since=2026-01-02&limit=5&cursor={cursor}", who), 422, "cursor")
        ok(api.get(windowed.url(5, cursor), who))


# ---------------------------------------------------------------- page sizes
@pytest.mark.parametrize("name", sorted({lst.name: n for n, (lst, _, _) in LISTS.items()}.values()))
def test_a_page_size_out_of_bounds_is_refused_on_the_limit(env: tuple[Api, Seeded], name: str) -> None:
    api, seeded = env
    lst, who, _rows = LISTS[name]
    base = lst.path.partition("?")[0]
    for limit in ("0", "-1", "abc", "1.5", "", str(lst.max_limit + 1), "99999999999999999999"):
        resp = api.get(f"{base}?limit={limit}", seeded.who[who])
        body = err(resp, 422)
        assert body["field"] == "query.limit", (name, limit, body)
    ok(api.get(f"{base}?limit={lst.max_limit}", seeded.who[who]))
    err(api.get(f"{base}?{lst.cursor_in}=", seeded.who[who]), 422)


@pytest.mark.parametrize("price", ["NaN", "sNaN", "Infinity", "-Infinity", "abc"])
def test_a_list_position_with_a_price_that_is_not_one_is_refused_on_the_cursor(price: str) -> None:
    """Positions are also kept by the export and bulk jobs between two pages: a price that is not a number
    is refused like any other broken position, never compared with the prices."""
    rows = [{"id": f"sub_{i}", "price": str(i)} for i in range(4)]
    with pytest.raises(ValidationError) as caught:
        listing.paginate(rows, "price", False, 2, b64(["price", False, 1, price, "sub_1"]))
    assert caught.value.field == "cursor"


# ---------------------------------------------------------------- the Online export: the whole list
@pytest.mark.parametrize(
    ("query", "rows"), [("", "online"), ("?tenant_id=ten_demo", "online:demo"), ("?q=dan", "online:search")]
)
def test_the_online_export_holds_every_session_of_the_list_over_many_pages(
    env: tuple[Api, Seeded], monkeypatch: pytest.MonkeyPatch, query: str, rows: str
) -> None:
    api, seeded = env
    monkeypatch.setattr(online, "EXPORT_PAGE", 2)  # a large tenant: the export reads page after page
    sep = "&" if query else "?"
    for extra in ("", f"{sep}limit=1", f"{sep}limit=1&cursor=garbage"):  # not parameters of the export
        resp = api.get(f"/admin/subscribers/online/export{query}{extra}", seeded.who["reseller"])
        assert resp.status_code == 200, resp.body[:300]
        got = [online_key(r) for r in csv.DictReader(io.StringIO(resp.body.decode("utf-8-sig")))]
        assert sorted(got) == sorted(seeded.rows[rows]), (query, extra)
    path = build_openapi()["paths"]["/admin/subscribers/online/export"]["get"]
    documented = {p["name"] for p in path.get("parameters", []) if p["in"] == "query"}
    assert documented == {"tenant_id", "q", "format"}


# ---------------------------------------------------------------- rows of one instant, in DynamoDB's order
# The lists merged from several tenants by creation time (rows of one instant by id), each with rows of
# one tenant made in one instant: more than a page of them.
MERGED_BY_CREATION = [
    "invoices",
    "paid invoices (few)",
    "payments",
    "payment reports",
    "billing runs",
    "cutoff runs (few)",
    "imports",
    "jobs",
    "imports among the jobs (few)",
]


class _Desc:
    """A key value ordered the other way round."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.value == other.value

    def __lt__(self, other: _Desc) -> bool:
        return bool(other.value < self.value)


@pytest.fixture
def ties_in_another_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB returns the rows of an index that share a sort key (rows made in one instant) in an order
    of its own. moto returns them by table key, which is the order the lists page them in: a page that
    stops reading inside an instant then still holds the instant's first rows. Here the rows of one
    instant come by table key the other way round, and an index is read one row per request."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    def index_key_order(table: Table, hash_attrs: list[str], range_attrs: list[Any]) -> tuple[list[str], str]:
        attrs = table._generate_attr_to_sort_by(hash_attrs, range_attrs)
        # an index query names the index's hash key before the table's: the table key breaks the ties
        return attrs, hash_attrs[-1] if len(hash_attrs) > 1 else ""

    def sorted_items(
        self: Table, hash_attrs: list[str], range_attrs: list[Any], items: list[Any]
    ) -> list[Any]:
        attrs, reverse = index_key_order(self, hash_attrs, range_attrs)
        items.sort(key=lambda x: tuple(_Desc(x.attrs[a]) if a == reverse else x.attrs[a] for a in attrs))
        return items

    def comes_before(
        self: Table,
        item: Any,
        dct: dict[str, Any],
        hash_attrs: list[str],
        range_attrs: list[Any],
        forward: bool,
    ) -> bool:
        attrs, reverse = index_key_order(self, hash_attrs, range_attrs)
        for attr in attrs:
            start = DynamoType(dct.get(attr))
            if attr in item.attrs and item.attrs[attr] != start:
                less = item.attrs[attr] < start
                return (not less if attr == reverse else less) == forward
        return True

    monkeypatch.setattr(Table, "sorted_items", sorted_items)
    monkeypatch.setattr(Table, "_item_comes_before_dct", comes_before)
    original = TenantIndex.query

    def one_row_a_request(self: Any, *args: Any, **kwargs: Any) -> Any:
        return original(self, *args, **{**kwargs, "page_size": 1})

    monkeypatch.setattr(TenantIndex, "query", one_row_a_request)


@pytest.mark.parametrize("name", MERGED_BY_CREATION)
def test_rows_of_one_instant_are_paged_once_whatever_order_dynamodb_returns_them_in(
    env: tuple[Api, Seeded], ties_in_another_order: None, name: str
) -> None:
    api, seeded = env
    lst, who, rows = LISTS[name]
    check_walks(getter(api), lst, seeded.who[who], seeded.rows[rows])


# ---------------------------------------------------------------- the rows as the document describes them
DOCUMENTED_ROWS = {  # list: the path the document names it by
    "invoices": "/admin/invoices",
    "invoices of a subscriber": "/admin/invoices",
    "payments": "/admin/payments",
    "billing runs": "/admin/billing/runs",
    "tasks of a tenant": "/admin/tasks",
    "tasks of a router": "/admin/gateways/{gateway_id}/tasks",
}


@pytest.mark.parametrize("name", sorted(DOCUMENTED_ROWS))
def test_every_row_of_a_list_has_exactly_the_fields_the_document_gives_it(
    env: tuple[Api, Seeded], name: str
) -> None:
    api, seeded = env
    lst, who, _rows = LISTS[name]
    doc = build_openapi()
    schemas = doc["components"]["schemas"]
    resp = api.get(lst.url(lst.max_limit), seeded.who[who])
    assert resp.status_code == 200, resp.body[:300]
    page = doc["paths"][DOCUMENTED_ROWS[name]]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ]
    Draft202012Validator({**page, "components": doc["components"]}).validate(resp.json_body)
    items = schemas[page["$ref"].rsplit("/", 1)[1]]["properties"]["items"]["items"]
    row = schemas[items["$ref"].rsplit("/", 1)[1]]
    fields = set(row["properties"])
    assert set(row["required"]) == fields, f"{name}: every field is always given"
    assert resp.json_body["items"], name
    for item in resp.json_body["items"]:
        assert set(item) == fields, f"{name}: undocumented {set(item) - fields}, missing {fields - set(item)}"
