"""The local API server serves the web console for non-API paths (SPA fallback) and the API for its own."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from chalice.config import Config
from chalice.local import LocalDevServer

from api.app import app
from infra import local_web


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    dist = tmp_path_factory.mktemp("dist")
    (dist / "index.html").write_text("<!doctype html><title>console</title>")
    (dist / "assets").mkdir()
    (dist / "assets" / "app-1234.js").write_text("console.log('app')")
    (dist / "favicon.svg").write_text("<svg/>")
    (dist.parent / "secret.txt").write_text("outside the build")
    srv = LocalDevServer(
        app,
        Config.create(chalice_stage="local", app_name="wispcloud"),
        "127.0.0.1",
        0,
        **local_web.server_kwargs(app, {"WISP_WEB_DIST": str(dist)}),
    )
    thread = threading.Thread(target=srv.server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server.server_address[1]}"
    srv.shutdown()
    srv.server.server_close()


def _get(url: str) -> tuple[int, str, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read(), dict(exc.headers)


@pytest.mark.parametrize(
    "path", ["/", "/subscribers", "/subscribers/sub_1", "/my/", "/my/autologin?token=abc", "/my/sign?token=x"]
)
def test_console_and_subscriber_pages_fall_back_to_the_app(server: str, path: str) -> None:
    status, ctype, body, headers = _get(server + path)
    assert status == 200 and ctype.startswith("text/html") and b"<title>console</title>" in body
    assert headers["Cache-Control"] == "no-cache"


def test_built_files_are_served_with_their_type_and_hashed_assets_are_immutable(server: str) -> None:
    status, ctype, body, headers = _get(server + "/assets/app-1234.js")
    assert status == 200 and "javascript" in ctype and body == b"console.log('app')"
    assert "immutable" in headers["Cache-Control"]
    status, ctype, _, _ = _get(server + "/favicon.svg")
    assert status == 200 and ctype.startswith("image/svg+xml")


def test_a_missing_asset_is_a_404_and_nothing_outside_the_build_is_served(server: str) -> None:
    assert _get(server + "/assets/gone.js")[0] == 404
    status, _, body, _ = _get(server + "/%2e%2e/secret.txt")
    assert b"outside the build" not in body and status in (200, 404)


def test_api_paths_stay_with_the_api(server: str) -> None:
    status, ctype, body, _ = _get(server + "/openapi.json")
    assert status == 200 and ctype.startswith("application/json") and "paths" in json.loads(body)
    status, ctype, body, _ = _get(server + "/portal/no-such-route")
    assert status in (403, 404) and b"console" not in body  # Chalice's answer, not the app


def test_without_a_build_non_api_paths_say_how_to_build(tmp_path: Path) -> None:
    assert local_web.resolve(tmp_path / "missing", "/subscribers") is None
