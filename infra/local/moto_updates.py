"""moto's UpdateItem without its repeated work (same answers, same errors, same stored items).

An accounting packet makes about 2.3 UpdateItem calls; moto spends most of their CPU on work that
does not depend on the item (replaying the local stack's accounting requests in-process: the
subscriber update 24 → 7 ms, the connection-log row 15-24 → 5.5 ms, 35 → 12 ms per packet in all):

* the update expression is parsed twice per request (the response layer, for the names and values
  it uses, then the backend), from the same string; pynamodb numbers its placeholders (``#0``,
  ``:0``…), so the local stack sends a handful of distinct strings. The parsed tree is kept per
  string (:func:`_cache_parsed_expressions`): moto only reads it, the validator works on a copy.
  The response layer's two walks of that tree for its name and value placeholders are answered
  once per tree (:func:`_remember_clauses`).
* the validator copies that tree with :func:`copy.deepcopy` (a few hundred nodes); :func:`clone`
  makes the same copy (same classes, attributes, parent links, nothing shared) without the generic
  protocol. Anything that is not a plain tree node still goes to :func:`copy.deepcopy`.
* ten validation passes walk the tree with a generic visitor that rebuilds its class → handler map
  and checks abstract-base-class membership at every node; :func:`traverse` is the same depth-first
  walk (same order, same hooks, same replacements) with the map built once per pass, the membership
  cached per class and the resolving pass's hook (a test of the parent's class) done inline.
* three of the passes (clause counts, overlapping paths, key attributes) read only the tree, the
  attribute names they look up and the table's keys, and change nothing: once they have passed for
  a combination of those they are not run again for it. A combination that failed is not
  remembered, so its error comes back every time.

* most UpdateItems the store sends (``SET`` of values, of ``if_not_exists(path, :zero) + :n``, in maps;
  ``REMOVE``) are made from a plan (:mod:`infra.local.moto_plans`) instead of the validator's passes
  and the executor's walk, once the three checks above passed for their combination; whatever the
  plan cannot vouch for goes through moto's validator and executor (:func:`update_item`). The old
  item is copied only for a table with a stream, as moto needs it only then.

What the response layer repeats for every write (the condition parsed twice, its text lexed anew,
the old item deep-copied to be turned into JSON) is in :mod:`infra.local.moto_requests`, installed
and removed with the rest here.

``tests/integration/test_local_moto_updates.py`` sends the same requests (good and bad ones) to moto
as shipped and with these changes and compares answers, errors and the items stored.
"""

from __future__ import annotations

import copy
import functools
import importlib
import re
import threading
import weakref
from collections import Counter
from collections.abc import Callable
from typing import Any

from infra.local import moto_plans, moto_requests


def _module(name: str) -> Any:
    """A moto module as ``Any``: its parsing modules are untyped (they start with ``# type: ignore``)."""
    return importlib.import_module(name)


def _ast() -> Any:
    return _module("moto.dynamodb.parsing.ast_nodes")


PARSED_EXPRESSIONS = 1024
PASSED_COMBINATIONS = 256  # per expression; past that the set starts again

_ATOMIC = frozenset({str, int, float, bool, type(None), bytes})
_MISSING = object()


_ORIGINALS: dict[tuple[Any, str], Any] = {}
PLANNED: Counter[str] = Counter()  # update expressions applied from a plan ("planned") or by moto ("moto")


def _targets() -> list[tuple[Any, str]]:
    validators = _module("moto.dynamodb.parsing.validators")
    parser = _module("moto.dynamodb.parsing.expressions").UpdateExpressionParser
    return [
        (_module("moto.dynamodb.models").DynamoDBBackend, "update_item"),
        (_module("moto.dynamodb.comparisons").ConditionExpressionParser, "parse"),
        (_module("moto.dynamodb.comparisons").ConditionExpressionParser, "_lex_condition_expression"),
        (parser, "make"),
        (_ast().DepthFirstTraverser, "traverse"),
        (validators, "deepcopy"),  # the validator's tree copy (and list_append's value copy)
        (validators.Validator, "__init__"),
        (validators.Validator, "validate"),
        (_ast().Node, "find_clauses"),
        (_module("moto.dynamodb.responses"), "copy"),
    ]


