"""Helpers for provisioner tests: a runtime with fast retries, routers backed by :class:`FakeRouter`,
subscribers of each connection type, and a queue drain that runs the worker's code path."""

from __future__ import annotations

import json
from typing import Any

from pynamodb.models import Model

from adapters.routeros import ClientStats
from core.ids import now_iso
from infra.local.provisioner_worker import poll_once
from services.network.triggers import queue_urls
from shared.runtime import Runtime
from store.models import Counter, Gateway, Operator, Policy, Product, ProvisioningTask, Subscriber, Tenant
from tests.conftest import make_settings, new_runtime
from tests.fakes.routeros import FakeRouter

TENANT = "ten_prov"


# what provisioner tests run with: immediate retries and a short router API timeout
SETTINGS: dict[str, Any] = {"provision_backoff_base_s": 0, "router_api_timeout_s": 2}


def provisioning_runtime(**overrides: Any) -> Runtime:
    """Fresh tables with the catalogue seeded, and :data:`SETTINGS` (call inside moto)."""
    rt = new_runtime(make_settings(**{**SETTINGS, **overrides}))
    seed()
    return rt


def seed() -> None:
    now = now_iso()
    Tenant(
        id=TENANT,
        name="Prov WISP",
        kind="manager",
        parent_id="-",
        ancestors=[],
        contact_email="noc@prov.example",
        created_at=now,
    ).save()
    Policy(
        id="pol_10",
        tenant_id=TENANT,
        code="HOME-10",
        download_rate=10_000_000,
        upload_rate=2_000_000,
        address_list="pcq-10M",
        created_at=now,
    ).save()
    Policy(
        id="pol_20",
        tenant_id=TENANT,
        code="HOME-20",
        download_rate=20_000_000,
        upload_rate=4_000_000,
        address_list="pcq-20M",
        created_at=now,
        burst={
            "download_limit": 30_000_000,
            "upload_limit": 6_000_000,
            "download_threshold": 15_000_000,
            "upload_threshold": 3_000_000,
            "download_time": 10,
            "upload_time": 10,
        },
    ).save()
    Product(
        id="prod_10",
        tenant_id=TENANT,
        name="Home 10M",
        policy_id="pol_10",
        router_profile="plan-10M",
        created_at=now,
    ).save()
    Product(
        id="prod_20",
        tenant_id=TENANT,
        name="Home 20M",
        policy_id="pol_20",
        router_profile="plan-20M",
        created_at=now,
    ).save()


_RESET_MODELS: tuple[type[Model], ...] = (Subscriber, Gateway, ProvisioningTask, Counter, Operator)


def reset(rt: Runtime) -> Runtime:
    """Empty what provisioner tests write (tables and queues are created once per test module: creating
    every table costs seconds) and seed the catalogue again."""
    for model in _RESET_MODELS:
        with model.batch_write() as batch:
            for item in model.scan():
                batch.delete(item)
    sqs = rt.aws.client("sqs")
    for url in queue_urls(rt):  # PurgeQueue is limited to once a minute: receive and delete instead
        for _ in range(1000):
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages") or []
            if not msgs:
                break
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)],
            )
    seed()
    return rt


def router_gateway(rt: Runtime, router: FakeRouter, gateway_id: str = "gw_a", **kw: Any) -> Gateway:
    values: dict[str, Any] = {
        "tenant_id": TENANT,
        "name": f"Router {gateway_id}",
        "nas_ip": "10.255.0.2",
        "radius_secret_enc": rt.box.encrypt("testing123"),
        "api_enabled": True,
        "api_host": router.host,
        "api_port": router.port,
        "api_username": router.username,
        "api_password_enc": rt.box.encrypt(router.password),
        "plan_type": "pppoe",
        "lan_interface": "ether2",
        "created_at": now_iso(),
    }
    values.update(kw)
    gw = Gateway(id=gateway_id, **values)
    gw.save()
    return gw


def make_subscriber(rt: Runtime, gateway: Gateway | None, username: str, **kw: Any) -> Subscriber:
    values: dict[str, Any] = {
        "id": f"sub_{username}",
        "tenant_id": TENANT,
        "username": username,
        "password_enc": rt.box.encrypt(kw.pop("password", f"pw-{username}")),
        "status": "active",
        "connection_type": "pppoe",
        "gateway_id": gateway.id if gateway else None,
        "product_id": "prod_10",
        "created_at": now_iso(),
    }
    values.update(kw)
    sub = Subscriber(login=f"{TENANT}#{username.lower()}", **values)
    sub.save()
    return sub


