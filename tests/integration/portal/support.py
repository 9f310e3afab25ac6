"""Helpers for the customer-portal tests: a Chalice test client, portal sign-in, operator headers,
signed provider webhooks and invoices created through the billing operation."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from chalice.test import Client

from core.ids import new_id, now_iso
from infra.local.demo import DemoData
from services.billing.invoices import create_other_invoice
from services.billing.online import sign_payload, webhook_secret
from shared.crypto import hash_password
from shared.runtime import Runtime
from shared.tokens import issue_operator_token
from store import billing as billing_store
from store.models import Invoice, Operator, Subscriber, Tenant

JSON = {"Content-Type": "application/json"}


@dataclass
class Portal:
    client: Client
    rt: Runtime
    demo: DemoData

    # ------------------------------------------------------------ HTTP
    def call(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: Any = None,
        raw: bytes | None = None,
    ) -> Any:
        h = {**JSON, **(headers or {})}
        fn = getattr(self.client.http, method.lower())
        if raw is not None:
            return fn(path, headers=h, body=raw)
        if body is not None:
            return fn(path, headers=h, body=json.dumps(body))
        return fn(path, headers=h)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.call("GET", path, headers)

    def post(self, path: str, headers: dict[str, str] | None = None, body: Any = None, **kw: Any) -> Any:
        return self.call("POST", path, headers, body if body is not None else {}, **kw)

    # ------------------------------------------------------------ who
    def login(
        self, username: str = "demo", password: str = "demo123", tenant_id: str | None = None
    ) -> dict[str, str]:
        resp = self.post(
            "/portal/auth/login",
            body={"tenant_id": tenant_id or self.demo.tenant_id, "username": username, "password": password},
        )
        assert resp.status_code == 200, resp.body
        return {"Authorization": f"Bearer {resp.json_body['token']}"}

    def operator(self, tenant_id: str | None = None, role: str = "manager") -> dict[str, str]:
        """A freshly created operator of that tenant (default: the demo manager tenant)."""
        tid = tenant_id or self.demo.tenant_id
        op_id = new_id("op")
        Operator(
            id=op_id,
            tenant_id=tid,
            email=f"{op_id}@test.local",
            role=role,
            password_hash=hash_password("pw-12345678"),
            created_at=now_iso(),
        ).save()
        token = issue_operator_token(self.rt.signer, op_id, tid, role, 3600)
        return {"Authorization": f"Bearer {token}"}

    def other_tenant(self) -> str:
        """A sibling manager tenant of the demo tenant (its operators must not see demo data)."""
        tid = new_id("ten")
        Tenant(
            id=tid,
            name="Other WISP",
            kind="manager",
            parent_id=self.demo.reseller_id,
            ancestors=[self.demo.system_id, self.demo.reseller_id],
            created_at=now_iso(),
        ).save()
        return tid

    def new_subscriber(
        self, status: str = "active", password: str = "portal-pass-1", **fields: Any
    ) -> Subscriber:
        """A subscriber of the demo tenant on the demo router and plan (each test gets its own)."""
        username = f"u{secrets.token_hex(4)}"
        values: dict[str, Any] = {
            "connection_type": "pppoe",
            "name": "Test Customer",
            "email": f"{username}@example.com",
            "zone_id": self.demo.zone_id,
            "gateway_id": self.demo.gateway_id,
            "product_id": self.demo.product_id,
            "product_assigned_at": now_iso(),
            "created_at": now_iso(),
            **fields,
        }
        sub = Subscriber(
            login=f"{self.demo.tenant_id}#{username}",
            id=new_id("sub"),
            tenant_id=self.demo.tenant_id,
            username=username,
            password_enc=self.rt.box.encrypt("net-pass-1"),
            portal_password_hash=hash_password(password) if password else None,
            status=status,
            **values,
        )
        sub.save()
        return sub

    def login_as(self, sub: Subscriber, password: str = "portal-pass-1") -> dict[str, str]:
        return self.login(sub.username, password)

    def subscriber(self, sub_id: str | None = None) -> Subscriber:
        for row in Subscriber.id_index.query(sub_id or self.demo.subscriber_id):
            return Subscriber.get(row.login)
        raise AssertionError("subscriber not found")

    # ------------------------------------------------------------ billing and payments
    def invoice(self, amount: str = "25.00", sub_id: str | None = None) -> Invoice:
        return create_other_invoice(
            self.rt,
            self.demo.tenant_id,
            sub_id or self.demo.subscriber_id,
            [{"description": "Internet service", "quantity": "1", "unit_price": amount}],
            "op_test",
        )

    def enable_payments(self) -> dict[str, Any]:
        resp = self.call(
            "PUT",
            "/admin/payment-settings",
            self.operator(),
            {"enabled": True, "provider": "hosted", "checkout_url": "https://pay.example.com/checkout"},
        )
        assert resp.status_code == 200, resp.body
        return dict(resp.json_body)

    def webhook(
        self,
        event: dict[str, Any],
        *,
        secret: str | None = None,
        timestamp: int | None = None,
        tenant_id: str | None = None,
    ) -> Any:
        tid = tenant_id or self.demo.tenant_id
        body = json.dumps(event).encode()
        ts = int(time.time()) if timestamp is None else timestamp
        sig = sign_payload(secret or webhook_secret(self.rt, tid), ts, body)
        return self.call("POST", f"/portal/payments/webhooks/hosted/{tid}", {"Wisp-Signature": sig}, raw=body)


def completed_event(
    reference: str, amount: str, event_id: str | None = None, currency: str = "USD"
) -> dict[str, Any]:
    return {
        "id": event_id or new_id("evt"),
        "type": "checkout.completed",
        "created": int(time.time()),
        "data": {
            "reference": reference,
            "payment_id": new_id("py"),
            "amount": amount,
            "currency": currency,
            "status": "paid",
        },
    }


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def path_of(url: str) -> str:
    """The API request a link's page makes: /my/autologin?token= → GET /portal/auth/autologin?token=,
    /my/a/<code> → GET /portal/a/<code>; any other link as it is."""
    parts = urlsplit(url)
    path = parts.path
    if path == "/my/autologin":
        path = "/portal/auth/autologin"
    elif path.startswith("/my/a/"):
        path = "/portal/a/" + path.removeprefix("/my/a/")
    return f"{path}?{parts.query}" if parts.query else path


def enc(value: str) -> str:
    """A path segment (internet invoice ids contain '#')."""
    return quote(value, safe="")


def payments_of(subscriber_id: str) -> list[Any]:
    return [p for p in billing_store.payments_of_subscriber(subscriber_id) if p.kind == "payment"]


def money(value: str) -> Decimal:
    return Decimal(value)
