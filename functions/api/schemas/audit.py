"""Audit log queries."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from api.schemas.common import Cursor, DateOrTime, ExportQuery, Id, Out, Query

Stamp = DateOrTime


class AuditQuery(Query):
    entity_id: Id | None = Field(default=None, description="one object's history (else the tenant's log)")
    tenant_id: Id | None = None
    since: Stamp | None = None
    until: Stamp | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    cursor: Cursor | None = None


class AuditExportQuery(ExportQuery):
    entity_id: Id | None = None
    tenant_id: Id | None = None
    since: Stamp | None = None
    until: Stamp | None = None


class AuditEntryOut(Out):
    entity_id: str
    entity_type: str
    tenant_id: str
    at: str
    action: str
    actor_id: str
    actor_kind: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    request_id: str | None = None


class AuditPage(Out):
    items: list[AuditEntryOut]
    next_cursor: str | None = None
