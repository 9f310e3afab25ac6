"""The API as deployed: API Gateway's one greedy resource ({proxy+}) in front of the Lambda handler,
which gives each request the Chalice route its path matches."""

from __future__ import annotations

import json

from api.app import app, handle_http
from api.proxy import RouteIndex
from tests.integration.test_lambda_handlers import LambdaContext, _rest_event


def _proxy_event(path: str, method: str = "GET") -> dict:
    event = _rest_event(path, method)
    event["resource"] = "/{proxy+}"
    event["requestContext"]["resourcePath"] = "/{proxy+}"
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    return event


def test_proxy_requests_reach_their_routes(runtime):
    resp = handle_http(_proxy_event("/health"), LambdaContext())
    assert resp["statusCode"] == 200 and json.loads(resp["body"])["datastore"] == "ok"
    denied = handle_http(_proxy_event("/admin/me"), LambdaContext())
    assert denied["statusCode"] == 401
    spec = handle_http(_proxy_event("/openapi.json"), LambdaContext())
    assert spec["statusCode"] == 200 and "paths" in json.loads(spec["body"])


def test_unknown_paths_are_404_and_known_paths_with_another_method_are_405(runtime):
    missing = handle_http(_proxy_event("/admin/no-such-thing/at/all"), LambdaContext())
    assert missing["statusCode"] == 404
    assert json.loads(missing["body"])["error"]["code"] == "not_found"
    wrong = handle_http(_proxy_event("/health", "DELETE"), LambdaContext())
    assert wrong["statusCode"] == 405


def test_every_route_of_the_app_is_matched_to_itself_with_its_parameters():
    index = RouteIndex(app.routes)
    for route in app.routes:
        concrete = route.replace("{", "x-").replace("}", "")
        found = index.match(concrete)
        assert found is not None, route
        matched, params = found
        # a literal route that happens to equal the concrete path wins, as in API Gateway
        assert matched == route or "{" not in matched or matched.count("{") < route.count("{"), (
            route,
            matched,
        )
        if matched == route:
            assert set(params) == {p[1:-1] for p in route.split("/") if p.startswith("{")}


def test_literal_segments_win_over_parameters_and_trailing_slashes_are_ignored():
    index = RouteIndex(["/a/{id}", "/a/new", "/a/{id}/b", "/"])
    assert index.match("/a/new") == ("/a/new", {})
    assert index.match("/a/42") == ("/a/{id}", {"id": "42"})
    assert index.match("/a/42/b/") == ("/a/{id}/b", {"id": "42"})
    assert index.match("/") == ("/", {})
    assert index.match("/a/") is None  # "/a" is no route
    assert index.match("/b") is None and index.match("/a/42/c") is None
