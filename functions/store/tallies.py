"""Subscriber counts per tenant kept as counters, so the totals page reads a few rows, not the tenant.

A tally row counts the subscribers of one tenant in one *bucket*: a status (or ``online``) and what
the service costs — its product (``p``, priced from the product when read, so a price change needs no
recount) or its own override price (``o``)::

    active|p|prod_1   suspended|o|99.90   online|p|prod_1   online_24h|p|prod_1

Every write that changes a subscriber's status, product or override price moves it between buckets
with :func:`move` (an ``ADD`` of -1 and +1) once the conditional write that made the change succeeded
(in the same transaction where the change is one already: renames, payments). A process dying between
the two leaves a counter off by one until the daily recount.
``online`` buckets move when RADIUS opens the first or closes the last session of a subscriber;
the RADIUS service gathers those moves in a :class:`TallyBuffer` and writes one ``ADD`` per bucket
once a minute (``WISP_RADIUS_COUNTER_FLUSH_S``), so a Start or Stop costs no counter write of
its own; the online figures lag by at most that interval.
:func:`recount` recomputes every bucket of a tenant from the items (the repair job, and the first
read of a tenant never counted); ``online_24h`` is only counted there (it changes with time alone).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.transactions import TransactWrite

from core.ids import now_iso
from core.listing import is_online_24h
from store.models import Subscriber, Tally

ONLINE = "online"
ONLINE_24H = "online_24h"
MARKER = "~recount"  # its ``at`` says when the tenant was last recounted


@dataclass(frozen=True)
class Bucket:
    status: str
    kind: str  # "p" product price | "o" override price
    ref: str  # product id ("-" none) or the override price

    @property
    def key(self) -> str:
        return f"{self.status}|{self.kind}|{self.ref}"

    @classmethod
    def parse(cls, key: str) -> Bucket | None:
        parts = key.split("|", 2)
        return cls(*parts) if len(parts) == 3 else None

    def with_status(self, status: str) -> Bucket:
        return Bucket(status, self.kind, self.ref)


def bucket_of(status: str | None, product_id: str | None, price_override: str | None) -> Bucket:
    """The bucket of a subscriber with these values (override price wins over the product's)."""
    if price_override not in (None, ""):
        return Bucket(status or "new", "o", str(price_override))
    return Bucket(status or "new", "p", product_id or "-")


def bucket_for(sub: Any) -> Bucket:
    return bucket_of(sub.status, sub.product_id, sub.price_override)


def _deltas(before: Bucket | None, after: Bucket | None, n: int = 1) -> dict[str, int]:
    out: dict[str, int] = {}
    if before is not None:
        out[before.key] = out.get(before.key, 0) - n
    if after is not None:
        out[after.key] = out.get(after.key, 0) + n
    return {k: v for k, v in out.items() if v}


def add_to_transaction(
    tx: TransactWrite, tenant_id: str, before: Bucket | None, after: Bucket | None
) -> None:
    """The counter moves of one subscriber change, inside the caller's transaction."""
    for key, delta in _deltas(before, after).items():
        tx.update(Tally(tenant_id=tenant_id, bucket=key), actions=[Tally.n.add(delta)])


def move(tenant_id: str, before: Bucket | None, after: Bucket | None, n: int = 1) -> None:
    """Move ``n`` subscribers between buckets (after a conditional write that made the change)."""
    for key, delta in _deltas(before, after, n).items():
        Tally(tenant_id=tenant_id, bucket=key).update(actions=[Tally.n.add(delta)])


class TallyBuffer:
    """Counter moves gathered in memory and written as one ``ADD`` per (tenant, bucket) at most every
    ``interval_s`` (0: each move written at once, as :func:`move`). A flush that fails keeps its
    deltas for the next one; a process that dies loses at most one interval of moves, which the
    recount repairs like any counter left off."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], int] = {}
        self._last = clock()

    def move(self, tenant_id: str, before: Bucket | None, after: Bucket | None) -> None:
        if self.interval_s <= 0:
            move(tenant_id, before, after)
            return
        with self._lock:
            for key, delta in _deltas(before, after).items():
                self._pending[(tenant_id, key)] = self._pending.get((tenant_id, key), 0) + delta
            due = self._clock() - self._last >= self.interval_s
        if due:
            self.flush()

    def flush(self) -> int:
        """Write what was gathered; the number of counter writes."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._last = self._clock()
        written = 0
        for n, ((tenant_id, key), delta) in enumerate(pending.items()):
            if not delta:
                continue
            try:
                Tally(tenant_id=tenant_id, bucket=key).update(actions=[Tally.n.add(delta)])
            except Exception:
                self._keep(list(pending.items())[n:])
                raise
            written += 1
        return written

    def _keep(self, unwritten: list[tuple[tuple[str, str], int]]) -> None:
        with self._lock:
            for k, delta in unwritten:
                self._pending[k] = self._pending.get(k, 0) + delta

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(1 for v in self._pending.values() if v)


def add_many(tenant_id: str, buckets: Iterable[Bucket]) -> None:
    """Count new subscribers (a batch import)."""
    counts: dict[str, int] = {}
    for b in buckets:
        counts[b.key] = counts.get(b.key, 0) + 1
    for key, n in counts.items():
        Tally(tenant_id=tenant_id, bucket=key).update(actions=[Tally.n.add(n)])


def read(tenant_id: str) -> tuple[dict[Bucket, int], str | None]:
    """Every bucket of a tenant with its count, and when it was last recounted (None: never)."""
    out: dict[Bucket, int] = {}
    at = None
    for row in Tally.query(tenant_id):
        if row.bucket == MARKER:
            at = row.at
            continue
        b = Bucket.parse(row.bucket)
        if b is not None and int(row.n or 0):
            out[b] = int(row.n or 0)
    return out, at


def replace_all(tenant_id: str, counts: Mapping[Bucket, int]) -> None:
    """Write a recount: every bucket set to its count, buckets no longer present removed."""
    wanted = {b.key: n for b, n in counts.items() if n}
    existing = [r.bucket for r in Tally.query(tenant_id, attributes_to_get=["bucket"])]
    with Tally.batch_write() as batch:
        for key in existing:
            if key not in wanted and key != MARKER:
                batch.delete(Tally(tenant_id=tenant_id, bucket=key))
        for key, n in wanted.items():
            batch.save(Tally(tenant_id=tenant_id, bucket=key, n=n))
        batch.save(Tally(tenant_id=tenant_id, bucket=MARKER, n=0, at=now_iso()))


def _has_open_session(sub: Subscriber) -> bool:
    raw = sub.open_sessions
    data = raw.as_dict() if hasattr(raw, "as_dict") else dict(raw or {})
    return any(isinstance(v, Mapping) and not v.get("cb") for v in data.values())


def recount(tenant_id: str, now: datetime, subs: Iterable[Subscriber]) -> dict[str, int]:
    """The repair job: recompute every counter of a tenant from its subscriber items (all of them:
    ``store.subscribers.list_tenant``). The daily inactivity run does it with the items it reads
    anyway, which also refreshes ``online_24h``."""
    counts: dict[Bucket, int] = {}
    for sub in subs:
        b = bucket_for(sub)
        keys = [b]
        online = _has_open_session(sub)
        if online:
            keys.append(b.with_status(ONLINE))
        if is_online_24h({"online_sessions": online, "last_seen_at": sub.last_seen_at}, now):
            keys.append(b.with_status(ONLINE_24H))
        for k in keys:
            counts[k] = counts.get(k, 0) + 1
    replace_all(tenant_id, counts)
    return {b.key: n for b, n in counts.items()}


def counted(tenant_id: str) -> bool:
    """Whether the tenant was ever recounted (the migration counts those that were not)."""
    try:
        Tally.get(tenant_id, MARKER)
    except Tally.DoesNotExist:
        return False
    return True
