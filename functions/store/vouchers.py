"""Voucher batches and vouchers (cards), and the card logins made from them.

A card is two items: the :class:`Voucher` (code + password, redeemable once) and the
:class:`Subscriber` login with the same credentials, so a card works at the hotspot (RADIUS reads the
subscriber item) or can instead be redeemed onto an existing account. The voucher's conditional
status change ``unused`` → ``redeemed`` is the single gate of a redemption; the login is then
cancelled only if it was never used, so a card is consumed once, whichever way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.condition import Condition, size
from pynamodb.expressions.update import Action

from core.errors import ConflictError
from core.ids import now_iso
from store import tallies
from store.models import Subscriber, Voucher, VoucherBatch


def voucher_key(tenant_id: str, code: str) -> str:
    """Codes are unique per tenant regardless of case (they are also login names)."""
    return f"{tenant_id}#{code.lower()}"


# ---------------------------------------------------------------- batches
def create_batch(batch: VoucherBatch) -> VoucherBatch:
    try:
        batch.save(condition=VoucherBatch.id.does_not_exist())
    except PutError as exc:
        raise ConflictError("a batch with this id already exists", field="id") from exc
    return batch


def get_batch(batch_id: str) -> VoucherBatch | None:
    try:
        return VoucherBatch.get(batch_id)
    except DoesNotExist:
        return None


def list_batches(tenant_ids: Sequence[str]) -> list[VoucherBatch]:
    out: list[VoucherBatch] = []
    for tid in tenant_ids:
        out.extend(VoucherBatch.tenant_index.query(tid, scan_index_forward=False))
    return sorted(out, key=lambda b: b.created_at, reverse=True)


def set_batch_status(batch: VoucherBatch, from_status: str, to_status: str) -> VoucherBatch:
    try:
        batch.update(
            actions=[VoucherBatch.status.set(to_status)],
            condition=VoucherBatch.id.exists() & (VoucherBatch.status == from_status),
        )
    except UpdateError as exc:
        raise ConflictError(f"the batch is not {from_status}", field="status") from exc
    return batch


def update_batch(batch: VoucherBatch, changes: dict[str, Any]) -> VoucherBatch:
    actions = [getattr(VoucherBatch, k).set(v) for k, v in changes.items()]
    if actions:
        batch.update(actions=actions, condition=VoucherBatch.id.exists())
    return batch


# ---------------------------------------------------------------- cards
def insert_card(voucher: Voucher, login: Subscriber) -> bool:
    """Write one card: the voucher, then its login, each only if the code is free (as a voucher and as
    a username of the tenant). False when the code is taken (nothing is left written)."""
    try:
        voucher.save(condition=Voucher.id.does_not_exist())
    except PutError as exc:
        if _conditional(exc):
            return False
        raise
    try:
        login.save(condition=Subscriber.login.does_not_exist())
    except PutError as exc:
        voucher.delete()
        if _conditional(exc):
            return False
        raise
    tallies.move(login.tenant_id, None, tallies.bucket_for(login))
    return True


def _conditional(exc: PutError | UpdateError) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def get_voucher(tenant_id: str, code: str) -> Voucher | None:
    try:
        return Voucher.get(voucher_key(tenant_id, code))
    except DoesNotExist:
        return None


def vouchers_of_batch(batch_id: str) -> list[Voucher]:
    return list(Voucher.batch_index.query(batch_id))


def set_voucher_status(
    voucher: Voucher,
    from_status: str,
    to_status: str,
    *,
    redeemed_by: str | None = None,
    expect_redeemed_by: str | None = None,
) -> bool:
    """Conditional status change: True for the one caller that moved it, False for everyone else.

    ``unused`` → ``redeemed`` is the gate of a redemption: of many concurrent attempts on one voucher
    exactly one passes."""
    now = now_iso()
    actions: list[Action] = [Voucher.status.set(to_status)]
    if to_status == "redeemed":
        actions += [Voucher.redeemed_by.set(redeemed_by or "-"), Voucher.redeemed_at.set(now)]
    elif from_status == "redeemed" and to_status == "unused":
        actions += [Voucher.redeemed_by.remove(), Voucher.redeemed_at.remove()]
    cond = Voucher.id.exists() & (Voucher.status == from_status)
    if expect_redeemed_by is not None:
        cond = cond & (Voucher.redeemed_by == expect_redeemed_by)
    try:
        voucher.update(actions=actions, condition=cond)
    except UpdateError as exc:
        if _conditional(exc):
            return False
        raise
    return True


def mark_card_used(voucher_id: str, login_subscriber_id: str) -> bool:
    """The card's login connected at the gateway: the card is ``used`` (once; a card redeemed or
    revoked meanwhile keeps that status). ``redeemed_by`` is the card's own login, ``redeemed_at``
    the first use."""
    try:
        Voucher(id=voucher_id).update(
            actions=[
                Voucher.status.set("used"),
                Voucher.redeemed_by.set(login_subscriber_id),
                Voucher.redeemed_at.set(now_iso()),
            ],
            condition=Voucher.id.exists() & (Voucher.status == "unused"),
        )
    except UpdateError as exc:
        if _conditional(exc):
            return False
        raise
    return True


def _card_unused() -> Condition:
    """The card login has never been used: still new, no usage, no open session, never seen."""
    return (
        (Subscriber.status == "new")
        & (Subscriber.usage.does_not_exist() | (size(Subscriber.usage) == 0))
        & (Subscriber.open_sessions.does_not_exist() | (size(Subscriber.open_sessions) == 0))
        & Subscriber.last_seen_at.does_not_exist()
    )


def cancel_card_login(login: str) -> bool:
    """Cancel a card's login if it was never used (True); False when it is in use or gone."""
    now = now_iso()
    item = Subscriber(login=login)
    try:
        item.update(
            actions=[
                Subscriber.status.set("cancelled"),
                Subscriber.cancelled_at.set(now),
                Subscriber.updated_at.set(now),
            ],
            condition=Subscriber.login.exists() & _card_unused(),
        )
    except UpdateError as exc:
        if _conditional(exc):
            return False
        raise
    after = tallies.bucket_for(item)  # the update returned the whole item
    tallies.move(item.tenant_id, after.with_status("new"), after)
    return True


def restore_card_login(login: str) -> None:
    """Undo :func:`cancel_card_login` (a redemption that could not complete)."""
    item = Subscriber(login=login)
    try:
        item.update(
            actions=[
                Subscriber.status.set("new"),
                Subscriber.cancelled_at.remove(),
                Subscriber.updated_at.set(now_iso()),
            ],
            condition=Subscriber.login.exists() & (Subscriber.status == "cancelled"),
        )
    except UpdateError as exc:
        if not _conditional(exc):
            raise
        return
    after = tallies.bucket_for(item)
    tallies.move(item.tenant_id, after.with_status("cancelled"), after)


def card_logins(logins: Sequence[str]) -> dict[str, Subscriber]:
    """The card logins that still exist, by login key (batch read)."""
    out: dict[str, Subscriber] = {}
    for sub in Subscriber.batch_get(list(logins)):
        out[sub.login] = sub
    return out
