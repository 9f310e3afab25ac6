"""What every billing operation reads about a tenant and a client: the tenant context (currency,
zones, days, fees, templates), the client's own billing options and when its service began."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from core import money
from core.billing_calendar import (
    BillingDays,
    BillingOptions,
    Cycle,
    local_date,
    local_midnight,
    parse_date,
    period_of,
)
from core.errors import NotFoundError, ValidationError
from core.ids import iso
from core.invoice_ids import internet_invoice_id, legacy_internet_invoice_id
from core.money import currency_or_default
from core.statuses import Status
from core.templates import DEFAULT_TEMPLATES
from shared.observability import get_logger
from store import billing as repo
from store.models import Subscriber, Tenant, Zone

log = get_logger("billing")


UNPAID = ("pending", "partial")
NEVER_BILLED = frozenset({Status.FREE.value, Status.CANCELLED.value})
# Statuses a cutoff moves to suspended (Free, Cancelled, Inactive and already Suspended are left alone).
CUTTABLE = frozenset({Status.ACTIVE.value, Status.NEW.value})
DEFAULT_DAYS = BillingDays(1, 3, 5, 10)
# How far back the notice and cutoff runs look for unpaid invoices (by creation date).
NOTICE_WINDOW_DAYS = 62
CUTOFF_WINDOW_DAYS = 100
RUN_KINDS = ("billing_invoices", "billing_notices", "billing_cutoff")


@dataclass
class TenantContext:
    """What the runs need about a tenant, read once per run."""

    tenant: Tenant
    zones: dict[str, Zone]
    options: dict[str, Any]

    @property
    def currency(self) -> str:
        return currency_or_default(self.tenant.currency)

    @property
    def tax_rate(self) -> Decimal:
        return money.parse_rate(self.tenant.tax_rate)

    @property
    def company(self) -> str:
        return self.tenant.company_name or self.tenant.name

    def zone(self, zone_id: str | None) -> Zone | None:
        return self.zones.get(zone_id) if zone_id else None

    def zone_days(self, zone_id: str | None) -> BillingDays:
        z = self.zone(zone_id)
        if z is not None:
            return BillingDays.of(z.issue_day, z.notice_day, z.payment_day, z.cutoff_day)
        default = self.options.get("default_days")
        if isinstance(default, dict):
            return BillingDays.of(
                default.get("issue_day"),
                default.get("notice_day"),
                default.get("payment_day"),
                default.get("cutoff_day"),
            )
        return DEFAULT_DAYS

    def tz(self, zone_id: str | None) -> str:
        return zone_time_zone(self.zone(zone_id), self.tenant)

    def time_zones(self) -> list[str]:
        """Every time zone the tenant works in: its own and its zones'."""
        return [tz for tz in [self.tenant.timezone, *(z.timezone for z in self.zones.values())] if tz]

    def auto_invoicing(self, zone_id: str | None) -> bool:
        z = self.zone(zone_id)
        return True if z is None else bool(z.auto_invoicing)

    def auto_cutoff(self, zone_id: str | None) -> bool:
        z = self.zone(zone_id)
        return True if z is None else bool(z.auto_cutoff)

    def fee(self, name: str) -> Decimal:
        return money.to_decimal(self.options.get(name) or "0", name)

    def template(self, name: str) -> str:
        templates = (self.tenant.settings or {}).get("templates") or {}
        return str(templates.get(name) or DEFAULT_TEMPLATES[name])


def load_context(tenant_id: str) -> TenantContext:
    tenant = repo.get_tenant(tenant_id)
    if tenant is None:
        raise NotFoundError("tenant not found")
    options = (tenant.settings or {}).get("billing") or {}
    return TenantContext(tenant, repo.zones_of(tenant_id), dict(options) if isinstance(options, dict) else {})


def zone_time_zone(zone: Zone | None, tenant: Tenant | None) -> str:
    """The IANA time zone of a zone, else of its tenant, else UTC: the calendar a client's dates follow."""
    return (
        (zone.timezone if zone is not None else None)
        or (tenant.timezone if tenant is not None else None)
        or "UTC"
    )


def subscriber_time_zone(sub: Subscriber) -> str:
    """The time zone of the subscriber's zone, else of its tenant (:func:`zone_time_zone`), read without
    loading the tenant's whole context."""
    zone = repo.get_zone(sub.zone_id) if sub.zone_id else None
    if zone is not None and zone.timezone:
        return str(zone.timezone)
    return zone_time_zone(None, repo.get_tenant(sub.tenant_id))


