"""The local moto server's UpdateItem without moto's repeated work (infra/local/moto_updates.py) gives
the same answers, the same errors and the same stored items as moto as shipped: the same requests run
through both, call by call, then the tables are compared."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from infra.local import moto_updates

Outcome = tuple[Any, ...]


@pytest.fixture
def both() -> Iterator[Callable[[Callable[[Any], None]], tuple[list[Outcome], list[Outcome]]]]:
    """Runs a scenario on moto as shipped, then with the changes; yields the two lists of outcomes."""
    was_installed = moto_updates.installed()

    def run(scenario: Callable[[Any], None]) -> tuple[list[Outcome], list[Outcome]]:
        results = []
        for fast in (False, True):
            if fast:
                moto_updates.speed_up_update_items()
            else:
                moto_updates.uninstall()
            with mock_aws():
                client = Recorder(boto3.client("dynamodb", region_name="us-east-1"))
                scenario(client)
                client.snapshot()
            results.append(client.outcomes)
        return results[0], results[1]

    yield run
    if was_installed:
        moto_updates.speed_up_update_items()
    else:
        moto_updates.uninstall()


class Recorder:
    """A DynamoDB client that records every answer or error instead of raising."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.outcomes: list[Outcome] = []
        self.tables: list[str] = []

    def __getattr__(self, name: str) -> Callable[..., None]:
        def call(**kwargs: Any) -> None:
            try:
                answer = getattr(self.client, name)(**kwargs)
            except ClientError as exc:
                error = exc.response["Error"]
                self.outcomes.append((name, "error", error.get("Code"), error.get("Message")))
                return
            except Exception as exc:  # moto failing in its own code: the same failure both ways
                self.outcomes.append((name, "error", type(exc).__name__, str(exc)))
                return
            answer.pop("ResponseMetadata", None)
            if name == "create_table":
                self.tables.append(kwargs["TableName"])
                answer = {}  # timestamps
            self.outcomes.append((name, "ok", answer))

        return call

    def snapshot(self) -> None:
        for table in self.tables:
            try:
                items = self.client.scan(TableName=table)["Items"]
            except RecursionError:  # moto stores a map set inside itself (SET m.x = m) as a cycle
                self.outcomes.append(("items", table, "cycle"))
                continue
            self.outcomes.append(("items", table, sorted(items, key=repr)))


