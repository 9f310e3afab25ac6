"""Zones, gateways (routers / NAS), product policies and products (SPEC S5-S7).

Policies and products live at any level of the tenant tree and are usable below it: a manager reads
(and assigns) its reseller's and the system's, but changes only those of its own subtree.
Router secrets (RADIUS shared secret, API password) are write-only: stored encrypted, never returned.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from core import catalog_rules as rules
from core.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from core.ids import new_id, now_iso
from services.identity.actors import Actor
from services.tenants import audit, target_tenant, tenant_filter
from shared.runtime import Runtime
from store import catalog as store
from store import tenants as tenant_store
from store.catalog import ItemModel
from store.models import Gateway, Policy, Product, Zone


def _dictionary_dir() -> Path:
    """The RADIUS service's dictionary files (shared with the server), when this package has them."""
    try:
        from core.radius import DICTIONARY_PATH

        return Path(DICTIONARY_PATH).parent
    except ImportError:
        return Path(__file__).resolve().parents[2] / "radius_container" / "dictionaries"


ZONE_FIELDS = (
    "id",
    "tenant_id",
    "name",
    "timezone",
    "issue_day",
    "notice_day",
    "payment_day",
    "cutoff_day",
    "auto_invoicing",
    "auto_cutoff",
    "created_at",
    "updated_at",
)
GATEWAY_FIELDS = (
    "id",
    "tenant_id",
    "zone_id",
    "name",
    "vendor",
    "nas_ip",
    "nas_identifier",
    "require_message_authenticator",
    "send_disconnect_requests",
    "coa_port",
    "blocked_mode",
    "blocked_address_list",
    "blocked_pool",
    "api_enabled",
    "api_host",
    "api_port",
    "api_tls",
    "api_username",
    "timezone",
    "lan_interface",
    "plan_type",
    "ip_pool",
    "domain_settings",
    "location",
    "last_reboot_at",
    "vpn_address",
    "vpn_public_key",
    "created_at",
    "updated_at",
)
POLICY_FIELDS = (
    "id",
    "tenant_id",
    "code",
    "description",
    "session_timeout_min",
    "idle_timeout_min",
    "download_rate",
    "upload_rate",
    "interim_update_s",
    "daily_time_min",
    "weekly_time_min",
    "monthly_time_min",
    "daily_data_mb",
    "weekly_data_mb",
    "monthly_data_mb",
    "first_day_of_week",
    "max_devices",
    "concurrent_connections",
    "split_credits",
    "min_split_time_min",
    "min_split_data_mb",
    "schedule",
    "address_list",
    "burst",
    "modulation",
    "check_attributes",
    "reply_attributes",
    "created_at",
    "updated_at",
)
PRODUCT_FIELDS = (
    "id",
    "tenant_id",
    "name",
    "code",
    "description",
    "policy_id",
    "price",
    "cost",
    "connection_type",
    "router_profile",
    "validity_days",
    "daily_time_min",
    "weekly_time_min",
    "monthly_time_min",
    "daily_data_mb",
    "weekly_data_mb",
    "monthly_data_mb",
    "time_credit_min",
    "data_credit_mb",
    "address_list",
    "active",
    "created_at",
    "updated_at",
)
FIELDS: dict[type[ItemModel], tuple[str, ...]] = {
    Zone: ZONE_FIELDS,
    Gateway: GATEWAY_FIELDS,
    Policy: POLICY_FIELDS,
    Product: PRODUCT_FIELDS,
}
LABEL = {Zone: "zone", Gateway: "gateway", Policy: "policy", Product: "product"}
# Catalogue that lower tenants may read and assign
INHERITED = (Policy, Product)


@functools.lru_cache(maxsize=1)
def attribute_dictionary() -> dict[str, rules.AttributeType]:
    """RADIUS attribute types: the RADIUS service's dictionary files when present, else the built-in table."""
    table = dict(rules.DEFAULT_ATTRIBUTE_TYPES)
    folder = _dictionary_dir()
    if folder.is_dir():
        for path in sorted(folder.glob("dictionary*")):
            try:
                table = rules.parse_dictionary(path.read_text(encoding="utf-8", errors="replace"), table)
            except OSError:
                continue
    return table


def item_dict(item: ItemModel) -> dict[str, Any]:
    """A catalogue object as the API shows it; gateway secrets only as has_* flags."""
    out = {f: getattr(item, f, None) for f in FIELDS[type(item)]}
    if isinstance(item, Gateway):
        out["has_radius_secret"] = bool(item.radius_secret_enc)
        out["has_api_password"] = bool(item.api_password_enc)
    return out


# ---------------------------------------------------------------- generic reads
def get_item(actor: Actor, model: type[ItemModel], item_id: str, *, for_change: bool = False) -> Any:
    """An object the caller may read (404 otherwise). ``for_change`` also requires it to be in the
    caller's subtree: catalogue inherited from above is read-only here (403)."""
    item = store.get(model, item_id)
    label = LABEL[model]
    if item is None:
        raise NotFoundError(f"{label} not found")
    tid = item.tenant_id  # type: ignore[attr-defined]
    if actor.can_see(tid):
        return item
    if model in INHERITED and actor.can_use(tid):
        if for_change:
            raise ForbiddenError(f"this {label} is defined at a higher level; only its owner changes it")
        return item
    raise NotFoundError(f"{label} not found")


