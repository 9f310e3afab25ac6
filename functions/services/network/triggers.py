"""Provisioning triggers: "reconcile subscriber S on router R", "reconcile router R", "remove S from R".

A trigger never carries data to write: the worker reads the desired state from DynamoDB and the
actual state from the router, and applies the difference. Each trigger is a :class:`ProvisioningTask`
row (visible through the admin API) plus one SQS FIFO message whose group is the router, so the
changes for one router are applied in order while routers proceed independently.
"""

from __future__ import annotations

import json
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from shared.observability import get_logger
from shared.runtime import Runtime
from store import provisioning as repo
from store.models import Gateway, ProvisioningTask, Subscriber

log = get_logger("provisioner")

MAX_RECEIVE_COUNT = 5  # deliveries before SQS moves a message to the DLQ
VISIBILITY_TIMEOUT_S = 60

KIND_SUBSCRIBER = "reconcile_subscriber"
KIND_ROUTER = "reconcile_router"
KIND_REMOVE = "remove_subscriber"
KIND_BLOCK_RULES = "install_block_rules"
KINDS = (KIND_SUBSCRIBER, KIND_ROUTER, KIND_REMOVE, KIND_BLOCK_RULES)

# Identity of a removed service: enough to find its router objects, nothing to write.
_IDENTITY_FIELDS = ("subscriber_id", "id", "tenant_id", "username", "connection_type", "ip", "mac")


@dataclass(frozen=True)
class SyncRequest:
    status: str  # "queued" | "api_disabled" | "no_gateway"
    task_id: str | None
    gateway_id: str | None
    warning: str | None


def api_disabled_warning(gateway: Gateway) -> str:
    return (
        f"The router API is disabled for {gateway.name}: the change was made only in the system; "
        "the router was not changed."
    )


def _not_provisionable(gateway: Gateway) -> SyncRequest | None:
    """Gateways the provisioner must never contact (SPEC S4: API disabled; non-MikroTik NAS)."""
    if not gateway.api_enabled:
        return SyncRequest("api_disabled", None, gateway.id, api_disabled_warning(gateway))
    if (gateway.vendor or "mikrotik") != "mikrotik":
        return SyncRequest(
            "api_disabled",
            None,
            gateway.id,
            f"{gateway.name} is not a MikroTik router: the change was made only in the system; "
            "the router was not changed.",
        )
    return None


# ---------------------------------------------------------------- queues
_urls: weakref.WeakKeyDictionary[Any, tuple[str, str]] = weakref.WeakKeyDictionary()
_urls_lock = threading.Lock()


def ensure_queues(rt: Runtime) -> tuple[str, str]:
    """Create the provisioning FIFO queue and its DLQ (redrive after 5 receives) if missing.

    Returns ``(queue_url, dlq_url)``. In the cloud the stack creates both and
    ``settings.provision_queue_url`` is set; the local stack and tests create them here.
    """
    sqs = rt.aws.client("sqs")
    s = rt.settings
    attrs = {"FifoQueue": "true", "ContentBasedDeduplication": "false"}
    dlq_url = sqs.create_queue(
        QueueName=s.provision_dlq_name, Attributes={**attrs, "MessageRetentionPeriod": "1209600"}
    )["QueueUrl"]
    if s.provision_queue_url:
        return s.provision_queue_url, dlq_url
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)})
    queue_url = sqs.create_queue(
        QueueName=s.provision_queue_name,
        Attributes={**attrs, "VisibilityTimeout": str(VISIBILITY_TIMEOUT_S), "RedrivePolicy": redrive},
    )["QueueUrl"]
    return queue_url, dlq_url


def queue_urls(rt: Runtime) -> tuple[str, str]:
    """Both queue URLs (local stack and tests: the queues are created when missing)."""
    with _urls_lock:
        found = _urls.get(rt.aws)
        if found is None:
            if rt.settings.provision_queue_url:
                sqs = rt.aws.client("sqs")
                dlq = sqs.get_queue_url(QueueName=rt.settings.provision_dlq_name)["QueueUrl"]
                found = (rt.settings.provision_queue_url, dlq)
            else:
                found = ensure_queues(rt)
            _urls[rt.aws] = found
        return found


def queue_url(rt: Runtime) -> str:
    """The trigger queue's URL: from the settings in the cloud (no lookup, no access to the DLQ
    needed), created on first use locally."""
    return rt.settings.provision_queue_url or queue_urls(rt)[0]


