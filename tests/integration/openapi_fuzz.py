"""Hypothesis strategies derived from an OpenAPI 3.1 document (JSON Schema 2020-12 subset that pydantic
emits), request mutations for bad input, and response validation against the same document."""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
ANY_JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


class SchemaStrategies:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self._validators: dict[str, Draft202012Validator] = {}

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            node: Any = self.doc
            for part in schema["$ref"].lstrip("#/").split("/"):
                node = node[part]
            schema = node
        return schema

    def from_schema(self, schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
        schema = self.resolve(schema)
        if depth > 6:
            return st.none()
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return st.one_of([self.from_schema(s, depth + 1) for s in schema[key]])
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        if "const" in schema:
            return st.just(schema["const"])
        t = schema.get("type")
        if isinstance(t, list):
            return st.one_of([self.from_schema({**schema, "type": x}, depth) for x in t])
        if t == "string":
            lo, hi = schema.get("minLength", 0), min(schema.get("maxLength", 40), 60)
            if "pattern" in schema:
                return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: lo <= len(s) <= hi)
            return st.text(min_size=lo, max_size=max(lo, hi))
        if t == "integer":
            return st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31))
        if t == "number":
            return st.floats(
                schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False
            )
        if t == "boolean":
            return st.booleans()
        if t == "null":
            return st.none()
        if t == "array":
            return st.lists(
                self.from_schema(schema.get("items", {}), depth + 1),
                min_size=schema.get("minItems", 0),
                max_size=max(schema.get("minItems", 0), min(schema.get("maxItems", 3), 3)),
            )
        if t == "object" or "properties" in schema:
            return self._object(schema, depth)
        return ANY_JSON

    def _object(self, schema: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        extra = schema.get("additionalProperties")
        if not props:
            if isinstance(extra, dict):
                names = (
                    self.from_schema(schema["propertyNames"], depth + 1)
                    if "propertyNames" in schema
                    else st.text(max_size=8)
                )
                return st.dictionaries(names, self.from_schema(extra, depth + 1), max_size=3)
            return st.dictionaries(st.text(max_size=8), SCALARS, max_size=3)
        req = {k: self.from_schema(v, depth + 1) for k, v in props.items() if k in required}
        opt = {k: self.from_schema(v, depth + 1) for k, v in props.items() if k not in required}
        return st.fixed_dictionaries(req, optional=opt)

    def validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._validators:
            self._validators[key] = Draft202012Validator({**schema, "components": self.doc["components"]})
        return self._validators[key]


# ---------------------------------------------------------------- bad input
def wrong_type(value: Any) -> st.SearchStrategy[Any]:
    """A JSON value of another type than ``value``."""
    options = [
        st.integers(),
        st.text(max_size=5),
        st.lists(st.integers(), max_size=2),
        st.just({"x": 1}),
        st.booleans(),
        st.none(),
    ]
    return st.one_of(options).filter(lambda v: type(v) is not type(value))


@st.composite
def request_body(draw: st.DrawFn, sch: SchemaStrategies, schema: dict[str, Any]) -> tuple[str, bytes]:
    """(kind, raw body): a valid body, or one with a missing field, a wrong type, an unknown field,
    a non-object JSON value, invalid JSON, or an oversized body."""
    kind = draw(
        st.sampled_from(
            [
                "valid",
                "valid",
                "valid",
                "missing",
                "wrong_type",
                "unknown_field",
                "not_object",
                "invalid_json",
                "oversized",
            ]
        )
    )
    body = draw(sch.from_schema(schema))
    resolved = sch.resolve(schema)
    if kind == "missing" and resolved.get("required") and isinstance(body, dict):
        body.pop(draw(st.sampled_from(sorted(resolved["required"]))), None)
    elif kind == "wrong_type" and isinstance(body, dict) and body:
        name = draw(st.sampled_from(sorted(body)))
        body[name] = draw(wrong_type(body[name]))
        prop = resolved.get("properties", {}).get(name)
        if prop is not None and sch.validator(prop).is_valid(body[name]):
            kind = "valid"  # a type the field also takes (null where it may be null): the body is still valid
    elif kind == "wrong_type":
        kind = "valid"  # a body without fields has no field to give another type: it is still valid
    elif kind == "unknown_field" and isinstance(body, dict):
        body["zz_" + draw(st.text(string.ascii_lowercase, min_size=1, max_size=6))] = 1
    elif kind == "not_object":
        body = draw(st.one_of(st.lists(st.integers(), max_size=2), st.integers(), st.text(max_size=5)))
    elif kind == "invalid_json":
        return kind, draw(st.sampled_from([b'{"a":', b"\xff\xfe\x00", b"{'single': 1}", b"[1,2", b"nul"]))
    elif kind == "oversized":
        return kind, b'{"x": "' + b"a" * 1_100_000 + b'"}'
    return kind, json.dumps(body).encode()


def path_value(known: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(known), st.from_regex(r"[A-Za-z0-9_.\-]{1,40}", fullmatch=True), st.just("x" * 300)
    )


@st.composite
def query_string(draw: st.DrawFn, sch: SchemaStrategies, params: list[dict[str, Any]]) -> str:
    pairs = []
    for p in params:
        if p.get("in") != "query" or not draw(st.booleans()):
            continue
        if draw(st.integers(0, 4)) == 0:
            value: Any = draw(st.text(max_size=12))  # possibly invalid for the parameter
        else:
            value = draw(sch.from_schema(p["schema"]))
            if value is None:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
        pairs.append((p["name"], str(value)))
    return ("?" + urlencode(pairs)) if pairs else ""


def ids_for(path: str, known: dict[str, list[str]]) -> list[str]:
    """The ids worth trying in ``path``: those of the kinds its parameters name (``known`` by parameter
    name), and the few unrelated ones under ``known["other"]``."""
    names = [n for n in known if "{" + n + "}" in path]
    ids = [i for n in names for i in known[n]]
    return ids + known["other"] if ids else known["other"]


def fill_path(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return path


@dataclass
class DrawnRequest:
    path: str
    method: str
    op: dict[str, Any]
    url: str
    headers: dict[str, str]
    kind: str  # how the body was made: none, valid, wrong_type, invalid_json, upload…
    raw: bytes | None


def draw_request(
    data: st.DataObject,
    sch: SchemaStrategies,
    ops: list[tuple[str, str, dict[str, Any]]],
    known: list[str],
    auths: list[dict[str, str]],
    *,
    json_content_types: tuple[str, ...] = ("application/json",),
    uploads: st.SearchStrategy[bytes] | None = None,
) -> DrawnRequest:
    """One request for an operation of the document: path values (known ids or junk), a query string,
    credentials, and a body that is valid or deliberately broken (or an upload for raw-body routes)."""
    path, method, op = data.draw(st.sampled_from(ops), label="operation")
    params = op.get("parameters", [])
    values = {p["name"]: data.draw(path_value(known), label=p["name"]) for p in params if p["in"] == "path"}
    url = fill_path(path, values) + data.draw(query_string(sch, params), label="query")
    headers = dict(data.draw(st.sampled_from(auths), label="auth"))
    kind, raw = "none", None
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        kind, raw = data.draw(request_body(sch, content["application/json"]["schema"]), label="body")
        headers["Content-Type"] = data.draw(st.sampled_from(json_content_types), label="content type")
    elif uploads is not None and "application/octet-stream" in content:
        kind, raw = "upload", data.draw(uploads, label="upload")
        headers["Content-Type"] = data.draw(st.sampled_from(["text/csv", "application/octet-stream"]))
    return DrawnRequest(path, method, op, url, headers, kind, raw)


def send(client: Any, req: DrawnRequest) -> Any:
    """Send a drawn request through Chalice's test client."""
    fn = getattr(client.http, req.method.lower())
    return (
        fn(req.url, headers=req.headers, body=req.raw)
        if req.raw is not None
        else fn(req.url, headers=req.headers)
    )


def run_requests(examples: int, request: Callable[[st.DataObject], int]) -> dict[int, int]:
    """``examples`` requests drawn by Hypothesis (derandomized, no example database, no deadline):
    ``request`` draws, sends and checks one and returns its status; the statuses are counted."""
    by_status: dict[int, int] = {}

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def one(data: st.DataObject) -> None:
        status = request(data)
        by_status[status] = by_status.get(status, 0) + 1

    one()
    return by_status
