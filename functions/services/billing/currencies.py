"""The currency of each tenant: the amounts of a tenant's subscribers (service prices, recharges) are in
its currency, so a report over several tenants adds them up per currency."""

from __future__ import annotations

from collections.abc import Iterable

from core.money import currency_or_default
from store import tenants as tenant_store


def tenant_currencies(tenant_ids: Iterable[str]) -> dict[str, str]:
    """Each tenant's currency (the default for a tenant without one); unknown tenants are left out."""
    ids = sorted({t for t in tenant_ids if t})
    return {t.id: currency_or_default(t.currency) for t in tenant_store.batch_get_tenants(ids)}
