"""A local HTTP double of the Stripe and Mercado Pago APIs (127.0.0.1, ephemeral port), answering
with the request and response shapes their API references document, plus what the providers send
back: webhook deliveries signed with each provider's scheme.

Stripe: ``POST /v1/checkout/sessions`` (form-encoded, bracketed keys), ``GET /v1/account``; errors
as ``{"error": {"type", "message"}}`` with 401 for an unknown key. Events as ``{"id": "evt_…",
"object": "event", "type", "created", "data": {"object": …}}`` signed ``Stripe-Signature:
t=<unix>,v1=<HMAC-SHA256("<t>.<body>")>``.

Mercado Pago: ``POST /checkout/preferences`` (JSON) → ``{"id", "init_point", "sandbox_init_point", …}``,
``GET /v1/payments/{id}``, ``GET /users/me``; 401 for an unknown token. Notifications as
``POST <notification_url>?data.id=<id>&type=payment`` with ``{"id", "type": "payment", "action",
"data": {"id"}}``, ``x-request-id`` and ``x-signature: ts=<unix>,v1=<HMAC-SHA256(
"id:<data.id>;request-id:<x-request-id>;ts:<ts>;")>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit


def _set_path(target: dict[str, Any], key: str, value: str) -> None:
    """``line_items[0][price_data][unit_amount]=2500`` → nested dicts/lists (Stripe's form encoding)."""
    parts = re.findall(r"[^\[\]]+", key)
    node: Any = target
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        nxt: Any = value if last else ([] if parts[i + 1].isdigit() else {})
        if isinstance(node, list):
            idx = int(part)
            while len(node) <= idx:
                node.append(None)
            if node[idx] is None or last:
                node[idx] = nxt
            node = node[idx]
        else:
            if part not in node or last:
                node[part] = nxt
            node = node[part]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class ProviderDouble:
    stripe_keys: set[str] = field(default_factory=set)
    mp_tokens: set[str] = field(default_factory=set)
    requests: list[Recorded] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    preferences: dict[str, dict[str, Any]] = field(default_factory=dict)
    mp_payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> str:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_" + secrets.token_hex(6))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, payload = double.dispatch(method, self.path, headers, raw)
                self._answer(status, payload)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # ------------------------------------------------------------ routing
    def dispatch(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        parts = urlsplit(target)
        path = parts.path
        auth = headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        if path.startswith("/v1/checkout") or path == "/v1/account":
            body: Any = {}
            for k, v in parse_qsl(raw.decode(), keep_blank_values=True):
                _set_path(body, k, v)
            with self.lock:
                self.requests.append(Recorded(method, path, headers, body))
            if token not in self.stripe_keys:
                return 401, {
                    "error": {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_***"}
                }
            if method == "POST" and path == "/v1/checkout/sessions":
                return 200, self._stripe_session(body, token)
            if method == "GET" and path == "/v1/account":
                return 200, {
                    "id": "acct_1WispTest",
                    "object": "account",
                    "business_profile": {"name": "Demo WISP"},
                    "charges_enabled": True,
                }
            return 404, {"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}}
        body = json.loads(raw) if raw else None
        with self.lock:
            self.requests.append(Recorded(method, path, headers, body))
        if token not in self.mp_tokens:
            return 401, {
                "message": "invalid access token",
                "error": "unauthorized",
                "status": 401,
                "cause": [],
            }
        if method == "POST" and path == "/checkout/preferences":
            return 201, self._mp_preference(body, token)
        m = re.fullmatch(r"/v1/payments/([^/]+)", path)
        if method == "GET" and m:
            payment = self.mp_payments.get(m.group(1))
            if payment is None:
                return 404, {"message": "Payment not found", "error": "not_found", "status": 404, "cause": []}
            return 200, payment
        if method == "GET" and path == "/users/me":
            return 200, {"id": 123456789, "nickname": "TESTUSER123456", "site_id": "MLA", "email": "t@x.test"}
        return 404, {"message": "resource not found", "error": "not_found", "status": 404, "cause": []}

    # ------------------------------------------------------------ Stripe
    def _stripe_session(self, params: dict[str, Any], key: str) -> dict[str, Any]:
        sid = ("cs_test_" if "_test_" in key else "cs_live_") + secrets.token_hex(12)
        item = params["line_items"][0]
        unit = int(item["price_data"]["unit_amount"]) * int(item.get("quantity") or 1)
        session = {
            "id": sid,
            "object": "checkout.session",
            "amount_subtotal": unit,
            "amount_total": unit,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": int(time.time()),
            "currency": item["price_data"]["currency"],
            "customer_email": params.get("customer_email"),
            "expires_at": int(params.get("expires_at") or time.time() + 86400),
            "livemode": "_live_" in key,
            "metadata": params.get("metadata") or {},
            "mode": params.get("mode"),
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "url": f"https://checkout.stripe.com/c/pay/{sid}",
            "_pi_metadata": (params.get("payment_intent_data") or {}).get("metadata") or {},
        }
        with self.lock:
            self.sessions[sid] = session
        return {k: v for k, v in session.items() if not k.startswith("_")}

    def stripe_complete(self, session_id: str, payment_status: str = "paid") -> dict[str, Any]:
        """The customer pays: the session gets its PaymentIntent; returns the session object."""
        s = self.sessions[session_id]
        s["payment_intent"] = s["payment_intent"] or "pi_" + secrets.token_hex(12)
        s["payment_status"], s["status"] = payment_status, "complete"
        return {k: v for k, v in s.items() if not k.startswith("_")}

    def stripe_charge(self, session_id: str, refunded: int = 0) -> dict[str, Any]:
        s = self.sessions[session_id]
        return {
            "id": "ch_" + hashlib.sha256(str(s["payment_intent"]).encode()).hexdigest()[:16],
            "object": "charge",
            "amount": s["amount_total"],
            "amount_captured": s["amount_total"],
            "amount_refunded": refunded,
            "currency": s["currency"],
            "metadata": s["_pi_metadata"],
            "paid": True,
            "payment_intent": s["payment_intent"],
            "refunded": refunded >= s["amount_total"],
            "status": "succeeded",
        }

    def stripe_dispute(self, session_id: str, amount: int | None = None) -> dict[str, Any]:
        s = self.sessions[session_id]
        charge = self.stripe_charge(session_id)
        return {
            "id": "dp_" + secrets.token_hex(8),
            "object": "dispute",
            "amount": s["amount_total"] if amount is None else amount,
            "charge": charge["id"],
            "currency": s["currency"],
            "metadata": {},
            "payment_intent": s["payment_intent"],
            "reason": "fraudulent",
            "status": "needs_response",
        }

    @staticmethod
    def stripe_event(kind: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        return {
            "id": event_id or "evt_" + secrets.token_hex(12),
            "object": "event",
            "api_version": "2025-09-30.clover",
            "created": int(time.time()),
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }

    @staticmethod
    def stripe_signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
        ts = int(time.time()) if timestamp is None else timestamp
        mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        return f"t={ts},v1={mac}"

    # ------------------------------------------------------------ Mercado Pago
    def _mp_preference(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        pid = f"123456789-{uuid.uuid4()}"
        pref = {
            **body,
            "id": pid,
            "collector_id": 123456789,
            "client_id": "6295877106812064",
            "date_created": "2026-12-07T10:00:00.000-04:00",
            "init_point": f"https://www.mercadopago.com.ar/checkout/v1/redirect?pref_id={pid}",
            "sandbox_init_point": f"https://sandbox.mercadopago.com.ar/checkout/v1/redirect?pref_id={pid}",
        }
        with self.lock:
            self.preferences[pid] = pref
        return pref

    def mp_pay(self, preference_id: str, status: str = "approved", amount: Any = None) -> dict[str, Any]:
        """The customer pays a preference: a payment exists at Mercado Pago with that status."""
        pref = self.preferences[preference_id]
        item = pref["items"][0]
        payment_id = str(secrets.randbelow(10**10) + 10**10)
        payment = {
            "id": int(payment_id),
            "date_created": "2026-12-07T10:01:00.000-04:00",
            "date_approved": "2026-12-07T10:01:02.000-04:00" if status == "approved" else None,
            "status": status,
            "status_detail": "accredited" if status == "approved" else "pending_contingency",
            "currency_id": item["currency_id"],
            "description": item["title"],
            "live_mode": False,
            "external_reference": pref["external_reference"],
            "metadata": pref.get("metadata") or {},
            "transaction_amount": item["unit_price"] if amount is None else amount,
            "transaction_amount_refunded": 0,
            "refunds": [],
            "payment_method_id": "visa",
            "payment_type_id": "credit_card",
            "operation_type": "regular_payment",
            "order": {"id": "9876543210", "type": "mercadopago"},
        }
        with self.lock:
            self.mp_payments[payment_id] = payment
        return payment

    def mp_set(self, payment_id: Any, **changes: Any) -> None:
        with self.lock:
            self.mp_payments[str(payment_id)].update(changes)

    @staticmethod
    def mp_notification(
        secret: str, data_id: Any, *, timestamp: int | None = None, request_id: str | None = None
    ) -> tuple[str, dict[str, str], bytes]:
        """(query string, headers, body) of one Mercado Pago webhook delivery for a payment."""
        ts = int(time.time()) if timestamp is None else timestamp
        rid = request_id or str(uuid.uuid4())
        manifest = f"id:{str(data_id).lower()};request-id:{rid};ts:{ts};"
        v1 = hmac.new(secret.encode(), manifest.encode(), hashlib.sha256).hexdigest()
        body = {
            "id": secrets.randbelow(10**11) + 10**11,
            "live_mode": False,
            "type": "payment",
            "date_created": "2026-12-07T10:01:03.000-04:00",
            "user_id": 123456789,
            "api_version": "v1",
            "action": "payment.updated",
            "data": {"id": str(data_id)},
        }
        query = urlencode({"data.id": str(data_id), "type": "payment"})
        return query, {"x-signature": f"ts={ts},v1={v1}", "x-request-id": rid}, json.dumps(body).encode()
