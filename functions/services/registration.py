"""Self-registration from the captive portal (SPEC S2 "From user"; S6 free users).

What a network offers is set per gateway in ``Gateway.domain_settings["registration"]``::

    {"mode": "register",            # disabled | register | click_connect | simple_password
     "fields": ["name", "phone", "email"], "required": ["name", "phone"],
     "verify": "sms",               # sms | email | none: where the one-time code goes
     "products": ["prod_day", ...],  # offered at registration: free ones directly, others with a voucher
     "allow_vouchers": true,
     "free_product_id": "prod_free", # Click & connect / Simple password: what the free user gets
     "simple_password": "cafe2026"}  # Simple password: the venue's shared password

``register``: start (contact data) → a six-digit code by SMS or e-mail → verify → complete (username,
password, a free product or a voucher). Codes are kept only as an HMAC, expire after
:data:`CODE_TTL_S`, allow :data:`MAX_VERIFY_ATTEMPTS` checks, and sending them is rate-limited per
contact and per address. ``click_connect`` and ``simple_password`` create a free user at once
(``free_user``: no allowances, never invoiced).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from core.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidStateError,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
    ValidationError,
)
from core.ids import epoch_seconds, new_id
from core.lifecycle import check_network_password, check_username, normalise_mac
from core.statuses import Status
from services import card_pdf, credentials, vouchers
from services import subscribers as subs
from services.identity.actors import Principal
from services.portal_auth import issue_autologin_link
from services.subscribers import lifecycle
from shared.crypto import random_password
from shared.observability import get_logger
from shared.runtime import Runtime
from shared.tokens import TokenError
from store import catalog as catalog_store
from store import portal as windows
from store import registration as store
from store import subscribers as subscriber_store
from store import tenants as tenant_store
from store.models import Gateway, Product, Subscriber, Tenant, TokenRecord

log = get_logger("registration")

MODES = ("disabled", "register", "click_connect", "simple_password")
FIELDS = ("name", "phone", "email")
CODE_TTL_S = 10 * 60
COMPLETE_TTL_S = 30 * 60
MAX_VERIFY_ATTEMPTS = 5
WINDOW_S = 15 * 60
MAX_CODES_PER_CONTACT = 3
MAX_STARTS_PER_ADDRESS = 20
MAX_PASSWORD_FAILURES_PER_ADDRESS = 10
REGISTRATION_TOKEN = "registration"
_PHONE = re.compile(r"^\+[1-9]\d{7,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class DomainSettings:
    mode: str = "disabled"
    fields: tuple[str, ...] = ("name", "phone", "email")
    required: tuple[str, ...] = ()
    verify: str = "none"
    products: tuple[str, ...] = ()
    allow_vouchers: bool = True
    free_product_id: str | None = None
    simple_password: str | None = field(default=None, repr=False)


def domain_settings(gw: Gateway) -> DomainSettings:
    """The gateway's registration settings, normalised; unusable values fall back to safe defaults
    (registration disabled), and the verification contact is always asked and required."""
    raw = (gw.domain_settings or {}).get("registration")
    if not isinstance(raw, dict):
        return DomainSettings()
    mode = raw.get("mode") if raw.get("mode") in MODES else "disabled"
    verify = raw.get("verify") if raw.get("verify") in ("sms", "email", "none") else "none"
    fields_ = tuple(f for f in FIELDS if f in (raw.get("fields") or FIELDS))
    required = tuple(f for f in FIELDS if f in (raw.get("required") or ()))
    contact = {"sms": "phone", "email": "email"}.get(str(verify))
    if contact:
        fields_ = tuple(f for f in FIELDS if f in (*fields_, contact))
        required = tuple(f for f in FIELDS if f in (*required, contact))
    products = tuple(str(p) for p in (raw.get("products") or ()) if isinstance(p, str))
    return DomainSettings(
        mode=str(mode),
        fields=fields_,
        required=required,
        verify=str(verify),
        products=products,
        allow_vouchers=bool(raw.get("allow_vouchers", True)),
        free_product_id=str(raw["free_product_id"]) if raw.get("free_product_id") else None,
        simple_password=str(raw["simple_password"]) if raw.get("simple_password") else None,
    )


# ---------------------------------------------------------------- helpers
def _gateway(gateway_id: str) -> tuple[Gateway, Tenant]:
    gw = catalog_store.get(Gateway, gateway_id) if 0 < len(gateway_id) <= 128 else None
    tenant = tenant_store.get_tenant(gw.tenant_id) if gw is not None else None
    if gw is None or tenant is None or not tenant.active:
        raise NotFoundError("network not found", field="gateway_id")
    return gw, tenant


def _actor(tenant_id: str, who: str) -> Principal:
    """Self-registration acts in the gateway's tenant on the person's behalf (audited as such)."""
    return Principal(actor_id=who, actor_kind="subscriber", tenant_id=tenant_id, role="operator")


def _window_key(kind: str, subject: str, now: float) -> tuple[str, str]:
    cur = int(now) // WINDOW_S
    return f"rl#{kind}#{subject}#{cur}", f"rl#{kind}#{subject}#{cur - 1}"


def _limited(kind: str, subject: str, limit: int, now: float, message: str) -> None:
    """Refuse (429) when ``limit`` hits were counted in this and the previous window, else count one. A
    window's hits count in it and in the next one, so this window's hits alone keep the limit up through
    the next window: the 429 says when the hits no longer add up to ``limit``."""
    cur, prev = _window_key(kind, subject, now)
    current = windows.window_count(cur)
    if current + windows.window_count(prev) >= limit:
        opens = (int(now) // WINDOW_S + (2 if current >= limit else 1)) * WINDOW_S
        raise RateLimitedError(message, details={"retry_after_s": opens - int(now)})
    windows.window_hit(cur, "rate-limit", (int(now) // WINDOW_S + 2) * WINDOW_S)


def _code_hash(rt: Runtime, registration_id: str, code: str) -> str:
    key = rt.box.derive(b"wisp-registration-code")
    return hmac.new(key, f"{registration_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _masked(contact: str) -> str:
    if "@" in contact:
        local, _, domain = contact.partition("@")
        return f"{local[:2]}***@{domain}"
    return f"***{contact[-4:]}"


def normalise_phone(value: str) -> str:
    """``+52 (55) 1234-5678`` → ``+525512345678`` (E.164, what SMS delivery needs)."""
    phone = re.sub(r"[\s()\-.]", "", value or "")
    if not _PHONE.fullmatch(phone):
        raise ValidationError(
            "must be a phone number in international format, like +525512345678", field="phone"
        )
    return phone


def _contact_data(ds: DomainSettings, data: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in ds.fields:
        value = str(data.get(f) or "").strip()
        if not value:
            if f in ds.required:
                raise ValidationError("is required on this network", field=f)
            continue
        if f == "phone":
            value = normalise_phone(value)
        elif f == "email":
            if not _EMAIL.fullmatch(value) or len(value) > 254:
                raise ValidationError("not an e-mail address", field="email")
            value = value.lower()
        elif len(value) > 100:
            raise ValidationError("at most 100 characters", field=f)
        out[f] = value
    return out


def _product_view(p: Product, currency: str) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "description": p.description or "",
        "price": p.price,
        "currency": currency,
        "free": _is_free(p),
        "validity_days": int(p.validity_days or 0),
    }


def _is_free(p: Product) -> bool:
    try:
        return float(p.price or 0) == 0
    except ValueError:
        return False


def _offered(ds: DomainSettings, tenant_id: str) -> list[Product]:
    ancestors = set(tenant_store.ancestor_ids(tenant_id))
    out = []
    for pid in ds.products:
        p = catalog_store.get(Product, pid)
        if p is not None and p.active and (p.tenant_id == tenant_id or p.tenant_id in ancestors):
            out.append(p)
    return out


# ---------------------------------------------------------------- operations
def options(gateway_id: str) -> dict[str, Any]:
    """What the captive portal shows: the mode, the form fields, the products offered."""
    gw, tenant = _gateway(gateway_id)
    ds = domain_settings(gw)
    return {
        "gateway_id": gw.id,
        "company": tenant.company_name or tenant.name,
        "mode": ds.mode,
        "fields": list(ds.fields) if ds.mode == "register" else [],
        "required": list(ds.required) if ds.mode == "register" else [],
        "verify": ds.verify if ds.mode == "register" else "none",
        "products": [_product_view(p, tenant.currency) for p in _offered(ds, tenant.id)]
        if ds.mode == "register"
        else [],
        "allow_vouchers": ds.allow_vouchers and ds.mode == "register",
    }


def start(
    rt: Runtime, gateway_id: str, data: dict[str, Any], source_ip: str | None, now: float | None = None
) -> dict[str, Any]:
    """First step. ``register`` sends a one-time code (or, without verification, returns the token to
    complete with); ``click_connect`` and ``simple_password`` create the free user at once."""
    moment = epoch_seconds() if now is None else now
    gw, tenant = _gateway(gateway_id)
    ds = domain_settings(gw)
    if ds.mode == "disabled":
        raise ForbiddenError("registration is not offered on this network")
    address = source_ip or "unknown"
    _limited(
        "reg-ip",
        address,
        MAX_STARTS_PER_ADDRESS,
        moment,
        "too many registrations from this address; try later",
    )
    mac = normalise_mac(str(data["mac"])) if data.get("mac") else None
    if ds.mode == "click_connect":
        return _free_user(rt, gw, ds, "cc", mac)
    if ds.mode == "simple_password":
        given = str(data.get("password") or "")
        if not ds.simple_password or not hmac.compare_digest(given.encode(), ds.simple_password.encode()):
            _limited(
                "reg-pw",
                f"{gw.id}#{address}",
                MAX_PASSWORD_FAILURES_PER_ADDRESS,
                moment,
                "too many wrong passwords from this address; try later",
            )
            raise ValidationError("wrong password", field="password")
        return _free_user(rt, gw, ds, "sp", mac)
    contact = _contact_data(ds, data)
    registration_id = new_id("reg")
    record = {"gateway_id": gw.id, **contact, **({"mac": mac} if mac else {}), "channel": ds.verify}
    if ds.verify == "none":
        store.create(registration_id, tenant.id, record, COMPLETE_TTL_S, stage=store.VERIFIED)
        return {
            "status": "verified",
            "registration_id": registration_id,
            **_token(rt, registration_id, tenant.id),
        }
    target = contact["phone"] if ds.verify == "sms" else contact["email"]
    _limited(
        "reg-contact",
        hashlib.sha256(target.encode()).hexdigest()[:32],
        MAX_CODES_PER_CONTACT,
        moment,
        "too many codes sent to this contact; try later",
    )
    code = f"{secrets.randbelow(10**6):06d}"
    record["code_hash"] = _code_hash(rt, registration_id, code)
    store.create(registration_id, tenant.id, record, CODE_TTL_S)
    credentials.send_code(rt, tenant, ds.verify, target, code, CODE_TTL_S // 60)
    log.info("registration code sent", extra={"registration_id": registration_id, "channel": ds.verify})
    return {
        "status": "code_sent",
        "registration_id": registration_id,
        "channel": ds.verify,
        "sent_to": _masked(target),
        "expires_in": CODE_TTL_S,
        "attempts": MAX_VERIFY_ATTEMPTS,
    }


def _token(rt: Runtime, registration_id: str, tenant_id: str) -> dict[str, Any]:
    token = rt.signer.sign(REGISTRATION_TOKEN, {"r": registration_id, "t": tenant_id}, COMPLETE_TTL_S)
    return {"registration_token": token, "expires_in": COMPLETE_TTL_S}


def verify(rt: Runtime, registration_id: str, code: str) -> dict[str, Any]:
    """Check the one-time code. Every check counts, right or wrong; after the last one the
    registration is spent and must start again."""
    rec = store.get(registration_id) if 0 < len(registration_id) <= 64 else None
    if rec is None:
        raise NotFoundError("registration not found or expired; start again", field="registration_id")
    if rec.kind != store.PENDING:
        raise InvalidStateError("this registration is already verified", field="registration_id")
    n = store.count_attempt(rec, MAX_VERIFY_ATTEMPTS)
    if n is None:
        raise RateLimitedError("too many wrong codes; start the registration again")
    expected = str((rec.data or {}).get("code_hash") or "")
    if not hmac.compare_digest(_code_hash(rt, registration_id, code.strip()), expected):
        left = MAX_VERIFY_ATTEMPTS - n
        if left <= 0:
            raise RateLimitedError("too many wrong codes; start the registration again")
        raise ValidationError("wrong code", field="code", details={"attempts_left": left})
    if not store.advance(rec, store.PENDING, store.VERIFIED, ttl_seconds=COMPLETE_TTL_S):
        raise InvalidStateError("this registration is already verified", field="registration_id")
    return {
        "status": "verified",
        "registration_id": registration_id,
        **_token(rt, registration_id, str(rec.tenant_id)),
    }


def _username_for(contact: dict[str, Any]) -> str:
    if contact.get("phone"):
        return str(contact["phone"]).lstrip("+")
    if contact.get("email"):
        local = re.sub(r"[^A-Za-z0-9._\-]", "", str(contact["email"]).split("@")[0])[:40] or "user"
        return f"{local}-{secrets.token_hex(2)}"
    return f"user-{secrets.token_hex(4)}"


def complete(rt: Runtime, token: str, data: dict[str, Any]) -> dict[str, Any]:
    """Last step: create the account with a free product offered on the network, or with a voucher
    (redeemed onto the new account). A verification creates one account."""
    registration_id, rec = _verified_registration(rt, token)
    contact = dict(rec.data or {})
    gw, tenant = _gateway(str(contact.get("gateway_id", "")))
    ds = domain_settings(gw)
    if ds.mode != "register":
        raise ForbiddenError("registration is not offered on this network")
    actor = _actor(tenant.id, f"registration:{registration_id}")
    voucher_code = str(data.get("voucher_code") or "").strip()
    product = _chosen_product(rt, ds, tenant.id, data, voucher_code)
    username = check_username(str(data.get("username") or "").strip() or _username_for(contact))
    password = str(data.get("password") or "") or random_password()
    check_network_password(password)
    if subscriber_store.get_by_login(tenant.id, username) is not None:
        raise ConflictError(f"username {username!r} is already taken; choose another", field="username")
    if not store.advance(rec, store.VERIFIED, store.COMPLETED):
        raise ConflictError("this registration already created an account", field="registration_token")
    try:
        created = subs.create_subscriber(
            rt,
            actor,
            {
                "tenant_id": tenant.id,
                "username": username,
                "password": password,
                "portal_password": password,
                "name": contact.get("name"),
                "phone": contact.get("phone"),
                "email": contact.get("email"),
                "mac": contact.get("mac"),
                "gateway_id": gw.id,
                "status": Status.NEW.value,
                "product_id": None if voucher_code else (product.id if product else None),
                "created_via": "registration",
            },
        )
    except DomainError:
        store.advance(rec, store.COMPLETED, store.VERIFIED)  # the person may retry (another username)
        raise
    sub = created.subscriber
    redeemed = _redeem_onto(rt, actor, rec, sub, voucher_code, data) if voucher_code else None
    sent = _send_credentials(rt, sub, ds, password)
    fresh = subscriber_store.get_by_id(sub.id) or sub
    return {
        "status": "created",
        "subscriber_id": sub.id,
        "username": username,
        "password": password,
        "product_id": fresh.product_id,
        "product_name": product.name if product else None,
        "product_expires_at": fresh.product_expires_at,
        "voucher": voucher_code or None,
        "login_url": card_pdf.login_url(rt, gw, tenant, username, password),
        "autologin_url": issue_autologin_link(rt, fresh),
        "sent": [sent] if sent else [],
        "warnings": list(created.warnings) + (list(redeemed.get("warnings") or []) if redeemed else []),
    }


def _verified_registration(rt: Runtime, token: str) -> tuple[str, TokenRecord]:
    """The registration a completion token names, verified and not used yet."""
    try:
        claims = rt.signer.verify(REGISTRATION_TOKEN, token)
    except TokenError as exc:
        raise UnauthorizedError(f"registration token not valid: {exc}") from exc
    registration_id = str(claims.get("r", ""))
    rec = store.get(registration_id)
    if rec is None:
        raise NotFoundError("registration not found or expired; start again", field="registration_token")
    if rec.kind == store.COMPLETED:
        raise ConflictError("this registration already created an account", field="registration_token")
    if rec.kind != store.VERIFIED:
        raise InvalidStateError("the registration is not verified yet", field="registration_token")
    return registration_id, rec


def _chosen_product(
    rt: Runtime, ds: DomainSettings, tenant_id: str, data: dict[str, Any], voucher_code: str
) -> Product | None:
    """The voucher's product (checked redeemable), or the free product chosen among those offered."""
    if voucher_code:
        if not ds.allow_vouchers:
            raise ValidationError("vouchers are not accepted on this network", field="voucher_code")
        v = vouchers.find_redeemable(rt, tenant_id, voucher_code, str(data.get("voucher_password") or ""))
        return catalog_store.get(Product, v.product_id)
    offered = {p.id: p for p in _offered(ds, tenant_id)}
    pid = str(data.get("product_id") or "")
    if not pid:
        raise ValidationError("choose a product or enter a voucher", field="product_id")
    if pid not in offered:
        raise NotFoundError("this product is not offered on this network", field="product_id")
    if not _is_free(offered[pid]):
        raise ValidationError("this product must be paid: enter a voucher", field="product_id")
    return offered[pid]


