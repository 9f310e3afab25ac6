"""Paged lists while their rows change: rows added (tied with the others on the sort key) and removed
between two pages — among them the row the next page starts after — never make a page skip, or repeat,
a row that was there throughout (the lists and their data: ``paging_world``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from infra.local.demo import DemoData
from store import subscribers as subscriber_store
from store.models import AuditEntry, Invoice, Job, Payment, ProvisioningTask, Session
from tests.integration.api.paging import differences, walk
from tests.integration.api.paging_world import (
    LISTS,
    TIE,
    Seeded,
    add_audit,
    add_invoice,
    add_job,
    add_payment,
    add_session,
    add_subscriber,
    add_task,
    getter,
    seed_world,
)
from tests.integration.api.support import Api, open_session


@dataclass
class Churn:
    """How a test adds a row to a list (the n-th new one, tied with the others) and removes one."""

    add: Callable[[int], None]
    remove: Callable[[str], None]


def _delete_subscriber(key: str) -> None:
    sub = subscriber_store.get_by_id(key.split("/", 1)[0])  # a subscriber id, or an Online row's key
    if sub is not None:
        subscriber_store.delete(sub)


def _churns(seeded: Seeded) -> dict[str, Churn]:
    tid, sub_id = seeded.demo.tenant_id, seeded.demo.subscriber_id
    demo_sub = subscriber_store.get_by_id(sub_id)
    assert demo_sub is not None

    def delete(model: Any) -> Callable[[str], None]:
        return lambda key: model.get(key).delete()

    def new_subscriber(n: int) -> None:
        add_subscriber(tid, f"new{n:02d}", 0)

    def new_online(n: int) -> None:
        open_session(add_subscriber(tid, f"new{n:02d}", 0).id, key=f"k-new{n}")

    def new_invoice(n: int) -> None:
        add_invoice(tid, sub_id, n, when=TIE)

    def new_payment(n: int) -> None:
        add_payment(tid, sub_id, n, when=TIE)

    def new_report(n: int) -> None:
        add_payment(tid, sub_id, n, kind="reported", when=TIE)

    def new_entry(n: int) -> None:
        add_audit(tid, sub_id, n, when=TIE)

    def remove_entry(action: str) -> None:
        for entry in AuditEntry.scan(AuditEntry.action == action):
            entry.delete()

    def new_session(n: int) -> None:
        add_session(demo_sub, 100 + n, wifi=False, when=TIE)

    def new_task(n: int) -> None:
        add_task(tid, n, "succeeded", when=TIE)

    def new_job(kind: str) -> Callable[[int], None]:
        def add(n: int) -> None:
            add_job(tid, kind, n, when=TIE)

        return add

    return {
        "subscribers": Churn(new_subscriber, _delete_subscriber),
        "online": Churn(new_online, _delete_subscriber),
        "invoices": Churn(new_invoice, delete(Invoice)),
        "payments": Churn(new_payment, delete(Payment)),
        "reports": Churn(new_report, delete(Payment)),
        "audit": Churn(new_entry, remove_entry),
        "connections": Churn(new_session, delete(Session)),
        "tasks": Churn(new_task, delete(ProvisioningTask)),
        "runs": Churn(new_job("billing_notices"), delete(Job)),
        "imports": Churn(new_job("import_create"), delete(Job)),
        "jobs": Churn(new_job("subscriber_export"), delete(Job)),
    }


CHURNED = {
    "subscribers by username": "subscribers",
    "subscribers by creation time (ties)": "subscribers",
    "subscribers by name (all the same), descending": "subscribers",
    "online subscribers": "online",
    "invoices": "invoices",
    "payments": "payments",
    "payment reports": "reports",
    "audit log of a tenant": "audit",
    "connection log": "connections",
    "tasks of a tenant": "tasks",
    "billing runs": "runs",
    "imports": "imports",
    "jobs": "jobs",
}


@pytest.fixture
def seeded(api: Api, demo: DemoData) -> Seeded:
    return seed_world(api, demo)


@pytest.mark.parametrize("name", sorted(CHURNED))
def test_rows_added_or_removed_between_pages_never_make_a_page_skip_the_others(
    api: Api, seeded: Seeded, name: str
) -> None:
    lst, who, rows = LISTS[name]
    churn = _churns(seeded)[CHURNED[name]]
    removed: set[str] = set()
    added: list[int] = []
    ahead = sorted(seeded.rows[rows], reverse=True)

    def between(seen: list[str]) -> None:
        if len(added) < 3:  # a new row after each of the first pages
            churn.add(len(added))
            added.append(1)
        # the row the next page starts after, and one the walk has not reached yet
        unseen = next((k for k in ahead if k not in seen and k not in removed), None)
        for key in (seen[-1] if seen else None, unseen):
            if key is not None and key not in removed:
                churn.remove(key)
                removed.add(key)

    got = walk(getter(api), lst, seeded.who[who], 2, between)
    there_throughout = seeded.rows[rows] - removed
    assert len(got) == len(set(got)), f"{name}: {differences(got, there_throughout)}"
    assert there_throughout <= set(got), f"{name}: {differences(got, there_throughout)}"
