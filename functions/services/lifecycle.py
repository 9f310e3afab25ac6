"""Operator actions on a subscriber (SPEC S4), single and bulk, each with a clear result.

Every action changes the system first (conditional on the status it was decided from), records an
audit entry, then asks the provisioner for the router change. The result says what was done in the
system and what is pending on the router (task id), or why the router was not changed.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from core import lifecycle as lc
from core.catalog_rules import check_ip, check_money
from core.errors import DomainError, InvalidStateError, NotFoundError, ValidationError
from core.ids import iso, now_iso, parse_iso, utcnow
from core.ip_rewrite import is_placeholder, rewrite_released_ip, rewrite_targets
from core.paging import decode_key, encode_key
from core.statuses import Status
from services import subscribers as subs
from services.billing.invoices import cancel_pending_invoices
from services.catalog import check_reference
from services.disconnect import StoreGatewayDirectory, disconnect_subscriber
from services.dynauth import UdpDynAuthSender
from services.identity.actors import Actor
from services.live_sessions import LiveChange, apply_change_now
from services.network.triggers import request_subscriber_removal
from services.subscribers import RouterEffect, router_effect
from services.tenants import audit
from shared.crypto import hash_password, random_password
from shared.runtime import Runtime
from store import audit as audit_store
from store import catalog as catalog_store
from store import subscribers as store
from store.models import Gateway, Product, Subscriber, Zone
from store.radius_repo import DynamoRadiusStore

MAX_BULK = 500
# Disconnects wait for the gateways' answers: fewer per request, sent in parallel
MAX_BULK_DISCONNECT = 50
DISCONNECT_WORKERS = 10


@dataclass
class Outcome:
    """The result of one action on one subscriber."""

    subscriber_id: str
    action: str
    ok: bool = True
    status: str | None = None
    system: str = ""
    router: RouterEffect | None = None
    warnings: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None


def _outcome(
    action: str,
    sub: Subscriber,
    system: str,
    effect: RouterEffect | None = None,
    warnings: list[str] | None = None,
    **data: Any,
) -> Outcome:
    w = list(warnings or [])
    if effect is not None and effect.warning and effect.warning not in w:
        w.append(effect.warning)
    return Outcome(sub.id, action, True, sub.status, system, effect, w, data)


def _set_status(actor: Actor, sub: Subscriber, action: str, changes: dict[str, Any]) -> dict[str, Any]:
    lc.require_transition(action, sub.status)
    before = subs.audit_snapshot(sub)
    store.update_fields(sub, changes, expect_status=sub.status)
    audit(actor, sub.tenant_id, "subscriber", sub.id, action, before, subs.audit_snapshot(sub))
    return before


def _live_sessions(rt: Runtime, sub: Subscriber, change: LiveChange) -> tuple[dict[str, Any], list[str]]:
    """Apply a change to the subscriber's open RADIUS sessions at once (CoA or Disconnect); the data
    (``live_sessions``) and the S4 warning when a gateway does not answer. Nothing when offline."""
    if not subs.open_sessions(sub):
        return {}, []
    report = apply_change_now(rt, sub.tenant_id, sub.username, change)
    if report is None:
        return {}, []
    return {"live_sessions": [s.as_dict() for s in report.sessions]}, [
        report.warning
    ] if report.warning else []


# ---------------------------------------------------------------- status actions
def activate(rt: Runtime, actor: Actor, subscriber_id: str, options: dict[str, Any]) -> Outcome:
    """Active again: off the router's blocked list (or written back to it after a cancellation, with
    the address the cancellation released when it is still free)."""
    sub = subs.get_subscriber(actor, subscriber_id)
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
    _set_status(actor, sub, "activate", changes)
    effect = subs.sync(rt, actor, sub, "activate")
    if was_suspended:  # online in the restricted list: it reconnects with full service
        live, live_warnings = _live_sessions(rt, sub, LiveChange.RESTORE)
        data.update(live)
        warnings += live_warnings
    return _outcome(
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
    sub = subs.get_subscriber(actor, subscriber_id)
    _set_status(actor, sub, "suspend", {"status": Status.SUSPENDED.value})
    effect = subs.sync(rt, actor, sub, "suspend")
    live, warnings = _live_sessions(rt, sub, LiveChange.SUSPEND)
    return _outcome(
        "suspend", sub, f"Subscriber {sub.username} suspended in the system.", effect, warnings, **live
    )


def set_free(rt: Runtime, actor: Actor, subscriber_id: str, options: dict[str, Any]) -> Outcome:
    """Free: never invoiced, never notified, never cut off automatically."""
    sub = subs.get_subscriber(actor, subscriber_id)
    _set_status(actor, sub, "free", {"status": Status.FREE.value})
    effect = subs.sync(rt, actor, sub, "free")
    return _outcome(
        "free", sub, f"Subscriber {sub.username} is now free (no invoices, notices or cutoffs).", effect
    )


def _cancel_pending_invoices(rt: Runtime, actor: Actor, sub: Subscriber) -> int:
    return int(cancel_pending_invoices(rt, sub.tenant_id, sub.id, actor.actor_id))


def cancel(rt: Runtime, actor: Actor, subscriber_id: str, options: dict[str, Any]) -> Outcome:
    """The right way to end a service (S4): keeps the history, sets the cancellation date.

    Options: ``cancel_pending_invoices``; ``ip_action`` = ``release`` (rewrite the IP with the S4 table and
    remove the router entry), ``keep_suspend`` (keep the IP, blocked list on the router) or ``none``. In
    every case the service can no longer log in: its router account is disabled or removed."""
    sub = subs.get_subscriber(actor, subscriber_id)
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
    _set_status(actor, sub, "cancel", changes)
    if options.get("cancel_pending_invoices"):
        data["invoices_cancelled"] = _cancel_pending_invoices(rt, actor, sub)
    if ip_action == "release":
        effect = router_effect(
            request_subscriber_removal(rt, snapshot, old_gateway or "", "cancel_release_ip", actor.actor_id),
            subs.gateway_name(old_gateway),
        )
        system = f"Subscriber {sub.username} cancelled; IP released" + (
            f" ({old_ip} → {new_ip})." if new_ip and new_ip != old_ip else "."
        )
    elif ip_action == "keep_suspend":
        effect = subs.sync(rt, actor, sub, "cancel_keep_ip_suspend")
        system = f"Subscriber {sub.username} cancelled; IP {old_ip or '-'} kept and suspended on the router."
    else:
        # the router's local account is disabled at once: RouterOS checks it before RADIUS
        effect = subs.sync(rt, actor, sub, "cancel")
        system = f"Subscriber {sub.username} cancelled; its router account is disabled."
    live, live_warnings = _live_sessions(rt, sub, LiveChange.CANCEL)
    data.update(live)
    return _outcome("cancel", sub, system, effect, warnings + live_warnings, **data)


def delete(rt: Runtime, actor: Actor, subscriber_id: str, options: dict[str, Any]) -> Outcome:
    """Delete for mistakes (irreversible). ``mode`` = ``system`` or ``system_router`` (this one only one
    subscriber at a time and with ``confirm`` = ``eliminar_clientes``)."""
    mode = options.get("mode") or "system"
    if mode == "system_router" and options.get("confirm") != lc.DELETE_CONFIRMATION:
        raise ValidationError(
            f"confirm with the text {lc.DELETE_CONFIRMATION} (system + router removal)", field="confirm"
        )
    sub = subs.get_subscriber(actor, subscriber_id)
    lc.require_transition("delete", sub.status)
    if subs.open_sessions(sub):
        raise InvalidStateError("the subscriber is connected: disconnect it first", field="status")
    snapshot = sub.to_simple_dict()
    before = subs.audit_snapshot(sub)
    store.delete(sub)
    audit(actor, sub.tenant_id, "subscriber", sub.id, "delete", before, {"mode": mode})
    if mode == "system_router":
        effect = router_effect(
            request_subscriber_removal(rt, snapshot, sub.gateway_id or "", "delete", actor.actor_id),
            subs.gateway_name(sub.gateway_id),
        )
        system = f"Subscriber {sub.username} deleted from the system."
    else:
        effect = router_effect(None)
        system = f"Subscriber {sub.username} deleted from the system only; the router was not changed."
    out = _outcome("delete", sub, system, effect, mode=mode)
    out.status = "deleted"
    return out


# ---------------------------------------------------------------- credentials
def change_username(rt: Runtime, actor: Actor, subscriber_id: str, options: dict[str, Any]) -> Outcome:
    """Rename the service; the router entry is renamed by the provisioner (it tracks the old name)."""
    sub = subs.get_subscriber(actor, subscriber_id)
    new_name = lc.check_username(options["username"])
    if new_name == sub.username:
        raise ValidationError("the new username is the same as the current one", field="username")
    if sub.mac_auth:
        raise InvalidStateError("a MAC-authenticated user is named by its MAC address", field="username")
    before = subs.audit_snapshot(sub)
    old = sub.username
    sub = store.rename(sub, new_name, {})
    audit(actor, sub.tenant_id, "subscriber", sub.id, "change_username", before, subs.audit_snapshot(sub))
    effect = subs.sync(rt, actor, sub, "rename")
    return _outcome(
        "change_username",
        sub,
        f"Username changed from {old} to {new_name} in the system.",
        effect,
        previous_username=old,
        username=new_name,
    )


def change_password(rt: Runtime, actor: Actor, subscriber_id: str, options: dict[str, Any]) -> Outcome:
    """New network password (random unless given) and/or portal password. A generated password is
    returned once in ``data.password``."""
    sub = subs.get_subscriber(actor, subscriber_id)
    changes: dict[str, Any] = {}
    data: dict[str, Any] = {}
    network = options.get("password")
    if network is None and options.get("random", True) and not options.get("portal_password"):
        network = random_password()
        data["password"] = network
    if network is not None:
        lc.check_network_password(network)
        changes["password_enc"] = rt.box.encrypt(network)
    if options.get("portal_password"):
        changes["portal_password_hash"] = hash_password(options["portal_password"])
    if not changes:
        raise ValidationError("give a password, a portal_password or random=true", field="password")
    before = subs.audit_snapshot(sub)
    store.update_fields(sub, changes)
    what = [w for w, k in (("network", "password_enc"), ("portal", "portal_password_hash")) if k in changes]
    audit(actor, sub.tenant_id, "subscriber", sub.id, "change_password", before, {"changed": what})
    effect = subs.sync(rt, actor, sub, "password") if "password_enc" in changes else router_effect(None)
    return _outcome(
        "change_password",
        sub,
        f"{' and '.join(what).capitalize()} password changed in the system.",
        effect,
        changed=what,
        **data,
    )


# ---------------------------------------------------------------- plan and router
def recharge(rt: Runtime, actor: Actor, subscriber_id: str, options: dict[str, Any]) -> Outcome:
    """Assign a new product; the residual time and traffic of the previous one are kept (carried over)."""
    sub = subs.get_subscriber(actor, subscriber_id)
    lc.require_transition("recharge", sub.status)
    prod = check_reference(actor, Product, options["product_id"], sub.tenant_id, "product_id")
    if not prod.active:
        raise InvalidStateError("the product is not active", field="product_id")
    prev = catalog_store.get(Product, sub.product_id) if sub.product_id else None
    carried = lc.Residual(
        int((sub.carry_over or {}).get("time_min", 0) or 0),
        int((sub.carry_over or {}).get("data_mb", 0) or 0),
    )
    used_t = used_b = 0
    if sub.product_assigned_at:
        usage = subs.usage_map(sub)
        key = f"p:{sub.product_assigned_at}"
        used_t = usage.get(f"{key}:t", 0)
        used_b = usage.get(f"{key}:i", 0) + usage.get(f"{key}:o", 0)
    residual = lc.residual_credit(
        int(prev.time_credit_min) if prev else 0,
        int(prev.data_credit_mb) if prev else 0,
        carried,
        used_t,
        used_b,
    )
    now = now_iso()
    changes: dict[str, Any] = {
        "product_id": prod.id,
        "product_assigned_at": now,
        "product_expires_at": subs.expiry(prod, now),
        "carry_over": {
            "time_min": residual.time_min,
            "data_mb": residual.data_mb,
            "from_product_id": sub.product_id,
            "at": now,
        },
    }
    if options.get("price_override") is not None:
        changes["price_override"] = check_money(options["price_override"], "price_override")
    live_change = LiveChange.RESTORE if sub.status == Status.SUSPENDED else LiveChange.PLAN
    if sub.status in (Status.NEW, Status.SUSPENDED, Status.INACTIVE):
        changes["status"] = Status.ACTIVE.value
    before = subs.audit_snapshot(sub)
    store.update_fields(sub, changes, expect_status=sub.status)
    price = str(options.get("price_override") or prod.price)
    audit(
        actor,
        sub.tenant_id,
        "subscriber",
        sub.id,
        "recharge",
        before,
        {
            **subs.audit_snapshot(sub),
            "sale": {"product_id": prod.id, "product_name": prod.name, "price": price, "cost": prod.cost},
        },
    )
    effect = subs.sync(rt, actor, sub, "recharge")
    live, live_warnings = _live_sessions(rt, sub, live_change)
    return _outcome(
        "recharge",
        sub,
        f"Product {prod.name} assigned to {sub.username}; residual credit kept.",
        effect,
        live_warnings,
        **live,
        product_id=prod.id,
        carried_time_min=residual.time_min,
        carried_data_mb=residual.data_mb,
    )


def migrate(rt: Runtime, actor: Actor, subscriber_id: str, options: dict[str, Any]) -> Outcome:
    """Move a service to another router (and its zone). Same plan type moves directly and is exported to
    the new router; the entries on the old router are not removed automatically (S4)."""
    sub = subs.get_subscriber(actor, subscriber_id)
    lc.require_transition("migrate", sub.status)
    gw = check_reference(actor, Gateway, options["gateway_id"], sub.tenant_id, "gateway_id")
    zone_id = options.get("zone_id") or gw.zone_id
    if zone_id:
        check_reference(actor, Zone, zone_id, sub.tenant_id, "zone_id")
        if gw.zone_id and zone_id != gw.zone_id:
            raise ValidationError("the router belongs to another zone", field="zone_id")
    blocker = lc.migration_blocker(sub.connection_type, gw.plan_type, sub.gateway_id == gw.id)
    if blocker:
        raise InvalidStateError(
            blocker, field="gateway_id", details={"from": sub.connection_type, "to": gw.plan_type}
        )
    old_gw = sub.gateway_id
    before = subs.audit_snapshot(sub)
    store.update_fields(sub, {"gateway_id": gw.id, "zone_id": zone_id}, expect_status=sub.status)
    audit(actor, sub.tenant_id, "subscriber", sub.id, "migrate", before, subs.audit_snapshot(sub))
    effect = subs.sync(rt, actor, sub, "migrate")
    warnings = []
    if old_gw:
        warnings.append(
            f"The entries on the previous router {subs.gateway_name(old_gw) or old_gw} were not removed."
        )
    return _outcome(
        "migrate",
        sub,
        f"Subscriber {sub.username} moved to router {gw.name} in the system.",
        effect,
        warnings,
        previous_gateway_id=old_gw,
        gateway_id=gw.id,
        zone_id=zone_id,
    )


def bind_ip_mac(rt: Runtime, actor: Actor, subscriber_id: str, options: dict[str, Any]) -> Outcome:
    """IP/MAC binding: store the MAC (and interface) and make the router's ARP entry static."""
    sub = subs.get_subscriber(actor, subscriber_id)
    changes: dict[str, Any] = {}
    if options.get("ip"):
        ip = check_ip(options["ip"], "ip")
        if ip != sub.ip:
            subs._check_ip_free(sub.tenant_id, str(ip), sub.id)
        changes["ip"] = ip
    if not (changes.get("ip") or sub.ip):
        raise ValidationError("the subscriber has no IP address to bind", field="ip")
    interface = options.get("interface")
    if options.get("from_arp"):
        mac_text, arp_interface = _mac_from_arp(rt, sub, str(changes.get("ip") or sub.ip))
        interface = interface or arp_interface
    else:
        mac_text = options["mac"]
    mac = lc.normalise_mac(mac_text)
    changes["mac"] = mac
    advanced = dict(sub.advanced or {})
    advanced["arp"] = {
        "interface": interface,
        "static": bool(options.get("make_static", True)),
    }
    changes["advanced"] = advanced
    before = subs.audit_snapshot(sub)
    store.update_fields(sub, changes)
    audit(actor, sub.tenant_id, "subscriber", sub.id, "bind_ip_mac", before, subs.audit_snapshot(sub))
    effect = subs.sync(rt, actor, sub, "ip_mac_binding")
    return _outcome(
        "bind_ip_mac", sub, f"IP {sub.ip} bound to MAC {mac} in the system.", effect, mac=mac, ip=sub.ip
    )


