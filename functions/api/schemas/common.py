"""Shared field types and base classes for the admin API models."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

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

# A PATCH field that may be left out but not set to null (a required attribute):
# ``name: Name | NotNull = not_null()`` keeps null out of the schema (type and default), and the PATCH
# handler refuses it with 422 naming the field
NotNull = SkipJsonSchema[None]


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def not_null() -> Any:
    """The default of a :data:`NotNull` PATCH field (absent: unchanged)."""
    return Field(default=None, json_schema_extra=_without_default)


def _real_date_or_time(value: str) -> str:
    from datetime import datetime

    try:
        datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        raise ValueError("not a real date (YYYY-MM-DD) or UTC time (YYYY-MM-DDTHH:MM:SSZ)") from None
    return value


# A calendar date or a UTC time that exists (2026-13-45 and 2026-02-30 are refused)
DateOrTime = Annotated[
    str,
    Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9:.]+Z?)?$"),
    AfterValidator(_real_date_or_time),
]


def _small_json(value: dict[str, Any]) -> dict[str, Any]:
    import json

    if len(json.dumps(value, default=str)) > MAX_JSON_BLOB:
        raise ValueError(f"must be at most {MAX_JSON_BLOB} characters as JSON")
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_small_json)]


def _date_text(value: Any) -> Any:
    if not isinstance(value, (str, date)):
        raise ValueError("must be a date as a string (YYYY-MM-DD)")
    return value


# A calendar day in a request body: only a "YYYY-MM-DD" string (a JSON number is not read as a Unix time)
JsonDate = Annotated[date, BeforeValidator(_date_text)]


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


class ExportQuery(Query):
    """Query of a list export: ``format=xlsx`` for a spreadsheet, CSV by default."""

    format: Literal["csv", "xlsx"] = "csv"


class Out(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class Deleted(Out):
    deleted: bool = True
    id: str


class TenantQuery(Query):
    tenant_id: Id | None = None
