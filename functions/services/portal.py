"""What a subscriber sees and changes in the customer portal: "my service" (product and policy in
words, what is left of each allowance, traffic per day, connection log, devices), invoices, and the
account (portal password, network password, contact data).

Usage counters are the ones RADIUS keeps on the subscriber item (``core.radius.usage`` documents the
keys); periods are computed in the gateway's time zone exactly as RADIUS computes them, so "what is
left" here is what RADIUS enforces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.errors import NotFoundError, ValidationError
from core.ids import parse_iso, utcnow
from core.invoice_ids import from_path, path_id
from core.money import amount_due, currency_or_default, fmt, quantize, report_currency
from core.paging import decode_key, encode_key
from core.radius import schedule as sched
from core.radius.model import BYTES_PER_MB
from core.radius.usage import (
    Counter,
    PeriodKind,
    current_periods,
    first_day,
    used,
    used_bytes,
    zone,
)
from services.audit import record_audit
from services.billing.credit import unpaid_oldest_first
from services.network.triggers import SyncRequest, request_subscriber_sync
from shared.crypto import hash_password, verify_password
from shared.runtime import Runtime
from store import catalog as catalog_store
from store import portal as portal_store
from store import subscribers as subscriber_store
from store import tenants as tenant_store
from store.models import Gateway, Invoice, Payment, Policy, Product, Session, Subscriber, Tenant

_PERIOD_WORDS = {PeriodKind.DAY: "daily", PeriodKind.WEEK: "weekly", PeriodKind.MONTH: "monthly"}
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MAX_CHART_DAYS = 92


# ---------------------------------------------------------------- words
def rate_words(bps: int) -> str:
    """``10000000`` → ``10 Mbit/s``; ``512000`` → ``512 kbit/s``."""
    if bps >= 1_000_000_000 and bps % 1_000_000_000 == 0:
        return f"{bps // 1_000_000_000} Gbit/s"
    if bps >= 1_000_000:
        value = bps / 1_000_000
        return f"{value:g} Mbit/s"
    if bps >= 1_000:
        return f"{bps / 1_000:g} kbit/s"
    return f"{bps} bit/s"


def minutes_words(minutes: int) -> str:
    """``90`` → ``1 h 30 min``; ``1440`` → ``24 h``."""
    hours, mins = divmod(int(minutes), 60)
    if hours and mins:
        return f"{hours} h {mins} min"
    if hours:
        return f"{hours} h"
    return f"{mins} min"


def megabytes_words(mb: int) -> str:
    """``2048`` → ``2 GB``; ``500`` → ``500 MB`` (binary units, as RouterOS shows them)."""
    if mb >= 1024 and mb % 1024 == 0:
        return f"{mb // 1024} GB"
    if mb >= 1024:
        return f"{mb / 1024:.1f} GB"
    return f"{mb} MB"


def _hours_words(hours: list[int]) -> str:
    if not hours:
        return "closed"
    ranges: list[str] = []
    start = prev = hours[0]
    for h in [*hours[1:], None]:
        if h is not None and h == prev + 1:
            prev = h
            continue
        ranges.append(f"{start:02d}:00–{prev + 1:02d}:00")
        if h is not None:
            start = prev = h
    return ", ".join(ranges)


def _pick(policy_value: int, product_value: int) -> int:
    """SPEC S6: 0 = unlimited; when both set a value the policy's wins (as RADIUS applies it)."""
    return int(policy_value) if int(policy_value or 0) > 0 else max(int(product_value or 0), 0)


def _allowance_words(product: Product, policy: Policy | None) -> list[str]:
    """Time and data allowances per day, week and month (the policy's value wins where both set one)."""
    out: list[str] = []
    for kind, field in (
        (PeriodKind.DAY, "daily"),
        (PeriodKind.WEEK, "weekly"),
        (PeriodKind.MONTH, "monthly"),
    ):
        t = _pick(
            getattr(policy, f"{field}_time_min", 0) if policy else 0, getattr(product, f"{field}_time_min", 0)
        )
        d = _pick(
            getattr(policy, f"{field}_data_mb", 0) if policy else 0, getattr(product, f"{field}_data_mb", 0)
        )
        if t:
            out.append(f"{_PERIOD_WORDS[kind].capitalize()} time allowance: {minutes_words(t)}.")
        if d:
            out.append(f"{_PERIOD_WORDS[kind].capitalize()} data allowance: {megabytes_words(d)}.")
    return out


