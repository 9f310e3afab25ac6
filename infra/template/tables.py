"""DynamoDB tables from the pynamodb models (one schema, no drift)."""

from __future__ import annotations

from typing import Any

from infra.template.capacity import ACCOUNTING_TABLES, billing_properties, scaling_resources
from infra.template.common import RETAIN, logical, sub


def table_logical_id(base: str) -> str:
    return logical(base) + "Table"


def table_resources() -> dict[str, Any]:
    from store.db import table_schema, ttl_attribute
    from store.models import ALL_MODELS

    out: dict[str, Any] = {}
    for model in ALL_MODELS:
        base = model.Meta.base_name  # type: ignore[attr-defined]
        schema = table_schema(model)
        props: dict[str, Any] = {
            # the code addresses tables as ``WISP_TABLE_PREFIX + base name``: the names stay fixed, and
            # RetainExceptOnCreate removes them again when a first create fails
            "TableName": sub("${AWS::StackName}-" + base),
            **billing_properties(base, schema),
            **schema,
            "SSESpecification": {"SSEEnabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        }
        ttl = ttl_attribute(model)
        if ttl:
            props["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
        out[table_logical_id(base)] = {"Type": "AWS::DynamoDB::Table", **RETAIN, "Properties": props}
        if base in ACCOUNTING_TABLES:
            out.update(scaling_resources(table_logical_id(base), schema))
    return out
