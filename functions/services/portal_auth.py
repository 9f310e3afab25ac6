"""Customer-portal authentication: sign-in, subscriber session tokens and auto-login links (SPEC S4).

- **Sign-in** with the network username and the *portal* password (scrypt hash), rate-limited per
  username (failures) and per source address (all attempts) in fixed windows counted in ``tokens``.
- **Session tokens** are signed tokens of type ``portal`` naming one subscriber; they are sent as
  ``Authorization: Bearer <token>`` (read by the API) and resolved by :func:`subscriber_principal`.
- **Auto-login links** are signed tokens of type ``autologin``, valid six months, naming one subscriber
  and the subscriber's ``autologin_epoch``. Revoking increments the epoch, which invalidates every
  link issued before (and the portal sessions opened with them) without storing the links.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from core.errors import NotFoundError, RateLimitedError, UnauthorizedError, ValidationError
from core.ids import epoch_seconds
from services.audit import record_audit
from services.identity.actors import Principal
from shared.crypto import verify_password
from shared.observability import get_logger
from shared.runtime import Runtime
from shared.tokens import TokenError
from store import portal as portal_store
from store import subscribers as subscriber_store
from store import tenants as tenant_store
from store.models import Subscriber

log = get_logger("portal")

PORTAL_TOKEN = "portal"
AUTOLOGIN_TOKEN = "autologin"
AUTOLOGIN_TTL_SECONDS = 183 * 24 * 3600  # six months (SPEC S4)
# The pages the links open (the web app under /my/); they call POST /portal/auth/autologin and
# GET /portal/a/{code}, which keep working for API clients.
AUTOLOGIN_PATH = "/my/autologin"
SHORT_LINK_PATH = "/my/a/"

# Login rate limits: fixed windows; the current and the previous window are added up, so a burst at
# a window boundary cannot double the allowance.
LOGIN_WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_USERNAME = 5
MAX_ATTEMPTS_PER_ADDRESS = 30

# A scrypt hash of a random password: verifying against it when the username does not exist keeps
# the response time the same, so timing does not reveal which usernames exist.
_DUMMY_HASH = (
    "scrypt$16384$8$1$8c4f1d9a0b6e2f7c3d5a9e1b4c6d8f0a$"
    "0f6bb3e4c5a8d9e2f1a0b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6"
)


@dataclass(frozen=True)
class PortalSession:
    token: str
    expires_in: int
    subscriber_id: str
    tenant_id: str
    username: str


# ---------------------------------------------------------------- rate limiting
def _windows(now: float) -> tuple[int, int]:
    current = int(now) // LOGIN_WINDOW_SECONDS
    return current, current - 1


def _window_keys(kind: str, subject: str, now: float) -> tuple[str, str]:
    cur, prev = _windows(now)
    return f"rl#{kind}#{subject}#{cur}", f"rl#{kind}#{subject}#{prev}"


def _wait(kind: str, subject: str, limit: int, now: float) -> int | None:
    """Seconds until ``subject`` is under ``limit`` again, None when it is now. A window's hits count in it
    and in the next one, so this window's hits alone keep the limit up through the next window."""
    cur, prev = _window_keys(kind, subject, now)
    current = portal_store.window_count(cur)
    if current + portal_store.window_count(prev) < limit:
        return None
    window = int(now) // LOGIN_WINDOW_SECONDS
    return (window + (2 if current >= limit else 1)) * LOGIN_WINDOW_SECONDS - int(now)


