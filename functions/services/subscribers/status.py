"""Status actions on a subscriber (SPEC S4): activate, suspend, free, cancel and delete.

Every action changes the system first (conditional on the status it was decided from), records an
audit entry, then asks the provisioner for the router change."""

from __future__ import annotations

from typing import Any

from core import lifecycle as lc
from core.errors import InvalidStateError, ValidationError
from core.ids import now_iso
from core.ip_rewrite import is_placeholder, rewrite_released_ip, rewrite_targets
from core.statuses import Status
from services.billing.invoices import cancel_pending_invoices
from services.identity.actors import Actor
from services.live_sessions import LiveChange
from services.network.triggers import request_subscriber_removal
from services.subscribers.outcome import Outcome, live_sessions, outcome, set_status
from services.subscribers.records import (
    audit_snapshot,
    gateway_name,
    get_subscriber,
    open_sessions,
    router_effect,
    sync,
)
from services.tenants import audit
from shared.runtime import Runtime
from store import subscribers as store
from store.models import Subscriber


def activate(rt: Runtime, actor: Actor, subscriber_id: str, options: dict[str, Any]) -> Outcome:
    """Active again: off the router's blocked list (or written back to it after a cancellation, with
    the address the cancellation released when it is still free)."""
    sub = get_subscriber(actor, subscriber_id)
    changes: dict[str, Any] = {"status": Status.ACTIVE.value}
    warnings: list[str] = []
    data: dict[str, Any] = {}
    was_suspended = sub.status == Status.SUSPENDED
    if sub.status == Status.CANCELLED:
        changes["cancelled_at"] = None
        if sub.released_ip or is_placeholder(sub.ip):
            ip, warning = _restored_ip(sub)
            changes.update(ip=ip, released_ip=None)
            data.update(previous_ip=sub.ip, ip=ip)
            warnings += [warning] if warning else []
    set_status(actor, sub, "activate", changes)
    effect = sync(rt, actor, sub, "activate")
    if was_suspended:  # online in the restricted list: it reconnects with full service
        live, live_warnings = live_sessions(rt, sub, LiveChange.RESTORE)
        data.update(live)
        warnings += live_warnings
    return outcome(
        "activate", sub, f"Subscriber {sub.username} activated in the system.", effect, warnings, **data
    )


def _ip_holder(sub: Subscriber, ip: str) -> Subscriber | None:
    """Another service of the tenant using ``ip``."""
    holders = store.by_logins(store.login_with_ip(sub.tenant_id, ip))  # the IP index: no tenant read
    return next((o for o in holders if o.ip == ip and o.id != sub.id), None)


def _released_ip(sub: Subscriber, ip: str) -> tuple[str | None, str | None]:
    """The placeholder for a released IP (S4 rewrite) and, when both candidates are taken, None with
    the warning asking the operator to set one by hand (never a duplicate)."""
    try:
        new_ip = rewrite_released_ip(ip, store.ips_in_tenant(sub.tenant_id))
    except ValueError:
        return ip, None  # not an IPv4 address: nothing to rewrite
    if new_ip is not None:
        return new_ip, None
    first, second = rewrite_targets(ip)
    return None, (
        f"The released IP {ip} was not rewritten: {first} and {second} are already assigned. "
        "The service has no IP now; set an IP by hand if it needs one."
    )


def _restored_ip(sub: Subscriber) -> tuple[str | None, str | None]:
    """The address for a cancelled service coming back: the one its cancellation released when still
    free, else none (with the reason) — never the release placeholder."""
    released = sub.released_ip
    if not released:
        return None, f"The placeholder IP {sub.ip} was removed; set an IP by hand if the service needs one."
    holder = _ip_holder(sub, released)
    if holder is None:
        return released, None
    return None, (
        f"The IP {released} released at the cancellation is now assigned to {holder.username}; the "
        f"placeholder {sub.ip or '-'} was removed. Set an IP by hand if the service needs one."
    )


def suspend(rt: Runtime, actor: Actor, subscriber_id: str, options: dict[str, Any]) -> Outcome:
    """Suspended (= blocked): the router puts the service in its blocked address list."""
    sub = get_subscriber(actor, subscriber_id)
    set_status(actor, sub, "suspend", {"status": Status.SUSPENDED.value})
    effect = sync(rt, actor, sub, "suspend")
    live, warnings = live_sessions(rt, sub, LiveChange.SUSPEND)
    return outcome(
        "suspend", sub, f"Subscriber {sub.username} suspended in the system.", effect, warnings, **live
    )


