"""Billing repository: invoices, payments, extra products, invoice-number counters.

Invariants are guarded by DynamoDB, not by the caller's luck:

* one internet invoice per client per period — deterministic id + ``attribute_not_exists(id)``;
* invoice numbers sequential per tenant without gaps or duplicates — invoices are written in
  transactions (up to 100 items) together with the counter update, conditional on the counter value
  that numbered them; a transaction either writes the invoices *and* advances the counter, or nothing;
* a payment recorded once — its id derives from the idempotency key, and the payment, the invoices it
  pays and the subscriber's balance change are one transaction.

Subscriber rows are shared with RADIUS: they are only ever changed with UpdateItem of the billing
attributes, conditional on the values the decision was based on.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from core.errors import ConflictError, UnavailableError, ValidationError
from core.ids import now_iso
from core.money import currency_or_default, to_decimal
from store import subscribers as subscriber_store
from store import tallies
from store.models import (
    Counter,
    ExtraProduct,
    Gateway,
    Invoice,
    Job,
    Payment,
    Product,
    ProvisioningTask,
    Subscriber,
    Tally,
    Tenant,
    Zone,
)

MAX_TRANSACTION_ITEMS = 100
_RETRYABLE_CODES = {
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "InternalServerError",
}


# ---------------------------------------------------------------- transactions
@dataclass
class TxOp:
    """One transaction item. ``tag`` identifies it in the failure report."""

    kind: str  # put | update
    model: Model
    tag: Any
    condition: Condition | None = None
    actions: Sequence[Any] = field(default_factory=list)


class TransactionFailed(Exception):
    """The transaction was cancelled; ``failed`` maps op tags to the reason code."""

    def __init__(self, failed: dict[Any, str]) -> None:
        super().__init__(f"transaction cancelled: {failed}")
        self.failed = failed


def _connection() -> Connection:
    return Invoice._get_connection().connection


def transact(ops: Sequence[TxOp], attempts: int = 5) -> None:
    """Run ``ops`` as one TransactWriteItems request.

    Conflicts with a concurrent transaction are retried with jittered backoff; condition failures
    raise :class:`TransactionFailed` naming the ops whose condition failed.
    """
    if not ops:
        return
    if len(ops) > MAX_TRANSACTION_ITEMS:
        raise ValueError(f"a transaction holds at most {MAX_TRANSACTION_ITEMS} items")
    # pynamodb sends puts before updates: keep that order to map the cancellation reasons.
    ordered = [o for o in ops if o.kind == "put"] + [o for o in ops if o.kind == "update"]
    for attempt in range(attempts):
        try:
            with TransactWrite(connection=_connection()) as tx:
                for op in ordered:
                    if op.kind == "put":
                        tx.save(op.model, condition=op.condition)
                    else:
                        tx.update(op.model, list(op.actions), condition=op.condition)
            return
        except TransactWriteError as exc:
            reasons = list(exc.cancellation_reasons or [])
            failed = {
                ordered[i].tag: r.code for i, r in enumerate(reasons) if r is not None and i < len(ordered)
            }
            conditional = {t: c for t, c in failed.items() if c == "ConditionalCheckFailed"}
            if conditional:
                raise TransactionFailed(conditional) from exc
            retryable = not failed and exc.cause_response_code in _RETRYABLE_CODES | {
                "TransactionInProgressException"
            }
            retryable = retryable or (bool(failed) and all(c in _RETRYABLE_CODES for c in failed.values()))
            if not retryable or attempt == attempts - 1:
                raise UnavailableError("the billing store could not complete the write; try again") from exc
            time.sleep(min(1.0, 0.02 * 2**attempt) * (0.5 + random.random()))


# ---------------------------------------------------------------- reads: tenants, zones, products, subscribers
def get_tenant(tenant_id: str) -> Tenant | None:
    if not _usable_key(tenant_id):
        return None
    try:
        return Tenant.get(tenant_id)
    except DoesNotExist:
        return None


def all_tenant_ids() -> list[str]:
    return [t.id for t in Tenant.scan(attributes_to_get=["id"])]


def zones_of(tenant_id: str) -> dict[str, Zone]:
    return {z.id: z for z in Zone.tenant_index.query(tenant_id)}


def get_zone(zone_id: str) -> Zone | None:
    try:
        return Zone.get(zone_id)
    except DoesNotExist:
        return None


def get_products(product_ids: Iterable[str]) -> dict[str, Product]:
    ids = sorted({p for p in product_ids if p})
    return {p.id: p for p in Product.batch_get(ids)} if ids else {}


# What the billing runs read of a subscriber (not the RADIUS counters and sessions held on the same item).
BILLING_ATTRIBUTES = (
    "login",
    "id",
    "tenant_id",
    "username",
    "name",
    "email",
    "phone",
    "status",
    "free_user",
    "product_id",
    "price_override",
    "zone_id",
    "gateway_id",
    "billing",
    "balance",
    "installed_at",
    "created_at",
)


def tenant_subscribers(tenant_id: str) -> Iterator[Subscriber]:
    """Every subscriber of a tenant with its billing attributes, page by page (one request per 1 MB page)."""
    return iter(Subscriber.tenant_index.query(tenant_id, attributes_to_get=list(BILLING_ATTRIBUTES)))


def get_subscriber(login: str) -> Subscriber | None:
    try:
        return Subscriber.get(login, consistent_read=True)
    except DoesNotExist:
        return None


def get_subscriber_by_id(subscriber_id: str) -> Subscriber | None:
    return subscriber_store.get_by_id(subscriber_id, consistent=True) if _usable_key(subscriber_id) else None


def subscribers_by_login(logins: Iterable[str]) -> dict[str, Subscriber]:
    keys = sorted({k for k in logins if k})
    return {s.login: s for s in Subscriber.batch_get(keys)} if keys else {}


def current_balances(logins: Iterable[str]) -> list[Subscriber]:
    """The given clients' ``id``, ``tenant_id`` and ``balance`` as they stand (consistent batched reads)."""
    keys, attrs = sorted({k for k in logins if k}), ["login", "id", "tenant_id", "balance"]
    return list(Subscriber.batch_get(keys, consistent_read=True, attributes_to_get=attrs)) if keys else []


