"""DynamoDB capacity units measured from real requests on moto, by DynamoDB's sizing rules.

:func:`item_size` is the documented item size: for each attribute, the UTF-8 length of its name plus
the size of its value (string: UTF-8 bytes; number: 1 byte per two significant digits + 1; binary:
bytes; boolean and null: 1; list and map: 3 bytes + per element 1 byte + the element, map keys
counted like names; sets: the sum of their elements).

:class:`CapacityMeter` hooks every DynamoDB client the models use. For each write it reads the item
before and after (with its own client, not counted) and charges, like DynamoDB on-demand:

- the table: ``ceil(max(before, after) / 1 KB)`` write units (at least 1);
- every global secondary index: nothing when the item's index entry (index keys, table keys and the
  projected attributes) is unchanged; an update of the entry (``ceil(max / 1 KB)``) when only
  projected attributes changed; a delete plus a put when an index key changed; a put or a delete when
  the item enters or leaves a sparse index.

Reads are charged from the response's ``ConsumedCapacity`` when present, else by size: a GetItem
``ceil(size / 4 KB)`` (half for eventually consistent), a Query/Scan the sum of the returned sizes
rounded up to 4 KB, a BatchGetItem per item. Requests are counted per operation.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import boto3

KB = 1024
WRITE_OPS = ("PutItem", "UpdateItem", "DeleteItem")


# ---------------------------------------------------------------- sizing rules
def _number_size(text: str) -> int:
    digits = str(Decimal(text).normalize()).lstrip("-").replace(".", "").split("E")[0].strip("0")
    return (max(1, len(digits)) + 1) // 2 + 1


def value_size(value: Mapping[str, Any]) -> int:
    """Size of one attribute value in DynamoDB JSON (``{"S": ...}``, ``{"M": {...}}``...)."""
    ((kind, v),) = value.items()
    if kind == "S":
        return len(str(v).encode())
    if kind == "N":
        return _number_size(str(v))
    if kind == "B":
        return len(v) if isinstance(v, bytes | bytearray) else len(str(v).encode())
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(x).encode()) for x in v)
    if kind == "NS":
        return sum(_number_size(str(x)) for x in v)
    if kind == "BS":
        return sum(len(x) for x in v)
    if kind == "L":
        return 3 + sum(1 + value_size(x) for x in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(x) for k, x in v.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: Mapping[str, Any] | None) -> int:
    """Bytes of an item in DynamoDB JSON (names + values)."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(v) for name, v in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / KB))