def list_items(
    actor: Actor, model: type[ItemModel], tenant_id: str | None, include_inherited: bool = True
) -> list[Any]:
    """Objects of the caller's subtree (or one tenant of it); policies and products also from the tenants
    above."""
    tenants = tenant_filter(actor, tenant_id)
    if model in INHERITED and include_inherited and not tenant_id:
        tenants = [*actor.ancestor_tenants, *tenants]
    items = store.list_for_tenants(model, tenants)
    key = "code" if model is Policy else "name"
    return sorted(items, key=lambda i: (str(getattr(i, key) or "").lower(), i.id))


def _usable_by(owner_tenant_id: str, item_tenant_id: str) -> bool:
    """Catalogue of tenant ``item_tenant_id`` is usable by objects of ``owner_tenant_id``."""
    return item_tenant_id == owner_tenant_id or item_tenant_id in tenant_store.ancestor_ids(owner_tenant_id)


def check_reference(
    actor: Actor, model: type[ItemModel], item_id: str | None, owner_tenant_id: str, field: str
) -> Any:
    """The referenced object, which must exist, be visible to the caller and belong to the owner's tenant
    (zones, gateways) or be usable by it (policies, products)."""
    if not item_id:
        return None
    item = store.get(model, item_id)
    label = LABEL[model]
    if item is None or not actor.can_use(item.tenant_id):  # type: ignore[attr-defined]
        raise NotFoundError(f"{label} {item_id} not found", field=field)
    tid = item.tenant_id  # type: ignore[attr-defined]
    ok = _usable_by(owner_tenant_id, tid) if model in INHERITED else tid == owner_tenant_id
    if not ok:
        raise ValidationError(f"{label} {item_id} belongs to another tenant", field=field)
    return item


def _delete(actor: Actor, model: type[ItemModel], item_id: str, ref_attribute: str) -> None:
    item = get_item(actor, model, item_id, for_change=True)
    tid = item.tenant_id
    scope = tenant_store.subtree_ids(tid) if model in INHERITED else [tid]
    refs = store.references(ref_attribute, item.id, scope)
    if refs:
        what = ", ".join(f"{n} {k}" for k, n in refs.items())
        raise ConflictError(f"{LABEL[model]} is in use by {what}", details={"used_by": refs})
    before = item_dict(item)
    store.delete(item)
    audit(actor, tid, LABEL[model], item.id, "delete", before, None)


def _create(actor: Actor, item: ItemModel) -> Any:
    store.create(item)
    audit(actor, item.tenant_id, LABEL[type(item)], item.id, "create", None, item_dict(item))  # type: ignore[attr-defined]
    return item


def _update(actor: Actor, item: ItemModel, changes: dict[str, Any], before: dict[str, Any]) -> Any:
    changed = {k: v for k, v in changes.items() if getattr(item, k, None) != v}
    if changed:
        store.update(item, changed)
        audit(actor, item.tenant_id, LABEL[type(item)], item.id, "update", before, item_dict(item))  # type: ignore[attr-defined]
    return item


# ---------------------------------------------------------------- zones
def create_zone(actor: Actor, data: dict[str, Any]) -> Zone:
    """Create a zone (billing calendar and time zone)."""
    tid = target_tenant(actor, data.pop("tenant_id", None))
    clean = rules.check_zone(data)
    now = now_iso()
    return _create(actor, Zone(id=new_id("zone"), tenant_id=tid, created_at=now, updated_at=now, **clean))


def update_zone(actor: Actor, zone_id: str, changes: dict[str, Any]) -> Zone:
    """Edit a zone; the merged record is validated."""
    zone = get_item(actor, Zone, zone_id, for_change=True)
    before = item_dict(zone)
    merged = rules.check_zone({**before, **changes})
    return _update(actor, zone, {k: merged[k] for k in changes}, before)


def delete_zone(actor: Actor, zone_id: str) -> None:
    """Delete a zone no router or subscriber uses."""
    _delete(actor, Zone, zone_id, "zone_id")


# ---------------------------------------------------------------- gateways
def _check_nas_ip(nas_ip: str, gateway_id: str | None) -> None:
    """RADIUS identifies a NAS by its source address, so one address belongs to one gateway platform-wide."""
    for other in store.gateways_by_nas_ip(nas_ip):
        if other.id != gateway_id:
            raise ConflictError(f"another gateway already uses NAS address {nas_ip}", field="nas_ip")