def _tables(c: Any) -> None:
    c.create_table(
        TableName="hr",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    c.create_table(
        TableName="h",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


HR = {"pk": {"S": "a"}, "sk": {"N": "1"}}
H = {"id": {"S": "x"}}
COUNTERS = (
    "SET #seen = :seen, #sessions.#key = :entry, "
    + ", ".join(f"#usage.#c{i} = if_not_exists(#usage.#c{i}, :z{i}) + :d{i}" for i in range(4))
    + " REMOVE #sessions.#old"
)


def _counters(c: Any, key: str, old: str, condition: str | None, version: str, **extra: Any) -> None:
    names = {"#seen": "last_seen", "#sessions": "sessions", "#key": key, "#usage": "usage", "#old": old}
    names.update({f"#c{i}": f"day:{i}" for i in range(4)})
    values: dict[str, Any] = {":seen": {"S": f"t{version}"}, ":entry": {"M": {"v": {"N": version}}}}
    values.update({f":z{i}": {"N": "0"} for i in range(4)})
    values.update({f":d{i}": {"N": str(10 * i + 1)} for i in range(4)})
    request: dict[str, Any] = {
        "TableName": "h",
        "Key": H,
        "UpdateExpression": COUNTERS,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnValues": "ALL_OLD",
        **extra,
    }
    if condition:
        request["ConditionExpression"] = condition
        if ":v" in condition:
            values[":v"] = {"N": str(int(version) - 1)}
    c.update_item(**request)


def test_updates_answer_fail_and_store_the_same(both):
    def scenario(c: Any) -> None:
        _tables(c)
        c.put_item(TableName="h", Item={**H, "sessions": {"M": {}}, "usage": {"M": {}}, "l": {"L": []}})
        # the accounting shape, repeated: new session keys under the same expression, a condition
        # that holds, then one that does not (answered with the old item), a new item created
        for n in range(1, 6):
            _counters(c, f"s{n}", f"s{n - 1}", "attribute_exists(id)", str(n))
        _counters(c, "s5", "s1", "#sessions.#key.v = :v", "9", ReturnValuesOnConditionCheckFailure="ALL_OLD")
        _counters(c, "s5", "s1", "#sessions.#key.v = :v", "6")
        for ret in ("NONE", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"):
            c.update_item(
                TableName="hr",
                Key=HR,
                UpdateExpression="SET m = if_not_exists(m, :empty)",
                ExpressionAttributeValues={":empty": {"M": {}}},
            )
            c.update_item(
                TableName="hr",
                Key=HR,
                UpdateExpression="SET n = if_not_exists(n, :zero) + :one, m.deep = :v ADD tally :one, s :set",
                ExpressionAttributeValues={
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                    ":v": {"S": ret},
                    ":set": {"SS": [ret]},
                },
                ReturnValues=ret,
            )
        c.update_item(
            TableName="hr",
            Key=HR,
            UpdateExpression="SET l = list_append(if_not_exists(l, :e), :more), n = n - :one DELETE s :gone",
            ExpressionAttributeValues={
                ":e": {"L": []},
                ":more": {"L": [{"N": "1"}, {"N": "2"}, {"N": "3"}, {"N": "4"}]},
                ":one": {"N": "1"},
                ":gone": {"SS": ["NONE"]},
            },
            ReturnValues="ALL_NEW",
        )
        c.update_item(
            TableName="hr", Key=HR, UpdateExpression="REMOVE l[0], l[2], m.deep", ReturnValues="ALL_NEW"
        )
        c.update_item(
            TableName="hr",
            Key=HR,
            UpdateExpression="SET l[5] = :x, l[0] = :y",
            ExpressionAttributeValues={":x": {"S": "x"}, ":y": {"S": "y"}},
            ReturnValues="UPDATED_NEW",
        )
        c.update_item(
            TableName="hr",
            Key={"pk": {"S": "b"}, "sk": {"N": "2"}},
            UpdateExpression="SET g = :g, #r = :r",
            ExpressionAttributeNames={"#r": "region"},
            ExpressionAttributeValues={":g": {"S": "index"}, ":r": {"S": "eu"}},
            ReturnValues="ALL_NEW",
        )
        c.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": "h",
                        "Key": {"id": {"S": "t"}},
                        "UpdateExpression": "SET #a = :a ADD c :one",
                        "ExpressionAttributeNames": {"#a": "a"},
                        "ExpressionAttributeValues": {":a": {"S": "1"}, ":one": {"N": "1"}},
                    }
                },
                {
                    "Update": {
                        "TableName": "hr",
                        "Key": HR,
                        "UpdateExpression": "SET #a = :a ADD c :one",
                        "ExpressionAttributeNames": {"#a": "a"},
                        "ExpressionAttributeValues": {":a": {"S": "2"}, ":one": {"N": "1"}},
                    }
                },
            ]
        )

    stock, fast = both(scenario)
    assert fast == stock
    assert sum(1 for o in stock if o[1] == "error") == 1  # the condition that did not hold


