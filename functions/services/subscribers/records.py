"""The subscriber as the services see it: public fields, audit snapshot, open sessions and usage,
the read by id in the caller's subtree, and the router effect of a change (S4: pending task or
warning)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core import equipment
from core.errors import NotFoundError
from services.identity.actors import Actor
from services.network.triggers import SyncRequest, request_subscriber_sync
from services.tenants import audit
from shared.runtime import Runtime
from store import catalog as catalog_store
from store import subscribers as store
from store.models import Gateway, Subscriber

PUBLIC_FIELDS = (
    "id",
    "tenant_id",
    "username",
    "status",
    "connection_type",
    "name",
    "email",
    "phone",
    "address",
    "document_id",
    "zone_id",
    "gateway_id",
    "product_id",
    "product_assigned_at",
    "product_expires_at",
    "price_override",
    "ip",
    "local_address",
    "mac",
    "mac_auth",
    "hotspot_server",
    "router_profile",
    "free_user",
    "billing",
    "balance",
    "carry_over",
    "advanced",
    "devices",
    "installed_at",
    "cancelled_at",
    "last_seen_at",
    "created_at",
    "updated_at",
)


def open_sessions(sub: Subscriber) -> dict[str, dict[str, Any]]:
    """Open accounting sessions on the item (closed entries kept as tombstones are left out)."""
    raw = sub.open_sessions
    data = raw.as_dict() if hasattr(raw, "as_dict") else dict(raw or {})
    return {k: dict(v) for k, v in data.items() if isinstance(v, Mapping) and not v.get("cb")}


def usage_map(sub: Subscriber) -> dict[str, int]:
    """The usage counters of the item as plain integers."""
    raw = sub.usage
    data = raw.as_dict() if hasattr(raw, "as_dict") else dict(raw or {})
    out = {}
    for k, v in data.items():
        try:
            out[k] = int(v)
        except (TypeError, ValueError):
            continue
    return out


def subscriber_dict(sub: Subscriber) -> dict[str, Any]:
    """The subscriber as the API shows it (no secrets, no counters), with its online state; the
    equipment passwords only as set or not."""
    out = {f: getattr(sub, f, None) for f in PUBLIC_FIELDS}
    out["devices"] = list(sub.devices or [])
    out["advanced"] = equipment.public(equipment.read(sub.advanced))
    count = len(open_sessions(sub))
    out["online_sessions"] = count
    out["online"] = count > 0
    return out


def audit_snapshot(sub: Subscriber) -> dict[str, Any]:
    """What the audit log keeps of a subscriber (no counters, no secrets: the equipment passwords that
    are set, by name)."""
    out = {f: getattr(sub, f, None) for f in PUBLIC_FIELDS}
    out["devices"] = list(sub.devices or [])
    out["advanced"] = equipment.audit_view(equipment.read(sub.advanced))
    return out


@dataclass
class RouterEffect:
    """What happens on the router after a change made in the system."""

    status: str  # queued | api_disabled | no_gateway | not_needed
    gateway_id: str | None = None
    task_id: str | None = None
    warning: str | None = None
    message: str = ""


def router_effect(req: SyncRequest | None, gateway_name: str | None = None) -> RouterEffect:
    """Word a provisioning trigger's outcome for the caller (S4: pending task or warning)."""
    if req is None:
        return RouterEffect("not_needed", message="Nothing to change on the router.")
    where = f"router {gateway_name}" if gateway_name else "the router"
    if req.status == "queued":
        msg = f"Pending on {where}: provisioning task {req.task_id}."
        return RouterEffect("queued", req.gateway_id, req.task_id, req.warning, msg)
    if req.status == "api_disabled":
        warning = req.warning or (
            f"The router API is disabled for {gateway_name or 'this router'}: the change "
            "was made only in the system; the router was not changed."
        )
        return RouterEffect("api_disabled", req.gateway_id, None, warning, warning)
    return RouterEffect(
        "no_gateway", None, None, None, "No router is assigned: the change was made only in the system."
    )


def gateway_name(gateway_id: str | None) -> str | None:
    """The router's name, for messages."""
    if not gateway_id:
        return None
    gw = catalog_store.get(Gateway, gateway_id)
    return gw.name if gw else None


def sync(rt: Runtime, actor: Actor, sub: Subscriber, reason: str) -> RouterEffect:
    """Ask the provisioner to apply the subscriber's state on its router."""
    return router_effect(
        request_subscriber_sync(rt, sub, reason, actor.actor_id), gateway_name(sub.gateway_id)
    )


# ---------------------------------------------------------------- reads
def get_subscriber(actor: Actor, subscriber_id: str) -> Subscriber:
    """By id, in the caller's subtree (404 otherwise, whoever owns it)."""
    sub = store.get_by_id(subscriber_id) if 0 < len(subscriber_id) <= 128 else None
    if sub is None or not actor.can_see(sub.tenant_id):
        raise NotFoundError("subscriber not found", field="subscriber_id")
    return sub


def credentials(actor: Actor, rt: Runtime, subscriber_id: str) -> dict[str, str]:
    """The network username and password (print card / send credentials); the read is audited."""
    sub = get_subscriber(actor, subscriber_id)
    audit(actor, sub.tenant_id, "subscriber", sub.id, "read_credentials", None, None)
    return {"username": sub.username, "password": rt.box.decrypt(sub.password_enc)}


def equipment_secrets(actor: Actor, rt: Runtime, subscriber_id: str) -> dict[str, Any]:
    """The equipment passwords in clear (antenna, modem, Wi-Fi, and the password-like fields of
    free-form data of before), for managers and above; the read is audited."""
    actor.require_role("manager")
    sub = get_subscriber(actor, subscriber_id)
    audit(actor, sub.tenant_id, "subscriber", sub.id, "read_equipment_secrets", None, None)
    return equipment.revealed(equipment.read(sub.advanced), rt.box.decrypt)
