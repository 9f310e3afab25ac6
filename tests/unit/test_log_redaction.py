"""Secret values never reach the logs, whatever field or text holds them: each record is read back as the
service's logger writes it out (one JSON object per line)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from services.billing.online.gateway import ProviderCallError
from shared.observability import get_logger, logger

STRIPE_LIVE = "sk_live_51NxQvLJk2eZvKYlo2C8zRtUvWxYz0123"
STRIPE_RESTRICTED = "rk_test_51NxQvLJk2eZvKYlo2C8zAbCdEf4567"
STRIPE_SIGNING = "whsec_8d1f0c2b9a7e6d5c4b3a29180f7e6d5c"
MERCADOPAGO_LIVE = "APP_USR-4517263849201736-060512-7c1e0f5a9b3d4e2f8a6c1b0d9e8f7a6b-1293847561"
MERCADOPAGO_TEST = "TEST-4517263849201736-060512-0a1b2c3d4e5f60718293a4b5c6d7e8f9-1293847561"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJvcF8xMjMiLCJ0aWQiOiJ0ZW5fZGVtbyJ9"
    ".4pcPyMD09olPSyXnrXCjTwXyr4BsezdI1AVTmud2fU4"
)
# The product's own API key, as an external procedure sends it: ``<id>.<secret>``
API_KEY_ID = "key_3f9a1c0e7b2d4a6c8e0f"
API_KEY = f"{API_KEY_ID}.Zx8kP2mQ7vN4rT1wY6bH3jL9sD5fG0aC2eK7uI4oP1q"


@pytest.fixture
def emitted() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON lines the service's logger writes while the test runs."""
    out = io.StringIO()
    handler = logger.registered_handler
    previous = handler.setStream(out)
    try:
        yield lambda: [json.loads(line) for line in out.getvalue().splitlines()]
    finally:
        handler.setStream(previous)


def _written(records: list[dict[str, Any]]) -> str:
    return json.dumps(records)


@pytest.mark.parametrize(
    ("provider", "secret"),
    [
        ("stripe", STRIPE_LIVE),
        ("stripe", STRIPE_RESTRICTED),
        ("stripe", STRIPE_SIGNING),
        ("mercadopago", MERCADOPAGO_LIVE),
        ("mercadopago", MERCADOPAGO_TEST),
    ],
    ids=["stripe-secret-key", "stripe-restricted-key", "stripe-signing-secret", "mp-live", "mp-test"],
)
def test_a_payment_provider_error_quoting_the_key_is_logged_without_it(emitted, provider, secret):
    # Given a provider call that failed with an error quoting the tenant's key
    exc = ProviderCallError(f"the provider answered 400: invalid credential {secret}", refused=True)
    # When the checkout logs it, as it logs every provider failure
    get_logger("billing").warning(
        "checkout could not be opened", extra={"provider": provider, "error": str(exc)}
    )
    # Then the line keeps the error without the key
    [record] = emitted()
    assert record["error"] == "the provider answered 400: invalid credential ***"
    assert record["provider"] == provider and record["message"] == "checkout could not be opened"
    assert secret not in _written([record])


def test_a_logged_exception_quoting_a_key_is_written_without_it(emitted):
    # Given a provider failure raised from an error whose text holds the access token
    log = get_logger("billing")
    try:
        try:
            raise RuntimeError(f"HTTP 400 for Authorization: Bearer {MERCADOPAGO_LIVE}")
        except RuntimeError as inner:
            raise ProviderCallError(f"Mercado Pago answered 400 to preference: {inner}") from inner
    except ProviderCallError:
        # When it is logged with its traceback
        log.exception("checkout could not be opened", extra={"provider": "mercadopago"})
    [record] = emitted()
    # Then neither the traceback nor the exception's text holds the token; the reasons stay
    assert MERCADOPAGO_LIVE not in _written([record])
    assert "Mercado Pago answered 400 to preference" in record["exception"]
    assert "ProviderCallError" in record["exception"] and "RuntimeError" in record["exception"]


def test_a_message_holding_a_signed_token_is_written_without_it(emitted):
    log = get_logger("api")
    # When a message embeds a bearer token (formatted in the message, or through its arguments)
    log.warning(f"request refused: Authorization: Bearer {JWT}")
    log.warning("token %s was not accepted for %s", JWT, "op_123")
    # Then the token is masked and the rest of the message is kept
    first, second = emitted()
    assert first["message"] == "request refused: Authorization: Bearer ***"
    assert second["message"] == "token *** was not accepted for op_123"


def test_secret_values_nested_in_fields_are_masked(emitted):
    # When fields hold secrets inside nested dicts and lists, and an exception object
    get_logger("provisioner").warning(
        "webhook call failed",
        extra={
            "request": {
                "headers": [["X-Api-Key", API_KEY], ["Accept", "application/json"]],
                "body": {"note": f"signed with {STRIPE_SIGNING}", "attempt": 2},
            },
            "cause": ProviderCallError(f"refused {STRIPE_LIVE}"),
        },
    )
    [record] = emitted()
    # Then each secret is masked where it was, the API key keeping its id (not a secret)
    assert record["request"] == {
        "headers": [["X-Api-Key", f"{API_KEY_ID}.***"], ["Accept", "application/json"]],
        "body": {"note": "signed with ***", "attempt": 2},
    }
    assert record["cause"] == "refused ***"


def test_ordinary_values_beside_a_secret_are_written_as_they_are(emitted):
    ordinary = {
        "subscriber_id": "sub_3f9a1c0e7b2d4a6c8e0f",
        "invoice_id": "inv_sub_3f9a1c0e7b2d4a6c8e0f_2026-05",
        "run_id": "run_0a1b2c3d4e5f60718293",
        "actor_id": API_KEY_ID,
        "email": "ana.perez@example.com",
        "amount": "1250.00",
        "currency": "USD",
        "network": "TEST-NET-3",
        "note": "the bearer of the invoice pays at the desk",
        "period": "2026-05",
    }
    # When a record holds ids, e-mails and amounts beside a leaked key
    get_logger("billing").warning(
        "payment for sub_3f9a1c0e7b2d4a6c8e0f: 1250.00 USD", extra={**ordinary, "error": f"bad {STRIPE_LIVE}"}
    )
    [record] = emitted()
    # Then only the key is masked
    assert {k: record[k] for k in ordinary} == ordinary
    assert record["error"] == "bad ***"
    assert record["message"] == "payment for sub_3f9a1c0e7b2d4a6c8e0f: 1250.00 USD"
