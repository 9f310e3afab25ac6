"""GET /health: liveness plus the versions of the parts and a datastore check."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

from chalice import Blueprint

from api.http import json_response
from shared.settings import VERSION
from store.models import Tenant

bp = Blueprint(__name__)

_PARTS = ("chalice", "pynamodb", "pyrad", "librouteros", "aws-lambda-powertools", "boto3")


def _versions() -> dict[str, str]:
    out = {"wispcloud": VERSION, "python": platform.python_version()}
    for pkg in _PARTS:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


@bp.route("/health", methods=["GET"])
def handle_get_health() -> object:
    try:
        Tenant.describe_table()
        datastore = "ok"
    except Exception:
        datastore = "unreachable"
    status = 200 if datastore == "ok" else 503
    return json_response(
        {"status": "ok" if status == 200 else "degraded", "datastore": datastore, "versions": _versions()},
        status,
    )
