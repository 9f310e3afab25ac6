"""Stripe and Mercado Pago through their official SDKs, against a local double of their APIs: the
operator connects an account (write-only keys, test/live, webhook URL, test connection), a subscriber
pays an invoice on the provider's checkout, and the provider's signed webhooks — valid, replayed,
reordered, concurrent, forged, stale, refunds and charge-backs — move the money exactly once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl

import pytest

from services.billing import online as pay
from services.billing.invoices import create_internet_invoice
from store import billing as billing_store
from store import portal as portal_store
from store import tenants as tenant_store
from store.models import Payment, Tenant
from tests.conftest import serialized_moto
from tests.fakes.payment_providers import ProviderDouble
from tests.integration.portal.support import Portal, enc, payments_of

STRIPE_KEY = "sk_test_" + "51Wisp" + "a" * 24
STRIPE_WHSEC = "whsec_" + "b" * 32
MP_TOKEN = "TEST-" + "1234567890123456-120712-" + "c" * 32
MP_SECRET = "d" * 64
CONTACT = "billing@demo-wisp.test"


@pytest.fixture(scope="module")
def provider_api() -> Iterator[tuple[ProviderDouble, str]]:
    """The providers' APIs, served locally, and their base URL."""
    double = ProviderDouble(stripe_keys={STRIPE_KEY}, mp_tokens={MP_TOKEN})
    base = double.start()
    try:
        yield double, base
    finally:
        double.stop()


@pytest.fixture(scope="module")
def world_settings(provider_api: tuple[ProviderDouble, str]) -> dict[str, Any]:
    return {"stripe_api_base": provider_api[1], "mercadopago_api_base": provider_api[1]}


@pytest.fixture
def double(provider_api: tuple[ProviderDouble, str]) -> ProviderDouble:
    return provider_api[0]


@pytest.fixture
def connected(portal: Portal) -> Portal:
    """Both accounts connected, online payments on with Stripe as the default."""
    op = portal.operator()
    r = portal.call(
        "PUT",
        "/admin/payment-settings/accounts/stripe",
        op,
        {"mode": "test", "api_key": STRIPE_KEY, "webhook_secret": STRIPE_WHSEC},
    )
    assert r.status_code == 200, r.body
    r = portal.call(
        "PUT",
        "/admin/payment-settings/accounts/mercadopago",
        op,
        {"mode": "test", "api_key": MP_TOKEN, "webhook_secret": MP_SECRET, "enabled": True},
    )
    assert r.status_code == 200, r.body
    r = portal.call("PUT", "/admin/payment-settings", op, {"enabled": True, "provider": "stripe"})
    assert r.status_code == 200, r.body
    tenant = tenant_store.get_tenant(portal.demo.tenant_id)
    if tenant.contact_email != CONTACT:
        tenant.update(actions=[Tenant.contact_email.set(CONTACT)])
    return portal


# ---------------------------------------------------------------- helpers
def _checkout(portal: Portal, sub: Any, invoice_id: str, provider: str | None = None) -> dict[str, Any]:
    body = {"provider": provider} if provider else {}
    r = portal.post(f"/portal/invoices/{enc(invoice_id)}/checkout", portal.login_as(sub), body)
    assert r.status_code == 201, r.body
    return dict(r.json_body)


def _stripe_webhook(
    portal: Portal, event: dict[str, Any], *, secret: str = STRIPE_WHSEC, ts: int | None = None
) -> Any:
    body = json.dumps(event).encode()
    sig = ProviderDouble.stripe_signature(secret, body, ts)
    return portal.call(
        "POST",
        f"/portal/payments/webhooks/stripe/{portal.demo.tenant_id}",
        {"Stripe-Signature": sig},
        raw=body,
    )


def _mp_webhook(
    portal: Portal, payment_id: Any, *, secret: str = MP_SECRET, ts: int | None = None, **kw: Any
) -> Any:
    query, headers, body = ProviderDouble.mp_notification(secret, payment_id, timestamp=ts, **kw)
    return portal.call(
        "POST", f"/portal/payments/webhooks/mercadopago/{portal.demo.tenant_id}?{query}", headers, raw=body
    )