def installed() -> bool:
    validators = _module("moto.dynamodb.parsing.validators")
    return bool(getattr(validators.Validator.validate, "wisp_fast", False))


def speed_up_update_items() -> None:
    """Install the changes in moto's DynamoDB update path (idempotent)."""
    if installed():
        return
    for owner, name in _targets():
        _ORIGINALS.setdefault((owner, name), vars(owner)[name])
    validators = _module("moto.dynamodb.parsing.validators")
    _cache_parsed_expressions(_module("moto.dynamodb.parsing.expressions").UpdateExpressionParser)
    _ast().DepthFirstTraverser.traverse = traverse
    validators.deepcopy = clone
    _skip_repeated_checks(validators)
    _module("moto.dynamodb.models").DynamoDBBackend.update_item = update_item
    conditions = _module("moto.dynamodb.comparisons").ConditionExpressionParser
    moto_requests.parse_conditions_once(conditions, _ORIGINALS[(conditions, "parse")])
    moto_requests.lex_conditions_once(conditions, _ORIGINALS[(conditions, "_lex_condition_expression")])
    _remember_clauses(_ast().Node)
    _module("moto.dynamodb.responses").copy = moto_requests.NoItemCopy(
        _module("moto.dynamodb.models.dynamo_type").Item
    )


def uninstall() -> None:
    """Put moto's own code back (the tests compare both)."""
    for (owner, name), original in _ORIGINALS.items():
        setattr(owner, name, original)


# ---------------------------------------------------------------- parsed expressions
class _Facts:
    """What is known about a tree handed out by the parse cache. moto only reads those trees, so
    what is learnt about one stays true."""

    __slots__ = ("clauses", "linked", "lookups", "passed", "ref")

    def __init__(self, ref: weakref.ref[Any]) -> None:
        self.ref = ref
        self.linked: bool | None = None
        self.lookups: Any = _MISSING
        self.passed: set[Any] = set()  # combinations of names and keys the three checks accepted
        self.clauses: dict[tuple[type, ...], list[Any]] = {}  # find_clauses' answers, by clause types


_SHARED: dict[int, _Facts] = {}  # by id(tree), identity checked through the weak reference
_SHARED_LOCK = threading.Lock()


def _share(tree: Any) -> None:
    key = id(tree)

    def forget(ref: weakref.ref[Any]) -> None:
        with _SHARED_LOCK:
            if key in _SHARED and _SHARED[key].ref is ref:
                del _SHARED[key]

    with _SHARED_LOCK:
        _SHARED[key] = _Facts(weakref.ref(tree, forget))


def _facts(tree: Any) -> _Facts | None:
    """The facts of a shared tree (the parse cache's), None for any other object."""
    facts = _SHARED.get(id(tree))
    if facts is None or facts.ref() is not tree:
        return None
    if facts.linked is None:
        facts.linked = _linked(tree)
    return facts if facts.linked else None


def _cache_parsed_expressions(parser: Any) -> None:
    moto_make = _ORIGINALS[(parser, "make")].__func__

    @functools.lru_cache(maxsize=PARSED_EXPRESSIONS)
    def parsed(expression: str) -> Any:
        tree = moto_make(parser, expression)
        _share(tree)
        return tree

    def make(cls: Any, expression_str: Any) -> Any:
        if cls is not parser or type(expression_str) is not str:
            return moto_make(cls, expression_str)
        return parsed(expression_str)  # an invalid expression raises every time: lru_cache keeps results only

    make.parsed = parsed  # type: ignore[attr-defined]
    parser.make = classmethod(make)


