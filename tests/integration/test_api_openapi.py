"""The OpenAPI document is generated from the route declarations and covers Chalice's route table."""

from __future__ import annotations

import pytest
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


def test_each_operation_documents_its_own_request_body():
    # the invoice send and the credentials send once shared a schema name: one was documented with the other's
    doc = build_openapi()
    schemas = doc["components"]["schemas"]

    def body_fields(path: str) -> set[str]:
        ref = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        return set(schemas[ref.rsplit("/", 1)[1]]["properties"])

    assert body_fields("/admin/invoices/{invoice_id}/send") == {"to"}
    assert "channel" in body_fields("/admin/subscribers/{subscriber_id}/credentials/send")


def test_two_models_of_one_name_are_refused() -> None:
    from pydantic import BaseModel

    from api.openapi import _schema

    class Body(BaseModel):
        to: str

    first = Body

    class Body(BaseModel):  # type: ignore[no-redef]
        channel: str

    components: dict[str, object] = {}
    _schema(first, components, "validation")
    _schema(first, components, "validation")  # the same model twice is one schema
    with pytest.raises(ValueError, match="two API models are named Body"):
        _schema(Body, components, "validation")