def subscriber_today(sub: Subscriber, now: datetime) -> date:
    """The date at ``now`` in the subscriber's zone (the tenant's time zone without one)."""
    return local_date(now, subscriber_time_zone(sub))


# When a run acts: an instant (a scheduled run: each time zone is at its own date then) or a date (a run
# for a given day, started by hand or replayed: that date in every time zone, whatever its offset from
# UTC — no single instant is the same date from UTC-12 to UTC+14).
AsOf = datetime | date
# The furthest a time zone is ahead of UTC (Pacific/Kiritimati): a date begins there first.
MAX_UTC_OFFSET = timedelta(hours=14)


def run_day(as_of: AsOf, tz: str | None) -> date:
    """The date a run acts on in the time zone ``tz``: the run's date, or the local date at its instant."""
    return local_date(as_of, tz) if isinstance(as_of, datetime) else as_of


def run_start(as_of: AsOf) -> datetime:
    """The earliest instant a run stands for: its instant, or when its date begins in the time zone furthest
    ahead of UTC (look-back windows counted from it see what a run at that date anywhere would)."""
    if isinstance(as_of, datetime):
        return as_of
    return datetime.combine(as_of, time(0), UTC) - MAX_UTC_OFFSET


def latest_today(tenant_ids: list[str], now: datetime) -> date:
    """The latest date at ``now`` among the time zones of the tenants and of their zones: a date after it
    has not begun anywhere they work."""
    latest = local_date(now, "UTC")
    for tenant_id in tenant_ids:
        for tz in load_context(tenant_id).time_zones():
            latest = max(latest, local_date(now, tz))
    return latest


def tenant_day_bounds(
    tenant_id: str, since: date | None, until: date | None
) -> tuple[str | None, str | None]:
    """The creation times (``iso``) from the start of ``since`` to the end of ``until`` in the tenant's time
    zone: a date range a tenant's operator asks for is a range of their calendar days, the lower bound
    included and the upper excluded. None for a bound not given."""
    tenant = repo.get_tenant(tenant_id) if since or until else None
    tz = tenant.timezone if tenant is not None else None
    lower = iso(local_midnight(since, tz)) if since else None
    upper = iso(local_midnight(until + timedelta(days=1), tz)) if until else None
    return lower, upper


def client_options(sub: Subscriber) -> BillingOptions:
    try:
        return BillingOptions.from_map(sub.billing)
    except ValidationError:
        log.warning("client has invalid own billing dates; using the zone's", extra={"subscriber_id": sub.id})
        return BillingOptions()


def client_days(ctx: TenantContext, sub: Subscriber) -> BillingDays:
    return client_options(sub).days(ctx.zone_days(sub.zone_id))


def local_day_of(value: str | None, tz: str) -> date | None:
    if not value:
        return None
    if len(value) == 10:
        return parse_date(value, "installed_at")
    try:
        return local_date(datetime.fromisoformat(value.replace("Z", "+00:00")), tz)
    except ValueError:
        return None


def invoice_id(subscriber_id: str, cycle: Cycle) -> str:
    """The one id the internet invoice of this client and cycle can have (keyed by the issue month)."""
    return internet_invoice_id(subscriber_id, period_of(cycle.issue_date))


def legacy_invoice_id(subscriber_id: str, cycle: Cycle) -> str:
    """The id the same invoice had before URL-safe ids: a client billed then must not be billed twice."""
    return legacy_internet_invoice_id(subscriber_id, cycle.period)


def service_exists_from(sub: Subscriber, tz: str) -> date | None:
    """The first day of the client's service: its installation, or else the day it was created."""
    return local_day_of(sub.installed_at, tz) or local_day_of(sub.created_at, tz)


def created_after(sub: Subscriber, day: date, tz: str) -> bool:
    """The client's record did not exist yet on ``day`` (a run back-dated to before its creation)."""
    created = local_day_of(sub.created_at, tz)
    return created is not None and created > day


def require_subscriber(tenant_id: str, subscriber_id: str) -> Subscriber:
    sub = repo.get_subscriber_by_id(subscriber_id)
    if sub is None or sub.tenant_id != tenant_id:
        raise NotFoundError("client not found")
    return sub