def update_subscriber(
    sub: Subscriber,
    actions: Sequence[Any],
    condition: Condition | None = None,
    new_status: str | None = None,
) -> bool:
    """UpdateItem of billing attributes; False when ``condition`` no longer holds. ``new_status``: the
    actions set this status (the tenant's totals counters move with it)."""
    cond = Subscriber.login.exists()
    if condition is not None:
        cond = cond & condition
    before = tallies.bucket_for(sub)
    try:
        sub.update(actions=[*actions, Subscriber.updated_at.set(now_iso())], condition=cond)
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    if new_status is not None and new_status != before.status:
        tallies.move(sub.tenant_id, before, before.with_status(new_status))
    return True


def billing_as_read(sub: Subscriber) -> Condition:
    """The client's billing options (own dates, promise, fee options) are still those read into ``sub``."""
    if not sub.billing:  # read as {}: never written, or written empty
        return Subscriber.billing.does_not_exist() | (Subscriber.billing == {})
    return Subscriber.billing == sub.billing


def balance_as_read(sub: Subscriber) -> Condition:
    """The client's balance is still the one read into ``sub`` (no credit landed meanwhile)."""
    same = Subscriber.balance == sub.balance
    if sub.balance == "0":  # also what a client never credited reads as
        return same | Subscriber.balance.does_not_exist()
    return same


def set_billing_if_unchanged(sub: Subscriber, billing: dict[str, Any]) -> bool:
    """Replace a client's billing options unless its status or its billing options changed since it was
    read (a promise given or dates moved by a payment meanwhile are never overwritten)."""
    return update_subscriber(
        sub, [Subscriber.billing.set(billing)], (Subscriber.status == sub.status) & billing_as_read(sub)
    )