def _credit_words(product: Product) -> list[str]:
    out: list[str] = []
    if product.time_credit_min:
        out.append(f"Prepaid time credit: {minutes_words(int(product.time_credit_min))}.")
    if product.data_credit_mb:
        out.append(f"Prepaid data credit: {megabytes_words(int(product.data_credit_mb))}.")
    if product.validity_days:
        out.append(f"Valid for {int(product.validity_days)} days from activation.")
    return out


def _connection_words(policy: Policy) -> list[str]:
    """Session and idle timeouts, device and connection limits, and the connection hours."""
    out: list[str] = []
    if policy.session_timeout_min:
        out.append(f"Each connection ends after {minutes_words(int(policy.session_timeout_min))}.")
    if policy.idle_timeout_min:
        out.append(f"Idle connections end after {minutes_words(int(policy.idle_timeout_min))}.")
    if policy.max_devices:
        out.append(f"Up to {int(policy.max_devices)} devices.")
    if policy.concurrent_connections:
        out.append(f"Up to {int(policy.concurrent_connections)} connections at the same time.")
    if policy.split_credits:
        out.append("What is left is shared between the connections open at the same time.")
    schedule = policy.schedule
    if schedule is not None and not sched.is_always(schedule):
        days = [
            f"{_WEEKDAYS[d - 1]} {_hours_words(sorted(int(h) for h in schedule.get(str(d), [])))}"
            for d in range(1, 8)
        ]
        out.append("Connection hours: " + "; ".join(days) + ".")
    return out


def policy_words(product: Product | None, policy: Policy | None) -> list[str]:
    """The rules of the subscriber's plan, one sentence each, in the order a customer asks about them."""
    if product is None:
        return ["No plan is assigned to this service."]
    out: list[str] = []
    if policy is not None and (policy.download_rate or policy.upload_rate):
        down = rate_words(int(policy.download_rate)) if policy.download_rate else "unlimited"
        up = rate_words(int(policy.upload_rate)) if policy.upload_rate else "unlimited"
        out.append(f"Speed: {down} download, {up} upload.")
    out += _allowance_words(product, policy)
    out += _credit_words(product)
    if policy is not None:
        out += _connection_words(policy)
    return out or ["No speed or usage limits."]


# ---------------------------------------------------------------- my service
@dataclass(frozen=True)
class Plan:
    product: Product | None
    policy: Policy | None
    gateway: Gateway | None


def load_plan(sub: Subscriber) -> Plan:
    product = catalog_store.get(Product, sub.product_id) if sub.product_id else None
    policy = catalog_store.get(Policy, product.policy_id) if product and product.policy_id else None
    gateway = catalog_store.get(Gateway, sub.gateway_id) if sub.gateway_id else None
    return Plan(product, policy, gateway)


def _allowance(limit: int | None, used_value: int, resets_at: datetime | None) -> dict[str, Any]:
    return {
        "limit": limit,
        "used": used_value,
        "remaining": None if limit is None else max(limit - used_value, 0),
        "resets_at": resets_at.astimezone(UTC).isoformat().replace("+00:00", "Z") if resets_at else None,
    }


def _week_start(policy: Policy | None, gateway: Gateway | None) -> int:
    """The first day of the week of the weekly allowances, as RADIUS counts them: the policy's, else the
    gateway's ``domain_settings.first_day_of_week``, else Monday."""
    setting = ((gateway.domain_settings or {}) if gateway is not None else {}).get("first_day_of_week")
    try:
        gateway_default = int(setting) if setting is not None else None
    except (TypeError, ValueError):
        gateway_default = None
    return first_day(int(policy.first_day_of_week or 0) if policy else 0, gateway_default)


