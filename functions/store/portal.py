"""Reads and writes of the customer portal: rate-limit windows, one-time markers (webhook events,
checkout sessions), contracts, reported payments, invoices and the connection log of one subscriber.

Every invariant is a conditional write: an event id is recorded once, a contract is signed once and
activated once, a reported payment is confirmed or rejected once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.update import Action

from core.ids import epoch_seconds, now_iso
from store import subscribers as subscriber_store
from store.models import Contract, Invoice, Payment, Session, Subscriber, TokenRecord


def usable_key(value: str | None) -> bool:
    """DynamoDB refuses empty keys and keys over 2 kB: such ids simply do not exist."""
    return bool(value) and len(value.encode()) <= 1024  # type: ignore[union-attr]


# ---------------------------------------------------------------- rate-limit windows
def window_count(key: str) -> int:
    """Attempts counted so far in one fixed window (0 when none)."""
    try:
        return int(TokenRecord.get(key).attempts or 0)
    except DoesNotExist:
        return 0


def _at(epoch_seconds: int) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)


def window_hit(key: str, kind: str, expires_at: int, tenant_id: str | None = None) -> int:
    """Count one attempt in a window (atomic ADD); the record expires with the window (TTL)."""
    rec = TokenRecord(key)
    rec.update(
        actions=[
            TokenRecord.attempts.add(1),
            TokenRecord.kind.set(kind),
            TokenRecord.expires_at.set(_at(expires_at)),
            TokenRecord.created_at.set(TokenRecord.created_at | now_iso()),
            *([TokenRecord.tenant_id.set(tenant_id)] if tenant_id else []),
        ]
    )
    return int(rec.attempts or 0)


def window_clear(key: str) -> None:
    TokenRecord(key).delete()


# ---------------------------------------------------------------- one-time records
def put_record_once(
    key: str, kind: str, data: dict[str, Any], ttl_seconds: int, tenant_id: str | None = None
) -> bool:
    """Create a record unless one with this key exists; True when this call created it."""
    rec = TokenRecord(
        key,
        kind=kind,
        tenant_id=tenant_id,
        data=data,
        attempts=0,
        expires_at=_at(int(epoch_seconds()) + ttl_seconds),
        created_at=now_iso(),
    )
    try:
        rec.save(condition=TokenRecord.id.does_not_exist())
    except PutError as exc:
        if _conditional_failure(exc):
            return False
        raise
    return True


def get_record(key: str, consistent: bool = False) -> TokenRecord | None:
    """A live record (TTL deletion is lazy in DynamoDB, so expired records are treated as absent);
    ``consistent`` reads every write acknowledged before the call."""
    if not usable_key(key):
        return None
    try:
        rec = TokenRecord.get(key, consistent_read=consistent)
    except DoesNotExist:
        return None
    exp = rec.expires_at
    if exp is not None and exp.timestamp() < epoch_seconds():
        return None
    return rec


def set_record_data(rec: TokenRecord, data: dict[str, Any]) -> bool:
    """Replace a record's data if nobody changed it since it was read (``attempts`` is its version).

    Returns False when the record changed meanwhile (the caller lost the race and should re-read)."""
    cond = TokenRecord.id.exists() & (TokenRecord.attempts == int(rec.attempts or 0))
    try:
        rec.update(actions=[TokenRecord.data.set(data), TokenRecord.attempts.add(1)], condition=cond)
    except UpdateError as exc:
        if _conditional_failure(exc):
            return False
        raise
    return True


def _conditional_failure(exc: Exception) -> bool:
    cause = getattr(exc, "cause_response_code", None)
    return cause == "ConditionalCheckFailedException"


# ---------------------------------------------------------------- subscriber reads and counters
def find_subscriber(subscriber_id: str) -> Subscriber | None:
    """By id (id index); an unusable id is simply not found."""
    if not usable_key(subscriber_id):
        return None
    return subscriber_store.get_by_id(subscriber_id)


def _plain(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if hasattr(value, "as_dict"):
        return dict(value.as_dict())
    return dict(value)


def usage_counters(sub: Subscriber) -> dict[str, int]:
    """The subscriber's usage counters as plain integers (keys: see ``core.radius.usage``)."""
    out: dict[str, int] = {}
    for key, value in _plain(sub.usage).items():
        try:
            out[str(key)] = int(value)
        except (TypeError, ValueError):
            continue
    return out


def open_sessions_map(sub: Subscriber) -> dict[str, dict[str, Any]]:
    """The open sessions RADIUS keeps on the subscriber item: {session key: {nas, sid, start, ip, mac}}."""
    return {str(k): _plain(v) if not isinstance(v, dict) else v for k, v in _plain(sub.open_sessions).items()}


def increment_autologin_epoch(sub: Subscriber) -> int:
    """Atomically move the subscriber to a new auto-login epoch (revokes every earlier link)."""
    sub.update(
        actions=[Subscriber.autologin_epoch.add(1), Subscriber.updated_at.set(now_iso())],
        condition=Subscriber.login.exists(),
    )
    return int(sub.autologin_epoch or 0)


