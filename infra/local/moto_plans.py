"""Update expressions of the shape the store sends, applied to a moto item without moto's validator.

moto validates an UpdateItem by copying the parsed expression and walking the copy with ten passes
(a few hundred nodes for the store's subscriber update), then walks it again to execute it; that is
most of the local stack's CPU per accounting packet. The store's expressions are a small part of
the grammar: ``SET`` actions whose value is a value placeholder, a path, ``if_not_exists(path,
operand)`` or ``operand ± operand``, and ``REMOVE`` actions, every path made of ``#name``
placeholders. :func:`plan` turns such an expression into a list of actions once (kept per string);
:func:`evaluate` computes what moto's validator would: every value against the item as it is, the
container of every target; :func:`apply` then changes the item as moto's executor would, in the
same order, with the same objects (moto's size check included).

Whenever moto would do anything but succeed — a placeholder without a value or name, a path that
does not exist where it must, an operand that is not a number, a target under something that is
not a map — :func:`evaluate` answers None and moto's own validator and executor run instead, so errors (and moto's own oddities) stay moto's. The checks
that depend only on the expression, its names and the table's keys (clause counts, overlapping
paths, key attributes) are not repeated here: the caller uses a plan only for a combination those
checks already passed (:mod:`infra.local.moto_updates`). Any other shape (``ADD``, ``DELETE``,
``list_append``, list indexes, literal attribute names) has no plan.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

PLANS = 1024

Path = tuple[str, ...]  # name placeholders, outermost first
# an operand: ("value", ":v") | ("path", path) | ("if_not_exists", path, operand) | ("+"|"-", operand, operand)
Operand = tuple[Any, ...]

_TOKEN = re.compile(r"\s*(?:(#[A-Za-z0-9_]+)|(:[A-Za-z0-9_]+)|([A-Za-z_][A-Za-z0-9_]*)|([=,().+\-]))")
_MISSING = object()


@dataclass(frozen=True)
class Plan:
    actions: tuple[tuple[Any, ...], ...]  # ("set", path, operand) | ("remove", path), in order
    placeholders: frozenset[str]  # every #name the expression uses
    values: frozenset[str]  # every :value it uses


class _Unsupported(Exception):
    pass


def _tokens(expression: str) -> list[str]:
    out: list[str] = []
    pos, end = 0, len(expression)
    while pos < end:
        m = _TOKEN.match(expression, pos)
        if m is None:
            if expression[pos:].strip() == "":
                break
            raise _Unsupported
        out.append(m.group(m.lastindex or 0))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.t = tokens
        self.i = 0
        self.names: set[str] = set()
        self.values: set[str] = set()

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise _Unsupported
        self.i += 1
        return tok

    def path(self) -> Path:
        parts = [self.placeholder()]
        while self.peek() == ".":
            self.take(".")
            parts.append(self.placeholder())
        return tuple(parts)

    def placeholder(self) -> str:
        tok = self.take()
        if not tok.startswith("#"):
            raise _Unsupported  # a literal name (reserved-word checks) or a list index: moto's path
        self.names.add(tok)
        return tok

    def operand(self) -> Operand:
        tok = self.peek()
        if tok is None:
            raise _Unsupported
        if tok.startswith(":"):
            self.take()
            self.values.add(tok)
            return ("value", tok)
        if tok.startswith("#"):
            return ("path", self.path())
        if tok == "if_not_exists":
            self.take()
            self.take("(")
            path = self.path()
            self.take(",")
            default = self.operand()
            self.take(")")
            return ("if_not_exists", path, default)
        raise _Unsupported

    def value(self) -> Operand:
        left = self.operand()
        if self.peek() in ("+", "-"):
            op = self.take()
            return (op, left, self.operand())
        return left

    def parse(self) -> Plan:
        actions: list[tuple[Any, ...]] = []
        seen: set[str] = set()
        while self.peek() is not None:
            clause = self.take().upper()
            if clause in seen or clause not in ("SET", "REMOVE"):
                raise _Unsupported
            seen.add(clause)
            while True:
                if clause == "SET":
                    target = self.path()
                    self.take("=")
                    actions.append(("set", target, self.value()))
                else:
                    actions.append(("remove", self.path()))
                if self.peek() != ",":
                    break
                self.take(",")
        if not actions:
            raise _Unsupported
        return Plan(tuple(actions), frozenset(self.names), frozenset(self.values))


@functools.lru_cache(maxsize=PLANS)
def plan(expression: str) -> Plan | None:
    """The plan of an update expression, None for one outside the supported shape."""
    try:
        return _Parser(_tokens(expression)).parse()
    except _Unsupported:
        return None


# ---------------------------------------------------------------- evaluation
def _resolve(attrs: Any, path: Path, names: dict[str, str]) -> Any:
    """The value at ``path`` as moto's path resolver finds it, or _MISSING."""
    target = attrs
    for placeholder in path:
        try:
            target = target[names[placeholder]]
        except (KeyError, TypeError):
            return _MISSING
    return target