def allowances(sub: Subscriber, plan: Plan, now: datetime | None = None) -> dict[str, Any]:
    """Used and remaining time (seconds) and data (bytes) for the day, week and month, and the prepaid
    credits. ``limit`` None means unlimited."""
    moment = now or utcnow()
    tz = zone(plan.gateway.timezone if plan.gateway else None)
    product, policy = plan.product, plan.policy
    fdow = _week_start(policy, plan.gateway)
    periods = current_periods(moment, tz, fdow, sub.product_assigned_at)
    usage = portal_store.usage_counters(sub)
    out: dict[str, Any] = {"timezone": str(tz)}
    for kind, field in (
        (PeriodKind.DAY, "daily"),
        (PeriodKind.WEEK, "weekly"),
        (PeriodKind.MONTH, "monthly"),
    ):
        period = periods[kind]
        t = _pick(
            getattr(policy, f"{field}_time_min", 0) if policy else 0,
            getattr(product, f"{field}_time_min", 0) if product else 0,
        )
        d = _pick(
            getattr(policy, f"{field}_data_mb", 0) if policy else 0,
            getattr(product, f"{field}_data_mb", 0) if product else 0,
        )
        out[field] = {
            "time_s": _allowance(t * 60 if t else None, used(usage, period, Counter.TIME), period.end),
            "data_bytes": _allowance(d * BYTES_PER_MB if d else None, used_bytes(usage, period), period.end),
            "upload_bytes": used(usage, period, Counter.UPLOAD),
            "download_bytes": used(usage, period, Counter.DOWNLOAD),
        }
    credit = periods.get(PeriodKind.PRODUCT)
    credits: dict[str, Any] = {}
    if product is not None and credit is not None:
        carry = dict(sub.carry_over or {})
        if product.time_credit_min:
            total = (int(product.time_credit_min) + int(carry.get("time_min", 0) or 0)) * 60
            credits["time_s"] = _allowance(total, used(usage, credit, Counter.TIME), None)
        if product.data_credit_mb:
            total = (int(product.data_credit_mb) + int(carry.get("data_mb", 0) or 0)) * BYTES_PER_MB
            credits["data_bytes"] = _allowance(total, used_bytes(usage, credit), None)
    out["credits"] = credits
    return out


def _expiry(sub: Subscriber, product: Product | None) -> str | None:
    if sub.product_expires_at:
        return sub.product_expires_at
    if product is not None and product.validity_days and sub.product_assigned_at:
        return (parse_iso(sub.product_assigned_at) + timedelta(days=int(product.validity_days))).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    return None


def service_overview(sub: Subscriber, now: datetime | None = None) -> dict[str, Any]:
    """Everything the "my service" page shows at once."""
    plan = load_plan(sub)
    product, policy = plan.product, plan.policy
    return {
        "subscriber_id": sub.id,
        "username": sub.username,
        "status": sub.status,
        "connection_type": sub.connection_type,
        "ip": sub.ip,
        "balance": sub.balance or "0",
        "product": None
        if product is None
        else {
            "id": product.id,
            "name": product.name,
            "description": product.description or "",
            "price": sub.price_override or product.price,
            "assigned_at": sub.product_assigned_at,
            "expires_at": _expiry(sub, product),
        },
        "policy": None if policy is None else {"code": policy.code, "description": policy.description or ""},
        "rules": policy_words(product, policy),
        "allowances": allowances(sub, plan, now),
        "online_now": len(portal_store.open_sessions_map(sub)),
    }


def traffic_per_day(sub: Subscriber, days: int, now: datetime | None = None) -> dict[str, Any]:
    """Chart data: for each of the last ``days`` days (gateway time zone, oldest first) the number of
    sessions started, time online and bytes up/down. A session counts on the day it started."""
    if not 1 <= days <= MAX_CHART_DAYS:
        raise ValidationError(f"days must be between 1 and {MAX_CHART_DAYS}", field="days")
    plan = load_plan(sub)
    tz = zone(plan.gateway.timezone if plan.gateway else None)
    today = (now or utcnow()).astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=tz).astimezone(UTC)
    buckets: dict[date, dict[str, Any]] = {
        first + timedelta(days=i): {"sessions": 0, "time_s": 0, "upload_bytes": 0, "download_bytes": 0}
        for i in range(days)
    }
    for row in portal_store.sessions_between(sub.id, since.strftime("%Y-%m-%dT%H:%M:%S")):
        day = parse_iso(row.started_at).astimezone(tz).date()
        bucket = buckets.get(day)
        if bucket is None:
            continue
        bucket["sessions"] += 1
        bucket["time_s"] += int(row.duration_s or 0)
        bucket["upload_bytes"] += int(row.input_octets or 0)
        bucket["download_bytes"] += int(row.output_octets or 0)
    return {
        "timezone": str(tz),
        "days": [{"date": d.isoformat(), **v} for d, v in sorted(buckets.items())],
    }


def _hms(seconds: int) -> str:
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


