"""Import from the router (SPEC S2 "From printers / external apps"): hotspot users and PPPoE secrets
that ticket printers or other tools created on a MikroTik become subscribers of the system.

The router is read through the provisioner's RouterOS adapter (one connection, one pipelined round
trip for both menus). Rows already managed by the system (comment ``wisp:<id>``), dynamic rows and
rows whose name already exists in the tenant are skipped, so running the import again creates
nothing twice. The router's plan (profile) maps to the product with that ``router_profile``. After
the import, one "export to router" with *adopt* hands the imported router entries to the provisioner,
which marks them as its own instead of reporting them as conflicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.routeros import Command, RouterError, connect
from core import import_rows as rules
from core.errors import InvalidStateError, UnavailableError, ValidationError
from services import imports
from services.catalog import get_item
from services.identity.actors import Actor
from services.network import desired as d
from services.network.reconcile import target_for
from services.network.triggers import api_disabled_warning, request_export
from services.tenants import audit
from shared.observability import get_logger
from shared.runtime import Runtime
from store import catalog as catalog_store
from store import imports as import_store
from store import subscribers as subscriber_store
from store import tenants as tenant_store
from store.models import Gateway, Product

log = get_logger("router_import")

KINDS = {"pppoe": d.PPP_SECRET, "hotspot": d.HOTSPOT_USER}
_PROPS = {
    d.PPP_SECRET: (
        ".id",
        "name",
        "password",
        "profile",
        "service",
        "remote-address",
        "local-address",
        "caller-id",
        "comment",
        "disabled",
    ),
    d.HOTSPOT_USER: (
        ".id",
        "name",
        "password",
        "profile",
        "server",
        "address",
        "mac-address",
        "email",
        "comment",
        "disabled",
        "dynamic",
        "limit-uptime",
        "limit-bytes-total",
    ),
}
_PPP_SERVICES = ("any", "pppoe")


def read_router(rt: Runtime, gateway: Gateway) -> dict[str, list[dict[str, str]]]:
    """The PPPoE secrets and hotspot users on the router now."""
    if not gateway.api_enabled:
        raise InvalidStateError(api_disabled_warning(gateway), field="gateway_id")
    if (gateway.vendor or "mikrotik") != "mikrotik":
        raise InvalidStateError(f"{gateway.name} is not a MikroTik router", field="gateway_id")
    try:
        target = target_for(gateway, rt.box, float(rt.settings.router_api_timeout_s))
        with connect(target) as client:
            menus = list(KINDS.values())
            replies = client.pipeline([Command.of(f"{m}/print", proplist=_PROPS[m]) for m in menus])
            return {m: r.raise_for_trap().rows for m, r in zip(menus, replies, strict=True)}
    except RouterError as exc:
        raise UnavailableError(exc.message, field="gateway_id", details={"category": exc.category}) from exc


def _row_for(
    menu: str, r: dict[str, str], profiles: dict[str, str], default_product: str | None
) -> dict[str, str]:
    """A router row as an import row (the same checks as a spreadsheet row)."""
    product = profiles.get(r.get("profile", "")) or default_product or ""
    if menu == d.PPP_SECRET:
        caller = r.get("caller-id", "")
        return {
            "username": r.get("name", ""),
            "password": r.get("password", ""),
            "plan": product,
            "ip": r.get("remote-address", ""),
            "local_address": r.get("local-address", ""),
            "mac": caller if _is_mac(caller) else "",
            "connection_type": "pppoe",
        }
    return {
        "username": r.get("name", ""),
        "password": r.get("password", ""),
        "plan": product,
        "ip": r.get("address", ""),
        "mac": r.get("mac-address", ""),
        "email": r.get("email", ""),
        "hotspot_server": r.get("server", "") or "all",
        "connection_type": "hotspot",
    }


def _is_mac(text: str) -> bool:
    parts = text.replace("-", ":").split(":")
    return len(parts) == 6 and all(len(p) == 2 for p in parts)


def _skip_reason(menu: str, r: dict[str, str], plan_type: str, include_disabled: bool) -> str | None:
    if d.subscriber_of(r.get("comment")) is not None:
        return "already managed by the system"
    if not r.get("name"):
        return "no name"
    if r.get("dynamic") == "true":
        return "dynamic entry (created by the router itself)"
    if menu == d.PPP_SECRET and r.get("service", "any") not in _PPP_SERVICES:
        return f"{r.get('service')} secret: only PPPoE secrets are imported"
    if r.get("disabled") == "true" and not include_disabled:
        return "disabled on the router"
    if not r.get("password"):
        return "the password cannot be read (the router's API user lacks the 'sensitive' policy)"
    if plan_type != ("pppoe" if menu == d.PPP_SECRET else "hotspot"):
        return f"the router serves {plan_type} plans in the system"
    return None


def _import_rows(
    gw: Gateway,
    router: dict[str, list[dict[str, str]]],
    kinds: Sequence[str],
    default_product_id: str | None,
    include_disabled: bool,
) -> tuple[int, list[tuple[int, dict[str, str]]], list[dict[str, Any]]]:
    """The router rows read, as numbered import rows, and the rows skipped with their reason."""
    usable = [gw.tenant_id, *tenant_store.ancestor_ids(gw.tenant_id)]
    products = [p for p in catalog_store.list_for_tenants(Product, usable) if p.active]
    profiles = {
        p.router_profile: p.id for p in sorted(products, key=lambda p: p.created_at) if p.router_profile
    }
    skipped: list[dict[str, Any]] = []
    rows: list[tuple[int, dict[str, str]]] = []
    n = 0
    for kind in kinds:
        menu = KINDS[kind]
        for r in router[menu]:
            n += 1
            reason = _skip_reason(menu, r, gw.plan_type, include_disabled)
            if reason is None and subscriber_store.get_by_login(gw.tenant_id, r["name"]) is not None:
                reason = "a subscriber with this name exists"
            if reason is not None:
                skipped.append({"kind": kind, "name": r.get("name", ""), "reason": reason})
                continue
            row = _row_for(menu, r, profiles, default_product_id)
            row["gateway"] = gw.id
            if r.get("disabled") == "true":
                row["status"] = "suspended"
            rows.append((n, row))
    return n, rows, skipped


def import_from_router(
    rt: Runtime,
    actor: Actor,
    gateway_id: str,
    *,
    kinds: Sequence[str] = ("pppoe", "hotspot"),
    default_product_id: str | None = None,
    include_disabled: bool = False,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Create a subscriber for each hotspot user / PPPoE secret made on the router by hand or by other
    tools; idempotent (existing names are skipped). ``dry_run`` reports without writing."""
    gw: Gateway = get_item(actor, Gateway, gateway_id)
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValidationError("kinds must be pppoe and/or hotspot", field="kinds")
    if default_product_id:
        get_item(actor, Product, default_product_id)
    router = read_router(rt, gw)
    n, rows, skipped = _import_rows(gw, router, kinds, default_product_id, include_disabled)
    existing = import_store.tenant_subscribers(gw.tenant_id)
    checks = rules.check_create_rows(rows, imports.snapshot(gw.tenant_id, existing), required=())
    invalid = [c.as_dict() for c in checks if c.errors]
    result: dict[str, Any] = {
        "gateway_id": gw.id,
        "read": n,
        "to_create": sum(1 for c in checks if c.ok),
        "skipped": skipped,
        "invalid": invalid,
        "dry_run": dry_run,
        "created": 0,
        "subscriber_ids": [],
        "router": None,
    }
    if dry_run or not any(c.ok for c in checks):
        return result
    outcome = imports.create_rows(rt, actor, gw.tenant_id, [c for c in checks if c.ok], "router", sync=False)
    result["created"] = outcome["created"]
    result["subscriber_ids"] = outcome["subscriber_ids"]
    result["invalid"] += outcome["failures"]
    if outcome["created"]:
        # the router entries are the imported services: the provisioner takes them over (marks them)
        req = request_export(rt, gw, None, actor.actor_id, adopt=True)[0]
        result["router"] = {"status": req.status, "task_id": req.task_id, "warning": req.warning}
    audit(
        actor,
        gw.tenant_id,
        "gateway",
        gw.id,
        "import_from_router",
        None,
        {k: result[k] for k in ("read", "created")}
        | {"skipped": len(skipped), "invalid": len(result["invalid"])},
    )
    log.info(
        "router import",
        extra={"gateway_id": gw.id, "subscribers_created": outcome["created"], "skipped": len(skipped)},
    )
    return result