def _remember_clauses(node_class: Any) -> None:
    """The response layer asks a shared tree for its name and value placeholders at every request
    (``find_clauses``, a walk of the whole tree). Those of a shared tree are found once; the caller
    gets a new list of the same nodes, as from moto's walk."""
    moto_find = _ORIGINALS[(node_class, "find_clauses")]

    def find_clauses(self: Any, clause_types: Any) -> Any:
        facts = _SHARED.get(id(self))
        if facts is None or facts.ref() is not self:
            return moto_find(self, clause_types)
        try:
            key = tuple(clause_types)
            known = facts.clauses.get(key)
        except TypeError:  # unhashable clause types
            return moto_find(self, clause_types)
        if known is None:
            known = moto_find(self, clause_types)
            with _SHARED_LOCK:
                facts.clauses[key] = list(known)
            return known
        return list(known)

    node_class.find_clauses = find_clauses


# ---------------------------------------------------------------- tree copies
_PLAIN: dict[type, bool] = {}


def _plain_node(cls: type) -> bool:
    """A tree node class that :func:`copy.deepcopy` copies by ``__new__`` + its ``__dict__``."""
    plain = _PLAIN.get(cls)
    if plain is None:
        plain = (
            issubclass(cls, _ast().Node)
            and cls not in copy._deepcopy_dispatch  # type: ignore[attr-defined]
            and getattr(cls, "__deepcopy__", None) is None
            and cls.__reduce_ex__ is object.__reduce_ex__
            and cls.__reduce__ is object.__reduce__
            and cls.__getstate__ is object.__getstate__  # type: ignore[attr-defined]
            and getattr(cls, "__setstate__", None) is None
            and cls.__new__ is object.__new__
            and not any("__slots__" in vars(k) for k in cls.__mro__)
        )
        _PLAIN[cls] = plain
    return plain


def _clone_into(x: Any, memo: dict[int, Any]) -> Any:
    cls = type(x)
    if cls in _ATOMIC:
        return x
    found = memo.get(id(x), _MISSING)
    if found is not _MISSING:
        return found
    if cls is list:
        y: Any = []
        memo[id(x)] = y
        y.extend(_clone_into(v, memo) for v in x)
        return y
    if _plain_node(cls):
        y = object.__new__(cls)
        memo[id(x)] = y
        state = {k: _clone_into(v, memo) for k, v in x.__dict__.items()}
        if state:
            y.__dict__.update(state)
        return y
    return copy.deepcopy(x, memo)


def clone(x: Any, memo: dict[int, Any] | None = None) -> Any:
    """:func:`copy.deepcopy` with a short path for moto's expression tree nodes and lists."""
    if memo is None:
        memo = {}
        if _plain_node(type(x)) and _facts(x) is not None:
            return _copy_tree(x, None, memo)
    return _clone_into(x, memo)


def _copy_tree(node: Any, parent: Any, memo: dict[int, Any]) -> Any:
    """The copy of a linked tree (see :func:`_linked`): each node's parent is the copy of the node
    whose children list holds it, which is what :func:`copy.deepcopy`'s memo gives."""
    y = object.__new__(type(node))
    memo[id(node)] = y
    state = {}
    for key, value in node.__dict__.items():
        cls = type(value)
        if cls in _ATOMIC:
            state[key] = value
        elif key == "parent":
            state[key] = parent
        elif key == "children" and cls is list:
            children: list[Any] = []
            memo[id(value)] = children
            for child in value:
                kind = type(child)
                if kind in _ATOMIC:
                    children.append(child)
                elif _plain_node(kind):
                    children.append(_copy_tree(child, y, memo))
                else:
                    children.append(_clone_into(child, memo))
            state[key] = children
        else:
            state[key] = _clone_into(value, memo)
    if state:
        y.__dict__.update(state)
    return y


# ---------------------------------------------------------------- tree walks
_IS_NODE: dict[type, bool] = {}