def test_the_old_item_in_answers_is_the_item_before_changes_made_in_place(both):
    """ALL_OLD and UPDATED_OLD answer with the item before the update, also where moto changes a
    list, a set or a map in place (ADD to a set, DELETE from one, list_append, an index of a list,
    a key of a nested map): the answer is built before the change and shares nothing with the item."""

    def scenario(c: Any) -> None:
        _tables(c)
        item = {
            **H,
            "l": {"L": [{"S": "a"}, {"M": {"x": {"L": [{"N": "1"}]}}}]},
            "ss": {"SS": ["a", "b"]},
            "ns": {"NS": ["1", "2"]},
            "m": {"M": {"in": {"M": {"l": {"L": [{"S": "q"}]}}}, "n": {"N": "1"}}},
            "b": {"B": b"\x00\x01"},
        }
        updates = (
            ("ADD ss :s, ns :n", {":s": {"SS": ["c"]}, ":n": {"NS": ["3"]}}),
            ("DELETE ss :s", {":s": {"SS": ["a"]}}),
            ("SET l = list_append(l, :more)", {":more": {"L": [{"S": "z"}]}}),
            ("SET l[0] = :v, m.#in.#l[0] = :v", {":v": {"S": "changed"}}),
            ("SET m.n = m.n + :one REMOVE l[1]", {":one": {"N": "1"}}),
        )
        for ret in ("ALL_OLD", "UPDATED_OLD"):
            c.put_item(TableName="h", Item=item)
            for expression, values in updates:
                request: dict[str, Any] = {
                    "TableName": "h",
                    "Key": H,
                    "UpdateExpression": expression,
                    "ExpressionAttributeValues": values,
                    "ReturnValues": ret,
                }
                if "#in" in expression:
                    request["ExpressionAttributeNames"] = {"#in": "in", "#l": "l"}
                c.update_item(**request)
                c.get_item(TableName="h", Key=H)

    stock, fast = both(scenario)
    assert fast == stock
    answers = [o[2] for o in stock if o[0] == "update_item" and o[1] == "ok"]
    assert len(answers) == 10
    assert answers[0]["Attributes"]["ss"] == {"SS": ["a", "b"]}  # before the ADD
    assert answers[2]["Attributes"]["l"]["L"][-1] != {"S": "z"}  # before the list_append


def test_the_same_expression_with_other_names_or_on_another_table_is_checked_again(both):
    """The checks that depend on the expression, its names and the table's keys are skipped only for
    a combination that passed: the same string meaning a key attribute, or a duplicate, still fails."""

    def scenario(c: Any) -> None:
        _tables(c)
        one = "SET #a = :a"
        for table, key, target in (
            ("h", H, "free"),
            ("h", H, "free"),
            ("h", H, "id"),  # the hash key
            ("hr", HR, "free"),
            ("hr", HR, "sk"),  # the range key
            ("hr", HR, "id"),  # not a key of this table
            ("h", H, "free"),
        ):
            c.update_item(
                TableName=table,
                Key=key,
                UpdateExpression=one,
                ExpressionAttributeNames={"#a": target},
                ExpressionAttributeValues={":a": {"S": "v"}},
            )
        two = "SET #a = :a, #b = :b"
        for first, second in (("p", "q"), ("p", "p"), ("p", "q"), ("q", "q")):
            c.update_item(
                TableName="h",
                Key=H,
                UpdateExpression=two,
                ExpressionAttributeNames={"#a": first, "#b": second},
                ExpressionAttributeValues={":a": {"S": "1"}, ":b": {"S": "2"}},
            )
        c.update_item(
            TableName="h",
            Key=H,
            UpdateExpression=two,
            ExpressionAttributeNames={"#a": "p"},  # #b undefined
            ExpressionAttributeValues={":a": {"S": "1"}, ":b": {"S": "2"}},
        )
        c.update_item(
            TableName="h",
            Key=H,
            UpdateExpression="SET #m.#k = :a",
            ExpressionAttributeNames={"#m": "id", "#k": "x"},  # a path under the key attribute
            ExpressionAttributeValues={":a": {"S": "1"}},
        )

    stock, fast = both(scenario)
    assert fast == stock
    assert [o[2] for o in stock if o[1] == "error"] == ["ValidationException"] * 4 + [
        "KeyError",
        "ValidationException",
    ]


