"""The generated route table (``api.route_table``) that lets a cold Lambda request import only the
route module it needs: complete, current, and the lazily loaded handler answers as the full app does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from api.app import app
from api.openapi import build_openapi
from api.route_table import ALWAYS_LOADED, ROUTE_MODULES, ROUTE_TABLE
from infra import route_table

ROOT = Path(__file__).resolve().parents[2]


def test_the_route_table_is_current_with_the_route_modules():
    # render() registers each module's blueprint on its own app and records which module serves
    # every (route, method); the checked-in file must be exactly that.
    assert route_table.TABLE_PATH.read_text() == route_table.render(), "run `make template`"


def test_every_route_module_is_in_the_table_and_the_whole_app_has_exactly_its_routes():
    modules, table = route_table.probe()
    assert table == ROUTE_TABLE and modules == list(ROUTE_MODULES)
    on_disk = {p.stem for p in (ROOT / "functions" / "api" / "routes").glob("*.py") if p.stem != "__init__"}
    assert set(ROUTE_MODULES) == {f"api.routes.{m}" for m in on_disk}
    assert set(ALWAYS_LOADED) <= set(ROUTE_MODULES)
    assert {(p, m) for p, ms in app.routes.items() for m in ms} == {
        (p, m) for p, ms in ROUTE_TABLE.items() for m in ms
    }


COLD = r"""
import json, sys
from dataclasses import dataclass
import api.app

def _proxy_event(path, method, headers={}, body=None):
    return {
        "resource": "/{proxy+}", "path": path, "httpMethod": method, "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None, "body": body,
        "isBase64Encoded": False,
        "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": method, "requestId": "apigw-req-1",
                           "identity": {"sourceIp": "203.0.113.9"}, "stage": "v1"},
    }

@dataclass
class Ctx:
    function_name: str = "wisp-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:wisp-test"
    aws_request_id: str = "req-1"

def routes_loaded():
    return sorted(m for m in sys.modules if m.startswith("api.routes."))

out = {"at_import": routes_loaded(), "schemas_at_import": sorted(m for m in sys.modules if m.startswith("api.schemas"))}
text = {"Content-Type": "text/plain"}
for key, path, method, headers in [
    ("wrong_method", "/health", "DELETE", {}),
    ("login_as_text", "/admin/auth/login", "POST", text),
    ("spec", "/openapi.json", "GET", {}),
]:
    resp = api.app.handle_http(_proxy_event(path, method, headers, "x" if headers else None), Ctx())
    out[key] = {"status": resp["statusCode"], "body": json.loads(resp["body"]), "loaded": routes_loaded()}
print("RESULT " + json.dumps(out))
"""


def test_a_cold_request_registers_only_the_module_serving_its_route():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT)])}
    proc = subprocess.run(
        [sys.executable, "-c", COLD], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    out = json.loads(line.removeprefix("RESULT "))

    assert out["at_import"] == list(ALWAYS_LOADED) and out["schemas_at_import"] == []

    wrong = out["wrong_method"]  # the route's module is loaded, so Chalice still answers 405
    assert wrong["status"] == 405 and wrong["body"]["error"]["code"] == "method_not_allowed"
    assert wrong["loaded"] == sorted([*ALWAYS_LOADED, "api.routes.health"])

    login = out["login_as_text"]  # Chalice's 415 for the lazily registered route, in the API's shape
    assert login["status"] == 415 and login["body"]["error"]["code"] == "unsupported_media_type", login
    assert login["loaded"] == sorted(
        {*ALWAYS_LOADED, "api.routes.health", ROUTE_TABLE["/admin/auth/login"]["POST"]}
    )

    # /openapi.json from a cold process describes every route, exactly as the full app's document
    assert out["spec"]["status"] == 200
    assert out["spec"]["body"] == json.loads(json.dumps(build_openapi()))
