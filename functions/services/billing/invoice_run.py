"""The daily invoice run (SPEC S5): today's internet invoices of every client whose issue day has come."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.billing_calendar import BillingDays, Cycle, cycle_issued_on
from core.ids import utcnow
from services.audit import run_actor_kind
from services.billing.context import (
    NEVER_BILLED,
    AsOf,
    TenantContext,
    client_options,
    created_after,
    load_context,
    run_day,
)
from services.billing.credit import settle_new_invoices
from services.billing.drafts import build_internet_draft, invoice_id, prior_invoices
from services.billing.runs import each_tenant, log_run
from shared.observability import get_logger
from shared.runtime import Runtime
from store import billing as repo
from store.billing import InvoiceWrite
from store.models import Invoice, Product, Subscriber

log = get_logger("billing")


@dataclass
class InvoiceRunResult:
    tenant_id: str
    examined: int = 0
    due_today: int = 0
    created: int = 0
    existing: int = 0
    skipped: int = 0
    not_yet: int = 0  # clients whose service did not exist yet on the run's day
    failed: int = 0
    paid_from_credit: int = 0  # invoices paid from credit that landed while they were drafted
    invoice_ids: list[str] = field(default_factory=list)
    requests: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "invoice_ids"}
        out["invoice_ids"] = self.invoice_ids[:100]
        return out


def _billable(sub: Subscriber) -> bool:
    return sub.status not in NEVER_BILLED and not sub.free_user and bool(sub.product_id)


def run_tenant_invoices(
    rt: Runtime,
    tenant_id: str,
    now: AsOf | None = None,
    actor: str = "system",
    record_run: bool = True,
    actor_kind: str | None = None,
) -> InvoiceRunResult:
    """Create today's internet invoices of one tenant (the daily invoice run, SPEC S5).

    Every client whose issue day is today in its zone's time zone (``now``: an instant, by default the
    current one, or the date of a run for a given day) gets the invoice of the cycle issued today — at
    most one per period whatever else runs: a repeated, retried or concurrent run creates none
    (deterministic id + conditional transaction). Free and Cancelled clients are never invoiced;
    zones with automatic invoicing off are skipped unless the client has its own billing dates.
    """
    now = now or utcnow()
    ctx = load_context(tenant_id)
    result = InvoiceRunResult(tenant_id)
    due: list[tuple[Subscriber, Cycle, BillingDays]] = []
    for sub in repo.tenant_subscribers(tenant_id):
        result.examined += 1
        if not _billable(sub):
            continue
        opts = client_options(sub)
        if opts.own_days is None and not ctx.auto_invoicing(sub.zone_id):
            continue
        days = opts.days(ctx.zone_days(sub.zone_id))
        today = run_day(now, ctx.tz(sub.zone_id))
        cycle = cycle_issued_on(days, today)
        if cycle is None:
            continue
        if created_after(sub, today, ctx.tz(sub.zone_id)):
            result.not_yet += 1  # a back-dated run: the service did not exist on that day
            continue
        due.append((sub, cycle, days))
    result.due_today = len(due)
    if due:
        products = repo.get_products(s.product_id for s, _, _ in due if s.product_id)
        extras = repo.active_extras(tenant_id)
        prior = prior_invoices(due)  # one batched read: where each client's previous invoice ends
        writes = []
        for sub, cycle, days in due:
            if prior[sub.id].same_month:
                result.existing += 1
                continue
            draft = build_internet_draft(
                ctx,
                sub,
                products.get(sub.product_id or ""),
                cycle,
                days,
                extras.get(sub.id, []),
                prior[sub.id],
                actor,
            )
            if draft is None:
                result.skipped += 1
            else:
                writes.append(draft.write)
        created = _create_with_rebuild(ctx, writes, due, products, actor, result)
        by = (actor, run_actor_kind(actor, actor_kind))
        result.paid_from_credit = len(settle_new_invoices(rt, ctx, created, by) & {i.id for i in created})
    if record_run and (result.due_today or actor != "system"):  # an operator's run is always logged
        log_run(
            tenant_id,
            "billing_invoices",
            actor,
            result.as_dict(),
            total=result.due_today,
            done=result.created,
            actor_kind=actor_kind,
        )
    log.info("invoice run", extra={"tenant_id": tenant_id, "result": result.as_dict()})
    return result


def _create_with_rebuild(
    ctx: TenantContext,
    writes: list[InvoiceWrite],
    due: list[tuple[Subscriber, Cycle, BillingDays]],
    products: dict[str, Product],
    actor: str,
    result: InvoiceRunResult,
) -> list[Invoice]:
    """Create the invoices; drafts whose extras or balance changed meanwhile are rebuilt from fresh data.
    Returns the invoices created."""
    by_id = {invoice_id(s.id, c): (s, c, d) for s, c, d in due}
    created: list[Invoice] = []
    for attempt in range(3):
        outcome = repo.create_numbered_invoices(ctx.tenant.id, writes)
        result.requests += outcome.requests
        result.created += len(outcome.created)
        result.existing += len(outcome.existing)
        result.invoice_ids.extend(i.id for i in outcome.created)
        created.extend(outcome.created)
        if not outcome.stale:
            return created
        writes = []
        for stale in outcome.stale:
            sub, cycle, days = by_id[stale.invoice.id]
            fresh = repo.get_subscriber(sub.login)
            if attempt == 2 or fresh is None or not _billable(fresh):
                result.failed += 1 if attempt == 2 else 0
                continue
            extras = [e for e in repo.extras_of_subscriber(fresh.id) if e.active]
            draft = build_internet_draft(
                ctx,
                fresh,
                products.get(fresh.product_id or ""),
                cycle,
                days,
                extras,
                prior_invoices([(fresh, cycle, days)])[fresh.id],
                actor,
            )
            if draft is not None:
                writes.append(draft.write)
        if not writes:
            return created
    return created


def run_invoices(
    rt: Runtime, now: AsOf | None = None, tenant_ids: Iterable[str] | None = None
) -> list[InvoiceRunResult]:
    """The scheduled invoice run over every tenant (or the given ones); a tenant's failure does not stop the others."""
    return each_tenant("invoice", run_tenant_invoices, rt, now, tenant_ids)
