"""Credentials delivery through the HTTP API: SMS and e-mail recorded by moto's SNS/SES, the welcome
e-mail with its auto-login button, per-tenant templates with preview, and the printed card (SPEC S4)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from core.ids import now_iso
from store import subscribers as subscriber_store
from store.models import Gateway, Operator
from tests.integration.channels.support import Http, pdf_text, sent_emails, sent_sms

pytestmark = pytest.mark.usefixtures("http")


def test_send_credentials_by_sms_and_email_with_tenant_templates(http: Http) -> None:
    demo = http.demo
    # Given the tenant's own SMS template
    put = http.put(
        "/admin/credentials/templates",
        http.manager(),
        {
            "templates": {
                "credentials_sms": "{{ empresa }} Wi-Fi: usuario {{ usuario }} clave {{ contrasena }}"
            }
        },
    )
    assert put.status_code == 200, put.json_body
    assert put.json_body["templates"]["credentials_sms"]["custom"] is True
    # When the demo subscriber's credentials are sent on both channels
    resp = http.post(
        f"/admin/subscribers/{demo.subscriber_id}/credentials/send", http.manager(), {"channel": "both"}
    )
    # Then SNS published the SMS from the tenant template and SES sent the default e-mail
    assert resp.status_code == 200, resp.json_body
    assert sorted(s["channel"] for s in resp.json_body["sent"]) == ["email", "sms"]
    assert sent_sms() == [("+15555550100", "Demo WISP Wi-Fi: usuario demo clave demo123")]
    (mail,) = sent_emails()
    assert mail.destinations["ToAddresses"] == ["demo@example.com"]
    assert mail.subject == "Demo WISP: your access credentials"
    assert "User: demo" in mail.body and "Password: demo123" in mail.body and "Plan: Home 10M" in mail.body
    # And the response and the audit log mask the recipients and never hold the password
    assert all("***" in s["recipient"] for s in resp.json_body["sent"])
    audit = http.get(f"/admin/audit?entity_id={demo.subscriber_id}", http.manager()).json_body["items"]
    entry = next(e for e in audit if e["action"] == "send_credentials")
    assert "demo123" not in str(entry)


def test_channel_follows_the_domain_setting_and_missing_contacts_are_clear_errors(http: Http) -> None:
    demo = http.demo
    gw = Gateway.get(demo.gateway_id)
    gw.update(actions=[Gateway.domain_settings.set({"credentials": {"channel": "sms"}})])
    # When no channel is given, the domain's (SMS) is used
    resp = http.post(f"/admin/subscribers/{demo.subscriber_id}/credentials/send", http.manager())
    assert resp.status_code == 200 and [s["channel"] for s in resp.json_body["sent"]] == ["sms"]
    assert len(sent_sms()) == 1 and sent_emails() == []
    # Given the subscriber has neither phone nor e-mail
    sub = subscriber_store.get_by_id(demo.subscriber_id)
    assert sub is not None
    subscriber_store.update_fields(sub, {"phone": None, "email": None})
    # Then each channel answers 422 naming the missing contact, and nothing is sent
    sms = http.post(
        f"/admin/subscribers/{demo.subscriber_id}/credentials/send", http.manager(), {"channel": "sms"}
    )
    assert sms.status_code == 422 and sms.json_body["error"]["field"] == "phone"
    mail = http.post(
        f"/admin/subscribers/{demo.subscriber_id}/credentials/send", http.manager(), {"channel": "email"}
    )
    assert mail.status_code == 422 and mail.json_body["error"]["field"] == "email"
    both = http.post(
        f"/admin/subscribers/{demo.subscriber_id}/credentials/send", http.manager(), {"channel": "both"}
    )
    assert both.status_code == 422
    welcome = http.post(f"/admin/subscribers/{demo.subscriber_id}/welcome-email", http.manager())
    assert welcome.status_code == 422 and welcome.json_body["error"]["field"] == "email"
    assert len(sent_sms()) == 1 and sent_emails() == []


def test_welcome_email_has_a_working_autologin_button(http: Http) -> None:
    demo = http.demo
    # When the welcome e-mail is sent
    resp = http.post(f"/admin/subscribers/{demo.subscriber_id}/welcome-email", http.manager())
    assert resp.status_code == 200, resp.json_body
    (mail,) = sent_emails()
    assert mail.subject == "Welcome to Demo WISP"
    # Then the e-mail carries the auto-login link as a button
    links = re.findall(r'href="([^"]+)"', mail.body)
    assert len(links) == 1 and "/my/autologin?token=" in links[0] and "Open my portal" in mail.body
    # And the link's page (/my/autologin) signs the subscriber into the portal with the link's token
    url = urlsplit(links[0].replace("&amp;", "&"))
    assert url.path == "/my/autologin"
    signin = http.post("/portal/auth/autologin", body={"token": parse_qs(url.query)["token"][0]})
    assert signin.status_code == 200, signin.json_body
    assert signin.json_body["subscriber_id"] == demo.subscriber_id


def test_preview_and_template_validation(http: Http) -> None:
    demo = http.demo
    # A preview with a subscriber masks the password but keeps its length
    resp = http.post(
        "/admin/credentials/preview",
        http.manager(),
        {"template": "credentials_sms", "subscriber_id": demo.subscriber_id},
    )
    assert resp.status_code == 200, resp.json_body
    assert resp.json_body["text"] == "Demo WISP: your user is demo and your password *******"
    assert resp.json_body["fits_sms"] is True
    # A text being edited that is too long for an SMS is reported, not refused
    long_text = "{{ empresa }} " + "x" * 170
    resp = http.post(
        "/admin/credentials/preview", http.manager(), {"template": "credentials_sms", "text": long_text}
    )
    assert resp.status_code == 200 and resp.json_body["fits_sms"] is False and resp.json_body["length"] > 164
    # The welcome preview shows the HTML button without issuing a live link
    resp = http.post(
        "/admin/credentials/preview",
        http.manager(),
        {"template": "welcome_email", "subscriber_id": demo.subscriber_id},
    )
    assert "Open my portal" in resp.json_body["html"] and "(issued-when-sent)" in resp.json_body["text"]
    # Saving an over-long SMS or an unknown placeholder is refused with the template's field
    bad = http.put(
        "/admin/credentials/templates", http.manager(), {"templates": {"credentials_sms": long_text}}
    )
    assert bad.status_code == 422 and bad.json_body["error"]["field"] == "templates.credentials_sms"
    bad = http.put(
        "/admin/credentials/templates", http.manager(), {"templates": {"credentials_email": "Hi {{ apodo }}"}}
    )
    assert bad.status_code == 422 and "apodo" in bad.json_body["error"]["message"]
    # Staff with the operator role cannot edit templates; a manager resets one to the default
    Operator(
        id="op_staff",
        tenant_id=demo.tenant_id,
        email="staff@demo.local",
        role="operator",
        password_hash="-",
        created_at=now_iso(),
    ).save()
    staff = http.as_("op_staff", demo.tenant_id, "operator")
    assert (
        http.put("/admin/credentials/templates", staff, {"templates": {"credentials_sms": None}}).status_code
        == 403
    )
    assert (
        http.put(
            "/admin/credentials/templates", http.manager(), {"templates": {"credentials_sms": None}}
        ).status_code
        == 200
    )
    got = http.get("/admin/credentials/templates", http.manager()).json_body
    assert got["templates"]["credentials_sms"]["custom"] is False and "contrasena" in got["placeholders"]


def test_print_single_card(http: Http) -> None:
    demo = http.demo
    resp = http.get(
        f"/admin/subscribers/{demo.subscriber_id}/card.pdf",
        http.manager(),
        headers={"Accept": "application/pdf"},
    )
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/pdf"
    pages, text = pdf_text(resp.body)
    assert pages == 1
    assert "Demo WISP" in text and "demo123" in text and "Home 10M" in text and "Demo Subscriber" in text
    # another tenant's subscriber is not found
    assert (
        http.get(f"/admin/subscribers/{demo.subscriber_id}/card.pdf", http.other_manager()).status_code == 404
    )


def test_a_printed_card_says_until_when_in_the_subscribers_zone(http: Http) -> None:
    # Given a service ending at 02:00 UTC on 1 June: 20:00 on 31 May in the demo zone (Mexico City)
    sub = subscriber_store.get_by_id(http.demo.subscriber_id)
    assert sub is not None
    subscriber_store.update_fields(sub, {"product_expires_at": "2026-06-01T02:00:00.000000Z"})
    # When its card is printed, it shows the local date and time the service ends
    resp = http.get(
        f"/admin/subscribers/{sub.id}/card.pdf", http.manager(), headers={"Accept": "application/pdf"}
    )
    assert resp.status_code == 200
    _, text = pdf_text(resp.body)
    assert "Valid until 2026-05-31 20:00" in text, text


def test_bulk_autologin_sms_with_a_result_per_subscriber(http: Http) -> None:
    demo = http.demo
    # Given a subscriber without a phone next to the demo subscriber (who has one)
    sub = subscriber_store.get_by_id(demo.subscriber_id)
    assert sub is not None
    nophone = http.post("/admin/subscribers", http.manager(), {"username": "nophone", "status": "active"})
    assert nophone.status_code == 201, nophone.json_body
    nophone_id = nophone.json_body["subscriber"]["id"]
    # A template without the link, or too long once rendered, is refused before anything is sent
    bad = http.post(
        "/admin/autologin-links/sms",
        http.manager(),
        {"subscriber_ids": [demo.subscriber_id], "template": "{{ empresa }} says hi"},
    )
    assert bad.status_code == 422 and bad.json_body["error"]["field"] == "template"
    assert sent_sms() == []
    # When links are sent to both (and an unknown id)
    resp = http.post(
        "/admin/autologin-links/sms",
        http.manager(),
        {
            "subscriber_ids": [demo.subscriber_id, nophone_id, "sub_missing"],
            "template": "{{ empresa }}: tu portal {{ url_autologin }}",
        },
    )
    # Then one SMS went out with a short link that signs the subscriber in, and each result says why
    assert resp.status_code == 200, resp.json_body
    results = {r["subscriber_id"]: r["result"] for r in resp.json_body["results"]}
    assert results == {demo.subscriber_id: "sent", nophone_id: "no_phone", "sub_missing": "not_found"}
    ((phone, text),) = sent_sms()
    assert phone == "+15555550100" and text.startswith("Demo WISP: tu portal http") and len(text) <= 164
    link = re.search(r"https?://\S+", text).group(0)
    path = urlsplit(link).path  # the page /my/a/<code> opens the session with GET /portal/a/<code>
    assert path.startswith("/my/a/")
    session = http.get("/portal/a/" + path.removeprefix("/my/a/"), {})
    assert session.status_code == 200 and session.json_body["subscriber_id"] == demo.subscriber_id


def test_the_autologin_sms_template_is_saved_at_the_templates_endpoint_and_used(http: Http) -> None:
    demo = http.demo
    # Given a manager's own auto-login SMS template, saved where the other message templates are
    saved = http.put(
        "/admin/credentials/templates",
        http.manager(),
        {"templates": {"autologin_sms": "{{ empresa }} portal: {{ url_autologin }}"}},
    )
    assert saved.status_code == 200, saved.json_body
    assert saved.json_body["templates"]["autologin_sms"] == {
        "text": "{{ empresa }} portal: {{ url_autologin }}",
        "custom": True,
    }
    # When links are sent without a text of their own
    resp = http.post("/admin/autologin-links/sms", http.manager(), {"subscriber_ids": [demo.subscriber_id]})
    # Then the SMS is the saved template
    assert resp.status_code == 200, resp.json_body
    ((_phone, text),) = sent_sms()
    assert text.startswith("Demo WISP portal: http"), text
    # And an unknown placeholder in it is refused with the template's field
    bad = http.put(
        "/admin/credentials/templates",
        http.manager(),
        {"templates": {"autologin_sms": "{{ apodo }} {{ url_autologin }}"}},
    )
    assert bad.status_code == 422 and bad.json_body["error"]["field"] == "templates.autologin_sms"