def traverse(self: Any, node: Any) -> Any:
    """``DepthFirstTraverser.traverse``: children first (left to right, ``pre_processing_of_child``
    before each), then the node itself if its class is handled; the handler's result takes the node's
    place in its parent's children and gets its parent. The resolving pass's hook (a test of the
    parent's class) is done inline, with the class test cached."""
    ast = _ast()
    handlers = self._processing_map()
    wanted = self.nodes_to_be_processed()
    hook = self.pre_processing_of_child
    resolving_hook = False
    own_hook = type(self).pre_processing_of_child
    if own_hook is ast.DepthFirstTraverser.pre_processing_of_child:
        hook = None
    elif own_hook is _resolving_hook() and "resolving" in vars(self):
        hook, resolving_hook = None, True  # the same assignment, inlined below
    handler_of: dict[type, Any] = {}
    actions = _action_classes() if resolving_hook else ()

    def handler(cls: type, node: Any) -> Any:
        found = handler_of.get(cls, _MISSING)
        if found is _MISSING:
            found = None
            if isinstance(node, wanted):
                found = next((h for key, h in handlers.items() if isinstance(node, key)), _NO_HANDLER)
            handler_of[cls] = found
        return found

    def visit(node: Any, child_id: int) -> Any:
        cls = type(node)
        is_node = _IS_NODE.get(cls)
        if is_node is None:
            is_node = _IS_NODE[cls] = isinstance(node, ast.Node)
        if not is_node:
            return node
        parent_node = node.parent
        children = node.children
        if children is not None:
            action = resolving_hook and _is_instance(cls, node, actions)
            for i, child in enumerate(children):
                if hook is not None:
                    hook(node, i)
                elif action:
                    self.resolving = i != 0
                visit(child, i)
        found = handler(cls, node)
        if found is not None:
            node = found(node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
        return node

    return visit(node, -1)


_INSTANCE: dict[tuple[type, Any], bool] = {}


def _is_instance(cls: type, node: Any, classes: Any) -> bool:
    found = _INSTANCE.get((cls, classes))
    if found is None:
        found = _INSTANCE[(cls, classes)] = isinstance(node, classes)
    return found


def _resolving_hook() -> Any:
    validators = _module("moto.dynamodb.parsing.validators")
    return validators.ExpressionAttributeResolvingProcessor.__dict__.get("pre_processing_of_child")


def _action_classes() -> tuple[type, ...]:
    """The parents after whose first child the resolving pass resolves paths (its hook's test)."""
    ast = _ast()
    return (
        ast.UpdateExpressionSetAction,
        ast.UpdateExpressionRemoveAction,
        ast.UpdateExpressionDeleteAction,
        ast.UpdateExpressionAddAction,
    )


def _no_handler(node: Any) -> None:
    return None  # DepthFirstTraverser.process when no class of the map matches: None replaces the node


_NO_HANDLER: Callable[[Any], None] = _no_handler


# ---------------------------------------------------------------- checks that depend on the expression only
def _skip_repeated_checks(validators: Any) -> None:
    expression_only = (
        validators.ActionCountValidator,
        validators.OverlappingPathsValidator,
        validators.UpdateHashRangeKeyValidator,
    )
    moto_init = _ORIGINALS[(validators.Validator, "__init__")]
    moto_validate = _ORIGINALS[(validators.Validator, "validate")]

    def __init__(self: Any, expression: Any, *args: Any, **kwargs: Any) -> None:
        moto_init(self, expression, *args, **kwargs)
        self.wisp_source = expression

    def validate(self: Any) -> Any:
        processors = self.processors
        leading = 0
        while leading < len(processors) and isinstance(processors[leading], expression_only):
            leading += 1
        facts = _facts(getattr(self, "wisp_source", None))
        if leading != len(expression_only) or facts is None:
            return moto_validate(self)
        key = _checks_key(self, validators.UpdateExpressionValidator, facts)
        if key is None:
            return moto_validate(self)
        with _SHARED_LOCK:
            done = key in facts.passed
        n = self.node_to_validate
        if not done:
            for processor in processors[:leading]:
                n = processor.traverse(n)
            with _SHARED_LOCK:
                if len(facts.passed) >= PASSED_COMBINATIONS:
                    facts.passed.clear()
                facts.passed.add(key)
        for processor in processors[leading:]:
            n = processor.traverse(n)
        return n

    validate.wisp_fast = True  # type: ignore[attr-defined]
    validators.Validator.__init__ = __init__
    validators.Validator.validate = validate


def _checks_key(validator: Any, update_validator: Any, facts: _Facts) -> Any:
    """What the three checks read besides the tree: the attribute names they look up and the keys."""
    if type(validator) is not update_validator:
        return None
    if facts.lookups is _MISSING:
        facts.lookups = _name_lookups(validator.wisp_source)
    lookups = facts.lookups
    names = validator.expression_attribute_names
    if lookups is None or not isinstance(names, dict):
        return None
    try:
        return (
            tuple((k, names.get(k, _MISSING)) for k in lookups),
            tuple(validator.table.table_key_attrs),
        )
    except (AttributeError, TypeError):  # something unhashable: always check
        return None


def _name_lookups(root: Any) -> tuple[Any, ...] | None:
    """The attribute-name placeholders the checks may look up in this tree: the first element of
    every path (key attributes) and every path made of one placeholder (duplicates)."""
    a = _ast()
    actions = (
        a.UpdateExpressionSetAction,
        a.UpdateExpressionAddAction,
        a.UpdateExpressionRemoveAction,
        a.UpdateExpressionDeleteAction,
    )
    found: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, a.UpdateExpressionPath):
            found.append(node.children[0].children[0])
        if isinstance(node, actions):
            path = node.children[0]
            if isinstance(path.children[0], a.ExpressionAttributeName) and len(path.children) == 1:
                found.append(path.children[0].get_attribute_name_placeholder())
        for child in node.children or ():
            if isinstance(child, a.Node):
                walk(child)

    try:
        walk(root)
        lookups: tuple[Any, ...] | None = tuple(dict.fromkeys(found))
    except (AttributeError, IndexError, TypeError):  # a shape the checks would trip on: always check
        lookups = None
    return lookups


