from chalice.test import Client

from api.app import app


def test_health_reports_versions_and_datastore(runtime):
    # Given tables exist in the (moto) datastore
    with Client(app) as client:
        # When
        resp = client.http.get("/health")
    # Then
    assert resp.status_code == 200
    body = resp.json_body
    assert body["datastore"] == "ok"
    assert body["versions"]["pyrad"] and body["versions"]["pyrad"] != "missing"
    assert "wispcloud" in body["versions"]