def _mac_from_arp(rt: Runtime, sub: Subscriber, ip: str) -> tuple[str, str | None]:
    """MAC and interface of the router's ARP entry for the service's IP (S4: import MAC and interface)."""
    from services.network.provisioning import arp_entry

    gw = catalog_store.get(Gateway, sub.gateway_id) if sub.gateway_id else None
    if gw is None:
        raise ValidationError("the subscriber has no router to read the ARP table from", field="from_arp")
    if not gw.api_enabled:
        raise InvalidStateError("the router API is disabled: give the MAC instead", field="from_arp")
    entry = arp_entry(rt, gw, ip)
    if entry is None or not entry.get("mac-address"):
        raise NotFoundError(f"the router has no ARP entry for {ip}", field="ip")
    return entry["mac-address"], entry.get("interface")


def disassociate_mac(rt: Runtime, actor: Actor, subscriber_id: str, options: dict[str, Any]) -> Outcome:
    """Forget a device MAC (connection-log row action). A complementary-access user named by that MAC is
    deleted (S2)."""
    sub = subs.get_subscriber(actor, subscriber_id)
    mac = lc.normalise_mac(options["mac"])
    if sub.mac_auth and _is_mac(sub.username) and lc.normalise_mac(sub.username) == mac:
        before = subs.audit_snapshot(sub)
        snapshot = sub.to_simple_dict()
        store.delete(sub)
        audit(actor, sub.tenant_id, "subscriber", sub.id, "delete", before, {"reason": "mac disassociated"})
        effect = router_effect(
            request_subscriber_removal(
                rt, snapshot, sub.gateway_id or "", "mac disassociated", actor.actor_id
            ),
            subs.gateway_name(sub.gateway_id),
        )
        out = _outcome("disassociate_mac", sub, f"MAC {mac} disassociated: the MAC user was deleted.", effect)
        out.status = "deleted"
        return out
    devices = [d for d in (sub.devices or []) if lc.normalise_mac(str(d)) != mac] if sub.devices else []
    changes: dict[str, Any] = {"devices": devices}
    if sub.mac and sub.mac.upper() == mac:
        changes["mac"] = None
    if len(devices) == len(sub.devices or []) and "mac" not in changes:
        raise NotFoundError(f"MAC {mac} is not associated with this subscriber", field="mac")
    before = subs.audit_snapshot(sub)
    store.update_fields(sub, changes)
    audit(actor, sub.tenant_id, "subscriber", sub.id, "disassociate_mac", before, subs.audit_snapshot(sub))
    effect = subs.sync(rt, actor, sub, "mac disassociated") if "mac" in changes else router_effect(None)
    return _outcome("disassociate_mac", sub, f"MAC {mac} disassociated in the system.", effect)