def status_tally_ops(sub: Subscriber, new_status: str) -> list[TxOp]:
    """Transaction items moving a subscriber's totals counter to ``new_status``."""
    before = tallies.bucket_for(sub)
    if new_status == before.status:
        return []
    return [
        TxOp("update", Tally(tenant_id=sub.tenant_id, bucket=key), ("tally", key), None, [Tally.n.add(delta)])
        for key, delta in ((before.key, -1), (before.with_status(new_status).key, 1))
    ]


# ---------------------------------------------------------------- invoices
def _usable_key(key: str | None) -> bool:
    """DynamoDB refuses empty keys and keys over 2 KB: such ids simply do not exist."""
    return bool(key) and len(key.encode()) <= 1024  # type: ignore[union-attr]


def get_invoice(invoice_id: str) -> Invoice | None:
    if not _usable_key(invoice_id):
        return None
    try:
        return Invoice.get(invoice_id, consistent_read=True)
    except DoesNotExist:
        return None


def invoice_heads(invoice_ids: Iterable[str]) -> list[Invoice]:
    """The dates and status of the given invoices (those that exist), in batches, without their lines."""
    ids = sorted(set(invoice_ids))
    if not ids:
        return []
    attrs = ["id", "kind", "status", "issue_date", "service_start", "service_end"]
    return list(Invoice.batch_get(ids, attributes_to_get=attrs))


def invoices_current(invoice_ids: Iterable[str]) -> list[Invoice]:
    """The items themselves, read consistently (index entries can lag behind a write just made)."""
    ids = sorted(set(invoice_ids))
    return list(Invoice.batch_get(ids, consistent_read=True)) if ids else []


def invoices_of_subscriber(subscriber_id: str) -> list[Invoice]:
    """A client's invoices, oldest first (the index is ordered by creation time)."""
    return list(Invoice.subscriber_index.query(subscriber_id))


def created_between(model: type[Invoice] | type[Payment], since: str | None, until: str | None) -> Any:
    """The tenant index's key condition on the creation time: from ``since`` to ``until`` (both included)."""
    if since and until:
        return model.created_at.between(since, until)
    if since:
        return model.created_at >= since
    return model.created_at <= until if until else None


def tenant_invoices(
    tenant_id: str,
    since: str | None = None,
    until: str | None = None,
    newest_first: bool = True,
    filter_condition: Condition | None = None,
    limit: int | None = None,
    last_key: dict[str, Any] | None = None,
) -> tuple[list[Invoice], dict[str, Any] | None]:
    """A page of a tenant's invoices by creation time; ``last_key`` continues a previous page."""
    result = Invoice.tenant_index.query(
        tenant_id,
        range_key_condition=created_between(Invoice, since, until),
        filter_condition=filter_condition,
        scan_index_forward=not newest_first,
        limit=limit,
        last_evaluated_key=last_key,
    )
    items = list(result)
    return items, result.last_evaluated_key if limit and len(items) >= limit else None


def iter_tenant_invoices_newest_first(
    tenant_id: str,
    since: str | None,
    until: str | None,
    filter_condition: Condition | None,
    page_size: int,
) -> Iterator[Invoice]:
    """A tenant's invoices newest first, created from ``since`` to ``until`` (both included): read a page
    of ``page_size`` at a time as the caller goes."""
    return iter(
        Invoice.tenant_index.query(
            tenant_id,
            range_key_condition=created_between(Invoice, since, until),
            filter_condition=filter_condition,
            scan_index_forward=False,
            page_size=page_size,
        )
    )


def iter_tenant_invoices(
    tenant_id: str, since: str | None = None, filter_condition: Condition | None = None
) -> Iterator[Invoice]:
    range_cond = Invoice.created_at >= since if since else None
    return iter(
        Invoice.tenant_index.query(
            tenant_id, range_key_condition=range_cond, filter_condition=filter_condition
        )
    )


def invoices_since(
    tenant_id: str, since: str, statuses: Sequence[str], kind: str, *, not_notified: bool = False
) -> Iterator[Invoice]:
    """A tenant's invoices created since ``since`` in one of ``statuses`` and of ``kind`` (and without
    a payment reminder yet, with ``not_notified``)."""
    condition = Invoice.status.is_in(*statuses) & (Invoice.kind == kind)
    if not_notified:
        condition = condition & Invoice.notified_at.does_not_exist()
    return iter_tenant_invoices(tenant_id, since, condition)


