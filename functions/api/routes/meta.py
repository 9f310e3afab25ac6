"""GET /openapi.json: the API description generated from the route declarations."""

from __future__ import annotations

from chalice import Blueprint

from api.http import json_response
from api.openapi import build_openapi

bp = Blueprint(__name__)


@bp.route("/openapi.json", methods=["GET"])
def handle_get_openapi() -> object:
    return json_response(build_openapi())
