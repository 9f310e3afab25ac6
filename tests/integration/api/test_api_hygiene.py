"""API hygiene through the admin API (Chalice test client): bad bodies are 4xx never 500, PATCH null and
empty-PATCH semantics match the OpenAPI document, dates must exist, a password change revokes the
operator's tokens, and list exports open in a spreadsheet (XLSX)."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from api.openapi import build_openapi
from tests.integration.api.support import Api, err, ok

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.mark.parametrize("depth", [40, 5_000, 100_000])
def test_deeply_nested_json_is_refused_with_422_naming_the_body(api: Api, manager, demo, depth):
    for raw in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        body = raw.replace("[", '{"name": [', 1) if raw.startswith("[") else raw
        e = err(api.patch(f"/admin/zones/{demo.zone_id}", manager, raw=body), 422, "body")
        assert "deeper" in e["message"] or "JSON" in e["message"]
    # a string full of brackets is not nesting
    ok(api.patch(f"/admin/zones/{demo.zone_id}", manager, {"name": "[[[[" * 50}))


def test_an_empty_patch_is_refused(api: Api, manager, demo):
    for path in (
        f"/admin/zones/{demo.zone_id}",
        f"/admin/subscribers/{demo.subscriber_id}",
        f"/admin/tenants/{demo.tenant_id}",
        f"/admin/operators/{demo.operator_id}",
    ):
        e = err(api.patch(path, manager, {}), 422, "body")
        assert "at least one field" in e["message"]


def _nullable(doc: dict, schema: dict) -> list[str]:
    """The properties of a request body schema that accept null."""
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].split("/")[-1]]
    out = []
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf", [prop])
        if any(o.get("type") == "null" for o in options):
            out.append(name)
    return out


def test_every_field_the_schema_marks_nullable_accepts_null(api: Api, manager, admin, demo):
    # Given one object behind each PATCH route of the catalogue, subscribers, tenants and operators
    gw = ok(
        api.post(
            "/admin/gateways",
            manager,
            {"name": "Null GW", "nas_ip": "10.77.0.1", "radius_secret": "s3cret-rad"},
        ),
        201,
    )
    staff = ok(
        api.post(
            "/admin/operators",
            manager,
            {"email": "nulls@demo.local", "password": "pw-12345678", "role": "operator", "name": "N"},
        ),
        201,
    )
    targets = {
        "/admin/zones/{zone_id}": f"/admin/zones/{demo.zone_id}",
        "/admin/gateways/{gateway_id}": f"/admin/gateways/{gw['id']}",
        "/admin/policies/{policy_id}": f"/admin/policies/{demo.policy_id}",
        "/admin/products/{product_id}": f"/admin/products/{demo.product_id}",
        "/admin/subscribers/{subscriber_id}": f"/admin/subscribers/{demo.subscriber_id}",
        "/admin/tenants/{tenant_id}": f"/admin/tenants/{demo.tenant_id}",
        "/admin/operators/{operator_id}": f"/admin/operators/{staff['id']}",
    }
    doc = build_openapi()
    tried = 0
    for template, path in targets.items():
        op = doc["paths"][template]["patch"]
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        nullable = _nullable(doc, schema)
        assert nullable, template
        for name in nullable:
            # When a field the schema marks nullable is sent as null
            resp = api.patch(path, manager, {name: None})
            # Then it is accepted (cleared, or put back to its default); a rule about another field may
            # still refuse the result (a router API turned on needs its host)
            if resp.status_code != 200:
                e = err(resp, 422)
                assert e.get("field") != name and "null" not in e["message"], (template, name, e)
            tried += 1
        # and a field the schema does not offer null for is refused with 422 naming it
        for name in set(_nullable_free(doc, schema)) - set(nullable):
            err(api.patch(path, manager, {name: None}), 422, name)
    assert tried > 40
    # null puts an attribute with a default back to it
    ok(api.patch(f"/admin/zones/{demo.zone_id}", manager, {"issue_day": 9}))
    assert ok(api.patch(f"/admin/zones/{demo.zone_id}", manager, {"issue_day": None}))["issue_day"] == 1


def _nullable_free(doc: dict, schema: dict) -> list[str]:
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return list(schema.get("properties", {}))


@pytest.mark.parametrize("bad", ["2026-13-45", "2026-02-30", "2026-04-31T10:00:00Z", "2026-01-01T25:61:00Z"])
def test_dates_that_do_not_exist_are_refused(api: Api, manager, demo, bad):
    err(api.get(f"/admin/audit?since={bad}", manager), 422, "query.since")
    err(api.get(f"/admin/audit/export?until={bad}", manager), 422, "query.until")
    err(api.patch(f"/admin/subscribers/{demo.subscriber_id}", manager, {"installed_at": bad}), 422)
    ok(api.get("/admin/audit?since=2026-02-28&until=2026-03-01T10:00:00Z", manager))


def test_a_password_change_revokes_the_operators_tokens(api: Api, manager, demo):
    ok(
        api.post(
            "/admin/operators",
            manager,
            {"email": "rotate@demo.local", "password": "old-pass-123", "role": "operator"},
        ),
        201,
    )
    login = ok(api.post("/admin/auth/login", body={"email": "rotate@demo.local", "password": "old-pass-123"}))
    old = {"Authorization": f"Bearer {login['token']}", "Content-Type": "application/json"}
    ok(api.get("/admin/me", old))
    # When the password is changed (here by the manager; the token was stolen, say)
    op_id = login["operator"]["id"]
    ok(api.patch(f"/admin/operators/{op_id}", manager, {"password": "new-pass-456"}))
    # Then the token issued before no longer opens the API, a new login does
    e = err(api.get("/admin/me", old), 401)
    assert "password was changed" in e["message"]
    err(api.post("/admin/auth/login", body={"email": "rotate@demo.local", "password": "old-pass-123"}), 401)
    fresh = ok(api.post("/admin/auth/login", body={"email": "rotate@demo.local", "password": "new-pass-456"}))
    ok(api.get("/admin/me", {"Authorization": f"Bearer {fresh['token']}"}))
    # other edits do not log the operator out
    ok(api.patch(f"/admin/operators/{op_id}", manager, {"name": "Renamed"}))
    ok(api.get("/admin/me", {"Authorization": f"Bearer {fresh['token']}"}))


def _sheet(resp) -> list[list]:
    assert resp.status_code == 200, resp.body[:300]
    assert resp.headers["Content-Type"] == XLSX
    assert resp.headers["Content-Disposition"].endswith('.xlsx"')
    wb = load_workbook(io.BytesIO(resp.body))
    return [list(r) for r in wb.active.iter_rows(values_only=True)]


def test_list_exports_come_as_xlsx_on_request(api: Api, manager, demo):
    ok(
        api.patch(
            f"/admin/subscribers/{demo.subscriber_id}",
            manager,
            {"name": '=HYPERLINK("http://x")', "phone": "0991234567", "price_override": "25.50"},
        )
    )
    rows = _sheet(api.get("/admin/subscribers/export?format=xlsx", manager, headers={"Accept": XLSX}))
    header, data = rows[0], rows[1:]
    assert header[:3] == ["id", "tenant_id", "username"] and len(data) >= 1
    row = dict(zip(header, next(r for r in data if r[0] == demo.subscriber_id), strict=True))
    # text stays text (never a formula, leading zeros kept), money is a number
    assert row["name"] == '=HYPERLINK("http://x")' and row["phone"] == "0991234567"
    assert Decimal(str(row["price"])) == Decimal("25.50")
    # the CSV export is unchanged by default
    csv_resp = api.get("/admin/subscribers/export", manager)
    assert csv_resp.headers["Content-Type"].startswith("text/csv")
    for path in (
        "/admin/subscribers/totals/export",
        "/admin/subscribers/online/export",
        "/admin/audit/export",
        f"/admin/subscribers/{demo.subscriber_id}/connections/export",
    ):
        sheet = _sheet(api.get(f"{path}?format=xlsx", manager, headers={"Accept": "*/*"}))
        assert sheet[0] and all(isinstance(h, str) for h in sheet[0]), path
    err(api.get("/admin/subscribers/export?format=pdf", manager), 422, "query.format")
