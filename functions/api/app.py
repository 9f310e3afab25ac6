"""Chalice application: the admin API (/admin/*), the customer portal (/portal/*) and /health.

Thin entry point: it only registers blueprints; each route module parses input, calls one domain
operation and maps the result.
"""

from __future__ import annotations

import importlib

from chalice import Chalice

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
