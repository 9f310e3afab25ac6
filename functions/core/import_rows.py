"""Validation of imported subscriber rows (SPEC S2 "From import", S4 "update clients").

Pure: the service reads the spreadsheet and a snapshot of the tenant (catalogue, usernames, IPs);
these rules check every row against it and say, per row, what is wrong (field + reason) or what the
row will create / change. Nothing here writes; the same checks run for the preview and the commit.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import ValidationError
from core.lifecycle import check_network_password, check_username, normalise_mac
from core.statuses import ConnectionType, Status

MAX_IMPORT_BYTES = 1_000_000
MAX_IMPORT_ROWS = 10_000
MAX_COLUMNS = 60
MAX_CELL_CHARS = 500

MODE_CREATE = "create"
MODE_UPDATE = "update"

# Canonical column → accepted header spellings (English, and the Spanish of WispHub exports).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "username": ("username", "user", "usuario", "login", "user_name", "usuario_pppoe", "usuario_hotspot"),
    "password": ("password", "contrasena", "clave", "pass", "password_pppoe", "contrasena_pppoe"),
    "name": ("name", "nombre", "cliente", "full_name", "nombre_completo"),
    "email": ("email", "e_mail", "correo", "mail", "correo_electronico"),
    "phone": ("phone", "telefono", "celular", "movil", "mobile", "tel"),
    "address": ("address", "direccion", "domicilio"),
    "document_id": ("document_id", "document", "cedula", "dni", "rfc", "documento"),
    "plan": ("plan", "product", "producto", "product_id", "plan_internet", "plan_id"),
    "zone": ("zone", "zona", "zone_id", "zona_id"),
    "gateway": ("gateway", "router", "gateway_id", "router_id", "nas"),
    "connection_type": ("connection_type", "tipo", "type", "tipo_conexion", "tipo_de_conexion"),
    "ip": ("ip", "ip_address", "direccion_ip", "remote_address", "ip_remota"),
    "local_address": ("local_address", "ip_local", "direccion_local"),
    "mac": ("mac", "mac_address", "direccion_mac"),
    "status": ("status", "estado"),
    "hotspot_server": ("hotspot_server", "servidor_hotspot", "server"),
    "installed_at": ("installed_at", "fecha_instalacion", "instalacion"),
}
_ALIAS_TO_COLUMN = {alias: col for col, aliases in COLUMN_ALIASES.items() for alias in aliases}

REQUIRED_FOR_CREATE = ("username", "plan")
# Columns the "update clients" mode may change: the username is the key, and a status changes only
# through the lifecycle actions (a suspension or cancellation has effects on the router and invoices).
UPDATABLE = tuple(c for c in COLUMN_ALIASES if c not in ("username", "status"))
IMPORT_STATUSES = (Status.NEW, Status.ACTIVE, Status.SUSPENDED, Status.FREE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()\-.]{7,20}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class RowError:
    field: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


@dataclass
class RowCheck:
    """One data row: its spreadsheet row number (the header is row 1), what it will write, and why not."""

    row: int
    username: str
    values: dict[str, Any] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)  # update mode: {col: {before, after}}

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"row": self.row, "username": self.username}
        if self.errors:
            out["errors"] = [e.as_dict() for e in self.errors]
        if self.changes:
            out["changes"] = self.changes
        return out


@dataclass(frozen=True)
class CatalogItem:
    id: str
    name: str
    code: str | None = None
    zone_id: str | None = None  # gateways: their zone
    connection_type: str | None = None  # products: default connection type; gateways: plan type


@dataclass
class TenantSnapshot:
    """What the rows are checked against: usable catalogue and the tenant's existing subscribers."""

    products: Sequence[CatalogItem] = ()
    zones: Sequence[CatalogItem] = ()
    gateways: Sequence[CatalogItem] = ()
    usernames: set[str] = field(default_factory=set)  # lower-case
    ips: dict[str, str] = field(default_factory=dict)  # ip → lower-case username holding it
    existing: Mapping[str, Mapping[str, Any]] = field(
        default_factory=dict
    )  # update mode: lower username → row

    def __post_init__(self) -> None:
        self._products = _index(self.products)
        self._zones = _index(self.zones)
        self._gateways = _index(self.gateways)

    def product(self, ref: str) -> CatalogItem | str:
        return _resolve(self._products, ref, "plan")

    def zone(self, ref: str) -> CatalogItem | str:
        return _resolve(self._zones, ref, "zone")

    def gateway(self, ref: str) -> CatalogItem | str:
        return _resolve(self._gateways, ref, "gateway")


def _index(items: Iterable[CatalogItem]) -> dict[str, list[CatalogItem]]:
    out: dict[str, list[CatalogItem]] = {}
    for item in items:
        keys = {item.id.lower(), item.name.strip().lower()} | (
            {item.code.strip().lower()} if item.code else set()
        )
        for k in keys:
            if item not in out.setdefault(k, []):
                out[k].append(item)
    return out


