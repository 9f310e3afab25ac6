"""A client's own billing options (own dates, recharge, fee flags, promise) written by an operator: checked
as the billing runs read them, and never overwriting a promise or dates written meanwhile."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.ids import utcnow
from services.subscribers import editing
from tests.integration.api.support import Api, err, ok, stored

PROMISE = (utcnow().date() + timedelta(days=10)).isoformat()  # within the 31 days a promise may last
OWN_DATES = {"own_dates": True, "issue_day": 28, "notice_day": 1, "payment_day": 5, "cutoff_day": 10}


def _new(api: Api, manager: dict[str, str], username: str) -> str:
    """An active client owing an invoice (so a payment promise can be given)."""
    sub_id = ok(api.post("/admin/subscribers", manager, {"username": username, "status": "active"}), 201)[
        "subscriber"
    ]["id"]
    lines = [{"description": "Antenna", "unit_price": "80"}]
    ok(api.post("/admin/invoices", manager, {"subscriber_id": sub_id, "kind": "other", "lines": lines}), 201)
    return sub_id


@pytest.mark.parametrize(
    ("billing", "field"),
    [
        ({**OWN_DATES, "issue_day": 40}, "billing.issue_day"),
        ({**OWN_DATES, "cutoff_day": "fifth"}, "billing.cutoff_day"),
        ({"own_dates": True, "issue_day": 28}, "billing.notice_day"),
        ({"recharge": True}, "billing.recharge"),
        ({"late_fee": "yes"}, "billing.late_fee"),
        ({"own_date": True}, "billing.own_date"),
        ({"promise_until": "2026-06-10"}, "billing.promise_until"),
    ],
)
def test_billing_options_the_runs_could_not_use_are_refused(api: Api, manager, billing, field):
    # Given a client with valid own dates
    sub_id = _new(api, manager, "own-dates")
    ok(api.patch(f"/admin/subscribers/{sub_id}", manager, {"billing": OWN_DATES}))
    # When an operator writes options the billing runs would ignore (a misspelt key, a day 40, …)
    # Then the edit is refused naming the option, and the stored options are as they were
    err(api.patch(f"/admin/subscribers/{sub_id}", manager, {"billing": billing}), 422, field)
    assert stored(sub_id).billing == OWN_DATES
    # And a new client with them is not created
    body: dict[str, Any] = {"username": "new-own-dates", "billing": billing}
    err(api.post("/admin/subscribers", manager, body), 422, field)


def test_billing_options_are_stored_as_the_runs_read_them_and_the_promise_is_kept(api: Api, manager):
    sub_id = _new(api, manager, "recharge")
    # Days sent as text are stored as numbers
    days = {k: str(v) for k, v in OWN_DATES.items() if k != "own_dates"}
    out = ok(
        api.patch(
            f"/admin/subscribers/{sub_id}",
            manager,
            {"billing": {"own_dates": True, "recharge": True, **days}},
        )
    )
    assert out["subscriber"]["billing"] == {**OWN_DATES, "recharge": True}
    # A promise given with its own action survives an edit of the other options that leaves it out
    ok(api.post(f"/admin/subscribers/{sub_id}/payment-promise", manager, {"until": PROMISE}), 201)
    ok(api.patch(f"/admin/subscribers/{sub_id}", manager, {"billing": {**OWN_DATES, "late_fee": True}}))
    assert stored(sub_id).billing == {**OWN_DATES, "late_fee": True, "promise_until": PROMISE}
    # Sent back unchanged it is accepted; sent as null it is withdrawn
    same = {**OWN_DATES, "promise_until": PROMISE}
    ok(api.patch(f"/admin/subscribers/{sub_id}", manager, {"billing": same}))
    ok(api.patch(f"/admin/subscribers/{sub_id}", manager, {"billing": {**OWN_DATES, "promise_until": None}}))
    assert stored(sub_id).billing == OWN_DATES
    # null clears the client's own options (the zone's dates apply again)
    ok(api.patch(f"/admin/subscribers/{sub_id}", manager, {"billing": None}))
    assert not stored(sub_id).billing


def test_an_edit_of_billing_options_never_overwrites_a_promise_given_meanwhile(
    api: Api, manager, monkeypatch
):
    sub_id = _new(api, manager, "promised")
    read = editing.get_subscriber

    def read_then_promise(actor: Any, subscriber_id: str) -> Any:
        # the operator's edit reads the client; a promise is given before the edit writes
        sub = read(actor, subscriber_id)
        monkeypatch.setattr(editing, "get_subscriber", read)
        ok(api.post(f"/admin/subscribers/{sub_id}/payment-promise", manager, {"until": PROMISE}), 201)
        return sub

    monkeypatch.setattr(editing, "get_subscriber", read_then_promise)
    # When the edit of the client's own dates writes
    resp = api.patch(f"/admin/subscribers/{sub_id}", manager, {"billing": OWN_DATES})
    # Then it is refused for a reload, and the promise stands
    err(resp, 409, "billing")
    assert stored(sub_id).billing == {"promise_until": PROMISE}
    # And made again on what the client has now, it keeps the promise
    ok(api.patch(f"/admin/subscribers/{sub_id}", manager, {"billing": OWN_DATES}))
    assert stored(sub_id).billing == {**OWN_DATES, "promise_until": PROMISE}