def session_row(row: Session) -> dict[str, Any]:
    """One connection-log line with the fields of SPEC S4."""
    return {
        "id": row.id,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "duration_s": int(row.duration_s or 0),
        "duration": _hms(int(row.duration_s or 0)),
        "upload_bytes": int(row.input_octets or 0),
        "download_bytes": int(row.output_octets or 0),
        "ip": row.framed_ip,
        "mac": row.mac,
        "gateway_name": row.gateway_name,
        "nas_identifier": row.nas_identifier,
        "gateway_mac": row.gateway_mac,
        "terminate_cause": row.terminate_cause,
        "open": row.ended_at is None,
    }


def connection_log(rt: Runtime, sub: Subscriber, limit: int, next_token: str | None) -> dict[str, Any]:
    """Connection log, newest first, paginated (signed page tokens bound to this subscriber's log)."""
    scope = f"portal:sessions:{sub.id}"
    start = decode_key(rt.signer, next_token, scope, field="next_token")
    rows, last = portal_store.sessions_page(sub.id, limit, start)
    return {"items": [session_row(r) for r in rows], "next_token": encode_key(rt.signer, last, scope)}


def devices(sub: Subscriber) -> dict[str, Any]:
    """Devices (MACs) counted against the plan since the product assignment, and those online now."""
    plan = load_plan(sub)
    online = []
    for key, s in portal_store.open_sessions_map(sub).items():
        online.append(
            {
                "session": key,
                "mac": s.get("mac"),
                "ip": s.get("ip"),
                "since": s.get("start"),
                "nas": s.get("nas"),
            }
        )
    online_macs = {str(o["mac"]).upper() for o in online if o.get("mac")}
    max_devices = int(plan.policy.max_devices or 0) if plan.policy else 0
    known = list(sub.devices or [])
    return {
        "max_devices": max_devices or None,
        "counted_since": sub.product_assigned_at,
        "devices": [{"mac": m, "online": m.upper() in online_macs} for m in known],
        "online": sorted(online, key=lambda o: str(o.get("since") or "")),
    }


# ---------------------------------------------------------------- invoices
def _invoice_of(sub: Subscriber, invoice_id: str) -> Invoice:
    stored = from_path(invoice_id)  # the one codec of invoice ids in paths
    inv = portal_store.find_invoice(stored) if stored is not None else None
    # another subscriber's invoice answers exactly like a missing one
    if inv is None or inv.subscriber_id != sub.id or inv.tenant_id != sub.tenant_id:
        raise NotFoundError("invoice not found", field="invoice_id")
    return inv


def get_invoice(sub: Subscriber, invoice_id: str) -> Invoice:
    return _invoice_of(sub, invoice_id)


def invoice_due(invoice: Invoice) -> Decimal:
    """What is still owed on an invoice (nothing on a cancelled one)."""
    if invoice.status == "cancelled":
        return Decimal("0")
    return quantize(amount_due(invoice.total, invoice.paid), currency_or_default(invoice.currency))


def amount_owed(sub: Subscriber) -> dict[str, Any]:
    """What I owe: the amount due of every unpaid invoice of mine, added up per currency (amounts of
    different currencies are never added together), how many invoices that is, and the invoice a payment
    pays first (the oldest by due date). ``currency`` and ``amount`` are null when I owe in several
    currencies; owing nothing, the amount is 0 in my operator's currency."""
    owed = [i for i in unpaid_oldest_first(sub.id) if i.tenant_id == sub.tenant_id and invoice_due(i) > 0]
    per: dict[str, tuple[Decimal, int]] = {}
    for inv in owed:
        cur = currency_or_default(inv.currency)
        total, count = per.get(cur, (Decimal("0"), 0))
        per[cur] = (total + invoice_due(inv), count + 1)
    tenant = None if per else my_tenant(sub)
    currency = report_currency(per, [tenant.currency if tenant else None])
    first = owed[0] if owed else None
    return {
        "currency": currency,
        "amount": fmt(per.get(currency, (Decimal("0"), 0))[0], currency) if currency else None,
        "invoices": len(owed),
        "by_currency": [
            {"currency": cur, "amount": fmt(total, cur), "invoices": count}
            for cur, (total, count) in sorted(per.items())
        ],
        "oldest_invoice": {
            "id": first.id,
            "path_id": path_id(first.id),
            "number": int(first.number) if first.number is not None else None,
            "due_date": first.due_date,
            "currency": currency_or_default(first.currency),
            "due": str(invoice_due(first)),
        }
        if first
        else None,
    }


