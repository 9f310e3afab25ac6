"""Changes to a subscriber's service (SPEC S4): username and passwords, plan (recharge), router
(migrate), IP/MAC binding, device MACs, and disconnecting its sessions."""

from __future__ import annotations

from typing import Any

from adapters.dynauth import UdpDynAuthSender
from core import lifecycle as lc
from core.catalog_rules import check_ip, check_money
from core.errors import InvalidStateError, NotFoundError, ValidationError
from core.ids import now_iso, utcnow
from core.statuses import Status
from services.billing.currencies import tenant_currencies
from services.catalog import check_reference
from services.disconnect import StoreGatewayDirectory, disconnect_subscriber
from services.identity.actors import Actor
from services.live_sessions import LiveChange
from services.network.triggers import request_subscriber_removal
from services.subscribers.editing import check_ip_free, expiry
from services.subscribers.outcome import Outcome, live_sessions, outcome
from services.subscribers.records import (
    audit_snapshot,
    gateway_name,
    get_subscriber,
    open_sessions,
    router_effect,
    sync,
    usage_map,
)
from services.tenants import audit
from shared.crypto import hash_password, random_password
from shared.runtime import Runtime
from store import catalog as catalog_store
from store import subscribers as store
from store.models import Gateway, Product, Subscriber, Zone
from store.radius_repo import DynamoRadiusStore


def change_username(rt: Runtime, actor: Actor, subscriber_id: str, options: dict[str, Any]) -> Outcome:
    """Rename the service; the router entry is renamed by the provisioner (it tracks the old name)."""
    sub = get_subscriber(actor, subscriber_id)
    new_name = lc.check_username(options["username"])
    if new_name == sub.username:
        raise ValidationError("the new username is the same as the current one", field="username")
    if sub.mac_auth:
        raise InvalidStateError("a MAC-authenticated user is named by its MAC address", field="username")
    before = audit_snapshot(sub)
    old = sub.username
    sub = store.rename(sub, new_name, {})
    audit(actor, sub.tenant_id, "subscriber", sub.id, "change_username", before, audit_snapshot(sub))
    effect = sync(rt, actor, sub, "rename")
    return outcome(
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
    sub = get_subscriber(actor, subscriber_id)
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
    before = audit_snapshot(sub)
    store.update_fields(sub, changes)
    what = [w for w, k in (("network", "password_enc"), ("portal", "portal_password_hash")) if k in changes]
    audit(actor, sub.tenant_id, "subscriber", sub.id, "change_password", before, {"changed": what})
    effect = sync(rt, actor, sub, "password") if "password_enc" in changes else router_effect(None)
    return outcome(
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
    sub = get_subscriber(actor, subscriber_id)
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
        usage = usage_map(sub)
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
        "product_expires_at": expiry(prod, now),
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
    before = audit_snapshot(sub)
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
            **audit_snapshot(sub),
            "sale": {
                "product_id": prod.id,
                "product_name": prod.name,
                "price": price,
                "cost": prod.cost,
                "currency": tenant_currencies([sub.tenant_id]).get(sub.tenant_id),
            },
        },
    )
    effect = sync(rt, actor, sub, "recharge")
    live, live_warnings = live_sessions(rt, sub, live_change)
    return outcome(
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
    sub = get_subscriber(actor, subscriber_id)
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
    before = audit_snapshot(sub)
    store.update_fields(sub, {"gateway_id": gw.id, "zone_id": zone_id}, expect_status=sub.status)
    audit(actor, sub.tenant_id, "subscriber", sub.id, "migrate", before, audit_snapshot(sub))
    effect = sync(rt, actor, sub, "migrate")
    warnings = []
    if old_gw:
        warnings.append(
            f"The entries on the previous router {gateway_name(old_gw) or old_gw} were not removed."
        )
    return outcome(
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
    sub = get_subscriber(actor, subscriber_id)
    changes: dict[str, Any] = {}
    if options.get("ip"):
        ip = check_ip(options["ip"], "ip")
        if ip != sub.ip:
            check_ip_free(sub.tenant_id, str(ip), sub.id)
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
    before = audit_snapshot(sub)
    store.update_fields(sub, changes)
    audit(actor, sub.tenant_id, "subscriber", sub.id, "bind_ip_mac", before, audit_snapshot(sub))
    effect = sync(rt, actor, sub, "ip_mac_binding")
    return outcome(
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
    sub = get_subscriber(actor, subscriber_id)
    mac = lc.normalise_mac(options["mac"])
    if sub.mac_auth and _is_mac(sub.username) and lc.normalise_mac(sub.username) == mac:
        before = audit_snapshot(sub)
        snapshot = sub.to_simple_dict()
        store.delete(sub)
        audit(actor, sub.tenant_id, "subscriber", sub.id, "delete", before, {"reason": "mac disassociated"})
        effect = router_effect(
            request_subscriber_removal(
                rt, snapshot, sub.gateway_id or "", "mac disassociated", actor.actor_id
            ),
            gateway_name(sub.gateway_id),
        )
        out = outcome("disassociate_mac", sub, f"MAC {mac} disassociated: the MAC user was deleted.", effect)
        out.status = "deleted"
        return out
    devices = [d for d in (sub.devices or []) if lc.normalise_mac(str(d)) != mac] if sub.devices else []
    changes: dict[str, Any] = {"devices": devices}
    if sub.mac and sub.mac.upper() == mac:
        changes["mac"] = None
    if len(devices) == len(sub.devices or []) and "mac" not in changes:
        raise NotFoundError(f"MAC {mac} is not associated with this subscriber", field="mac")
    before = audit_snapshot(sub)
    store.update_fields(sub, changes)
    audit(actor, sub.tenant_id, "subscriber", sub.id, "disassociate_mac", before, audit_snapshot(sub))
    effect = sync(rt, actor, sub, "mac disassociated") if "mac" in changes else router_effect(None)
    return outcome("disassociate_mac", sub, f"MAC {mac} disassociated in the system.", effect)


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
    sub = get_subscriber(actor, subscriber_id)
    if not open_sessions(sub):
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
    return outcome(
        "disconnect",
        sub,
        f"{len(sessions)} session(s) closed in the RADIUS data; {gateway_part}.",
        None,
        warnings,
        sessions=sessions,
    )
