"""The import contract: one folder per layer, imports only downward, no cycles, small modules and functions.

Run by ``make lint`` (``python -m infra.lint.layers``). Every import counts, including those inside
functions (a function-level import is still a dependency; hiding one there does not break a cycle).

Ranks, lowest first (a package may import its own rank only where the table says so)::

    core            0  pure rules, stdlib only
    shared          1  settings, crypto, tokens, observability, notifier
    store adapters  2  DynamoDB (store) and every other outbound I/O (adapters); neither imports the other
    services        3  operations, in bounded contexts
    composition     4  the wiring the entry points call
    api billing_cron jobs provisioner radius_container   5  entry points; none imports another
    infra bench tests   anything (tools, local stack, benchmarks, tests)

Also: only ``store`` imports pynamodb; boto3 only in ``store``, ``adapters`` and ``shared.aws``.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE_ROOTS = {"functions": ROOT / "functions", "": ROOT}

RANKS: dict[str, int] = {
    "core": 0,
    "shared": 1,
    "store": 2,
    "adapters": 2,
    "services": 3,
    "composition": 4,
    "api": 5,
    "billing_cron": 5,
    "jobs": 5,
    "provisioner": 5,
    "radius_container": 5,
}
CHECKED = tuple(RANKS)
# Same-rank packages that must not import each other.
SIBLINGS_APART = {"store", "adapters", "api", "billing_cron", "jobs", "provisioner", "radius_container"}
AWS_CLIENTS = {"store", "adapters", "shared.aws"}
DATA_LIBRARIES = {"pynamodb": {"store"}, "boto3": AWS_CLIENTS, "botocore": AWS_CLIENTS}
MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 80


@dataclass(frozen=True)
class Problem:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in CHECKED:
        base = ROOT / "functions" / package
        if not base.exists():
            base = ROOT / package
        if not base.exists():
            continue
        parent = base.parent
        paths = [base] if base.is_file() else sorted(base.rglob("*.py"))
        if base.is_dir() and (base.parent / f"{package}.py").exists():
            paths.append(base.parent / f"{package}.py")
        for path in paths:
            rel = path.relative_to(parent).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    composition = ROOT / "functions" / "composition.py"
    if composition.exists():
        found["composition"] = composition
    return found


def _imports(module: str, path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            out.append((node.lineno, base))
            out.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest known module that ``name`` names (``a.b.c`` may be module ``a.b`` plus attribute c)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _package(module: str) -> str:
    return module.split(".")[0]


def _library_allowed(library: str, module: str) -> bool:
    allowed = DATA_LIBRARIES[library]
    return any(module == a or module.startswith(a + ".") for a in allowed)


def check_imports(modules: dict[str, Path]) -> tuple[list[Problem], dict[str, set[str]]]:
    problems: list[Problem] = []
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        own = _package(module)
        seen: set[tuple[int, str]] = set()
        for line, name in _imports(module, path):
            top = name.split(".")[0]
            where = f"{path.relative_to(ROOT)}:{line}"
            if (line, top) in seen:
                continue
            if top in DATA_LIBRARIES and not _library_allowed(top, module):
                seen.add((line, top))
                problems.append(
                    Problem(where, f"{module} imports {top} (only {sorted(DATA_LIBRARIES[top])})")
                )
                continue
            target = _resolve(name, modules)
            if target is None or target == module:
                continue
            graph[module].add(target)
            other = _package(target)
            if other == own:
                continue
            seen.add((line, top))
            if RANKS[other] > RANKS[own]:
                problems.append(Problem(where, f"upward import: {module} (rank {RANKS[own]}) -> {target}"))
            elif RANKS[other] == RANKS[own] and (own in SIBLINGS_APART or other in SIBLINGS_APART):
                problems.append(Problem(where, f"sideways import: {module} -> {target}"))
    return problems, graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def check_sizes(paths: list[Path]) -> list[Problem]:
    problems: list[Problem] = []
    for path in paths:
        text = path.read_text()
        rel = path.relative_to(ROOT)
        lines = text.count("\n")
        if lines > MAX_MODULE_LINES:
            problems.append(
                Problem(str(rel), f"{lines} lines (limit {MAX_MODULE_LINES}): split it by concern")
            )
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    problems.append(
                        Problem(
                            f"{rel}:{node.lineno}",
                            f"{node.name} is {length} lines (limit {MAX_FUNCTION_LINES})",
                        )
                    )
    return problems


def sized_paths() -> list[Path]:
    out: list[Path] = []
    for folder in ("functions", "radius_container", "infra", "bench"):
        out.extend(sorted((ROOT / folder).rglob("*.py")))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="print the problems but exit 0")
    args = parser.parse_args(argv)
    modules = _modules()
    problems, graph = check_imports(modules)
    for component in find_cycles(graph):
        problems.append(Problem("import cycle", " -> ".join(component)))
    problems.extend(check_sizes(sized_paths()))
    for problem in problems:
        print(problem)
    print(
        f"layers: {len(modules)} modules, {sum(map(len, graph.values()))} imports, {len(problems)} problems"
    )
    return 0 if args.report or not problems else 1


if __name__ == "__main__":
    sys.exit(main())
