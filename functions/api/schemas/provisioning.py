"""Response models of the provisioning routes of the admin API: router tasks.

Each task has every field ``services.network.provisioning.task_view`` gives it, null where it has no
value.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.schemas.common import Out


class ProvisioningTaskOut(Out):
    id: str
    tenant_id: str
    gateway_id: str
    kind: str = Field(description="reconcile_subscriber, reconcile_router, install_block_rules, cutoff…")
    subscriber_id: str | None
    status: str = Field(description="queued, running, succeeded, failed (retried) or dead (given up)")
    attempts: int
    last_error: str | None
    error_category: str | None = Field(
        description="unreachable, auth, timeout, trap, api_disabled, conflict, invalid, internal, queue"
    )
    reason: str | None = Field(description="why the task was asked for")
    actor: str | None = Field(description="who asked for it")
    run: int = Field(description="the run of the task (a re-run is the next one)")
    summary: dict[str, Any] | None = Field(description="what the router's last run changed")
    created_at: str
    updated_at: str | None


class ProvisioningTaskPage(Out):
    items: list[ProvisioningTaskOut]
    next_token: str | None = Field(
        description="pass it back as next_token for the next page; null on the last page"
    )
