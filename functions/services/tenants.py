"""The tenant tree (system → resellers → managers) and who may act where.

Domain operations take an :class:`Actor`: the API passes its authenticated principal; scheduled jobs and
tests may pass any object with the same members.
"""

from __future__ import annotations

from typing import Any

from core.catalog_rules import check_timezone
from core.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from core.ids import new_id, now_iso
from core.money import currency_or_default
from core.retention import SETTING_KEYS as RETENTION_KEYS
from core.retention import check_settings as check_retention
from core.templates import DEFAULT_TEMPLATES as BILLING_TEMPLATES
from core.templates import validate_template
from services.audit import record_audit
from services.identity.actors import Actor
from store import billing as billing_store
from store import catalog as catalog_store
from store import operators as operator_store
from store import subscribers as subscriber_store
from store import tenants as tenant_store
from store.models import Gateway, Tenant

# Which kind of tenant each kind may create below itself.
CHILD_KINDS = {"system": ("reseller", "manager"), "reseller": ("manager",), "manager": ()}


def audit(
    actor: Actor,
    tenant_id: str,
    entity_type: str,
    entity_id: str,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """Record a change made by ``actor`` (one line per changed entity)."""
    record_audit(
        actor.actor_id,
        actor.actor_kind,
        tenant_id,
        entity_type,
        entity_id,
        action,
        before,
        after,
        actor.request_id,
    )


def target_tenant(actor: Actor, tenant_id: str | None) -> str:
    """The tenant a new object goes to: the caller's own, or one of its subtree (else 404)."""
    if tenant_id is None or tenant_id == actor.tenant_id:
        return actor.tenant_id
    actor.require_visible(tenant_id, "tenant")
    return tenant_id


def visible_tenant(actor: Actor, tenant_id: str | None) -> Tenant:
    """The caller's tenant by default, or one of its subtree (404 otherwise)."""
    return get_tenant(actor, target_tenant(actor, tenant_id))


def tenant_filter(actor: Actor, tenant_id: str | None) -> list[str]:
    """Tenants a list covers: the whole visible subtree, or one tenant of it."""
    if tenant_id:
        actor.require_visible(tenant_id, "tenant")
        return [tenant_id]
    return sorted(actor.visible_tenants)


TENANT_FIELDS = (
    "id",
    "name",
    "kind",
    "parent_id",
    "ancestors",
    "company_name",
    "currency",
    "tax_rate",
    "timezone",
    "logo_url",
    "contact_email",
    "settings",
    "active",
    "created_at",
    "updated_at",
)


def tenant_dict(t: Tenant) -> dict[str, Any]:
    """The tenant as the API (and the audit log) shows it: payment provider keys stay write-only."""
    out = {f: getattr(t, f) for f in TENANT_FIELDS}
    out["settings"] = _public_settings(t.settings)
    return out


def _payment_accounts(settings: Any) -> dict[str, Any] | None:
    payments = settings.get("payments") if isinstance(settings, dict) else None
    accounts = payments.get("accounts") if isinstance(payments, dict) else None
    return accounts if isinstance(accounts, dict) else None


def _public_settings(settings: Any) -> dict[str, Any]:
    """Tenant settings without the key material of the online-payment accounts (``*_enc``: the
    encrypted provider keys); the payment settings show what is set."""
    out = dict(settings or {})
    accounts = _payment_accounts(out)
    if accounts is not None:
        shown = {
            name: {k: v for k, v in acct.items() if not str(k).endswith("_enc")}
            if isinstance(acct, dict)
            else acct
            for name, acct in accounts.items()
        }
        out["payments"] = {**out["payments"], "accounts": shown}
    return out


# The settings keys the product reads; anything else is refused (a misspelt key would do nothing).
SETTING_KEYS = (
    "templates",  # billing templates here; credential templates at their own endpoint
    "billing",  # fees, promise limit, reconnect rule
    "portal",  # customer portal options (login page of printed cards)
    "payments",  # shown by reads and accepted back unchanged; edited at its own endpoints
    "inactivity_days",
    *RETENTION_KEYS,
)
PAYMENT_ENDPOINTS = (
    "PUT /admin/payment-settings and PUT or DELETE /admin/payment-settings/accounts/{provider}"
)
CREDENTIAL_TEMPLATES_ENDPOINT = "PUT /admin/credentials/templates"


def merge_settings(stored: dict[str, Any] | None, sent: dict[str, Any] | None) -> dict[str, Any]:
    """Tenant settings after an edit that sends ``sent``: merged key by key (null removes a key) and the
    templates name by name (null puts a template back to its default). A value sent back as a read
    shows it is kept as stored, so a whole read can be sent back. Refused with 422 naming the field:
    key material (``*_enc``) anywhere, payment settings and credential templates (each edited at its
    own endpoint, with its own checks), and keys the product does not read."""
    _refuse_key_material(sent, "settings")
    merged = dict(stored or {})
    shown = _public_settings(merged)
    for key, value in (sent or {}).items():
        field = f"settings.{key}"
        if value == shown.get(key):
            continue  # as a read shows it: unchanged
        if key == "payments":
            raise ValidationError(f"online payments are set with {PAYMENT_ENDPOINTS}", field=field)
        if key == "templates":
            value = _merge_templates(merged.get(key), value) or None
        elif key not in SETTING_KEYS and value is not None:
            raise ValidationError(f"unknown setting; known: {', '.join(SETTING_KEYS)}", field=field)
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    check_retention(merged)
    return merged


def _refuse_key_material(value: Any, path: str) -> None:
    """Encrypted keys are written only by the endpoint that checks and encrypts them."""
    if isinstance(value, dict):
        for k, v in value.items():
            if str(k).endswith("_enc"):
                raise ValidationError(
                    f"key material cannot be written here; payment provider keys are set with {PAYMENT_ENDPOINTS}",
                    field=f"{path}.{k}",
                )
            _refuse_key_material(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _refuse_key_material(v, f"{path}.{i}")


def _merge_templates(stored: Any, sent: Any) -> dict[str, Any]:
    """The tenant's own templates after an edit: billing templates checked by
    :func:`core.templates.validate_template`; a credential template (or any other name) is refused."""
    old = dict(stored) if isinstance(stored, dict) else {}
    if sent is None:
        sent = dict.fromkeys(old)
    if not isinstance(sent, dict):
        raise ValidationError(
            "an object of template name → text (null: the default)", field="settings.templates"
        )
    merged = dict(old)
    for name, text in sent.items():
        field = f"settings.templates.{name}"
        if text == old.get(name):
            continue
        if name not in BILLING_TEMPLATES:
            raise ValidationError(
                f"not a billing template ({', '.join(BILLING_TEMPLATES)}); credential templates are "
                f"edited with {CREDENTIAL_TEMPLATES_ENDPOINT}",
                field=field,
            )
        if text is None:
            merged.pop(name, None)
            continue
        if not isinstance(text, str) or not text.strip():
            raise ValidationError("a template is a non-empty text (null: the default)", field=field)
        validate_template(name, text, field=field)
        merged[name] = text
    return merged


def get_tenant(actor: Actor, tenant_id: str) -> Tenant:
    """A tenant of the caller's subtree (404 otherwise)."""
    actor.require_visible(tenant_id, "tenant")
    t = tenant_store.get_tenant(tenant_id)
    if t is None:
        raise NotFoundError("tenant not found", field="tenant_id")
    return t


def list_tenants(actor: Actor, parent_id: str | None = None, kind: str | None = None) -> list[Tenant]:
    """The caller's tenant and its subtree (optionally the children of one tenant, or one kind)."""
    if parent_id:
        actor.require_visible(parent_id, "tenant")
        items = tenant_store.list_children(parent_id)
    else:
        items = tenant_store.batch_get_tenants(sorted(actor.visible_tenants))
    if kind:
        items = [t for t in items if t.kind == kind]
    return sorted(items, key=lambda t: (len(t.ancestors or []), t.name.lower(), t.id))


def create_tenant(actor: Actor, data: dict[str, Any]) -> Tenant:
    """Create a reseller or manager below a tenant of the caller's subtree."""
    parent_id = data.pop("parent_id", None) or actor.tenant_id
    parent = get_tenant(actor, parent_id)
    kind = data.pop("kind")
    if kind not in CHILD_KINDS.get(parent.kind, ()):
        allowed = ", ".join(CHILD_KINDS.get(parent.kind, ())) or "nothing"
        raise ValidationError(f"a {parent.kind} tenant can hold {allowed}", field="kind")
    if kind == "reseller" and not actor.has_role("system_admin"):
        raise ForbiddenError("only a system administrator creates resellers")
    check_timezone(data.get("timezone") or "UTC")
    data["settings"] = merge_settings({}, data.get("settings"))
    now = now_iso()
    t = Tenant(
        id=new_id("ten"),
        kind=kind,
        parent_id=parent.id,
        ancestors=[*(parent.ancestors or []), parent.id],
        created_at=now,
        updated_at=now,
        **{k: v for k, v in data.items() if v is not None},
    )
    tenant_store.create_tenant(t)
    audit(actor, parent.id, "tenant", t.id, "create", None, tenant_dict(t))  # a tenant belongs to its parent
    return t


def update_tenant(actor: Actor, tenant_id: str, changes: dict[str, Any]) -> Tenant:
    """Edit a tenant; ``settings`` merges key by key (see :func:`merge_settings`) because other parts of
    the system (payments, credential templates) keep their own keys there."""
    t = get_tenant(actor, tenant_id)
    reject_nulls(Tenant, changes, skip=("settings",))
    if "timezone" in changes:
        check_timezone(changes["timezone"])
    if "settings" in changes:
        changes["settings"] = merge_settings(t.settings, changes["settings"])
    if changes.get("active") is False and tenant_id == actor.tenant_id:
        raise ForbiddenError("you cannot disable your own tenant", field="active")
    if t.id == actor.tenant_id and not actor.has_role("manager"):
        raise ForbiddenError("only a manager or higher edits the tenant")
    if "currency" in changes:
        check_currency_change(t, changes["currency"])
    before = tenant_dict(t)
    tenant_store.update_tenant(t, {**changes, "updated_at": now_iso()})
    audit(actor, t.id, "tenant", t.id, "update", before, tenant_dict(t))
    return t


# Invoices still owing money (unpaid or partly paid).
OPEN_INVOICE_STATUSES = ("pending", "partial")


def check_currency_change(t: Tenant, new_currency: str | None) -> None:
    """A tenant's currency changes only while no money is open in another currency: no unpaid or partly
    paid invoice in another currency than the new one, and no subscriber with a balance (balances have
    no currency of their own: they are in the tenant's). Otherwise a payment in the new currency would
    pay invoices of the old one, overdue amounts of both would be added up, and balances would change
    currency. Refused with 409 naming ``currency``, with what keeps it in ``details``: the invoices are
    paid or cancelled and the balances used (by invoices) first. Paid and cancelled invoices stay in
    their currency (the reports give each currency's figures)."""
    old, new = currency_or_default(t.currency), currency_or_default(new_currency)
    if new == old:
        return
    invoices = billing_store.open_invoice_currencies(t.id, OPEN_INVOICE_STATUSES)
    blockers = {
        "unpaid_invoices": sum(n for currency, n in invoices.items() if currency != new),
        "subscribers_with_balance": billing_store.subscribers_with_balance(t.id),
    }
    if not any(blockers.values()):
        return
    what = " and ".join(
        f"{n} {label}"
        for n, label in (
            (blockers["unpaid_invoices"], "unpaid or partly paid invoices"),
            (blockers["subscribers_with_balance"], "subscribers with a balance"),
        )
        if n
    )
    raise ConflictError(
        f"the currency cannot change from {old} to {new} while money is open in {old}: {what}; "
        "have the invoices paid or cancel them, and the balances used, first",
        field="currency",
        details={"currency": old, **blockers},
    )


def delete_tenant(actor: Actor, tenant_id: str) -> None:
    """Delete an empty tenant (no child tenants, operators, routers or subscribers)."""
    t = get_tenant(actor, tenant_id)
    if tenant_id == actor.tenant_id:
        raise ForbiddenError("you cannot delete your own tenant")
    if t.kind == "system":
        raise ForbiddenError("the system tenant cannot be deleted")
    blockers = {
        "tenants": len(tenant_store.list_children(tenant_id)),
        "operators": len(operator_store.list_operators(tenant_id)),
        "gateways": len(catalog_store.list_for_tenants(Gateway, [tenant_id])),
        "subscribers": int(subscriber_store.any_in_tenant(tenant_id)),
    }
    blockers = {k: v for k, v in blockers.items() if v}
    if blockers:
        what = ", ".join(f"{v} {k}" for k, v in blockers.items())
        raise ConflictError(f"the tenant still holds {what}; disable it instead", details={"holds": blockers})
    before = tenant_dict(t)
    t.delete()
    # kept under the parent: the deleted tenant's own scope no longer exists
    audit(actor, t.parent_id, "tenant", t.id, "delete", before, None)


def reject_nulls(model: type[Any], changes: dict[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """PATCH semantics, in place: null clears an optional attribute, puts an attribute that has a
    default back to that default, and is refused for a required attribute (the API schema does not
    offer null there). ``skip`` names body fields that are not attributes of ``model``."""
    for name, value in changes.items():
        attr = getattr(model, name, None)
        if value is not None or attr is None or name in skip or getattr(attr, "null", False):
            continue
        default = getattr(attr, "default", None)
        if default is None:
            raise ValidationError("cannot be null: the field is required", field=name)
        changes[name] = default() if callable(default) else default
    return changes
