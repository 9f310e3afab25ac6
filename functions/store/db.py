"""Binding models to tables (names, endpoint, region) and creating tables from the models."""

from __future__ import annotations

import threading
from typing import Any

import botocore.session
import pynamodb.connection.base as pynamodb_base
from pynamodb.models import Model

from shared.settings import Settings
from store.models import ALL_MODELS

_TTL_ATTRIBUTES = {
    "tokens": "expires_at",
    "idempotency": "expiration",
    "sessions": "expires_at",
    "audit": "expires_at",
    "usage_hours": "expires_at",
}


_session_lock = threading.RLock()
_shared_session: botocore.session.Session | None = None


def _shared_botocore_session(env_vars: object = None) -> botocore.session.Session:
    """One botocore session for every model's connection.

    pynamodb builds a new session (and reloads the service model, ~0.2 s) for each model class;
    sharing one makes a cold start with 21 tables take milliseconds instead of seconds.
    """
    global _shared_session
    with _session_lock:
        if _shared_session is None:
            _shared_session = botocore.session.get_session()
        return _shared_session


pynamodb_base.get_session = _shared_botocore_session  # type: ignore[assignment]


def configure(settings: Settings) -> None:
    """Point every model at ``settings.table_prefix + base_name`` on the configured endpoint.

    Clients are created here, in one thread, because botocore sessions are not safe for concurrent
    client creation (the RADIUS service uses the models from a thread pool).
    """
    for model in ALL_MODELS:
        meta: Any = model.Meta
        meta.table_name = settings.table_prefix + meta.base_name
        meta.region = settings.region
        meta.host = settings.aws_endpoint_url
        meta.max_retry_attempts = 3
        model._connection = None  # drop any connection bound to an earlier configuration
        for index in model._indexes.values():
            index._connection = None  # type: ignore[attr-defined]
    with _session_lock:
        for model in ALL_MODELS:
            _ = model._get_connection().connection.client


def _keys(key_schema: list[dict[str, str]]) -> list[dict[str, str]]:
    ordered = sorted(key_schema, key=lambda k: 0 if k["KeyType"] == "HASH" else 1)
    return [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in ordered]


def table_schema(model: type[Model]) -> dict[str, Any]:
    """Key schema and GSIs of a model in CloudFormation shape (used by the template generator)."""
    schema: Any = model._get_schema()
    attrs = {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
    gsis = []
    for gsi in sorted(schema["global_secondary_indexes"], key=lambda g: g["index_name"]):
        projection = {"ProjectionType": gsi["projection"]["ProjectionType"]}
        if gsi["projection"].get("NonKeyAttributes"):
            projection["NonKeyAttributes"] = list(gsi["projection"]["NonKeyAttributes"])
        gsis.append(
            {
                "IndexName": gsi["index_name"],
                "KeySchema": _keys(gsi["key_schema"]),
                "Projection": projection,
            }
        )
    out: dict[str, Any] = {
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": v} for k, v in sorted(attrs.items())],
        "KeySchema": _keys(schema["key_schema"]),
    }
    if gsis:
        out["GlobalSecondaryIndexes"] = gsis
    return out


def ttl_attribute(model: type[Model]) -> str | None:
    return _TTL_ATTRIBUTES.get(model.Meta.base_name)  # type: ignore[attr-defined]


def create_tables(wait: bool = False) -> list[str]:
    """Create every table that does not exist yet; returns the names created."""
    created = []
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=wait)
            created.append(model.Meta.table_name)
    return created


def delete_tables() -> None:
    for model in ALL_MODELS:
        if model.exists():
            model.delete_table()
