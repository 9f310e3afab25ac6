"""The page cursor: a DynamoDB page key as an opaque, signed token bound to one list.

A cursor cannot be forged (it is signed with a key derived for cursors only), expires after a day and
cannot be replayed on another list (it names the list's ``scope``). The signer is passed in (the
runtime's token signer): this module stays pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

from core.errors import ValidationError

CURSOR_TOKEN = "page-cursor"
CURSOR_TTL_SECONDS = 86_400

T = TypeVar("T")


class Signer(Protocol):
    def sign(self, typ: str, claims: dict[str, Any], ttl_seconds: int) -> str: ...

    def verify(self, typ: str, token: str) -> dict[str, Any]:
        """The claims of a token of this type; ``ValueError`` when forged, malformed or expired."""
        ...


def encode_key(signer: Signer, key: dict[str, Any] | None, scope: str) -> str | None:
    """The cursor of the next page after ``key`` (None when this was the last page)."""
    if not key:
        return None
    return signer.sign(CURSOR_TOKEN, {"k": key, "s": scope}, CURSOR_TTL_SECONDS)


def decode_key(
    signer: Signer, cursor: str | None, scope: str, field: str = "cursor"
) -> dict[str, Any] | None:
    """The page key of a cursor made by :func:`encode_key` for the same list (422 on ``field`` otherwise)."""
    if not cursor:
        return None
    try:
        claims = signer.verify(CURSOR_TOKEN, cursor)
    except ValueError as exc:
        raise ValidationError("invalid or expired cursor", field=field) from exc
    if claims.get("s") != scope or not isinstance(claims.get("k"), dict):
        raise ValidationError("the cursor belongs to another list", field=field)
    return dict(claims["k"])


# ---------------------------------------------------------------- newest first, across several tenants
# Lists merged from several tenants' indexes (invoices, payments, payment reports) page by position, not by
# DynamoDB page key: a row's position is (created_at, id), newest first; ids break the ties of rows made in
# the same instant, so a page never ends between two rows of one instant and skips the other.
Position = tuple[str, str]


def position_of(key: dict[str, Any] | None, field: str = "cursor") -> Position | None:
    """The position a page continues after, from the page key of a cursor (None: the first page)."""
    if key is None:
        return None
    before, last_id = key.get("before"), key.get("id")
    if not isinstance(before, str) or not isinstance(last_id, str):
        raise ValidationError("invalid or expired cursor", field=field)
    return before, last_id


def comes_after(created_at: str, row_id: str, position: Position | None) -> bool:
    """Whether a row comes after ``position`` newest first: older, or as old with a smaller id."""
    return position is None or (created_at, row_id) < position


def newest_first_page(
    rows: Iterable[T], limit: int, position_key: Callable[[T], Position]
) -> tuple[list[T], dict[str, Any] | None]:
    """The first ``limit`` rows newest first and the page key of the next page (None when none follows).
    ``rows`` holds every row after the previous page that could come first: for each tenant, its
    ``limit + 1`` first ones at least (or all of them)."""
    ordered = sorted(rows, key=position_key, reverse=True)
    page = ordered[:limit]
    if len(ordered) <= limit or not page:
        return page, None
    before, last_id = position_key(page[-1])
    return page, {"before": before, "id": last_id}


def newest_first_across(
    streams: Iterable[Iterable[T]],
    limit: int,
    position: Position | None,
    position_key: Callable[[T], Position],
) -> tuple[list[T], dict[str, Any] | None]:
    """A page of rows merged from several newest-first streams (one per tenant, each read lazily from
    the instant of ``position`` back) and the page key of the next page. A stream is read until it gave
    ``limit + 1`` rows after ``position`` and every other row of the last one's instant: the rows of one
    instant come in no set order, and the page orders them by id."""
    found: list[T] = []
    for stream in streams:
        taken, last_instant = 0, None
        for row in stream:
            created_at, row_id = position_key(row)
            if taken > limit and created_at != last_instant:
                break
            if comes_after(created_at, row_id, position):
                found.append(row)
                taken, last_instant = taken + 1, created_at
    return newest_first_page(found, limit, position_key)