def _is_mac(text: str) -> bool:
    try:
        lc.normalise_mac(text)
    except ValidationError:
        return False
    return True


# Disconnect-Request timing for API calls: an unreachable gateway costs at most 2 x 1 s per session
DYNAUTH_TIMEOUT_S = 1.0
DYNAUTH_RETRIES = 1


def disconnect(rt: Runtime, actor: Actor, subscriber_id: str, options: dict[str, Any]) -> Outcome:
    """End the subscriber's sessions: Disconnect-Request to the gateway and closed in the RADIUS data.
    If the gateway is not reachable the sessions are still closed in the data, with the S4 warning."""
    sub = subs.get_subscriber(actor, subscriber_id)
    if not subs.open_sessions(sub):
        raise InvalidStateError("the subscriber is not connected", field="status")
    radius = DynamoRadiusStore()
    report = disconnect_subscriber(
        radius,
        UdpDynAuthSender(timeout=DYNAUTH_TIMEOUT_S, retries=DYNAUTH_RETRIES),
        StoreGatewayDirectory(radius, rt.box.decrypt),
        sub.tenant_id,
        sub.username,
        utcnow(),
    )
    sessions = [
        {
            "session_id": o.session_id,
            "nas_ip": o.nas_ip,
            "acct_session_id": o.acct_session_id,
            "result": str(o.result),
            "error_cause": o.error_cause,
        }
        for o in report.sessions
    ]
    warnings = [report.warning] if report.warning else []
    audit(
        actor,
        sub.tenant_id,
        "subscriber",
        sub.id,
        "disconnect",
        None,
        {"reason": options.get("reason"), "sessions": sessions},
    )
    gateway_part = "the gateway was not reachable" if warnings else "disconnected from the gateway"
    return _outcome(
        "disconnect",
        sub,
        f"{len(sessions)} session(s) closed in the RADIUS data; {gateway_part}.",
        None,
        warnings,
        sessions=sessions,
    )


