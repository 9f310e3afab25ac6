"""The web console and the subscriber pages (``web/dist``), served by the local API server.

The API keeps every path it declares (``/admin/*``, ``/portal/*``, ``/health``, ``/openapi.json``): a
request whose first path segment is one of the API's goes to Chalice. Any other GET/HEAD is a file of
the built console, or ``index.html`` (the single-page application routes on the client: ``/``,
``/subscribers``, ``/my/…``). Without a build, those paths answer 404 with a line saying how to build.
Settings (environment): WISP_WEB_DIST (``web/dist``).
"""

from __future__ import annotations

import mimetypes
import os
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from chalice import Chalice
from chalice.local import ChaliceRequestHandler

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIST = ROOT / "web" / "dist"


def dist_dir(env: dict[str, str] | None = None) -> Path:
    return Path((env if env is not None else os.environ).get("WISP_WEB_DIST", str(DEFAULT_DIST)))


def api_segments(app: Chalice) -> frozenset[str]:
    """First path segments the API owns (``admin``, ``portal``, ``health``, ``openapi.json``, …)."""
    return frozenset(path.strip("/").split("/", 1)[0] for path in app.routes)


def resolve(dist: Path, url_path: str) -> Path | None:
    """The file to serve for a non-API path: an existing file under ``dist`` or its ``index.html``."""
    rel = unquote(url_path).lstrip("/")
    root = dist.resolve()
    if rel:
        candidate = (root / rel).resolve()
        if candidate.is_relative_to(root) and candidate.is_file():
            return candidate
        if rel.startswith("assets/"):  # a missing hashed asset is a 404, not the page
            return None
    index = root / "index.html"
    return index if index.is_file() else None


@cache
def _read(path: Path, mtime: float) -> bytes:  # mtime in the key: a rebuild is picked up
    return path.read_bytes()


def handler_class(
    app: Chalice, dist: Path, base: type[ChaliceRequestHandler] = ChaliceRequestHandler
) -> type[ChaliceRequestHandler]:
    """A request handler that serves the console for non-API paths and hands the rest to ``base``
    (Chalice's local handler, or the local stack's own)."""
    owned = api_segments(app)

    class Handler(base):  # type: ignore[valid-type,misc]
        def _is_api(self) -> bool:
            first = urlsplit(self.path).path.strip("/").split("/", 1)[0]
            return first in owned

        def _serve_static(self, head: bool) -> None:
            url_path = urlsplit(self.path).path
            path = resolve(dist, url_path)
            if path is None:
                body = b"not found (build the web console with `make web`)\n"
                self._send(404, "text/plain; charset=utf-8", body, head, "no-store")
                return
            ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if ctype.startswith("text/") or ctype in ("application/javascript", "image/svg+xml"):
                ctype += "; charset=utf-8"
            hashed = path.parent.name == "assets"
            cache_control = "public, max-age=31536000, immutable" if hashed else "no-cache"
            self._send(200, ctype, _read(path, path.stat().st_mtime), head, cache_control)

        def _send(self, status: int, ctype: str, body: bytes, head: bool, cache_control: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", cache_control)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def do_GET(self) -> None:
            if self._is_api():
                super().do_GET()  # type: ignore[misc]
            else:
                self._serve_static(head=False)

        def do_HEAD(self) -> None:
            if self._is_api():
                super().do_HEAD()  # type: ignore[misc]
            else:
                self._serve_static(head=True)

    return Handler


def server_kwargs(
    app: Chalice, env: dict[str, str] | None = None, base: type[ChaliceRequestHandler] | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``chalice.local.LocalDevServer`` that add the console."""
    return {"handler_cls": handler_class(app, dist_dir(env), base or ChaliceRequestHandler)}


def write_openapi(path: Path) -> None:
    """Write the API description the console's typed client is generated from (``make web``)."""
    import json

    from api.app import load_all_routes
    from api.openapi import build_openapi

    load_all_routes()  # every route module registered, as the local server has them

    text = json.dumps(build_openapi(), indent=1, sort_keys=True) + "\n"
    if not path.exists() or path.read_text() != text:  # unchanged: keep the mtime, skip the rebuild
        path.write_text(text)


if __name__ == "__main__":
    import sys

    write_openapi(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "web" / "openapi.json")
