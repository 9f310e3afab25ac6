"""moto's JSON-protocol request parsing (DynamoDB's) without looking the shapes up at every node.

moto turns a request's JSON into the operation's parameters by walking the body with the
operation's input shape: for every node it looks its handler up by name, and for every structure
(each DynamoDB attribute value is one, with ten members) it asks every member for its wire name and
the value for it. An UpdateItem of the accounting path has a few hundred such nodes; that walk was
about a twelfth of the local moto server's time per call.

:func:`parse_json_faster` installs a walk that does the same per shape, decided once: the
handler of each shape, a structure's members with their wire names, a map's key and value
converters. A node is read exactly as moto reads it — the same members in the same order, values
that are ``None`` skipped, blobs, numbers and timestamps through the parser's own handlers, any
handler moto or a subclass overrides called as it is. Should the fast walk fail on a node (a body
of the wrong shape), moto's own walk runs on the same body and answers, or fails, as it always did.
``tests/integration/test_local_moto_params.py`` compares the parameters of generated requests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

Converter = Callable[[Any, Any], Any]  # (parser, node) -> parameter value

_COMPILED: dict[tuple[type, int], Converter] = {}
_SHAPES: list[Any] = []  # every shape compiled, kept so that an id is never another shape's
_LOCK = threading.Lock()
_ORIGINAL: dict[str, Any] = {}
STATS = {"fast": 0, "moto": 0}  # bodies parsed by the walk here, and by moto's after it failed


def _converter(parser: Any, shape: Any) -> Converter:
    key = (type(parser), id(shape))
    found = _COMPILED.get(key)
    if found is None:
        found = _compile(type(parser), shape)
        with _LOCK:
            _COMPILED[key] = found
            _SHAPES.append(shape)
    return found


def _compile(parser_class: type, shape: Any) -> Converter:
    from moto.core import parse

    type_name = shape.type_name
    handler = getattr(parser_class, f"_parse_{type_name}", None)
    if type_name == "structure" and handler is parse.BaseJSONParser._parse_structure:
        if shape.is_document_type:
            return lambda parser, value: value
        return _structure(shape)
    if type_name == "map" and handler is parse.RequestParser._parse_map:
        return _map(shape)
    if type_name == "list" and handler is parse.RequestParser._parse_list:
        return _list(shape)
    if handler is None:  # moto's _default_handle: the value as it is
        return lambda parser, value: value
    return lambda parser, value: handler(parser, shape, value)


def _structure(shape: Any) -> Converter:
    members = [
        (name, member.serialization.get("name", name), member) for name, member in shape.members.items()
    ]
    wire_names = [wire for _name, wire, _member in members]
    single = len(set(wire_names)) == len(wire_names)
    position = {wire: i for i, wire in enumerate(wire_names)}

    def convert(parser: Any, value: Any) -> Any:
        if value is None:
            return None
        parsed = parser.MAP_TYPE()
        if single and type(value) is dict and len(value) == 1:
            # one key (every attribute value): only its member can be present
            for wire, raw in value.items():
                i = position.get(wire)
                if i is not None and raw is not None:
                    name, _wire, member = members[i]
                    parsed[name] = _converter(parser, member)(parser, raw)
            return parsed
        for name, wire, member in members:
            raw = value.get(wire)
            if raw is not None:
                parsed[name] = _converter(parser, member)(parser, raw)
        return parsed

    return convert


def _map(shape: Any) -> Converter:
    key_shape, value_shape = shape.key, shape.value

    def convert(parser: Any, value: Any) -> Any:
        parsed = parser.MAP_TYPE()
        key_of = _converter(parser, key_shape)
        value_of = _converter(parser, value_shape)
        for key, item in value.items():
            parsed[key_of(parser, key)] = value_of(parser, item)
        return parsed

    return convert


def _list(shape: Any) -> Converter:
    member_shape = shape.member

    def convert(parser: Any, value: Any) -> Any:
        member_of = _converter(parser, member_shape)
        return [member_of(parser, item) for item in value]

    return convert


def parse_json_faster() -> None:
    """Install the walk in moto's JSON parser (idempotent)."""
    from moto.core import parse

    if "json_body" in _ORIGINAL:
        return
    moto_parse_json_body = parse.JSONParser._parse_json_body
    _ORIGINAL["json_body"] = moto_parse_json_body

    def _parse_json_body(self: Any, raw_body: Any, shape: Any) -> Any:
        parsed_json = self._parse_body_as_json(raw_body)
        try:
            parsed = _converter(self, shape)(self, parsed_json)
        except Exception:  # moto's walk decides: its answer, or its error
            STATS["moto"] += 1
            return self._parse_shape(shape, parsed_json)
        STATS["fast"] += 1
        return parsed

    json_parser: Any = parse.JSONParser  # untyped attribute assignment on moto's class
    json_parser._parse_json_body = _parse_json_body


def uninstall() -> None:
    """Put moto's walk back (the tests compare both)."""
    from moto.core import parse

    original = _ORIGINAL.pop("json_body", None)
    if original is not None:
        json_parser: Any = parse.JSONParser
        json_parser._parse_json_body = original