def sessions_between(subscriber_id: str, since_iso: str, limit: int = 5000) -> list[Session]:
    """Connection-log rows that started at or after ``since_iso`` (oldest first), at most ``limit``."""
    return subscriber_store.session_rows(
        Session.subscriber_index.query(subscriber_id, Session.started_at >= since_iso, limit=limit)
    )


def sessions_page(
    subscriber_id: str, limit: int, start_key: dict[str, Any] | None
) -> tuple[list[Session], dict[str, Any] | None]:
    """Connection-log rows, newest first."""
    return subscriber_store.sessions_page(subscriber_id, limit, start_key)


# ---------------------------------------------------------------- invoices
def find_invoice(invoice_id: str) -> Invoice | None:
    if not usable_key(invoice_id):
        return None
    try:
        return Invoice.get(invoice_id)
    except DoesNotExist:
        return None


def subscriber_invoices(
    subscriber_id: str, limit: int, start_key: dict[str, Any] | None
) -> tuple[list[Invoice], dict[str, Any] | None]:
    """Newest first."""
    res = Invoice.subscriber_index.query(
        subscriber_id, scan_index_forward=False, limit=limit, last_evaluated_key=start_key
    )
    items = list(res)
    return items, res.last_evaluated_key


# ---------------------------------------------------------------- payments (reports)
def create_payment_row(payment: Payment) -> None:
    payment.save(condition=Payment.id.does_not_exist())


def find_payment(payment_id: str) -> Payment | None:
    if not usable_key(payment_id):
        return None
    try:
        return Payment.get(payment_id)
    except DoesNotExist:
        return None


def set_payment_status(payment: Payment, status: str, expect_status: str, extra: dict[str, Any]) -> bool:
    """Move a payment row from ``expect_status`` to ``status`` once; False when it was not there."""
    actions: list[Action] = [Payment.status.set(status)]
    for name, value in extra.items():
        actions.append(getattr(Payment, name).set(value))
    try:
        payment.update(actions=actions, condition=Payment.status == expect_status)
    except UpdateError as exc:
        if _conditional_failure(exc):
            return False
        raise
    return True


def iter_tenant_payments(
    tenant_id: str, status: str | None, kind: str | None, until: str | None, page_size: int
) -> Iterator[Payment]:
    """A tenant's payments newest first, from ``until`` (included) back, optionally one kind/status: read
    a page of ``page_size`` at a time as the caller goes."""
    cond = None
    if status:
        cond = Payment.status == status
    if kind:
        cond = (Payment.kind == kind) if cond is None else cond & (Payment.kind == kind)
    return iter(
        Payment.tenant_index.query(
            tenant_id,
            Payment.created_at <= until if until else None,
            filter_condition=cond,
            scan_index_forward=False,
            page_size=page_size,
        )
    )


def subscriber_payments(subscriber_id: str, limit: int) -> list[Payment]:
    return list(Payment.subscriber_index.query(subscriber_id, scan_index_forward=False, limit=limit))


# ---------------------------------------------------------------- contracts
def create_contract(contract: Contract) -> None:
    contract.save(condition=Contract.id.does_not_exist())


def find_contract(contract_id: str) -> Contract | None:
    if not usable_key(contract_id):
        return None
    try:
        return Contract.get(contract_id)
    except DoesNotExist:
        return None


def subscriber_contracts(subscriber_id: str) -> list[Contract]:
    """Newest first."""
    return list(Contract.subscriber_index.query(subscriber_id, scan_index_forward=False))


def set_contract_fields(contract: Contract, changes: dict[str, Any]) -> None:
    actions = [getattr(Contract, k).set(v) for k, v in changes.items()]
    actions.append(Contract.updated_at.set(now_iso()))
    contract.update(actions=actions, condition=Contract.id.exists())


def transition_contract(
    contract: Contract, from_status: str, changes: dict[str, Any], signed_before: bool
) -> bool:
    """Apply ``changes`` only while the contract is in ``from_status`` and its signature is present
    (``signed_before``) or absent; False when that no longer holds (someone else got there first)."""
    actions = [getattr(Contract, k).set(v) for k, v in changes.items()]
    actions.append(Contract.updated_at.set(now_iso()))
    has_sig = Contract.signature.exists() if signed_before else Contract.signature.does_not_exist()
    try:
        contract.update(actions=actions, condition=(Contract.status == from_status) & has_sig)
    except UpdateError as exc:
        if _conditional_failure(exc):
            return False
        raise
    return True


def append_attachment(contract: Contract, attachment: dict[str, Any], max_count: int) -> bool:
    """Add one attachment while fewer than ``max_count`` exist (False when the list is full)."""
    current = list(contract.attachments or [])
    if len(current) >= max_count:
        return False
    # compare-and-set on the version read: two concurrent uploads cannot drop each other's entry
    unchanged = (
        Contract.updated_at == contract.updated_at
        if contract.updated_at
        else Contract.updated_at.does_not_exist()
    )
    try:
        contract.update(
            actions=[Contract.attachments.set([*current, attachment]), Contract.updated_at.set(now_iso())],
            condition=Contract.id.exists() & unchanged,
        )
    except UpdateError as exc:
        if _conditional_failure(exc):
            return False
        raise
    return True
