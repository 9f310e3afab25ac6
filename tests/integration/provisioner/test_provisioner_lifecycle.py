"""Provisioner end to end: triggers → SQS (moto) → worker/Lambda code path → librouteros → fake
RouterOS over TCP. For each connection type: create, update, suspend, reactivate, rename, migrate,
cancel and delete, with the router's menus asserted afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from services.network.triggers import request_router_sync, request_subscriber_removal, request_subscriber_sync
from shared.runtime import Runtime
from store.models import Gateway, ProvisioningTask
from tests.fakes.provisioning import (
    drain,
    make_subscriber,
    reload,
    rename,
    router_gateway,
    update,
)
from tests.fakes.routeros import FakeRouter

SECRET, HS_USER, HS_ACTIVE, PPP_ACTIVE = (
    "/ppp/secret",
    "/ip/hotspot/user",
    "/ip/hotspot/active",
    "/ppp/active",
)
QUEUE, ALIST, ARP = "/queue/simple", "/ip/firewall/address-list", "/ip/arp"


@pytest.fixture
def router_a() -> Iterator[FakeRouter]:
    with FakeRouter(username="wispcloud", password="clave-ñandú") as r:  # UTF-8 credentials
        yield r


@pytest.fixture
def router_b() -> Iterator[FakeRouter]:
    with FakeRouter(username="wispcloud", password="other-pass") as r:
        yield r


def sync(rt: Runtime, sub, reason: str = "test") -> ProvisioningTask:
    req = request_subscriber_sync(rt, reload(sub), reason)
    assert req.status == "queued", req
    drain(rt)
    task = ProvisioningTask.get(req.task_id)
    assert task.status == "succeeded", (task.status, task.last_error)
    return task


def remove(rt: Runtime, snapshot: dict, gateway_id: str) -> None:
    req = request_subscriber_removal(rt, snapshot, gateway_id, "delete")
    assert req.status == "queued"
    drain(rt)
    assert ProvisioningTask.get(req.task_id).status == "succeeded"


def blocked(router: FakeRouter) -> list[str]:
    return sorted(r["address"] for r in router.find(ALIST, list="morosos"))


def test_pppoe_lifecycle(rt, router_a, router_b):
    gw_a = router_gateway(rt, router_a, "gw_a")
    router_gateway(rt, router_b, "gw_b")
    hand_made = router_a.add_row(SECRET, name="tower-link", password="x", service="pppoe")
    hand_block = router_a.add_row(ALIST, list="morosos", address="10.99.0.1", comment="manual")

    # create: name, password, plan profile, remote address, marker
    sub = make_subscriber(rt, gw_a, "juan", ip="10.10.0.5", password="s3cret")
    sync(rt, sub, "create")
    [secret] = router_a.find(SECRET, name="juan")
    assert secret["password"] == "s3cret" and secret["profile"] == "plan-10M" and secret["service"] == "pppoe"
    assert secret["remote-address"] == "10.10.0.5" and secret["comment"] == "wisp:sub_juan"
    assert "local-address" not in secret and secret["disabled"] == "false"

    # update: password, plan and local address, in place
    sub = update(sub, password_enc=rt.box.encrypt("n3w"), product_id="prod_20", local_address="10.10.0.1")
    sync(rt, sub, "update")
    [updated] = router_a.find(SECRET, name="juan")
    assert updated[".id"] == secret[".id"]
    assert (updated["password"], updated["profile"], updated["local-address"]) == (
        "n3w",
        "plan-20M",
        "10.10.0.1",
    )

    # suspend: into the blocked list, the secret stays; reactivate: out again
    sub = update(sub, status="suspended")
    sync(rt, sub, "suspend")
    assert blocked(router_a) == ["10.10.0.5", "10.99.0.1"]
    assert router_a.find(ALIST, address="10.10.0.5")[0]["comment"] == "wisp:sub_juan"
    assert router_a.find(SECRET, name="juan")[0]["disabled"] == "false"
    sub = update(sub, status="active")
    sync(rt, sub, "reactivate")
    assert blocked(router_a) == ["10.99.0.1"]

    # rename: the same router object gets the new name
    sub = rename(sub, "juan.perez")
    sync(rt, sub, "rename")
    assert router_a.find(SECRET, name="juan") == []
    [renamed] = router_a.find(SECRET, name="juan.perez")
    assert renamed[".id"] == secret[".id"]

    # migrate to router B: exported there; router A keeps its entry (SPEC S4)
    sub = update(sub, gateway_id="gw_b")
    sync(rt, sub, "migrate")
    assert router_b.find(SECRET, name="juan.perez")[0]["remote-address"] == "10.10.0.5"
    assert len(router_a.find(SECRET, name="juan.perez")) == 1

    # cancel keeping the IP: suspended on the router
    sub = update(sub, status="cancelled")
    sync(rt, sub, "cancel keep ip")
    assert blocked(router_b) == ["10.10.0.5"]

    # cancel releasing the IP: the router entries go, and a later router sweep does not bring them back
    snapshot = reload(sub).to_simple_dict()
    sub = update(sub, ip="127.0.0.5")
    remove(rt, snapshot, "gw_b")
    assert router_b.find(SECRET) == [] and blocked(router_b) == []
    assert reload(sub).router_state["removed"] is True
    req = request_router_sync(rt, Gateway.get("gw_b"), "sweep")
    drain(rt)
    assert ProvisioningTask.get(req.task_id).status == "succeeded"
    assert router_b.find(SECRET) == []

    # delete system + router on the old router A; hand-made objects never touched
    snapshot = reload(sub).to_simple_dict()
    reload(sub).delete()
    remove(rt, snapshot, "gw_a")
    assert [r["name"] for r in router_a.find(SECRET)] == ["tower-link"]
    assert router_a.find(SECRET)[0][".id"] == hand_made
    assert [r[".id"] for r in router_a.find(ALIST)] == [hand_block]


def test_pppoe_delete_system_only_keeps_router_entries(rt, router_a):
    gw = router_gateway(rt, router_a)
    sub = make_subscriber(rt, gw, "ana", ip="10.10.0.9")
    sync(rt, sub)
    reload(sub).delete()
    req = request_subscriber_sync(rt, sub, "deleted in the system only")
    drain(rt)
    task = ProvisioningTask.get(req.task_id)
    assert task.status == "succeeded" and "kept" in task.result["summary"]["note"]
    assert len(router_a.find(SECRET, name="ana")) == 1


def test_pppoe_suspend_without_ip_disables_and_ends_session(rt, router_a):
    gw = router_gateway(rt, router_a)
    sub = make_subscriber(rt, gw, "pool-user")
    sync(rt, sub)
    assert "remote-address" not in router_a.find(SECRET, name="pool-user")[0]
    router_a.add_row(PPP_ACTIVE, name="pool-user", address="10.20.0.7", service="pppoe")
    router_a.add_row(PPP_ACTIVE, name="someone-else", address="10.20.0.8", service="pppoe")
    sub = update(sub, status="suspended")
    sync(rt, sub, "suspend")
    assert router_a.find(SECRET, name="pool-user")[0]["disabled"] == "true"
    assert [r["name"] for r in router_a.rows(PPP_ACTIVE)] == ["someone-else"]
    sub = update(sub, status="active")
    sync(rt, sub, "reactivate")
    assert router_a.find(SECRET, name="pool-user")[0]["disabled"] == "false"


def test_hotspot_lifecycle(rt, router_a, router_b):
    gw_a = router_gateway(rt, router_a, "gw_a", plan_type="hotspot")
    router_gateway(rt, router_b, "gw_b", plan_type="hotspot")
    sub = make_subscriber(
        rt,
        gw_a,
        "maria",
        connection_type="hotspot",
        ip="172.16.0.20",
        mac="aa:bb:cc:00:11:22",
        hotspot_server="hs-lobby",
        password="hola",
    )
    sync(rt, sub, "create")
    [user] = router_a.find(HS_USER, name="maria")
    assert (user["server"], user["address"], user["mac-address"], user["profile"], user["password"]) == (
        "hs-lobby",
        "172.16.0.20",
        "AA:BB:CC:00:11:22",
        "plan-10M",
        "hola",
    )

    sub = update(sub, ip=None, mac=None, hotspot_server="all", product_id="prod_20")
    sync(rt, sub, "update")
    [user2] = router_a.find(HS_USER, name="maria")
    assert user2[".id"] == user[".id"] and user2["server"] == "all" and user2["profile"] == "plan-20M"
    assert "address" not in user2 and "mac-address" not in user2

    router_a.add_row(HS_ACTIVE, user="maria", address="172.16.0.99", mac_address="AA:BB:CC:00:11:22")
    sub = update(sub, status="suspended")
    sync(rt, sub, "suspend")  # no fixed IP: the user is disabled and its session ended
    assert router_a.find(HS_USER, name="maria")[0]["disabled"] == "true"
    assert router_a.rows(HS_ACTIVE) == []
    sub = update(sub, status="active", ip="172.16.0.21")
    sync(rt, sub, "reactivate")
    assert router_a.find(HS_USER, name="maria")[0]["disabled"] == "false"
    sub = update(sub, status="suspended")
    sync(rt, sub, "suspend with ip")
    assert (
        blocked(router_a) == ["172.16.0.21"]
        and router_a.find(HS_USER, name="maria")[0]["disabled"] == "false"
    )
    sub = update(sub, status="active")
    sync(rt, sub, "reactivate")
    assert blocked(router_a) == []

    sub = rename(sub, "maria.g")
    sync(rt, sub, "rename")
    assert [u["name"] for u in router_a.find(HS_USER)] == ["maria.g"]

    sub = update(sub, gateway_id="gw_b")
    sync(rt, sub, "migrate")
    assert [u["name"] for u in router_b.find(HS_USER)] == ["maria.g"]

    sub = update(sub, status="cancelled")
    sync(rt, sub, "cancel")
    assert blocked(router_b) == ["172.16.0.21"]

    snapshot = reload(sub).to_simple_dict()
    reload(sub).delete()
    remove(rt, snapshot, "gw_b")
    remove(rt, snapshot, "gw_a")
    assert router_a.find(HS_USER) == [] and router_b.find(HS_USER) == [] and blocked(router_b) == []


def test_simple_queue_lifecycle(rt, router_a, router_b):
    gw_a = router_gateway(rt, router_a, "gw_a", plan_type="simple_queue", lan_interface="bridge-lan")
    router_gateway(rt, router_b, "gw_b", plan_type="simple_queue", lan_interface="ether5")
    sub = make_subscriber(
        rt, gw_a, "pedro", connection_type="simple_queue", ip="192.168.88.10", mac="00:11:22:33:44:55"
    )
    sync(rt, sub, "create")
    [queue] = router_a.find(QUEUE, name="pedro")
    # RouterOS prints rates in bit/s: upload/download = 2M/10M
    assert queue["target"] == "192.168.88.10/32" and queue["max-limit"] == "2000000/10000000"
    assert queue["burst-limit"] == "0/0"
    [arp] = router_a.find(ARP, address="192.168.88.10")
    assert arp["mac-address"] == "00:11:22:33:44:55" and arp["interface"] == "bridge-lan"
    assert arp["comment"] == "wisp:sub_pedro"

    # plan with burst, new IP
    sub = update(sub, product_id="prod_20", ip="192.168.88.11")
    task = sync(rt, sub, "update")
    [queue2] = router_a.find(QUEUE, name="pedro")
    assert queue2[".id"] == queue[".id"] and queue2["target"] == "192.168.88.11/32"
    assert queue2["max-limit"] == "4000000/20000000"
    assert (queue2["burst-limit"], queue2["burst-threshold"], queue2["burst-time"]) == (
        "6000000/30000000",
        "3000000/15000000",
        "10s/10s",
    )
    assert [a["address"] for a in router_a.find(ARP)] == ["192.168.88.11"]
    assert {c["action"] for c in task.result["summary"]["changes"]} == {"set"}

    # a second sync changes nothing (the router's normalised values compare equal)
    task = sync(rt, sub, "no-op")
    assert task.result["summary"]["changes"] == []

    sub = update(sub, status="suspended")
    sync(rt, sub, "suspend")
    assert blocked(router_a) == ["192.168.88.11"] and len(router_a.find(QUEUE)) == 1
    sub = update(sub, status="active", product_id="prod_10")
    sync(rt, sub, "reactivate")
    assert blocked(router_a) == [] and router_a.find(QUEUE)[0]["burst-limit"] == "0/0"

    sub = rename(sub, "pedro-casa")
    sync(rt, sub, "rename")
    assert [q["name"] for q in router_a.find(QUEUE)] == ["pedro-casa"]

    sub = update(sub, gateway_id="gw_b")
    sync(rt, sub, "migrate")
    assert router_b.find(QUEUE)[0]["name"] == "pedro-casa" and router_b.find(ARP)[0]["interface"] == "ether5"

    sub = update(sub, status="cancelled")
    sync(rt, sub, "cancel")
    assert blocked(router_b) == ["192.168.88.11"]
    snapshot = reload(sub).to_simple_dict()
    update(sub, ip="169.254.88.11")
    remove(rt, snapshot, "gw_b")
    assert router_b.find(QUEUE) == [] and router_b.find(ARP) == [] and blocked(router_b) == []

    snapshot = reload(sub).to_simple_dict()
    reload(sub).delete()
    remove(rt, snapshot, "gw_a")
    assert router_a.find(QUEUE) == [] and router_a.find(ARP) == []


def test_pcq_lifecycle(rt, router_a, router_b):
    gw_a = router_gateway(rt, router_a, "gw_a", plan_type="pcq")
    router_gateway(rt, router_b, "gw_b", plan_type="pcq")
    sub = make_subscriber(rt, gw_a, "lucia", connection_type="pcq", ip="10.50.0.3")
    sync(rt, sub, "create")
    assert [(r["list"], r["address"]) for r in router_a.find(ALIST)] == [("pcq-10M", "10.50.0.3")]

    sub = update(sub, product_id="prod_20")  # plan change: moves to the other PCQ list
    sync(rt, sub, "update")
    assert [(r["list"], r["address"]) for r in router_a.find(ALIST)] == [("pcq-20M", "10.50.0.3")]

    sub = update(sub, status="suspended")
    sync(rt, sub, "suspend")
    assert sorted((r["list"], r["address"]) for r in router_a.find(ALIST)) == [
        ("morosos", "10.50.0.3"),
        ("pcq-20M", "10.50.0.3"),
    ]
    sub = update(sub, status="active")
    sync(rt, sub, "reactivate")
    assert [r["list"] for r in router_a.find(ALIST)] == ["pcq-20M"]

    sub = update(rename(sub, "lucia2"), ip="10.50.0.4")
    sync(rt, sub, "rename + new ip")
    assert [(r["list"], r["address"]) for r in router_a.find(ALIST)] == [("pcq-20M", "10.50.0.4")]

    sub = update(sub, gateway_id="gw_b")
    sync(rt, sub, "migrate")
    assert [(r["list"], r["address"]) for r in router_b.find(ALIST)] == [("pcq-20M", "10.50.0.4")]

    sub = update(sub, status="cancelled")
    sync(rt, sub, "cancel")
    assert blocked(router_b) == ["10.50.0.4"]

    snapshot = reload(sub).to_simple_dict()
    reload(sub).delete()
    remove(rt, snapshot, "gw_b")
    remove(rt, snapshot, "gw_a")
    assert router_a.find(ALIST) == [] and router_b.find(ALIST) == []


def test_connection_type_change_replaces_objects(rt, router_a):
    gw = router_gateway(rt, router_a)
    sub = make_subscriber(rt, gw, "carlos", ip="10.10.0.30")
    sync(rt, sub)
    sub = update(sub, connection_type="simple_queue")
    sync(rt, sub, "now a simple queue")
    assert router_a.find(SECRET) == [] and router_a.find(QUEUE)[0]["target"] == "10.10.0.30/32"


@dataclass
class _LambdaContext:
    function_name: str = "wisp-provisioner"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:wisp-provisioner"
    aws_request_id: str = "req-1"


LAMBDA_CONTEXT = _LambdaContext()


def test_scheduled_sweep_and_lambda_entry_point(rt, router_a, router_b):
    from provisioner.handler import handle_provision_batch, handle_sweep
    from services.network.triggers import queue_urls

    gw_a = router_gateway(rt, router_a, "gw_a")
    router_gateway(rt, router_b, "gw_b", api_enabled=False)
    sub = make_subscriber(rt, gw_a, "rosa", ip="10.10.0.40")
    router_a.add_row(
        SECRET, name="rosa-old", comment="wisp:sub_rosa"
    )  # drifted by hand: renamed on the router

    # the schedule queues one reconcile per router whose API is enabled ...
    assert handle_sweep({}, LAMBDA_CONTEXT) == {"queued": 1}
    sqs = rt.aws.client("sqs")
    msgs = sqs.receive_message(
        QueueUrl=queue_urls(rt)[0],
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        MessageSystemAttributeNames=["All"],
    )["Messages"]
    assert [json.loads(m["Body"])["kind"] for m in msgs] == ["reconcile_router"]
    # ... and the Lambda handler applies it from the SQS event
    event = {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m["Attributes"],
                "messageAttributes": {},
                "eventSource": "aws:sqs",
            }
            for m in msgs
        ]
    }
    assert handle_provision_batch(event, LAMBDA_CONTEXT) == {"batchItemFailures": []}
    assert [r["name"] for r in router_a.find(SECRET)] == ["rosa"]
    assert router_a.find(SECRET)[0]["password"] == "pw-rosa"
    assert router_b.stats.connections == 0
    assert reload(sub).router_state == {}  # nothing the router cannot tell back
