"""What moto's DynamoDB response layer repeats for every write, done once.

- A write's condition is parsed by the response layer, then again by the backend with the same
  string and dicts (:func:`parse_conditions_once`).
- A condition's tokens depend on its text only (:func:`lex_conditions_once`).
- An update's old item is deep-copied only to be turned into JSON, which builds everything anew
  (:class:`NoItemCopy`).

Installed and removed by :mod:`infra.local.moto_updates` (``speed_up_update_items``, ``uninstall``)
with moto's functions; ``tests/integration/test_local_moto_updates.py`` compares answers, errors and
stored items with moto as shipped.
"""

from __future__ import annotations

import collections
import copy
import functools
import threading
from typing import Any

PARSED_CONDITIONS = 1024


class NoItemCopy:
    """``copy`` as moto's DynamoDB response layer sees it. Its one copy is of the item an update is
    about to change, made only to call ``to_json()`` on it before the change; ``Item.to_json``
    builds every map and list anew (a map's values through ``to_regular_json``, which copies) and
    shares only strings, numbers and bytes, so the item's own JSON is the copy's. Any other object
    is copied as before."""

    def __init__(self, item_class: type) -> None:
        self._item_class = item_class

    def deepcopy(self, x: Any, memo: Any = None) -> Any:
        if type(x) is self._item_class:
            return x
        return copy.deepcopy(x, memo)

    def __getattr__(self, name: str) -> Any:  # pragma: no cover - moto uses deepcopy only
        return getattr(copy, name)


_LAST_CONDITION = threading.local()


def parse_conditions_once(parser_class: Any, moto_parse: Any) -> None:
    """A write's condition is parsed by the response layer (for the names and values it uses), then
    again by the backend, with the same string and the same two dicts. The second parse in the same
    thread takes the first one's result (the tree is only evaluated, never changed). The thread
    keeps the dicts of its last parse alive, so identity cannot be that of other dicts."""

    def parse(self: Any) -> Any:
        expression = self.condition_expression
        names, values = self.expression_attribute_names, self.expression_attribute_values
        if not expression or type(names) is not dict or type(values) is not dict:
            return moto_parse(self)
        last = getattr(_LAST_CONDITION, "parsed", None)
        if last is not None and last[0] == expression and last[1] is names and last[2] is values:
            op, found_names, found_values = last[3]
            self.expr_attr_names_found.extend(found_names)
            self.expr_attr_values_found.extend(found_values)
            return op
        op = moto_parse(self)
        found = (op, list(self.expr_attr_names_found), list(self.expr_attr_values_found))
        _LAST_CONDITION.parsed = (expression, names, values, found)
        return op

    parser_class.parse = parse


def lex_conditions_once(parser_class: Any, moto_lex: Any) -> None:
    """A condition's tokens depend on its text only (moto's lexer reads nothing else): they are
    found once per text and handed out as new nodes (moto's nodes carry a list, each parse gets its
    own). A text the lexer refuses is refused every time, uncached."""
    node = parser_class.Node

    @functools.lru_cache(maxsize=PARSED_CONDITIONS)
    def tokens(expression: str) -> tuple[tuple[Any, ...], ...]:
        probe = parser_class.__new__(parser_class)
        probe.condition_expression = expression
        lexed = moto_lex(probe)
        if any(n.children for n in lexed):  # pragma: no cover - moto's lexer makes leaves only
            raise TypeError("not a leaf")
        return tuple((n.nonterminal, n.kind, n.text, n.value) for n in lexed)

    def lex(self: Any) -> Any:
        expression = self.condition_expression
        if type(expression) is not str:
            return moto_lex(self)
        try:
            found = tokens(expression)
        except TypeError:  # pragma: no cover
            return moto_lex(self)
        return collections.deque(node(t[0], t[1], t[2], t[3], []) for t in found)

    parser_class._lex_condition_expression = lex