def _operand(op: Operand, attrs: Any, names: dict[str, str], values: dict[str, Any], dynamo: Any) -> Any:
    kind = op[0]
    if kind == "value":
        return dynamo(values[op[1]])  # a new object per use, as moto's value pass makes
    if kind == "path":
        found = _resolve(attrs, op[1], names)
        if found is _MISSING:
            raise _Unsupported  # moto: the attribute does not exist
        return found  # the item's own object, as moto's resolving pass hands it on
    if kind == "if_not_exists":
        found = _resolve(attrs, op[1], names)
        default = _operand(op[2], attrs, names, values, dynamo)  # moto resolves both arguments
        return default if found is _MISSING else found
    left = _operand(op[1], attrs, names, values, dynamo)
    right = _operand(op[2], attrs, names, values, dynamo)
    if left.type != "N" or right.type != "N":
        raise _Unsupported  # moto: an operand of the wrong type
    return left + right if kind == "+" else left - right


Change = tuple[Any, ...]  # ("set", container, name, value) | ("remove", container, name)


def _apart(p: Plan, names: dict[str, Any]) -> bool:
    """No target is the same attribute as another, or inside another. moto checks that on the
    placeholders of paths of several names, not on the names they stand for; where two differ only
    there, the order moto applies them in (removals sorted by placeholder) decides: moto's own path."""
    whole: set[tuple[Any, ...]] = set()
    inside: set[tuple[Any, ...]] = set()
    for action in p.actions:
        path = tuple(names[ph] for ph in action[1])
        if not all(isinstance(n, str) for n in path) or path in whole or path in inside:
            return False
        for k in range(1, len(path)):
            if path[:k] in whole:
                return False
            inside.add(path[:k])
        whole.add(path)
    return True


def evaluate(p: Plan, item: Any, names: Any, values: Any, dynamo: Any) -> list[Change] | None:
    """The changes moto's validator would hand its executor for ``item``: every value computed
    against the item as it is, the container of every target found. None when moto must decide (it
    would fail, or do something this module does not reproduce). ``dynamo``: moto's ``DynamoType``.
    Reads the item only."""
    if not isinstance(names, dict) or not isinstance(values, dict):
        return None
    if not p.placeholders.issubset(names) or not p.values.issubset(values):
        return None
    if not _apart(p, names):
        return None
    attrs = item.attrs
    changes: list[Change] = []
    try:
        for action in p.actions:
            target = action[1]
            name = names[target[-1]]
            if len(target) == 1:
                container = attrs
            else:
                container = _resolve(attrs, target[:-1], names)
                if container is _MISSING or getattr(container, "type", None) != "M":
                    return None  # moto: an invalid document path, or a change it silently skips
            if action[0] == "set":
                changes.append(("set", container, name, _operand(action[2], attrs, names, values, dynamo)))
            else:
                changes.append(("remove", container, name))
    except (_Unsupported, KeyError, TypeError, ValueError, ArithmeticError, AttributeError):
        return None
    return changes


