"""DynamoDB sizing rules of the capacity bench: item sizes and write units of tables and indexes."""

from __future__ import annotations

from bench.dynamo_units import IndexShape, item_size, value_size, write_units


def test_item_size_counts_names_and_values_by_type():
    assert value_size({"S": "héllo"}) == 6  # UTF-8 bytes
    assert value_size({"N": "123"}) == 3  # two significant digits per byte, plus one
    assert value_size({"N": "1000"}) == 2  # trailing zeros are not significant
    assert value_size({"BOOL": True}) == 1 and value_size({"NULL": True}) == 1
    assert value_size({"M": {"a": {"N": "1"}}}) == 3 + 1 + 1 + 2
    assert value_size({"L": [{"S": "ab"}, {"S": "c"}]}) == 3 + (1 + 2) + (1 + 1)
    assert item_size({"id": {"S": "abc"}, "n": {"N": "42"}}) == (2 + 3) + (1 + 2)


def test_write_units_round_up_per_kilobyte():
    assert write_units(1) == 1 and write_units(1024) == 1 and write_units(1025) == 2


def test_index_write_units_follow_projection_and_key_changes():
    keys_only = IndexShape(
        {
            "IndexName": "open",
            "KeySchema": [
                {"AttributeName": "nas", "KeyType": "HASH"},
                {"AttributeName": "hour", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        },
        ["id"],
    )
    before = {"id": {"S": "s"}, "nas": {"S": "n"}, "hour": {"S": "10"}, "octets": {"N": "1"}}
    assert keys_only.units(before, {**before, "octets": {"N": "2"}}) == 0  # unprojected change
    assert keys_only.units(before, {**before, "hour": {"S": "11"}}) == 2  # key change: delete + put
    assert keys_only.units(None, before) == 1  # enters the sparse index
    assert keys_only.units({"id": {"S": "s"}}, {"id": {"S": "t"}}) == 0  # never in it
    everything = IndexShape(
        {**{"IndexName": "all", "KeySchema": [{"AttributeName": "nas", "KeyType": "HASH"}]}}, ["id"]
    )
    assert everything.units(before, {**before, "octets": {"N": "2"}}) == 1  # ALL: any change rewrites