def open_invoice_currencies(tenant_id: str, statuses: Sequence[str]) -> dict[str, int]:
    """How many of a tenant's invoices are in one of ``statuses``, per currency (the default for an
    invoice without one). No index is keyed by status: this is one paged query of the tenant's invoice
    index, filtered by status on the server and returning only the currency, but it reads every invoice
    of the tenant."""
    counts: dict[str, int] = {}
    for inv in Invoice.tenant_index.query(
        tenant_id,
        filter_condition=Invoice.status.is_in(*statuses),
        attributes_to_get=["id", "status", "currency"],
    ):
        currency = currency_or_default(inv.currency)
        counts[currency] = counts.get(currency, 0) + 1
    return counts


def subscribers_with_balance(tenant_id: str) -> int:
    """How many of a tenant's subscribers have a balance other than zero (in favour, or owed after a
    reversal). No index finds them: this is a full pass over the tenant's subscribers, through the tenant
    index (which carries the balance, not the accounting counters), reading the id and balance only."""
    rows = Subscriber.tenant_index.query(tenant_id, attributes_to_get=["login", "id", "balance"])
    return sum(1 for s in rows if to_decimal(s.balance, "balance") != 0)


def counter_name(tenant_id: str) -> str:
    return f"invoice-number#{tenant_id}"


def read_counter(name: str) -> int:
    try:
        return int(Counter.get(name, consistent_read=True).value or 0)
    except DoesNotExist:
        return 0


def counter_op(name: str, current: int, new: int) -> TxOp:
    """Advance the counter from ``current`` to ``new`` only if nobody else moved it."""
    cond = Counter.value == current
    if current == 0:
        cond = Counter.name.does_not_exist() | cond
    return TxOp("update", Counter(name=name), ("counter", name), cond, [Counter.value.set(new)])


@dataclass
class InvoiceWrite:
    """An invoice to create plus the writes that must happen with it (extras advanced, credit used)."""

    invoice: Invoice
    extra_ops: list[TxOp] = field(default_factory=list)

    @property
    def size(self) -> int:
        return 1 + len(self.extra_ops)


@dataclass
class CreateOutcome:
    created: list[Invoice] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)  # ids that already existed (another run made them)
    stale: list[InvoiceWrite] = field(default_factory=list)  # a companion write's condition failed
    requests: int = 0


def create_numbered_invoices(
    tenant_id: str, writes: Sequence[InvoiceWrite], max_conflicts: int = 50
) -> CreateOutcome:
    """Create invoices numbered from the tenant's counter, up to 100 items per transaction.

    Invoices that already exist are skipped (reported in ``existing``) and use no number; a counter moved
    by a concurrent writer is re-read and the chunk renumbered; writes whose companion updates failed
    their condition are returned in ``stale`` for the caller to rebuild from fresh data.
    """
    out = CreateOutcome()
    name = counter_name(tenant_id)
    pending = list(writes)
    current = read_counter(name)
    out.requests += 1
    conflicts = 0  # rounds that made no progress (only the counter moved under us)
    while pending:
        if conflicts > max_conflicts:
            raise UnavailableError("invoice numbering kept conflicting; run again")
        if pending[0].size + 1 > MAX_TRANSACTION_ITEMS:
            raise ValidationError("an invoice cannot carry that many extra products", field="extras")
        chunk: list[InvoiceWrite] = []
        size = 1  # the counter update
        for w in pending:
            if size + w.size > MAX_TRANSACTION_ITEMS:
                break
            chunk.append(w)
            size += w.size
        ops: list[TxOp] = []
        for i, w in enumerate(chunk):
            w.invoice.number = current + i + 1
            ops.append(TxOp("put", w.invoice, ("invoice", w.invoice.id), Invoice.id.does_not_exist()))
            ops.extend(w.extra_ops)
        ops.append(counter_op(name, current, current + len(chunk)))
        out.requests += 1
        try:
            transact(ops)
        except TransactionFailed as exc:
            failed_invoices = {t[1] for t in exc.failed if t[0] == "invoice"}
            failed_extra_owners = {t[1] for t in exc.failed if t[0] == "companion"}
            keep: list[InvoiceWrite] = []
            for w in pending:
                if w.invoice.id in failed_invoices:
                    out.existing.append(w.invoice.id)
                elif w.invoice.id in failed_extra_owners:
                    out.stale.append(w)
                else:
                    keep.append(w)
            conflicts += 0 if len(keep) < len(pending) else 1
            pending = keep
            if ("counter", name) in exc.failed:
                current = read_counter(name)
                out.requests += 1
            continue
        conflicts = 0
        current += len(chunk)
        out.created.extend(w.invoice for w in chunk)
        done = {w.invoice.id for w in chunk}
        pending = [w for w in pending if w.invoice.id not in done]
    return out