def invoice_pdf(invoice: Invoice) -> tuple[bytes, str]:
    """The invoice PDF and its file name (rendered by billing, as operators see it)."""
    from services.billing.delivery import invoice_pdf

    return invoice_pdf(invoice.id, {invoice.tenant_id})


def my_payments(sub: Subscriber, limit: int = 100) -> list[Payment]:
    """My payments and payment reports, newest first."""
    return portal_store.subscriber_payments(sub.id, limit)


def my_tenant(sub: Subscriber) -> Tenant | None:
    """The ISP the subscriber belongs to (name and contact shown in the portal)."""
    return tenant_store.get_tenant(sub.tenant_id)


def list_invoices(
    rt: Runtime, sub: Subscriber, limit: int, next_token: str | None
) -> tuple[list[Invoice], str | None]:
    """My invoices, newest first, paginated (signed page tokens bound to this subscriber's list)."""
    scope = f"portal:invoices:{sub.id}"
    start = decode_key(rt.signer, next_token, scope, field="next_token")
    rows, last = portal_store.subscriber_invoices(sub.id, limit, start)
    return rows, encode_key(rt.signer, last, scope)


# ---------------------------------------------------------------- account
PORTAL_PASSWORD_MIN = 8
# Network passwords travel to RouterOS (PPP secret / hotspot user) and are typed on devices:
# printable ASCII without spaces or quotes.
_NETWORK_PASSWORD = re.compile(r"^[A-Za-z0-9!#$%&()*+,\-./:;<=>?@\[\]^_{|}~]{6,64}$")


def _check_current(sub: Subscriber, current: str | None) -> None:
    """Changing credentials needs the current portal password when one is set (a session opened with
    an auto-login link for a subscriber who never had one can set it)."""
    if sub.portal_password_hash and not verify_password(current or "", sub.portal_password_hash):
        raise ValidationError("the current password is wrong", field="current_password")


def change_portal_password(
    sub: Subscriber, current: str | None, new: str, request_id: str | None = None
) -> None:
    """Set a new portal password (scrypt hash); the current one is required when one is set."""
    _check_current(sub, current)
    if len(new) < PORTAL_PASSWORD_MIN:
        raise ValidationError(
            f"the new password needs at least {PORTAL_PASSWORD_MIN} characters", field="new_password"
        )
    subscriber_store.update_fields(sub, {"portal_password_hash": hash_password(new)})
    record_audit(
        sub.id,
        "subscriber",
        sub.tenant_id,
        "subscriber",
        sub.id,
        "change_portal_password",
        None,
        {"portal_password": "changed"},
        request_id,
    )


def change_network_password(
    rt: Runtime, sub: Subscriber, current: str | None, new: str, request_id: str | None = None
) -> SyncRequest:
    """Set the network (PPPoE/hotspot) password: stored encrypted, then pushed to the router by the
    provisioner. RADIUS uses the new password from the next login."""
    _check_current(sub, current)
    if not _NETWORK_PASSWORD.match(new):
        raise ValidationError(
            "the network password needs 6 to 64 letters, digits or symbols, without spaces or quotes",
            field="new_password",
        )
    subscriber_store.update_fields(sub, {"password_enc": rt.box.encrypt(new)})
    record_audit(
        sub.id,
        "subscriber",
        sub.tenant_id,
        "subscriber",
        sub.id,
        "change_network_password",
        None,
        {"network_password": "changed"},
        request_id,
    )
    return request_subscriber_sync(
        rt, sub, "network password changed by the subscriber", f"subscriber:{sub.id}"
    )


CONTACT_FIELDS = ("name", "email", "phone", "address")


def update_contact(
    sub: Subscriber, changes: dict[str, str | None], request_id: str | None = None
) -> Subscriber:
    """Change the subscriber's own contact data (name, e-mail, phone, address); None clears a field."""
    unknown = set(changes) - set(CONTACT_FIELDS)
    if unknown:
        raise ValidationError(f"unknown field {sorted(unknown)[0]}", field=sorted(unknown)[0])
    if not changes:
        raise ValidationError("nothing to change", field="body")
    before = {k: getattr(sub, k) for k in changes}
    subscriber_store.update_fields(sub, {k: (v if v != "" else None) for k, v in changes.items()})
    after = {k: getattr(sub, k) for k in changes}
    record_audit(
        sub.id, "subscriber", sub.tenant_id, "subscriber", sub.id, "update_contact", before, after, request_id
    )
    return sub