def create_gateway(rt: Runtime, actor: Actor, data: dict[str, Any]) -> Gateway:
    """Create a router / NAS; secrets are encrypted, the NAS address is unique."""
    tid = target_tenant(actor, data.pop("tenant_id", None))
    secret = data.pop("radius_secret")
    api_password = data.pop("api_password", None)
    clean = rules.check_gateway(data)
    if clean.get("api_enabled") and clean.get("vendor", "mikrotik") == "mikrotik" and not api_password:
        raise ValidationError("is required when the router API is enabled", field="api_password")
    check_reference(actor, Zone, clean.get("zone_id"), tid, "zone_id")
    _check_nas_ip(clean["nas_ip"], None)
    now = now_iso()
    gw = Gateway(
        id=new_id("gw"),
        tenant_id=tid,
        radius_secret_enc=rt.box.encrypt(secret),
        api_password_enc=rt.box.encrypt(api_password) if api_password else None,
        created_at=now,
        updated_at=now,
        **{k: v for k, v in clean.items() if v is not None},
    )
    return _create(actor, gw)


def update_gateway(rt: Runtime, actor: Actor, gateway_id: str, changes: dict[str, Any]) -> Gateway:
    """Edit a router; a new secret or API password replaces the stored one (never returned)."""
    gw = get_item(actor, Gateway, gateway_id, for_change=True)
    before = item_dict(gw)
    secret = changes.pop("radius_secret", None)
    api_password = changes.pop("api_password", None)
    merged = rules.check_gateway({**before, **changes})
    has_password = bool(api_password or gw.api_password_enc)
    if merged.get("api_enabled") and merged.get("vendor") == "mikrotik" and not has_password:
        raise ValidationError("is required when the router API is enabled", field="api_password")
    if "zone_id" in changes:
        check_reference(actor, Zone, changes["zone_id"], gw.tenant_id, "zone_id")
    if "nas_ip" in changes:
        _check_nas_ip(merged["nas_ip"], gw.id)
    update = {k: merged[k] for k in changes}
    if secret:
        update["radius_secret_enc"] = rt.box.encrypt(secret)
    if api_password:
        update["api_password_enc"] = rt.box.encrypt(api_password)
    store.update(gw, update)
    after = item_dict(gw)
    # secrets are recorded as changed, never with their value
    rotated = [name for name, value in (("radius_secret", secret), ("api_password", api_password)) if value]
    audit(
        actor,
        gw.tenant_id,
        "gateway",
        gw.id,
        "update",
        before,
        {**after, **({"credentials_changed": rotated} if rotated else {})},
    )
    return gw


def delete_gateway(actor: Actor, gateway_id: str) -> None:
    """Delete a router no subscriber uses."""
    _delete(actor, Gateway, gateway_id, "gateway_id")


# ---------------------------------------------------------------- policies
def create_policy(actor: Actor, data: dict[str, Any]) -> Policy:
    """Create a product policy validated against every S6 rule (interim normalised)."""
    tid = target_tenant(actor, data.pop("tenant_id", None))
    clean = rules.check_policy(data, attribute_dictionary())
    now = now_iso()
    return _create(
        actor,
        Policy(
            id=new_id("pol"),
            tenant_id=tid,
            created_at=now,
            updated_at=now,
            **{k: v for k, v in clean.items() if v is not None},
        ),
    )


def update_policy(actor: Actor, policy_id: str, changes: dict[str, Any]) -> Policy:
    """Edit a policy; the merged record is validated against every S6 rule."""
    pol = get_item(actor, Policy, policy_id, for_change=True)
    before = item_dict(pol)
    merged = rules.check_policy({**before, **changes}, attribute_dictionary())
    # interim and the structured fields may be normalised: store what the rules produced
    return _update(actor, pol, {k: merged[k] for k in changes}, before)


def delete_policy(actor: Actor, policy_id: str) -> None:
    """Delete a policy no product uses."""
    _delete(actor, Policy, policy_id, "policy_id")


# ---------------------------------------------------------------- products
def create_product(actor: Actor, data: dict[str, Any]) -> Product:
    """Create a product; its policy must be defined at its level or above."""
    tid = target_tenant(actor, data.pop("tenant_id", None))
    clean = rules.check_product(data)
    policy = check_reference(actor, Policy, clean.get("policy_id"), tid, "policy_id")
    rules.check_pcq_address_list(
        clean.get("connection_type"),
        clean.get("address_list"),
        policy.address_list if policy else None,
        "address_list",
    )
    now = now_iso()
    return _create(
        actor,
        Product(
            id=new_id("prod"),
            tenant_id=tid,
            created_at=now,
            updated_at=now,
            **{k: v for k, v in clean.items() if v is not None},
        ),
    )


def update_product(actor: Actor, product_id: str, changes: dict[str, Any]) -> Product:
    """Edit a product; the merged record is validated."""
    prod = get_item(actor, Product, product_id, for_change=True)
    before = item_dict(prod)
    merged = rules.check_product({**before, **changes})
    if changes.get("policy_id"):
        policy = check_reference(actor, Policy, changes["policy_id"], prod.tenant_id, "policy_id")
    else:
        policy = store.get(Policy, merged["policy_id"]) if merged.get("policy_id") else None
    rules.check_pcq_address_list(
        merged.get("connection_type"),
        merged.get("address_list"),
        policy.address_list if policy else None,
        "address_list",
    )
    return _update(actor, prod, {k: merged[k] for k in changes}, before)


def delete_product(actor: Actor, product_id: str) -> None:
    """Delete a product no subscriber uses."""
    _delete(actor, Product, product_id, "product_id")
