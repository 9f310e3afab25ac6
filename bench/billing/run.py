"""Invoice run for N subscribers on moto: DynamoDB requests per invoice and seconds.

    .venv/bin/python -m bench.billing.run [--subscribers 20000] [--budget-s 90]

Prints one JSON object per line: a pilot of ``--pilot`` clients run twice (the repeat creates none and
costs only reads and cancelled transactions), then one run at the largest size up to ``--subscribers``
that fits the wall-clock budget (moto in-process spends ~5 ms per invoice in its own code, so 20,000
may not fit in two minutes; a ``scaled_down`` line says so), and a summary.

Requests are counted with a botocore ``before-call`` event hook on every DynamoDB client the store
uses. Moto's TransactWriteItems snapshots the *whole table* once per item for its rollback, which
makes a 100-item transaction cost O(100 × table size) in the simulator (DynamoDB has no such cost);
the bench replaces that snapshot with a per-item one so the seconds measure our code, not moto's
rollback. The request counts do not depend on it.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import secrets
import sys
import time
from collections import Counter as Tally
from datetime import UTC, datetime
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
for _p in ("functions", "."):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from moto import mock_aws  # noqa: E402

NOW = datetime(2026, 5, 28, 18, 0, tzinfo=UTC)


def emit(**fields: Any) -> None:
    print(json.dumps(fields, sort_keys=True), flush=True)


# ---------------------------------------------------------------- moto: per-item rollback snapshot
def _restore(table: Any, key: dict[str, Any], original: Any) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    hk = DynamoType(key[table.hash_key_attr])
    if table.range_key_attr is not None:
        bucket = table.items[hk]
        rk = DynamoType(key[table.range_key_attr])
        if original is None:
            bucket.pop(rk, None)
        else:
            bucket[rk] = original
    elif original is None:
        table.items.pop(hk, None)
    else:
        table.items[hk] = original


def _rollback(snapshots: list[tuple[Any, dict[str, Any], Any]]) -> None:
    for table, key, original in reversed(snapshots):
        _restore(table, key, original)


def _item_key(table: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return op["Key"]
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _apply_write(backend: Any, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    table_name = op["TableName"]
    expression = {
        "condition_expression": op.get("ConditionExpression"),
        "expression_attribute_names": op.get("ExpressionAttributeNames"),
        "expression_attribute_values": op.get("ExpressionAttributeValues"),
    }
    if op_type == "Put":
        backend.put_item(table_name, op["Item"], **expression)
    elif op_type == "Delete":
        backend.delete_item(table_name, key, **expression)
    elif op_type == "Update":
        backend.update_item(table_name, key, update_expression=op["UpdateExpression"], **expression)


def _write_item(
    backend: Any,
    item: dict[str, Any],
    seen: set[tuple[str, str]],
    snapshots: list[tuple[Any, dict[str, Any], Any]],
) -> None:
    """One item of the transaction: checked, its current version kept for the rollback, written."""
    from moto.dynamodb.comparisons import get_filter_expression as filt
    from moto.dynamodb.exceptions import ConditionalCheckFailed, MultipleTransactionsException

    op_type, op = next(iter(item.items()))
    table_name = op["TableName"]
    table = backend.get_table(table_name)
    key = _item_key(table, op_type, op)
    marker = (str(table_name), str(dict(sorted(key.items()))))
    if marker in seen:
        raise MultipleTransactionsException()
    seen.add(marker)
    current = backend.get_item(table_name, key)
    cond = op.get("ConditionExpression")
    names = op.get("ExpressionAttributeNames")
    values = op.get("ExpressionAttributeValues")
    if cond is not None and not filt(cond, names, values).expr(current):
        raise ConditionalCheckFailed()
    snapshots.append((table, key, copy.deepcopy(current)))
    _apply_write(backend, op_type, op, key)


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    snapshots: list[tuple[Any, dict[str, Any], Any]] = []
    seen: set[tuple[str, str]] = set()
    errors: list[Any] = []
    for item in transact_items:
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException
        try:
            _write_item(self, item, seen, snapshots)
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            _rollback(snapshots)
            raise
        except ConditionalCheckFailed as exc:
            errors.append(("ConditionalCheckFailed", str(exc.message), None))
        except Exception as exc:  # mirrors moto: any other failure cancels the transaction
            errors.append((type(exc).__name__, str(exc), None))
    if any(code is not None for code, _, _ in errors):
        _rollback(snapshots)
        raise TransactionCanceledException(errors)


def _patch_moto_transactions() -> None:
    """Moto's TransactWriteItems with a per-item rollback snapshot instead of a whole-table one."""
    from moto.dynamodb.models import DynamoDBBackend

    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]


# ---------------------------------------------------------------- request counting
class RequestCounter:
    """Counts DynamoDB API calls through botocore's ``before-call`` event on each store client."""

    def __init__(self) -> None:
        self.calls: Tally[str] = Tally()
        self._hooked: set[int] = set()

    def _on_call(self, model: Any = None, **_: Any) -> None:
        self.calls[model.name if model is not None else "?"] += 1

    def hook(self) -> None:
        from store.models import ALL_MODELS

        for m in ALL_MODELS:
            client = m._get_connection().connection.client
            if id(client) not in self._hooked:
                client.meta.events.register("before-call.dynamodb", self._on_call)
                self._hooked.add(id(client))

    def take(self) -> Tally[str]:
        out = self.calls
        self.calls = Tally()
        return out


