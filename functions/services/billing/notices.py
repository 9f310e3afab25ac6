"""Payment reminders (SPEC S5): e-mail and SMS from the tenant's templates when the notice day comes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core import money
from core.ids import iso, now_iso, utcnow
from core.templates import fit_sms, render_template
from services.audit import run_actor_kind
from services.billing.context import (
    NEVER_BILLED,
    NOTICE_WINDOW_DAYS,
    UNPAID,
    AsOf,
    TenantContext,
    load_context,
    run_day,
    run_start,
)
from services.billing.credit import has_credit, settle_credit
from services.billing.runs import each_tenant, log_run
from shared.observability import get_logger
from shared.runtime import Runtime
from store import billing as repo
from store import reminders
from store.models import Invoice, Subscriber

log = get_logger("billing")


@dataclass
class NoticeRunResult:
    tenant_id: str
    run_id: str | None = None
    due: int = 0
    emails: int = 0
    sms: int = 0
    skipped_free: int = 0
    no_contact: int = 0
    paid_before_notice: int = 0  # found paid (by a payment or the balance in favour) when their turn came
    errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _autologin_link(rt: Runtime, sub: Subscriber) -> str:
    try:
        from services.portal_auth import issue_autologin_link  # the portal owns auto-login links
    except ImportError:  # pragma: no cover - the portal is part of every deployment
        return f"{rt.settings.public_base_url.rstrip('/')}/my/"
    return issue_autologin_link(rt, sub)


def template_context(rt: Runtime, ctx: TenantContext, sub: Subscriber, inv: Invoice | None) -> dict[str, Any]:
    """Values for ``{{ placeholders }}`` in billing templates."""
    out: dict[str, Any] = {
        "empresa": ctx.company,
        "nombre": sub.name or sub.username,
        "usuario": sub.username,
        "url_autologin": _autologin_link(rt, sub),
        "moneda": ctx.currency,
    }
    if inv is not None:
        due = money.amount_due(inv.total, inv.paid)
        out.update(
            total=f"{inv.total} {inv.currency}",
            saldo=f"{money.fmt(due, inv.currency)} {inv.currency}",
            factura=str(inv.number or ""),
            fecha_pago=inv.due_date or "",
            fecha_corte=inv.cutoff_date or "",
            periodo=inv.period or "",
        )
    return out


def run_tenant_notices(
    rt: Runtime, tenant_id: str, now: AsOf | None = None, actor: str = "system", actor_kind: str | None = None
) -> NoticeRunResult:
    """Send payment reminders (e-mail and SMS from the tenant's templates) for unpaid internet invoices
    whose notice day has come and whose payment day has not passed; once per invoice, and only while it
    is still unpaid when it is marked reminded (an invoice paid after the run listed it gets none); never
    to Free or Cancelled clients. A scheduled run is logged when something was due; an operator's
    always."""
    now = now or utcnow()
    ctx = load_context(tenant_id)
    result = NoticeRunResult(tenant_id)
    since = iso(run_start(now) - timedelta(days=NOTICE_WINDOW_DAYS))
    due = []
    for inv in repo.invoices_since(tenant_id, since, UNPAID, "internet", not_notified=True):
        today = run_day(now, ctx.tz(inv.zone_id))
        if inv.notice_date and inv.notice_date <= today.isoformat() <= (inv.due_date or inv.notice_date):
            due.append(inv)
    result.due = len(due)
    subs = repo.subscribers_by_login(i.subscriber_login or "" for i in due)
    by = (actor, run_actor_kind(actor, actor_kind))
    credited: set[str] = set()  # clients whose balance in favour this run used
    for listed in due:
        sub = subs.get(listed.subscriber_login or "")
        if sub is None or sub.status in NEVER_BILLED:
            result.skipped_free += 1
            continue
        found: Invoice | str = listed
        if has_credit(sub) or sub.login in credited:
            credited.add(sub.login)
            found = _after_credit(rt, ctx, sub, listed, by)
        if isinstance(found, str):  # the result's counter to add to
            setattr(result, found, getattr(result, found) + 1)
            continue
        if not sub.email and not sub.phone:
            result.no_contact += 1
            continue
        claimed = _claim(found)
        if claimed is None:
            continue  # another run sent it
        if isinstance(claimed, str):
            setattr(result, claimed, getattr(result, claimed) + 1)
            continue
        inv = claimed
        values = template_context(rt, ctx, sub, inv)
        try:
            if sub.email:
                rt.notifier.send_email(
                    sub.email,
                    render_template(ctx.template("invoice_notice_email_subject"), values),
                    render_template(ctx.template("invoice_notice_email"), values),
                )
                result.emails += 1
            if sub.phone:
                rt.notifier.send_sms(
                    sub.phone, fit_sms(render_template(ctx.template("invoice_notice_sms"), values))
                )
                result.sms += 1
        except Exception:
            result.errors += 1
            log.exception("payment reminder not sent", extra={"invoice_id": inv.id})
    if result.due or actor != "system":
        job = log_run(
            tenant_id,
            "billing_notices",
            actor,
            result.as_dict(),
            total=result.due,
            done=result.emails + result.sms,
            failed=result.errors,
            actor_kind=actor_kind,
        )
        result.run_id = job.id
    return result


def _claim(inv: Invoice, attempts: int = 4) -> Invoice | str | None:
    """Mark the invoice reminded, once, and only while it is still unpaid as it was read: the invoice as
    it stands when marked (what the reminder then quotes: the conditional write returns it, so the normal
    path is that one write), the result's counter to add to when it was paid or cancelled meanwhile, or
    None when another run reminded it first. An invoice that moved since it was read (paid in part, or
    listed from an index entry behind its item) is read again and decided again."""
    for _attempt in range(attempts):
        if reminders.claim_reminder(inv, now_iso()):
            return inv
        fresh = repo.get_invoice(inv.id)
        if fresh is None or fresh.status not in UNPAID:
            return "paid_before_notice"
        if fresh.notified_at:
            return None
        inv = fresh
    log.warning("payment reminder not sent: the invoice kept changing", extra={"invoice_id": inv.id})
    return "errors"  # not marked: the next run decides again


def _after_credit(
    rt: Runtime, ctx: TenantContext, sub: Subscriber, inv: Invoice, by: tuple[str, str]
) -> Invoice | str:
    """The invoice as it stands once the client's balance in favour paid what it could (what the reminder
    then quotes), or the result's counter to add to: nothing left to remind of, or credit that could not
    be applied (left to the next run)."""
    if has_credit(sub):
        used = settle_credit(rt, ctx, sub.id, by)
        if used is None:
            return "errors"
        if used.sub is not None:
            sub.balance = used.sub.balance  # what is left for the client's other due invoices
    fresh = repo.get_invoice(inv.id)
    return fresh if fresh is not None and fresh.status in UNPAID else "paid_before_notice"


def run_notices(
    rt: Runtime, now: AsOf | None = None, tenant_ids: Iterable[str] | None = None
) -> list[NoticeRunResult]:
    """The scheduled notice run over every tenant (or the given ones)."""
    return each_tenant("notice", run_tenant_notices, rt, now, tenant_ids)
