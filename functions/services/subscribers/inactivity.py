"""Mark customers Inactive after the tenant's grace period without using the service (the daily run)."""

from __future__ import annotations

from datetime import datetime

from core.errors import ConflictError
from core.inactivity import inactivity_days, is_inactive
from core.statuses import Status
from services.audit import record_audit
from services.subscribers import open_sessions
from shared.observability import get_logger
from shared.runtime import Runtime
from store import subscribers as subscriber_store
from store import tallies
from store import tenants as tenant_store

log = get_logger("billing")


def mark_inactive(rt: Runtime, now: datetime) -> int:
    """Set status Inactive on every customer due (conditional on the status seen); returns how many."""
    changed = 0
    for tenant in tenant_store.all_tenants():
        days = inactivity_days(tenant.settings)
        subs = subscriber_store.list_tenant(tenant.id)
        tallies.recount(tenant.id, now, subs)  # the totals counters' daily repair (and online_24h)
        if days <= 0:
            continue
        for sub in subs:
            online = bool(open_sessions(sub))
            if not is_inactive(sub.status, sub.last_seen_at, sub.created_at, online, now, days):
                continue
            before = sub.status
            try:
                subscriber_store.update_fields(sub, {"status": Status.INACTIVE.value}, expect_status=before)
            except ConflictError:
                continue  # changed meanwhile: the next run decides again
            record_audit(
                "system",
                "system",
                tenant.id,
                "subscriber",
                sub.id,
                "inactive",
                {"status": before},
                {"status": Status.INACTIVE.value, "grace_days": days},
            )
            changed += 1
    if changed:
        log.info("customers marked inactive", extra={"count": changed})
    return changed
