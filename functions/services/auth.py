"""Operator login, operators and their roles, API keys for external procedures (S2)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.errors import ForbiddenError, NotFoundError, RateLimitedError, UnauthorizedError, ValidationError
from core.ids import epoch_seconds, iso, new_id, now_iso
from services.identity.actors import ROLE_RANK, Actor
from services.tenants import audit, reject_nulls, target_tenant
from shared.crypto import hash_password, verify_password
from shared.runtime import Runtime
from shared.tokens import issue_operator_token
from store import operators as store
from store import tenants as tenant_store
from store.models import ApiKey, Operator

ROLE_TENANT_KINDS = {
    "system_admin": ("system",),
    "reseller": ("reseller",),
    "manager": ("manager",),
    "operator": ("system", "reseller", "manager"),
    "read_only": ("system", "reseller", "manager"),
}
ROLE_DESCRIPTIONS = {
    "read_only": "reads everything in its tenant subtree, changes nothing",
    "operator": "staff: creates and edits subscribers and runs lifecycle actions",
    "manager": "owner of a manager tenant: also catalogue, routers, operators and API keys",
    "reseller": "reseller: also creates and manages its managers' tenants",
    "system_admin": "platform administrator: everything, every tenant",
}
LOGIN_WINDOW_S = 900
LOGIN_MAX_FAILURES = 10  # per e-mail over the current and previous 15-minute windows
_dummy_hash: list[str] = []


def _unknown_user_hash() -> str:
    """Compared against when the e-mail is unknown, so both paths cost one scrypt (no enumeration by timing)."""
    if not _dummy_hash:
        _dummy_hash.append(hash_password(secrets.token_hex(8)))
    return _dummy_hash[0]


def hash_api_secret(secret: str) -> str:
    """API key secrets are long random strings: a plain SHA-256 is enough (no password stretching)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class LoginResult:
    token: str
    expires_at: str
    operator: Operator


def login(rt: Runtime, email: str, password: str) -> LoginResult:
    """Password → signed bearer token with expiry (``settings.token_ttl_seconds``)."""
    email = email.strip().lower()
    now = int(epoch_seconds())
    window = now // LOGIN_WINDOW_S
    # this window and the one before: failures just before a window boundary still count after it
    current = store.failures(f"login#{email}", str(window))
    if current + store.failures(f"login#{email}", str(window - 1)) >= LOGIN_MAX_FAILURES:
        # failures count in their own window and the next: this window's alone keep the lock through the next
        opens = (window + (2 if current >= LOGIN_MAX_FAILURES else 1)) * LOGIN_WINDOW_S
        raise RateLimitedError(
            "too many failed logins for this e-mail; try again later",
            details={"retry_after_s": opens - now},
        )
    op = store.find_by_email(email)
    ok = verify_password(password, op.password_hash if op else _unknown_user_hash())
    if op is None or not ok or not op.active:
        store.count_failure(f"login#{email}", str(window))
        raise UnauthorizedError("wrong e-mail or password")
    tenant = tenant_store.get_tenant(op.tenant_id)
    if tenant is None or not tenant.active:
        raise UnauthorizedError("the tenant of this operator is disabled")
    ttl = rt.settings.token_ttl_seconds
    token = issue_operator_token(rt.signer, op.id, op.tenant_id, op.role, ttl, int(op.token_epoch or 0))
    store.touch_login(op)
    return LoginResult(token, iso(datetime.fromtimestamp(epoch_seconds() + ttl, UTC)), op)


OPERATOR_FIELDS = (
    "id",
    "tenant_id",
    "email",
    "name",
    "role",
    "permissions",
    "active",
    "last_login_at",
    "created_at",
    "updated_at",
)


def operator_dict(op: Operator) -> dict[str, Any]:
    """The operator as the API shows it (no password hash)."""
    return {f: getattr(op, f) for f in OPERATOR_FIELDS}


def _check_role_grant(actor: Actor, role: str, tenant_id: str) -> None:
    """A caller grants at most its own role, and only a role that exists at the tenant's level."""
    if ROLE_RANK[role] > ROLE_RANK.get(actor.role, -1):
        raise ForbiddenError(f"you cannot grant the {role} role (above your own)", field="role")
    tenant = tenant_store.get_tenant(tenant_id)
    if tenant is None:
        raise NotFoundError("tenant not found", field="tenant_id")
    if tenant.kind not in ROLE_TENANT_KINDS[role]:
        raise ValidationError(f"the {role} role does not exist in a {tenant.kind} tenant", field="role")


def get_operator(actor: Actor, operator_id: str) -> Operator:
    """An operator of the caller's subtree (404 otherwise)."""
    op = store.get_operator(operator_id)
    if op is None or not actor.can_see(op.tenant_id):
        raise NotFoundError("operator not found")
    return op


def _require_manageable(actor: Actor, op: Operator) -> None:
    if ROLE_RANK.get(op.role, 0) > ROLE_RANK.get(actor.role, -1):
        raise ForbiddenError("you cannot change an operator with a higher role than yours")


