"""Product-policy evaluation for an authenticated Access-Request (SPEC S3, S6).

:func:`evaluate` is the single place that decides Accept or Reject for a subscriber whose credentials
were verified, and which reply attributes the gateway gets. It is pure: the caller passes the
subscriber, product, policy and gateway views, the request facts and the time.

Every reject carries a Reply-Message saying why, in words a subscriber understands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from core.ids import parse_iso
from core.radius import schedule as sched
from core.radius.checks import check_holds, simultaneous_use
from core.radius.model import (
    BYTES_PER_MB,
    CustomAttribute,
    GatewayView,
    OpenSession,
    PolicyView,
    ProductView,
    SubscriberView,
)
from core.radius.usage import (
    Counter,
    Period,
    PeriodKind,
    current_periods,
    first_day,
    seconds_until,
    used,
    used_bytes,
    zone,
)
from core.rates import Burst, mikrotik_rate_limit
from core.statuses import Status

MIN_INTERIM_S = 300  # SPEC S6: lower values become 300
MIN_SPLIT_TIME_MIN = 5
MIN_SPLIT_DATA_MB = 10
# An open session with no accounting for 2 x interim + grace is stale: it no longer counts
STALE_GRACE_S = 120
_GIGAWORD = 1 << 32


class RejectReason(StrEnum):
    BAD_CREDENTIALS = "bad_credentials"
    CANCELLED = "cancelled"
    INACTIVE = "inactive"
    SUSPENDED = "suspended"
    NO_PRODUCT = "no_product"
    PRODUCT_EXPIRED = "product_expired"
    CHECK_ATTRIBUTE = "check_attribute"
    OUTSIDE_HOURS = "outside_hours"
    TOO_MANY_DEVICES = "too_many_devices"
    TOO_MANY_SESSIONS = "too_many_sessions"
    TIME_ALLOWANCE = "time_allowance"
    DATA_ALLOWANCE = "data_allowance"
    CREDIT_USED = "credit_used"


MESSAGES = {
    RejectReason.BAD_CREDENTIALS: "Wrong username or password.",
    RejectReason.CANCELLED: "Your service has been cancelled. Please contact your provider.",
    RejectReason.INACTIVE: "Your account is inactive. Please contact your provider.",
    RejectReason.SUSPENDED: "Your service is suspended for non-payment. Pay your invoice to reconnect.",
    RejectReason.NO_PRODUCT: "You have no active plan. Buy or recharge a plan to connect.",
}

_PERIOD_WORD = {PeriodKind.DAY: "Daily", PeriodKind.WEEK: "Weekly", PeriodKind.MONTH: "Monthly"}


@dataclass(frozen=True)
class Rates:
    """Download/upload rates in bit/s (0 = unlimited) and the optional burst."""

    download: int
    upload: int
    burst: Burst | None = None


class Modulator(Protocol):
    """Dynamic rate modulation by traffic (SPEC S6), applied to the policy's rates at login.

    ``core.modulation.modulated_rates`` provides it; the RADIUS service passes it in. ``usage`` is the
    subscriber's usage map (keys described in :mod:`core.radius.usage`), ``now`` is aware, ``tz`` is
    the gateway's zone. It returns the rates to send, burst limit and threshold scaled with them.
    """

    def __call__(
        self,
        *,
        modulation: Mapping[str, Any],
        rates: Rates,
        usage: Mapping[str, int],
        now: datetime,
        tz: ZoneInfo,
    ) -> Rates: ...


@dataclass(frozen=True)
class AuthRequest:
    """What the policy needs from the Access-Request and the NAS registry."""

    nas_ip: str
    mac: str | None = None  # Calling-Station-Id, normalized
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # for check attributes
    nas_reboots: Mapping[str, str] = field(default_factory=dict)  # NAS IP -> last Accounting-On


ReplyValue = str | int
Reply = tuple[tuple[str, ReplyValue], ...]


@dataclass(frozen=True)
class Decision:
    accept: bool
    message: str = ""
    reason: RejectReason | None = None
    reply: Reply = ()
    restricted: bool = False
    session_timeout: int | None = None
    data_limit: int | None = None
    rates: Rates | None = None

    def attribute(self, name: str) -> ReplyValue | None:
        for key, value in self.reply:
            if key == name:
                return value
        return None


def reject(reason: RejectReason, message: str | None = None) -> Decision:
    return Decision(accept=False, reason=reason, message=message or MESSAGES[reason])


def when(moment: datetime, tz: ZoneInfo) -> str:
    """A reset or opening time as the subscriber reads it, in the gateway's zone.

    Taken through UTC: a local midnight or hour that the clocks skip (Santiago 2026-09-06 00:00) is
    shown as the time the clocks do show at that instant (01:00), not as a time that never occurs.
    """
    return moment.astimezone(UTC).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z").strip()


# ---------------------------------------------------------------- helpers used by the RADIUS service too
def interim_interval(policy: PolicyView | None) -> int:
    return max(MIN_INTERIM_S, int(policy.interim_update_s if policy else MIN_INTERIM_S))


def is_live(session: OpenSession, now: datetime, nas_reboots: Mapping[str, str]) -> bool:
    """An open session that still counts: not closed, not older than its NAS's last reboot, not stale."""
    if not session.is_open:
        return False
    reboot = nas_reboots.get(session.nas_ip)
    if reboot and session.started_at < reboot:
        return False
    idle = (now - parse_iso(session.last_update)).total_seconds()
    return idle <= 2 * max(MIN_INTERIM_S, session.interim_s) + STALE_GRACE_S