def _resolve(index: Mapping[str, list[CatalogItem]], ref: str, what: str) -> CatalogItem | str:
    """The item whose id, code or name is ``ref``, or the reason it cannot be used."""
    found = index.get(ref.strip().lower(), [])
    if not found:
        return f"unknown {what} {ref!r}"
    if len(found) > 1:
        return f"{what} {ref!r} is ambiguous: use its id ({', '.join(sorted(i.id for i in found))})"
    return found[0]


# ---------------------------------------------------------------- headers
def normalise_header(text: Any) -> str:
    """``Teléfono Móvil`` → ``telefono_movil``."""
    raw = unicodedata.normalize("NFKD", str(text or "")).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", raw.strip().lower()).strip("_")


@dataclass(frozen=True)
class HeaderMap:
    columns: dict[int, str]  # cell index → canonical column
    ignored: list[str]  # headers that are not import columns


def map_headers(headers: Sequence[Any]) -> HeaderMap:
    """Canonical column per cell index. A column given twice, or a missing username column, is an
    error of the whole file (raised as :class:`ValidationError` on ``file``)."""
    headers = list(headers)
    while headers and cell_text(headers[-1]) == "":  # sheets pad rows with empty cells
        headers.pop()
    if len(headers) > MAX_COLUMNS:
        raise ValidationError(
            f"the file has {len(headers)} columns; at most {MAX_COLUMNS} are read", field="file"
        )
    columns: dict[int, str] = {}
    ignored: list[str] = []
    seen: dict[str, str] = {}
    for i, h in enumerate(headers):
        key = normalise_header(h)
        if not key:
            continue
        col = _ALIAS_TO_COLUMN.get(key)
        if col is None:
            ignored.append(str(h))
            continue
        if col in seen:
            raise ValidationError(f"columns {seen[col]!r} and {h!r} both give {col}", field="file")
        seen[col] = str(h)
        columns[i] = col
    if "username" not in columns.values():
        raise ValidationError(
            "the first row must hold the column names, including a username column "
            f"(one of: {', '.join(COLUMN_ALIASES['username'])})",
            field="file",
        )
    return HeaderMap(columns, ignored)


