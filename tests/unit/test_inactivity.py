"""Automatic Inactive status after the grace period (SPEC S3)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.inactivity import DEFAULT_INACTIVITY_DAYS, inactivity_days, is_inactive

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
OLD = "2026-10-01T00:00:00.000000Z"  # 52 days before NOW
RECENT = "2026-11-20T00:00:00.000000Z"


@pytest.mark.parametrize(
    ("status", "last_seen", "created", "online", "expected"),
    [
        ("active", OLD, OLD, False, True),  # no use for 52 days > 30
        ("active", RECENT, OLD, False, False),  # used 2 days ago
        ("new", None, OLD, False, True),  # never used, created 52 days ago
        ("new", None, RECENT, False, False),  # just created
        ("active", OLD, OLD, True, False),  # connected right now
        ("free", OLD, OLD, False, False),  # Free keeps its status
        ("suspended", OLD, OLD, False, False),
        ("cancelled", OLD, OLD, False, False),
        ("inactive", OLD, OLD, False, False),  # already
    ],
)
def test_who_becomes_inactive_after_30_days(status, last_seen, created, online, expected):
    assert is_inactive(status, last_seen, created, online, NOW, 30) is expected


def test_grace_period_setting():
    assert inactivity_days({}) == DEFAULT_INACTIVITY_DAYS
    assert inactivity_days({"inactivity_days": 0}) == 0  # rule turned off
    assert inactivity_days({"inactivity_days": "45"}) == 45
    assert inactivity_days({"inactivity_days": "soon"}) == DEFAULT_INACTIVITY_DAYS
    assert not is_inactive("active", OLD, OLD, False, NOW, 0)
