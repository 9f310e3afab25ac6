"""Subscriber lists (SPEC S3): filters incl. Online / Online last 24 h, text search, sort, opaque
cursor pagination, per-status totals with the sums of the services, CSV rendering.

A service's price is in its tenant's currency: the sums are made per currency, never across currencies.

Rows are plain dicts built by the services from stored records, so these rules are pure.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from core import money
from core.errors import ValidationError
from core.money import DEFAULT_CURRENCY
from core.statuses import ONLINE, ONLINE_24H, Status

STATUS_FILTERS = (*[s.value for s in Status], "blocked", ONLINE, ONLINE_24H)
SORT_FIELDS = ("username", "name", "created_at", "updated_at", "status", "ip", "last_seen_at", "price", "id")
SEARCH_FIELDS = ("username", "name", "phone", "ip")  # search matches the start of one of these


@dataclass(frozen=True)
class SubscriberFilter:
    status: str | None = None
    zone_id: str | None = None
    gateway_id: str | None = None
    product_id: str | None = None
    connection_type: str | None = None
    q: str | None = None


def is_online(row: Mapping[str, Any]) -> bool:
    return bool(row.get("online_sessions"))


def is_online_24h(row: Mapping[str, Any], now: datetime) -> bool:
    if is_online(row):
        return True
    seen = row.get("last_seen_at")
    if not seen:
        return False
    try:
        when = datetime.fromisoformat(str(seen).replace("Z", "+00:00"))
    except ValueError:
        return False
    return when >= now - timedelta(hours=24)


def matches(row: Mapping[str, Any], f: SubscriberFilter, now: datetime) -> bool:
    if f.status:
        status = Status.SUSPENDED.value if f.status == "blocked" else f.status
        if status == ONLINE:
            if not is_online(row):
                return False
        elif status == ONLINE_24H:
            if not is_online_24h(row, now):
                return False
        elif row.get("status") != status:
            return False
    for name in ("zone_id", "gateway_id", "product_id", "connection_type"):
        want = getattr(f, name)
        if want and row.get(name) != want:
            return False
    return not f.q or search_match(row, f.q)


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def is_phone_search(needle: str) -> bool:
    """A search that looks like a phone number (digits, spaces, + - ( )) is also matched on digits."""
    return len(_digits(needle)) >= 3 and all(c.isdigit() or c in " +-()" for c in needle)


def search_match(row: Mapping[str, Any], q: str) -> bool:
    """Whether the username, name or IP starts with ``q`` (case-insensitive), or the phone's digits
    start with its digits; the indexes of the store answer the same question for large tenants."""
    needle = q.strip().lower()
    if not needle:
        return True
    for name in ("username", "name", "ip"):
        if str(row.get(name) or "").strip().lower().startswith(needle):
            return True
    return is_phone_search(needle) and _digits(str(row.get("phone") or "")).startswith(_digits(needle))


# ---------------------------------------------------------------- sort and cursor
def parse_sort(sort: str | None) -> tuple[str, bool]:
    """``"-created_at"`` → ("created_at", descending=True)."""
    text = (sort or "username").strip()
    desc = text.startswith("-")
    name = text.lstrip("-+")
    if name not in SORT_FIELDS:
        raise ValidationError(
            f"sort must be one of {', '.join(SORT_FIELDS)} (prefix - for descending)", field="sort"
        )
    return name, desc


def _key(row: Mapping[str, Any], field: str) -> tuple[int, Any, str]:
    value = row.get(field)
    if field == "price":
        v: Any = Decimal(str(value)) if value not in (None, "") else Decimal(0)
    else:
        v = str(value).lower() if value is not None else ""
    return (0 if value in (None, "") else 1, v, str(row.get("id") or ""))


def sort_key(row: Mapping[str, Any], field: str) -> tuple[int, Any, str]:
    """The key :func:`sort_rows` orders rows by (rows without a value first, then the value, then id)."""
    return _key(row, field)


def encode_cursor(field: str, desc: bool, row: Mapping[str, Any]) -> str:
    present, value, rid = _key(row, field)
    raw = json.dumps([field, desc, present, str(value), rid], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, field: str, desc: bool) -> tuple[int, Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        c_field, c_desc, present, value, rid = json.loads(raw)
        if not (isinstance(present, int) and isinstance(value, str) and isinstance(rid, str)):
            raise ValueError("bad cursor fields")
        typed: Any = Decimal(value) if c_field == "price" else value
        if isinstance(typed, Decimal) and not typed.is_finite():  # NaN cannot be compared with prices
            raise ValueError("not a price")
    except Exception as exc:
        raise ValidationError(
            "invalid cursor: pass back the next_cursor of the previous page", field="cursor"
        ) from exc
    if c_field != field or bool(c_desc) != desc:
        raise ValidationError("the cursor belongs to a different sort order", field="cursor")
    return (present, typed, rid)


def sort_rows(rows: Iterable[Mapping[str, Any]], field: str, desc: bool) -> list[Mapping[str, Any]]:
    return sorted(rows, key=lambda r: _key(r, field), reverse=desc)


def paginate(
    rows: Sequence[Mapping[str, Any]], field: str, desc: bool, limit: int, cursor: str | None
) -> tuple[list[Mapping[str, Any]], str | None]:
    """One page of already sorted rows after ``cursor``; the next cursor or None on the last page.
    Keyset pagination: rows added or removed between pages neither repeat nor shift the others."""
    start = 0
    if cursor:
        after = decode_cursor(cursor, field, desc)
        start = len(rows)
        for i, row in enumerate(rows):
            k = _key(row, field)
            if (k < after) if desc else (k > after):
                start = i
                break
    page = list(rows[start : start + limit])
    more = start + limit < len(rows)
    return page, (encode_cursor(field, desc, page[-1]) if more and page else None)


# ---------------------------------------------------------------- totals
def totals(
    rows: Iterable[Mapping[str, Any]], now: datetime, currency: str = DEFAULT_CURRENCY
) -> dict[str, dict[str, Any]]:
    """Number of customers per status and the sum of their services' prices (S3 "Totals"), rows of one
    ``currency``. Online and Online last 24 h are counted as well (a customer is in its status and in
    those)."""
    buckets: dict[str, list[Any]] = {s.value: [0, Decimal(0)] for s in Status}
    buckets[ONLINE] = [0, Decimal(0)]
    buckets[ONLINE_24H] = [0, Decimal(0)]
    buckets["all"] = [0, Decimal(0)]
    for row in rows:
        price = Decimal(str(row.get("price") or "0"))
        keys = [str(row.get("status")), "all"]
        if is_online(row):
            keys.append(ONLINE)
        if is_online_24h(row, now):
            keys.append(ONLINE_24H)
        for k in keys:
            b = buckets.setdefault(k, [0, Decimal(0)])
            b[0] += 1
            b[1] += price
    return {
        k: {"count": c, "services_total": money.fmt(total, currency)} for k, (c, total) in buckets.items()
    }


def totals_from_counts(
    counts: Iterable[tuple[str, int, str]], currency: str = DEFAULT_CURRENCY
) -> dict[str, dict[str, Any]]:
    """:func:`totals` from counters: (bucket, how many, price each), the bucket a status, ``online``
    or ``online_24h``; "all" sums the statuses."""
    buckets: dict[str, list[Any]] = {s.value: [0, Decimal(0)] for s in Status}
    buckets[ONLINE] = [0, Decimal(0)]
    buckets[ONLINE_24H] = [0, Decimal(0)]
    buckets["all"] = [0, Decimal(0)]
    for bucket, n, price in counts:
        if n <= 0:
            continue
        amount = Decimal(str(price or "0")) * n
        keys = [bucket] if bucket in (ONLINE, ONLINE_24H) else [bucket, "all"]
        for k in keys:
            b = buckets.setdefault(k, [0, Decimal(0)])
            b[0] += n
            b[1] += amount
    return {
        k: {"count": c, "services_total": money.fmt(total, currency)} for k, (c, total) in buckets.items()
    }


def _by_currency(items: Iterable[Any], currency_of: Callable[[Any], str | None]) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for item in items:
        groups.setdefault(money.currency_or_default(currency_of(item)), []).append(item)
    return groups


def _statuses_report(
    per: dict[str, dict[str, dict[str, Any]]], counted: dict[str, dict[str, Any]], currency: str | None
) -> dict[str, Any]:
    """The totals of every currency together: the counts of all of them (``counted``), and the sums when
    the report has one ``currency`` (null when there are several: ``by_currency`` has each one's)."""
    statuses = per.get(currency or "") or {
        k: {"count": v["count"], "services_total": v["services_total"] if currency else None}
        for k, v in counted.items()
    }
    return {
        "currency": currency,
        "statuses": statuses,
        "by_currency": [{"currency": c, "statuses": per[c]} for c in sorted(per)],
    }


def totals_by_currency(
    rows: Sequence[Mapping[str, Any]],
    now: datetime,
    currency_of: Callable[[Mapping[str, Any]], str | None],
    scope: Iterable[str] = (),
) -> dict[str, Any]:
    """:func:`totals` over rows of several currencies (``currency_of(row)``): the counts of every row, the
    sums of each currency (``by_currency``), and the sums beside the counts only when the rows are of one
    currency. Without rows, the ``scope``'s currency (the tenants') when it has one."""
    per = {c: totals(group, now, c) for c, group in _by_currency(rows, currency_of).items()}
    currency = money.report_currency(per, scope)
    return _statuses_report(per, totals(rows, now, currency or DEFAULT_CURRENCY), currency)


def totals_from_counts_by_currency(
    counts: Sequence[tuple[str, str, int, str]], scope: Iterable[str] = ()
) -> dict[str, Any]:
    """:func:`totals_by_currency` from counters: (currency, bucket, how many, price each)."""
    groups = _by_currency((c for c in counts if c[2] > 0), lambda c: c[0])
    per = {cur: totals_from_counts([c[1:] for c in group], cur) for cur, group in groups.items()}
    currency = money.report_currency(per, scope)
    counted = totals_from_counts([c[1:] for c in counts], currency or DEFAULT_CURRENCY)
    return _statuses_report(per, counted, currency)


def _month_back(month: str, n: int) -> str:
    y, m = int(month[:4]), int(month[5:7]) - n
    while m < 1:
        y, m = y - 1, m + 12
    return f"{y:04d}-{m:02d}"


def _local_month(stamp: str, tz: tzinfo) -> str | None:
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(tz).strftime("%Y-%m")


def cancellations(
    rows: Iterable[Mapping[str, Any]],
    now: datetime,
    months: int,
    tz_of: Callable[[Mapping[str, Any]], tzinfo] | None = None,
    time_zones: Iterable[tzinfo] = (),
    currency: str = DEFAULT_CURRENCY,
) -> dict[str, Any]:
    """Cancellation statistics (S4: cancelling sets the date and counts here): services cancelled per
    month over the last ``months`` months, with the monthly revenue they represented (rows of one
    ``currency``), and per zone.

    A cancellation counts in the month of its local calendar (``tz_of(row)``: the client's zone, else its
    tenant's time zone; UTC without one): 20:00 on 31 May in Mexico City is a May cancellation though it
    is 1 June in UTC. The last month reported is the latest current month among ``time_zones`` (UTC
    without any)."""
    local = tz_of or (lambda _row: UTC)
    current = max((now.astimezone(tz).strftime("%Y-%m") for tz in time_zones), default=None)
    current = current or now.astimezone(UTC).strftime("%Y-%m")
    per_month: dict[str, list[Any]] = {_month_back(current, i): [0, Decimal(0)] for i in range(months)}
    per_zone: dict[str, int] = {}
    for row in rows:
        if row.get("status") != Status.CANCELLED.value or not row.get("cancelled_at"):
            continue
        month = _local_month(str(row.get("cancelled_at")), local(row))
        bucket = per_month.get(month) if month else None
        if bucket is None:  # before the window, or after "now" (clock skew): not counted
            continue
        bucket[0] += 1
        bucket[1] += Decimal(str(row.get("price") or "0"))
        zone = str(row.get("zone_id") or "none")
        per_zone[zone] = per_zone.get(zone, 0) + 1
    return {
        "months": [
            {"month": m, "cancelled": c, "services_total": money.fmt(t, currency)}
            for m, (c, t) in sorted(per_month.items())
        ],
        "by_zone": dict(sorted(per_zone.items())),
        "total": sum(c for c, _ in per_month.values()),
    }


def cancellations_by_currency(
    rows: Sequence[Mapping[str, Any]],
    now: datetime,
    months: int,
    currency_of: Callable[[Mapping[str, Any]], str | None],
    tz_of: Callable[[Mapping[str, Any]], tzinfo] | None = None,
    time_zones: Iterable[tzinfo] = (),
    scope: Iterable[str] = (),
) -> dict[str, Any]:
    """:func:`cancellations` over rows of several currencies (``currency_of(row)``): the counts of every
    cancellation, each currency's statistics (``by_currency``, the currencies with cancellations), and the
    monthly sums beside the counts only when the cancellations are of one currency. Without any, the
    ``scope``'s currency (the tenants') when it has one."""
    time_zones = list(time_zones)
    per = {
        c: stats
        for c, group in _by_currency(rows, currency_of).items()
        if (stats := cancellations(group, now, months, tz_of, time_zones, c))["total"]
    }
    currency = money.report_currency(per, scope)
    out = per.get(currency or "") or cancellations(
        rows, now, months, tz_of, time_zones, currency or DEFAULT_CURRENCY
    )
    if currency is None:
        out = {**out, "months": [{**m, "services_total": None} for m in out["months"]]}
    return {**out, "currency": currency, "by_currency": [{"currency": c, **per[c]} for c in sorted(per)]}


# ---------------------------------------------------------------- CSV
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        value = json.dumps(value, separators=(",", ":"), default=str)
    text = str(value)
    # A leading = + - @ would be run as a formula by spreadsheet programs (CSV injection)
    if text.startswith(_FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except Exception:
        return False
    return True


def to_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    return csv_lines([columns]) + csv_rows(columns, rows)


def csv_rows(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """The CSV lines of ``rows`` without the header (a file written a page at a time)."""
    return csv_lines([_cell(row.get(c)) for c in columns] for row in rows)


def csv_lines(lines: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerows(lines)
    return buf.getvalue()
