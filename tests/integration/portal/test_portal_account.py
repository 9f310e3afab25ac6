"""Account: portal password, network password (pushed to the router by the provisioner), contact data."""

from __future__ import annotations

import json

from services.network.triggers import queue_urls
from store.models import AuditEntry, Gateway, ProvisioningTask
from tests.integration.portal.support import Portal


def test_change_portal_password(portal: Portal):
    sub = portal.new_subscriber()
    headers = portal.login_as(sub)
    url = "/portal/account/portal-password"
    wrong = portal.post(url, headers, {"current_password": "not-it", "new_password": "brand-new-pass"})
    assert wrong.status_code == 422 and wrong.json_body["error"]["field"] == "current_password"
    short = portal.post(url, headers, {"current_password": "portal-pass-1", "new_password": "short"})
    assert short.status_code == 422
    ok = portal.post(url, headers, {"current_password": "portal-pass-1", "new_password": "brand-new-pass"})
    assert ok.status_code == 200, ok.body
    # the new password signs in, the old one no longer does
    assert portal.login_as(sub, "brand-new-pass")
    old = portal.post(
        "/portal/auth/login",
        body={"tenant_id": "ten_demo", "username": sub.username, "password": "portal-pass-1"},
    )
    assert old.status_code == 401
    # and the audit trail records the change without the password
    entries = [e for e in AuditEntry.query(sub.id) if e.action == "change_portal_password"]
    assert len(entries) == 1 and entries[0].actor_kind == "subscriber"
    assert "brand-new-pass" not in json.dumps(entries[0].after)


def test_change_network_password_is_pushed_to_the_router(portal: Portal):
    gw = Gateway.get("gw_demo")
    gw.update(actions=[Gateway.api_enabled.set(True)])
    sub = portal.new_subscriber()
    headers = portal.login_as(sub)
    url = "/portal/account/network-password"
    bad = portal.post(url, headers, {"current_password": "portal-pass-1", "new_password": "has space"})
    assert bad.status_code == 422
    r = portal.post(url, headers, {"current_password": "portal-pass-1", "new_password": "n3w-Secret"})
    assert r.status_code == 200, r.body
    assert r.json_body["router_sync"] == "queued"
    # the password is stored encrypted and the router task asks to reconcile this subscriber
    fresh = portal.subscriber(sub.id)
    assert fresh.password_enc != "n3w-Secret"
    assert portal.rt.box.decrypt(fresh.password_enc) == "n3w-Secret"
    task = ProvisioningTask.get(r.json_body["task_id"])
    assert (task.kind, task.subscriber_id, task.status) == ("reconcile_subscriber", sub.id, "queued")
    messages = (
        portal.rt.aws.client("sqs")
        .receive_message(QueueUrl=queue_urls(portal.rt)[0], MaxNumberOfMessages=10)
        .get("Messages", [])
    )
    assert task.id in [json.loads(m["Body"])["task_id"] for m in messages]
    # with the router API disabled the change is saved and the answer says the router was not changed
    gw.update(actions=[Gateway.api_enabled.set(False)])
    r = portal.post(url, headers, {"current_password": "portal-pass-1", "new_password": "0ther-Secret"})
    assert r.json_body["router_sync"] == "api_disabled"
    assert "not changed" in r.json_body["warning"]


def test_update_contact_data(portal: Portal):
    sub = portal.new_subscriber()
    headers = portal.login_as(sub)
    url = "/portal/account/contact"
    assert portal.call("PATCH", url, headers, {"email": "not-an-email"}).status_code == 422
    assert portal.call("PATCH", url, headers, {"username": "hijack"}).status_code == 422
    r = portal.call("PATCH", url, headers, {"phone": "+52 55 1234 5678", "address": "Calle 1", "email": None})
    assert r.status_code == 200, r.body
    me = portal.get("/portal/me", headers).json_body
    assert (me["phone"], me["address"], me["email"]) == ("+52 55 1234 5678", "Calle 1", None)
    assert me["name"] == "Test Customer"  # untouched
