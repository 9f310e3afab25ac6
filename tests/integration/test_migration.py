"""The data migration brings tables made by an earlier release to the current models, and running it
again changes nothing."""

from __future__ import annotations

import json
import secrets
from typing import Any

from moto import mock_aws

from composition import init_runtime
from shared.crypto import StaticKeyProvider
from store import db, tallies
from store.db import table_schema
from store.migrate import migrate
from store.models import ALL_MODELS, Session, Subscriber, Tenant
from tests.conftest import make_settings

# equipment data as the previous release stored it: a free-form map, passwords in clear
LEGACY_EQUIPMENT = {
    "antena_modelo": "NanoStation M5",
    "wifi": {"ssid": "Casa", "clave": "wifi-3310"},
    "antenna": {"password": "ant-7781"},
}


def _old_shape(model: Any, client: Any) -> None:
    """The table as the previous release created it: every index projecting ALL, the open-session
    index keyed by the last update."""
    schema = table_schema(model)
    gsis = []
    attrs = {a["AttributeName"]: a["AttributeType"] for a in schema["AttributeDefinitions"]}
    for g in schema.get("GlobalSecondaryIndexes", []):
        if g["IndexName"] == "open-hour-index":
            g = {
                "IndexName": "open-index",
                "KeySchema": [
                    {"AttributeName": "open_nas", "KeyType": "HASH"},
                    {"AttributeName": "last_update", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
            attrs["last_update"] = "S"
        elif model is Subscriber and g["IndexName"] == "gateway-index":
            continue
        else:
            g = {**g, "Projection": {"ProjectionType": "ALL"}}
        gsis.append(g)
    used = {k["AttributeName"] for k in schema["KeySchema"]} | {
        k["AttributeName"] for g in gsis for k in g["KeySchema"]
    }
    kwargs: dict[str, Any] = {
        "TableName": model.Meta.table_name,
        "KeySchema": schema["KeySchema"],
        "AttributeDefinitions": [
            {"AttributeName": k, "AttributeType": v} for k, v in attrs.items() if k in used
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if gsis:
        kwargs["GlobalSecondaryIndexes"] = gsis
    client.create_table(**kwargs)


def _indexes(model: Any, client: Any) -> dict[str, Any]:
    table = client.describe_table(TableName=model.Meta.table_name)["Table"]
    return {
        g["IndexName"]: ([k["AttributeName"] for k in g["KeySchema"]], g["Projection"]["ProjectionType"])
        for g in table.get("GlobalSecondaryIndexes", [])
    }


def test_migration_of_a_previous_release_is_complete_and_safe_to_run_twice():
    with mock_aws():
        rt = init_runtime(make_settings(), StaticKeyProvider(secrets.token_bytes(32)))
        client = rt.aws.client("dynamodb")
        # Given the tables of the previous release, with an open session stored before the change
        for model in ALL_MODELS:
            _old_shape(model, client)
        client.put_item(
            TableName=Session.Meta.table_name,
            Item={
                "id": {"S": "s1"},
                "tenant_id": {"S": "t"},
                "subscriber_id": {"S": "sub"},
                "username": {"S": "u"},
                "acct_session_id": {"S": "A-1"},
                "nas_ip": {"S": "10.0.0.1"},
                "open_nas": {"S": "10.0.0.1"},
                "started_at": {"S": "2026-11-18T10:00:00.000000Z"},
                "last_update": {"S": "2026-11-18T10:35:00.000000Z"},
            },
        )
        client.put_item(
            TableName=Subscriber.Meta.table_name,
            Item={
                "login": {"S": "t#ana"},
                "id": {"S": "sub_ana"},
                "tenant_id": {"S": "t"},
                "username": {"S": "ana"},
                "password_enc": {"S": "x"},
                "status": {"S": "active"},
                "name": {"S": "Ana Pérez"},
                "phone": {"S": "+52 (55) 1234-5678"},
                "price_override": {"S": "30"},
                "open_sessions": {"M": {"k": {"M": {"nas": {"S": "10.0.0.1"}, "v": {"N": "1"}}}}},
                "advanced": {"S": json.dumps(LEGACY_EQUIPMENT)},
                "created_at": {"S": "2026-01-01T00:00:00.000000Z"},
            },
        )
        client.put_item(
            TableName=Tenant.Meta.table_name,
            Item={"id": {"S": "t"}, "name": {"S": "T"}, "kind": {"S": "manager"}, "created_at": {"S": "x"}},
        )
        assert "open-index" in _indexes(Session, client)
        # When the migration runs
        first = migrate(wait=False, encrypt=rt.box.encrypt)
        # Then every index matches the models and the open session is in the new open index
        for model in ALL_MODELS:
            want = {
                g["IndexName"]: (
                    [k["AttributeName"] for k in g["KeySchema"]],
                    g["Projection"]["ProjectionType"],
                )
                for g in table_schema(model).get("GlobalSecondaryIndexes", [])
            }
            assert _indexes(model, client) == want, model.Meta.table_name
        assert "subscribers:gateway-index" in first.indexes_created
        assert "sessions:open-index" in first.indexes_deleted
        assert first.backfilled["sessions.open_hour"] == 1
        assert [r.id for r in Session.open_index.query("10.0.0.1")] == ["s1"]
        assert Session.get("s1").open_hour == "2026-11-18T10"
        # And the subscriber is in the name, phone and online indexes, and counted in the totals
        assert first.backfilled["subscribers.index_keys"] == 1
        assert [
            r.login for r in Subscriber.name_index.query("t", Subscriber.name_lc.startswith("ana p"))
        ] == ["t#ana"]
        assert [
            r.login for r in Subscriber.phone_index.query("t", Subscriber.phone_n.startswith("5255"))
        ] == ["t#ana"]
        assert [r.login for r in Subscriber.online_index.query("t")] == ["t#ana"]
        counts, at = tallies.read("t")
        assert at is not None
        assert {b.key: n for b, n in counts.items()} == {
            "active|o|30": 1,
            "online|o|30": 1,
            "online_24h|o|30": 1,
        }
        # And the equipment passwords it held in clear are encrypted, the other fields kept
        assert first.backfilled["subscribers.equipment_secrets"] == 1
        raw = client.get_item(TableName=Subscriber.Meta.table_name, Key={"login": {"S": "t#ana"}})["Item"]
        assert "wifi-3310" not in str(raw) and "ant-7781" not in str(raw)
        advanced = Subscriber.get("t#ana").advanced
        assert advanced["other"] == {"antena_modelo": "NanoStation M5", "wifi": {"ssid": "Casa"}}
        assert {k: rt.box.decrypt(v) for k, v in advanced["other_enc"].items()} == {"wifi.clave": "wifi-3310"}
        assert rt.box.decrypt(advanced["antenna"]["password_enc"]) == "ant-7781"
        # And a second run finds nothing to do
        second = migrate(wait=False, encrypt=rt.box.encrypt)
        assert second.indexes_created == [] and second.indexes_deleted == []
        assert all(n == 0 for n in second.backfilled.values())
        # And tables made from the models need no migration either
        db.delete_tables()
        db.create_tables()
        third = migrate(wait=False)
        assert third.indexes_created == [] and third.indexes_deleted == []
