"""What a router should hold for each subscriber service, computed from DynamoDB (SPEC S3, S4, S7).

Per connection type of the service:

* **PPPoE**: a ``/ppp/secret`` (name, password, ``service=pppoe``, profile = the plan, remote and
  optional local address);
* **Hotspot**: an ``/ip/hotspot/user`` (name, password, server — ``all`` by default —, address,
  MAC, profile);
* **Simple Queue**: a ``/queue/simple`` on the service IP with ``max-limit=upload/download`` and the
  policy's burst (limit, threshold, time);
* **PCQ + address list**: the service IP in the plan's ``/ip/firewall/address-list``;
* **IP/MAC binding**: a static ``/ip/arp`` entry on the router's LAN interface when the service has
  a MAC (Simple Queue and PCQ services, which have no login of their own).

A suspended (blocked) service keeps its objects and its IP goes into the router's blocked list
(``gateway.blocked_address_list``, "morosos" by default) that the block rules act on; a blocked
service without a fixed IP cannot be listed, so its secret / hotspot user is disabled and its open
session is ended instead. A cancelled service's secret / hotspot user is always disabled (and its
session ended), whatever its IP. Every object the provisioner creates carries the comment
``wisp:<subscriber id>``: objects without that marker were made by hand and are never touched.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from core.rates import Burst, format_rate, parse_rate
from core.statuses import ConnectionType, Status
from shared.crypto import SecretBox
from store.models import Gateway, Policy, Subscriber
from store.provisioning import Catalogue

MARKER_PREFIX = "wisp:"
BLOCK_RULES_PREFIX = "wisp:block-rules:"

PPP_SECRET = "/ppp/secret"
PPP_ACTIVE = "/ppp/active"
HOTSPOT_USER = "/ip/hotspot/user"
HOTSPOT_ACTIVE = "/ip/hotspot/active"
QUEUE = "/queue/simple"
ADDRESS_LIST = "/ip/firewall/address-list"
ARP = "/ip/arp"
FILTER = "/ip/firewall/filter"
NAT = "/ip/firewall/nat"

# Menus holding per-subscriber objects, the fields the provisioner manages in each (what it reads),
# and the fields RouterOS keeps unique (an object there made by hand blocks ours: a conflict).
SERVICE_MENUS: dict[str, tuple[str, ...]] = {
    PPP_SECRET: ("name", "password", "profile", "service", "remote-address", "local-address", "disabled"),
    HOTSPOT_USER: ("name", "password", "server", "profile", "address", "mac-address", "disabled"),
    QUEUE: ("name", "target", "max-limit", "burst-limit", "burst-threshold", "burst-time", "disabled"),
    ADDRESS_LIST: ("list", "address", "disabled"),
    ARP: ("address", "mac-address", "interface", "disabled"),
}
IDENTITY: dict[str, tuple[str, ...]] = {
    PPP_SECRET: ("name",),
    HOTSPOT_USER: ("name",),
    QUEUE: ("name",),
    ADDRESS_LIST: ("list", "address"),
    ARP: ("address",),
    FILTER: ("comment",),
    NAT: ("comment",),
}
RULE_FIELDS = (
    "chain",
    "action",
    "src-address-list",
    "protocol",
    "dst-port",
    "to-ports",
    "in-interface",
    "src-address",
    "disabled",
)

# Statuses whose service is cut on the router (blocked list / disabled account)
BLOCKED_STATUSES = frozenset({Status.SUSPENDED, Status.INACTIVE, Status.CANCELLED})


def marker(subscriber_id: str) -> str:
    return f"{MARKER_PREFIX}{subscriber_id}"


def subscriber_of(comment: str | None) -> str | None:
    """The subscriber id in a provisioner comment, None for anything else (hand-made objects, rules)."""
    if not comment or not comment.startswith(MARKER_PREFIX) or comment.startswith(BLOCK_RULES_PREFIX):
        return None
    rest = comment[len(MARKER_PREFIX) :].split()
    return rest[0] if rest else None


# ---------------------------------------------------------------- value comparison as RouterOS prints
_DURATION = re.compile(r"(\d+)([wdhms])")
_UNIT_S = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def _seconds(text: str) -> int:
    t = text.strip()
    if t.isdigit():
        return int(t)
    if re.fullmatch(r"\d+:\d{2}:\d{2}", t):
        h, m, s = (int(x) for x in t.split(":"))
        return h * 3600 + m * 60 + s
    parts = _DURATION.findall(t)
    if not parts or "".join(a + b for a, b in parts) != t:
        raise ValueError(t)
    return sum(int(n) * _UNIT_S[u] for n, u in parts)


def _pair(text: str, one: Any) -> str:
    parts = text.split("/")
    if len(parts) == 1:
        parts = [parts[0], parts[0]]
    return "/".join(str(one(p)) for p in parts)


def _address(text: str) -> str:
    t = text.strip()
    return t[:-3] if t.endswith("/32") else t


def _target(text: str) -> str:
    out = []
    for part in text.split(","):
        p = part.strip()
        try:
            net = ipaddress.IPv4Network(p, strict=False)
            out.append(f"{net.network_address}/{net.prefixlen}")
        except ValueError:
            out.append(p)
    return ",".join(out)


_BOOL = {"yes": "true", "true": "true", "no": "false", "false": "false", "": "false"}


def normalise(key: str, value: str | None) -> str:
    """A field value in one canonical form, so ``2M/10M`` equals ``2000000/10000000``."""
    if value is None:
        return ""
    try:
        if key == "disabled":
            return _BOOL.get(value.strip().lower(), value)
        if key in ("max-limit", "limit-at", "burst-limit", "burst-threshold"):
            return _pair(value, parse_rate)
        if key == "burst-time":
            return _pair(value, _seconds)
        if key == "target":
            return _target(value)
        if key in ("address", "remote-address", "local-address"):
            return _address(value)
        if key == "mac-address":
            return value.strip().upper().replace("-", ":")
    except ValueError:
        return value
    return value


def is_empty(key: str, value: str | None) -> bool:
    """True when a field holds nothing (absent, blank, or RouterOS' zero default)."""
    v = normalise(key, value)
    return v != "true" if key == "disabled" else v in ("", "0/0", "none")


# ---------------------------------------------------------------- desired objects


@dataclass(frozen=True)
class DesiredObject:
    """One router object of a service: ``slot`` tells apart several objects in one menu (lists)."""

    menu: str
    slot: str
    attrs: tuple[tuple[str, str], ...]
    clear: tuple[str, ...] = ()

    @property
    def values(self) -> dict[str, str]:
        return dict(self.attrs)

    def identity(self) -> tuple[str, ...]:
        values = self.values
        return tuple(normalise(k, values.get(k, "")) for k in IDENTITY[self.menu])


@dataclass(frozen=True)
class DesiredService:
    """The router state wanted for one subscriber service on one router.

    ``action``: ``apply`` (make the router hold exactly ``objects``), ``remove`` (delete its tagged
    objects) or ``ignore`` (leave the router alone: deleted from the system only, or assigned to
    another router — SPEC S4 keeps old entries on migration).
    """

    subscriber_id: str
    username: str
    action: str
    objects: tuple[DesiredObject, ...] = ()
    kick: bool = False  # end the open session (account disabled or removed)
    problems: tuple[str, ...] = ()
    state: dict[str, Any] = field(default_factory=dict)  # facts to remember in Subscriber.router_state
    reason: str = ""
    previous: dict[str, Any] = field(default_factory=dict)  # Subscriber.router_state as read


def slot_of(menu: str, row: dict[str, str]) -> str:
    """Which slot an existing row fills: the list name in address lists, the only slot elsewhere."""
    return row.get("list", "") if menu == ADDRESS_LIST else ""


def _burst(policy_burst: Any) -> Burst | None:
    if not isinstance(policy_burst, dict):
        return None
    try:
        burst = Burst(**{k: int(policy_burst[k]) for k in Burst.__dataclass_fields__})
    except (KeyError, TypeError, ValueError):
        return None  # SPEC S6: every burst field is required to use burst
    if burst.download_limit <= 0 or burst.upload_limit <= 0:
        return None
    return burst


def _attrs(**kw: str | None) -> tuple[tuple[str, str], ...]:
    return tuple((k.replace("_", "-"), v) for k, v in kw.items() if v is not None)


def removal(subscriber_id: str, username: str, reason: str) -> DesiredService:
    return DesiredService(subscriber_id, username, "remove", kick=True, reason=reason)


def desired_service(
    subscriber: Subscriber | None,
    subscriber_id: str,
    gateway: Gateway,
    catalogue: Catalogue,
    box: SecretBox,
) -> DesiredService:
    """The desired router objects of one subscriber service on ``gateway``."""
    if subscriber is None:
        return DesiredService(
            subscriber_id, "", "ignore", reason="deleted from the system only: router objects are kept"
        )
    left_alone = _left_alone(subscriber, subscriber_id, gateway)
    if left_alone is not None:
        return left_alone

    product = catalogue.product(subscriber.product_id)
    policy = catalogue.policy(product.policy_id if product else None)
    blocked = subscriber.status in BLOCKED_STATUSES
    ip = subscriber.ip or None
    ctype = subscriber.connection_type or gateway.plan_type or ConnectionType.PPPOE
    # Without an IP the blocked list cannot hold a blocked service; a cancelled one never logs in again
    # (RouterOS checks its local secrets and hotspot users before RADIUS)
    b = _Builder(
        subscriber,
        ip=ip,
        profile=subscriber.router_profile or (product.router_profile if product else None) or "default",
        disable=(blocked and not ip) or subscriber.status == Status.CANCELLED,
    )
    if ctype == ConnectionType.PPPOE:
        _pppoe(b, box)
    elif ctype == ConnectionType.HOTSPOT:
        _hotspot(b, box)
    elif ctype == ConnectionType.SIMPLE_QUEUE:
        _simple_queue(b, policy)
    elif ctype == ConnectionType.PCQ:
        plan_list = (policy.address_list if policy else None) or (product.address_list if product else None)
        _pcq(b, plan_list)
    else:
        b.problems.append(f"unknown connection type {ctype}")

    if (
        ctype in (ConnectionType.SIMPLE_QUEUE, ConnectionType.PCQ)
        and ip
        and subscriber.mac
        and gateway.lan_interface
    ):
        b.obj(
            ARP,
            "",
            _attrs(address=ip, mac_address=subscriber.mac, interface=gateway.lan_interface, disabled="false"),
        )
    if blocked and ip:
        b.obj(
            ADDRESS_LIST,
            gateway.blocked_address_list,
            _attrs(list=gateway.blocked_address_list, address=ip, disabled="false"),
        )

    return DesiredService(
        subscriber_id=subscriber.id,
        username=subscriber.username,
        action="apply",
        objects=tuple(b.objects),
        kick=b.disable,
        problems=tuple(b.problems),
    )


def _left_alone(subscriber: Subscriber, subscriber_id: str, gateway: Gateway) -> DesiredService | None:
    """The service this router must not hold in full: assigned elsewhere, or cancelled and released."""
    if subscriber.gateway_id != gateway.id:
        return DesiredService(
            subscriber_id,
            subscriber.username,
            "ignore",
            reason="assigned to another router: entries here are kept (SPEC S4 migration)",
        )
    state = dict(subscriber.router_state or {})
    if (
        subscriber.status == Status.CANCELLED
        and state.get("removed")
        and state.get("gateway_id") == gateway.id
    ):
        return removal(subscriber.id, subscriber.username, "cancelled with the IP released")
    return None


@dataclass
class _Builder:
    """The objects and problems of one service as they are collected, each object tagged."""

    subscriber: Subscriber
    ip: str | None
    profile: str
    disable: bool
    objects: list[DesiredObject] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def obj(
        self, menu: str, slot: str, attrs: tuple[tuple[str, str], ...], clear: tuple[str, ...] = ()
    ) -> None:
        self.objects.append(
            DesiredObject(menu, slot, (*attrs, ("comment", marker(self.subscriber.id))), clear)
        )


def _pppoe(b: _Builder, box: SecretBox) -> None:
    sub = b.subscriber
    password = box.decrypt(sub.password_enc)
    clear = tuple(k for k, v in (("remote-address", b.ip), ("local-address", sub.local_address)) if not v)
    b.obj(
        PPP_SECRET,
        "",
        _attrs(
            name=sub.username,
            password=password,
            service="pppoe",
            profile=b.profile,
            remote_address=b.ip,
            local_address=sub.local_address or None,
            disabled="true" if b.disable else "false",
        ),
        clear,
    )


def _hotspot(b: _Builder, box: SecretBox) -> None:
    sub = b.subscriber
    password = box.decrypt(sub.password_enc)
    mac = sub.mac or (sub.username if sub.mac_auth else None)
    clear = tuple(k for k, v in (("address", b.ip), ("mac-address", mac)) if not v)
    b.obj(
        HOTSPOT_USER,
        "",
        _attrs(
            name=sub.username,
            password=password,
            server=sub.hotspot_server or "all",
            profile=b.profile,
            address=b.ip,
            mac_address=mac,
            disabled="true" if b.disable else "false",
        ),
        clear,
    )


def _simple_queue(b: _Builder, policy: Policy | None) -> None:
    if not b.ip:
        b.problems.append("a Simple Queue service needs an IP address")
        return
    down = int(policy.download_rate) if policy else 0
    up = int(policy.upload_rate) if policy else 0
    burst = _burst(policy.burst) if policy else None
    burst_attrs = (
        _attrs(
            burst_limit=f"{format_rate(burst.upload_limit)}/{format_rate(burst.download_limit)}",
            burst_threshold=f"{format_rate(burst.upload_threshold)}/{format_rate(burst.download_threshold)}",
            burst_time=f"{burst.upload_time}s/{burst.download_time}s",
        )
        if burst
        else ()
    )
    b.obj(
        QUEUE,
        "",
        (
            *_attrs(
                name=b.subscriber.username,
                target=f"{b.ip}/32",
                max_limit=f"{format_rate(up)}/{format_rate(down)}",
                disabled="false",
            ),
            *burst_attrs,
        ),
        () if burst else ("burst-limit", "burst-threshold", "burst-time"),
    )


def _pcq(b: _Builder, plan_list: str | None) -> None:
    if not b.ip:
        b.problems.append("a PCQ service needs an IP address")
    elif not plan_list:
        b.problems.append("the plan has no MikroTik address list for PCQ (set it on the policy or product)")
    else:
        b.obj(ADDRESS_LIST, plan_list, _attrs(list=plan_list, address=b.ip, disabled="false"))


# ---------------------------------------------------------------- block rules


@dataclass(frozen=True)
class DesiredRule:
    menu: str
    key: str
    attrs: tuple[tuple[str, str], ...]

    @property
    def comment(self) -> str:
        return f"{BLOCK_RULES_PREFIX}{self.key}"


BLOCKED_NOTICE_PORT = 8082  # the router's web proxy, which redirects to the suspension notice page


def block_rules(gateway: Gateway) -> list[DesiredRule]:
    return block_rules_for_list(gateway.blocked_address_list)


def block_rules_for_list(lst: str, portal_list: str | None = None) -> list[DesiredRule]:
    """Firewall rules that make the blocked list work (SPEC S4): blocked clients resolve names and see
    the notice page (port 80 goes to the router's web proxy), everything else they send is dropped.
    ``portal_list`` names the address list of the notice / portal host, which the redirect skips."""
    return [
        DesiredRule(
            FILTER,
            "dns-udp",
            _attrs(chain="forward", src_address_list=lst, protocol="udp", dst_port="53", action="accept"),
        ),
        DesiredRule(
            FILTER,
            "dns-tcp",
            _attrs(chain="forward", src_address_list=lst, protocol="tcp", dst_port="53", action="accept"),
        ),
        DesiredRule(FILTER, "drop", _attrs(chain="forward", src_address_list=lst, action="drop")),
        DesiredRule(
            NAT,
            "notice",
            _attrs(
                chain="dstnat",
                src_address_list=lst,
                protocol="tcp",
                dst_port="80",
                dst_address_list=f"!{portal_list}" if portal_list else None,
                action="redirect",
                to_ports=str(BLOCKED_NOTICE_PORT),
            ),
        ),
    ]
