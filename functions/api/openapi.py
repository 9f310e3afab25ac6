"""OpenAPI 3.1 document generated from the registered routes and their pydantic models."""

from __future__ import annotations

import importlib
import re
from typing import Any

from pydantic import BaseModel

from api.route_table import ROUTE_MODULES
from api.routing import ROUTES, RouteSpec
from api.schemas.common import ExportQuery
from services.spreadsheet import XLSX_CONTENT_TYPE
from shared.settings import VERSION

_PARAM = re.compile(r"{([^}]+)}")

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
        }
    },
}


def _schema(model: type[BaseModel], components: dict[str, Any], mode: str) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)  # type: ignore[arg-type]
    for name, sub in [*schema.pop("$defs", {}).items(), (model.__name__, schema)]:
        if components.get(name, sub) != sub:
            # two models of one name would document one of them with the other's fields
            raise ValueError(f"two API models are named {name}; rename one ({model.__module__})")
        components[name] = sub
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(spec: RouteSpec, components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": spec.summary,
        "tags": spec.tags,
        "operationId": f"{spec.method.lower()}_{spec.path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
    }
    if spec.description:
        op["description"] = spec.description
    params: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for n in _PARAM.findall(spec.path)
    ]
    if spec.query is not None:
        qs = spec.query.model_json_schema(mode="validation")
        required = set(qs.get("required", []))
        for name, prop in qs.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    if params:
        op["parameters"] = params
    if spec.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema(spec.body, components, "validation")}},
        }
    elif spec.raw_body:
        op["requestBody"] = {
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
        }
    ok: dict[str, Any] = {"description": "OK"}
    if spec.content_type == "application/json":
        if spec.response is not None:
            ref = _schema(spec.response, components, "serialization")
            ok["content"] = {
                "application/json": {
                    "schema": {"type": "array", "items": ref} if spec.response_is_list else ref
                }
            }
        else:
            ok["content"] = {"application/json": {"schema": {}}}
    else:
        ok["content"] = {spec.content_type: {"schema": {"type": "string", "format": "binary"}}}
        if spec.query is not None and issubclass(spec.query, ExportQuery):
            ok["content"][XLSX_CONTENT_TYPE] = {"schema": {"type": "string", "format": "binary"}}
    err = {
        "description": "Error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    responses: dict[str, Any] = {str(spec.status): ok}
    for code in ("400", "401", "403", "404", "409", "413", "415", "422", "429", "503"):
        responses[code] = err
    op["responses"] = responses
    if spec.auth != "public":
        op["security"] = [{"bearer": []}, {"apiKey": []}] if spec.auth == "operator" else [{"bearer": []}]
    return op


_HEALTH = {
    "type": "object",
    "required": ["status", "datastore", "versions"],
    "properties": {
        "status": {"enum": ["ok", "degraded"]},
        "datastore": {"enum": ["ok", "unreachable"]},
        "versions": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
# Routes declared directly on Chalice (liveness and this document), described by hand
STATIC_PATHS: dict[str, dict[str, Any]] = {
    "/health": {
        "get": {
            "summary": "Liveness, versions of the parts and a datastore check",
            "tags": ["meta"],
            "operationId": "get_health",
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": _HEALTH}}},
                "503": {
                    "description": "Datastore unreachable",
                    "content": {"application/json": {"schema": _HEALTH}},
                },
            },
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "tags": ["meta"],
            "operationId": "get_openapi_json",
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {
                        "application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}
                    },
                }
            },
        }
    },
}


def build_openapi() -> dict[str, Any]:
    for name in ROUTE_MODULES:  # each route module declares its routes in ROUTES when imported
        importlib.import_module(name)
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for spec in ROUTES:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, components)
    for path, ops in STATIC_PATHS.items():
        for method, op in ops.items():
            paths.setdefault(path, {}).setdefault(method, op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "WispCloud API", "version": VERSION},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            },
        },
    }