def test_conditions_hold_fail_and_are_refused_as_moto_every_time(both):
    """A condition's tokens are found once per text: the same text with other names and values,
    on writes, deletes and transactions, holds and fails as with moto; a text moto cannot read is
    refused the same way every time."""
    conditions = (
        ("attribute_exists(#a) AND #b < :v", {"#a": "id", "#b": "n"}, {":v": {"N": "5"}}),
        ("attribute_exists(#a) AND #b < :v", {"#a": "id", "#b": "n"}, {":v": {"N": "0"}}),
        ("attribute_exists(#a) AND #b < :v", {"#a": "nope", "#b": "n"}, {":v": {"N": "5"}}),
        ("(attribute_not_exists (#a) OR #b.#c = :v)", {"#a": "id", "#b": "m", "#c": "k"}, {":v": {"S": "x"}}),
        ("(attribute_not_exists (#a) OR #b.#c = :v)", {"#a": "id", "#b": "m", "#c": "k"}, {":v": {"S": "y"}}),
        ("size(#b) BETWEEN :lo AND :hi", {"#b": "m"}, {":lo": {"N": "1"}, ":hi": {"N": "3"}}),
        ("#b IN (:x, :y)", {"#b": "n"}, {":x": {"N": "1"}, ":y": {"N": "2"}}),
        ("NOT #b <> :v", {"#b": "n"}, {":v": {"N": "1"}}),
        ("#b ~ :v", {"#b": "n"}, {":v": {"N": "1"}}),  # not a comparator
        ("#b = :v", {"#b": "n"}, {":w": {"N": "1"}}),  # a value that is not given
        ("#b = = :v", {"#b": "n"}, {":v": {"N": "1"}}),
    )

    def scenario(c: Any) -> None:
        _tables(c)
        for _ in range(2):
            for condition, names, values in conditions:
                c.put_item(TableName="h", Item={**H, "n": {"N": "1"}, "m": {"M": {"k": {"S": "x"}}}})
                c.update_item(
                    TableName="h",
                    Key=H,
                    UpdateExpression="SET #z = :z",
                    ConditionExpression=condition,
                    ExpressionAttributeNames={**names, "#z": "z"},
                    ExpressionAttributeValues={**values, ":z": {"S": "z"}},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                c.put_item(
                    TableName="h",
                    Item={**H, "n": {"N": "2"}},
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
                c.delete_item(
                    TableName="h",
                    Key=H,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )

    stock, fast = both(scenario)
    assert fast == stock
    kinds = {o[2] for o in stock if o[1] == "error"}
    # moto answers a text its lexer cannot read with its own ValueError, a missing value with KeyError
    assert {"ConditionalCheckFailedException", "ValueError", "KeyError"} <= kinds
    assert sum(1 for o in stock if o[0] == "update_item" and o[1] == "ok") >= 8


BAD_UPDATES: list[dict[str, Any]] = [
    {"UpdateExpression": "SET a = :a SET b = :a", "ExpressionAttributeValues": {":a": {"S": "1"}}},
    {"UpdateExpression": "SET a = :a, a.b = :a", "ExpressionAttributeValues": {":a": {"S": "1"}}},
    {"UpdateExpression": "SET a = :a REMOVE a", "ExpressionAttributeValues": {":a": {"S": "1"}}},
    {"UpdateExpression": "SET pk = :a", "ExpressionAttributeValues": {":a": {"S": "1"}}},
    {"UpdateExpression": "SET a = :missing", "ExpressionAttributeValues": {":a": {"S": "1"}}},
    {"UpdateExpression": "SET a = = :a", "ExpressionAttributeValues": {":a": {"S": "1"}}},
    {"UpdateExpression": "SET a = b + :a", "ExpressionAttributeValues": {":a": {"N": "1"}}},
    {"UpdateExpression": "SET s = s + :a", "ExpressionAttributeValues": {":a": {"N": "1"}}},
    {"UpdateExpression": "SET l = list_append(s, :a)", "ExpressionAttributeValues": {":a": {"L": []}}},
    {"UpdateExpression": "SET nope.deeper = :a", "ExpressionAttributeValues": {":a": {"S": "1"}}},
    {"UpdateExpression": "SET s[0] = :a", "ExpressionAttributeValues": {":a": {"S": "1"}}},
    {"UpdateExpression": "SET g = :a", "ExpressionAttributeValues": {":a": {"N": "1"}}},
    {"UpdateExpression": "SET g = :a", "ExpressionAttributeValues": {":a": {"S": ""}}},
    {"UpdateExpression": "SET size = :a", "ExpressionAttributeValues": {":a": {"S": "1"}}},
    {"UpdateExpression": "SET a = unknown_fn(a, :a)", "ExpressionAttributeValues": {":a": {"S": "1"}}},
    {"UpdateExpression": "ADD s :a", "ExpressionAttributeValues": {":a": {"N": "1"}}},
]


def test_bad_updates_fail_with_the_same_errors_every_time(both):
    def scenario(c: Any) -> None:
        _tables(c)
        c.put_item(TableName="hr", Item={**HR, "s": {"S": "text"}})
        for _ in range(2):  # the second round finds the good parts cached
            for request in BAD_UPDATES:
                c.update_item(TableName="hr", Key=HR, **copy.deepcopy(request))

    stock, fast = both(scenario)
    assert fast == stock
    assert sum(1 for o in stock if o[1] == "error") == 2 * len(BAD_UPDATES)


@pytest.fixture
def fast() -> Iterator[None]:
    was_installed = moto_updates.installed()
    moto_updates.speed_up_update_items()
    yield
    if not was_installed:
        moto_updates.uninstall()


def test_the_cached_parse_is_never_changed_and_its_copies_share_nothing(fast):
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    shared = UpdateExpressionParser.make(COUNTERS)
    assert UpdateExpressionParser.make(COUNTERS) is shared
    before = _shape(shared)
    with mock_aws():
        c = boto3.client("dynamodb", region_name="us-east-1")
        _tables(c)
        c.put_item(TableName="h", Item={**H, "sessions": {"M": {}}, "usage": {"M": {}}})
        for n in range(1, 4):
            _counters(c, f"s{n}", f"s{n - 1}", None, str(n))
    facts = moto_updates._facts(shared)
    assert facts is not None and facts.passed  # the checks ran once for these names, then were skipped
    moto_make = moto_updates._ORIGINALS[(UpdateExpressionParser, "make")].__func__
    assert _shape(shared) == before == _shape(moto_make(UpdateExpressionParser, COUNTERS))
    copied = moto_updates.clone(shared)
    assert _shape(copied) == before
    assert not (_ids(copied) & _ids(shared))


def _shape(node: Any, parent: Any = None) -> Any:
    from moto.dynamodb.parsing.ast_nodes import Node

    if not isinstance(node, Node):
        return repr(node)
    assert node.parent is parent
    return (type(node).__name__, sorted(vars(node)), [_shape(child, node) for child in node.children or ()])


def _ids(node: Any) -> set[int]:
    from moto.dynamodb.parsing.ast_nodes import Node

    found = {id(node)} | ({id(node.children)} if node.children is not None else set())
    for child in node.children or ():
        if isinstance(child, Node):
            found |= _ids(child)
    return found


# ---------------------------------------------------------------- planned updates (infra/local/moto_plans.py)
def test_the_store_shaped_updates_are_applied_from_their_plan(both):
    """The accounting updates (SET of values, of if_not_exists(...) + n, nested under maps, REMOVE) are
    made from a plan once their combination passed moto's checks, with the same outcome."""
    counts: list[int] = []

    def scenario(c: Any) -> None:
        _tables(c)
        c.put_item(TableName="h", Item={**H, "sessions": {"M": {}}, "usage": {"M": {}}})
        before = moto_updates.PLANNED["planned"]
        for n in range(1, 9):
            _counters(c, f"s{n}", f"s{n - 1}", "attribute_exists(id)", str(n), ReturnValues="ALL_OLD")
        counts.append(moto_updates.PLANNED["planned"] - before)

    stock, fast = both(scenario)
    assert fast == stock
    assert counts[0] == 0  # moto as shipped
    assert counts[1] == 7  # every call after the first


def test_planned_updates_near_the_item_size_limit_fail_and_store_as_moto(both):
    """moto refuses a top-level set that would take the item past its limit (the item as it is, the
    replaced value included, plus the name and the new value), with the sets before it made. The
    planned updates keep the size between sets; refusals and stored items are moto's across the
    limit, after a set in a map (which grows another attribute) and after a replaced value shrank."""
    counts: list[int] = []
    base = {**H, "big": {"S": "x" * 400_000}, "m": {"M": {}}, "r": {"S": "y" * 900}}
    sweeps = (
        # a new attribute, one in a map, then another new one: the last is refused from ~2,790 bytes
        (
            "SET #a = :a, #m.#k = :k, #c = :c",
            {":a": "a" * 1_000, ":k": "k" * 300},
            ":c",
            range(2_000, 4_000, 97),
        ),
        # a value replaced by a shorter one, then a new attribute: refused from ~4,890 bytes
        ("SET #r = :r, #c = :c", {":r": "r" * 100}, ":c", range(3_500, 5_600, 97)),
    )
    names = {"#a": "a", "#m": "m", "#k": "k", "#c": "c", "#r": "r"}

    def scenario(c: Any) -> None:
        _tables(c)
        before = moto_updates.PLANNED["planned"]
        for expression, fixed, varied, lengths in sweeps:
            used = {ph: name for ph, name in names.items() if ph in expression}
            for length in lengths:
                c.put_item(TableName="h", Item=base)
                values = {ph: {"S": text} for ph, text in fixed.items()}
                values[varied] = {"S": "v" * length}
                c.update_item(
                    TableName="h",
                    Key=H,
                    UpdateExpression=expression,
                    ExpressionAttributeNames=used,
                    ExpressionAttributeValues=values,
                    ReturnValues="UPDATED_NEW",
                )
                c.get_item(TableName="h", Key=H)
        counts.append(moto_updates.PLANNED["planned"] - before)

    stock, fast = both(scenario)
    assert fast == stock
    refused = [o for o in stock if o[0] == "update_item" and o[1] == "error"]
    accepted = [o for o in stock if o[0] == "update_item" and o[1] == "ok"]
    assert len(refused) >= 10 and len(accepted) >= 10  # both sides of the limit, in both sweeps
    assert counts[1] >= len(refused) + len(accepted) - 2  # all but each sweep's first from the plan


def test_the_size_of_values_is_counted_as_moto_counts_it():
    """The planned updates count an item's size without moto's wrappers: the same figure as
    ``DynamoType.size()`` for values of every type, nested, with raw documents inside maps, and
    moto's own count (or failure) for what the direct count does not know."""
    import random

    from moto.dynamodb.models.dynamo_type import DynamoType

    from infra.local import moto_plans

    rng = random.Random(20261207)

    def document(depth: int) -> dict[str, Any]:
        kind = rng.choice(
            ["S", "N", "B", "SS", "NS", "BS", "BOOL", "NULL"] + (["L", "M"] * 2 if depth < 4 else [])
        )
        text = "".join(rng.choice("aé✓1") for _ in range(rng.randint(0, 5)))
        if kind == "S":
            return {"S": text}
        if kind == "N":
            return {"N": str(rng.randint(-999, 99999)) + rng.choice(["", ".25"])}
        if kind == "B":
            return {"B": rng.choice([text.encode(), text])}
        if kind in ("SS", "BS"):
            return {kind: [text + str(i) for i in range(rng.randint(1, 3))]}
        if kind == "NS":
            return {"NS": [str(i * 7) for i in range(rng.randint(1, 3))]}
        if kind in ("BOOL", "NULL"):
            return {kind: True}
        if kind == "L":
            return {"L": [document(depth + 1) for _ in range(rng.randint(0, 3))]}
        return {"M": {f"k{i}é": document(depth + 1) for i in range(rng.randint(0, 3))}}

    counted = 0
    for _ in range(400):
        value = DynamoType(document(0))
        if value.type == "M" and value.value and rng.random() < 0.3:
            first = next(iter(value.value))
            value.value[first] = document(1)  # a raw document inside a map, as moto can leave one
        assert moto_plans._size(moto_plans._moto(), value) == value.size()
        counted += 1
    odd = DynamoType({"S": "x"})
    odd.value = 5  # not text: moto fails to count it, and so does the planned count
    with pytest.raises(AttributeError):
        moto_plans._size(moto_plans._moto(), odd)
    assert counted == 400


_VALUE_KINDS = (
    {"N": "7"},
    {"N": "-2.5"},
    {"S": "text"},
    {"S": ""},
    {"M": {"x": {"N": "1"}}},
    {"M": {}},
    {"L": [{"S": "a"}]},
    {"SS": ["a", "b"]},
    {"BOOL": True},
    {"NULL": True},
)
_NAMES = ("a", "b", "m", "n") * 4 + ("id", "pk")


def _random_item(rng: Any) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for name in ("a", "b", "n"):
        if rng.random() < 0.6:
            item[name] = copy.deepcopy(rng.choice(_VALUE_KINDS))
    if rng.random() < 0.8:
        inner = {k: copy.deepcopy(rng.choice(_VALUE_KINDS)) for k in ("a", "b", "n") if rng.random() < 0.5}
        if rng.random() < 0.5:
            inner["m"] = {"M": {"a": {"N": "3"}}}
        item["m"] = {"M": inner}
    elif rng.random() < 0.3:
        item["m"] = {"S": "not a map"}
    return item


def _random_update(rng: Any) -> dict[str, Any]:
    names: dict[str, str] = {}
    values: dict[str, Any] = {}

    def path() -> str:
        depth = rng.choice((1, 1, 1, 2, 2, 3))
        parts = []
        for _ in range(depth):
            ph = f"#p{len(names)}"
            names[ph] = rng.choice(_NAMES)
            parts.append(ph)
        return ".".join(parts)

    def value() -> str:
        ph = f":v{len(values)}"
        values[ph] = copy.deepcopy(rng.choice(_VALUE_KINDS[:2] * 3 + _VALUE_KINDS))
        return ph

    def operand() -> str:
        r = rng.random()
        if r < 0.55:
            return value()
        if r < 0.65:
            return path()
        return f"if_not_exists({path()}, {value()})"

    sets = []
    for _ in range(rng.randint(0, 3)):
        rhs = operand()
        if rng.random() < 0.4:
            rhs = f"{rhs} {rng.choice('+-')} {operand()}"
        sets.append(f"{path()} = {rhs}")
    removes = [path() for _ in range(rng.choice((0, 0, 1, 2)))]
    clauses = []
    if sets:
        clauses.append("SET " + ", ".join(sets))
    if removes:
        clauses.append("REMOVE " + ", ".join(removes))
    if not clauses:
        clauses.append(f"SET {path()} = {value()}")
    if rng.random() < 0.5:
        clauses.reverse()
    request: dict[str, Any] = {"UpdateExpression": " ".join(clauses), "ReturnValues": "ALL_NEW"}
    if names:
        request["ExpressionAttributeNames"] = names
    if values:
        request["ExpressionAttributeValues"] = values
    return request


def test_random_updates_of_the_planned_shape_answer_fail_and_store_as_moto(both):
    """Random expressions of the planned shape (paths of one to three names that may or may not exist,
    under maps or not, operands of every type) on random items: every request is sent three times
    (the first passes moto's checks, the others are made from the plan where it applies) and the
    answers, errors and stored items are moto's."""
    import random

    planned: list[int] = []

    def scenario(c: Any) -> None:
        rng = random.Random(20261207)
        _tables(c)
        before = moto_updates.PLANNED["planned"]
        for i in range(150):
            request = _random_update(rng)
            for repeat in range(3):
                key = {"id": {"S": f"k{i}-{repeat}"}}
                if repeat < 2:  # the third goes to an item that does not exist yet
                    c.put_item(TableName="h", Item={**key, **_random_item(rng)})
                c.update_item(TableName="h", Key=key, **copy.deepcopy(request))
        planned.append(moto_updates.PLANNED["planned"] - before)

    stock, fast = both(scenario)
    assert fast == stock
    answers = [o for o in stock if o[0] == "update_item"]
    assert sum(1 for o in answers if o[1] == "ok") > 60  # the random shapes succeed often
    assert sum(1 for o in answers if o[1] == "error") > 60  # and fail often
    assert planned[0] == 0 and planned[1] > 40
