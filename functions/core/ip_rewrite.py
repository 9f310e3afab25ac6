"""IP rewrite used when a cancelled service releases its address (SPEC S4).

10.x.x.x → 127.0.x.x, 192.168.x.x → 169.254.x.x, 172.x.x.x → 168.0.x.x, any other → 168.0.x.x;
if the rewritten address is already taken → 100.64.x.x. The last two octets are kept.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Container


def rewrite_released_ip(ip: str, taken: Container[str] = ()) -> str:
    addr = ipaddress.IPv4Address(ip)
    o = addr.packed
    if o[0] == 10:
        new = f"127.0.{o[2]}.{o[3]}"
    elif o[0] == 192 and o[1] == 168:
        new = f"169.254.{o[2]}.{o[3]}"
    else:  # 172.x and any other
        new = f"168.0.{o[2]}.{o[3]}"
    if new in taken:
        new = f"100.64.{o[2]}.{o[3]}"
    return new