# ---------------------------------------------------------------- seeding
def seed(box: Any, tenant_id: str, n: int) -> None:
    from core.ids import now_iso
    from store.models import Product, Subscriber, Tenant, Zone

    now = now_iso()
    Tenant(
        id=tenant_id,
        name="Bench WISP",
        kind="manager",
        parent_id="-",
        currency="USD",
        tax_rate="0.16",
        timezone="America/Mexico_City",
        created_at=now,
    ).save()
    Zone(
        id=f"zone_{tenant_id}",
        tenant_id=tenant_id,
        name="Bench",
        timezone="America/Mexico_City",
        issue_day=28,
        notice_day=28,
        payment_day=1,
        cutoff_day=5,
        created_at=now,
    ).save()
    Product(
        id=f"prod_{tenant_id}", tenant_id=tenant_id, name="Home 10M", price="25.00", created_at=now
    ).save()
    password = box.encrypt("bench-password")
    with Subscriber.batch_write() as batch:
        for i in range(n):
            batch.save(
                Subscriber(
                    login=f"{tenant_id}#u{i:06d}",
                    id=f"sub_{tenant_id}_{i:06d}",
                    tenant_id=tenant_id,
                    username=f"u{i:06d}",
                    password_enc=password,
                    status="active",
                    zone_id=f"zone_{tenant_id}",
                    gateway_id="gw_bench",
                    product_id=f"prod_{tenant_id}",
                    name=f"Client {i}",
                    email=f"u{i}@example.com",
                    created_at=f"{now}{i:06d}",
                )
            )


def measure(rt: Any, counter: RequestCounter, tenant_id: str, n: int, repeat: bool) -> dict[str, Any]:
    """Seed ``n`` clients in a fresh tenant, run the invoice run (and optionally again); print the figures."""
    from services.billing.invoice_run import run_tenant_invoices
    from store.models import Invoice

    t0 = time.monotonic()
    seed(rt.box, tenant_id, n)
    seed_s = time.monotonic() - t0
    counter.take()
    t0 = time.monotonic()
    first = run_tenant_invoices(rt, tenant_id, NOW)
    secs = time.monotonic() - t0
    calls = counter.take()
    total = sum(calls.values())
    numbers = sorted(
        int(i.number) for i in Invoice.tenant_index.query(tenant_id, attributes_to_get=["number"])
    )
    out = {
        "step": "invoice_run",
        "subscribers": n,
        "invoices_created": first.created,
        "dynamodb_requests": total,
        "requests_per_invoice": round(total / max(first.created, 1), 4),
        "seconds": round(secs, 2),
        "seed_seconds": round(seed_s, 2),
        "numbers_gapless": numbers == list(range(1, n + 1)),
        "by_operation": dict(sorted(calls.items())),
    }
    emit(**out)
    if repeat:
        t0 = time.monotonic()
        second = run_tenant_invoices(rt, tenant_id, NOW)
        secs2 = time.monotonic() - t0
        calls2 = counter.take()
        emit(
            step="repeat_run",
            subscribers=n,
            invoices_created=second.created,
            already_existing=second.existing,
            dynamodb_requests=sum(calls2.values()),
            seconds=round(secs2, 2),
            by_operation=dict(sorted(calls2.items())),
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=20000)
    parser.add_argument("--pilot", type=int, default=1000)
    parser.add_argument("--budget-s", type=float, default=90.0, help="whole bench, wall clock")
    args = parser.parse_args()

    _patch_moto_transactions()
    from composition import init_runtime
    from shared.crypto import StaticKeyProvider
    from shared.settings import Settings
    from store import db

    started = time.monotonic()
    with mock_aws():
        rt = init_runtime(
            Settings(stage="bench", table_prefix=f"wisp-bench-{secrets.token_hex(3)}-"),
            StaticKeyProvider(secrets.token_bytes(32)),
        )
        db.create_tables()
        counter = RequestCounter()
        counter.hook()
        pilot_n = min(args.pilot, args.subscribers)
        pilot = measure(rt, counter, "ten_pilot", pilot_n, repeat=True)
        results = [pilot]
        if args.subscribers > pilot_n:
            # moto's cost per invoice (seeding + run) from the pilot decides how many clients fit the budget
            per_client = (pilot["seconds"] + pilot["seed_seconds"]) / pilot_n
            left = args.budget_s - (time.monotonic() - started)
            fits = int(left / (per_client * 1.6)) // 1000 * 1000  # moto slows down as tables grow
            n = min(args.subscribers, fits)
            if n < args.subscribers:
                emit(
                    step="scaled_down",
                    requested=args.subscribers,
                    measured=n,
                    reason="moto in-process is too slow for the requested size within the time budget",
                    moto_seconds_per_client=round(per_client, 4),
                )
            if n > pilot_n:
                results.append(measure(rt, counter, "ten_bench", n, repeat=False))
        big = results[-1]
        emit(
            step="summary",
            subscribers=big["subscribers"],
            requested=args.subscribers,
            requests_per_invoice=big["requests_per_invoice"],
            target_requests_per_invoice=0.2,
            meets_target=big["requests_per_invoice"] <= 0.2,
            numbers_gapless=all(r["numbers_gapless"] for r in results),
            run_seconds=big["seconds"],
            invoices_per_second=round(big["invoices_created"] / max(big["seconds"], 1e-9), 1),
            total_seconds=round(time.monotonic() - started, 2),
        )


if __name__ == "__main__":
    main()
