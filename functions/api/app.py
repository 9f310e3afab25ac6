"""Chalice application: the admin API (/admin/*), the customer portal (/portal/*) and /health.

Thin entry point: it only registers blueprints; each route module parses input, calls one domain
operation and maps the result. A Lambda request registers only the route module(s) serving its
route (``api.route_table``, generated), so a cold start does not import every schema and service;
``app`` (this module's attribute) and ``load_all_routes()`` give the app with every route, for the
local server, the test client and the generated documents.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from chalice import Chalice

from api.proxy import RouteIndex, not_found, route_event
from api.route_table import ALWAYS_LOADED, ROUTE_MODULES, ROUTE_TABLE
from shared.observability import logger, metrics, tracer

_app = Chalice(app_name="wispcloud")
_app.api.binary_types.extend(
    [
        "application/pdf",
        "application/octet-stream",
        "image/png",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ]
)

_registered: set[str] = set()


def _register(modules: Iterable[str]) -> None:
    for name in modules:
        if name not in _registered:
            _app.register_blueprint(importlib.import_module(name).bp)
            _registered.add(name)


def load_all_routes() -> Chalice:
    """The app with every route module registered."""
    _register(ROUTE_MODULES)
    return _app


def __getattr__(name: str) -> Any:
    if name == "app":  # ``from api.app import app``: the whole API
        globals()["app"] = load_all_routes()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_register(ALWAYS_LOADED)
_routes = RouteIndex(ROUTE_TABLE)


def _handle_http(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
    routed = route_event(event, _routes)  # API Gateway's {proxy+} resource → the Chalice route
    if routed is None:
        return not_found(str(event.get("path")))
    # Every module serving this route template (all its methods, so a wrong method is still a 405).
    resource = (routed.get("requestContext") or {}).get("resourcePath") or routed.get("resource") or ""
    _register(ROUTE_TABLE.get(resource, {}).values())
    return _app(routed, context)  # type: ignore[no-any-return]


# The Lambda entry point: powertools logging (correlation id = API Gateway request id), tracing and
# metrics around Chalice's own handler.
handle_http = logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)(tracer.capture_lambda_handler(metrics.log_metrics(_handle_http)))