# ---------------------------------------------------------------- single and bulk
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


def run_bulk(
    rt: Runtime, actor: Actor, action: str, subscriber_ids: list[str], options: dict[str, Any]
) -> list[Outcome]:
    """The action on each subscriber; one failure does not stop the others (mixed results are normal)."""
    if action not in BULK_ACTIONS:
        raise ValidationError(f"{action} is not a bulk action", field="action")
    if action == "delete" and (options.get("mode") or "system") != "system":
        raise ValidationError(
            "deleting from the system and the router is one subscriber at a time", field="mode"
        )
    ids = lc.unique_ids(subscriber_ids)
    if not ids:
        raise ValidationError("give at least one subscriber id", field="subscriber_ids")
    if len(ids) > MAX_BULK:
        raise ValidationError(f"at most {MAX_BULK} subscribers per request", field="subscriber_ids")
    if action == "disconnect" and len(ids) > MAX_BULK_DISCONNECT:
        raise ValidationError(
            f"at most {MAX_BULK_DISCONNECT} subscribers per disconnect request", field="subscriber_ids"
        )

    def one(sid: str) -> Outcome:
        try:
            return run_action(rt, actor, action, sid, options)
        except DomainError as exc:
            error = {"code": exc.code, "message": exc.message, "field": exc.field}
            return Outcome(sid, action, False, None, "Nothing was changed.", None, [], {}, error)

    if action == "disconnect":
        with ThreadPoolExecutor(max_workers=DISCONNECT_WORKERS) as pool:
            return list(pool.map(one, ids))
    return [one(sid) for sid in ids]