# ---------------------------------------------------------------- index entries
class IndexShape:
    def __init__(self, desc: Mapping[str, Any], table_keys: list[str]) -> None:
        self.name = desc["IndexName"]
        self.keys = [k["AttributeName"] for k in desc["KeySchema"]]
        proj = desc.get("Projection", {})
        self.kind = proj.get("ProjectionType", "ALL")
        self.include = list(proj.get("NonKeyAttributes", []))
        self.table_keys = table_keys

    def entry(self, item: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The index entry of an item (None when the item is not in this sparse index)."""
        if not item or any(k not in item for k in self.keys):
            return None
        if self.kind == "ALL":
            return dict(item)
        names = set(self.keys) | set(self.table_keys)
        if self.kind == "INCLUDE":
            names |= set(self.include)
        return {k: v for k, v in item.items() if k in names}

    def units(self, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> int:
        old, new = self.entry(before), self.entry(after)
        if old is None and new is None:
            return 0
        if old is None or new is None:
            return write_units(item_size(old or new))
        if any(old[k] != new[k] for k in self.keys):
            return write_units(item_size(old)) + write_units(item_size(new))
        if old == new:
            return 0
        return write_units(max(item_size(old), item_size(new)))


class TableShape:
    def __init__(self, desc: Mapping[str, Any]) -> None:
        self.name = desc["TableName"]
        self.keys = [k["AttributeName"] for k in desc["KeySchema"]]
        self.indexes = [IndexShape(g, self.keys) for g in desc.get("GlobalSecondaryIndexes", [])]


# ---------------------------------------------------------------- the meter
class CapacityMeter:
    """Counts requests, write units (table + every index) and read units of DynamoDB calls."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.raw = boto3.client("dynamodb", region_name=region)
        self.shapes: dict[str, TableShape] = {}
        self.requests: Counter[str] = Counter()
        self.wcu: Counter[str] = Counter()  # by "table" / "table:index"
        self.rcu = 0.0
        self.rcu_by_op: dict[str, float] = {}  # read units by operation
        self.sizes: dict[str, int] = {}  # last item size written, by table
        self._local = threading.local()
        self._lock = threading.Lock()
        self._installed: list[Any] = []
        self.enabled = True

    # -- set-up
    def install(self, models: Iterable[Any]) -> None:
        seen: set[int] = set()
        for model in models:
            events = model._get_connection().connection.client.meta.events
            if id(events) in seen:
                continue
            seen.add(id(events))
            events.register("provide-client-params.dynamodb", self._before)
            events.register("after-call.dynamodb", self._after)
            self._installed.append(events)

    def uninstall(self) -> None:
        for events in self._installed:
            events.unregister("provide-client-params.dynamodb", self._before)
            events.unregister("after-call.dynamodb", self._after)
        self._installed.clear()

    def shape(self, table: str) -> TableShape:
        if table not in self.shapes:
            self.shapes[table] = TableShape(self.raw.describe_table(TableName=table)["Table"])
        return self.shapes[table]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.wcu.clear()
            self.rcu = 0.0
            self.rcu_by_op.clear()

    @property
    def write_units(self) -> int:
        return sum(self.wcu.values())

    @property
    def request_count(self) -> int:
        return sum(self.requests.values())

    # -- hooks
    def _get(self, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
        return self.raw.get_item(TableName=table, Key=dict(key), ConsistentRead=True).get("Item")

    def _before(self, params: dict[str, Any], model: Any = None, **_: Any) -> None:
        if not self.enabled or model is None:
            return
        op = model.name
        stack = self._local.__dict__.setdefault("stack", [])
        if op in WRITE_OPS:
            table = params["TableName"]
            key = params.get("Key") or {k: params["Item"][k] for k in self.shape(table).keys}
            stack.append((op, table, key, self._get(table, key), params))
        else:
            stack.append((op, None, None, None, params))

    def _after(self, http_response: Any, parsed: Mapping[str, Any], model: Any = None, **_: Any) -> None:
        if not self.enabled or model is None:
            return
        stack = self._local.__dict__.get("stack") or []
        if not stack:
            return
        op, table, key, before, params = stack.pop()
        ok = getattr(http_response, "status_code", 200) < 300
        with self._lock:
            self.requests[op] += 1
        if not ok:
            return
        if op in WRITE_OPS and table is not None and key is not None:
            after = self._get(table, key)
            shape = self.shape(table)
            size = max(item_size(before), item_size(after))
            with self._lock:
                self.sizes[shape.name] = item_size(after)
                self.wcu[shape.name] += write_units(size)
                for index in shape.indexes:
                    self.wcu[f"{shape.name}:{index.name}"] += index.units(before, after)
        elif op in ("GetItem", "Query", "Scan", "BatchGetItem"):
            units = self._read_units(op, params, parsed)
            with self._lock:
                self.rcu += units
                self.rcu_by_op[op] = self.rcu_by_op.get(op, 0.0) + units

    @staticmethod
    def _read_units(op: str, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> float:
        if op == "GetItem":
            factor = 1.0 if params.get("ConsistentRead") else 0.5
            return factor * math.ceil(max(1, item_size(parsed.get("Item"))) / (4 * KB))
        if op in ("Query", "Scan"):
            factor = 1.0 if params.get("ConsistentRead") else 0.5
            total = sum(item_size(i) for i in parsed.get("Items", []))
            return factor * max(1, math.ceil(total / (4 * KB)))
        units = 0.0
        for table, items in (parsed.get("Responses") or {}).items():
            factor = 1.0 if params.get("RequestItems", {}).get(table, {}).get("ConsistentRead") else 0.5
            units += sum(factor * math.ceil(max(1, item_size(i)) / (4 * KB)) for i in items)
        return units