def reload(sub: Subscriber) -> Subscriber:
    return Subscriber.get(sub.login)


def update(sub: Subscriber, **changes: Any) -> Subscriber:
    sub.update(actions=[getattr(Subscriber, k).set(v) for k, v in changes.items()])
    return reload(sub)


def drain(rt: Runtime, max_polls: int = 500, stats: ClientStats | None = None) -> int:
    """Run the worker until the queue is empty (retries included); returns the batches processed."""
    batches = 0
    empty = 0
    while batches < max_polls:
        got = poll_once(rt, 0, stats)
        if got:
            batches += 1
            empty = 0
        else:
            empty += 1
            if empty >= 2:
                break
    return batches


def queue_depth(rt: Runtime) -> tuple[int, int]:
    """Messages left (visible + in flight) in the queue and in the DLQ."""
    sqs = rt.aws.client("sqs")
    out = []
    for url in queue_urls(rt):
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        out.append(int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"]))
    return out[0], out[1]


def rename(sub: Subscriber, new_username: str) -> Subscriber:
    """A username change: the item key (tenant#username) changes, the subscriber id does not."""
    values = {k: v for k, v in sub.attribute_values.items() if k not in ("login", "username")}
    new = Subscriber(login=f"{sub.tenant_id}#{new_username.lower()}", username=new_username, **values)
    new.save()
    sub.delete()
    return new


class LambdaFifoDelivery:
    """What the SQS FIFO event source does for the provisioner Lambda, without a queue service:
    batches of up to 10 messages of one group in order, failed records (``batchItemFailures``)
    delivered again with their receive count incremented, moved to the DLQ after
    ``max_receive`` deliveries. moto's SQS costs O(queue depth) per call, which makes 500-message
    scenarios slow; the smaller SQS tests go through moto."""

    def __init__(self, rt: Runtime, max_receive: int = 5) -> None:
        self.rt = rt
        self.max_receive = max_receive
        self.pending: list[dict[str, Any]] = []
        self.dlq: list[dict[str, Any]] = []
        self.batches = 0

    def send(self, task: ProvisioningTask) -> None:
        from services.network.triggers import message_body

        self.pending.append(
            {
                "messageId": f"{task.id}-1",
                "receiptHandle": None,
                "body": json.dumps(message_body(task)),
                "attributes": {
                    "ApproximateReceiveCount": "0",
                    "MessageGroupId": task.gateway_id,
                    "MessageDeduplicationId": f"{task.id}-1",
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
            }
        )

    def deliver_once(self, stats: ClientStats | None = None) -> int:
        from provisioner.handler import process_batch

        if not self.pending:
            return 0
        group = self.pending[0]["attributes"]["MessageGroupId"]
        batch = [r for r in self.pending if r["attributes"]["MessageGroupId"] == group][:10]
        for r in batch:
            r["attributes"]["ApproximateReceiveCount"] = str(
                int(r["attributes"]["ApproximateReceiveCount"]) + 1
            )
        out = process_batch(self.rt, {"Records": batch}, stats=stats)
        failed = {f["itemIdentifier"] for f in out["batchItemFailures"]}
        self.batches += 1
        for r in batch:
            if r["messageId"] not in failed:
                self.pending.remove(r)
            elif int(r["attributes"]["ApproximateReceiveCount"]) >= self.max_receive:
                self.pending.remove(r)
                self.dlq.append(r)
        return len(batch)

    def drain(self, max_batches: int = 10_000) -> None:
        while self.pending and self.batches < max_batches:
            self.deliver_once()


def many_subscribers(rt: Runtime, gateway: Gateway, n: int, status: str = "active") -> list[Subscriber]:
    """``n`` PPPoE services on one router, written in batches (mass-action tests and the bench)."""
    subs = []
    now = now_iso()
    with Subscriber.batch_write() as batch:
        for i in range(n):
            name = f"c{i:05d}"
            sub = Subscriber(
                login=f"{TENANT}#{name}",
                id=f"sub_{name}",
                tenant_id=TENANT,
                username=name,
                password_enc=rt.box.encrypt(f"pw{i}"),
                status=status,
                connection_type="pppoe",
                gateway_id=gateway.id,
                product_id="prod_10",
                ip=f"10.{20 + i // 250}.{i % 250}.10",
                created_at=now,
            )
            batch.save(sub)
            subs.append(sub)
    return subs
