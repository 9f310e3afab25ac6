"""IP rewrite used when a cancelled service releases its address (SPEC S4).

10.x.x.x → 127.0.x.x, 192.168.x.x → 169.254.x.x, 172.x.x.x → 168.0.x.x, any other → 168.0.x.x;
if the rewritten address is already taken → 100.64.x.x. The last two octets are kept. When that one
is taken too the operator changes the IP by hand: the rewrite never gives an address already in use.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Container

# The ranges the rewrite writes into: an address there is a released service's placeholder
PLACEHOLDER_PREFIXES = ("127.0.", "169.254.", "168.0.", "100.64.")


def rewrite_targets(ip: str) -> tuple[str, str]:
    """The rewritten address of ``ip`` and the one used when that is taken."""
    o = ipaddress.IPv4Address(ip).packed
    if o[0] == 10:
        first = f"127.0.{o[2]}.{o[3]}"
    elif o[0] == 192 and o[1] == 168:
        first = f"169.254.{o[2]}.{o[3]}"
    else:  # 172.x and any other
        first = f"168.0.{o[2]}.{o[3]}"
    return first, f"100.64.{o[2]}.{o[3]}"


def rewrite_released_ip(ip: str, taken: Container[str] = ()) -> str | None:
    """The placeholder for a released ``ip``; None when both candidates are already taken."""
    for candidate in rewrite_targets(ip):
        if candidate not in taken:
            return candidate
    return None


def is_placeholder(ip: str | None) -> bool:
    """True for an address the release rewrite produces (not a usable service address)."""
    return bool(ip) and str(ip).startswith(PLACEHOLDER_PREFIXES)
