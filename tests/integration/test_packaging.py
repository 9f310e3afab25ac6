"""Each function's artifact, built the way ``sam build`` builds it, holds what its handler imports and
no more, and its handler imports in a clean interpreter from the artifact alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from infra import package
from infra.package import all_packages, build_artifact, lambda_packages, radius_package, requirements_text

ROOT = Path(__file__).resolve().parents[2]
# the Chalice CLI's dependencies: never in a function (Chalice's runtime is two files)
CLI_ONLY = {"click", "inquirer", "pip", "setuptools", "wheel", "yaml", "blessed", "readchar"}


def test_requirement_files_are_generated_from_requirements_txt():
    pinned = {
        str(Requirement(line))
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    for pkg in all_packages():
        path = pkg.requirements_path()
        assert path.read_text() == requirements_text(pkg), f"{path}: run `make template`"
        lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
        assert lines and set(lines) <= pinned, f"{path} names a version requirements.txt does not pin"
    stale = {p.name for p in package.REQUIREMENTS_DIR.glob("*.txt")} - {
        f"{p.name}.txt" for p in lambda_packages()
    }
    assert not stale, f"requirement files of no function: {stale}"


def test_template_points_each_function_at_its_staged_code():
    from infra.template.build import build_template

    for lid, res in build_template()["Resources"].items():
        if res["Type"] == "AWS::Serverless::Function":
            assert res["Properties"]["CodeUri"] == f"build/stage/{lid}/"


def _top_level(path: Path) -> set[str]:
    return {
        p.name.split(".")[0].split("-")[0]
        for p in path.iterdir()
        if not p.name.endswith((".dist-info", ".pth"))
    }


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict[str, Path]:
    """One artifact per function; functions whose handlers share a module have the same artifact,
    which is built once."""
    base = tmp_path_factory.mktemp("artifacts")
    by_entry: dict[str, Path] = {}
    out = {}
    for p in all_packages():
        if p.entry not in by_entry:
            by_entry[p.entry] = build_artifact(p, base / p.name, compile_code=False)
        out[p.name] = by_entry[p.entry]
    return out


@pytest.mark.parametrize("pkg", all_packages(), ids=lambda p: p.name)
def test_handler_imports_from_its_artifact_in_a_clean_interpreter(pkg, artifacts):
    art = artifacts[pkg.name]
    target = f"{pkg.entry}.{pkg.handler}" if pkg.handler else pkg.entry
    code = (
        "import importlib, sys\n"
        f"sys.path[:0] = [{str(art)!r}]\n"
        f"m = importlib.import_module({pkg.entry!r})\n"
        + (f"assert callable(getattr(m, {pkg.handler!r}))\n" if pkg.handler else "")
        + "bad = [n for n, mod in sys.modules.items() if getattr(mod, '__file__', None) and "
        "'site-packages' in mod.__file__]\n"
        "assert not bad, bad\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(AWS_DEFAULT_REGION="us-east-1", POWERTOOLS_TRACE_DISABLED="1", PYTHONDONTWRITEBYTECODE="1")
    # -I -S: no site-packages, no PYTHONPATH, no user site: only the standard library and the artifact
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"{target}: {proc.stderr[-3000:]}"


def test_artifacts_hold_what_their_code_imports_and_no_more(artifacts):
    for name, art in artifacts.items():
        top = _top_level(art)
        assert not top & CLI_ONLY, f"{name}: {top & CLI_ONLY}"
    api = _top_level(artifacts["ApiFunction"])
    assert {"api", "chalice", "pydantic", "reportlab", "openpyxl", "pynamodb", "boto3"} <= api
    for name in ("SessionReaperFunction", "ModulationRunFunction", "VpnPeersFunction", "radius"):
        top = _top_level(artifacts[name])
        assert not top & {"api", "chalice", "pydantic", "reportlab", "openpyxl", "PIL", "qrcode"}, (name, top)
    assert "radius_container" in _top_level(artifacts["radius"])
    assert "radius_container" not in api
    # the chalice runtime is the two files Chalice's own packager ships
    assert sorted(p.name for p in (artifacts["ApiFunction"] / "chalice").glob("*.py")) == [
        "__init__.py",
        "app.py",
    ]


def test_radius_requirements_are_the_radius_closure():
    assert radius_package().requirements_path() == ROOT / "radius_container" / "requirements.txt"