def _linked(root: Any) -> bool:
    """Each node of the tree appears once, in its parent's children, and the root has no parent.

    Then a pass that returns every node it is given leaves the tree as it was (skipping it changes
    nothing), and copying a node's parent link means pointing at the copy of that parent."""
    ast = _ast()
    seen: set[int] = set()

    def ok(node: Any) -> bool:
        if id(node) in seen or type(node.__dict__.get("children")) not in (list, type(None)):
            return False
        seen.add(id(node))
        for child in node.children or ():
            if isinstance(child, ast.Node) and (child.__dict__.get("parent") is not node or not ok(child)):
                return False
        return True

    return isinstance(root, ast.Node) and root.__dict__.get("parent", _MISSING) is None and ok(root)


# ---------------------------------------------------------------- planned updates
def _planned(
    update_expression: str, names: Any, values: Any, table: Any, item: Any
) -> list[moto_plans.Change] | None:
    """The changes of a planned expression (:mod:`infra.local.moto_plans`), when the checks that
    read only the expression, its names and the table's keys passed for this combination before."""
    plan = moto_plans.plan(update_expression)
    if plan is None:
        return None
    tree = _module("moto.dynamodb.parsing.expressions").UpdateExpressionParser.make(update_expression)
    facts = _facts(tree)
    if facts is None:
        return None
    if facts.lookups is _MISSING:
        facts.lookups = _name_lookups(tree)
    if facts.lookups is None or not isinstance(names, dict):
        return None
    try:
        key = (tuple((k, names.get(k, _MISSING)) for k in facts.lookups), tuple(table.table_key_attrs))
        with _SHARED_LOCK:
            passed = key in facts.passed
    except TypeError:  # unhashable names
        return None
    if not passed:
        return None
    return moto_plans.evaluate(plan, item, names, values, _module("moto.dynamodb.models").DynamoType)