def list_operators(actor: Actor, tenant_ids: list[str]) -> list[Operator]:
    """Operators of the given tenants, by tenant and e-mail."""
    out: list[Operator] = []
    for tid in tenant_ids:
        out.extend(store.list_operators(tid))
    return sorted(out, key=lambda o: (o.tenant_id, o.email))


def create_operator(actor: Actor, data: dict[str, Any]) -> Operator:
    """Create an operator; its role is at most the caller's and must exist at the tenant's level."""
    tenant_id = target_tenant(actor, data.get("tenant_id"))
    _check_role_grant(actor, data["role"], tenant_id)
    now = now_iso()
    op = Operator(
        id=new_id("op"),
        tenant_id=tenant_id,
        email=data["email"],
        name=data.get("name"),
        role=data["role"],
        password_hash=hash_password(data["password"]),
        permissions=list(data.get("permissions") or []),
        active=True,
        created_at=now,
        updated_at=now,
    )
    store.create_operator(op)
    audit(actor, tenant_id, "operator", op.id, "create", None, operator_dict(op))
    return op


def update_operator(actor: Actor, operator_id: str, changes: dict[str, Any]) -> Operator:
    """Edit an operator (name, e-mail, role, password, active, permissions); nobody changes their own role
    or disables themselves."""
    op = get_operator(actor, operator_id)
    _require_manageable(actor, op)
    if "role" in changes and changes["role"] is not None:
        _check_role_grant(actor, changes["role"], op.tenant_id)
        if op.id == actor.actor_id and changes["role"] != op.role:
            raise ForbiddenError("you cannot change your own role", field="role")
    if op.id == actor.actor_id and changes.get("active") is False:
        raise ForbiddenError("you cannot disable yourself", field="active")
    before = operator_dict(op)
    if "password" in changes and changes["password"] is None:
        raise ValidationError("cannot be null: give the new password", field="password")
    password = changes.pop("password", None)
    clean = reject_nulls(Operator, dict(changes))
    if password:
        clean["password_hash"] = hash_password(password)
        # every token issued with the old password stops working (the caller's own included)
        clean["token_epoch"] = int(op.token_epoch or 0) + 1
    store.update_operator(op, clean)
    audit(
        actor,
        op.tenant_id,
        "operator",
        op.id,
        "change_password" if password and len(clean) == 2 else "update",
        before,
        operator_dict(op),
    )
    return op


def delete_operator(actor: Actor, operator_id: str) -> None:
    """Delete an operator (never yourself, never one above your role); frees its e-mail."""
    op = get_operator(actor, operator_id)
    _require_manageable(actor, op)
    if op.id == actor.actor_id:
        raise ForbiddenError("you cannot delete yourself")
    before = operator_dict(op)
    store.delete_operator(op)
    audit(actor, op.tenant_id, "operator", op.id, "delete", before, None)


# ---------------------------------------------------------------- API keys
API_KEY_FIELDS = ("id", "tenant_id", "name", "role", "revoked", "last_used_at", "created_by", "created_at")


def api_key_dict(k: ApiKey) -> dict[str, Any]:
    """The API key as the API shows it (never the secret or its hash)."""
    return {f: getattr(k, f) for f in API_KEY_FIELDS}


def create_api_key(actor: Actor, data: dict[str, Any]) -> tuple[ApiKey, str]:
    """A key for an external procedure; returns the record and the full key ``<id>.<secret>``, shown once
    (only a SHA-256 of the secret is stored)."""
    tenant_id = target_tenant(actor, data.get("tenant_id"))
    role = data.get("role") or "operator"
    _check_role_grant(actor, role, tenant_id)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        id=new_id("key"),
        tenant_id=tenant_id,
        name=data["name"],
        role=role,
        secret_hash=hash_api_secret(secret),
        revoked=False,
        created_by=actor.actor_id,
        created_at=now_iso(),
    )
    store.create_api_key(key)
    audit(actor, tenant_id, "api_key", key.id, "create", None, api_key_dict(key))
    return key, f"{key.id}.{secret}"


def get_api_key(actor: Actor, key_id: str) -> ApiKey:
    """An API key of the caller's subtree (404 otherwise)."""
    key = store.get_api_key(key_id)
    if key is None or not actor.can_see(key.tenant_id):
        raise NotFoundError("API key not found")
    return key


def list_api_keys(actor: Actor, tenant_ids: list[str]) -> list[ApiKey]:
    """API keys of the given tenants, newest first."""
    out: list[ApiKey] = []
    for tid in tenant_ids:
        out.extend(store.list_api_keys(tid))
    return sorted(out, key=lambda k: k.created_at, reverse=True)


def revoke_api_key(actor: Actor, key_id: str) -> ApiKey:
    """Revoke an API key: it stops authenticating at once."""
    key = get_api_key(actor, key_id)
    if ROLE_RANK.get(key.role, 0) > ROLE_RANK.get(actor.role, -1):
        raise ForbiddenError("you cannot revoke a key with a higher role than yours")
    before = api_key_dict(key)
    store.revoke_api_key(key)
    audit(actor, key.tenant_id, "api_key", key.id, "revoke", before, api_key_dict(key))
    return key
