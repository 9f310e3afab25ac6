"""Rate values and the MikroTik ``Mikrotik-Rate-Limit`` string (PROTOCOLS.md).

Seen from the router rx = client upload, tx = client download, so the string is
``upload/download [burst-up/burst-down [thr-up/thr-down [time-up/time-down]]]``.
"""

from __future__ import annotations

from dataclasses import dataclass


def format_rate(bps: int) -> str:
    """Bits per second as RouterOS writes them: ``4M``, ``512k``, ``1500``."""
    if bps < 0:
        raise ValueError("rate must be >= 0")
    if bps and bps % 1_000_000 == 0:
        return f"{bps // 1_000_000}M"
    if bps and bps % 1_000 == 0:
        return f"{bps // 1_000}k"
    return str(bps)


def parse_rate(text: str) -> int:
    """``4M`` → 4_000_000; ``512k`` → 512_000; ``1500`` → 1500 (RouterOS k = 1000, M = 10^6)."""
    t = text.strip()
    if not t:
        raise ValueError("empty rate")
    mult = 1
    if t[-1] in "kK":
        mult, t = 1_000, t[:-1]
    elif t[-1] in "mM":
        mult, t = 1_000_000, t[:-1]
    elif t[-1] in "gG":
        mult, t = 1_000_000_000, t[:-1]
    value = float(t)
    if value < 0:
        raise ValueError("rate must be >= 0")
    return round(value * mult)


@dataclass(frozen=True)
class Burst:
    download_limit: int
    upload_limit: int
    download_threshold: int
    upload_threshold: int
    download_time: int
    upload_time: int


def mikrotik_rate_limit(download_bps: int, upload_bps: int, burst: Burst | None = None) -> str:
    """Build the Mikrotik-Rate-Limit value for a policy's rates (and optional burst)."""
    parts = [f"{format_rate(upload_bps)}/{format_rate(download_bps)}"]
    if burst is not None:
        parts.append(f"{format_rate(burst.upload_limit)}/{format_rate(burst.download_limit)}")
        parts.append(f"{format_rate(burst.upload_threshold)}/{format_rate(burst.download_threshold)}")
        parts.append(f"{burst.upload_time}/{burst.download_time}")
    return " ".join(parts)
