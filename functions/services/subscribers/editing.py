"""Create and edit a subscriber (SPEC S2 "from operator" / "from external procedure").

Creating or editing a subscriber that lives on a router enqueues a provisioning trigger; the result says
what was done in the system and what is pending on the router."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from core import catalog_rules as rules
from core import equipment
from core import lifecycle as lc
from core.billing_calendar import check_billing_map
from core.errors import ConflictError, ValidationError
from core.ids import iso, new_id, now_iso, parse_iso
from core.statuses import Status
from services.catalog import check_reference
from services.identity.actors import Actor
from services.subscribers.records import RouterEffect, audit_snapshot, get_subscriber, router_effect, sync
from services.tenants import audit, target_tenant
from shared.crypto import hash_password, random_password
from shared.runtime import Runtime
from store import billing as billing_store
from store import catalog as catalog_store
from store import subscribers as store
from store.models import Gateway, Policy, Product, Subscriber, Zone

# Fields whose change must be pushed to the router
ROUTER_FIELDS = frozenset({"ip", "local_address", "mac", "hotspot_server", "router_profile"})
CREATE_STATUSES = (Status.NEW, Status.ACTIVE, Status.FREE, Status.SUSPENDED)


def assign_pool_ip(tenant_id: str, gateway: Gateway, holder: str) -> str | None:
    """The next free address of the router's pool (S3: "a free IP of the pool"), reserved with a
    conditional write so services created at the same time never get the same one; None when the
    pool is full."""
    if not gateway.ip_pool:
        return None
    taken = store.ips_in_tenant(tenant_id)
    for candidate in rules.pool_hosts(gateway.ip_pool):
        if candidate not in taken and store.reserve_ip(tenant_id, candidate, holder):
            return candidate
    return None


def _service_ip(tid: str, gw: Gateway | None, data: dict[str, Any], holder: str) -> str | None:
    """The IP of a new service: the one given (checked free), else the next free one of its router's
    pool; Simple Queue and PCQ services cannot do without (422 naming ``ip``)."""
    ctype = data["connection_type"]
    if data.get("ip"):
        ip = rules.check_ip(data["ip"], "ip")
        check_ip_free(tid, str(ip), None)
        return ip
    if gw is None or ctype == "hotspot":
        rules.require_service_ip(ctype, None, ", or assign a router with an ip_pool")
        return None
    ip = assign_pool_ip(tid, gw, holder)
    if ip is None and gw.ip_pool:
        hint = f" (the pool {gw.ip_pool} of router {gw.name} has no free address)"
    else:
        hint = f", or set an ip_pool on router {gw.name}"
    rules.require_service_ip(ctype, ip, hint if ip is None else "")
    return ip


def _check_pcq_plan(ctype: str, prod: Product | None) -> None:
    """A PCQ service needs a plan that names its MikroTik address list."""
    if ctype != "pcq":
        return
    policy = catalog_store.get(Policy, prod.policy_id) if prod and prod.policy_id else None
    rules.check_pcq_address_list(
        ctype, prod.address_list if prod else None, policy.address_list if policy else None, "product_id"
    )


def check_ip_free(tenant_id: str, ip: str, subscriber_id: str | None) -> None:
    for other in store.by_logins(store.login_with_ip(tenant_id, ip)):
        if other.ip == ip and other.id != subscriber_id:
            raise ConflictError(f"IP {ip} is already assigned to {other.username}", field="ip")


@dataclass
class Created:
    subscriber: Subscriber
    password: str
    router: RouterEffect
    system: str = ""
    warnings: list[str] = field(default_factory=list)


def create_subscriber(rt: Runtime, actor: Actor, data: dict[str, Any]) -> Created:
    """Create a subscriber service (operator channel or external procedure). The username is unique per
    tenant (conditional write); the network password is random unless given."""
    tid = target_tenant(actor, data.pop("tenant_id", None))
    username = lc.check_username(data.pop("username"))
    if data.get("mac_auth"):
        # complementary access: the user is named by its MAC address (S2)
        username = lc.normalise_mac(username, "username")
        data["mac"] = username
    password = data.pop("password", None) or random_password()
    lc.check_network_password(password)
    portal_password = data.pop("portal_password", None)
    status = data.pop("status", None) or Status.NEW
    if status not in CREATE_STATUSES:
        raise ValidationError(
            f"a new subscriber starts as one of {', '.join(CREATE_STATUSES)}", field="status"
        )
    gw = check_reference(actor, Gateway, data.get("gateway_id"), tid, "gateway_id")
    zone = check_reference(actor, Zone, data.get("zone_id"), tid, "zone_id")
    prod = check_reference(actor, Product, data.get("product_id"), tid, "product_id")
    if gw is not None and zone is None and gw.zone_id:
        data["zone_id"] = gw.zone_id
    elif gw is not None and zone is not None and gw.zone_id and gw.zone_id != zone.id:
        raise ValidationError("the router belongs to another zone", field="zone_id")
    ctype = (
        data.get("connection_type")
        or (gw.plan_type if gw else None)
        or (prod.connection_type if prod else None)
    )
    data["connection_type"] = ctype or "pppoe"
    if data["connection_type"] not in rules.CONNECTION_TYPES:
        raise ValidationError(f"must be one of {', '.join(rules.CONNECTION_TYPES)}", field="connection_type")
    if gw is not None and gw.plan_type != data["connection_type"]:
        raise ValidationError(
            f"router {gw.name} serves {gw.plan_type} plans, not {data['connection_type']}",
            field="connection_type",
        )
    if data.get("price_override") is not None:
        data["price_override"] = rules.check_money(data["price_override"], "price_override")
    if data.get("billing"):
        data["billing"] = _new_billing(data["billing"])
    if data.get("mac"):
        data["mac"] = lc.normalise_mac(data["mac"])
    if data.get("advanced") is not None:
        data["advanced"] = _equipment(rt, None, data["advanced"])[0]
    _check_pcq_plan(data["connection_type"], prod)
    sub_id = new_id("sub")
    data["ip"] = _service_ip(tid, gw, data, sub_id)
    now = now_iso()
    sub = Subscriber(
        id=sub_id,
        tenant_id=tid,
        username=username,
        password_enc=rt.box.encrypt(password),
        portal_password_hash=hash_password(portal_password) if portal_password else None,
        status=status,
        created_at=now,
        updated_at=now,
        product_assigned_at=now if prod else None,
        product_expires_at=expiry(prod, now),
        **{k: v for k, v in data.items() if v is not None},
    )
    store.create(sub)
    audit(actor, tid, "subscriber", sub.id, "create", None, audit_snapshot(sub))
    effect = sync(rt, actor, sub, "create")
    where = "in the system and queued for the router" if effect.status == "queued" else "in the system"
    return Created(
        sub,
        password,
        effect,
        f"Subscriber {username} added {where}.",
        [effect.warning] if effect.warning else [],
    )


def expiry(prod: Product | None, now: str) -> str | None:
    """When a product assigned at ``now`` expires (None without validity days)."""
    if prod is None or not prod.validity_days:
        return None
    return iso(parse_iso(now) + timedelta(days=int(prod.validity_days)))


PROMISE_ENDPOINT = "POST /admin/subscribers/{subscriber_id}/payment-promise"


def _new_billing(sent: dict[str, Any]) -> dict[str, Any] | None:
    """A new client's billing options; a payment promise is given with its own action."""
    if sent.get("promise_until") is not None:
        raise ValidationError(
            f"a payment promise is given with {PROMISE_ENDPOINT}", field="billing.promise_until"
        )
    return check_billing_map(sent) or None


