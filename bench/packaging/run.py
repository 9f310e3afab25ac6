"""Cold start and size of the Lambda artifacts, built as ``sam build`` + ``make deploy`` build them.

    .venv/bin/python -m bench.packaging.run [--runs 7]

Builds every function's artifact (its code + the distributions of its requirements, from the
virtualenv), byte-compiles the API's as ``make deploy`` does, then imports the API handler in a
fresh interpreter that sees only the standard library and the artifact, ``--runs`` times. Prints
one JSON object per line: the cold import (minimum and median wall time, and the CPU time of the
whole interpreter, which a busy machine disturbs less), each artifact's size and file count, and the
stack's resource count after the SAM transform.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

for _p in ("functions", "."):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from infra.package import all_packages, build_artifact, compile_tree, tree_size  # noqa: E402

COLD_IMPORT_BUDGET_MS = 300


def emit(**fields: Any) -> None:
    print(json.dumps(fields, sort_keys=True), flush=True)


def cold_import(art: Path, module: str, runs: int) -> dict[str, float]:
    code = f"import sys, time; sys.path[:0] = [{str(art)!r}]; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(
            [sys.executable, "-I", "-S", "-c", code], env=env, capture_output=True, text=True, check=True
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall.append(float(out.stdout))
        cpu.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
    return {
        "min_ms": round(min(wall), 1),
        "median_ms": round(statistics.median(wall), 1),
        "process_cpu_min_ms": round(min(cpu), 1),
    }


def resource_count() -> int:
    from cfnlint.decode import cfn_yaml
    from samtranslator.translator.transform import transform

    tpl = cfn_yaml.load("template.yaml")
    for res in tpl["Resources"].values():
        if res["Type"] == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = "s3://bucket/code.zip"

    class _NoManagedPolicies:
        def load(self) -> dict[str, Any]:
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return len(transform(tpl, {}, _NoManagedPolicies())["Resources"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for pkg in all_packages():
            t0 = time.perf_counter()
            art = build_artifact(pkg, Path(tmp) / pkg.name, compile_code=False)
            files = sum(1 for p in art.rglob("*") if p.is_file())
            emit(
                bench="artifact",
                function=pkg.name,
                mb=round(tree_size(art) / 1e6, 1),
                files=files,
                requirements=len(pkg.requirements()),
                build_s=round(time.perf_counter() - t0, 1),
            )
        api = Path(tmp) / "ApiFunction"
        compile_tree(api)
        result = cold_import(api, "api.app", args.runs)
        emit(
            bench="cold_import",
            handler="api.app.handle_http",
            runs=args.runs,
            budget_ms=COLD_IMPORT_BUDGET_MS,
            # judged on the interpreter's CPU time (start-up included): a loaded machine inflates wall time
            within_budget=result["process_cpu_min_ms"] <= COLD_IMPORT_BUDGET_MS,
            **result,
        )
    emit(bench="stack", resources=resource_count(), limit=500)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
