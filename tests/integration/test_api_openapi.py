"""The OpenAPI document is generated from the route declarations and covers Chalice's route table."""

from __future__ import annotations

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from api.app import app
from api.openapi import build_openapi


def test_every_chalice_route_is_in_the_document_and_nothing_else():
    doc = build_openapi()
    chalice_ops = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}
    documented = {(path, method) for path, methods in doc["paths"].items() for method in methods}
    assert chalice_ops == documented


def test_the_document_is_valid_openapi_31_with_valid_schemas():
    doc = build_openapi()
    validate(doc)  # raises on an invalid document
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_admin_operations_declare_auth_and_error_responses():
    doc = build_openapi()
    for path, methods in doc["paths"].items():
        if not path.startswith("/admin/") or path == "/admin/auth/login":
            continue
        for method, op in methods.items():
            assert op.get("security"), f"{method} {path} has no security"
            assert {"401", "403", "404", "422"} <= set(op["responses"]), f"{method} {path}"
