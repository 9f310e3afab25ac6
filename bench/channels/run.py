"""Subscriber creation channels: spreadsheet import, card generation, concurrent redemption.

    .venv/bin/python -m bench.channels.run [--rows 5000] [--cards 500] [--attempts 20]

DynamoDB, S3 and SES/SNS are moto, in process; every figure is counted from the DynamoDB requests
moto handled (``requests_per_*``: what the real service would be billed and wait for) and the wall
time. Prints one JSON object per line:

* ``import_preview`` / ``import_commit``: an .xlsx of ``--rows`` clients, every fifth one wrong;
* ``cards``: one batch of ``--cards`` cards (voucher + hotspot login each);
* ``redeem_race``: ``--attempts`` concurrent redemptions of one card (exactly one must succeed).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
for _p in ("functions", "."):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from moto import mock_aws  # noqa: E402
from moto.dynamodb.responses import DynamoHandler  # noqa: E402
from openpyxl import Workbook  # noqa: E402

from composition import init_runtime  # noqa: E402
from core.errors import ConflictError  # noqa: E402
from core.ids import now_iso  # noqa: E402
from infra.local.demo import seed_demo  # noqa: E402
from services import imports, vouchers  # noqa: E402
from services.identity.actors import Principal  # noqa: E402
from shared.crypto import StaticKeyProvider  # noqa: E402
from shared.settings import Settings  # noqa: E402
from store import db  # noqa: E402
from store import subscribers as subscriber_store  # noqa: E402
from store.models import Product, Subscriber  # noqa: E402

_lock = threading.RLock()
_count = {"n": 0}
_original = DynamoHandler.call_action


def _counting(self: Any) -> Any:
    # one request at a time, as DynamoDB applies each atomically (see tests/integration/channels_support)
    with _lock:
        _count["n"] += 1
        return _original(self)


@contextmanager
def measured() -> Iterator[dict[str, float]]:
    out: dict[str, float] = {}
    start_n, start_t = _count["n"], time.perf_counter()
    yield out
    out["requests"] = _count["n"] - start_n
    out["seconds"] = round(time.perf_counter() - start_t, 3)


def _xlsx(rows: int) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(["usuario", "contraseña", "nombre", "plan", "zona", "router", "ip"])
    for i in range(rows):
        plan = "Plan 999" if i % 5 == 4 else "Home 10M"  # every fifth row names an unknown plan
        ws.append(
            [
                f"b{i:06d}",
                f"pw-{i:06d}",
                f"Client {i}",
                plan,
                "Centro",
                "Demo router",
                f"10.{40 + i // 62500}.{(i // 250) % 250}.{i % 250 + 1}",
            ]
        )
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _import(rt: Any, actor: Principal, rows: int) -> None:
    data = _xlsx(rows)
    with measured() as m:
        preview = imports.upload(rt, actor, data, mode="create", filename="bench.xlsx")
    print(
        json.dumps(
            {
                "bench": "import_preview",
                "rows": rows,
                "file_bytes": len(data),
                "invalid": preview["summary"]["invalid"],
                **m,
            }
        )
    )
    with measured() as m:
        done = imports.commit(rt, actor, preview["job"]["id"])
    created = done["summary"]["created"]
    print(
        json.dumps(
            {
                "bench": "import_commit",
                "rows": rows,
                "created": created,
                "requests_per_created": round(m["requests"] / max(created, 1), 3),
                "rows_per_second": round(rows / max(m["seconds"], 1e-9), 1),
                **m,
            }
        )
    )


def _cards(rt: Any, actor: Principal, tenant_id: str, cards: int) -> str:
    """One batch of ``cards`` cards; returns the code of one of them."""
    Product(
        id="prod_card",
        tenant_id=tenant_id,
        name="Card",
        price="1",
        connection_type="hotspot",
        time_credit_min=60,
        created_at=now_iso(),
    ).save()
    with measured() as m:
        batch = vouchers.create_batch(rt, actor, vouchers.BatchRequest(product_id="prod_card", count=cards))
    print(
        json.dumps(
            {
                "bench": "cards",
                "cards": cards,
                "requests_per_card": round(m["requests"] / cards, 3),
                "cards_per_second": round(cards / max(m["seconds"], 1e-9), 1),
                **m,
            }
        )
    )
    return next(v.code for v in vouchers.store.vouchers_of_batch(batch.id))


def _race_subscribers(rt: Any, tenant_id: str, attempts: int) -> list[str]:
    ids = []
    for i in range(attempts):
        s = Subscriber(
            login=subscriber_store.login_key(tenant_id, f"race{i}"),
            id=f"sub_race{i}",
            tenant_id=tenant_id,
            username=f"race{i}",
            password_enc=rt.box.encrypt("x1234"),
            status="active",
            connection_type="hotspot",
            created_at=now_iso(),
        )
        subscriber_store.create(s)
        ids.append(s.id)
    return ids


def _redeem_race(rt: Any, actor: Principal, code: str, ids: list[str]) -> None:
    barrier = threading.Barrier(len(ids))
    outcomes: list[str] = []

    def attempt(sid: str) -> None:
        barrier.wait()
        try:
            vouchers.redeem_voucher(rt, actor, sid, code)
            outcomes.append("ok")
        except ConflictError:
            outcomes.append("conflict")

    with measured() as m:
        threads = [threading.Thread(target=attempt, args=(sid,)) for sid in ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    print(
        json.dumps(
            {
                "bench": "redeem_race",
                "attempts": len(ids),
                "succeeded": outcomes.count("ok"),
                "refused": outcomes.count("conflict"),
                **m,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--cards", type=int, default=500)
    ap.add_argument("--attempts", type=int, default=20)
    args = ap.parse_args()
    DynamoHandler.call_action = _counting  # type: ignore[method-assign]
    with mock_aws():
        settings = Settings(
            stage="bench",
            table_prefix=f"wisp-bench-{secrets.token_hex(3)}-",
            documents_bucket="wisp-bench-documents",
        )
        rt = init_runtime(settings, StaticKeyProvider(secrets.token_bytes(32)))
        db.create_tables()
        rt.aws.client("s3").create_bucket(Bucket=settings.documents_bucket)
        demo = seed_demo(rt.box)
        actor = Principal(demo.operator_id, "operator", demo.tenant_id, "manager")
        _import(rt, actor, args.rows)
        code = _cards(rt, actor, demo.tenant_id, args.cards)
        ids = _race_subscribers(rt, demo.tenant_id, args.attempts)
        _redeem_race(rt, actor, code, ids)


if __name__ == "__main__":
    main()