def apply(changes: list[Change]) -> None:
    """Make the changes in order as moto's executor makes them: a top-level set is refused as moto's
    size-checked dict refuses it (``ItemSizeTooLarge`` past the limit, the changes before it made),
    a set in a map goes through moto's ``DynamoType``, a removal pops the name if present.

    moto's dict sums the size of the whole item at every top-level set (a session row's update sets
    twenty attributes: twenty sums). Here the sum is made once and kept up to date across top-level
    sets; any other change (in a map, which another attribute may share, or a removal) makes the
    next top-level set sum the item again. The figure compared with the limit is moto's: the item as
    it is (the replaced value included) plus the name and the new value."""
    moto = _moto()
    sized: dict[int, int] = {}  # id(top-level dict) -> its size as moto sums it, while exact
    for change in changes:
        if change[0] == "set":
            _kind, container, name, value = change
            if type(container) is not moto.LimitedSizeDict:
                container[name] = value
                sized.clear()
                continue
            current = sized.get(id(container))
            if current is None:
                current = sum(_size(moto, k) + _size(moto, v) for k, v in container.items())
            new_value = _size(moto, value)
            if current + _size(moto, name) + new_value > moto.ITEM_SIZE_LIMIT:
                raise moto.ItemSizeTooLarge
            old = container.get(name, _MISSING)
            dict.__setitem__(container, name, value)
            if old is _MISSING:
                sized[id(container)] = current + _size(moto, name) + new_value
            else:
                sized[id(container)] = current - _size(moto, old) + new_value
        else:
            _kind, container, name = change
            container.pop(name, None)
            sized.clear()


def _size(moto: Any, value: Any) -> int:
    """One key or value of an item as moto's size check counts it."""
    if type(value) is not moto.DynamoType:
        return int(moto.bytesize(str(value)))
    try:
        return value_size(moto.DynamoType, value.type, value.value)
    except Exception:  # anything the direct count does not know: moto counts (or fails) itself
        return int(value.size())


_SETS = {"SS": "S", "NS": "N", "BS": "B"}


def value_size(dynamo: Any, kind: str, value: Any) -> int:
    """``DynamoType.size()`` of a value of type ``kind`` without building the wrappers moto builds to
    count it (moto wraps each map value again, and that copies its whole subtree). The same sums:
    a number's digits, a set's members as values of their type, a list's and a map's elements (a
    map's keys by their UTF-8 length), 1 for a boolean, otherwise the UTF-8 length."""
    if kind == "N":
        return len(str(value))
    member = _SETS.get(kind)
    if member is not None:
        return sum(value_size(dynamo, member, v) for v in value)
    if kind == "L":
        total = 0
        element: Any
        for element in value:
            if type(element) is not dynamo:
                raise TypeError("not a value")  # moto calls .size() on it
            total += value_size(dynamo, element.type, element.value)
        return total
    if kind == "M":
        total = 0
        for key, element in value.items():
            if type(element) is dynamo:
                element_kind, element_value = element.type, element.value
            elif type(element) is dict:
                element_kind = next(iter(element))
                element_value = element[element_kind]
                if element_kind in ("L", "M"):
                    raise TypeError("a raw nested document")  # moto converts it first
            else:
                raise TypeError("not a value")
            total += len(key.encode("utf-8")) + value_size(dynamo, element_kind, element_value)
        return total
    if isinstance(value, bool):
        return 1
    return len(value if isinstance(value, bytes) else value.encode("utf-8"))


@functools.cache
def _moto() -> Any:
    from types import SimpleNamespace

    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    # moto's LimitedSizeDict.__setitem__ compares with this figure (written there, not exported)
    return SimpleNamespace(
        DynamoType=DynamoType,
        LimitedSizeDict=LimitedSizeDict,
        ItemSizeTooLarge=ItemSizeTooLarge,
        bytesize=bytesize,
        ITEM_SIZE_LIMIT=405000,
    )