def _redeem_onto(
    rt: Runtime, actor: Principal, rec: TokenRecord, sub: Subscriber, voucher_code: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Redeem the voucher onto the new account; if that fails the account is deleted again."""
    try:
        return vouchers.redeem_voucher(
            rt,
            actor,
            sub.id,
            voucher_code,
            str(data.get("voucher_password") or ""),
            require_password=True,
        )
    except DomainError:
        # no account without its product: undo, and let the person retry with another voucher
        lifecycle.delete(rt, actor, sub.id, {"mode": "system"})
        store.advance(rec, store.COMPLETED, store.VERIFIED)
        raise


def _send_credentials(
    rt: Runtime, sub: Subscriber, ds: DomainSettings, password: str
) -> dict[str, str] | None:
    """The new account's credentials sent on the channel that verified the contact (best effort)."""
    if ds.verify not in ("sms", "email"):
        return None
    try:
        return credentials.send_new_account(rt, sub, ds.verify, password)
    except DomainError as exc:  # the account exists and the response carries the credentials
        log.warning("credentials not sent after registration", extra={"error": exc.code})
        return None


def _free_user(rt: Runtime, gw: Gateway, ds: DomainSettings, prefix: str, mac: str | None) -> dict[str, Any]:
    """A free user for Click & connect / Simple password (SPEC S6: no allowances, never invoiced).
    With the device's MAC the user is per device: clicking again returns the same account."""
    tenant_id = gw.tenant_id
    username = f"{prefix}-{mac.replace(':', '').lower()}" if mac else f"{prefix}-{secrets.token_hex(5)}"
    existing = subscriber_store.get_by_login(tenant_id, username) if mac else None
    if (
        existing is not None
        and existing.free_user
        and existing.status in (Status.FREE, Status.NEW, Status.ACTIVE)
    ):
        return _free_result(rt, gw, existing, rt.box.decrypt(existing.password_enc), reused=True)
    if existing is not None:
        raise ForbiddenError("this device cannot connect on this network", field="mac")
    actor = _actor(tenant_id, f"{ds.mode}:{gw.id}")
    try:
        created = subs.create_subscriber(
            rt,
            actor,
            {
                "tenant_id": tenant_id,
                "username": username,
                "gateway_id": gw.id,
                "status": Status.FREE.value,
                "free_user": True,
                "mac": mac,
                "product_id": ds.free_product_id,
                "created_via": "registration",
            },
        )
    except ConflictError:
        again: Subscriber | None = subscriber_store.get_by_login(tenant_id, username)
        if again is None or not again.free_user:
            raise
        return _free_result(rt, gw, again, rt.box.decrypt(again.password_enc), reused=True)
    return _free_result(rt, gw, created.subscriber, created.password, reused=False)


def _free_result(rt: Runtime, gw: Gateway, sub: Subscriber, password: str, reused: bool) -> dict[str, Any]:
    tenant = tenant_store.get_tenant(sub.tenant_id)
    return {
        "status": "created",
        "subscriber_id": sub.id,
        "username": sub.username,
        "password": password,
        "free_user": True,
        "reused": reused,
        "login_url": card_pdf.login_url(rt, gw, tenant, sub.username, password),
    }
