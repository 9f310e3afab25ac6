"""Shared field types and base classes for the admin API models."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

ID_PATTERN = r"^[A-Za-z0-9_.:@#\-]+$"
Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=ID_PATTERN)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
Text = Annotated[str, StringConstraints(max_length=2000)]
Email = Annotated[str, StringConstraints(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Money = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,10}(\.[0-9]{1,4})?$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
Timezone = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Role = Annotated[str, Field(pattern=r"^(read_only|operator|manager|reseller|system_admin)$")]
Cursor = Annotated[str, StringConstraints(min_length=1, max_length=4000)]

MAX_JSON_BLOB = 10_000


def _small_json(value: dict[str, Any]) -> dict[str, Any]:
    import json

    if len(json.dumps(value, default=str)) > MAX_JSON_BLOB:
        raise ValueError(f"must be at most {MAX_JSON_BLOB} characters as JSON")
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_small_json)]


class In(BaseModel):
    """Request bodies: unknown fields are refused so typos surface as 422 with the field name."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class StrictIn(In):
    """Request bodies of the admin API: JSON types are not coerced ("5" is not an integer, 1 is not a
    string), so what the OpenAPI schema rejects the API rejects too."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


class Query(BaseModel):
    """Query strings: unknown parameters are ignored (caches, tracing)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)


class Out(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class Deleted(Out):
    deleted: bool = True
    id: str


class TenantQuery(Query):
    tenant_id: Id | None = None