def update_invoice(invoice: Invoice, actions: Sequence[Any], condition: Condition | None = None) -> bool:
    cond = Invoice.id.exists()
    if condition is not None:
        cond = cond & condition
    try:
        invoice.update(actions=[*actions, Invoice.updated_at.set(now_iso())], condition=cond)
        return True
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise


def invoice_as_read(invoice: Invoice) -> Condition:
    """The invoice still has the status and paid amount read into ``invoice``."""
    return (Invoice.paid == invoice.paid) & (Invoice.status == invoice.status)


def cancel_invoice_op(invoice: Invoice, actor_id: str, now: str) -> TxOp:
    """Cancel an invoice, conditional on the status and paid amount the decision read."""
    return TxOp(
        "update",
        invoice,
        ("invoice", invoice.id),
        invoice_as_read(invoice),
        [
            Invoice.status.set("cancelled"),
            Invoice.cancelled_at.set(now),
            Invoice.cancelled_by.set(actor_id),
            Invoice.updated_at.set(now),
        ],
    )


def cutoff_ops(sub: Subscriber, invoices: Sequence[Invoice], status: str, now: str) -> list[TxOp]:
    """A client suspended for its overdue invoices, as one transaction: conditional on the status,
    billing options and balance read (a promise given or credit landing meanwhile), and on each invoice
    still owing what it was read owing (a payment landing meanwhile); the invoices are marked cut off (an
    earlier mark stays)."""
    ops = [
        TxOp(
            "update",
            sub,
            ("subscriber",),
            (Subscriber.status == sub.status) & billing_as_read(sub) & balance_as_read(sub),
            [Subscriber.status.set(status), Subscriber.updated_at.set(now)],
        ),
        *status_tally_ops(sub, status),
    ]
    for inv in invoices:
        ops.append(
            TxOp(
                "update",
                inv,
                ("invoice", inv.id),
                invoice_as_read(inv),
                [Invoice.cutoff_at.set(Invoice.cutoff_at | now), Invoice.updated_at.set(now)],
            )
        )
    return ops


# ---------------------------------------------------------------- payments
def new_payment_op(payment: Payment) -> TxOp:
    """Record a payment once: the transaction fails on ``("payment",)`` when its id exists."""
    return TxOp("put", payment, ("payment",), Payment.id.does_not_exist())


def invoice_payment_op(invoice: Invoice, paid: str, status: str, now: str) -> TxOp:
    """Money applied to an invoice, conditional on the paid amount and status it was decided on."""
    actions = [Invoice.paid.set(paid), Invoice.status.set(status), Invoice.updated_at.set(now)]
    if status == "paid":
        actions.append(Invoice.paid_at.set(now))
    return TxOp("update", invoice, ("invoice", invoice.id), invoice_as_read(invoice), actions)


