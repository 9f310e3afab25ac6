"""Customer-portal payments under duplicate, concurrent and out-of-order delivery, and portal latencies.

    .venv/bin/python -m bench.portal.run [--checkouts 20] [--copies 4] [--threads 8] [--reports 10]

Prints one JSON object per line:

- ``webhook_storm``: every checkout's ``completed`` event is delivered ``copies`` times with the same
  event id plus ``copies`` times with fresh event ids, all at once from ``threads`` threads, shuffled
  with late ``expired`` events. Exactly one payment per checkout must be recorded (``double_counted``
  = payments − checkouts must be 0) and every invoice paid.
- ``report_confirm_race``: each reported bank transfer is confirmed by two operators at the same time.
- ``latency``: median milliseconds of sign-in (scrypt), auto-login exchange, "my service", and one
  webhook, through the Chalice test client on moto.

Everything runs in-process on moto (no network). DynamoDB makes each item write and each transaction
atomic and isolated; moto's in-memory tables do not under threads (a failed transaction restores a
snapshot of the whole table, undoing other threads' writes), so the bench serialises moto's write
operations with one lock to keep DynamoDB's guarantees; reads stay concurrent.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import sys
import time
from collections import Counter as Tally
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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


def emit(**fields: Any) -> None:
    print(json.dumps(fields, sort_keys=True), flush=True)


def _serialise_moto_writes() -> None:
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *a: Any, __original: Any = original, **kw: Any) -> Any:
            with lock:
                return __original(self, *a, **kw)

        setattr(DynamoDBBackend, name, locked)


def _ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


@dataclass
class _World:
    """The bench tenant on moto: the runtime, the demo data and its payment-webhook secret."""

    rt: Any
    demo: Any
    secret: str

    def new_subscriber(self, status: str = "suspended") -> Any:
        from core.ids import new_id, now_iso
        from shared.crypto import hash_password
        from store.models import Subscriber

        username = f"b{secrets.token_hex(4)}"
        sub = Subscriber(
            login=f"{self.demo.tenant_id}#{username}",
            id=new_id("sub"),
            tenant_id=self.demo.tenant_id,
            username=username,
            password_enc=self.rt.box.encrypt("net-pass-1"),
            portal_password_hash=hash_password("portal-pass-1"),
            status=status,
            connection_type="pppoe",
            zone_id=self.demo.zone_id,
            gateway_id=self.demo.gateway_id,
            product_id=self.demo.product_id,
            product_assigned_at=now_iso(),
            created_at=now_iso(),
        )
        sub.save()
        return sub

    def invoice(self, sub: Any, amount: str) -> Any:
        from services.billing.invoices import create_other_invoice

        return create_other_invoice(
            self.rt,
            self.demo.tenant_id,
            sub.id,
            [{"description": "Service", "quantity": "1", "unit_price": amount}],
            "bench",
        )


def _setup() -> _World:
    from composition import init_runtime
    from infra.local.demo import seed_demo
    from services.billing import online as pay
    from shared.crypto import StaticKeyProvider
    from shared.settings import Settings
    from store import db
    from store.models import Gateway

    rt = init_runtime(
        Settings(
            stage="bench",
            table_prefix=f"wisp-bench-{secrets.token_hex(3)}-",
            provision_queue_name="wisp-bench-provision.fifo",
            provision_dlq_name="wisp-bench-provision-dlq.fifo",
            documents_bucket="wisp-bench-docs",
        ),
        StaticKeyProvider(secrets.token_bytes(32)),
    )
    db.create_tables()
    rt.aws.client("s3").create_bucket(Bucket=rt.settings.documents_bucket)
    demo = seed_demo(rt.box)
    Gateway.get("gw_demo").update(actions=[Gateway.api_enabled.set(True)])
    from store.tenants import get_tenant

    tenant = get_tenant(demo.tenant_id)
    assert tenant is not None
    pay.configure_payments(rt, tenant, {"enabled": True, "provider": "hosted"}, "bench")
    return _World(rt, demo, pay.webhook_secret(rt, demo.tenant_id))


def _storm_deliveries(
    world: _World, checkouts: int, copies: int
) -> tuple[list[tuple[str, bytes]], list[Any]]:
    """Per checkout: ``copies`` completions with its event id, ``copies`` with fresh ids, one late expiry."""
    from core.ids import new_id
    from services.billing import online as pay

    deliveries: list[tuple[str, bytes]] = []
    subs: list[Any] = []
    for _ in range(checkouts):
        sub = world.new_subscriber()
        inv = world.invoice(sub, "25.00")
        session = pay.start_checkout(world.rt, sub, inv)
        subs.append(sub)
        done = {
            "id": new_id("evt"),
            "type": "checkout.completed",
            "data": {"reference": session.reference, "amount": "25.00", "currency": "USD"},
        }
        for _ in range(copies):
            deliveries.append(("same", json.dumps(done).encode()))
            other = dict(done, id=new_id("evt"))
            deliveries.append(("new-id", json.dumps(other).encode()))
        late = {"id": new_id("evt"), "type": "checkout.expired", "data": {"reference": session.reference}}
        deliveries.append(("expired", json.dumps(late).encode()))
    random.Random(7).shuffle(deliveries)
    return deliveries, subs


def _webhook_storm(world: _World, checkouts: int, copies: int, threads: int) -> None:
    from services.billing import online as pay
    from store import billing as billing_store
    from store import subscribers as subscriber_store

    deliveries, subs = _storm_deliveries(world, checkouts, copies)

    def deliver(item: tuple[str, bytes]) -> str:
        _, body = item
        for _attempt in range(5):  # a provider retries on 409/5xx
            headers = {"Wisp-Signature": pay.sign_payload(world.secret, int(time.time()), body)}
            try:
                return pay.handle_webhook(world.rt, world.demo.tenant_id, "hosted", headers, body).status
            except Exception as exc:
                last = type(exc).__name__
                time.sleep(0.05)
        return f"gave-up:{last}"

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        statuses = Tally(pool.map(deliver, deliveries))
    elapsed = time.perf_counter() - t0
    payments = sum(
        len([p for p in billing_store.payments_of_subscriber(s.id) if p.kind == "payment"]) for s in subs
    )
    paid = sum(all(i.status == "paid" for i in billing_store.invoices_of_subscriber(s.id)) for s in subs)
    active = sum(subscriber_store.get_by_id(s.id).status == "active" for s in subs)  # type: ignore[union-attr]
    emit(
        bench="portal",
        metric="webhook_storm",
        checkouts=checkouts,
        deliveries=len(deliveries),
        threads=threads,
        payments_recorded=payments,
        double_counted=payments - checkouts,
        invoices_paid=paid,
        subscribers_reactivated=active,
        statuses=dict(statuses),
        seconds=round(elapsed, 2),
        deliveries_per_s=round(len(deliveries) / elapsed, 1),
    )


def _report_confirm_race(world: _World, count: int, threads: int) -> None:
    """Each reported bank transfer confirmed by two operators at once."""
    from datetime import date

    from services.billing import online as pay
    from store import billing as billing_store

    reports = []
    report_subs = []
    for _ in range(count):
        sub = world.new_subscriber()
        world.invoice(sub, "30.00")
        report_subs.append(sub)
        reports.append(
            pay.report_payment(
                sub,
                amount="30.00",
                method="bank_transfer",
                reference="TRX",
                paid_on=date.today(),
                invoice_id=None,
                note=None,
            )
        )

    def confirm(report_id: str) -> str:
        try:
            return (
                "applied"
                if not pay.confirm_report(
                    world.rt, pay.get_report(report_id), "op_bench", "operator"
                ).duplicate
                else "duplicate"
            )
        except Exception as exc:
            return type(exc).__name__

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        outcomes = Tally(pool.map(confirm, [r.id for r in reports for _ in range(2)]))
    elapsed = time.perf_counter() - t0
    payments = sum(
        len([p for p in billing_store.payments_of_subscriber(s.id) if p.kind == "payment"])
        for s in report_subs
    )
    emit(
        bench="portal",
        metric="report_confirm_race",
        reports=count,
        confirmations=2 * count,
        payments_recorded=payments,
        double_counted=payments - count,
        outcomes=dict(outcomes),
        seconds=round(elapsed, 2),
    )


def _latency(world: _World, app: Any, samples: int) -> None:
    """Sign-in, auto-login, "my service" and one webhook through HTTP."""
    from chalice.test import Client

    from core.ids import new_id
    from services.billing import online as pay
    from services.portal_auth import issue_autologin_token

    sub = world.new_subscriber(status="active")
    tenant_id = world.demo.tenant_id
    hook_s: list[float] = []
    with Client(app) as client:
        hdr = {"Content-Type": "application/json"}
        body = json.dumps({"tenant_id": tenant_id, "username": sub.username, "password": "portal-pass-1"})
        token = ""
        login_s: list[float] = []
        for _ in range(samples):
            t = time.perf_counter()
            r = client.http.post("/portal/auth/login", headers=hdr, body=body)
            login_s.append(time.perf_counter() - t)
            token = r.json_body["token"]
        auto = json.dumps({"token": issue_autologin_token(world.rt, sub)})
        auto_s: list[float] = []
        for _ in range(samples):
            t = time.perf_counter()
            client.http.post("/portal/auth/autologin", headers=hdr, body=auto)
            auto_s.append(time.perf_counter() - t)
        service_s: list[float] = []
        for _ in range(samples):
            t = time.perf_counter()
            client.http.get("/portal/service", headers={"Authorization": f"Bearer {token}"})
            service_s.append(time.perf_counter() - t)
        for _ in range(samples):
            body_b = json.dumps(
                {"id": new_id("evt"), "type": "checkout.expired", "data": {"reference": "chk_none"}}
            ).encode()
            h = {
                "Wisp-Signature": pay.sign_payload(world.secret, int(time.time()), body_b),
                "Content-Type": "application/json",
            }
            t = time.perf_counter()
            client.http.post(f"/portal/payments/webhooks/hosted/{tenant_id}", headers=h, body=body_b)
            hook_s.append(time.perf_counter() - t)
    emit(
        bench="portal",
        metric="latency",
        samples=samples,
        sign_in_ms_p50=_ms(login_s),
        autologin_ms_p50=_ms(auto_s),
        service_overview_ms_p50=_ms(service_s),
        webhook_ms_p50=_ms(hook_s),
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkouts", type=int, default=20)
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--reports", type=int, default=10)
    ap.add_argument("--samples", type=int, default=15)
    args = ap.parse_args(argv)

    _serialise_moto_writes()
    with mock_aws():
        from api.app import app

        world = _setup()
        _webhook_storm(world, args.checkouts, args.copies, args.threads)
        _report_confirm_race(world, args.reports, args.threads)
        _latency(world, app, args.samples)


if __name__ == "__main__":
    main()
