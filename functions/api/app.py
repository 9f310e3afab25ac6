"""Chalice application: the admin API (/admin/*), the customer portal (/portal/*) and /health.

Thin entry point: it only registers blueprints; each route module parses input, calls one domain
operation and maps the result.
"""

from __future__ import annotations

import importlib
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from chalice import Chalice

from api.proxy import RouteIndex, not_found, route_event
from shared.observability import logger, metrics, tracer

app = Chalice(app_name="wispcloud")
app.api.binary_types.extend(
    [
        "application/pdf",
        "application/octet-stream",
        "image/png",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ]
)

# Route modules, each a Blueprint named ``bp``.
ROUTE_MODULES = (
    "api.routes.health",
    "api.routes.meta",
    "api.routes.auth",
    "api.routes.operators",
    "api.routes.tenants",
    "api.routes.catalog",
    "api.routes.subscribers",
    "api.routes.lifecycle",
    "api.routes.audit",
    "api.routes.errors",
    "api.routes.portal",
    "api.routes.vouchers",
    "api.routes.credentials",
    "api.routes.registration",
    "api.routes.imports",
    "api.routes.billing",
    "api.routes.provisioning",
)

for _name in ROUTE_MODULES:
    app.register_blueprint(importlib.import_module(_name).bp)


_routes = RouteIndex(app.routes)


def _handle_http(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
    routed = route_event(event, _routes)  # API Gateway's {proxy+} resource → the Chalice route
    if routed is None:
        return not_found(str(event.get("path")))
    return app(routed, context)  # type: ignore[no-any-return]


# The Lambda entry point: powertools logging (correlation id = API Gateway request id), tracing and
# metrics around Chalice's own handler.
handle_http = logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)(tracer.capture_lambda_handler(metrics.log_metrics(_handle_http)))