# ---------------------------------------------------------------- reads: logs, dashboard, sales
LOG_COLUMNS = (
    "connection_id",
    "started_at",
    "ended_at",
    "duration",
    "duration_s",
    "upload_bytes",
    "download_bytes",
    "ip",
    "mac",
    "gateway_name",
    "nas_identifier",
    "gateway_mac",
    "ssid",
    "terminate_cause",
    "open",
)


def log_row(s: Any) -> dict[str, Any]:
    """A connection-log row (S4 fields) from an accounting session."""
    return {
        "connection_id": s.acct_session_id,
        "session_id": s.id,
        "started_at": s.started_at,
        "ended_at": s.ended_at,
        "duration": lc.format_duration(s.duration_s or 0),
        "duration_s": int(s.duration_s or 0),
        "upload_bytes": int(s.input_octets or 0),
        "download_bytes": int(s.output_octets or 0),
        "ip": s.framed_ip,
        "mac": s.mac,
        "gateway_id": s.gateway_id,
        "gateway_name": s.gateway_name,
        "nas_ip": s.nas_ip,
        "nas_identifier": s.nas_identifier,
        "gateway_mac": s.gateway_mac,
        "ssid": s.ssid,
        "terminate_cause": s.terminate_cause,
        "closed_by": s.closed_by,
        "open": s.ended_at is None,
    }


