"""The router's menus in memory: rows with ``.id``, unique keys indexed, and the API verbs
(``print``, ``add``, ``set``, ``unset``, ``enable``/``disable``, ``remove``) with RouterOS' validation."""

from __future__ import annotations

import threading

from infra.local.routeros_sim.menus import (
    MENUS,
    NORMALISE,
    NORMALISE_PER_MENU,
    PRINT_ARGS,
    Trap,
    ValueError_,
)
from infra.local.routeros_sim.query import compile_query
from infra.local.routeros_sim.wire import WireError

_ROW_VERBS = ("add", "set", "unset", "enable", "disable")


class RouterTables:
    """The menus of one router; :class:`~infra.local.routeros_sim.server.FakeRouter` serves them."""

    def __init__(self, identity: str) -> None:
        self._lock = threading.RLock()
        self._rows: dict[str, list[dict[str, str]]] = {m: [] for m in MENUS}
        self._by_id: dict[str, dict[str, dict[str, str]]] = {m: {} for m in MENUS}
        self._unique: dict[str, dict[tuple[str, ...], str]] = {m: {} for m in MENUS}
        self._next_id = 1
        self._rows["/system/identity"].append({"name": identity})
        self._rows["/system/resource"].append(dict(MENUS["/system/resource"].defaults))
        for menu in ("/ppp/profile", "/ip/hotspot/user/profile"):
            self._insert(menu, {**MENUS[menu].defaults, "name": "default", "default": "true"})
        self._insert(
            "/ppp/profile",
            {
                **MENUS["/ppp/profile"].defaults,
                "name": "default-encryption",
                "use-encryption": "yes",
                "default": "true",
            },
        )

    # ------------------------------------------------------------ state access for tests
    def rows(self, menu: str) -> list[dict[str, str]]:
        with self._lock:
            return [dict(r) for r in self._rows[menu]]

    def find(self, menu: str, **attrs: str) -> list[dict[str, str]]:
        want = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [r for r in self.rows(menu) if all(r.get(k) == v for k, v in want.items())]

    def add_row(self, menu: str, **attrs: str) -> str:
        """Create a row directly (hand-made by an operator, or a session the router opened)."""
        values = {k.replace("_", "-"): str(v) for k, v in attrs.items()}
        with self._lock:
            return self._add(menu, values, from_api=False)

    def remove_row(self, menu: str, row_id: str) -> None:
        with self._lock:
            self._remove(menu, [row_id])

    def set_row(self, menu: str, row_id: str, **attrs: str) -> None:
        with self._lock:
            self._set(menu, row_id, {k.replace("_", "-"): str(v) for k, v in attrs.items()}, from_api=False)

    # ------------------------------------------------------------ API verbs
    def _dispatch(
        self, command: str, attrs: dict[str, str], api_attrs: dict[str, str], queries: list[str]
    ) -> tuple[list[dict[str, str]], str | None]:
        menu, _, verb = command.rpartition("/")
        if menu not in MENUS:
            raise Trap("no such command prefix", 0)
        spec = MENUS[menu]
        with self._lock:
            if verb in ("print", "getall"):
                return self._print(menu, attrs, api_attrs, queries)
            if spec.singleton:
                if verb == "set" and not spec.read_only:
                    self._set_singleton(menu, attrs)
                    return [], None
                raise Trap("no such command", 0)
            if verb == "remove":
                self._remove(menu, self._ids(attrs))
                return [], None
            if verb in _ROW_VERBS and not spec.read_only:
                return self._row_verb(menu, verb, attrs)
        raise Trap("no such command", 0)

    def _row_verb(
        self, menu: str, verb: str, attrs: dict[str, str]
    ) -> tuple[list[dict[str, str]], str | None]:
        if verb == "add":
            return [], self._add(menu, attrs, from_api=True)
        if verb == "set":
            for row_id in self._ids(attrs):
                self._set(
                    menu,
                    row_id,
                    {k: v for k, v in attrs.items() if k not in (".id", "numbers")},
                    from_api=True,
                )
        elif verb == "unset":
            self._unset(menu, attrs)
        else:
            for row_id in self._ids(attrs):
                self._row(menu, row_id)["disabled"] = "true" if verb == "disable" else "false"
        return [], None

    def _set_singleton(self, menu: str, attrs: dict[str, str]) -> None:
        unknown = set(attrs) - MENUS[menu].fields
        if unknown:
            raise Trap(f"unknown parameter {sorted(unknown)[0]}", 0)
        self._rows[menu][0].update(attrs)

    def _unset(self, menu: str, attrs: dict[str, str]) -> None:
        spec = MENUS[menu]
        name = attrs.get("value-name", "")
        if name not in spec.fields:
            raise Trap(f"unknown parameter {name}", 0)
        for row_id in self._ids(attrs):
            row = self._row(menu, row_id)
            self._unindex(menu, row)
            row.pop(name, None)
            if name in spec.defaults:
                row[name] = spec.defaults[name]
            self._index(menu, row)

    @staticmethod
    def _ids(attrs: dict[str, str]) -> list[str]:
        raw = attrs.get(".id") or attrs.get("numbers")
        if not raw:
            raise Trap("missing =.id= argument", 1)
        return [x.strip() for x in raw.split(",") if x.strip()]

    def _row(self, menu: str, row_id: str) -> dict[str, str]:
        row = self._by_id[menu].get(row_id)
        if row is None:
            raise Trap("no such item", 1)
        return row

    # unique keys are indexed so that a router with thousands of entries answers as fast as RouterOS
    def _unique_key(self, menu: str, row: dict[str, str]) -> tuple[str, ...] | None:
        unique = MENUS[menu].unique
        if not unique or any(k not in row for k in unique):
            return None
        return tuple(row[k] for k in unique)

    def _index(self, menu: str, row: dict[str, str]) -> None:
        key = self._unique_key(menu, row)
        if key is not None:
            self._unique[menu][key] = row[".id"]

    def _unindex(self, menu: str, row: dict[str, str]) -> None:
        key = self._unique_key(menu, row)
        if key is not None and self._unique[menu].get(key) == row[".id"]:
            del self._unique[menu][key]

    def _print(
        self, menu: str, attrs: dict[str, str], api_attrs: dict[str, str], queries: list[str]
    ) -> tuple[list[dict[str, str]], str | None]:
        for k in attrs:
            if k not in PRINT_ARGS:
                raise Trap(f"unknown parameter {k}", 0)
        try:
            pred = compile_query(queries)
        except WireError as exc:
            raise Trap(str(exc), 0) from exc
        rows = [r for r in self._rows[menu] if pred(r)]
        if "count-only" in attrs:
            return [], str(len(rows))
        proplist = api_attrs.get(".proplist") or attrs.get(".proplist")
        if proplist:
            keys = [k for k in proplist.split(",") if k]
            return [{k: r[k] for k in keys if k in r} for r in rows], None
        return [dict(r) for r in rows], None

    def _normalise(self, menu: str, key: str, value: str) -> str:
        fn = NORMALISE_PER_MENU.get(menu, {}).get(key) or NORMALISE.get(key)
        if fn is None:
            return value
        try:
            return fn(value)
        except ValueError_:
            raise Trap(f"invalid value for argument {key}", 1) from None

    def _insert(self, menu: str, row: dict[str, str], before: str | None = None) -> str:
        row_id = f"*{self._next_id:X}"
        self._next_id += 1
        new = {".id": row_id, **row}
        rows = self._rows[menu]
        if before is not None:
            for i, r in enumerate(rows):
                if r[".id"] == before:
                    rows.insert(i, new)
                    break
            else:
                raise Trap("no such item", 1)
        else:
            rows.append(new)
        self._by_id[menu][row_id] = new
        self._index(menu, new)
        return row_id

    def _add(self, menu: str, attrs: dict[str, str], *, from_api: bool) -> str:
        spec = MENUS[menu]
        values = dict(attrs)
        before = values.pop("place-before", None) if spec.ordered else None
        if from_api:
            unknown = set(values) - spec.fields
            if unknown:
                raise Trap(f"unknown parameter {sorted(unknown)[0]}", 0)
            for req in spec.required:
                if not values.get(req):
                    raise Trap(f"failure: {req} not specified", 1)
        values = {k: self._normalise(menu, k, v) for k, v in values.items()}
        if spec.auto_name and not values.get("name"):
            n = 1
            names = {r.get("name") for r in self._rows[menu]}
            while f"{spec.auto_name}{n}" in names:
                n += 1
            values["name"] = f"{spec.auto_name}{n}"
        self._check_unique(menu, values, None)
        row = {**spec.defaults, **values}
        return self._insert(menu, row, before)

    def _set(self, menu: str, row_id: str, attrs: dict[str, str], *, from_api: bool) -> None:
        spec = MENUS[menu]
        if from_api:
            unknown = set(attrs) - spec.fields
            if unknown:
                raise Trap(f"unknown parameter {sorted(unknown)[0]}", 0)
        row = self._row(menu, row_id)
        values = {k: self._normalise(menu, k, v) for k, v in attrs.items()}
        self._check_unique(menu, {**row, **values}, row_id)
        self._unindex(menu, row)
        row.update(values)
        self._index(menu, row)

    def _check_unique(self, menu: str, values: dict[str, str], row_id: str | None) -> None:
        key = self._unique_key(menu, values)
        if key is None:
            return
        holder = self._unique[menu].get(key)
        if holder is not None and holder != row_id:
            raise Trap(MENUS[menu].unique_message, 1)

    def _remove(self, menu: str, ids: list[str]) -> None:
        for i in ids:
            if i not in self._by_id[menu]:
                raise Trap("no such item", 1)
        wanted = set(ids)
        for i in wanted:
            self._unindex(menu, self._by_id[menu].pop(i))
        self._rows[menu] = [r for r in self._rows[menu] if r[".id"] not in wanted]