def _key_values(models: Any, table: Any, key: Any) -> tuple[Any, Any]:
    if all([table.hash_key_attr in key, table.range_key_attr in key]):
        return models.DynamoType(key[table.hash_key_attr]), models.DynamoType(key[table.range_key_attr])
    if table.hash_key_attr in key:
        return models.DynamoType(key[table.hash_key_attr]), None
    return models.DynamoType(key), None


def _check_conditions(
    models: Any,
    item: Any,
    expected: Any,
    condition_expression: Any,
    names: Any,
    values: Any,
    return_values_on_condition_check_failure: Any,
) -> None:
    if not models.get_expected(expected or {}).expr(item):
        raise models.ConditionalCheckFailed
    condition_op = models.create_condition_expression_parser(condition_expression, names, values).parse()
    if not condition_op.expr(item):
        if return_values_on_condition_check_failure == "ALL_OLD" and item is not None:
            raise models.ConditionalCheckFailed(item=item.to_json()["Attributes"])
        raise models.ConditionalCheckFailed


def _validator(models: Any, ast: Any, names: Any, values: Any, table: Any, item: Any) -> Any:
    return models.UpdateExpressionValidator(
        ast, expression_attribute_names=names, expression_attribute_values=values, item=item, table=table
    )


def update_item(
    self: Any,
    table_name: str,
    key: dict[str, dict[str, Any]],
    update_expression: str,
    expression_attribute_names: dict[str, Any],
    expression_attribute_values: dict[str, Any],
    attribute_updates: dict[str, Any] | None = None,
    expected: dict[str, Any] | None = None,
    condition_expression: str | None = None,
    return_values_on_condition_check_failure: str | None = None,
) -> Any:
    """moto's ``DynamoDBBackend.update_item`` (moto 5.2.5) but for the update expression: a planned
    one's changes are made directly, any other goes through moto's validator and executor. The old
    item is copied only for a table with a stream."""
    models = _module("moto.dynamodb.models")
    table = self.get_table(table_name)

    original = update_expression  # the parsed string: its plan and its checks are kept under it
    if update_expression:
        update_expression_ast = models.UpdateExpressionParser.make(update_expression)
        update_expression = re.sub(r"\s*([=\+-])\s*", "\\1", update_expression)
    hash_value, range_value = _key_values(models, table, key)
    item = table.get_item(hash_value, range_value)
    orig_item = copy.deepcopy(item) if table.stream_shard is not None else None
    _check_conditions(
        models,
        item,
        expected,
        condition_expression,
        expression_attribute_names,
        expression_attribute_values,
        return_values_on_condition_check_failure,
    )

    if item is None:
        if update_expression:  # validated on an empty item before anything is created
            empty = models.Item(hash_value, range_value, attrs={})
            if (
                _planned(original, expression_attribute_names, expression_attribute_values, table, empty)
                is None
            ):
                _validator(
                    models,
                    update_expression_ast,
                    expression_attribute_names,
                    expression_attribute_values,
                    table,
                    empty,
                ).validate()
        data: dict[str, Any] = {table.hash_key_attr: {hash_value.type: hash_value.value}}
        if range_value:
            data.update({table.range_key_attr: {range_value.type: range_value.value}})

        table.put_item(data)
        item = table.get_item(hash_value, range_value)

    if attribute_updates:
        item.validate_no_empty_key_values(attribute_updates, table.attribute_keys)

    if update_expression:
        names, values = expression_attribute_names, expression_attribute_values
        changes = _planned(original, names, values, table, item)
        PLANNED["planned" if changes is not None else "moto"] += 1
        try:
            if changes is not None:
                moto_plans.apply(changes)
            else:
                validated_ast = _validator(
                    models, update_expression_ast, names, values, table, item
                ).validate()
                validated_ast.normalize()
                models.UpdateExpressionExecutor(validated_ast, item, names).execute()
        except models.ItemSizeTooLarge:
            raise models.ItemSizeToUpdateTooLarge() from None
    else:
        item.update_with_attribute_updates(attribute_updates)
    if table.stream_shard is not None:
        table.stream_shard.add(orig_item, item)
    return item
