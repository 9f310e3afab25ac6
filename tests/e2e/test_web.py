"""The web console and the subscriber pages in headless Chromium (Debian's chromium, playwright-core)
against `make run`'s stack: the Node test suite in web/e2e/ drives the browser, audits accessibility
with axe-core on every screen it visits, and (with WISP_SCREENSHOTS) saves the README screenshots."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.local_stack_support import ROOT, Stack, stack_env, start_stack

pytestmark = pytest.mark.e2e
WEB = ROOT / "web"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (Debian package chromium; .ci/run installs it)"
    if shutil.which("node") is None or not (WEB / "node_modules" / "playwright-core").is_dir():
        return "node and web/node_modules are needed (make web)"
    if not (WEB / "dist" / "index.html").exists():
        return "web/dist is missing (make web)"
    if shutil.which("radclient") is None:
        return "radclient is missing (Debian package freeradius-utils)"
    return None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)  # CI installs all of it: a gap there is a failure, not a skip
        pytest.skip(missing)
    stack = start_stack(web_stack_env(tmp_path_factory.mktemp("local")))
    yield stack
    stack.ensure_stopped()


def web_stack_env(local_dir: Path) -> dict[str, str]:
    """The stack on free ports; the links it builds (auto-login, signing) point at its own API port."""
    env = stack_env(local_dir)
    env["WISP_PUBLIC_BASE_URL"] = f"http://127.0.0.1:{env['WISP_API_PORT']}"
    return env


OWN_CASES = ("paging.test.mjs",)  # browser tests run by a case of their own below


def run_browser_tests(stack: Stack, files: list[str]) -> None:
    """Run these test files of web/e2e/ in the browser against the stack; every test passes."""
    env = dict(
        os.environ,
        WISP_BASE_URL=stack.api,
        WISP_MANAGER_TOKEN=stack.token("manager"),
        WISP_RADIUS_ACCT_PORT=stack.env["WISP_RADIUS_ACCT_PORT"],
        CHROMIUM=CHROMIUM,
    )
    screenshots = os.environ.get("WISP_SCREENSHOTS")
    if screenshots:
        env["WISP_SCREENSHOTS"] = str((ROOT / screenshots).resolve())
    run = subprocess.run(
        ["node", "--test", "--test-concurrency=1", "--test-reporter=spec", *(f"e2e/{f}" for f in files)],
        cwd=WEB,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-20000:]
    assert "# fail 0" in out or "ℹ fail 0" in out, out[-5000:]


def test_console_and_subscriber_pages_in_chromium(stack: Stack) -> None:
    files = sorted(p.name for p in (WEB / "e2e").glob("*.test.mjs") if p.name not in OWN_CASES)
    assert files
    run_browser_tests(stack, files)


def test_a_list_longer_than_a_page_loads_more_in_chromium(stack: Stack) -> None:
    run_browser_tests(stack, ["paging.test.mjs"])