def cell_text(value: Any) -> str:
    """A spreadsheet cell as text: numbers without a spurious ``.0``, dates as ISO, trimmed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value).strip()


def row_values(header: HeaderMap, cells: Sequence[Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, col in header.columns.items():
        out[col] = cell_text(cells[i]) if i < len(cells) else ""
    return out


def is_blank(cells: Sequence[Any]) -> bool:
    return all(cell_text(c) == "" for c in cells)


# ---------------------------------------------------------------- checks
# One checker per column: takes the trimmed, non-empty cell and returns the normalised values it sets
# (a catalogue column sets the id and, under a leading underscore, the item for the row checks).
_CellCheck = Callable[[str, str, TenantSnapshot], dict[str, Any]]


def _check_email(value: str, col: str, snap: TenantSnapshot) -> dict[str, Any]:
    if not _EMAIL.fullmatch(value):
        raise ValidationError("not an e-mail address", field=col)
    return {col: value.lower()}


def _check_phone(value: str, col: str, snap: TenantSnapshot) -> dict[str, Any]:
    if not _PHONE.fullmatch(value) or sum(ch.isdigit() for ch in value) < 7:
        raise ValidationError("not a phone number", field=col)
    return {col: value}


def _catalog_found(found: CatalogItem | str, col: str) -> CatalogItem:
    if isinstance(found, str):
        raise ValidationError(found, field=col)
    return found


def _check_plan(value: str, col: str, snap: TenantSnapshot) -> dict[str, Any]:
    found = _catalog_found(snap.product(value), col)
    return {"product_id": found.id, "_product": found}


def _check_zone(value: str, col: str, snap: TenantSnapshot) -> dict[str, Any]:
    return {"zone_id": _catalog_found(snap.zone(value), col).id}


def _check_gateway(value: str, col: str, snap: TenantSnapshot) -> dict[str, Any]:
    found = _catalog_found(snap.gateway(value), col)
    return {"gateway_id": found.id, "_gateway": found}


def _check_connection_type(value: str, col: str, snap: TenantSnapshot) -> dict[str, Any]:
    ct = normalise_header(value)
    if ct not in {c.value for c in ConnectionType}:
        raise ValidationError(
            f"unknown connection type {value!r} (pppoe, hotspot, simple_queue, pcq)", field=col
        )
    return {col: ct}


def _check_status(value: str, col: str, snap: TenantSnapshot) -> dict[str, Any]:
    st = normalise_header(value)
    if st not in IMPORT_STATUSES:
        raise ValidationError(f"status must be one of {', '.join(IMPORT_STATUSES)}", field=col)
    return {col: st}


def _check_date(value: str, col: str, snap: TenantSnapshot) -> dict[str, Any]:
    if not _DATE.match(value):
        raise ValidationError("must be a date like 2026-11-22", field=col)
    return {col: value[:10]}


_CELL_CHECKS: dict[str, _CellCheck] = {
    "password": lambda value, col, snap: {col: check_network_password(value, col)},
    "email": _check_email,
    "phone": _check_phone,
    "ip": lambda value, col, snap: {col: str(ipaddress.IPv4Address(value))},
    "local_address": lambda value, col, snap: {col: str(ipaddress.IPv4Address(value))},
    "mac": lambda value, col, snap: {col: normalise_mac(value, col)},
    "plan": _check_plan,
    "zone": _check_zone,
    "gateway": _check_gateway,
    "connection_type": _check_connection_type,
    "status": _check_status,
    "installed_at": _check_date,
}


def _check_fields(
    raw: Mapping[str, str], snap: TenantSnapshot, errors: list[RowError], *, present: Iterable[str]
) -> dict[str, Any]:
    """Check the given columns of one row; returns the normalised values of those that are valid."""
    out: dict[str, Any] = {}
    for col in present:
        value = raw.get(col, "").strip()
        if len(value) > MAX_CELL_CHARS:
            errors.append(RowError(col, f"longer than {MAX_CELL_CHARS} characters"))
            continue
        if value == "":
            out[col] = None
            continue
        check = _CELL_CHECKS.get(col)
        try:
            out.update(check(value, col, snap) if check else {col: value})
        except ValidationError as exc:
            errors.append(RowError(col, exc.message))
        except ValueError:
            errors.append(RowError(col, f"not a valid IPv4 address: {value!r}"))
    # a gateway belongs to a zone: a row naming both must agree, a row naming only the gateway takes its zone
    gw = out.get("_gateway")
    if isinstance(gw, CatalogItem) and gw.zone_id:
        if out.get("zone_id") and out["zone_id"] != gw.zone_id:
            errors.append(RowError("zone", f"gateway {gw.name!r} is not in this zone"))
        elif "zone_id" not in out or out.get("zone_id") is None:
            out["zone_id"] = gw.zone_id
    return out


def check_create_rows(
    rows: Sequence[tuple[int, Mapping[str, str]]],
    snap: TenantSnapshot,
    required: Sequence[str] = REQUIRED_FOR_CREATE,
) -> list[RowCheck]:
    """Check rows that create subscribers: required fields, every value, and uniqueness of usernames
    and IPs both inside the file and against the tenant. A duplicate in the file marks every later
    occurrence (naming the first row)."""
    first_user: dict[str, int] = {}
    first_ip: dict[str, int] = {}
    out: list[RowCheck] = []
    for row_no, raw in rows:
        errors: list[RowError] = []
        username = raw.get("username", "").strip()
        for col in dict.fromkeys(("username", *required)):
            if not raw.get(col, "").strip():
                errors.append(RowError(col, "missing"))
        if username:
            try:
                check_username(username)
            except ValidationError as exc:
                errors.append(RowError("username", exc.message))
            key = username.lower()
            if key in first_user:
                errors.append(
                    RowError("username", f"duplicate username in the file (first on row {first_user[key]})")
                )
            else:
                first_user[key] = row_no
                if key in snap.usernames:
                    errors.append(RowError("username", "username already exists in the system"))
        present = [c for c in raw if c not in required or raw.get(c, "").strip()]
        present = [c for c in present if c != "username"]
        values = _check_fields(raw, snap, errors, present=present)
        ip = values.get("ip")
        if ip:
            if ip in first_ip:
                errors.append(RowError("ip", f"duplicate IP in the file (first on row {first_ip[ip]})"))
            else:
                first_ip[ip] = row_no
                if ip in snap.ips:
                    errors.append(RowError("ip", f"IP already assigned to {snap.ips[ip]}"))
        product = values.pop("_product", None)
        gateway = values.pop("_gateway", None)
        if not values.get("connection_type"):
            ct = (gateway.connection_type if gateway else None) or (
                product.connection_type if product else None
            )
            values["connection_type"] = ct or ConnectionType.PPPOE.value
        elif (
            gateway is not None
            and gateway.connection_type
            and gateway.connection_type != values["connection_type"]
        ):
            errors.append(
                RowError(
                    "connection_type",
                    f"router {gateway.name!r} serves {gateway.connection_type} "
                    f"plans, not {values['connection_type']}",
                )
            )
        values = {k: v for k, v in values.items() if v is not None and k not in ("plan", "zone", "gateway")}
        values["username"] = username
        out.append(RowCheck(row_no, username, values, errors))
    return out


_ATTR_OF_COLUMN = {"plan": "product_id", "zone": "zone_id", "gateway": "gateway_id"}


def _update_key_errors(
    username: str, current: Mapping[str, Any] | None, seen: Mapping[str, int]
) -> list[RowError]:
    """The username of an "update clients" row: present, once in the file, an existing subscriber."""
    if not username:
        return [RowError("username", "missing")]
    if username.lower() in seen:
        return [
            RowError("username", f"duplicate username in the file (first on row {seen[username.lower()]})")
        ]
    if current is None:
        return [RowError("username", "no subscriber with this username")]
    return []


def _update_ip_errors(
    ip: str | None, username: str, row_no: int, snap: TenantSnapshot, first_ip: dict[str, int]
) -> list[RowError]:
    if not ip:
        return []
    if ip in first_ip:
        return [RowError("ip", f"duplicate IP in the file (first on row {first_ip[ip]})")]
    first_ip[ip] = row_no
    holder = snap.ips.get(ip)
    if holder is not None and holder != username.lower():
        return [RowError("ip", f"IP already assigned to {holder}")]
    return []


def _update_changes(
    raw: Mapping[str, str], values: Mapping[str, Any], current: Mapping[str, Any], columns: Sequence[str]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The new values of one row and each change as before → after (a password is never shown)."""
    changes: dict[str, dict[str, Any]] = {}
    new_values: dict[str, Any] = {}
    for col in columns:
        if col not in raw:
            continue
        attr = _ATTR_OF_COLUMN.get(col, col)
        after = values.get(attr)
        before = current.get(attr)
        if col == "password":  # never known before, never shown after
            if after is not None:
                new_values[attr] = after
                changes[attr] = {"before": "***", "after": "***"}
            continue
        if after != before and not (after is None and before in (None, "")):
            new_values[attr] = after
            changes[attr] = {"before": before, "after": after}
    # moving to a router of another zone moves the client to that zone too
    moved_zone = values.get("zone_id")
    if (
        "gateway_id" in changes
        and "zone" not in columns
        and moved_zone
        and moved_zone != current.get("zone_id")
    ):
        new_values["zone_id"] = moved_zone
        changes["zone_id"] = {"before": current.get("zone_id"), "after": moved_zone}
    return new_values, changes


