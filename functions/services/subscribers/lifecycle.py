"""Operator actions on a subscriber (SPEC S4), single and bulk, each with a clear result.

Every action changes the system first (conditional on the status it was decided from), records an
audit entry, then asks the provisioner for the router change. The result says what was done in the
system and what is pending on the router (task id), or why the router was not changed."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from core import lifecycle as lc
from core.errors import DomainError, ValidationError
from services.identity.actors import Actor
from services.subscribers.changes import (
    bind_ip_mac,
    change_password,
    change_username,
    disassociate_mac,
    disconnect,
    migrate,
    recharge,
)
from services.subscribers.outcome import Outcome
from services.subscribers.status import activate, cancel, delete, set_free, suspend
from shared.runtime import Runtime

MAX_BULK = 500
# Disconnects wait for the gateways' answers: fewer per request, sent in parallel
MAX_BULK_DISCONNECT = 50
DISCONNECT_WORKERS = 10


ACTIONS: dict[str, Callable[[Runtime, Actor, str, dict[str, Any]], Outcome]] = {
    "activate": activate,
    "suspend": suspend,
    "cancel": cancel,
    "delete": delete,
    "free": set_free,
    "change_username": change_username,
    "change_password": change_password,
    "recharge": recharge,
    "migrate": migrate,
    "bind_ip_mac": bind_ip_mac,
    "disassociate_mac": disassociate_mac,
    "disconnect": disconnect,
}
BULK_ACTIONS = ("activate", "suspend", "cancel", "delete", "free", "recharge", "migrate", "disconnect")


def run_action(
    rt: Runtime, actor: Actor, action: str, subscriber_id: str, options: dict[str, Any]
) -> Outcome:
    """Run one lifecycle action on one subscriber (raises the action's domain error)."""
    return ACTIONS[action](rt, actor, subscriber_id, options)


def check_bulk(action: str, options: dict[str, Any]) -> None:
    """What a bulk request (or bulk job) of ``action`` must satisfy whatever its subscribers."""
    if action not in BULK_ACTIONS:
        raise ValidationError(f"{action} is not a bulk action", field="action")
    if action == "delete" and (options.get("mode") or "system") != "system":
        raise ValidationError(
            "deleting from the system and the router is one subscriber at a time", field="mode"
        )


def run_each(
    rt: Runtime, actor: Actor, action: str, subscriber_ids: list[str], options: dict[str, Any]
) -> list[Outcome]:
    """The action on each subscriber, in order; a failure is that subscriber's outcome (``ok`` false,
    the error) and does not stop the others. Disconnects are sent in parallel."""

    def one(sid: str) -> Outcome:
        try:
            return run_action(rt, actor, action, sid, options)
        except DomainError as exc:
            error = {"code": exc.code, "message": exc.message, "field": exc.field}
            return Outcome(sid, action, False, None, "Nothing was changed.", None, [], {}, error)

    if action == "disconnect":
        with ThreadPoolExecutor(max_workers=DISCONNECT_WORKERS) as pool:
            return list(pool.map(one, subscriber_ids))
    return [one(sid) for sid in subscriber_ids]


def run_bulk(
    rt: Runtime, actor: Actor, action: str, subscriber_ids: list[str], options: dict[str, Any]
) -> list[Outcome]:
    """The action on each subscriber; one failure does not stop the others (mixed results are normal)."""
    check_bulk(action, options)
    ids = lc.unique_ids(subscriber_ids)
    if not ids:
        raise ValidationError("give at least one subscriber id", field="subscriber_ids")
    if len(ids) > MAX_BULK:
        raise ValidationError(f"at most {MAX_BULK} subscribers per request", field="subscriber_ids")
    if action == "disconnect" and len(ids) > MAX_BULK_DISCONNECT:
        raise ValidationError(
            f"at most {MAX_BULK_DISCONNECT} subscribers per disconnect request", field="subscriber_ids"
        )
    return run_each(rt, actor, action, ids, options)
