"""Cutoffs (SPEC S4/S5): suspending clients with overdue internet invoices, promise expiry and
re-running a cutoff's router tasks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from core.billing_calendar import parse_date
from core.errors import InvalidStateError, NotFoundError, ValidationError
from core.ids import iso, now_iso, utcnow
from core.money import currency_or_default
from core.statuses import Status
from services.audit import record_audit, run_actor_kind
from services.billing.context import (
    CUTOFF_WINDOW_DAYS,
    CUTTABLE,
    NEVER_BILLED,
    UNPAID,
    AsOf,
    TenantContext,
    client_options,
    created_after,
    load_context,
    run_day,
    run_start,
    service_exists_from,
)
from services.billing.credit import has_credit, settle_credit
from services.billing.runs import each_tenant, get_run, log_run
from shared.observability import get_logger
from shared.runtime import Runtime
from store import billing as repo
from store.billing import TransactionFailed
from store.models import Gateway, Invoice, Subscriber

log = get_logger("billing")


@dataclass
class CutoffRunResult:
    tenant_id: str
    run_id: str | None = None
    overdue_clients: int = 0
    suspended: list[str] = field(default_factory=list)
    skipped_free: int = 0
    skipped_promise: int = 0
    skipped_other: int = 0
    credit_applied: int = 0  # clients whose balance in favour paid (some of) their invoices first
    # clients cut off before whose balance in favour paid for their reconnection (as a payment would)
    reconnected: list[str] = field(default_factory=list)
    routers: list[dict[str, Any]] = field(default_factory=list)
    # online clients cut: what reached their live sessions (CoA / Disconnect) and the S4 warnings
    live_sessions: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["suspended"] = list(self.suspended)
        out["reconnected"] = list(self.reconnected)
        return out


def _cut_live_sessions(rt: Runtime, sub: Subscriber, result: CutoffRunResult) -> None:
    """A client cut while online is cut at once (SPEC S4, as a manual suspend): CoA with the blocked
    list or Disconnect; a gateway that does not answer leaves the S4 warning in the run log."""
    from services.live_sessions import LiveChange, apply_change_now

    try:
        report = apply_change_now(rt, sub.tenant_id, sub.username, LiveChange.SUSPEND)
    except Exception as exc:  # the status is saved; the run log says the session was not reached
        log.exception("cutoff live session change failed", extra={"subscriber_id": sub.id})
        result.warnings.append(f"{sub.username}: live session not reached ({type(exc).__name__})")
        return
    if report is None:
        return
    result.live_sessions[sub.id] = [s.as_dict() for s in report.sessions]
    if report.warning:
        result.warnings.append(f"{sub.username}: {report.warning}")


def _request_router(rt: Runtime, gateway: Gateway, reason: str, actor: str) -> dict[str, Any]:
    from services.network.triggers import request_router_sync

    req = request_router_sync(rt, gateway, reason, actor)
    return {"status": req.status, "task_id": req.task_id, "warning": req.warning}


def run_tenant_cutoffs(
    rt: Runtime,
    tenant_id: str,
    now: AsOf | None = None,
    actor: str = "system",
    only_subscribers: set[str] | None = None,
    actor_kind: str | None = None,
) -> CutoffRunResult:
    """Suspend clients with an unpaid internet invoice whose cutoff day has come (SPEC S5).

    Never Free or Cancelled clients; a payment promise still running delays it; other-income invoices
    never cause a cutoff; zones with automatic cutoff off are skipped unless the client has its own
    dates. The status change is the RADIUS side; each router with clients cut gets one provisioning
    task (the per-router task log: succeeded, or failed with a connection error, re-runnable). A client
    cut off before whose balance in favour pays for its reconnection under the tenant's rule is
    reconnected (as a payment would reconnect it) and not cut again by this run.
    """
    now = now or utcnow()
    ctx = load_context(tenant_id)
    result = CutoffRunResult(tenant_id)
    overdue = _overdue_by_login(ctx, now, only_subscribers)
    result.overdue_clients = len(overdue)
    subs = repo.subscribers_by_login(overdue)
    by_gateway: dict[str, list[str]] = {}
    by = (actor, run_actor_kind(actor, actor_kind))
    for login, invoices in overdue.items():
        found = subs.get(login)
        if found is None:
            continue
        # credit pays what it can before anything is decided (not applied: left to the next run)
        sub = _use_credit(rt, ctx, found, by, result) if has_credit(found) else found
        if sub is None:
            result.skipped_other += 1
            continue
        if sub.id in result.reconnected:
            continue  # its credit paid for its reconnection: not cut again by this run
        skip = _skip_reason(ctx, sub, invoices, now) or _suspend(rt, ctx, sub, invoices, now, by, result)
        if skip is not None:
            setattr(result, skip, getattr(result, skip) + 1)
        else:
            by_gateway.setdefault(sub.gateway_id or "", []).append(sub.id)
    reason = f"cutoff {run_day(now, ctx.tenant.timezone).isoformat()}"
    result.routers = _queue_routers(rt, by_gateway, reason, actor)
    if result.suspended or result.overdue_clients:
        job = log_run(
            tenant_id,
            "billing_cutoff",
            actor,
            result.as_dict(),
            total=result.overdue_clients,
            done=len(result.suspended),
            actor_kind=actor_kind,
        )
        result.run_id = job.id
    return result


def _overdue_by_login(
    ctx: TenantContext, now: AsOf, only_subscribers: set[str] | None
) -> dict[str, list[Invoice]]:
    """Unpaid internet invoices whose cutoff day has come (in their zone), by client login."""
    since = iso(run_start(now) - timedelta(days=CUTOFF_WINDOW_DAYS))
    overdue: dict[str, list[Invoice]] = {}
    for inv in repo.invoices_since(ctx.tenant.id, since, UNPAID, "internet"):
        if only_subscribers is not None and inv.subscriber_id not in only_subscribers:
            continue
        if _cut_for(ctx, inv, now) and inv.subscriber_login:
            overdue.setdefault(inv.subscriber_login, []).append(inv)
    return overdue


def _cut_for(ctx: TenantContext, inv: Invoice, now: AsOf) -> bool:
    """An unpaid internet invoice whose cutoff day has come in its zone."""
    today = run_day(now, ctx.tz(inv.zone_id)).isoformat()
    return (
        inv.kind == "internet" and inv.status in UNPAID and bool(inv.cutoff_date and inv.cutoff_date <= today)
    )


def _skip_reason(ctx: TenantContext, sub: Subscriber, invoices: list[Invoice], now: AsOf) -> str | None:
    """Why a client with overdue invoices is not cut (the result's counter to add to), or None."""
    if sub.status in NEVER_BILLED:
        return "skipped_free"
    opts = client_options(sub)
    tz = ctx.tz(sub.zone_id)
    today = run_day(now, tz)
    exists_from = service_exists_from(sub, tz)
    if created_after(sub, today, tz) or (
        exists_from is not None
        and all(exists_from > parse_date(i.service_end or i.issue_date) for i in invoices)
    ):
        # a back-dated run, or only invoices for periods before the service existed: never a cutoff
        return "skipped_other"
    if opts.promise_active(today):
        return "skipped_promise"
    if sub.status not in CUTTABLE or (opts.own_days is None and not ctx.auto_cutoff(sub.zone_id)):
        return "skipped_other"
    return None


def _suspend(
    rt: Runtime,
    ctx: TenantContext,
    sub: Subscriber,
    invoices: list[Invoice],
    now: AsOf,
    by: tuple[str, str],
    result: CutoffRunResult,
) -> str | None:
    """Suspend one client for its overdue invoices (marked cut off), at once on its live sessions; or
    the result's counter to add to when, decided again on fresh data, it is not to be cut.

    The suspension is one transaction conditional on what the decision read (the client's status and
    billing options and balance, each invoice's status and paid amount): a client who pays, is given a
    promise or receives credit while the run decides is never cut; the run reads again and decides
    again (credit paying what it can first)."""
    before = {"status": sub.status}
    for _attempt in range(4):
        owing = [i for i in repo.invoices_current(i.id for i in invoices) if _cut_for(ctx, i, now)]
        if not owing:
            return "skipped_other"  # paid (or cancelled) meanwhile
        if has_credit(sub) and any(currency_or_default(i.currency) == ctx.currency for i in owing):
            return "skipped_other"  # credit that could pay them was not applied: the next run decides
        skip = _skip_reason(ctx, sub, owing, now)
        if skip is not None:
            return skip
        try:
            repo.transact(repo.cutoff_ops(sub, owing[:90], Status.SUSPENDED.value, now_iso()))
        except TransactionFailed:
            fresh = repo.get_subscriber(sub.login)
            if fresh is not None and has_credit(fresh):
                fresh = _use_credit(rt, ctx, fresh, by, result)
            if fresh is None or fresh.id in result.reconnected:
                return "skipped_other"
            sub, invoices = fresh, owing
            continue
        record_audit(
            *by,
            sub.tenant_id,
            "subscriber",
            sub.id,
            "cutoff",
            before,
            {"status": Status.SUSPENDED.value, "invoices": [i.id for i in owing]},
        )
        result.suspended.append(sub.id)
        if sub.open_sessions:
            _cut_live_sessions(rt, sub, result)
        return None
    return "skipped_other"  # kept changing: the next run decides again


def _use_credit(
    rt: Runtime, ctx: TenantContext, sub: Subscriber, by: tuple[str, str], result: CutoffRunResult
) -> Subscriber | None:
    """The client once its balance in favour paid what it could of its invoices (and reconnected it when
    it was cut off for them and the tenant's rule says so); None when the credit could not be applied
    (the client is left to the next run)."""
    used = settle_credit(rt, ctx, sub.id, by)
    if used is None or used.sub is None:
        return None
    result.credit_applied += 1 if used.applied else 0
    if used.reconnected:
        result.reconnected.append(used.sub.id)
    return used.sub


def _queue_routers(
    rt: Runtime, by_gateway: dict[str, list[str]], reason: str, actor: str
) -> list[dict[str, Any]]:
    """One provisioning task per router with clients cut: the run log's router entries."""
    gateways = repo.get_gateways(by_gateway)
    entries = []
    for gw_id, sub_ids in sorted(by_gateway.items()):
        gw = gateways.get(gw_id)
        entry: dict[str, Any] = {
            "gateway_id": gw_id or None,
            "gateway_name": gw.name if gw else None,
            "subscribers": sub_ids,
        }
        if gw is None:
            entry.update(status="no_gateway", task_id=None, warning=None)
        else:
            try:
                entry.update(_request_router(rt, gw, reason, actor))
            except Exception as exc:  # statuses are saved; the run log shows the router as not reached
                log.exception("cutoff trigger failed", extra={"gateway_id": gw_id})
                entry.update(
                    status="error",
                    task_id=None,
                    warning=f"could not queue the router change: {type(exc).__name__}",
                )
        entries.append(entry)
    return entries


def run_cutoffs(
    rt: Runtime, now: AsOf | None = None, tenant_ids: Iterable[str] | None = None
) -> list[CutoffRunResult]:
    """The scheduled cutoff run over every tenant (or the given ones)."""
    return each_tenant("cutoff", run_tenant_cutoffs, rt, now, tenant_ids)


def run_promise_expiry(
    rt: Runtime,
    now: AsOf | None = None,
    tenant_ids: Iterable[str] | None = None,
    actor: str = "system",
    actor_kind: str | None = None,
) -> list[CutoffRunResult]:
    """Clear payment promises whose date has passed (one audit entry per client) and run the cutoff
    for those clients at once."""
    now = now or utcnow()
    out = []
    for tid in tenant_ids or repo.all_tenant_ids():
        try:
            ctx = load_context(tid)
        except NotFoundError:
            continue
        expired: set[str] = set()
        for sub in repo.tenant_subscribers(tid):
            if not (sub.billing or {}).get("promise_until"):
                continue
            cleared = _expire_promise(ctx, sub, now)
            if cleared is not None:
                sub, promise = cleared
                expired.add(sub.id)
                record_audit(
                    actor,
                    run_actor_kind(actor, actor_kind),
                    tid,
                    "subscriber",
                    sub.id,
                    "promise_expired",
                    {"status": sub.status, "promise_until": promise},
                    {"status": sub.status, "promise_until": None},
                )
        if expired:
            out.append(
                run_tenant_cutoffs(rt, tid, now, actor=actor, only_subscribers=expired, actor_kind=actor_kind)
            )
    return out


def _expire_promise(ctx: TenantContext, sub: Subscriber, now: AsOf) -> tuple[Subscriber, str] | None:
    """Clear a client's promise whose date has passed: the client as cleared and the promise's date, or
    None when it has no passed promise. Conditional on the billing options read: a promise given or
    dates moved by a payment meanwhile are decided again on fresh data, never overwritten."""
    for _attempt in range(4):
        promise = (sub.billing or {}).get("promise_until")
        if not promise:
            return None
        try:
            until = parse_date(promise)
        except ValidationError:
            until = date.min
        if until >= run_day(now, ctx.tz(sub.zone_id)):
            return None
        billing = {k: v for k, v in (sub.billing or {}).items() if k != "promise_until"}
        if repo.set_billing_if_unchanged(sub, billing):
            return sub, str(promise)
        fresh = repo.get_subscriber(sub.login)
        if fresh is None:
            return None
        sub = fresh
    return None  # kept changing: the next run decides again


def rerun_cutoff(
    rt: Runtime,
    run_id: str,
    visible: Iterable[str],
    actor_id: str,
    gateway_id: str | None = None,
    only_failed: bool = True,
    actor_kind: str = "operator",
) -> dict[str, Any]:
    """Re-run a cutoff's router tasks: the failed ones (bulk) or one router's. The statuses are already
    suspended; re-running asks the router to apply them again."""
    from services.network.triggers import request_rerun

    run = get_run(run_id, visible)
    if run["kind"] != "billing_cutoff":
        raise InvalidStateError("only cutoff runs have router tasks to re-run")
    job = repo.get_job(run_id)
    assert job is not None
    tasks = repo.get_tasks(r.get("task_id") for r in run["result"].get("routers", []))
    gateways = repo.get_gateways(r.get("gateway_id") for r in run["result"].get("routers", []))
    rerun: list[dict[str, Any]] = []
    stored = list((job.result or {}).get("routers", []))
    for entry in stored:
        if gateway_id and entry.get("gateway_id") != gateway_id:
            continue
        task = tasks.get(entry.get("task_id") or "")
        if only_failed and not gateway_id and task is not None and task.status not in ("failed", "dead"):
            continue
        gw = gateways.get(entry.get("gateway_id") or "")
        if gw is None:
            continue
        if task is not None:
            req = request_rerun(rt, task, actor_id)
            entry.update(status=req.status, warning=req.warning)
        else:
            entry.update(_request_router(rt, gw, f"cutoff re-run {run_id}", actor_id))
        rerun.append(
            {
                "gateway_id": gw.id,
                "task_id": entry.get("task_id"),
                "status": entry.get("status"),
                "warning": entry.get("warning"),
            }
        )
    if gateway_id and not rerun:
        raise NotFoundError("that router is not part of this run")
    job.result = {**(job.result or {}), "routers": stored}
    repo.save_job(job)
    record_audit(
        actor_id, actor_kind, job.tenant_id, "billing_run", job.id, "rerun", None, {"routers": rerun}
    )
    return {"run_id": run_id, "rerun": rerun}
