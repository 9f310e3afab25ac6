"""Provisioning tasks and the reads the provisioner needs (gateways, subscribers, catalogue).

A :class:`ProvisioningTask` row is written for every trigger sent to the provisioning queue and is
updated by the worker: ``queued`` → ``succeeded`` | ``failed`` (retried, or a conflict to fix) |
``dead`` (retries exhausted, message in the DLQ). The row is also the idempotency record of the
message: a duplicate delivery of a message whose run already succeeded is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from core.errors import NotFoundError, ValidationError
from core.ids import new_id, now_iso
from store import subscribers as subscriber_store
from store.models import Counter, Gateway, Policy, Product, ProvisioningTask, Subscriber, Tenant

TASK_STATUSES = ("queued", "running", "succeeded", "failed", "dead")


@dataclass(frozen=True)
class TaskPage:
    items: list[ProvisioningTask]
    last_key: dict[str, Any] | None  # where the next page starts (the service signs it into a token)


# ---------------------------------------------------------------- tasks
def new_task(
    *,
    tenant_id: str,
    gateway_id: str,
    kind: str,
    subscriber_id: str | None,
    reason: str,
    actor: str,
    target: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> ProvisioningTask:
    """A queued task, not saved yet (see :func:`save_tasks` for many at once)."""
    now = now_iso()
    asked: dict[str, Any] = {"reason": reason, "actor": actor, "run": 1}
    if target:
        asked["target"] = target
    if options:
        asked["options"] = options
    return ProvisioningTask(
        id=new_id("task"),
        tenant_id=tenant_id,
        gateway_id=gateway_id,
        kind=kind,
        subscriber_id=subscriber_id,
        status="queued",
        attempts=0,
        result=asked,
        created_at=now,
        updated_at=now,
    )


def create_task(
    *,
    tenant_id: str,
    gateway_id: str,
    kind: str,
    subscriber_id: str | None,
    reason: str,
    actor: str,
    target: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> ProvisioningTask:
    """Record a new queued task (``result`` keeps what was asked: reason, actor, run number, options)."""
    task = new_task(
        tenant_id=tenant_id,
        gateway_id=gateway_id,
        kind=kind,
        subscriber_id=subscriber_id,
        reason=reason,
        actor=actor,
        target=target,
        options=options,
    )
    task.save(condition=ProvisioningTask.id.does_not_exist())
    return task


def get_task(task_id: str) -> ProvisioningTask:
    try:
        return ProvisioningTask.get(task_id)
    except DoesNotExist as exc:
        raise NotFoundError(f"task {task_id} not found") from exc


def find_task(task_id: str) -> ProvisioningTask | None:
    try:
        return ProvisioningTask.get(task_id)
    except DoesNotExist:
        return None


def mark_finished(
    task: ProvisioningTask,
    *,
    status: str,
    error: str | None = None,
    category: str | None = None,
    summary: dict[str, Any] | None = None,
    done_run: int | None = None,
) -> None:
    """Store the outcome; ``summary`` goes into ``result`` (changes applied...), and ``done_run`` is the
    run that succeeded (a later duplicate delivery of that run is then skipped)."""
    result = dict(task.result or {})
    if summary is not None:
        result["summary"] = summary
    if done_run is not None:
        result["done_run"] = max(done_run, int(result.get("done_run", 0)))
    actions: list[Any] = [
        ProvisioningTask.status.set(status),
        ProvisioningTask.updated_at.set(now_iso()),
        ProvisioningTask.result.set(result),
    ]
    if error is None:
        actions += [ProvisioningTask.last_error.remove(), ProvisioningTask.error_category.remove()]
    else:
        actions += [
            ProvisioningTask.last_error.set(error[:1000]),
            ProvisioningTask.error_category.set(category or "router"),
        ]
    task.update(actions=actions)


def finish_task(
    task: ProvisioningTask,
    *,
    status: str,
    error: str | None = None,
    category: str | None = None,
    summary: dict[str, Any] | None = None,
    done_run: int | None = None,
) -> None:
    """Like :func:`mark_finished`, in memory only: the worker saves a router's tasks together."""
    result = dict(task.result or {})
    if summary is not None:
        result["summary"] = summary
    if done_run is not None:
        result["done_run"] = max(done_run, int(result.get("done_run", 0)))
    task.status = status
    task.result = result
    task.last_error = error[:1000] if error else None
    task.error_category = (category or "router") if error else None
    task.updated_at = now_iso()