def message_body(task: ProvisioningTask, run: int = 1) -> dict[str, Any]:
    body: dict[str, Any] = {
        "v": 1,
        "kind": task.kind,
        "task_id": task.id,
        "run": run,
        "tenant_id": task.tenant_id,
        "gateway_id": task.gateway_id,
    }
    if task.subscriber_id:
        body["subscriber_id"] = task.subscriber_id
    target = (task.result or {}).get("target")
    if target:
        body["identity"] = target
    options = (task.result or {}).get("options")
    if options:
        body["options"] = options
    return body


def send_trigger(rt: Runtime, task: ProvisioningTask, run: int = 1) -> None:
    """Send the SQS message of a task (group = router, deduplication = task id and run)."""
    rt.aws.client("sqs").send_message(
        QueueUrl=queue_url(rt),
        MessageBody=json.dumps(message_body(task, run), separators=(",", ":")),
        MessageGroupId=task.gateway_id,
        MessageDeduplicationId=f"{task.id}-{run}",
    )


def _enqueue(
    rt: Runtime,
    gateway: Gateway,
    kind: str,
    subscriber_id: str | None,
    reason: str,
    actor: str,
    target: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> SyncRequest:
    task = repo.create_task(
        tenant_id=gateway.tenant_id,
        gateway_id=gateway.id,
        kind=kind,
        subscriber_id=subscriber_id,
        reason=reason,
        actor=actor,
        target=target,
        options=options,
    )
    try:
        send_trigger(rt, task)
    except Exception as exc:  # the change is saved; the task shows the failure and the sweep repairs it
        log.exception("provisioning trigger not sent", extra={"task_id": task.id, "gateway_id": gateway.id})
        repo.mark_finished(
            task, status="failed", error=f"queue unavailable: {type(exc).__name__}", category="queue"
        )
        return SyncRequest(
            "queued",
            task.id,
            gateway.id,
            "The change was saved but could not be queued for the router; it is listed as a failed task "
            "and the next router sweep or a re-run applies it.",
        )
    return SyncRequest("queued", task.id, gateway.id, None)


# ---------------------------------------------------------------- public triggers
def request_subscriber_sync(
    rt: Runtime, subscriber: Subscriber, reason: str, actor: str = "system"
) -> SyncRequest:
    """Ask the provisioner to bring the subscriber's router in line with the system (create, update,
    suspend, reactivate, rename, migrate to this router, cancel keeping the IP)."""
    gateway = repo.find_gateway(subscriber.gateway_id) if subscriber.gateway_id else None
    if gateway is None:
        return SyncRequest("no_gateway", None, None, None)
    blocked = _not_provisionable(gateway)
    if blocked is not None:
        return blocked
    return _enqueue(
        rt, gateway, KIND_SUBSCRIBER, subscriber.id, reason, actor, target={"login": subscriber.login}
    )


def request_subscribers_sync(
    rt: Runtime, subscribers: list[Subscriber], reason: str, actor: str = "system"
) -> list[SyncRequest]:
    """:func:`request_subscriber_sync` for many services at once (mass actions): tasks written in
    batches and messages sent ten at a time; one result per subscriber, in order."""
    gateways: dict[str, Gateway | None] = {}
    out: list[SyncRequest] = []
    tasks: list[ProvisioningTask] = []
    for sub in subscribers:
        gid = sub.gateway_id or ""
        if gid and gid not in gateways:
            gateways[gid] = repo.find_gateway(gid)
        gateway = gateways.get(gid)
        if gateway is None:
            out.append(SyncRequest("no_gateway", None, None, None))
            continue
        blocked = _not_provisionable(gateway)
        if blocked is not None:
            out.append(blocked)
            continue
        task = repo.new_task(
            tenant_id=gateway.tenant_id,
            gateway_id=gateway.id,
            kind=KIND_SUBSCRIBER,
            subscriber_id=sub.id,
            reason=reason,
            actor=actor,
            target={"login": sub.login},
        )
        tasks.append(task)
        out.append(SyncRequest("queued", task.id, gateway.id, None))
    repo.save_tasks(tasks)
    sqs = rt.aws.client("sqs")
    url = queue_url(rt)
    failed: set[str] = set()
    for start in range(0, len(tasks), 10):
        chunk = tasks[start : start + 10]
        try:
            resp = sqs.send_message_batch(
                QueueUrl=url,
                Entries=[
                    {
                        "Id": str(i),
                        "MessageBody": json.dumps(message_body(t), separators=(",", ":")),
                        "MessageGroupId": t.gateway_id,
                        "MessageDeduplicationId": f"{t.id}-1",
                    }
                    for i, t in enumerate(chunk)
                ],
            )
            failed.update(chunk[int(f["Id"])].id for f in resp.get("Failed") or [])
        except Exception:
            log.exception("provisioning triggers not sent", extra={"tasks": len(chunk)})
            failed.update(t.id for t in chunk)
    if failed:
        for t in tasks:
            if t.id in failed:
                repo.finish_task(t, status="failed", error="queue unavailable", category="queue")
        repo.save_tasks([t for t in tasks if t.id in failed])
        warning = (
            "The change was saved but could not be queued for the router; it is listed as a failed task "
            "and the next router sweep or a re-run applies it."
        )
        out = [
            SyncRequest(r.status, r.task_id, r.gateway_id, warning) if r.task_id in failed else r for r in out
        ]
    return out


def request_router_sync(rt: Runtime, gateway: Gateway, reason: str, actor: str = "system") -> SyncRequest:
    """Ask for a full reconcile of one router (export clients to router, periodic sweep, mass actions)."""
    blocked = _not_provisionable(gateway)
    if blocked is not None:
        return blocked
    return _enqueue(rt, gateway, KIND_ROUTER, None, reason, actor)


def request_subscriber_removal(
    rt: Runtime, subscriber_snapshot: dict[str, Any], gateway_id: str, reason: str, actor: str = "system"
) -> SyncRequest:
    """Remove a service's objects from a router (delete system + router, cancel releasing the IP).

    ``subscriber_snapshot`` is the subscriber as it was (``Subscriber.to_simple_dict()`` or a dict with
    at least ``id``); only its identity is kept: the worker removes the router objects it tagged for
    that subscriber id, and nothing an operator made by hand.
    """
    gateway = repo.find_gateway(gateway_id) if gateway_id else None
    if gateway is None:
        return SyncRequest("no_gateway", None, None, None)
    blocked = _not_provisionable(gateway)
    if blocked is not None:
        return blocked
    identity = {k: subscriber_snapshot[k] for k in _IDENTITY_FIELDS if subscriber_snapshot.get(k) is not None}
    sub_id = identity.pop("subscriber_id", None) or identity.get("id")
    if not sub_id:
        raise ValueError("subscriber_snapshot needs the subscriber id")
    identity["id"] = sub_id
    return _enqueue(rt, gateway, KIND_REMOVE, str(sub_id), reason, actor, target=identity)


def request_export(
    rt: Runtime,
    gateway: Gateway,
    subscriber_ids: list[str] | None,
    actor: str,
    *,
    adopt: bool = False,
    prune: bool = False,
) -> list[SyncRequest]:
    """ "Export clients to router" (SPEC S4): the whole router, or the chosen services of it.

    ``adopt`` takes over objects made by hand that hold a service's name or address (they get the
    marker and the system's values); ``prune`` (whole router only) removes the provisioner's objects
    of services no longer assigned to this router.
    """
    blocked = _not_provisionable(gateway)
    if blocked is not None:
        return [blocked]
    options = {k: v for k, v in (("adopt", adopt), ("prune", prune)) if v}
    if subscriber_ids is None:
        return [_enqueue(rt, gateway, KIND_ROUTER, None, "export clients to router", actor, options=options)]
    options.pop("prune", None)
    return [
        _enqueue(rt, gateway, KIND_SUBSCRIBER, sid, "export clients to router", actor, options=options)
        for sid in subscriber_ids
    ]


def request_block_rules(rt: Runtime, gateway: Gateway, actor: str = "system") -> SyncRequest:
    """Ask for the blocked-list firewall filter + NAT rules to be installed on a router."""
    blocked = _not_provisionable(gateway)
    if blocked is not None:
        return blocked
    return _enqueue(rt, gateway, KIND_BLOCK_RULES, None, "install block rules", actor)


def request_rerun(rt: Runtime, task: ProvisioningTask, actor: str) -> SyncRequest:
    """Send a task again (admin re-run): same task row, next run number, fresh message."""
    gateway = repo.find_gateway(task.gateway_id)
    if gateway is None:
        return SyncRequest("no_gateway", task.id, task.gateway_id, None)
    blocked = _not_provisionable(gateway)
    if blocked is not None:
        return SyncRequest(blocked.status, task.id, gateway.id, blocked.warning)
    run = repo.requeue(task, actor)
    send_trigger(rt, task, run)
    return SyncRequest("queued", task.id, gateway.id, None)


def sweep_routers(rt: Runtime, tenant_id: str | None = None) -> list[SyncRequest]:
    """The periodic sweep: one router reconcile per provisionable gateway."""
    out = []
    for gateway in repo.list_gateways(tenant_id):
        if _not_provisionable(gateway) is None:
            out.append(request_router_sync(rt, gateway, "periodic sweep", "system"))
    return out
