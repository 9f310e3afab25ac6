"""Capacity of the tables RADIUS accounting writes on every packet: on-demand, or provisioned with
Application Auto Scaling on the table and every index (a stack parameter).

Every Interim-Update writes the subscriber item and its connection-log row (``usage_hours`` too for a
policy modulated by traffic): steady traffic that follows the number of sessions online, which is
what provisioned capacity is priced for (docs/cost.md). The other tables see bursts (imports, billing
runs, admin pages) and stay on-demand.

The default is on-demand: a new stack has no traffic to scale from, and a provisioned table throttles
a burst larger than its burst allowance until auto scaling catches up (minutes). A stack with a
steady accounting load switches with ``AccountingCapacityMode=PROVISIONED`` (DynamoDB allows one
switch per table per 24 hours).
"""

from __future__ import annotations

from typing import Any

from infra.template.common import logical, ref, sub

# base names of the tables an Interim-Update writes (tests/integration/test_template_capacity.py
# checks the list against the writes of a real Interim-Update)
ACCOUNTING_TABLES = ("subscribers", "sessions", "usage_hours")

PROVISIONED = "AccountingProvisioned"  # the condition

_READ, _WRITE = "ReadCapacityUnits", "WriteCapacityUnits"


def capacity_parameters() -> dict[str, Any]:
    def units(default: int, what: str) -> dict[str, Any]:
        return {"Type": "Number", "Default": default, "MinValue": 1, "Description": what}

    return {
        "AccountingCapacityMode": {
            "Type": "String",
            "Default": "PAY_PER_REQUEST",
            "AllowedValues": ["PAY_PER_REQUEST", "PROVISIONED"],
            "Description": "Billing mode of the tables RADIUS accounting writes on every packet ("
            + ", ".join(ACCOUNTING_TABLES)
            + "): PROVISIONED runs them with auto scaling (cheaper for a steady load, docs/cost.md)",
        },
        "AccountingMinWriteUnits": units(5, "PROVISIONED: least write units of each accounting table"),
        "AccountingMaxWriteUnits": units(4000, "PROVISIONED: most write units of each table and index"),
        "AccountingMinReadUnits": units(5, "PROVISIONED: least read units of each accounting table"),
        "AccountingMaxReadUnits": units(4000, "PROVISIONED: most read units of each table and index"),
        "AccountingIndexMinUnits": units(1, "PROVISIONED: least read and write units of each index"),
        "AccountingTargetUtilization": {
            "Type": "Number",
            "Default": 70,
            "MinValue": 20,
            "MaxValue": 90,
            "Description": "PROVISIONED: consumed / provisioned capacity (%) auto scaling keeps",
        },
    }


def capacity_conditions() -> dict[str, Any]:
    return {PROVISIONED: {"Fn::Equals": [ref("AccountingCapacityMode"), "PROVISIONED"]}}


def _throughput(read: str, write: str) -> dict[str, Any]:
    return {"Fn::If": [PROVISIONED, {_READ: ref(read), _WRITE: ref(write)}, ref("AWS::NoValue")]}


def billing_properties(base: str, schema: dict[str, Any]) -> dict[str, Any]:
    """``BillingMode`` (and the starting throughput of the table and each index) for one table."""
    if base not in ACCOUNTING_TABLES:
        return {"BillingMode": "PAY_PER_REQUEST"}
    for gsi in schema.get("GlobalSecondaryIndexes", []):
        gsi["ProvisionedThroughput"] = _throughput("AccountingIndexMinUnits", "AccountingIndexMinUnits")
    return {
        "BillingMode": ref("AccountingCapacityMode"),
        "ProvisionedThroughput": _throughput("AccountingMinReadUnits", "AccountingMinWriteUnits"),
    }


def _scaling(table_id: str, index: str | None, dimension: str) -> dict[str, Any]:
    """A scalable target and its target-tracking policy for one capacity dimension."""
    kind = "index" if index else "table"
    unit = "Write" if dimension == _WRITE else "Read"
    name = f"{table_id}{logical(index or '')}{unit}"
    least = "AccountingIndexMinUnits" if index else f"AccountingMin{unit}Units"
    resource = f"table/${{{table_id}}}" + (f"/index/{index}" if index else "")
    target = {
        "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
        "Condition": PROVISIONED,
        "Properties": {
            "ServiceNamespace": "dynamodb",
            "ResourceId": sub(resource),
            "ScalableDimension": f"dynamodb:{kind}:{dimension}",
            "MinCapacity": ref(least),
            "MaxCapacity": ref(f"AccountingMax{unit}Units"),
        },
    }
    policy = {
        "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
        "Condition": PROVISIONED,
        "Properties": {
            "PolicyName": sub(f"${{AWS::StackName}}-{name}"),
            "PolicyType": "TargetTrackingScaling",
            "ScalingTargetId": ref(f"{name}Scaling"),
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": ref("AccountingTargetUtilization"),
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": f"DynamoDB{unit}CapacityUtilization"
                },
            },
        },
    }
    return {f"{name}Scaling": target, f"{name}ScalingPolicy": policy}


def scaling_resources(table_id: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Auto scaling of reads and writes of the table and of every index (each index has its own
    capacity: a throttled index throttles the writes to its table)."""
    out: dict[str, Any] = {}
    for index in [None, *(g["IndexName"] for g in schema.get("GlobalSecondaryIndexes", []))]:
        for dimension in (_READ, _WRITE):
            out.update(_scaling(table_id, index, dimension))
    return out
