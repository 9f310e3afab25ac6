"""One wall clock: freezing it moves every "now" of the code base, token expiry included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import ids
from core.errors import ValidationError
from core.paging import decode_key, encode_key
from shared.tokens import TokenError, TokenSigner
from tests.unit.test_foundation import box


def test_frozen_clock_moves_utcnow_and_epoch_seconds_and_restores_them():
    at = datetime(2031, 5, 17, 8, 30, tzinfo=UTC)
    with ids.frozen_clock(at):
        assert ids.utcnow() == at
        assert ids.epoch_seconds() == at.timestamp()
        assert ids.now_iso() == "2031-05-17T08:30:00.000000Z"
    assert abs(ids.utcnow() - datetime.now(UTC)) < timedelta(minutes=5)
    with pytest.raises(ValueError):
        ids.frozen_clock(datetime(2031, 5, 17)).__enter__()  # naive: refused


def test_tokens_and_page_cursors_expire_on_the_frozen_clock():
    signer = TokenSigner(box())
    token = signer.sign("portal", {"sub": "x"}, ttl_seconds=3600)
    cursor = encode_key(signer, {"pk": "a"}, "list:1")
    assert signer.verify("portal", token)["sub"] == "x"
    with ids.frozen_clock(ids.utcnow() + timedelta(days=2)):
        with pytest.raises(TokenError):
            signer.verify("portal", token)
        with pytest.raises(ValidationError):
            decode_key(signer, cursor, "list:1")
    assert decode_key(signer, cursor, "list:1") == {"pk": "a"}
