"""The import contract of ``make lint`` (infra/lint/layers.py): it finds what it promises to find, and the
code base passes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.lint import layers


def _tree(root: Path, files: dict[str, str]) -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for name, text in files.items():
        path = root / "functions" / (name.replace(".", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        modules[name] = path
    return modules


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(layers, "ROOT", tmp_path)
    return tmp_path


def test_upward_sideways_and_library_imports_are_named_with_file_and_line(root: Path):
    modules = _tree(
        root,
        {
            "core.rules": "import os\n",
            "store.things": "from adapters.routeros import Client\n",
            "adapters.routeros": "class Client: ...\n",
            "services.billing": "from core import rules\n\ndef f():\n    from api.app import app\n",
            "services.catalog": "from pynamodb.models import Model\n",
            "api.app": "app = 1\n",
            "provisioner.handler": "from api import app\n",
        },
    )
    problems = [str(p) for p in layers.check_imports(modules)[0]]
    assert "functions/services/billing.py:4: upward import: services.billing (rank 3) -> api.app" in problems
    assert "functions/store/things.py:1: sideways import: store.things -> adapters.routeros" in problems
    assert any(
        p.startswith("functions/services/catalog.py:1: services.catalog imports pynamodb") for p in problems
    )
    assert any("sideways import: provisioner.handler -> api.app" in p for p in problems)
    assert len(problems) == 4  # core importing the standard library is fine


def test_cycles_count_function_level_imports(root: Path):
    modules = _tree(
        root,
        {
            "services.a": "from services import b\n",
            "services.b": "def later():\n    from services import a\n",
            "services.c": "from services import a\n",
        },
    )
    _, graph = layers.check_imports(modules)
    assert layers.find_cycles(graph) == [["services.a", "services.b"]]


def test_long_modules_and_functions_are_reported(root: Path):
    body = "\n".join(f"    x{i} = {i}" for i in range(85))
    (root / "functions").mkdir()
    path = root / "functions" / "big.py"
    path.write_text(f"def long_one():\n{body}\n\n\ndef short():\n    return 1\n" + "#\n" * 700)
    problems = [str(p) for p in layers.check_sizes([path])]
    assert problems == [
        "functions/big.py: 790 lines (limit 700): split it by concern",
        "functions/big.py:1: long_one is 86 lines (limit 80)",
    ]


def test_the_code_base_keeps_the_contract(capsys: pytest.CaptureFixture[str]):
    assert layers.main([]) == 0, capsys.readouterr().out
