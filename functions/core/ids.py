"""Identifiers and timestamps."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime


def _system_clock() -> datetime:
    return datetime.now(UTC)


# The one wall clock of the code base: every "now" reads it, so a test can freeze time everywhere with
# :func:`frozen_clock` (timeouts measure elapsed time with ``time.monotonic`` and stay outside it).
_clock: Callable[[], datetime] = _system_clock


def new_id(prefix: str) -> str:
    """``sub_3f9a1c...``: a prefix that says what the id is, and 80 random bits."""
    return f"{prefix}_{secrets.token_hex(10)}"


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return _clock()


def epoch_seconds() -> float:
    """The current time as a Unix timestamp (token expiries, rate-limit windows, RADIUS timestamps)."""
    return utcnow().timestamp()


@contextmanager
def frozen_clock(at: datetime) -> Iterator[None]:
    """Make :func:`utcnow` and :func:`epoch_seconds` answer ``at`` until the block ends."""
    global _clock
    if at.tzinfo is None:
        raise ValueError("frozen_clock needs a timezone-aware datetime")
    previous = _clock
    _clock = lambda: at  # noqa: E731
    try:
        yield
    finally:
        _clock = previous


def iso(dt: datetime) -> str:
    """UTC ISO-8601 with a Z, second precision plus microseconds so values sort and stay unique
    (``YYYY-MM-DDTHH:MM:SS.ffffffZ``; ``isoformat`` is the fast path to the same text)."""
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def now_iso() -> str:
    return iso(utcnow())


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