def save_tasks(tasks: list[ProvisioningTask]) -> None:
    """Write tasks in batches (the provisioner is the only writer of a task while it runs)."""
    if not tasks:
        return
    with ProvisioningTask.batch_write() as batch:
        for task in tasks:
            batch.save(task)


def requeue(task: ProvisioningTask, actor: str) -> int:
    """Put a task back to ``queued`` for a new run; returns the run number (part of the message id)."""
    result = dict(task.result or {})
    run = int(result.get("run", 1)) + 1
    result["run"] = run
    result["rerun_by"] = actor
    task.update(
        actions=[
            ProvisioningTask.status.set("queued"),
            ProvisioningTask.attempts.set(0),
            ProvisioningTask.result.set(result),
            ProvisioningTask.updated_at.set(now_iso()),
        ]
    )
    return run


def list_tasks(
    *,
    tenant_id: str | None = None,
    gateway_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    start: dict[str, Any] | None = None,
) -> TaskPage:
    """Newest first, per gateway (gateway index) or per tenant (tenant index), optional status filter."""
    if status is not None and status not in TASK_STATUSES:
        raise ValidationError(f"status must be one of {', '.join(TASK_STATUSES)}", field="status")
    cond = ProvisioningTask.status == status if status else None
    if gateway_id:
        result = ProvisioningTask.gateway_index.query(
            gateway_id, filter_condition=cond, scan_index_forward=False, limit=limit, last_evaluated_key=start
        )
    elif tenant_id:
        result = ProvisioningTask.tenant_index.query(
            tenant_id, filter_condition=cond, scan_index_forward=False, limit=limit, last_evaluated_key=start
        )
    else:
        raise ValidationError("a gateway or a tenant is required", field="gateway_id")
    items = list(result)
    if tenant_id and gateway_id:
        items = [t for t in items if t.tenant_id == tenant_id]
    return TaskPage(items=items, last_key=result.last_evaluated_key)


def iter_gateway_tasks(gateway_id: str, status: str | None = None) -> Iterator[ProvisioningTask]:
    cond = ProvisioningTask.status == status if status else None
    yield from ProvisioningTask.gateway_index.query(gateway_id, filter_condition=cond)


# ---------------------------------------------------------------- reads for the provisioner
def get_gateway(gateway_id: str) -> Gateway:
    try:
        return Gateway.get(gateway_id)
    except DoesNotExist as exc:
        raise NotFoundError(f"gateway {gateway_id} not found", field="gateway_id") from exc


def find_gateway(gateway_id: str) -> Gateway | None:
    try:
        return Gateway.get(gateway_id)
    except DoesNotExist:
        return None


def find_tenant(tenant_id: str) -> Tenant | None:
    try:
        return Tenant.get(tenant_id)
    except DoesNotExist:
        return None


def find_subscriber(subscriber_id: str) -> Subscriber | None:
    """By id (the id index gives the key, the item is read by it)."""
    return subscriber_store.get_by_id(subscriber_id)


def find_subscribers(logins_by_id: dict[str, str | None]) -> dict[str, Subscriber | None]:
    """Subscribers by id, read in batches by their key when the login is known (the trigger carries
    it); a renamed or unknown one is looked up by id."""
    out: dict[str, Subscriber | None] = {}
    keys = {login for login in logins_by_id.values() if login}
    by_login = {s.login: s for s in Subscriber.batch_get(list(keys))} if keys else {}
    for sub_id, login in logins_by_id.items():
        sub = by_login.get(login or "")
        out[sub_id] = sub if sub is not None and sub.id == sub_id else find_subscriber(sub_id)
    return out


