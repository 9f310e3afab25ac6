"""Data migration of existing tables to the current models: indexes and backfilled attributes.

Every step looks at what is there before it changes anything, so running the migration twice (or
after an interrupted run) does the remaining work only:

1. indexes: a global secondary index the model declares and the table lacks is created; one whose
   key schema or projection differs is deleted and created again; one the model no longer declares
   is deleted. DynamoDB takes one index change per ``UpdateTable`` and builds it in the background:
   each change waits until the table is ACTIVE again.
2. attributes the new indexes are keyed on, computed from the stored items (see :data:`BACKFILLS`);
   with the encryption of the stage, equipment passwords stored in clear are encrypted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pynamodb.models import Model

from core import equipment
from core.ids import utcnow
from store import tallies
from store.db import table_schema
from store.models import ALL_MODELS, Session, Subscriber, Tenant
from store.subscribers import list_tenant, search_fields


@dataclass
class MigrationReport:
    indexes_created: list[str] = field(default_factory=list)
    indexes_deleted: list[str] = field(default_factory=list)
    backfilled: dict[str, int] = field(default_factory=dict)


def _client(model: type[Model]) -> Any:
    return model._get_connection().connection.client


def _wait_active(model: type[Model], wait: bool) -> None:
    if not wait:
        return
    client = _client(model)
    for _ in range(720):
        table = client.describe_table(TableName=model.Meta.table_name)["Table"]
        statuses = [table["TableStatus"]] + [
            g["IndexStatus"] for g in table.get("GlobalSecondaryIndexes", [])
        ]
        if all(s == "ACTIVE" for s in statuses):
            return
        time.sleep(5)
    raise TimeoutError(f"table {model.Meta.table_name} did not become ACTIVE")


def _shape(gsi: dict[str, Any]) -> tuple[Any, ...]:
    keys = tuple(sorted((k["AttributeName"], k["KeyType"]) for k in gsi["KeySchema"]))
    proj = gsi.get("Projection", {})
    return keys, proj.get("ProjectionType", "ALL"), tuple(sorted(proj.get("NonKeyAttributes", [])))


def sync_indexes(model: type[Model], report: MigrationReport, wait: bool) -> None:
    client = _client(model)
    name = model.Meta.table_name
    table = client.describe_table(TableName=name)["Table"]
    have = {g["IndexName"]: g for g in table.get("GlobalSecondaryIndexes", [])}
    schema = table_schema(model)
    want = {g["IndexName"]: g for g in schema.get("GlobalSecondaryIndexes", [])}
    for index, gsi in sorted(have.items()):
        if index not in want or _shape(gsi) != _shape(want[index]):
            client.update_table(
                TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": index}}]
            )
            report.indexes_deleted.append(f"{model.Meta.base_name}:{index}")  # type: ignore[attr-defined]
            _wait_active(model, wait)
            have.pop(index)
    for index, gsi in sorted(want.items()):
        if index in have:
            continue
        used = {k["AttributeName"] for k in gsi["KeySchema"]}
        client.update_table(
            TableName=name,
            AttributeDefinitions=[a for a in schema["AttributeDefinitions"] if a["AttributeName"] in used],
            GlobalSecondaryIndexUpdates=[
                {
                    "Create": {
                        "IndexName": index,
                        "KeySchema": gsi["KeySchema"],
                        "Projection": gsi["Projection"],
                    }
                }
            ],
        )
        report.indexes_created.append(f"{model.Meta.base_name}:{index}")  # type: ignore[attr-defined]
        _wait_active(model, wait)


# ---------------------------------------------------------------- backfills
def _open_hour() -> Iterator[int]:
    """Open connection-log rows get ``open_hour`` (the open index's range key)."""
    for row in Session.scan(filter_condition=Session.open_nas.exists() & Session.open_hour.does_not_exist()):
        row.update(
            actions=[Session.open_hour.set(row.last_update[:13])],
            condition=Session.open_nas.exists(),
        )
        yield 1


def _subscriber_keys() -> Iterator[int]:
    """Subscribers get the attributes the name, phone and online indexes are keyed on."""
    for sub in Subscriber.scan():
        want: dict[str, Any] = search_fields(sub.name, sub.phone)
        want["online_t"] = sub.tenant_id if tallies._has_open_session(sub) else None
        changed = {k: v for k, v in want.items() if getattr(sub, k) != v}
        if not changed:
            continue
        actions = [
            getattr(Subscriber, k).remove() if v is None else getattr(Subscriber, k).set(v)
            for k, v in changed.items()
        ]
        sub.update(actions=actions, condition=Subscriber.login.exists())
        yield 1


def _tenant_counters() -> Iterator[int]:
    """Every tenant never counted gets its totals counters."""
    now = utcnow()
    for tenant in Tenant.scan(attributes_to_get=["id"]):
        if not tallies.counted(tenant.id):
            tallies.recount(tenant.id, now, list_tenant(tenant.id))
            yield 1


def _equipment_secrets(encrypt: Callable[[str], str]) -> Iterator[int]:
    """Equipment data recorded as a free-form map, with passwords in clear, gets them encrypted (the
    other fields are kept as they were)."""
    for sub in Subscriber.scan(filter_condition=Subscriber.advanced.exists()):
        if equipment.has_clear_secrets(sub.advanced):
            new = equipment.stored(equipment.read(sub.advanced), encrypt)
            sub.update(actions=[Subscriber.advanced.set(new)], condition=Subscriber.login.exists())
            yield 1


BACKFILLS: dict[str, Callable[[], Iterator[int]]] = {
    "sessions.open_hour": _open_hour,
    "subscribers.index_keys": _subscriber_keys,
    "tallies.tenants": _tenant_counters,
}


def migrate(wait: bool = True, encrypt: Callable[[str], str] | None = None) -> MigrationReport:
    """Bring every existing table to the models; tables that do not exist are left to ``create_tables``.
    ``encrypt`` (the stage's encryption) is needed to encrypt secrets stored in clear."""
    report = MigrationReport()
    for model in ALL_MODELS:
        if model.exists():
            sync_indexes(model, report, wait)
    steps = dict(BACKFILLS)
    if encrypt is not None:
        steps["subscribers.equipment_secrets"] = partial(_equipment_secrets, encrypt)
    for name, step in steps.items():
        report.backfilled[name] = sum(step())
    return report