def set_free(rt: Runtime, actor: Actor, subscriber_id: str, options: dict[str, Any]) -> Outcome:
    """Free: never invoiced, never notified, never cut off automatically."""
    sub = get_subscriber(actor, subscriber_id)
    set_status(actor, sub, "free", {"status": Status.FREE.value})
    effect = sync(rt, actor, sub, "free")
    return outcome(
        "free", sub, f"Subscriber {sub.username} is now free (no invoices, notices or cutoffs).", effect
    )


def _cancel_pending_invoices(rt: Runtime, actor: Actor, sub: Subscriber) -> int:
    return int(cancel_pending_invoices(rt, sub.tenant_id, sub.id, actor.actor_id, actor.actor_kind))


def cancel(rt: Runtime, actor: Actor, subscriber_id: str, options: dict[str, Any]) -> Outcome:
    """The right way to end a service (S4): keeps the history, sets the cancellation date.

    Options: ``cancel_pending_invoices``; ``ip_action`` = ``release`` (rewrite the IP with the S4 table and
    remove the router entry), ``keep_suspend`` (keep the IP, blocked list on the router) or ``none``. In
    every case the service can no longer log in: its router account is disabled or removed."""
    sub = get_subscriber(actor, subscriber_id)
    ip_action = options.get("ip_action") or "none"
    lc.require_transition("cancel", sub.status)
    snapshot = sub.to_simple_dict()
    old_ip, old_gateway = sub.ip, sub.gateway_id
    changes: dict[str, Any] = {"status": Status.CANCELLED.value, "cancelled_at": now_iso()}
    warnings: list[str] = []
    data: dict[str, Any] = {"ip_action": ip_action}
    new_ip = None
    if ip_action == "release" and old_ip:
        new_ip, warning = _released_ip(sub, old_ip)
        if new_ip != old_ip:
            changes.update(ip=new_ip, released_ip=old_ip)
            data.update(previous_ip=old_ip, ip=new_ip)
        warnings += [warning] if warning else []
    set_status(actor, sub, "cancel", changes)
    if options.get("cancel_pending_invoices"):
        data["invoices_cancelled"] = _cancel_pending_invoices(rt, actor, sub)
    if ip_action == "release":
        effect = router_effect(
            request_subscriber_removal(rt, snapshot, old_gateway or "", "cancel_release_ip", actor.actor_id),
            gateway_name(old_gateway),
        )
        system = f"Subscriber {sub.username} cancelled; IP released" + (
            f" ({old_ip} → {new_ip})." if new_ip and new_ip != old_ip else "."
        )
    elif ip_action == "keep_suspend":
        effect = sync(rt, actor, sub, "cancel_keep_ip_suspend")
        system = f"Subscriber {sub.username} cancelled; IP {old_ip or '-'} kept and suspended on the router."
    else:
        # the router's local account is disabled at once: RouterOS checks it before RADIUS
        effect = sync(rt, actor, sub, "cancel")
        system = f"Subscriber {sub.username} cancelled; its router account is disabled."
    live, live_warnings = live_sessions(rt, sub, LiveChange.CANCEL)
    data.update(live)
    return outcome("cancel", sub, system, effect, warnings + live_warnings, **data)


def delete(rt: Runtime, actor: Actor, subscriber_id: str, options: dict[str, Any]) -> Outcome:
    """Delete for mistakes (irreversible). ``mode`` = ``system`` or ``system_router`` (this one only one
    subscriber at a time and with ``confirm`` = ``eliminar_clientes``)."""
    mode = options.get("mode") or "system"
    if mode == "system_router" and options.get("confirm") != lc.DELETE_CONFIRMATION:
        raise ValidationError(
            f"confirm with the text {lc.DELETE_CONFIRMATION} (system + router removal)", field="confirm"
        )
    sub = get_subscriber(actor, subscriber_id)
    lc.require_transition("delete", sub.status)
    if open_sessions(sub):
        raise InvalidStateError("the subscriber is connected: disconnect it first", field="status")
    snapshot = sub.to_simple_dict()
    before = audit_snapshot(sub)
    store.delete(sub)
    audit(actor, sub.tenant_id, "subscriber", sub.id, "delete", before, {"mode": mode})
    if mode == "system_router":
        effect = router_effect(
            request_subscriber_removal(rt, snapshot, sub.gateway_id or "", "delete", actor.actor_id),
            gateway_name(sub.gateway_id),
        )
        system = f"Subscriber {sub.username} deleted from the system."
    else:
        effect = router_effect(None)
        system = f"Subscriber {sub.username} deleted from the system only; the router was not changed."
    out = outcome("delete", sub, system, effect, mode=mode)
    out.status = "deleted"
    return out
