"""The API behind one greedy API Gateway resource (``/{proxy+}``): Chalice dispatches on the API
Gateway resource path, so each event is given the route its path matches before Chalice sees it.

Matching follows API Gateway's rule: at each segment a literal beats a ``{parameter}``; a path that
matches no route is answered 404 here (API Gateway would have said 403 "Missing Authentication
Token").
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


class _Node:
    __slots__ = ("literal", "param", "param_name", "route")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.param_name = ""
        self.route: str | None = None


class RouteIndex:
    """The route templates of the app, matched against concrete paths."""

    def __init__(self, routes: Iterable[str]) -> None:
        self.root = _Node()
        for route in routes:
            node = self.root
            for seg in _segments(route):
                if seg.startswith("{") and seg.endswith("}"):
                    node.param = node.param or _Node()
                    node.param.param_name = seg[1:-1]
                    node = node.param
                else:
                    node = node.literal.setdefault(seg, _Node())
            node.route = route

    def match(self, path: str) -> tuple[str, dict[str, str]] | None:
        """(route template, path parameters) for a concrete path, or None."""

        def walk(node: _Node, parts: list[str], params: dict[str, str]) -> tuple[str, dict[str, str]] | None:
            if not parts:
                return (node.route, params) if node.route is not None else None
            head, rest = parts[0], parts[1:]
            child = node.literal.get(head)
            if child is not None:
                found = walk(child, rest, params)
                if found:
                    return found
            if node.param is not None and head:
                return walk(node.param, rest, {**params, node.param.param_name: head})
            return None

        return walk(self.root, _segments(path), {})


def _segments(path: str) -> list[str]:
    path = path.split("?", 1)[0]
    if path != "/" and path.endswith("/"):
        path = path[:-1]
    return [p for p in path.split("/")[1:]] if path != "/" else []


def not_found(path: str) -> dict[str, Any]:
    body = {"error": {"code": "not_found", "message": f"no route {path}", "field": None}}
    return {
        "statusCode": 404,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def route_event(event: dict[str, Any], index: RouteIndex) -> dict[str, Any] | None:
    """The event as a per-route resource would have produced it; None when no route matches.
    Events that already name a route (tests, a per-route API) pass unchanged."""
    ctx = event.get("requestContext") or {}
    resource = ctx.get("resourcePath") or event.get("resource")
    if resource and "{proxy+}" not in resource:
        return event
    found = index.match(event.get("path") or "/")
    if found is None:
        return None
    route, params = found
    out = dict(event)
    out["resource"] = route
    out["requestContext"] = {**ctx, "resourcePath": route}
    out["pathParameters"] = params or None
    return out
