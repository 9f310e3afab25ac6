"""The subscribers context (SPEC S2 "from operator" / "from external procedure", S3 lists and totals,
S4 lifecycle actions and reads).

Creating or editing a subscriber that lives on a router enqueues a provisioning trigger; the result says
what was done in the system and what is pending on the router.

Modules: ``records`` (the subscriber as the services see it, the read by id, the router effect),
``editing`` (create, update), ``lists`` (lists, totals, export), ``online`` (sessions open now),
``lifecycle`` (the operator actions, single and bulk: ``outcome``, ``status``, ``changes``) and
``activity`` (connection log, locate, dashboard, sales). The names of ``records``, ``editing``,
``lists`` and ``online`` are importable from the package.
"""

from __future__ import annotations

from services.subscribers.editing import (
    CREATE_STATUSES,
    ROUTER_FIELDS,
    Created,
    Updated,
    assign_pool_ip,
    create_subscriber,
    expiry,
    update_subscriber,
)
from services.subscribers.lists import (
    EXPORT_COLUMNS,
    Catalogue,
    Page,
    cancellation_stats,
    export_subscribers,
    list_row,
    list_subscribers,
    recount_totals,
    service_price,
    subscriber_totals,
)
from services.subscribers.online import ONLINE_COLUMNS, online_page, online_rows
from services.subscribers.records import (
    PUBLIC_FIELDS,
    RouterEffect,
    audit_snapshot,
    credentials,
    equipment_secrets,
    gateway_name,
    get_subscriber,
    open_sessions,
    router_effect,
    subscriber_dict,
    sync,
    usage_map,
)

__all__ = [
    "CREATE_STATUSES",
    "EXPORT_COLUMNS",
    "ONLINE_COLUMNS",
    "PUBLIC_FIELDS",
    "ROUTER_FIELDS",
    "Catalogue",
    "Created",
    "Page",
    "RouterEffect",
    "Updated",
    "assign_pool_ip",
    "audit_snapshot",
    "cancellation_stats",
    "create_subscriber",
    "credentials",
    "equipment_secrets",
    "expiry",
    "export_subscribers",
    "gateway_name",
    "get_subscriber",
    "list_row",
    "list_subscribers",
    "online_page",
    "online_rows",
    "open_sessions",
    "recount_totals",
    "router_effect",
    "service_price",
    "subscriber_dict",
    "subscriber_totals",
    "sync",
    "update_subscriber",
    "usage_map",
]
