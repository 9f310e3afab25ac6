"""Spreadsheet imports through the HTTP API (SPEC S2 "From import", S4 "update clients")."""

from __future__ import annotations

import io
from typing import Any

import pytest
from openpyxl import Workbook

from core.ids import now_iso
from store import subscribers as subscriber_store
from store.models import Job, Product, Subscriber
from tests.integration.channels.support import Http

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = [
    "Usuario",
    "Contraseña",
    "Nombre",
    "Correo",
    "Teléfono",
    "Plan",
    "Zona",
    "Router",
    "IP",
    "MAC",
    "Notas",
]


def _xlsx(rows: list[list[Any]], header: list[str] = HEADER) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _upload(http: Http, data: bytes, query: str = "", content_type: str = XLSX) -> Any:
    return http.post(
        f"/admin/imports{query}", http.manager(), raw=data, headers={"Content-Type": content_type}
    )


def _mixed_rows(n: int) -> tuple[list[list[Any]], dict[int, set[str]]]:
    """``n`` client rows; every fifth one is wrong in one of ten ways. Returns the rows and, per
    spreadsheet row number (header = 1), the fields the preview must name."""
    rows: list[list[Any]] = []
    bad: dict[int, set[str]] = {}
    for i in range(n):
        row_no = i + 2
        r: list[Any] = [
            f"cli{i:05d}",
            f"pw-{i:05d}",
            f"Client {i}",
            f"cli{i}@example.com",
            f"+52155{i:07d}",
            "Home 10M",
            "Centro",
            "Demo router",
            f"10.20.{i // 250}.{i % 250 + 1}",
            None,
            "from WispHub",
        ]
        if i % 5 == 0 and i >= 50:
            kind = (i // 5) % 10
            if kind == 0:
                r[0], field = None, "username"  # missing username
            elif kind == 1:
                r[5], field = None, "plan"  # missing plan
            elif kind == 2:
                r[0], field = f"CLI{i - 1:05d}", "username"  # duplicate (case-insensitive) of the row above
            elif kind == 3:
                r[0], field = "demo", "username"  # exists in the system
            elif kind == 4:
                r[5], field = "Plan 999", "plan"  # unknown plan
            elif kind == 5:
                r[6], field = "Norte", "zone"  # unknown zone
            elif kind == 6:
                r[7], field = "Router X", "gateway"  # unknown router
            elif kind == 7:
                r[8], field = "10.20.300.1", "ip"  # bad IP
            elif kind == 8:
                r[8], field = f"10.20.{(i - 1) // 250}.{(i - 1) % 250 + 1}", "ip"  # IP of the row above
            else:
                r[9], field = "not-a-mac", "mac"
            bad[row_no] = {field}
        rows.append(r)
    return rows, bad


def test_all_or_nothing_writes_nothing_when_a_row_is_bad(http: Http) -> None:
    csv_text = (
        "username,password,plan,ip\n"
        "ana,secret-1,Home 10M,10.30.0.1\n"
        "beto,secret-2,Home 10M,10.30.0.300\n"
        "carla,secret-3,prod_demo,10.30.0.3\n"
    )
    job = _upload(http, csv_text.encode(), "?filename=c.csv", "text/csv").json_body
    assert job["summary"] == {"rows": 3, "valid": 2, "invalid": 1}
    (row,) = job["rows"]
    assert (row["row"], row["username"]) == (3, "beto")
    assert row["errors"] == [{"field": "ip", "reason": "not a valid IPv4 address: '10.30.0.300'"}]
    job_id = job["job"]["id"]
    refused = http.post(f"/admin/imports/{job_id}/commit", http.manager(), {"all_or_nothing": True})
    assert refused.status_code == 422 and refused.json_body["error"]["details"]["invalid"] == 1
    assert subscriber_store.get_by_login(http.demo.tenant_id, "ana") is None
    # the job can still be committed without the option: the valid rows are created
    ok = http.post(f"/admin/imports/{job_id}/commit", http.manager(), {"all_or_nothing": False})
    assert ok.status_code == 200 and ok.json_body["summary"]["created"] == 2
    # a row that became a duplicate after the preview is caught at commit (checked again)
    job2 = _upload(http, b"username,plan\nzed,Home 10M\n", "", "text/csv").json_body
    Subscriber(
        login=subscriber_store.login_key(http.demo.tenant_id, "zed"),
        id="sub_zed",
        tenant_id=http.demo.tenant_id,
        username="zed",
        password_enc="x",
        created_at=now_iso(),
    ).save()
    late = http.post(f"/admin/imports/{job2['job']['id']}/commit", http.manager(), {}).json_body
    assert late["summary"]["created"] == 0 and late["rows"][0]["errors"][0]["field"] == "username"


def test_update_clients_previews_before_and_after_then_changes_only_chosen_columns(http: Http) -> None:
    demo = http.demo
    Product(
        id="prod_20",
        tenant_id=demo.tenant_id,
        name="Home 20M",
        price="35.00",
        connection_type="pppoe",
        created_at=now_iso(),
    ).save()
    csv_text = "usuario,plan,ip,nombre\ndemo,Home 20M,10.10.0.99,Ignored Name\nghost,Home 20M,10.10.0.98,\n"
    resp = _upload(http, csv_text.encode(), "?mode=update&columns=plan,ip", "text/csv")
    assert resp.status_code == 201, resp.json_body
    body = resp.json_body
    assert body["summary"] == {"rows": 2, "valid": 1, "invalid": 1, "changes": 1}
    change, missing = body["rows"]
    assert change["changes"] == {
        "product_id": {"before": "prod_demo", "after": "prod_20"},
        "ip": {"before": "10.10.0.10", "after": "10.10.0.99"},
    }
    assert missing["errors"] == [{"field": "username", "reason": "no subscriber with this username"}]
    # nothing changed before the commit
    sub = subscriber_store.get_by_id(demo.subscriber_id)
    assert sub is not None and sub.product_id == "prod_demo"
    done = http.post(f"/admin/imports/{body['job']['id']}/commit", http.manager(), {})
    assert done.status_code == 200 and done.json_body["summary"]["updated"] == 1
    sub = subscriber_store.get_by_id(demo.subscriber_id)
    assert sub is not None and sub.product_id == "prod_20" and sub.ip == "10.10.0.99"
    assert sub.name == "Demo Subscriber"  # not a chosen column
    # a column that cannot be updated is refused
    bad = _upload(http, b"username,status\ndemo,cancelled\n", "?mode=update&columns=status", "text/csv")
    assert bad.status_code == 422 and bad.json_body["error"]["field"] == "columns"


def test_file_bounds_and_unreadable_files_are_clear_errors(http: Http) -> None:
    cases = [
        (b"", "text/csv", "empty"),
        (b"\xd0\xcf\x11\xe0" + b"\x00" * 100, "application/octet-stream", ".xls"),
        (b"PK\x03\x04broken", XLSX, "not a readable .xlsx"),
        (b"name,phone\nAna,123\n", "text/csv", "username column"),
        (
            ("username\n" + "".join(f"u{i}\n" for i in range(10_001))).encode(),
            "text/csv",
            "more than 10000 rows",
        ),
    ]
    for data, ctype, words in cases:
        resp = _upload(http, data, "", ctype)
        assert resp.status_code == 422, (words, resp.json_body)
        assert resp.json_body["error"]["field"] == "file" and words in resp.json_body["error"]["message"]
    too_big = _upload(http, b"username\n" + b"x" * 1_100_000, "", "text/csv")
    assert too_big.status_code == 413
    assert Job.count() == 0
    # another tenant cannot see an import
    job = _upload(http, b"username,plan\nz1,Home 10M\n", "", "text/csv").json_body["job"]
    assert http.get(f"/admin/imports/{job['id']}", http.other_manager()).status_code == 404


@pytest.mark.slow
def test_5000_row_xlsx_preview_lists_every_bad_row_and_commit_creates_exactly_the_valid_ones(
    http: Http,
) -> None:
    rows, bad = _mixed_rows(5000)
    data = _xlsx(rows)
    # When the file is uploaded
    resp = _upload(http, data, "?filename=clientes.xlsx")
    # Then the preview names every bad row with the field at fault, and nothing was written
    assert resp.status_code == 201, resp.body[:500]
    body = resp.json_body
    assert body["summary"] == {"rows": 5000, "valid": 5000 - len(bad), "invalid": len(bad)}
    assert body["ignored_columns"] == ["Notas"]
    listed = {r["row"]: {e["field"] for e in r["errors"]} for r in body["rows"]}
    assert listed == bad
    reasons = {e["reason"] for r in body["rows"] for e in r["errors"]}
    assert "missing" in reasons and "username already exists in the system" in reasons
    assert any(x.startswith("duplicate username in the file (first on row") for x in reasons)
    assert any(x.startswith("unknown plan 'Plan 999'") for x in reasons)
    assert any(x.startswith("duplicate IP in the file") for x in reasons)
    assert Subscriber.count() == 1
    job_id = body["job"]["id"]
    assert body["job"]["status"] == "previewed" and body["job"]["total"] == 5000
    # And the full report pages through the same rows
    page = http.get(f"/admin/imports/{job_id}/report?offset=0&limit=5000", http.manager()).json_body
    assert page["total"] == len(bad) and {r["row"] for r in page["rows"]} == set(bad)
    # When the import is committed
    done = http.post(f"/admin/imports/{job_id}/commit", http.manager(), {})
    # Then exactly the valid rows exist, each as it was in the file
    assert done.status_code == 200, done.body[:500]
    summary = done.json_body["summary"]
    assert summary["created"] == 5000 - len(bad) and summary["failed"] == 0 and summary["invalid"] == len(bad)
    assert Subscriber.count() == 5000 - len(bad) + 1  # the demo subscriber and the valid rows
    expected = [
        subscriber_store.login_key(http.demo.tenant_id, f"cli{i:05d}")
        for i in range(5000)
        if i + 2 not in bad
    ]
    found = {s.login for s in Subscriber.batch_get(expected, attributes_to_get=["login"])}
    assert found == set(expected)
    one = subscriber_store.get_by_login(http.demo.tenant_id, "cli00007")
    assert (
        one is not None
        and one.product_id == "prod_demo"
        and one.zone_id == "zone_demo"
        and one.gateway_id == "gw_demo"
    )
    assert one.ip == "10.20.0.8" and one.email == "cli7@example.com" and one.created_via == "import"
    assert http.rt.box.decrypt(one.password_enc) == "pw-00007" and one.connection_type == "pppoe"
    # And the job shows the progress counts and the result; it cannot be committed twice
    job = http.get(f"/admin/imports/{job_id}", http.manager()).json_body
    assert job["status"] == "completed_with_errors" and job["done"] == 5000 - len(bad) and job["failed"] == 0
    assert http.post(f"/admin/imports/{job_id}/commit", http.manager(), {}).status_code == 409
    # And each created subscriber has its audit entry
    audit = http.get(f"/admin/audit?entity_id={one.id}", http.manager()).json_body["items"]
    assert [e["action"] for e in audit] == ["create"] and "pw-00007" not in str(audit)
