"""Secrets stay where they belong: not in the logs, not in tenant reads, not in the audit log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from services import subscribers as subscriber_service
from store.models import Tenant
from tests.integration.channels.support import Http, sent_emails

pytestmark = pytest.mark.usefixtures("http")

DEMO_PASSWORD = "demo123"  # the demo subscriber's network password
STRIPE_KEY = "sk_test_51HygieneKeyNeverShown0001"
STRIPE_SIGNING = "whsec_HygieneSigningSecretNeverShown"


@pytest.fixture
def formatted_logs() -> Iterator[list[str]]:
    """Each application log record as a handler writes it out, the formatted traceback included."""
    lines: list[str] = []
    formatter = logging.Formatter("%(message)s")

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(f"{formatter.format(record)} {record.__dict__}")

    root = logging.getLogger("wispcloud")
    handler = _Keep(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield lines
    finally:
        root.removeHandler(handler)


def test_an_email_subject_holding_the_password_is_not_logged(http: Http, app_logs: list[str]) -> None:
    demo = http.demo
    # Given a tenant whose credentials e-mail subject shows the password (stored before subjects were
    # checked: no endpoint accepts it now)
    Tenant.get(demo.tenant_id).update(
        actions=[
            Tenant.settings.set(
                {"templates": {"credentials_email_subject": "Wi-Fi password {{ contrasena }}"}}
            )
        ]
    )
    # When the subscriber's credentials are e-mailed
    resp = http.post(
        f"/admin/subscribers/{demo.subscriber_id}/credentials/send", http.manager(), {"channel": "email"}
    )
    assert resp.status_code == 200, resp.json_body
    (mail,) = sent_emails()
    assert mail.subject == f"Wi-Fi password {DEMO_PASSWORD}"
    # Then the sending is logged, without the subject and so without the password
    assert any("email sent" in line for line in app_logs)
    assert not any(DEMO_PASSWORD in line for line in app_logs)


def _connect_stripe(http: Http) -> dict[str, Any]:
    resp = http.call(
        "PUT",
        "/admin/payment-settings/accounts/stripe",
        http.manager(),
        {"api_key": STRIPE_KEY, "webhook_secret": STRIPE_SIGNING, "mode": "test"},
    )
    assert resp.status_code == 200, resp.json_body
    stored = (Tenant.get(http.demo.tenant_id).settings or {})["payments"]["accounts"]["stripe"]
    return dict(stored)


def test_tenant_reads_never_return_the_encrypted_payment_keys(http: Http) -> None:
    demo = http.demo
    # Given a Stripe account connected with its secret key and signing secret (stored encrypted)
    stored = _connect_stripe(http)
    ciphertexts = [stored["api_key_enc"], stored["webhook_secret_enc"]]
    reader = http.as_(demo.operator_id, demo.tenant_id, "read_only")
    # When a read-only operator reads the tenant, alone and in the list
    one = http.get(f"/admin/tenants/{demo.tenant_id}", reader)
    many = http.get("/admin/tenants", reader)
    assert one.status_code == 200 and many.status_code == 200
    # Then neither answer holds the keys, in clear or encrypted; what is set is still shown
    for body in (one.body.decode(), many.body.decode()):
        assert not any(c in body for c in ciphertexts)
        assert STRIPE_KEY not in body and STRIPE_SIGNING not in body
    account = one.json_body["settings"]["payments"]["accounts"]["stripe"]
    assert account["key_hint"] == stored["key_hint"] and account["mode"] == "test"
    assert not any(k.endswith("_enc") for k in account)


def test_payments_settings_sent_back_as_read_keep_the_connected_account(http: Http) -> None:
    demo = http.demo
    stored = _connect_stripe(http)
    # Given the tenant's settings as a read shows them (no key material)
    settings = http.get(f"/admin/tenants/{demo.tenant_id}", http.manager()).json_body["settings"]
    # When they are sent back unchanged
    resp = http.call("PATCH", f"/admin/tenants/{demo.tenant_id}", http.manager(), {"settings": settings})
    assert resp.status_code == 200, resp.json_body
    # Then the account keeps its keys: still connected
    after = (Tenant.get(demo.tenant_id).settings or {})["payments"]["accounts"]["stripe"]
    assert after["api_key_enc"] == stored["api_key_enc"]
    assert after["webhook_secret_enc"] == stored["webhook_secret_enc"]
    view = http.get(f"/admin/payment-settings?tenant_id={demo.tenant_id}", http.manager()).json_body
    stripe = next(a for a in view["accounts"] if a["provider"] == "stripe")
    assert stripe["configured"] is True and stripe["webhook_secret_set"] is True
    # And the audit entry of the change holds no key material either
    audit = http.get(f"/admin/audit?entity_id={demo.tenant_id}", http.manager()).json_body["items"]
    assert audit and not any(stored["api_key_enc"] in str(e) for e in audit)


def test_an_unexpected_error_quoting_the_password_is_logged_without_it(
    http: Http, formatted_logs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = http.demo
    real = subscriber_service.credentials

    # Given a defect: the credentials read answers without the username, so the response model fails
    # with a validation error whose text quotes what it was given (the password)
    def broken(*args: Any, **kwargs: Any) -> dict[str, str]:
        return {"password": real(*args, **kwargs)["password"]}

    monkeypatch.setattr(subscriber_service, "credentials", broken)
    # When an operator reads the credentials
    resp = http.get(f"/admin/subscribers/{demo.subscriber_id}/credentials", http.manager())
    # Then the answer is a plain 500, and the logged error names the failure but not the password
    assert resp.status_code == 500 and DEMO_PASSWORD not in resp.body.decode()
    logged = [line for line in formatted_logs if "unhandled error" in line]
    assert logged and any("CredentialsOut" in line and "username" in line for line in logged)
    assert not any(DEMO_PASSWORD in line for line in formatted_logs)