def _stripe_delivery(event: dict[str, Any]) -> tuple[dict[str, str], bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    return {"Stripe-Signature": ProviderDouble.stripe_signature(STRIPE_WHSEC, body)}, body, {}


def _concurrently(
    portal: Portal, provider: str, deliveries: list[tuple[dict[str, str], bytes, dict[str, str]]]
) -> list[Any]:
    """Deliveries processed at the same time, as concurrent function invocations would: the webhook
    operation itself in one thread each (Chalice's test client shares one current request between
    threads), DynamoDB's per-request atomicity."""

    def one(d: tuple[dict[str, str], bytes, dict[str, str]]) -> Any:
        headers, body, query = d
        return pay.handle_webhook(portal.rt, portal.demo.tenant_id, provider, headers, body, query=query)

    with serialized_moto(), ThreadPoolExecutor(len(deliveries)) as pool:
        return list(pool.map(one, deliveries))


def _session_id(double: ProviderDouble, checkout_id: str) -> str:
    return next(sid for sid, s in double.sessions.items() if s["client_reference_id"] == checkout_id)


def _preference_id(double: ProviderDouble, checkout_id: str) -> str:
    return next(pid for pid, p in double.preferences.items() if p["external_reference"] == checkout_id)


def _invoice(invoice_id: str) -> Any:
    inv = billing_store.get_invoice(invoice_id)
    assert inv is not None
    return inv


def _reversals(sub_id: str) -> list[Payment]:
    return [p for p in billing_store.payments_of_subscriber(sub_id) if p.kind == "reversal"]


def _emails_sent(portal: Portal) -> int:
    stats = portal.rt.aws.client("ses").get_send_statistics()["SendDataPoints"]
    return sum(int(p.get("DeliveryAttempts", 0)) for p in stats)


# ---------------------------------------------------------------- operator settings
def test_provider_keys_are_write_only_mode_checked_and_tested_through_the_provider(
    portal: Portal, double: ProviderDouble
):
    op = portal.operator()
    # a live key in test mode, or a Stripe secret that is not a signing secret, is refused naming the field
    r = portal.call(
        "PUT",
        "/admin/payment-settings/accounts/stripe",
        op,
        {"mode": "test", "api_key": "sk_live_" + "x" * 24},
    )
    assert r.status_code == 422 and r.json_body["error"]["field"] == "api_key"
    r = portal.call(
        "PUT",
        "/admin/payment-settings/accounts/stripe",
        op,
        {"api_key": STRIPE_KEY, "webhook_secret": "not-a-secret"},
    )
    assert r.status_code == 422 and r.json_body["error"]["field"] == "webhook_secret"
    assert (
        portal.call("PUT", "/admin/payment-settings/accounts/paypal", op, {"api_key": STRIPE_KEY}).status_code
        == 404
    )
    # an operator below manager cannot see or change them
    low = portal.operator(role="operator")
    assert (
        portal.call(
            "PUT", "/admin/payment-settings/accounts/stripe", low, {"api_key": STRIPE_KEY}
        ).status_code
        == 403
    )
    # connected: the answer and the settings show a hint and the webhook URL, never the key
    r = portal.call(
        "PUT",
        "/admin/payment-settings/accounts/stripe",
        op,
        {"mode": "test", "api_key": STRIPE_KEY, "webhook_secret": STRIPE_WHSEC},
    )
    assert r.status_code == 200, r.body
    assert r.json_body["webhook_url"].endswith(f"/portal/payments/webhooks/stripe/{portal.demo.tenant_id}")
    assert r.json_body["key_hint"] == "…" + STRIPE_KEY[-4:] and r.json_body["webhook_secret_set"] is True
    settings = portal.get("/admin/payment-settings", op)
    assert settings.status_code == 200
    text = json.dumps(settings.json_body)
    assert STRIPE_KEY not in text and STRIPE_WHSEC not in text and "v1:" not in text
    accounts = {a["provider"]: a for a in settings.json_body["accounts"]}
    assert accounts["stripe"]["configured"] and accounts["mercadopago"]["webhook_url"].endswith(
        f"/webhooks/mercadopago/{portal.demo.tenant_id}"
    )
    # at rest the keys are ciphertext, and the audit log holds no key material either
    stored = json.dumps(tenant_store.get_tenant(portal.demo.tenant_id).settings)
    assert STRIPE_KEY not in stored and STRIPE_WHSEC not in stored and "v1:" in stored
    # test connection goes to the provider with the stored key
    before = len(double.requests)
    check = portal.post("/admin/payment-settings/accounts/stripe/test", op)
    assert check.status_code == 200, check.body
    assert check.json_body["ok"] is True and check.json_body["account"].startswith("acct_1WispTest")
    call = double.requests[before]
    assert (call.method, call.path, call.headers["authorization"]) == (
        "GET",
        "/v1/account",
        f"Bearer {STRIPE_KEY}",
    )
    # a key the provider does not accept: the check says so (no exception, no key in the answer)
    double.stripe_keys.discard(STRIPE_KEY)
    try:
        bad = portal.post("/admin/payment-settings/accounts/stripe/test", op).json_body
    finally:
        double.stripe_keys.add(STRIPE_KEY)
    assert bad["ok"] is False and "refused" in bad["detail"] and STRIPE_KEY not in json.dumps(bad)
    # Mercado Pago: the test check reads the account behind the token
    r = portal.call(
        "PUT", "/admin/payment-settings/accounts/mercadopago", op, {"mode": "live", "api_key": MP_TOKEN}
    )
    assert r.status_code == 422 and r.json_body["error"]["field"] == "api_key"
    r = portal.call(
        "PUT",
        "/admin/payment-settings/accounts/mercadopago",
        op,
        {"api_key": MP_TOKEN, "webhook_secret": MP_SECRET},
    )
    assert r.status_code == 200, r.body
    mp = portal.post("/admin/payment-settings/accounts/mercadopago/test", op).json_body
    assert mp["ok"] is True and "TESTUSER" in mp["account"] and mp["livemode"] is False
    # Stripe cannot be the default before it is connected elsewhere; here it is
    assert (
        portal.call("PUT", "/admin/payment-settings", op, {"enabled": True, "provider": "stripe"}).status_code
        == 200
    )


# ---------------------------------------------------------------- Stripe
def test_stripe_checkout_is_opened_through_the_sdk_for_the_invoice(connected: Portal, double: ProviderDouble):
    portal = connected
    sub = portal.new_subscriber()
    inv = portal.invoice("25.00", sub.id)
    providers = portal.get("/portal/payments/providers", portal.login_as(sub)).json_body
    assert providers["default"] == "stripe" and set(providers["providers"]) >= {
        "stripe",
        "mercadopago",
    }
    chk = _checkout(portal, sub, inv.id)
    assert chk["provider"] == "stripe" and chk["url"].startswith("https://checkout.stripe.com/c/pay/cs_test_")
    sent = [r for r in double.requests if r.path == "/v1/checkout/sessions"][-1]
    assert sent.headers["authorization"] == f"Bearer {STRIPE_KEY}"
    assert sent.headers["idempotency-key"] == f"wisp-checkout-{chk['checkout_id']}"
    body = sent.body
    assert body["mode"] == "payment" and body["client_reference_id"] == chk["checkout_id"]
    assert body["line_items"][0]["price_data"] == {
        "currency": "usd",
        "unit_amount": "2500",
        "product_data": {"name": f"Invoice {inv.number}"},
    }
    assert body["metadata"]["invoice_id"] == inv.id == body["payment_intent_data"]["metadata"]["invoice_id"]
    assert body["success_url"].startswith(  # the page showing the checkout's status
        f"{portal.rt.settings.public_base_url}/my/checkout/{chk['checkout_id']}?result=success"
    )


def test_stripe_signed_webhook_pays_once_whatever_the_replays_and_concurrency(
    connected: Portal, double: ProviderDouble
):
    portal = connected
    sub = portal.new_subscriber()
    inv = portal.invoice("25.00", sub.id)
    chk = _checkout(portal, sub, inv.id)
    session = double.stripe_complete(_session_id(double, chk["checkout_id"]))
    event = double.stripe_event("checkout.session.completed", session)
    first = _stripe_webhook(portal, event)
    assert first.status_code == 200, first.body
    assert first.json_body["status"] == "applied"
    assert _invoice(inv.id).status == "paid"
    # the same event again (a retry), and another event for the same PaymentIntent
    assert _stripe_webhook(portal, event).json_body["status"] == "duplicate"
    again = double.stripe_event("checkout.session.async_payment_succeeded", session)
    assert _stripe_webhook(portal, again).json_body["status"] == "duplicate"
    # eight deliveries of one more event id at once
    burst = double.stripe_event("checkout.session.completed", session)
    outcomes = _concurrently(portal, "stripe", [_stripe_delivery(burst)] * 8)
    assert {o.status for o in outcomes} == {"duplicate"}
    assert len(payments_of(sub.id)) == 1
    assert payments_of(sub.id)[0].amount == "25.00" and payments_of(sub.id)[0].method == "online:stripe"
    status = portal.get(f"/portal/payments/checkouts/{chk['checkout_id']}", portal.login_as(sub)).json_body
    assert status["status"] == "paid"


def test_stripe_concurrent_first_deliveries_record_one_payment(connected: Portal, double: ProviderDouble):
    portal = connected
    sub = portal.new_subscriber()
    inv = portal.invoice("30.00", sub.id)
    session = double.stripe_complete(_session_id(double, _checkout(portal, sub, inv.id)["checkout_id"]))
    events = [double.stripe_event("checkout.session.completed", session) for _ in range(6)]
    outcomes = _concurrently(portal, "stripe", [_stripe_delivery(e) for e in events])
    assert sorted(o.status for o in outcomes) == ["applied"] + ["duplicate"] * 5
    assert [p.amount for p in payments_of(sub.id)] == ["30.00"]
    assert _invoice(inv.id).paid == "30.00"


def test_stripe_forged_or_stale_webhooks_are_refused(connected: Portal, double: ProviderDouble):
    portal = connected
    sub = portal.new_subscriber()
    inv = portal.invoice("25.00", sub.id)
    session = double.stripe_complete(_session_id(double, _checkout(portal, sub, inv.id)["checkout_id"]))
    event = double.stripe_event("checkout.session.completed", session)
    assert _stripe_webhook(portal, event, secret="whsec_" + "0" * 32).status_code == 401
    assert _stripe_webhook(portal, event, ts=int(time.time()) - 600).status_code == 401  # replayed later
    body = json.dumps(event).encode()
    sig = ProviderDouble.stripe_signature(STRIPE_WHSEC, body)
    tampered = body.replace(b'"amount_total": 2500', b'"amount_total": 250000')
    path = f"/portal/payments/webhooks/stripe/{portal.demo.tenant_id}"
    assert portal.call("POST", path, {"Stripe-Signature": sig}, raw=tampered).status_code == 401
    assert portal.call("POST", path, {}, raw=body).status_code == 401
    # signed for another tenant's endpoint: that tenant has no Stripe account
    other = f"/portal/payments/webhooks/stripe/{portal.demo.reseller_id}"
    assert portal.call("POST", other, {"Stripe-Signature": sig}, raw=body).status_code in (401, 404)
    assert payments_of(sub.id) == [] and _invoice(inv.id).status == "pending"


def test_stripe_refund_reverses_reopens_and_notifies_without_suspending(
    connected: Portal, double: ProviderDouble
):
    portal = connected
    sub = portal.new_subscriber()
    inv = portal.invoice("25.00", sub.id)
    sid = _session_id(double, _checkout(portal, sub, inv.id)["checkout_id"])
    session = double.stripe_complete(sid)
    assert (
        _stripe_webhook(portal, double.stripe_event("checkout.session.completed", session)).json_body[
            "status"
        ]
        == "applied"
    )
    mails = _emails_sent(portal)
    # a partial refund of 10.00: the invoice owes 10.00 again
    partial = double.stripe_event("charge.refunded", double.stripe_charge(sid, refunded=1000))
    r = _stripe_webhook(portal, partial)
    assert r.status_code == 200 and r.json_body["status"] == "reversed", r.body
    inv_now = _invoice(inv.id)
    assert (inv_now.status, inv_now.paid) == ("partial", "15.00")
    assert _stripe_webhook(portal, partial).json_body["status"] == "duplicate"
    # the rest is refunded; then the first refund event is delivered again, late, under a new id
    full = double.stripe_event("charge.refunded", double.stripe_charge(sid, refunded=2500))
    assert _stripe_webhook(portal, full).json_body["status"] == "reversed"
    late = double.stripe_event("charge.refunded", double.stripe_charge(sid, refunded=1000))
    assert _stripe_webhook(portal, late).json_body["status"] == "duplicate"
    inv_now = _invoice(inv.id)
    assert (inv_now.status, inv_now.paid) == ("pending", "0.00")
    [payment] = payments_of(sub.id)
    assert (payment.status, payment.reversed_amount) == ("reversed", "25.00")
    assert sorted(p.amount for p in _reversals(sub.id)) == ["10.00", "15.00"]
    # never re-suspended silently: still active, and the tenant's contact got one e-mail per reversal
    assert portal.subscriber(sub.id).status == "active"
    assert _emails_sent(portal) == mails + 2


def test_stripe_refund_before_the_payment_event_is_applied_after_it(
    connected: Portal, double: ProviderDouble
):
    portal = connected
    sub = portal.new_subscriber()
    inv = portal.invoice("40.00", sub.id)
    sid = _session_id(double, _checkout(portal, sub, inv.id)["checkout_id"])
    session = double.stripe_complete(sid)
    refund = double.stripe_event("charge.refunded", double.stripe_charge(sid, refunded=1500))
    assert _stripe_webhook(portal, refund).json_body["status"] == "deferred"
    assert payments_of(sub.id) == []
    assert (
        _stripe_webhook(portal, double.stripe_event("checkout.session.completed", session)).json_body[
            "status"
        ]
        == "applied"
    )
    inv_now = _invoice(inv.id)
    assert (inv_now.status, inv_now.paid) == ("partial", "25.00")
    assert [p.amount for p in _reversals(sub.id)] == ["15.00"]


def test_stripe_refund_racing_its_payment_event_is_applied_once(
    connected: Portal, double: ProviderDouble, monkeypatch: pytest.MonkeyPatch
):
    """The refund event finds no payment yet; the payment event lands, finding no refund remembered yet,
    before the refund event remembers it: the refund is still applied, once."""
    portal = connected
    sub = portal.new_subscriber()
    inv = portal.invoice("40.00", sub.id)
    sid = _session_id(double, _checkout(portal, sub, inv.id)["checkout_id"])
    completed = double.stripe_event("checkout.session.completed", double.stripe_complete(sid))
    refund = double.stripe_event("charge.refunded", double.stripe_charge(sid, refunded=1500))
    tenant = portal.demo.tenant_id
    landed: list[Any] = []
    original = portal_store.find_payment

    def find_payment(payment_id: str) -> Any:
        found = original(payment_id)
        if not landed:  # the payment event is processed right after the refund event looked
            landed.append(None)
            headers, body, query = _stripe_delivery(completed)
            landed[0] = pay.handle_webhook(portal.rt, tenant, "stripe", headers, body, query=query)
        return found

    monkeypatch.setattr(portal_store, "find_payment", find_payment)
    headers, body, query = _stripe_delivery(refund)
    outcome = pay.handle_webhook(portal.rt, tenant, "stripe", headers, body, query=query)
    monkeypatch.setattr(portal_store, "find_payment", original)
    assert landed[0].status == "applied" and outcome.status == "reversed"
    inv_now = _invoice(inv.id)
    assert (inv_now.status, inv_now.paid) == ("partial", "25.00")
    assert [p.amount for p in _reversals(sub.id)] == ["15.00"]
    # the payment event delivered again changes nothing more
    assert _stripe_webhook(portal, completed).json_body["status"] == "duplicate"
    assert [p.amount for p in _reversals(sub.id)] == ["15.00"]


def test_stripe_dispute_charges_back_the_payment(connected: Portal, double: ProviderDouble):
    portal = connected
    sub = portal.new_subscriber()
    inv = portal.invoice("20.00", sub.id)
    sid = _session_id(double, _checkout(portal, sub, inv.id)["checkout_id"])
    _stripe_webhook(portal, double.stripe_event("checkout.session.completed", double.stripe_complete(sid)))
    dispute = double.stripe_dispute(sid)
    r = _stripe_webhook(portal, double.stripe_event("charge.dispute.created", dispute))
    assert r.json_body["status"] == "reversed", r.body
    assert (
        _stripe_webhook(portal, double.stripe_event("charge.dispute.funds_withdrawn", dispute)).json_body[
            "status"
        ]
        == "duplicate"
    )
    assert _invoice(inv.id).status == "pending"
    [payment] = payments_of(sub.id)
    assert payment.reversals == {"chargeback": "20.00"} and payment.status == "reversed"


def test_stripe_unavailable_when_checking_out_is_a_503_not_a_500(connected: Portal, double: ProviderDouble):
    portal = connected
    sub = portal.new_subscriber()
    inv = portal.invoice("5.00", sub.id)
    double.stripe_keys.discard(STRIPE_KEY)
    try:
        r = portal.post(
            f"/portal/invoices/{enc(inv.id)}/checkout", portal.login_as(sub), {"provider": "stripe"}
        )
    finally:
        double.stripe_keys.add(STRIPE_KEY)
    assert r.status_code == 409 and r.json_body["error"]["field"] == "provider"
    r = portal.post(f"/portal/invoices/{enc(inv.id)}/checkout", portal.login_as(sub), {"provider": "paypal"})
    assert r.status_code == 422 and r.json_body["error"]["field"] == "provider"


@pytest.fixture
def tenant_currency(connected: Portal) -> Iterator[Callable[[str], None]]:
    """Sets the demo tenant's currency for one test (its invoices are made in it), then restores it."""
    tenant = tenant_store.get_tenant(connected.demo.tenant_id)
    before = tenant.currency

    def use(code: str) -> None:
        tenant.update(actions=[Tenant.currency.set(code)])

    try:
        yield use
    finally:
        use(before)


@pytest.mark.parametrize(
    ("currency", "price", "total", "unit_amount", "paid", "balance"),
    [
        ("CLP", "25000", "25000", "25000", "25000", "0"),
        ("PYG", "150000", "150000", "150000", "150000", "0"),
        # zero-decimal at Stripe: the whole amount, never × 100
        ("UGX", "25000", "25000", "25000", "25000", "0"),
        ("XOF", "12500", "12500", "12500", "12500", "0"),
        ("MGA", "50000", "50000.00", "50000", "50000.00", "0.00"),
        # whole krónur, sent as hundredths
        ("ISK", "4990", "4990", "499000", "4990", "0"),
        # three decimals whose last one Stripe wants 0: rounded up, the invoice is paid in full and
        # the few fils over are the subscriber's balance in favour
        ("KWD", "5.124", "5.124", "5130", "5.130", "0.006"),
    ],
)
def test_stripe_checkout_in_the_tenants_currency_pays_the_invoice_in_full(
    connected: Portal,
    double: ProviderDouble,
    tenant_currency: Callable[[str], None],
    currency: str,
    price: str,
    total: str,
    unit_amount: str,
    paid: str,
    balance: str,
):
    portal = connected
    tenant_currency(currency)
    sub = portal.new_subscriber()
    inv = portal.invoice(price, sub.id)
    assert (inv.currency, inv.total) == (currency, total)
    chk = _checkout(portal, sub, inv.id)
    sent = [r for r in double.requests if r.path == "/v1/checkout/sessions"][-1].body
    assert sent["line_items"][0]["price_data"]["currency"] == currency.lower()
    assert sent["line_items"][0]["price_data"]["unit_amount"] == unit_amount
    session = double.stripe_complete(_session_id(double, chk["checkout_id"]))
    r = _stripe_webhook(portal, double.stripe_event("checkout.session.completed", session))
    assert r.status_code == 200 and r.json_body["status"] == "applied", r.body
    [payment] = payments_of(sub.id)
    assert (payment.amount, payment.currency) == (paid, currency)
    inv_now = _invoice(inv.id)
    assert (inv_now.status, inv_now.paid) == ("paid", total)
    assert portal.subscriber(sub.id).balance == balance


# ---------------------------------------------------------------- Mercado Pago
def test_mercadopago_checkout_and_signed_notification_pay_once(connected: Portal, double: ProviderDouble):
    portal = connected
    sub = portal.new_subscriber()
    inv = portal.invoice("25.00", sub.id)
    chk = _checkout(portal, sub, inv.id, "mercadopago")
    assert chk["provider"] == "mercadopago" and chk["url"].startswith("https://sandbox.mercadopago.com.ar/")
    pref_id = _preference_id(double, chk["checkout_id"])
    sent = [r for r in double.requests if r.path == "/checkout/preferences"][-1]
    assert sent.headers["authorization"] == f"Bearer {MP_TOKEN}"
    assert sent.body["items"][0] == {
        "id": inv.id,
        "title": f"Invoice {inv.number}",
        "quantity": 1,
        "currency_id": "USD",
        "unit_price": 25.0,
    }
    assert sent.body["external_reference"] == chk["checkout_id"]
    assert sent.body["notification_url"].startswith(
        f"{portal.rt.settings.public_base_url}/portal/payments/webhooks/mercadopago/{portal.demo.tenant_id}"
    )
    # a pending payment first (cash voucher), then approved: one payment
    payment = double.mp_pay(pref_id, status="pending")
    assert _mp_webhook(portal, payment["id"]).json_body["status"] == "pending"
    assert payments_of(sub.id) == []
    double.mp_set(payment["id"], status="approved", status_detail="accredited")
    first = _mp_webhook(portal, payment["id"])
    assert first.status_code == 200 and first.json_body["status"] == "applied", first.body
    assert _invoice(inv.id).status == "paid"
    fetches = [r for r in double.requests if r.path == f"/v1/payments/{payment['id']}"]
    assert fetches and all(r.headers["authorization"] == f"Bearer {MP_TOKEN}" for r in fetches)
    # every further notification of the payment, concurrently too, changes nothing
    deliveries = []
    for _ in range(6):
        query, headers, body = ProviderDouble.mp_notification(MP_SECRET, payment["id"])
        deliveries.append((headers, body, dict(parse_qsl(query))))
    assert {o.status for o in _concurrently(portal, "mercadopago", deliveries)} == {"duplicate"}
    assert [p.amount for p in payments_of(sub.id)] == ["25.00"]


def test_mercadopago_forged_mismatched_or_stale_notifications_are_refused(
    connected: Portal, double: ProviderDouble
):
    portal = connected
    sub = portal.new_subscriber()
    inv = portal.invoice("25.00", sub.id)
    pref_id = _preference_id(double, _checkout(portal, sub, inv.id, "mercadopago")["checkout_id"])
    payment = double.mp_pay(pref_id)
    before = len(double.requests)
    assert _mp_webhook(portal, payment["id"], secret="e" * 64).status_code == 401
    assert _mp_webhook(portal, payment["id"], ts=int(time.time()) - 900).status_code == 401
    # a valid signature for one payment id, sent naming another
    query, headers, body = ProviderDouble.mp_notification(MP_SECRET, 111)
    path = f"/portal/payments/webhooks/mercadopago/{portal.demo.tenant_id}"
    assert (
        portal.call("POST", f"{path}?data.id={payment['id']}&type=payment", headers, raw=body).status_code
        == 401
    )
    # the request id is part of the manifest
    headers = {**headers, "x-request-id": "another-request"}
    assert portal.call("POST", f"{path}?{query}", headers, raw=body).status_code == 401
    assert portal.call("POST", f"{path}?{query}", {}, raw=body).status_code == 401
    # nothing was fetched from Mercado Pago for a refused notification, and nothing was paid
    assert not [r for r in double.requests[before:] if r.path.startswith("/v1/payments")]
    assert payments_of(sub.id) == [] and _invoice(inv.id).status == "pending"


def test_mercadopago_refund_and_chargeback_reverse_once(connected: Portal, double: ProviderDouble):
    portal = connected
    sub = portal.new_subscriber()
    inv = portal.invoice("30.00", sub.id)
    pref_id = _preference_id(double, _checkout(portal, sub, inv.id, "mercadopago")["checkout_id"])
    payment = double.mp_pay(pref_id)
    assert _mp_webhook(portal, payment["id"]).json_body["status"] == "applied"
    double.mp_set(payment["id"], transaction_amount_refunded=12.5, status_detail="partially_refunded")
    assert _mp_webhook(portal, payment["id"]).json_body["status"] == "reversed"
    assert _mp_webhook(portal, payment["id"]).json_body["status"] == "duplicate"
    assert (_invoice(inv.id).status, _invoice(inv.id).paid) == ("partial", "17.50")
    double.mp_set(payment["id"], status="charged_back", status_detail="settled")
    assert _mp_webhook(portal, payment["id"]).json_body["status"] == "reversed"
    assert (_invoice(inv.id).status, _invoice(inv.id).paid) == ("pending", "0.00")
    [recorded] = payments_of(sub.id)
    assert recorded.reversed_amount == "30.00"
    assert portal.subscriber(sub.id).status == "active"


def test_mercadopago_payment_first_seen_refunded_nets_to_what_was_kept(
    connected: Portal, double: ProviderDouble
):
    """Notifications reordered: the first one processed finds the payment already partly refunded."""
    portal = connected
    sub = portal.new_subscriber()
    inv = portal.invoice("50.00", sub.id)
    pref_id = _preference_id(double, _checkout(portal, sub, inv.id, "mercadopago")["checkout_id"])
    payment = double.mp_pay(pref_id)
    double.mp_set(payment["id"], transaction_amount_refunded=20, status_detail="partially_refunded")
    assert _mp_webhook(portal, payment["id"]).json_body["status"] == "reversed"
    assert _mp_webhook(portal, payment["id"]).json_body["status"] == "duplicate"
    assert (_invoice(inv.id).status, _invoice(inv.id).paid) == ("partial", "30.00")
    assert [p.amount for p in payments_of(sub.id)] == ["50.00"]
    assert [p.amount for p in _reversals(sub.id)] == ["20.00"]


@pytest.mark.parametrize("provider", ["stripe", "mercadopago"])
def test_a_provider_payment_for_invoice_x_lands_on_invoice_x(
    connected: Portal, double: ProviderDouble, provider: str
):
    portal = connected
    sub = portal.new_subscriber()
    older = portal.invoice("10.00", sub.id)  # unpaid and older: the oldest-first rule would pick it
    target = portal.invoice("25.00", sub.id)
    chk = _checkout(portal, sub, target.id, provider)
    if provider == "stripe":
        session = double.stripe_complete(_session_id(double, chk["checkout_id"]))
        answer = _stripe_webhook(portal, double.stripe_event("checkout.session.completed", session))
    else:
        payment = double.mp_pay(_preference_id(double, chk["checkout_id"]))
        answer = _mp_webhook(portal, payment["id"])
    assert answer.json_body["status"] == "applied", answer.body
    assert (_invoice(target.id).status, _invoice(target.id).paid) == ("paid", "25.00")
    assert (_invoice(older.id).status, _invoice(older.id).paid) == ("pending", "0")
    [recorded] = payments_of(sub.id)
    assert [a["invoice_id"] for a in recorded.applied] == [target.id]


# ---------------------------------------------------------------- won disputes
def _reinstatements(sub_id: str) -> list[Payment]:
    return [p for p in billing_store.payments_of_subscriber(sub_id) if p.kind == "reinstatement"]


def _stripe_paid(portal: Portal, double: ProviderDouble, sub: Any, invoice_id: str) -> str:
    sid = _session_id(double, _checkout(portal, sub, invoice_id)["checkout_id"])
    event = double.stripe_event("checkout.session.completed", double.stripe_complete(sid))
    assert _stripe_webhook(portal, event).json_body["status"] == "applied"
    return sid


def _audit_actions(portal: Portal, entity_id: str) -> list[str]:
    r = portal.get(f"/admin/audit?entity_id={entity_id}", portal.operator())
    assert r.status_code == 200, r.body
    return [e["action"] for e in r.json_body["items"]]


def test_stripe_won_dispute_applies_the_money_again_to_its_invoice_once(
    connected: Portal, double: ProviderDouble
):
    portal = connected
    sub = portal.new_subscriber()
    inv = portal.invoice("20.00", sub.id)
    sid = _stripe_paid(portal, double, sub, inv.id)
    dispute = double.stripe_dispute(sid)
    assert (
        _stripe_webhook(portal, double.stripe_event("charge.dispute.created", dispute)).json_body["status"]
        == "reversed"
    )
    assert (_invoice(inv.id).status, _invoice(inv.id).paid) == ("pending", "0.00")
    mails = _emails_sent(portal)
    # the merchant wins: the dispute closes as won, and the funds are reinstated (two events, one movement)
    won = {**dispute, "status": "won"}
    r = _stripe_webhook(portal, double.stripe_event("charge.dispute.closed", won))
    assert r.status_code == 200 and r.json_body["status"] == "reinstated", r.body
    assert (_invoice(inv.id).status, _invoice(inv.id).paid) == ("paid", "20.00")
    assert (
        _stripe_webhook(portal, double.stripe_event("charge.dispute.funds_reinstated", won)).json_body[
            "status"
        ]
        == "duplicate"
    )
    # a burst of one more delivery at once, and the charge-back itself again, late, under a new id
    burst = double.stripe_event("charge.dispute.closed", won)
    assert {o.status for o in _concurrently(portal, "stripe", [_stripe_delivery(burst)] * 8)} == {"duplicate"}
    late = double.stripe_event("charge.dispute.funds_withdrawn", dispute)
    assert _stripe_webhook(portal, late).json_body["status"] == "duplicate"
    assert (_invoice(inv.id).status, _invoice(inv.id).paid) == ("paid", "20.00")
    [payment] = payments_of(sub.id)
    assert (payment.status, payment.reversed_amount) == ("applied", "0.00")
    assert payment.reversals == {"chargeback": "20.00", "dispute_won": "20.00"}
    [row] = _reinstatements(sub.id)
    assert row.amount == "20.00" and row.applied == [{"invoice_id": inv.id, "amount": "20.00"}]
    assert row.effects["reinstates"] == payment.id and row.reference == dispute["id"]
    # audited, and the tenant's contact told once; the subscriber was never touched
    assert _audit_actions(portal, payment.id).count("dispute_won") == 1
    assert _emails_sent(portal) == mails + 1
    assert portal.subscriber(sub.id).status == "active"
    status = portal.get(
        f"/portal/payments/checkouts/{_session(double, sid)['client_reference_id']}", portal.login_as(sub)
    ).json_body
    assert status["status"] == "paid"


def _session(double: ProviderDouble, sid: str) -> dict[str, Any]:
    return double.sessions[sid]


def test_stripe_won_dispute_delivered_before_its_charge_back_moves_nothing(
    connected: Portal, double: ProviderDouble
):
    portal = connected
    sub = portal.new_subscriber()
    inv = portal.invoice("20.00", sub.id)
    sid = _stripe_paid(portal, double, sub, inv.id)
    dispute = double.stripe_dispute(sid)
    won = {**dispute, "status": "won"}
    assert (
        _stripe_webhook(portal, double.stripe_event("charge.dispute.closed", won)).json_body["status"]
        == "recorded"
    )
    for kind in ("charge.dispute.created", "charge.dispute.funds_withdrawn"):
        assert _stripe_webhook(portal, double.stripe_event(kind, dispute)).json_body["status"] == "duplicate"
    assert (_invoice(inv.id).status, _invoice(inv.id).paid) == ("paid", "20.00")
    [payment] = payments_of(sub.id)
    assert (payment.status, payment.reversed_amount) == ("applied", "0.00")
    assert _reversals(sub.id) == [] and _reinstatements(sub.id) == []


def test_stripe_inquiry_and_lost_dispute_change_nothing_further(connected: Portal, double: ProviderDouble):
    portal = connected
    sub = portal.new_subscriber()
    inv = portal.invoice("20.00", sub.id)
    sid = _stripe_paid(portal, double, sub, inv.id)
    # an inquiry withdraws no funds: acknowledged, nothing moves
    inquiry = {**double.stripe_dispute(sid), "status": "warning_needs_response"}
    r = _stripe_webhook(portal, double.stripe_event("charge.dispute.created", inquiry))
    assert r.status_code == 200 and r.json_body["status"] == "ignored"
    assert _invoice(inv.id).status == "paid"
    dispute = double.stripe_dispute(sid)
    assert (
        _stripe_webhook(portal, double.stripe_event("charge.dispute.created", dispute)).json_body["status"]
        == "reversed"
    )
    lost = {**dispute, "status": "lost"}
    assert (
        _stripe_webhook(portal, double.stripe_event("charge.dispute.closed", lost)).json_body["status"]
        == "duplicate"
    )
    assert (_invoice(inv.id).status, _invoice(inv.id).paid) == ("pending", "0.00")
    assert len(_reversals(sub.id)) == 1 and _reinstatements(sub.id) == []


def test_won_dispute_reconnects_a_suspended_subscriber_only_under_the_tenants_rule(
    connected: Portal, double: ProviderDouble
):
    portal = connected
    op = portal.operator()
    outcomes = {}
    for case in ("alone", "older_overdue"):
        sub = portal.new_subscriber(created_at="2026-01-05T12:00:00.000000Z")
        if case == "older_overdue":  # another overdue invoice the won dispute does not pay
            older = create_internet_invoice(portal.rt, portal.demo.tenant_id, sub.id, "2026-09", "op_test")
        overdue = create_internet_invoice(portal.rt, portal.demo.tenant_id, sub.id, "2026-10", "op_test")
        sid = _stripe_paid(portal, double, sub, overdue.id)
        dispute = double.stripe_dispute(sid)
        _stripe_webhook(portal, double.stripe_event("charge.dispute.created", dispute))
        assert _invoice(overdue.id).status == "pending"
        # the re-opened invoice is past its date: the operator (or the cutoff) suspends
        r = portal.post(f"/admin/subscribers/{sub.id}/suspend", op, {"reason": "charge-back"})
        assert r.status_code == 200, r.body
        assert portal.subscriber(sub.id).status == "suspended"
        won = {**dispute, "status": "won"}
        assert (
            _stripe_webhook(portal, double.stripe_event("charge.dispute.closed", won)).json_body["status"]
            == "reinstated"
        )
        assert _invoice(overdue.id).status == "paid"
        [row] = _reinstatements(sub.id)
        outcomes[case] = (portal.subscriber(sub.id).status, row.effects["reconnection"])
    assert outcomes["alone"] == (
        "active",
        {"rule": "nothing_overdue", "reactivated": True, "overdue_left": "0.00"},
    )
    assert outcomes["older_overdue"] == (
        "suspended",
        {"rule": "nothing_overdue", "reactivated": False, "overdue_left": older.total},
    )


def test_mercadopago_chargeback_decided_for_the_seller_is_applied_again_once(
    connected: Portal, double: ProviderDouble
):
    portal = connected
    sub = portal.new_subscriber()
    inv = portal.invoice("30.00", sub.id)
    pref_id = _preference_id(double, _checkout(portal, sub, inv.id, "mercadopago")["checkout_id"])
    payment = double.mp_pay(pref_id)
    assert _mp_webhook(portal, payment["id"]).json_body["status"] == "applied"
    double.mp_set(payment["id"], status="charged_back", status_detail="in_process")
    assert _mp_webhook(portal, payment["id"]).json_body["status"] == "reversed"
    assert (_invoice(inv.id).status, _invoice(inv.id).paid) == ("pending", "0.00")
    double.mp_set(payment["id"], status_detail="reimbursed")
    assert _mp_webhook(portal, payment["id"]).json_body["status"] == "reinstated"
    assert (_invoice(inv.id).status, _invoice(inv.id).paid) == ("paid", "30.00")
    deliveries = []
    for _ in range(6):
        query, headers, body = ProviderDouble.mp_notification(MP_SECRET, payment["id"])
        deliveries.append((headers, body, dict(parse_qsl(query))))
    assert {o.status for o in _concurrently(portal, "mercadopago", deliveries)} == {"duplicate"}
    [recorded] = payments_of(sub.id)
    assert (recorded.status, recorded.reversed_amount) == ("applied", "0.00")
    assert [p.amount for p in _reversals(sub.id)] == ["30.00"]
    assert [p.amount for p in _reinstatements(sub.id)] == ["30.00"]


def test_mercadopago_payment_approved_again_after_a_chargeback_is_won_back(
    connected: Portal, double: ProviderDouble
):
    portal = connected
    sub = portal.new_subscriber()
    inv = portal.invoice("30.00", sub.id)
    pref_id = _preference_id(double, _checkout(portal, sub, inv.id, "mercadopago")["checkout_id"])
    payment = double.mp_pay(pref_id)
    assert _mp_webhook(portal, payment["id"]).json_body["status"] == "applied"
    double.mp_set(payment["id"], status="charged_back", status_detail="settled")
    assert _mp_webhook(portal, payment["id"]).json_body["status"] == "reversed"
    double.mp_set(payment["id"], status="approved", status_detail="accredited")
    assert _mp_webhook(portal, payment["id"]).json_body["status"] == "reinstated"
    assert _mp_webhook(portal, payment["id"]).json_body["status"] == "duplicate"
    assert (_invoice(inv.id).status, _invoice(inv.id).paid) == ("paid", "30.00")
    assert [p.amount for p in _reinstatements(sub.id)] == ["30.00"]


def test_mercadopago_payment_first_seen_with_its_chargeback_won_is_simply_paid(
    connected: Portal, double: ProviderDouble
):
    """Notifications lost or reordered: the first one processed finds the dispute already decided."""
    portal = connected
    sub = portal.new_subscriber()
    inv = portal.invoice("30.00", sub.id)
    pref_id = _preference_id(double, _checkout(portal, sub, inv.id, "mercadopago")["checkout_id"])
    payment = double.mp_pay(pref_id)
    double.mp_set(payment["id"], status="charged_back", status_detail="reimbursed")
    assert _mp_webhook(portal, payment["id"]).json_body["status"] == "applied"
    assert _mp_webhook(portal, payment["id"]).json_body["status"] == "duplicate"
    assert (_invoice(inv.id).status, _invoice(inv.id).paid) == ("paid", "30.00")
    [recorded] = payments_of(sub.id)
    assert (recorded.amount, recorded.reversed_amount) == ("30.00", "0.00")
    assert _reversals(sub.id) == [] and _reinstatements(sub.id) == []
