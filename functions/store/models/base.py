"""Shared table and index settings: on-demand billing, table and index ``Meta`` builders, the
tenant index every tenant-owned table has."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

PAY_PER_REQUEST = "PAY_PER_REQUEST"


def _meta(base: str) -> Any:
    return type("Meta", (), {"base_name": base, "table_name": base, "billing_mode": PAY_PER_REQUEST})


def _index(name: str, projection: Any = None) -> Any:
    return type(
        "Meta",
        (),
        {"index_name": name, "projection": projection or AllProjection(), "billing_mode": PAY_PER_REQUEST},
    )


class TenantIndex(GlobalSecondaryIndex[Any]):
    """Every tenant-owned table: list a tenant's rows, newest/alphabetical by the range key."""

    Meta = _index("tenant-index")
    tenant_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)
