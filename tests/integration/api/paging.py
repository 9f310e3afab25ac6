"""Walking the paged lists of the API: every page of a list at a given page size, and the rule every
paged list keeps — its pages together are the whole list, each row once, in one order, whatever the
page size."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

# (path with its query string, request headers) -> the test client's response
Getter = Callable[[str, dict[str, str]], Any]
Row = dict[str, Any]


@dataclass(frozen=True)
class PagedList:
    """One paged list of the API: its path with its filters, the largest page it serves, how a row is
    told from the others, and the names of its page token in the query and in the answer."""

    name: str
    path: str
    max_limit: int
    key: Callable[[Row], str]
    cursor_in: str = "cursor"
    cursor_out: str = "next_cursor"
    total: Callable[[list[Row]], int] | None = None  # what "total" counts of the whole list's rows
    counted: Callable[[list[Row]], int] = len  # what "limit" counts of a page's rows

    def url(self, limit: int | None = None, cursor: str | None = None, extra: str = "") -> str:
        base, _, query = self.path.partition("?")
        params = [p for p in (query, extra) if p]
        if limit is not None:
            params.append(f"limit={limit}")
        if cursor is not None:
            params.append(f"{self.cursor_in}={quote(cursor, safe='')}")
        return base + ("?" + "&".join(params) if params else "")


def page(
    get: Getter,
    lst: PagedList,
    who: dict[str, str],
    limit: int,
    cursor: str | None = None,
    totals: list[int] | None = None,
) -> tuple[list[Row], str | None]:
    """One page: its rows and the token of the next page (None on the last page); the page's ``total``
    is added to ``totals`` when given."""
    resp = get(lst.url(limit, cursor), who)
    assert resp.status_code == 200, f"{lst.name} limit={limit}: {resp.status_code} {resp.body[:500]!r}"
    body = resp.json_body
    items = list(body["items"])
    assert lst.counted(items) <= limit, f"{lst.name}: {lst.counted(items)} on a page of {limit}"
    if totals is not None:
        totals.append(body["total"])
    return items, body.get(lst.cursor_out)


def walk(
    get: Getter,
    lst: PagedList,
    who: dict[str, str],
    limit: int,
    between: Callable[[list[str]], None] | None = None,
    max_pages: int = 500,
    rows: list[Row] | None = None,
    totals: list[int] | None = None,
) -> list[str]:
    """The keys of every row of the list, page after page at ``limit`` rows a page; ``between(keys)``
    runs after each page another page follows, with the keys read so far. The rows themselves go to
    ``rows`` and the pages' totals to ``totals`` when given."""
    keys: list[str] = []
    cursor: str | None = None
    for _ in range(max_pages):
        items, cursor = page(get, lst, who, limit, cursor, totals)
        keys += [lst.key(r) for r in items]
        if rows is not None:
            rows += items
        if not cursor:
            return keys
        if between is not None:
            between(list(keys))
    raise AssertionError(f"{lst.name}: the pages at limit {limit} never ended")


def differences(got: list[str], want: Collection[str]) -> str:
    """What a walk got wrong: rows missing, rows repeated, rows that are not in the list."""
    counts = Counter(got)
    missing = sorted(set(want) - set(got))
    repeated = sorted(k for k, n in counts.items() if n > 1)
    extra = sorted(set(got) - set(want))
    return f"missing {missing}, repeated {repeated}, not in the list {extra}"


def check_walks(
    get: Getter,
    lst: PagedList,
    who: dict[str, str],
    want: Collection[str],
    limits: tuple[int, ...] = (1, 2, 3),
) -> list[str]:
    """Walk the list at its largest page size and at each of ``limits``: the whole list holds exactly
    the rows of ``want`` once each, every walk gives the same rows in the same order, and a list with a
    ``total`` gives the same one on every page of every walk: what it counts of the whole list."""
    rows: list[Row] = []
    totals: list[int] | None = [] if lst.total else None
    whole = walk(get, lst, who, lst.max_limit, rows=rows, totals=totals)
    assert sorted(whole) == sorted(want), f"{lst.name} (one page): {differences(whole, want)}"
    for limit in limits:
        got = walk(get, lst, who, limit, totals=totals)
        assert sorted(got) == sorted(whole), f"{lst.name} limit={limit}: {differences(got, whole)}"
        assert got == whole, f"{lst.name} limit={limit}: the order differs from the whole list's"
    if lst.total is not None:
        assert set(totals or []) == {lst.total(rows)}, f"{lst.name}: totals {totals}"
    return whole