def _edited_billing(sub: Subscriber, sent: dict[str, Any] | None) -> dict[str, Any] | None:
    """A client's billing options after an edit that sends ``sent`` (null: none of their own). The
    payment promise is kept as it is unless sent as null (withdrawn): it is given with its own action,
    which checks the tenant's limit and reconnects the client."""
    sent = dict(sent or {})
    promise = (sub.billing or {}).get("promise_until")
    if "promise_until" in sent and sent["promise_until"] not in (None, promise):
        raise ValidationError(
            f"a payment promise is given with {PROMISE_ENDPOINT}", field="billing.promise_until"
        )
    withdrawn = "promise_until" in sent and sent.pop("promise_until") is None
    out = check_billing_map(sent)
    if promise and not withdrawn:
        out["promise_until"] = promise
    return out or None


def _equipment(
    rt: Runtime, stored: dict[str, Any] | None, sent: dict[str, Any] | None
) -> tuple[dict[str, Any], list[str]]:
    """The equipment data to store after an edit (passwords encrypted), and the passwords it set,
    changed or removed."""
    eq, changed = equipment.edited(stored, sent, rt.box.decrypt)
    return equipment.stored(eq, rt.box.encrypt), changed


@dataclass
class Updated:
    subscriber: Subscriber
    router: RouterEffect
    changed: list[str]


def update_subscriber(rt: Runtime, actor: Actor, subscriber_id: str, changes: dict[str, Any]) -> Updated:
    """Edit personal, service and billing data. Status, username, password, plan and router have their
    own actions (they have side effects: cancel dates, renames, carried-over credit, migrations)."""
    sub = get_subscriber(actor, subscriber_id)
    if changes.get("mac"):
        changes["mac"] = lc.normalise_mac(changes["mac"])
    if changes.get("ip"):
        changes["ip"] = rules.check_ip(changes["ip"], "ip")
        if changes["ip"] != sub.ip:
            check_ip_free(sub.tenant_id, changes["ip"], sub.id)
    elif "ip" in changes:
        rules.require_service_ip(sub.connection_type, None, " (it cannot be removed)")
    if changes.get("price_override") is not None:
        changes["price_override"] = rules.check_money(changes["price_override"], "price_override")
    if "portal_password" in changes:
        pw = changes.pop("portal_password")
        changes["portal_password_hash"] = hash_password(pw) if pw else None
    if "billing" in changes:
        changes["billing"] = _edited_billing(sub, changes["billing"])
    credentials_changed: list[str] = []
    if "advanced" in changes:
        changes["advanced"], credentials_changed = _equipment(rt, sub.advanced, changes["advanced"])
    changed = {k: v for k, v in changes.items() if getattr(sub, k, None) != v}
    if not changed:
        return Updated(sub, router_effect(None), [])
    before = audit_snapshot(sub)
    # billing options are also written by payments, promises and the cutoff run: the edit applies to
    # the options the operator saw, or is refused (409) to be made again on what they are now
    as_read = billing_store.billing_as_read(sub) if "billing" in changed else None
    store.update_fields(
        sub, changed, condition=as_read, conflict_field="status" if as_read is None else "billing"
    )
    after = audit_snapshot(sub)
    if credentials_changed:
        after["credentials_changed"] = credentials_changed  # which passwords, never their values
    audit(actor, sub.tenant_id, "subscriber", sub.id, "update", before, after)
    effect = (
        sync(rt, actor, sub, "update")
        if ROUTER_FIELDS & set(changed) and sub.gateway_id
        else router_effect(None)
    )
    return Updated(
        sub,
        effect,
        sorted(k for k in changed if k != "portal_password_hash")
        + (["portal_password"] if "portal_password_hash" in changed else []),
    )
