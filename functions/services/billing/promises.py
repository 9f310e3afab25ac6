"""Payment promises (SPEC S5): no cutoff until the promised day; a suspended client is reactivated."""

from __future__ import annotations

from datetime import date, timedelta

from core.billing_calendar import (
    local_date,
)
from core.errors import ConflictError, InvalidStateError, ValidationError
from core.ids import now_iso, utcnow
from core.statuses import Status
from services.audit import record_audit
from services.billing.context import TenantContext, load_context, require_subscriber
from services.billing.credit import unpaid_oldest_first
from services.billing.payments import PaymentResult, fingerprint_of, payment_id_for, replay
from services.billing.reconnection import sync_subscriber
from shared.runtime import Runtime
from store import billing as repo
from store.billing import TransactionFailed, TxOp
from store.models import Payment, Subscriber


def register_promise(
    rt: Runtime,
    tenant_id: str,
    subscriber_id: str,
    until: date,
    actor_id: str,
    actor_kind: str = "operator",
    activate: bool = True,
    idempotency_key: str | None = None,
    notes: str | None = None,
) -> PaymentResult:
    """Register a payment promise: no cutoff until ``until`` (inclusive); a suspended client is
    reactivated at once when ``activate``. Needs an unpaid invoice."""
    ctx = load_context(tenant_id)
    key = idempotency_key or f"promise|{subscriber_id}|{until.isoformat()}|{now_iso()}"
    pid = payment_id_for(tenant_id, key)
    fingerprint = fingerprint_of(subscriber_id, until.isoformat(), "promise")
    if repo.get_payment(pid) is not None:
        return replay(pid, fingerprint)
    for _attempt in range(6):
        sub, promise, ops = _attempt_promise(
            ctx, tenant_id, subscriber_id, until, activate, pid=pid, fingerprint=fingerprint, actor_id=actor_id,
            notes=notes,
        )  # fmt: skip
        try:
            repo.transact(ops)
        except TransactionFailed as exc:
            if ("payment",) in exc.failed:
                return replay(pid, fingerprint)
            continue  # the client changed meanwhile (a payment moved its dates…): decide again on fresh data
        break
    else:
        raise ConflictError("the client kept changing; try again")
    reactivate = bool((promise.effects or {}).get("reactivated"))
    record_audit(
        actor_id,
        actor_kind,
        tenant_id,
        "subscriber",
        sub.id,
        "payment_promise",
        {"status": sub.status, "promise_until": (sub.billing or {}).get("promise_until")},
        {"status": Status.ACTIVE.value if reactivate else sub.status, "promise_until": until.isoformat()},
    )
    result = PaymentResult(promise, False, list(promise.applied or []), reactivate)
    if reactivate:
        sub.status = Status.ACTIVE.value
        result.sync = sync_subscriber(rt, sub, f"payment promise until {until.isoformat()}", actor_id)
    return result


def _attempt_promise(
    ctx: TenantContext,
    tenant_id: str,
    subscriber_id: str,
    until: date,
    activate: bool,
    *,
    pid: str,
    fingerprint: str,
    actor_id: str,
    notes: str | None,
) -> tuple[Subscriber, Payment, list[TxOp]]:
    """Decide a promise from fresh data: the client read now, its unpaid invoices, the writes (the
    promise row, the client's billing options and status, conditional on what was read)."""
    sub = require_subscriber(tenant_id, subscriber_id)
    _check_until(ctx, sub, until)
    unpaid = unpaid_oldest_first(sub.id)
    if not unpaid:
        raise InvalidStateError("the client has no unpaid invoice to promise a payment for")
    reactivate = activate and sub.status == Status.SUSPENDED.value
    now = now_iso()
    promise = Payment(
        id=pid,
        tenant_id=tenant_id,
        subscriber_id=sub.id,
        amount="0",
        currency=ctx.currency,
        method="promise",
        kind="promise",
        status="pending_confirmation",
        source="operator",
        promise_until=until.isoformat(),
        applied=[{"invoice_id": i.id, "number": i.number, "amount": "0", "status": i.status} for i in unpaid],
        balance_after=sub.balance,
        created_by=actor_id,
        request_fingerprint=fingerprint,
        notes=notes,
        effects={"reactivated": reactivate},
        created_at=now,
    )
    billing = {**(sub.billing or {}), "promise_until": until.isoformat()}
    ops = [
        repo.new_payment_op(promise),
        repo.subscriber_money_op(
            sub, now, billing=billing, status=Status.ACTIVE.value if reactivate else None
        ),
        *(repo.status_tally_ops(sub, Status.ACTIVE.value) if reactivate else []),
    ]
    return sub, promise, ops


def _check_until(ctx: TenantContext, sub: Subscriber, until: date) -> None:
    """A promise runs from today (the client's zone) to at most the tenant's ``promise_max_days``."""
    today = local_date(utcnow(), ctx.tz(sub.zone_id))
    max_days = int(ctx.options.get("promise_max_days") or 31)
    if until < today:
        raise ValidationError("the promise date cannot be in the past", field="until")
    if until > today + timedelta(days=max_days):
        raise ValidationError(f"a promise can last at most {max_days} days", field="until")
