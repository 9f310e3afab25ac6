"""What each function may touch, read from its code: the template grants exactly this (one role per
function and one for the RADIUS task), and ``tests/integration/test_template_access.py`` derives it
again and compares it with ``template.yaml``.

Reachability: from the handler (plus every module body, which runs on import, and every decorated
function, which registers a route or callback) through the names each function uses, resolved via
the module's imports; a method called on an object of unknown type stands for every first-party
method of that name.

Tables: in each reachable function, a pynamodb model named where ``save``/``update(actions…)``/
``update_item``/``put_item``/``batch_write``/``TransactWrite`` is called is written; where
``delete``/``delete_item`` is called, deleted; otherwise read. A function that writes without
naming a model (a generic transaction helper) writes every model its module names. ``store.models``
(and its modules) and ``store.db`` (definitions, local table creation) are left out. The result
over-approximates within a function and never misses a write the code can make by name.

Other services: ``client("s3")``, ``client("sqs")``… in the reachable functions; the queues named by
the settings they read (``settings.<name>_queue_url``), and S3 multipart uploads
(``abort_multipart_upload``: the upload's parts are otherwise sent with ``s3:PutObject``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cache

from infra.package import Package, _module_path, _runtime_nodes, import_source

SKIP = {"store.models", "store.db"}
WRITE_CALLS = {"save", "update_item", "put_item", "batch_write", "TransactWrite"}
DELETE_CALLS = {"delete", "delete_item"}

READ_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
)
WRITE_ACTIONS = ("dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
DELETE_ACTIONS = ("dynamodb:DeleteItem",)


@cache
def model_tables() -> dict[str, str]:
    """Model class name → table base name."""
    from store.models import ALL_MODELS

    return {m.__name__: m.Meta.base_name for m in ALL_MODELS}  # type: ignore[attr-defined]


@dataclass
class Access:
    read: set[str] = field(default_factory=set)  # table base names
    write: set[str] = field(default_factory=set)
    delete: set[str] = field(default_factory=set)
    services: set[str] = field(default_factory=set)  # AWS clients used: s3, sqs, ses, sns, kms, ssm
    queues: set[str] = field(default_factory=set)  # SQS queues by setting: provision, jobs
    multipart: bool = False  # writes S3 multipart uploads (and aborts them)

    def actions(self, table: str) -> list[str]:
        out: list[str] = []
        if table in self.read | self.write | self.delete:
            out += READ_ACTIONS
        if table in self.write:
            out += WRITE_ACTIONS
        if table in self.delete:
            out += DELETE_ACTIONS
        return sorted(out)

    @property
    def tables(self) -> set[str]:
        return self.read | self.write | self.delete


def _call_name(node: ast.Call) -> str | None:
    f = node.func
    if isinstance(f, ast.Attribute):
        return f.attr
    if isinstance(f, ast.Name):
        return f.id
    return None


def _kind(node: ast.Call) -> str | None:
    name = _call_name(node)
    if name in WRITE_CALLS:
        return "write"
    if name in DELETE_CALLS:
        return "delete"
    if name == "update" and (
        any(k.arg == "actions" for k in node.keywords)
        or len(node.args) >= 2
        or (node.args and isinstance(node.args[0], ast.List | ast.ListComp))
    ):
        return "write"  # pynamodb's update(actions…), not dict.update
    return None


Unit = tuple[str, str]  # (module, "function" | "Class.method" | "<module>")


@dataclass
class _Unit:
    access: Access
    generic: set[str]  # write kinds without a model named (apply to the module's models)
    refs: set[str]  # names referenced: "alias", "alias.attr", "Class.attr"
    calls: set[str]  # attribute calls on unknown objects: method names


@dataclass
class _Module:
    units: dict[str, _Unit]
    imports: dict[str, str]  # local name → absolute module or "module:attr"
    classes: dict[str, list[str]]  # class → method names
    models: set[str]
    decorated: list[str]  # top-level functions with decorators


def _note_reference(n: ast.AST, u: _Unit, tables: dict[str, str]) -> None:
    """A name, attribute or string constant: what it refers to, and the model it reads."""
    if isinstance(n, ast.Name):
        u.refs.add(n.id)
        if n.id in tables:
            u.access.read.add(tables[n.id])
    elif isinstance(n, ast.Attribute):
        if isinstance(n.value, ast.Name):
            u.refs.add(f"{n.value.id}.{n.attr}")
        elif isinstance(n.value, ast.Attribute) and isinstance(n.value.value, ast.Name):
            u.refs.add(f"{n.value.value.id}.{n.value.attr}.{n.attr}")
        if n.attr in tables:
            u.access.read.add(tables[n.attr])
        if n.attr.endswith("_queue_url"):
            u.access.queues.add(n.attr.removesuffix("_queue_url"))
    elif isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in tables:
        u.access.read.add(tables[n.value])


def _note_call(n: ast.Call, u: _Unit, kinds: set[str]) -> None:
    """A call: the write kind it makes, the method it calls, the AWS service client it opens."""
    kind = _kind(n)
    if kind:
        kinds.add(kind)
    if isinstance(n.func, ast.Attribute):
        u.calls.add(n.func.attr)
        if n.func.attr == "abort_multipart_upload":
            u.access.multipart = True
    if (
        _call_name(n) == "client"
        and n.args
        and isinstance(n.args[0], ast.Constant)
        and isinstance(n.args[0].value, str)
    ):
        u.access.services.add(n.args[0].value)


def _unit_of(name: str, node: ast.AST) -> _Unit:
    tables = model_tables()
    u = _Unit(Access(), set(), set(), set())
    kinds: set[str] = set()
    for n in _runtime_nodes(node):
        _note_reference(n, u, tables)
        if isinstance(n, ast.Call):
            _note_call(n, u, kinds)
    models = set(u.access.read)
    if "write" in kinds:
        u.access.write |= models
    if "delete" in kinds:
        u.access.delete |= models
    if kinds and not models:
        u.generic = kinds
    return u


@cache
def parse_module(name: str) -> _Module:
    path = _module_path(name)
    assert path is not None, name
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    mod = _Module({}, {}, {}, set(), [])
    rest: list[ast.stmt] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            mod.units[stmt.name] = _unit_of(stmt.name, stmt)
            if stmt.decorator_list:
                mod.decorated.append(stmt.name)
        elif isinstance(stmt, ast.ClassDef):
            mod.classes[stmt.name] = []
            body: list[ast.stmt] = []
            for item in stmt.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    mod.classes[stmt.name].append(item.name)
                    mod.units[f"{stmt.name}.{item.name}"] = _unit_of(item.name, item)
                else:
                    body.append(item)
            mod.units[stmt.name] = _unit_of(stmt.name, ast.Module(body=[*body], type_ignores=[]))
            mod.units[stmt.name].refs |= {b.id for b in stmt.bases if isinstance(b, ast.Name)}
            mod.units[stmt.name].refs |= {d.id for d in stmt.decorator_list if isinstance(d, ast.Name)}
        else:
            rest.append(stmt)
    mod.units["<module>"] = _unit_of("<module>", ast.Module(body=rest, type_ignores=[]))
    for n in _runtime_nodes(tree):
        if isinstance(n, ast.Import):
            for a in n.names:
                mod.imports[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(n, ast.ImportFrom):
            src = import_source(n, package)
            for a in n.names:
                full = f"{src}.{a.name}"
                mod.imports[a.asname or a.name] = full if _module_path(full) else f"{src}:{a.name}"
    for u in mod.units.values():
        mod.models |= u.access.read
    return mod


def _targets(module: str, ref: str, modules: set[str]) -> list[Unit]:
    """Units a reference inside ``module`` may mean."""
    mod = parse_module(module)
    head, _, tail = ref.partition(".")
    if head in mod.units or head in mod.classes:
        return _expand(module, ref)
    target = mod.imports.get(head)
    if target is None:
        return []
    if ":" in target:  # from module import name
        src, _, name = target.partition(":")
        if src in modules:
            return _expand(src, f"{name}.{tail}" if tail else name)
        return []
    if target in modules and tail:  # module alias: alias.name[.attr]
        first, _, rest = tail.partition(".")
        sub = f"{target}.{first}"
        if sub in modules:
            return _targets_in_module(sub, rest)
        return _expand(target, tail)
    return []


def _targets_in_module(module: str, ref: str) -> list[Unit]:
    return _expand(module, ref) if ref else [(module, "<module>")]


def _expand(module: str, ref: str) -> list[Unit]:
    mod = parse_module(module)
    head, _, tail = ref.partition(".")
    if head in mod.classes:  # a class: its body and, conservatively, every method
        if tail and f"{head}.{tail.split('.')[0]}" in mod.units:
            return [(module, f"{head}.{tail.split('.')[0]}")]
        return [(module, head)] + [(module, f"{head}.{m}") for m in mod.classes[head]]
    if head in mod.units:
        return [(module, head)]
    target = mod.imports.get(head)  # re-exported name
    if target and ":" in target:
        src, _, name = target.partition(":")
        if _module_path(src):
            return _expand(src, f"{name}.{tail}" if tail else name)
    return []


def reachable_units(pkg: Package) -> set[Unit]:
    """Every unit the handler (and the import of its modules) can call, by name resolution; a method
    called on an object of unknown type stands for every first-party method of that name."""
    modules = {m for m in pkg.closure.modules if m not in SKIP and not m.startswith("store.models.")}
    methods: dict[str, list[Unit]] = {}
    for m in modules:
        for cls, names in parse_module(m).classes.items():
            for n in names:
                methods.setdefault(n, []).append((m, f"{cls}.{n}"))
    # roots: the handler, every module body (run on import) and every decorated function outside the
    # handler's module (decorators register routes and callbacks when their module is imported)
    todo: list[Unit] = [(m, "<module>") for m in modules]
    own = pkg.handler in parse_module(pkg.entry).units  # a def (else an assignment: the module body)
    if own:
        todo.append((pkg.entry, str(pkg.handler)))
    for m in modules:
        if m != pkg.entry or not own:
            todo.extend((m, n) for n in parse_module(m).decorated)
    seen: set[Unit] = set()
    while todo:
        unit = todo.pop()
        if unit in seen or unit[0] not in modules:
            continue
        seen.add(unit)
        u = parse_module(unit[0]).units[unit[1]]
        for ref in u.refs:
            todo.extend(_targets(unit[0], ref, modules))
        for name in u.calls:
            todo.extend(methods.get(name, ()))
    return seen


def package_access(pkg: Package) -> Access:
    out = Access()
    for module, name in reachable_units(pkg):
        u = parse_module(module).units[name]
        out.read |= u.access.read
        out.write |= u.access.write
        out.delete |= u.access.delete
        out.services |= u.access.services
        out.queues |= u.access.queues
        out.multipart |= u.access.multipart
        models = parse_module(module).models
        if "write" in u.generic:
            out.write |= models
            out.read |= models
        if "delete" in u.generic:
            out.delete |= models
            out.read |= models
    return out