def connection_log(
    rt: Runtime, actor: Actor, subscriber_id: str, limit: int, cursor: str | None, wifi_only: bool = False
) -> tuple[list[dict[str, Any]], str | None]:
    """Connection log (or Wi-Fi connection log), newest first, with a signed cursor."""
    sub = subs.get_subscriber(actor, subscriber_id)
    start = decode_key(rt.signer, cursor, sub.id)
    items, last = store.sessions_page(sub.id, limit, start, wifi_only)
    return [log_row(s) for s in items], encode_key(rt.signer, last, sub.id)


def locate(actor: Actor, subscriber_id: str, connections: int = 50) -> dict[str, Any]:
    """Locate on the Wi-Fi heatmap (S4): the gateways and access points (Called-Station-Id MAC and
    SSID) of the subscriber's last Wi-Fi connections, most recent first, with the gateway's position."""
    sub = subs.get_subscriber(actor, subscriber_id)
    rows, _ = store.sessions_page(sub.id, connections, None, wifi_only=True)
    points: dict[tuple[str, str, str], dict[str, Any]] = {}
    for s in rows:
        key = (s.gateway_id or s.nas_ip, s.gateway_mac or "", s.ssid or "")
        point = points.setdefault(
            key,
            {
                "gateway_id": s.gateway_id,
                "gateway_name": s.gateway_name,
                "nas_ip": s.nas_ip,
                "ap_mac": s.gateway_mac,
                "ssid": s.ssid,
                "connections": 0,
                "last_seen": s.started_at,
            },
        )
        point["connections"] += 1
        point["last_seen"] = max(point["last_seen"], s.started_at)
    gateways: dict[str, Gateway | None] = {}
    for point in points.values():
        gid = point["gateway_id"]
        if gid and gid not in gateways:
            gateways[gid] = catalog_store.get(Gateway, gid)
        gw = gateways.get(gid) if gid else None
        point["location"] = gw.location if gw is not None else None
    ordered = sorted(points.values(), key=lambda p: p["last_seen"], reverse=True)
    return {"subscriber_id": sub.id, "connections": len(rows), "points": ordered}


