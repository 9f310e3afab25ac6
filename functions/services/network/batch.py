"""One batch of provisioning messages: group by router, one connection per router, tasks updated.

Messages of one router (one SQS FIFO message group) are taken in order and cut into steps of the
same kind (subscriber reconciles, removals, router reconciles, block rules); each step is one read
and one apply on the router's single connection. Every message ends as:

* **done**: its task is ``succeeded`` (or ``failed`` for a conflict/incomplete data that a retry
  cannot fix: the operator sees it in the task list and re-runs it after fixing);
* **retry**: connection error, timeout, wrong credentials or a RouterOS trap: the task is ``failed``
  with its error, the message goes back to the queue with an exponential backoff, and after the
  last delivery the task is ``dead``, the message moves to the DLQ and the tenant gets an e-mail.

A duplicate delivery of a run that already succeeded is skipped; a reordered one is harmless since
every message only says *what* to reconcile and the state is read fresh from DynamoDB.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.routeros import ClientStats, RouterError, RouterTrap
from services.network import desired as d
from services.network.reconcile import Outcome, RouterSession, services_for, services_for_router
from services.network.triggers import (
    KIND_BLOCK_RULES,
    KIND_REMOVE,
    KIND_ROUTER,
    KIND_SUBSCRIBER,
    MAX_RECEIVE_COUNT,
    api_disabled_warning,
    queue_url,
)
from shared.observability import get_logger
from shared.runtime import Runtime
from store import provisioning as repo
from store.models import Gateway, ProvisioningTask, Subscriber

log = get_logger("provisioner")

MAX_BACKOFF_S = 900


class ProvisioningRetry(Exception):
    """Raised for a record that must go back to the queue (reported as a batch item failure)."""


@dataclass
class Message:
    message_id: str
    receipt_handle: str | None
    group: str
    receive_count: int
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def task_id(self) -> str | None:
        return self.body.get("task_id")

    @property
    def run(self) -> int:
        return int(self.body.get("run", 1))

    @property
    def subscriber_id(self) -> str | None:
        return self.body.get("subscriber_id")

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Message:
        attrs = record.get("attributes") or {}
        try:
            body = json.loads(record.get("body") or "{}")
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        return cls(
            message_id=record["messageId"],
            receipt_handle=record.get("receiptHandle"),
            group=str(attrs.get("MessageGroupId") or body.get("gateway_id") or ""),
            receive_count=int(attrs.get("ApproximateReceiveCount") or 1),
            body=body,
        )


@dataclass
class Result:
    status: str  # succeeded | failed | skipped
    retry: bool = False
    error: str | None = None
    category: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


FinalFailureHook = Callable[[Runtime, Gateway | None, list[ProvisioningTask]], None]


class BatchRun:
    """Outcomes of one batch, computed per router on the first record of that router."""

    def __init__(
        self,
        rt: Runtime,
        records: list[dict[str, Any]],
        *,
        on_final_failure: FinalFailureHook | None = None,
        stats: ClientStats | None = None,
    ) -> None:
        self.rt = rt
        self.messages = [Message.from_record(r) for r in records]
        self.results: dict[str, Result] = {}
        self.stats = stats or ClientStats()
        self._on_final_failure = on_final_failure
        self._groups_done: set[str] = set()
        self._dirty: dict[str, ProvisioningTask] = {}

    # ------------------------------------------------------------ record handler (powertools)
    def handle(self, record: Any) -> str:
        message_id = record["messageId"] if isinstance(record, dict) else record.message_id
        msg = next(m for m in self.messages if m.message_id == message_id)
        if msg.group not in self._groups_done:
            self._groups_done.add(msg.group)
            self._run_group(msg.group, [m for m in self.messages if m.group == msg.group])
        result = self.results.get(message_id) or Result("failed", retry=True, error="not processed")
        if result.retry:
            raise ProvisioningRetry(result.error or "retry")
        return result.status

    # ------------------------------------------------------------ one router
    def _run_group(self, gateway_id: str, msgs: list[Message]) -> None:
        tasks = self._load_tasks(msgs)
        try:
            self._run_router(gateway_id, msgs, tasks)
        finally:
            repo.save_tasks(list(self._dirty.values()))
            self._dirty.clear()

    def _run_router(self, gateway_id: str, msgs: list[Message], tasks: dict[str, ProvisioningTask]) -> None:
        gateway = repo.find_gateway(gateway_id) if gateway_id else None
        if gateway is None or not gateway.api_enabled or (gateway.vendor or "mikrotik") != "mikrotik":
            # never contact a router whose API is disabled; a deleted router has nothing to apply
            error = api_disabled_warning(gateway) if gateway is not None else "the router no longer exists"
            category = "api_disabled" if gateway is not None else "invalid"
            for m in msgs:
                self._finish(m, tasks, Result("failed", error=error, category=category))
            return

        pending = self._pending(msgs, tasks)
        session = RouterSession(gateway, self.rt.box, self.rt.settings.router_api_timeout_s, self.stats)
        try:
            self._run_steps(session, gateway, pending, tasks)
        finally:
            session.close()
        self._after_group(gateway, msgs, tasks)

    def _pending(self, msgs: list[Message], tasks: dict[str, ProvisioningTask]) -> list[Message]:
        """The messages left to run: unknown kinds fail, duplicates of a finished run are skipped."""
        pending: list[Message] = []
        for m in msgs:
            task = tasks.get(m.task_id or "")
            if m.kind not in (KIND_SUBSCRIBER, KIND_ROUTER, KIND_REMOVE, KIND_BLOCK_RULES):
                self._finish(
                    m, tasks, Result("failed", error=f"unknown message kind {m.kind!r}", category="invalid")
                )
                continue
            if task is not None and int((task.result or {}).get("done_run", 0)) >= m.run:
                self.results[m.message_id] = Result("skipped", summary={"duplicate": True})
                continue
            if task is not None:
                task.attempts = m.receive_count
            pending.append(m)
        return pending

    def _run_steps(
        self,
        session: RouterSession,
        gateway: Gateway,
        pending: list[Message],
        tasks: dict[str, ProvisioningTask],
    ) -> None:
        for step in _steps(pending):
            if all(m.message_id in self.results for m in step):
                continue
            try:
                self._run_step(session, gateway, step, tasks)
            except RouterTrap as exc:
                for m in step:
                    self._finish(
                        m, tasks, Result("failed", retry=True, error=str(exc), category=exc.category)
                    )
            except RouterError as exc:
                # connection-level: this step and every later message of the router are retried
                for m in pending:
                    if m.message_id not in self.results:
                        self._finish(
                            m,
                            tasks,
                            Result("failed", retry=True, error=exc.message, category=exc.category),
                        )
                break
            except Exception:  # a bug or a datastore error: logged, retried, never silently dropped
                log.exception("provisioning step failed", extra={"gateway_id": gateway.id})
                for m in step:
                    self._finish(
                        m,
                        tasks,
                        Result("failed", retry=True, error="internal error", category="internal"),
                    )

    def _run_step(
        self,
        session: RouterSession,
        gateway: Gateway,
        step: list[Message],
        tasks: dict[str, ProvisioningTask],
    ) -> None:
        kind = step[0].kind
        session.client  # noqa: B018  connect first: an unreachable router costs no DynamoDB reads
        if kind == KIND_ROUTER:
            self._run_router_step(session, gateway, step, tasks)
        elif kind == KIND_BLOCK_RULES:
            self._run_block_rules_step(session, step, tasks)
        else:
            self._run_services_step(session, gateway, step, tasks)

    def _run_router_step(
        self,
        session: RouterSession,
        gateway: Gateway,
        step: list[Message],
        tasks: dict[str, ProvisioningTask],
    ) -> None:
        options = _options(step)
        router_services = services_for_router(gateway, self.rt.box)
        outcome = session.reconcile_router(
            router_services, prune=options.get("prune", False), adopt=options.get("adopt", False)
        )
        self._save_states(outcome, gateway)
        summary = {
            **outcome.summary(),
            "issues_sample": [i.public() for i in outcome.plan.issues[:20]],
            "orphans": len(outcome.plan.orphans),
            "block_rules": outcome.plan.block_rules,
        }
        for m in step:
            if outcome.result.traps:
                first = outcome.result.traps[0][1]
                self._finish(
                    m,
                    tasks,
                    Result(
                        "failed",
                        retry=True,
                        category="trap",
                        summary=summary,
                        error=f"{len(outcome.result.traps)} change(s) refused: {first}",
                    ),
                )
            else:
                self._finish(m, tasks, Result("succeeded", summary=summary))

    def _run_block_rules_step(
        self, session: RouterSession, step: list[Message], tasks: dict[str, ProvisioningTask]
    ) -> None:
        outcome = session.install_block_rules()
        for m in step:
            errors = outcome.result.errors_for(None)
            if errors:
                self._finish(m, tasks, Result("failed", retry=True, category="trap", error="; ".join(errors)))
            else:
                self._finish(m, tasks, Result("succeeded", summary=outcome.summary()))

    def _run_services_step(
        self,
        session: RouterSession,
        gateway: Gateway,
        step: list[Message],
        tasks: dict[str, ProvisioningTask],
    ) -> None:
        """Subscriber reconciles / removals: all services of the step in one read and one apply."""
        kind = step[0].kind
        services, subs = self._step_services(gateway, step)
        adopt = bool(_options(step).get("adopt", False))
        outcome = session.reconcile_services(list(services.values()), adopt=adopt)
        for m in step:
            sub_id = m.subscriber_id or ""
            self._finish(m, tasks, _service_result(outcome, services[sub_id], sub_id))
        self._save_states(outcome, gateway, removed=kind == KIND_REMOVE, subs=subs)

    def _step_services(
        self, gateway: Gateway, step: list[Message]
    ) -> tuple[dict[str, d.DesiredService], dict[str, Subscriber | None]]:
        """The desired service of each subscriber of a step (read in one go) and its record."""
        kind = step[0].kind
        services: dict[str, d.DesiredService] = {}
        subs: dict[str, Subscriber | None] = {}
        catalogue = repo.Catalogue()
        found = repo.find_subscribers(
            {m.subscriber_id: (m.body.get("identity") or {}).get("login") for m in step if m.subscriber_id}
        )
        for m in step:
            sub_id = m.subscriber_id or ""
            if sub_id in services:
                continue
            sub = found.get(sub_id)
            subs[sub_id] = sub
            if kind == KIND_REMOVE:
                identity = m.body.get("identity") or {}
                services[sub_id] = d.removal(
                    sub_id,
                    str(identity.get("username") or (sub.username if sub else "")),
                    "removal requested",
                )
            elif sub is None:
                services[sub_id] = d.desired_service(None, sub_id, gateway, repo.Catalogue(), self.rt.box)
            else:
                services[sub_id] = services_for([sub], gateway, self.rt.box, catalogue)[0]
        return services, subs

    def _save_states(
        self,
        outcome: Outcome,
        gateway: Gateway,
        *,
        removed: bool = False,
        subs: dict[str, Subscriber | None] | None = None,
    ) -> None:
        """Remember in ``Subscriber.router_state`` what the router cannot tell back: a removal (so a
        later reconcile does not recreate a released service) and, for routers that hide passwords,
        a fingerprint of the password pushed. Nothing is written in the common case."""
        failed = outcome.result.error_subscribers()
        for svc in outcome.services:
            if svc.subscriber_id in failed or outcome.plan.issues_for(svc.subscriber_id):
                continue
            state: dict[str, Any] | None = None
            if removed:
                state = {"gateway_id": gateway.id, "removed": True}
            elif svc.action == "apply":
                new = {k: v for k, v in svc.previous.items() if k != "removed"}
                if svc.subscriber_id in outcome.plan.password_unread and "pw" in svc.state:
                    new["pw"] = svc.state["pw"]
                if new != svc.previous:
                    state = new
            if state is None or state == svc.previous:
                continue
            sub = (
                subs[svc.subscriber_id]
                if subs is not None and svc.subscriber_id in subs
                else repo.find_subscriber(svc.subscriber_id)
            )
            if sub is not None:
                repo.set_router_state(sub, state)

    # ------------------------------------------------------------ bookkeeping
    def _load_tasks(self, msgs: list[Message]) -> dict[str, ProvisioningTask]:
        ids = list({m.task_id for m in msgs if m.task_id})
        return {t.id: t for t in ProvisioningTask.batch_get(ids)} if ids else {}

    def _finish(self, m: Message, tasks: dict[str, ProvisioningTask], result: Result) -> None:
        final = result.retry and m.receive_count >= MAX_RECEIVE_COUNT
        status = "dead" if final else result.status
        self.results[m.message_id] = Result(
            status, result.retry, result.error, result.category, result.summary
        )
        task = tasks.get(m.task_id or "")
        if task is None:
            return
        repo.finish_task(
            task,
            status=status,
            error=result.error,
            category=result.category,
            summary=result.summary,
            done_run=m.run if status == "succeeded" else None,
        )
        self._dirty[task.id] = task

    def _after_group(self, gateway: Gateway, msgs: list[Message], tasks: dict[str, ProvisioningTask]) -> None:
        dead = [
            tasks[m.task_id]
            for m in msgs
            if m.task_id in tasks and self.results.get(m.message_id, Result("")).status == "dead"
        ]
        if dead:
            log.warning(
                "provisioning tasks exhausted their retries",
                extra={"gateway_id": gateway.id, "tasks": len(dead)},
            )
            if self._on_final_failure is not None:
                try:
                    self._on_final_failure(self.rt, gateway, dead)
                except Exception:  # a failed e-mail must not turn into a retry of the router work
                    log.exception("final-failure notification not sent", extra={"gateway_id": gateway.id})

    def apply_backoff(self, failed_ids: set[str]) -> None:
        """Exponential backoff for the records reported as failed: each stays invisible
        base·2^(n-1) seconds, n being the deliveries of its router's failing message; the later
        messages of that router (failed by the FIFO circuit breaker) wait as long, so the router's
        changes stay in order."""
        if not failed_ids:
            return
        base = self.rt.settings.provision_backoff_base_s
        group_delay: dict[str, int] = {}
        for m in self.messages:
            if m.message_id in failed_ids and self.results.get(m.message_id, Result("")).retry:
                delay = min(MAX_BACKOFF_S, base * 2 ** max(0, m.receive_count - 1))
                group_delay[m.group] = max(group_delay.get(m.group, 0), delay)
        sqs = self.rt.aws.client("sqs")
        url = queue_url(self.rt)
        for m in self.messages:
            if m.message_id not in failed_ids or not m.receipt_handle:
                continue
            try:
                sqs.change_message_visibility(
                    QueueUrl=url,
                    ReceiptHandle=m.receipt_handle,
                    VisibilityTimeout=int(group_delay.get(m.group, 0)),
                )
            except Exception:  # the queue's own visibility timeout applies instead
                log.warning("backoff not set", extra={"message_id": m.message_id})


def _options(step: list[Message]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in step:
        out.update(m.body.get("options") or {})
    return out


def _service_result(outcome: Outcome, svc: d.DesiredService, sub_id: str) -> Result:
    """How one subscriber's message of a reconcile step ends: refused changes are retried, a conflict
    or incomplete data fails for the operator to fix, anything else succeeded."""
    errors = outcome.result.errors_for(sub_id)
    issues = outcome.plan.issues_for(sub_id)
    summary: dict[str, Any] = {
        "changes": [c.public() for c in outcome.plan.changes if c.subscriber_id == sub_id][:20]
    }
    if svc.action == "ignore":
        summary["note"] = svc.reason
    if errors:
        return Result("failed", retry=True, category="trap", error="; ".join(errors), summary=summary)
    if issues:
        kinds = {i.kind for i in issues}
        return Result(
            "failed",
            category="conflict" if "conflict" in kinds else "invalid",
            error="; ".join(i.message for i in issues),
            summary=summary,
        )
    return Result("succeeded", summary=summary)


def _steps(msgs: list[Message]) -> list[list[Message]]:
    """Consecutive messages of the same kind form one step (order between kinds is kept)."""
    steps: list[list[Message]] = []
    for m in msgs:
        if steps and steps[-1][0].kind == m.kind and m.kind in (KIND_SUBSCRIBER, KIND_REMOVE, KIND_ROUTER):
            steps[-1].append(m)
        else:
            steps.append([m])
    return steps