def _hit(kind: str, subject: str, now: float, tenant_id: str | None = None) -> None:
    cur, _ = _window_keys(kind, subject, now)
    window_end = (int(now) // LOGIN_WINDOW_SECONDS + 2) * LOGIN_WINDOW_SECONDS
    portal_store.window_hit(cur, "rate-limit", window_end, tenant_id)


def _check_address(source_ip: str | None, now: float) -> None:
    address = source_ip or "unknown"
    wait = _wait("portal-ip", address, MAX_ATTEMPTS_PER_ADDRESS, now)
    if wait is not None:
        raise RateLimitedError(
            "too many sign-in attempts from this address; try again later",
            details={"retry_after_s": wait},
        )
    _hit("portal-ip", address, now)


# ---------------------------------------------------------------- sessions
def issue_session(rt: Runtime, sub: Subscriber, autologin_epoch: int | None = None) -> PortalSession:
    """A portal session token for one subscriber. Sessions opened through an auto-login link carry the
    link's epoch and end when the operator revokes the links."""
    claims: dict[str, Any] = {"sub": sub.id, "tid": sub.tenant_id, "usr": sub.username}
    if autologin_epoch is not None:
        claims["ep"] = autologin_epoch
    ttl = rt.settings.token_ttl_seconds
    token = rt.signer.sign(PORTAL_TOKEN, claims, ttl)
    return PortalSession(token, ttl, sub.id, sub.tenant_id, sub.username)


def sign_in(
    rt: Runtime, tenant_id: str, username: str, password: str, source_ip: str | None, now: float | None = None
) -> PortalSession:
    """Sign in with the network username and the portal password.

    Refusals do not say whether the username exists. After :data:`MAX_FAILURES_PER_USERNAME` failures
    in this and the previous window the username is locked (429) until they count no more, even with the
    right password; the 429 says when that is."""
    moment = epoch_seconds() if now is None else now
    _check_address(source_ip, moment)
    subject = subscriber_store.login_key(tenant_id, username)
    wait = _wait("portal-user", subject, MAX_FAILURES_PER_USERNAME, moment)
    if wait is not None:
        raise RateLimitedError(
            "too many failed sign-ins for this user; try again later",
            details={"retry_after_s": wait},
        )
    sub = subscriber_store.get_by_login(tenant_id, username)
    stored = sub.portal_password_hash if sub is not None else None
    ok = verify_password(password, stored or _DUMMY_HASH) and stored is not None
    if sub is None or not ok or not _tenant_active(sub.tenant_id):
        _hit("portal-user", subject, moment, tenant_id)
        raise UnauthorizedError("wrong username or password")
    log.info("portal sign-in", extra={"subscriber_id": sub.id, "method": "password"})
    return issue_session(rt, sub)


def _tenant_active(tenant_id: str) -> bool:
    tenant = tenant_store.get_tenant(tenant_id)
    return tenant is not None and bool(tenant.active)


def _load_subscriber(subscriber_id: str, tenant_id: str | None) -> Subscriber:
    sub = portal_store.find_subscriber(subscriber_id)
    if sub is None or (tenant_id is not None and sub.tenant_id != tenant_id):
        raise UnauthorizedError("the account of this session no longer exists")
    return sub


def subscriber_principal(rt: Runtime, token: str) -> Principal:
    """The subscriber a portal session token names (401 when forged, expired, revoked or gone)."""
    try:
        claims = rt.signer.verify(PORTAL_TOKEN, token)
    except TokenError as exc:
        raise UnauthorizedError(f"invalid token: {exc}") from exc
    sub = _load_subscriber(str(claims.get("sub", "")), str(claims.get("tid", "")))
    if "ep" in claims and int(claims["ep"]) != int(sub.autologin_epoch or 0):
        raise UnauthorizedError("the auto-login link of this session was revoked")
    if not _tenant_active(sub.tenant_id):
        raise UnauthorizedError("the operator's account is disabled")
    return Principal(
        actor_id=sub.id,
        actor_kind="subscriber",
        tenant_id=sub.tenant_id,
        role="subscriber",
        extra={"subscriber_id": sub.id, "login": sub.login},
    )


def current_subscriber(principal: Principal) -> Subscriber:
    """The subscriber behind a portal principal (fresh read: usage and status change all the time)."""
    sub = portal_store.find_subscriber(str(principal.extra.get("subscriber_id", "")))
    if sub is None or sub.tenant_id != principal.tenant_id:
        raise NotFoundError("subscriber not found")
    return sub


# ---------------------------------------------------------------- auto-login links
def issue_autologin_token(rt: Runtime, subscriber: Subscriber, now: float | None = None) -> str:
    """The signed auto-login token (claims kept short: the link travels in SMS of 164 characters)."""
    claims = {"s": subscriber.id, "e": int(subscriber.autologin_epoch or 0)}
    return rt.signer.sign(AUTOLOGIN_TOKEN, claims, AUTOLOGIN_TTL_SECONDS, now=now)


def autologin_url(rt: Runtime, token: str) -> str:
    return f"{rt.settings.public_base_url.rstrip('/')}{AUTOLOGIN_PATH}?token={quote(token, safe='')}"


def issue_autologin_link(rt: Runtime, subscriber: Subscriber) -> str:
    """A link that signs the subscriber into the portal, valid six months (welcome e-mail, SMS)."""
    return autologin_url(rt, issue_autologin_token(rt, subscriber))


def issue_short_autologin_link(rt: Runtime, subscriber: Subscriber) -> str:
    """A short auto-login link for SMS (the whole message is limited to 164 characters): a random
    12-character code that stands for a signed auto-login token, so expiry and revocation are the
    token's."""
    token = issue_autologin_token(rt, subscriber)
    code = secrets.token_urlsafe(9)
    portal_store.put_record_once(
        _short_key(code), "autologin-link", {"token": token}, AUTOLOGIN_TTL_SECONDS, subscriber.tenant_id
    )
    return f"{rt.settings.public_base_url.rstrip('/')}{SHORT_LINK_PATH}{code}"


def _short_key(code: str) -> str:
    return f"al#{code}"


def sign_in_with_short_link(rt: Runtime, code: str, source_ip: str | None) -> PortalSession:
    """Open a portal session from a short auto-login link (same checks as the long link)."""
    moment = epoch_seconds()
    rec = portal_store.get_record(_short_key(code)) if 8 <= len(code) <= 32 else None
    token = str((rec.data or {}).get("token", "")) if rec is not None else ""
    if not token:
        _check_address(source_ip, moment)
        raise UnauthorizedError("this auto-login link is not valid")
    return sign_in_with_autologin(rt, token, source_ip, now=moment)


def issue_autologin_link_for(
    rt: Runtime, subscriber: Subscriber, actor_id: str, actor_kind: str, request_id: str | None = None
) -> tuple[str, int]:
    """An operator asks for a subscriber's auto-login link: (url, expiry as Unix time), audited."""
    now = epoch_seconds()
    url = autologin_url(rt, issue_autologin_token(rt, subscriber, now=now))
    record_audit(
        actor_id,
        actor_kind,
        subscriber.tenant_id,
        "subscriber",
        subscriber.id,
        "issue_autologin_link",
        None,
        {"autologin_epoch": int(subscriber.autologin_epoch or 0)},
        request_id,
    )
    return url, int(now) + AUTOLOGIN_TTL_SECONDS


def sign_in_with_autologin(
    rt: Runtime, token: str, source_ip: str | None, now: float | None = None
) -> PortalSession:
    """Exchange an auto-login token for a portal session. Expired, forged and revoked links are refused
    (401) alike; attempts count in the per-address rate limit."""
    moment = epoch_seconds() if now is None else now
    _check_address(source_ip, moment)
    if not token or len(token) > 2048:
        raise ValidationError("token is required", field="token")
    try:
        claims = rt.signer.verify(AUTOLOGIN_TOKEN, token, now=moment)
    except TokenError as exc:
        raise UnauthorizedError(f"this auto-login link is not valid: {exc}") from exc
    sub = portal_store.find_subscriber(str(claims.get("s", "")))
    if sub is None:
        raise UnauthorizedError("this auto-login link is not valid: the account no longer exists")
    epoch = int(claims.get("e", -1))
    if epoch != int(sub.autologin_epoch or 0):
        raise UnauthorizedError("this auto-login link was revoked by the operator")
    if not _tenant_active(sub.tenant_id):
        raise UnauthorizedError("the operator's account is disabled")
    log.info("portal sign-in", extra={"subscriber_id": sub.id, "method": "autologin"})
    return issue_session(rt, sub, autologin_epoch=epoch)


def revoke_autologin_links(
    rt: Runtime,
    subscriber: Subscriber,
    actor_id: str,
    actor_kind: str = "operator",
    request_id: str | None = None,
) -> int:
    """Invalidate every auto-login link issued so far for the subscriber (and the sessions opened with
    them). Returns the new epoch; links issued from now on work again."""
    before = int(subscriber.autologin_epoch or 0)
    epoch = portal_store.increment_autologin_epoch(subscriber)
    record_audit(
        actor_id,
        actor_kind,
        subscriber.tenant_id,
        "subscriber",
        subscriber.id,
        "revoke_autologin_links",
        {"autologin_epoch": before},
        {"autologin_epoch": epoch},
        request_id,
    )
    return epoch