def dashboard(actor: Actor, subscriber_id: str, days: int) -> dict[str, Any]:
    """Main chart data (traffic and time per day), connections, traffic totals and sales (S4 Dashboard)."""
    sub = subs.get_subscriber(actor, subscriber_id)
    since = utcnow() - timedelta(days=days - 1)
    since_day = since.date()
    sessions = store.sessions_since(sub.id, iso(since.replace(hour=0, minute=0, second=0, microsecond=0)))
    per_day: dict[str, dict[str, int]] = {}
    for i in range(days):
        d = (since_day + timedelta(days=i)).isoformat()
        per_day[d] = {"download_bytes": 0, "upload_bytes": 0, "time_s": 0, "sessions": 0}
    for s in sessions:
        d = parse_iso(s.started_at).date().isoformat()  # a session counts on the day it started
        if d in per_day:
            b = per_day[d]
            b["download_bytes"] += int(s.output_octets or 0)
            b["upload_bytes"] += int(s.input_octets or 0)
            b["time_s"] += int(s.duration_s or 0)
            b["sessions"] += 1
    totals = {
        k: sum(v[k] for v in per_day.values())
        for k in ("download_bytes", "upload_bytes", "time_s", "sessions")
    }
    last = max(sessions, key=lambda s: s.started_at) if sessions else None
    prod = catalog_store.get(Product, sub.product_id) if sub.product_id else None
    return {
        "subscriber": subs.subscriber_dict(sub),
        "product": {"id": prod.id, "name": prod.name, "price": prod.price} if prod else None,
        "online": bool(subs.open_sessions(sub)),
        "open_sessions": len(subs.open_sessions(sub)),
        "traffic_per_day": [{"date": d, **v} for d, v in sorted(per_day.items())],
        "totals": totals,
        "last_connection": log_row(last) if last else None,
        "sales": sales(actor, subscriber_id, sub),
    }


