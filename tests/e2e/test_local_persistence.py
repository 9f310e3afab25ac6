"""The local stack keeps its data through `kill -9`: subscribers, invoices, sessions and cards created
before every process of the stack is SIGKILLed are there after the next start, and RADIUS accepts the
subscriber created just before the kill; `--reset` then starts empty."""

from __future__ import annotations

from datetime import date

import pytest
from pyrad.client import Client
from pyrad.dictionary import Dictionary
from pyrad.packet import AccessAccept, AccessRequest, AccountingRequest, AccountingResponse

from core.radius import DICTIONARY_PATH
from tests.e2e.local_stack_support import stack_env, start_stack, wait_ports_free

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DICTIONARY = Dictionary(DICTIONARY_PATH)


def _radius(stack) -> Client:
    return Client(
        server="127.0.0.1",
        authport=stack.port("WISP_RADIUS_AUTH_PORT"),
        acctport=stack.port("WISP_RADIUS_ACCT_PORT"),
        secret=b"testing123",
        dict=DICTIONARY,
        timeout=10,  # a ceiling per try (three tries): a busy machine must pass
        retries=3,
    )


def _access(stack, user: str, password: str) -> int:
    client = _radius(stack)
    req = client.CreateAuthPacket(code=AccessRequest, User_Name=user, NAS_IP_Address="127.0.0.1")
    req["User-Password"] = req.PwCrypt(password)
    req.add_message_authenticator()
    return client.SendPacket(req).code


def _accounting_start(stack, user: str, session_id: str) -> int:
    client = _radius(stack)
    req = client.CreateAcctPacket(code=AccountingRequest, User_Name=user)
    req["Acct-Status-Type"] = "Start"
    req["Acct-Session-Id"] = session_id
    req["NAS-IP-Address"] = "127.0.0.1"
    req["Framed-IP-Address"] = "10.10.0.77"
    req["Calling-Station-Id"] = "AA:BB:CC:00:00:77"
    return client.SendPacket(req).code


def test_data_created_before_a_sigkill_of_the_whole_stack_is_there_after_the_next_start_and_reset_empties_it(
    tmp_path,
):
    env = stack_env(tmp_path / "local")
    stack = start_stack(env)
    try:
        # Given a product, a card batch, a subscriber with an invoice and an open session
        status, product = stack.call(
            "POST",
            "/admin/products",
            {
                "name": "Wi-Fi 1 hour",
                "policy_id": "pol_demo",
                "price": "2.00",
                "connection_type": "hotspot",
                "time_credit_min": 60,
            },
        )
        assert status == 201, product
        status, batch = stack.call(
            "POST", "/admin/voucher-batches", {"product_id": product["id"], "count": 3}
        )
        assert status == 201, batch
        status, created = stack.call(
            "POST",
            "/admin/subscribers",
            {
                "username": "alice",
                "password": "alice-pass-1",
                "name": "Alice",
                "product_id": "prod_demo",
                "gateway_id": "gw_demo",
                "zone_id": "zone_demo",
                "connection_type": "pppoe",
            },
        )
        assert status == 201, created
        sub_id = created["subscriber"]["id"]
        # a period after the client was created (nothing is invoiced for a period before a service existed)
        today = date.today()
        period = f"{today.year + 1}-{today.month:02d}"
        status, invoice = stack.call(
            "POST", "/admin/invoices", {"subscriber_id": sub_id, "kind": "internet", "period": period}
        )
        assert status == 201, invoice
        assert _access(stack, "alice", "alice-pass-1") == AccessAccept
        assert _accounting_start(stack, "alice", "sess-before-kill") == AccountingResponse
        # and, the very last write before the kill, a second subscriber
        status, last = stack.call(
            "POST",
            "/admin/subscribers",
            {"username": "bob", "password": "bob-pass-12", "name": "Bob", "product_id": "prod_demo"},
        )
        assert status == 201, last

        old_token = stack.token()
        # When every process of the stack is killed with SIGKILL and the stack is started again
        stack.kill9()
        wait_ports_free(env)
        stack = start_stack(env)

        # Then the data is there
        assert "kept from the last run" in stack.output
        status, sub = stack.call("GET", f"/admin/subscribers/{sub_id}")
        assert status == 200 and sub["username"] == "alice", sub
        status, bob = stack.call("GET", f"/admin/subscribers/{last['subscriber']['id']}")
        assert status == 200 and bob["username"] == "bob", bob
        status, got = stack.call("GET", f"/admin/invoices/{invoice['path_id']}")
        assert status == 200 and got["subscriber_id"] == sub_id and got["status"] == "pending", got
        status, log = stack.call("GET", f"/admin/subscribers/{sub_id}/connections")
        assert status == 200, log
        assert [(row["connection_id"], row["ended_at"]) for row in log["items"]] == [
            ("sess-before-kill", None)
        ], log
        status, cards = stack.call("GET", f"/admin/voucher-batches/{batch['id']}")
        assert status == 200 and cards["count"] == 3 and cards["cards"] == {"unused": 3}, cards
        # and a token issued before the kill still works (the operator and the key are still there)
        status, _ = stack.call("GET", f"/admin/subscribers/{sub_id}", token=old_token)
        assert status == 200
        # and RADIUS accepts the subscribers created before the kill
        assert _access(stack, "alice", "alice-pass-1") == AccessAccept
        assert _access(stack, "bob", "bob-pass-12") == AccessAccept

        # And after a clean stop, `--reset` (make reset) starts with only the demo data
        assert stack.interrupt() == 0
        wait_ports_free(env)
        stack = start_stack(env, "--reset")
        assert "deleted; starting empty" in stack.output and "new: demo data seeded" in stack.output
        status, _ = stack.call("GET", f"/admin/subscribers/{sub_id}")
        assert status == 404
        status, _ = stack.call("GET", f"/admin/subscribers/{sub_id}", token=old_token)
        assert status == 401  # a new key: tokens from before the reset no longer verify
    finally:
        stack.ensure_stopped()
