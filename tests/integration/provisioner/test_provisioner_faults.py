"""Faults: router down during a mass suspension, retries, DLQ and the tenant's e-mail, wrong credentials,
timeouts, RouterOS traps, conflicts with hand-made objects, API disabled, duplicated and reordered
messages. Everything through SQS (moto), the worker's code path and librouteros over TCP."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from adapters.routeros import ClientStats
from infra.local.provisioner_worker import poll_once
from provisioner.handler import process_batch
from services.network.provisioning import export_to_router, rerun_failed
from services.network.triggers import (
    queue_urls,
    request_router_sync,
    request_subscriber_sync,
    request_subscribers_sync,
)
from shared.runtime import Runtime
from store import provisioning as repo
from store.models import Gateway, ProvisioningTask, Subscriber
from tests.fakes.provisioning import (
    TENANT,
    LambdaFifoDelivery,
    drain,
    make_subscriber,
    many_subscribers,
    queue_depth,
    reload,
    router_gateway,
    update,
)
from tests.fakes.routeros import FakeRouter

SECRET, ALIST = "/ppp/secret", "/ip/firewall/address-list"


@pytest.fixture
def router() -> Iterator[FakeRouter]:
    with FakeRouter(username="wispcloud", password="pw") as r:
        yield r


def tasks_by_status(ids: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in ProvisioningTask.batch_get(ids):
        out[t.status] = out.get(t.status, 0) + 1
    return out


def sent_emails() -> list:
    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def _provisioned(rt: Runtime, router: FakeRouter, n: int) -> tuple[Gateway, list[Subscriber]]:
    gw = router_gateway(rt, router)
    subs = many_subscribers(rt, gw, n)
    req = request_router_sync(rt, gw, "initial export")
    drain(rt)
    assert ProvisioningTask.get(req.task_id).status == "succeeded"
    assert len(router.rows(SECRET)) == n
    return gw, subs


def _assert_all_blocked_once(router: FakeRouter, subs: list[Subscriber]) -> None:
    listed = [r["address"] for r in router.find(ALIST, list="morosos")]
    assert len(listed) == len(subs) and set(listed) == {s.ip for s in subs}  # none lost, none twice
    assert len(router.rows(SECRET)) == len(subs)
    assert all(r["comment"] == f"wisp:{r['comment'][5:]}" for r in router.rows(ALIST))


@pytest.mark.slow
def test_router_goes_down_in_the_middle_of_a_mass_suspension_of_500(rt, router):
    # Given 500 PPPoE services provisioned on one router
    gw, subs = _provisioned(rt, router, 500)

    # When the billing cutoff suspends all 500 (one router trigger) and the router drops dead
    # after taking 200 of the changes, stays down for two more deliveries, then comes back
    subs = many_subscribers(rt, gw, 500, status="suspended")
    cut_at = subs[199].ip
    router.trap_on(
        "/ip/firewall/address-list/add",
        "router lost power",
        times=1,
        fatal=True,
        where=lambda attrs: attrs.get("address") == cut_at and (router.set_down(True) or True),
    )
    req = request_router_sync(rt, Gateway.get(gw.id), "cutoff")
    for _ in range(3):
        poll_once(rt, 0)
    task = ProvisioningTask.get(req.task_id)
    assert (task.status, task.error_category, int(task.attempts)) == ("failed", "unreachable", 3)
    assert 0 < len(router.find(ALIST, list="morosos")) < 500
    router.set_down(False)
    drain(rt)

    # Then every suspension is on the router exactly once, and nothing is left in the queues
    task = ProvisioningTask.get(req.task_id)
    assert task.status == "succeeded" and int(task.attempts) == 4
    _assert_all_blocked_once(router, subs)
    assert queue_depth(rt) == (0, 0)


@pytest.mark.slow
def test_router_down_during_mass_suspension_of_500_per_service_triggers(rt, router):
    # Given 500 PPPoE services provisioned on one router
    gw, subs = _provisioned(rt, router, 500)

    # When an operator suspends all 500 (mass action: one trigger per service, 50 FIFO batches)
    subs = many_subscribers(rt, gw, 500, status="suspended")
    delivery = LambdaFifoDelivery(rt)
    tasks = [
        repo.new_task(
            tenant_id=TENANT,
            gateway_id=gw.id,
            kind="reconcile_subscriber",
            subscriber_id=s.id,
            reason="mass suspension",
            actor="op_1",
            target={"login": s.login},
        )
        for s in subs
    ]
    repo.save_tasks(tasks)
    for t in tasks:
        delivery.send(t)
    # ... the router takes 12 batches, is down for 3 deliveries, then back
    for _ in range(12):
        delivery.deliver_once()
    router.set_down(True)
    for _ in range(3):
        delivery.deliver_once()
    failed = [t for t in ProvisioningTask.batch_get([t.id for t in tasks]) if t.status == "failed"]
    assert len(failed) == 10 and {t.error_category for t in failed} == {"unreachable"}
    router.set_down(False)
    delivery.drain()

    # Then all 500 applied, zero lost, zero duplicated
    assert tasks_by_status([t.id for t in tasks]) == {"succeeded": 500}
    assert delivery.dlq == [] and delivery.batches == 50 + 3
    _assert_all_blocked_once(router, subs)


def test_retries_exhausted_go_to_dlq_notify_tenant_and_sweep_repairs(rt, router):
    gw = router_gateway(rt, router)
    subs = many_subscribers(rt, gw, 12)
    router.set_down(True)
    task_ids = [str(r.task_id) for r in request_subscribers_sync(rt, subs, "create")]
    emails_before = len(sent_emails())
    drain(rt)

    # every task dead after 5 deliveries, messages in the DLQ, one e-mail per failed batch to the tenant
    tasks = list(ProvisioningTask.batch_get(task_ids))
    assert {t.status for t in tasks} == {"dead"}
    assert {t.error_category for t in tasks} == {"unreachable"} and {int(t.attempts) for t in tasks} == {5}
    assert queue_depth(rt) == (0, 12)
    new_mail = sent_emails()[emails_before:]
    assert new_mail and all(m.destinations["ToAddresses"] == ["noc@prov.example"] for m in new_mail)
    assert "could not be applied" in new_mail[0].subject and "connection refused" in new_mail[0].body

    # nothing is lost: once the router is back, the periodic sweep brings it in line ...
    router.set_down(False)
    req = request_router_sync(rt, Gateway.get(gw.id), "periodic sweep")
    drain(rt)
    assert ProvisioningTask.get(req.task_id).status == "succeeded"
    assert sorted(r["name"] for r in router.rows(SECRET)) == sorted(s.username for s in subs)

    # ... and re-running the failed tasks is harmless (they find nothing left to do)
    out = rerun_failed(rt, Gateway.get(gw.id), "op_1")
    assert out["requeued"] == 12
    drain(rt)
    assert tasks_by_status(task_ids) == {"succeeded": 12}
    assert len(router.rows(SECRET)) == 12


def test_wrong_credentials_are_an_auth_error(rt, router):
    gw = router_gateway(rt, router, api_password_enc=rt.box.encrypt("not-the-password"))
    sub = make_subscriber(rt, gw, "ana", ip="10.0.0.2")
    req = request_subscriber_sync(rt, sub, "create")
    poll_once(rt, 0)
    task = ProvisioningTask.get(req.task_id)
    assert (task.status, task.error_category) == ("failed", "auth")
    assert "refused the API credentials" in task.last_error and "not-the-password" not in task.last_error
    assert router.stats.failed_logins == 1 and router.rows(SECRET) == []


def test_timeout_is_recorded_and_retried(rt, router):
    gw = router_gateway(rt, router)
    sub = make_subscriber(rt, gw, "ana", ip="10.0.0.2")
    rt.settings.__dict__["router_api_timeout_s"] = 1  # frozen dataclass: a test-only override
    try:
        router.delay = 1.5
        req = request_subscriber_sync(rt, sub, "create")
        poll_once(rt, 0)
        task = ProvisioningTask.get(req.task_id)
        assert (task.status, task.error_category) == ("failed", "timeout")
        router.delay = 0
        drain(rt)
        assert ProvisioningTask.get(req.task_id).status == "succeeded"
    finally:
        rt.settings.__dict__["router_api_timeout_s"] = 2
    assert len(router.find(SECRET, name="ana")) == 1


def test_trap_fails_only_that_service_and_is_retried(rt, router):
    gw = router_gateway(rt, router)
    a = make_subscriber(rt, gw, "ana", ip="10.0.0.2", status="suspended")
    b = make_subscriber(rt, gw, "beto", ip="10.0.0.3", status="suspended")
    router.trap_on(
        "/ip/firewall/address-list/add",
        "failure: simulated",
        times=1,
        where=lambda attrs: attrs.get("address") == "10.0.0.2",
    )
    ta = request_subscriber_sync(rt, a, "suspend").task_id
    tb = request_subscriber_sync(rt, b, "suspend").task_id
    poll_once(rt, 0)
    task_a, task_b = ProvisioningTask.get(ta), ProvisioningTask.get(tb)
    assert (task_a.status, task_a.error_category) == ("failed", "trap")
    assert "failure: simulated" in task_a.last_error
    assert task_b.status == "succeeded"
    drain(rt)
    assert ProvisioningTask.get(ta).status == "succeeded"
    assert sorted(r["address"] for r in router.find(ALIST, list="morosos")) == ["10.0.0.2", "10.0.0.3"]


def test_fatal_mid_batch_is_unreachable_and_recovers(rt, router):
    gw = router_gateway(rt, router)
    sub = make_subscriber(rt, gw, "ana", ip="10.0.0.2")
    router.trap_on("/ppp/secret/add", "session terminated", times=1, fatal=True)
    req = request_subscriber_sync(rt, sub, "create")
    poll_once(rt, 0)
    assert ProvisioningTask.get(req.task_id).error_category == "unreachable"
    drain(rt)
    assert ProvisioningTask.get(req.task_id).status == "succeeded" and len(router.rows(SECRET)) == 1


def test_hand_made_conflict_is_reported_not_retried_then_adopted(rt, router):
    gw = router_gateway(rt, router)
    manual = router.add_row(SECRET, name="ana", password="old", service="any", comment="made by hand")
    sub = make_subscriber(rt, gw, "ana", ip="10.0.0.2")
    req = request_subscriber_sync(rt, sub, "create")
    drain(rt)
    task = ProvisioningTask.get(req.task_id)
    assert (task.status, task.error_category) == ("failed", "conflict") and int(task.attempts) == 1
    assert "made by hand" in task.last_error
    assert router.find(SECRET, name="ana")[0]["password"] == "old"  # untouched

    out = export_to_router(rt, Gateway.get(gw.id), "op_1", [sub.id], adopt=True)
    assert out["queued"] == 1
    drain(rt)
    [secret] = router.find(SECRET, name="ana")
    assert secret[".id"] == manual and secret["comment"] == "wisp:sub_ana" and secret["password"] == "pw-ana"


def test_api_disabled_router_is_never_contacted(rt, router):
    gw = router_gateway(rt, router, api_enabled=False, name="Torre Norte")
    sub = make_subscriber(rt, gw, "ana", ip="10.0.0.2")
    req = request_subscriber_sync(rt, sub, "create")
    assert req.status == "api_disabled" and req.task_id is None
    assert req.warning == (
        "The router API is disabled for Torre Norte: the change was made only in the system; "
        "the router was not changed."
    )
    # disabled after the trigger was queued: the task fails without contacting the router
    gw.update(actions=[Gateway.api_enabled.set(True)])
    req = request_subscriber_sync(rt, reload(sub), "create")
    gw.update(actions=[Gateway.api_enabled.set(False)])
    drain(rt)
    task = ProvisioningTask.get(req.task_id)
    assert (task.status, task.error_category) == ("failed", "api_disabled")
    assert router.stats.connections == 0


def test_tls_api(rt):
    with FakeRouter(username="wispcloud", password="pw", tls=True) as tls_router:
        gw = router_gateway(rt, tls_router, api_tls=True)
        sub = make_subscriber(rt, gw, "ana", ip="10.0.0.2")
        req = request_subscriber_sync(rt, sub, "create")
        drain(rt)
        assert ProvisioningTask.get(req.task_id).status == "succeeded"
        assert tls_router.find(SECRET, name="ana")[0]["remote-address"] == "10.0.0.2"


def _raw_messages(rt: Runtime) -> list[dict]:
    """Take every queued message out of SQS (as Lambda records) without processing them."""
    sqs = rt.aws.client("sqs")
    url = queue_urls(rt)[0]
    out: list[dict] = []
    while True:
        msgs = (
            sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            ).get("Messages")
            or []
        )
        if not msgs:
            return out
        for m in msgs:
            out.append(
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": None,
                    "body": m["Body"],
                    "attributes": m["Attributes"],
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                }
            )
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)],
        )


def _menus(router: FakeRouter) -> dict[str, list[tuple]]:
    out = {}
    for menu in (SECRET, ALIST, "/queue/simple", "/ip/hotspot/user"):
        out[menu] = sorted(
            tuple(sorted((k, v) for k, v in r.items() if k != ".id")) for r in router.rows(menu)
        )
    return out


def _scenario(rt: Runtime, gw: Gateway) -> list[dict]:
    """A day of changes on one router: creations, suspensions, reactivations, renames, plan and IP
    changes, a connection-type change. Each trigger is processed as it happens (the live router), and
    the messages are kept for replay."""
    from tests.fakes.provisioning import rename

    records: list[dict] = []

    def trigger(sub: Subscriber, reason: str) -> None:
        request_subscriber_sync(rt, sub, reason)
        got = _raw_messages(rt)
        assert process_batch(rt, {"Records": got})["batchItemFailures"] == []
        records.extend(got)

    subs = [make_subscriber(rt, gw, f"u{i}", ip=f"10.1.0.{i + 2}") for i in range(8)]
    for s in subs:
        trigger(s, "create")
    for i, s in enumerate(subs):
        if i % 2 == 0:
            s = update(s, status="suspended")
            trigger(s, "suspend")
        if i % 4 == 0:
            s = update(s, status="active")
            trigger(s, "reactivate")
        if i % 3 == 0:
            s = update(rename(s, f"user-{i}"), product_id="prod_20", ip=f"10.2.0.{i + 2}")
            trigger(s, "rename + plan + ip")
        if i == 7:
            s = update(s, connection_type="simple_queue")
            trigger(s, "now a simple queue")
    return records


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_duplicated_and_reordered_messages_reach_the_same_state(rt, seed):
    with (
        FakeRouter(username="wispcloud", password="pw") as in_order,
        FakeRouter(username="wispcloud", password="pw") as shuffled,
    ):
        gw = router_gateway(rt, in_order)
        records = _scenario(rt, gw)  # the reference: each message in order, as the changes happened
        assert len(records) == 8 + 4 + 2 + 3 + 1
        reference = _menus(in_order)
        assert len(reference[SECRET]) == 7 and len(reference["/queue/simple"]) == 1
        assert [dict(r)["address"] for r in reference[ALIST]] == ["10.1.0.4", "10.2.0.8"]
        assert {dict(r)["name"] for r in reference[SECRET]} >= {"user-0", "user-3", "user-6"}

        # the same messages against a blank router: duplicated, shuffled, in random batches
        for t in ProvisioningTask.scan():  # new runs, so the earlier success does not mark them duplicates
            t.update(actions=[ProvisioningTask.result.set({**(t.result or {}), "done_run": 0})])
        gw.update(actions=[Gateway.api_port.set(shuffled.port)])
        rng = random.Random(seed)
        noisy = [
            dict(r, messageId=f"{r['messageId']}-{k}") for r in records for k in range(rng.randint(1, 3))
        ]
        rng.shuffle(noisy)
        stats = ClientStats()
        while noisy:
            size = rng.randint(1, 10)
            batch, noisy = noisy[:size], noisy[size:]
            out = process_batch(rt, {"Records": batch}, stats=stats)
            assert out["batchItemFailures"] == []
        assert _menus(shuffled) == reference
        assert json.dumps(_menus(shuffled), sort_keys=True) == json.dumps(reference, sort_keys=True)
