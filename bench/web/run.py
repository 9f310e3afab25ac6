"""The web console: bundle size, and time to first render of the subscriber list with 1,000 subscribers.

    .venv/bin/python -m bench.web.run [--subscribers 1000] [--runs 5]

Prints JSON lines. `bundle`: bytes of the built console (web/dist) in all, and of what the subscriber
list loads (raw and gzip -9, the transfer size behind a compressing CDN). `subscriber_list_first_render`:
headless Chromium (Debian's chromium) against `make run`'s stack on free ports, with the tenant seeded
to N subscribers: milliseconds from navigation start until the first page of rows (50) is on screen,
cold (new browser context, empty cache) and warm (reload). Milliseconds depend on the machine; the
byte counts do not.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

for _key, _value in (
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
    ("POWERTOOLS_TRACE_DISABLED", "1"),
    ("POWERTOOLS_LOG_LEVEL", "ERROR"),
):
    os.environ.setdefault(_key, _value)

from tests.e2e.local_stack_support import ROOT, Stack, start_stack  # noqa: E402
from tests.e2e.test_web import web_stack_env  # noqa: E402

DIST = ROOT / "web" / "dist"


def emit(**fields: Any) -> None:
    print(json.dumps(fields, sort_keys=True), flush=True)


def _gz(data: bytes) -> int:
    return len(gzip.compress(data, 9))


def bundle(loaded: list[str]) -> dict[str, Any]:
    files = [p for p in DIST.rglob("*") if p.is_file()]
    assets = {f"/{p.relative_to(DIST).as_posix()}": p.read_bytes() for p in files}
    initial = {name: assets[name] for name in dict.fromkeys(["/index.html", *loaded]) if name in assets}
    return {
        "dist_files": len(files),
        "dist_bytes": sum(len(b) for b in assets.values()),
        "dist_js_bytes": sum(len(b) for n, b in assets.items() if n.endswith(".js")),
        "subscriber_list_files": len(initial),
        "subscriber_list_bytes": sum(len(b) for b in initial.values()),
        "subscriber_list_gzip_bytes": sum(_gz(b) for b in initial.values()),
    }


def seed(stack: Stack, n: int) -> None:
    """N subscribers of the demo tenant written straight into the stack's tables (batch writes), then
    the tenant's totals counters recounted."""
    os.environ["WISP_AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{stack.env['WISP_MOTO_PORT']}"
    os.environ["WISP_STAGE"] = "local"
    os.environ["WISP_DATA_KEY_FILE"] = str(Path(stack.env["WISP_LOCAL_DIR"]) / "data.key")
    from composition import init_runtime
    from core.ids import now_iso
    from infra.local.demo import DEMO_TENANT
    from services.subscribers import recount_totals
    from shared.settings import Settings
    from store.models import Subscriber

    rt = init_runtime(Settings.from_env(dict(os.environ)))
    statuses = ("active", "active", "active", "suspended", "new", "free", "inactive", "cancelled")
    now = now_iso()
    with Subscriber.batch_write() as batch:
        for i in range(n):
            name = f"b{i:05d}"
            batch.save(
                Subscriber(
                    login=f"{DEMO_TENANT}#{name}",
                    id=f"sub_{name}",
                    tenant_id=DEMO_TENANT,
                    username=name,
                    name=f"Bench subscriber {i}",
                    password_enc=rt.box.encrypt(f"pw{i}"),
                    status=statuses[i % len(statuses)],
                    connection_type="pppoe",
                    gateway_id="gw_demo",
                    zone_id="zone_demo",
                    product_id="prod_demo",
                    ip=f"10.{60 + i // 250}.{i % 250}.10",
                    created_at=now,
                )
            )
    recount_totals(DEMO_TENANT)  # the totals counters, as the daily repair job counts them


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if not (DIST / "index.html").exists():
        print("web/dist is missing: run `make web`", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        stack = start_stack(web_stack_env(Path(tmp) / "local"))
        try:
            seed(stack, args.subscribers)
            env = dict(
                os.environ,
                WISP_BASE_URL=stack.api,
                WISP_MANAGER_TOKEN=stack.token("manager"),
                WISP_BENCH_RUNS=str(args.runs),
            )
            run = subprocess.run(
                ["node", "e2e/bench.mjs"],
                cwd=ROOT / "web",
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            if run.returncode != 0:
                print(run.stdout + run.stderr, file=sys.stderr)
                return 1
            result = json.loads(run.stdout.strip().splitlines()[-1])
        finally:
            stack.ensure_stopped()
    loaded = [r["name"] for r in result.pop("resources")]
    emit(bench="web", metric="bundle", **bundle(loaded))
    emit(
        bench="web",
        metric="subscriber_list_first_render",
        subscribers=args.subscribers + 1,  # and the demo subscriber
        runs=args.runs,
        **result,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