def expiry(sub: SubscriberView, product: ProductView) -> datetime | None:
    if sub.product_expires_at:
        return parse_iso(sub.product_expires_at)
    if product.validity_days > 0 and sub.product_assigned_at:
        return parse_iso(sub.product_assigned_at) + timedelta(days=product.validity_days)
    return None


def _pick(policy_value: int, product_value: int) -> int:
    """SPEC S6: 0 = unlimited; when both set a value, the policy's wins."""
    return policy_value if policy_value > 0 else max(product_value, 0)


@dataclass
class _Caps:
    """The smallest limits found so far for Session-Timeout and the session's data."""

    time_s: int | None = None
    data_b: int | None = None

    def time(self, value: int) -> None:
        self.time_s = value if self.time_s is None else min(self.time_s, value)

    def data(self, value: int) -> None:
        self.data_b = value if self.data_b is None else min(self.data_b, value)


def _split_share(remaining: int, parts: int, minimum: int) -> int:
    """SPEC S6 split credits: remaining ÷ connections, never below the minimum nor above what remains."""
    return min(remaining, max(remaining // parts, minimum))


def _allowances(
    sub: SubscriberView,
    product: ProductView,
    policy: PolicyView,
    periods: Mapping[PeriodKind, Period],
    now: datetime,
    tz: ZoneInfo,
    caps: _Caps,
) -> Decision | None:
    split = 0
    if policy.split_credits:
        split = policy.concurrent_connections or policy.max_devices
    min_split_s = max(policy.min_split_time_min, MIN_SPLIT_TIME_MIN) * 60
    min_split_b = max(policy.min_split_data_mb, MIN_SPLIT_DATA_MB) * BYTES_PER_MB
    pa, qa = policy.allowances, product.allowances
    limits = (
        (
            PeriodKind.DAY,
            _pick(pa.daily_time_min, qa.daily_time_min),
            _pick(pa.daily_data_mb, qa.daily_data_mb),
        ),
        (
            PeriodKind.WEEK,
            _pick(pa.weekly_time_min, qa.weekly_time_min),
            _pick(pa.weekly_data_mb, qa.weekly_data_mb),
        ),
        (
            PeriodKind.MONTH,
            _pick(pa.monthly_time_min, qa.monthly_time_min),
            _pick(pa.monthly_data_mb, qa.monthly_data_mb),
        ),
    )
    for kind, time_min, data_mb in limits:
        period = periods[kind]
        assert period.end is not None
        to_reset = seconds_until(period.end, now)
        if time_min:
            limit = time_min * 60
            remaining = limit - used(sub.usage, period, Counter.TIME)
            if remaining <= 0:
                return reject(
                    RejectReason.TIME_ALLOWANCE,
                    f"{_PERIOD_WORD[kind]} time allowance used up. It resets on {when(period.end, tz)}.",
                )
            if split > 1:
                caps.time(_split_share(remaining, split, min_split_s))
            elif remaining < to_reset:
                caps.time(remaining)
            else:
                # cannot be used up before the reset: the new period's allowance follows on (as sqlcounter)
                caps.time(to_reset + limit)
        if data_mb:
            limit = data_mb * BYTES_PER_MB
            remaining = limit - used_bytes(sub.usage, period)
            if remaining <= 0:
                return reject(
                    RejectReason.DATA_ALLOWANCE,
                    f"{_PERIOD_WORD[kind]} data allowance used up. It resets on {when(period.end, tz)}.",
                )
            caps.data(_split_share(remaining, split, min_split_b) if split > 1 else remaining)
    # prepaid credits of the product (cards), plus what a recharge carried over (SPEC S4)
    credit_period = periods.get(PeriodKind.PRODUCT)
    credit_time = product.time_credit_min + int(sub.carry_over.get("time_min", 0) or 0)
    credit_data = product.data_credit_mb + int(sub.carry_over.get("data_mb", 0) or 0)
    if credit_period is not None and product.time_credit_min > 0:
        remaining = credit_time * 60 - used(sub.usage, credit_period, Counter.TIME)
        if remaining <= 0:
            return reject(RejectReason.CREDIT_USED, "Your time credit is used up. Recharge to keep browsing.")
        caps.time(_split_share(remaining, split, min_split_s) if split > 1 else remaining)
    if credit_period is not None and product.data_credit_mb > 0:
        remaining = credit_data * BYTES_PER_MB - used_bytes(sub.usage, credit_period)
        if remaining <= 0:
            return reject(RejectReason.CREDIT_USED, "Your data credit is used up. Recharge to keep browsing.")
        caps.data(_split_share(remaining, split, min_split_b) if split > 1 else remaining)
    return None


def _rate_reply(gateway: GatewayView, rates: Rates) -> list[tuple[str, ReplyValue]]:
    if not rates.download and not rates.upload:
        return []
    if gateway.vendor == "mikrotik":
        return [("Mikrotik-Rate-Limit", _rate_limit(rates.download, rates.upload, rates.burst))]
    out: list[tuple[str, ReplyValue]] = []
    if rates.download:
        out.append(("WISPr-Bandwidth-Max-Down", rates.download))
    if rates.upload:
        out.append(("WISPr-Bandwidth-Max-Up", rates.upload))
    return out


_rate_limit = lru_cache(maxsize=1024)(mikrotik_rate_limit)  # a few distinct plans serve every login


def _restricted(gateway: GatewayView, policy: PolicyView | None) -> Decision:
    """SPEC S3: a blocked subscriber connects into the restricted list/pool and cannot browse."""
    reply: list[tuple[str, ReplyValue]] = [("Acct-Interim-Interval", interim_interval(policy))]
    if gateway.blocked_address_list and gateway.vendor == "mikrotik":
        reply.append(("Mikrotik-Address-List", gateway.blocked_address_list))
    if gateway.blocked_pool:
        reply.append(("Framed-Pool", gateway.blocked_pool))
    reply.append(("Reply-Message", MESSAGES[RejectReason.SUSPENDED]))
    return Decision(
        accept=True, restricted=True, reply=tuple(reply), message=MESSAGES[RejectReason.SUSPENDED]
    )


def _status_gate(sub: SubscriberView, gateway: GatewayView, policy: PolicyView | None) -> Decision | None:
    """SPEC S3: cancelled and inactive statuses are rejected, a suspended one restricted (or rejected)."""
    status = sub.status
    if status == Status.CANCELLED:
        return reject(RejectReason.CANCELLED)
    if status == Status.SUSPENDED:
        if gateway.blocked_mode == "reject":
            return reject(RejectReason.SUSPENDED)
        return _restricted(gateway, policy)
    if status not in (Status.NEW, Status.ACTIVE, Status.FREE):
        return reject(RejectReason.INACTIVE)
    return None


def _request_gate(pol: PolicyView, request: AuthRequest, local: datetime, tz: ZoneInfo) -> Decision | None:
    """Custom check attributes (every one must hold, FreeRADIUS operators) and the activation scheduler,
    in the gateway's time zone."""
    for check in pol.check_attributes:
        if not check_holds(check, request.attributes.get(check.name, ())):
            return reject(
                RejectReason.CHECK_ATTRIBUTE, f"Login not allowed here ({check.name} does not match)."
            )
    if not sched.allowed_now(pol.schedule, local):
        opening = sched.next_opening(pol.schedule, local, tz)
        tail = f" Next opening: {when(opening, tz)}." if opening else ""
        return reject(RejectReason.OUTSIDE_HOURS, f"Login is not allowed at this hour.{tail}")
    return None


def _connection_gate(
    sub: SubscriberView, pol: PolicyView, request: AuthRequest, now: datetime
) -> Decision | None:
    """Devices counted since the product assignment (a new product starts a new count), then
    concurrent connections (and a Simultaneous-Use check attribute, whichever is smaller); stale
    sessions and the same device reconnecting do not count."""
    if pol.max_devices > 0 and request.mac:
        known = set(sub.devices) if sub.devices_since == sub.product_assigned_at else set()
        if request.mac not in known and len(known) >= pol.max_devices:
            return reject(
                RejectReason.TOO_MANY_DEVICES,
                f"Too many devices: your plan allows {pol.max_devices} device(s) and all are registered.",
            )
    limits = [n for n in (pol.concurrent_connections, simultaneous_use(pol.check_attributes)) if n]
    concurrent = min(limits) if limits else 0
    if concurrent > 0:
        live = [
            s
            for s in sub.open_sessions.values()
            if is_live(s, now, request.nas_reboots)
            and not (request.mac and s.mac == request.mac and s.nas_ip == request.nas_ip)
        ]
        if len(live) >= concurrent:
            return reject(
                RejectReason.TOO_MANY_SESSIONS,
                f"Too many connections: your plan allows {concurrent} at the same time.",
            )
    return None


def _accept(
    sub: SubscriberView,
    product: ProductView,
    pol: PolicyView,
    gateway: GatewayView,
    rates: Rates,
    caps: _Caps,
) -> Decision:
    """The Access-Accept: caps, rates, the vendor's attributes, then the policy's custom replies."""
    reply: list[tuple[str, ReplyValue]] = []
    if caps.time_s is not None:
        reply.append(("Session-Timeout", max(1, caps.time_s)))
    if pol.idle_timeout_min > 0:
        reply.append(("Idle-Timeout", pol.idle_timeout_min * 60))
    reply.append(("Acct-Interim-Interval", interim_interval(pol)))
    reply.extend(_rate_reply(gateway, rates))
    if caps.data_b is not None and gateway.vendor == "mikrotik":
        reply.append(("Mikrotik-Total-Limit", caps.data_b % _GIGAWORD))
        reply.append(("Mikrotik-Total-Limit-Gigawords", caps.data_b // _GIGAWORD))
    if gateway.vendor == "mikrotik":
        address_list = pol.address_list or product.address_list
        if address_list:
            reply.append(("Mikrotik-Address-List", address_list))
        profile = sub.router_profile or product.router_profile
        if profile:
            reply.append(("Mikrotik-Group", profile))
    if sub.ip and sub.connection_type == "pppoe":
        reply.append(("Framed-IP-Address", sub.ip))
    final = with_custom_replies(reply, pol.reply_attributes)
    return Decision(
        accept=True, reply=final, session_timeout=caps.time_s, data_limit=caps.data_b, rates=rates
    )


def evaluate(
    sub: SubscriberView,
    product: ProductView | None,
    policy: PolicyView | None,
    gateway: GatewayView,
    request: AuthRequest,
    now: datetime,
    modulator: Modulator | Callable[..., Rates] | None = None,
) -> Decision:
    """Decide Accept/Reject for a subscriber whose credentials are already verified (SPEC S3, S6)."""
    tz = zone(gateway.timezone)
    local = now.astimezone(tz)

    refused = _status_gate(sub, gateway, policy)
    if refused is not None:
        return refused
    if product is None:
        return reject(RejectReason.NO_PRODUCT)
    expires = expiry(sub, product)
    if expires is not None and now >= expires:
        return reject(
            RejectReason.PRODUCT_EXPIRED,
            f"Your plan expired on {when(expires, tz)}. Recharge to connect again.",
        )
    pol = policy or PolicyView(id="-")
    caps = _Caps()
    if expires is not None:
        caps.time(seconds_until(expires, now))

    refused = _request_gate(pol, request, local, tz) or _connection_gate(sub, pol, request, now)
    if refused is not None:
        return refused
    closes = sched.window_end(pol.schedule, local, tz)
    if closes is not None:
        caps.time(seconds_until(closes, now))

    # -- time and data allowances and credits (free auto-generated users are exempt)
    if not sub.free_user:
        refused = _allowances(sub, product, pol, _periods(sub, pol, gateway, now, tz), now, tz, caps)
        if refused is not None:
            return refused

    if pol.session_timeout_min > 0:
        caps.time(pol.session_timeout_min * 60)

    # -- rates (with the modulation hook) and the reply
    rates = Rates(pol.download_rate, pol.upload_rate, pol.burst)
    if modulator is not None and pol.modulation:
        rates = modulator(modulation=pol.modulation, rates=rates, usage=sub.usage, now=now, tz=tz)
    return _accept(sub, product, pol, gateway, rates, caps)


def with_custom_replies(computed: list[tuple[str, ReplyValue]], custom: tuple[CustomAttribute, ...]) -> Reply:
    """The reply with the policy's custom reply attributes, by their operator:

    ``=`` and ``:=`` set the attribute: the computed value(s) of that name are replaced (``:=`` also
    replaces an earlier custom value of the name); ``+=`` adds a value next to those already there.
    """
    out = list(computed)
    replaced: set[str] = set()
    for attr in custom:
        if attr.op != "+=" and (attr.name not in replaced or attr.op == ":="):
            out = [item for item in out if item[0] != attr.name]
            replaced.add(attr.name)
        out.append((attr.name, attr.value))
    return tuple(out)


def _periods(
    sub: SubscriberView, policy: PolicyView, gateway: GatewayView, now: datetime, tz: ZoneInfo
) -> dict[PeriodKind, Period]:
    return current_periods(now, tz, week_start_day(policy, gateway), sub.product_assigned_at)


def week_start_day(policy: PolicyView | None, gateway: GatewayView) -> int:
    """The first day of the week (1 = Monday … 7 = Sunday) the weekly allowances use."""
    return first_day(
        policy.first_day_of_week if policy else 0, _int(gateway.domain_settings.get("first_day_of_week"))
    )


def allowance_refusal(
    sub: SubscriberView,
    product: ProductView | None,
    policy: PolicyView | None,
    gateway: GatewayView,
    now: datetime,
) -> Decision | None:
    """The reject a new login would get now because an allowance or credit is used up, else None.

    Accounting uses it to disconnect sessions on gateways that cannot enforce data limits themselves.
    """
    if sub.free_user or product is None:
        return None
    pol = policy or PolicyView(id="-")
    tz = zone(gateway.timezone)
    return _allowances(sub, product, pol, _periods(sub, pol, gateway, now, tz), now, tz, _Caps())


def _int(value: object) -> int | None:
    if value is None:
        return None
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return None