def sales(actor: Actor, subscriber_id: str, sub: Subscriber | None = None) -> dict[str, Any]:
    """Sales to the user grouped by product: quantity, revenue and the managers' cost (S4)."""
    sub = sub or subs.get_subscriber(actor, subscriber_id)
    groups: dict[str, dict[str, Any]] = {}

    def add(
        pid: str | None, name: str, source: str, revenue: Decimal, billed: Decimal, cost: Decimal
    ) -> None:
        key = pid or f"other:{name}"
        g = groups.setdefault(
            key,
            {
                "product_id": pid,
                "product_name": name,
                "quantity": 0,
                "billed": Decimal(0),
                "revenue": Decimal(0),
                "cost": Decimal(0),
                "sources": set(),
            },
        )
        g["quantity"] += 1
        g["billed"] += billed
        g["revenue"] += revenue
        g["cost"] += cost
        g["sources"].add(source)

    products: dict[str, Product | None] = {}

    def product(pid: str | None) -> Product | None:
        if not pid:
            return None
        if pid not in products:
            products[pid] = catalog_store.get(Product, pid)
        return products[pid]

    for inv in store.invoices_for(sub.id):
        if inv.status == "cancelled":
            continue
        pid = getattr(inv, "product_id", None)
        prod = product(pid)
        name = prod.name if prod else ("Internet service" if inv.kind == "internet" else "Other income")
        cost = Decimal(str(prod.cost)) if prod and prod.cost else Decimal(0)
        add(pid, name, "invoice", _dec(inv.paid), _dec(inv.total), cost)
    entries, _ = audit_store.query_entity(sub.id, 1000)
    for e in entries:
        sale = (e.after or {}).get("sale") if e.action == "recharge" else None
        if sale:
            price = _dec(sale.get("price"))
            add(
                sale.get("product_id"),
                str(sale.get("product_name") or sale.get("product_id")),
                "recharge",
                price,
                price,
                _dec(sale.get("cost")),
            )
    rows = []
    for g in sorted(groups.values(), key=lambda g: g["product_name"].lower()):
        rows.append(
            {
                **g,
                "billed": str(g["billed"]),
                "revenue": str(g["revenue"]),
                "cost": str(g["cost"]),
                "margin": str(g["revenue"] - g["cost"]),
                "sources": sorted(g["sources"]),
            }
        )
    return {
        "rows": rows,
        "revenue": str(sum((Decimal(r["revenue"]) for r in rows), Decimal(0))),
        "cost": str(sum((Decimal(r["cost"]) for r in rows), Decimal(0))),
    }


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except Exception:
        return Decimal(0)