def subscriber_money_op(
    sub: Subscriber,
    now: str,
    *,
    balance: str | None = None,
    billing: dict[str, Any] | None = None,
    status: str | None = None,
) -> TxOp:
    """The client's side of a payment or promise (balance, billing options, status — those given),
    conditional on its status and, when they change, on the balance and billing options it was decided
    on (a promise and a payment moving the dates at once never overwrite each other)."""
    actions = []
    if balance is not None:
        actions.append(Subscriber.balance.set(balance))
    if billing is not None:
        actions.append(Subscriber.billing.set(billing))
    if status is not None:
        actions.append(Subscriber.status.set(status))
    actions.append(Subscriber.updated_at.set(now))
    condition = Subscriber.status == sub.status
    if balance is not None:
        condition = (Subscriber.balance == sub.balance) & condition
    if billing is not None:
        condition = condition & billing_as_read(sub)
    return TxOp("update", sub, ("subscriber",), condition, actions)


def set_payment_effects(payment: Payment, effects: dict[str, Any]) -> None:
    payment.update(actions=[Payment.effects.set(effects)])


def get_payment(payment_id: str) -> Payment | None:
    if not _usable_key(payment_id):
        return None
    try:
        return Payment.get(payment_id, consistent_read=True)
    except DoesNotExist:
        return None


def payments_of_subscriber(subscriber_id: str) -> list[Payment]:
    return list(Payment.subscriber_index.query(subscriber_id))


def tenant_payments(tenant_id: str, since: str | None = None, until: str | None = None) -> list[Payment]:
    return list(
        Payment.tenant_index.query(tenant_id, range_key_condition=created_between(Payment, since, until))
    )


def put_payment_once(payment: Payment) -> bool:
    """Insert a payment-like record; False when its id (idempotency key) was already recorded."""
    try:
        payment.save(condition=Payment.id.does_not_exist())
        return True
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise


# ---------------------------------------------------------------- extra products
def get_extra(extra_id: str) -> ExtraProduct | None:
    if not _usable_key(extra_id):
        return None
    try:
        return ExtraProduct.get(extra_id, consistent_read=True)
    except DoesNotExist:
        return None


def new_extra_op(extra: ExtraProduct, tag: Any) -> TxOp:
    """Add an extra in a transaction, once: the transaction fails on ``tag`` when its id exists."""
    return TxOp("put", extra, tag, ExtraProduct.id.does_not_exist())


def extras_of_subscriber(subscriber_id: str) -> list[ExtraProduct]:
    return list(ExtraProduct.subscriber_index.query(subscriber_id))


def active_extras(tenant_id: str) -> dict[str, list[ExtraProduct]]:
    """Active extras of a tenant grouped by subscriber: one paged index query per run instead of one per client."""
    out: dict[str, list[ExtraProduct]] = {}
    for extra in ExtraProduct.tenant_index.query(tenant_id, filter_condition=ExtraProduct.active == True):  # noqa: E712
        out.setdefault(extra.subscriber_id, []).append(extra)
    return out


def save_extra(extra: ExtraProduct, must_be_new: bool = False) -> bool:
    try:
        extra.save(condition=ExtraProduct.id.does_not_exist() if must_be_new else None)
        return True
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise


def update_extra(extra: ExtraProduct, actions: Sequence[Any], condition: Condition | None = None) -> None:
    cond = ExtraProduct.id.exists()
    if condition is not None:
        cond = cond & condition
    try:
        extra.update(actions=[*actions, ExtraProduct.updated_at.set(now_iso())], condition=cond)
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise ConflictError("the extra product changed meanwhile; reload and retry") from exc
        raise


# ---------------------------------------------------------------- gateways, run log, provisioning tasks
def get_gateways(gateway_ids: Iterable[str]) -> dict[str, Gateway]:
    ids = sorted({g for g in gateway_ids if g})
    return {g.id: g for g in Gateway.batch_get(ids)} if ids else {}


def save_job(job: Job) -> Job:
    job.updated_at = now_iso()
    job.save()
    return job


def get_job(job_id: str) -> Job | None:
    if not _usable_key(job_id):
        return None
    try:
        return Job.get(job_id, consistent_read=True)
    except DoesNotExist:
        return None


def get_tasks(task_ids: Iterable[str]) -> dict[str, ProvisioningTask]:
    ids = sorted({t for t in task_ids if t})
    return {t.id: t for t in ProvisioningTask.batch_get(ids)} if ids else {}