def get_subscriber(subscriber_id: str) -> Subscriber:
    sub = find_subscriber(subscriber_id)
    if sub is None:
        raise NotFoundError(f"subscriber {subscriber_id} not found", field="subscriber_id")
    return sub


def gateway_subscribers(gateway: Gateway) -> list[Subscriber]:
    """Every subscriber service assigned to a router (gateway index: reads proportional to the router's
    subscribers, whatever the size of the tenant)."""
    keys = Subscriber.gateway_index.query(gateway.id)
    return [s for s in subscriber_store.by_logins(k.login for k in keys) if s.tenant_id == gateway.tenant_id]


def list_gateways(tenant_id: str | None = None) -> Iterator[Gateway]:
    """Routers of one tenant, or of every tenant (the periodic sweep)."""
    if tenant_id:
        yield from Gateway.tenant_index.query(tenant_id)
    else:
        yield from Gateway.scan()


class Catalogue:
    """Products and policies read once per batch (many subscribers share a few plans)."""

    def __init__(self) -> None:
        self._products: dict[str, Product | None] = {}
        self._policies: dict[str, Policy | None] = {}

    def product(self, product_id: str | None) -> Product | None:
        if not product_id:
            return None
        if product_id not in self._products:
            try:
                self._products[product_id] = Product.get(product_id)
            except DoesNotExist:
                self._products[product_id] = None
        return self._products[product_id]

    def policy(self, policy_id: str | None) -> Policy | None:
        if not policy_id:
            return None
        if policy_id not in self._policies:
            try:
                self._policies[policy_id] = Policy.get(policy_id)
            except DoesNotExist:
                self._policies[policy_id] = None
        return self._policies[policy_id]

    def preload(self, product_ids: Iterable[str | None]) -> None:
        """Fetch the products (and their policies) of many subscribers in batch reads."""
        wanted = {p for p in product_ids if p and p not in self._products}
        if wanted:
            found = {p.id: p for p in Product.batch_get(list(wanted))}
            for pid in wanted:
                self._products[pid] = found.get(pid)
        pol_ids = {p.policy_id for p in self._products.values() if p and p.policy_id}
        pol_wanted = {p for p in pol_ids if p not in self._policies}
        if pol_wanted:
            found_pol = {p.id: p for p in Policy.batch_get(list(pol_wanted))}
            for pid in pol_wanted:
                self._policies[pid] = found_pol.get(pid)


def set_router_state(subscriber: Subscriber, state: dict[str, Any]) -> None:
    """Remember what was last pushed to the router (names for renames, removal marker)."""
    try:
        subscriber.update(
            actions=[Subscriber.router_state.set(state)],
            condition=Subscriber.login.exists(),
        )
    except UpdateError:
        # the subscriber was deleted meanwhile: nothing to remember
        return


def next_counter(name: str) -> int:
    """Atomically increment a named counter and return the new value (VPN address allocation)."""
    counter = Counter(name=name)
    counter.update(actions=[Counter.value.add(1)])
    return int(counter.value)


def save_onboarding(
    gateway: Gateway,
    *,
    vpn_address: str,
    vpn_public_key: str,
    api_username: str,
    api_password_enc: str,
    api_port: int,
    nas_ip: str,
) -> None:
    """Record what the onboarding script configures on the router (the tunnel's public key for the hub,
    the router's VPN address, the API credentials the provisioner uses there)."""
    gateway.update(
        actions=[
            Gateway.vpn_address.set(vpn_address),
            Gateway.vpn_public_key.set(vpn_public_key),
            Gateway.api_host.set(vpn_address),
            Gateway.api_username.set(api_username),
            Gateway.api_password_enc.set(api_password_enc),
            Gateway.api_port.set(api_port),
            Gateway.nas_ip.set(nas_ip),
            Gateway.updated_at.set(now_iso()),
        ]
    )