def _gateway_type_errors(new_gateway: Any, connection_type: str | None) -> list[RowError]:
    """A router serves one plan type: moving to another type changes connection_type too (S4)."""
    if (
        isinstance(new_gateway, CatalogItem)
        and new_gateway.connection_type
        and connection_type
        and (new_gateway.connection_type != connection_type)
    ):
        return [
            RowError(
                "gateway",
                f"router {new_gateway.name!r} serves {new_gateway.connection_type} "
                f"plans: change connection_type in the same import",
            )
        ]
    return []


def check_update_rows(
    rows: Sequence[tuple[int, Mapping[str, str]]], snap: TenantSnapshot, columns: Sequence[str]
) -> list[RowCheck]:
    """Check "update clients" rows: the username must exist; only ``columns`` are changed, each shown
    as before → after (an empty cell clears an optional value; plan cannot be cleared)."""
    bad = [c for c in columns if c not in UPDATABLE]
    if bad:
        raise ValidationError(f"these columns cannot be updated: {', '.join(bad)}", field="columns")
    if not columns:
        raise ValidationError("choose at least one column to update", field="columns")
    seen: dict[str, int] = {}
    first_ip: dict[str, int] = {}
    out: list[RowCheck] = []
    for row_no, raw in rows:
        username = raw.get("username", "").strip()
        current = snap.existing.get(username.lower()) if username else None
        errors = _update_key_errors(username, current, seen)
        if username:
            seen.setdefault(username.lower(), row_no)
        errors += [RowError(c, "column not in the file") for c in columns if c not in raw]
        values = _check_fields(raw, snap, errors, present=[c for c in columns if c in raw])
        values.pop("_product", None)
        new_gateway = values.pop("_gateway", None)
        if "plan" in columns and "plan" in raw and not raw.get("plan", "").strip():
            errors.append(RowError("plan", "missing"))
        errors += _update_ip_errors(values.get("ip"), username, row_no, snap, first_ip)
        changes: dict[str, dict[str, Any]] = {}
        new_values: dict[str, Any] = {}
        if current is not None:
            new_values, changes = _update_changes(raw, values, current, columns)
            ct = new_values.get("connection_type") or current.get("connection_type")
            errors += _gateway_type_errors(new_gateway, ct)
        out.append(RowCheck(row_no, username, {"username": username, **new_values}, errors, changes))
    return out


def summary(checks: Sequence[RowCheck]) -> dict[str, int]:
    bad = sum(1 for c in checks if c.errors)
    return {"rows": len(checks), "valid": len(checks) - bad, "invalid": bad}
