"""RouterOS script that joins a new MikroTik router to WispCloud (RouterOS v7).

VPN design: routers sit behind NAT, so each router dials out to the WireGuard hub in the cloud VPC
(``settings.vpn_endpoint``) and keeps the tunnel up with a keepalive. Each router gets one address
in ``settings.vpn_cidr``; the hub (``settings.vpn_hub_address``) routes that range into the VPC,
where the provisioner and the RADIUS service reach the router at its VPN address, and forwards the
routers' RADIUS packets to the RADIUS service. Everything the cloud sends to a router arrives from
the hub address, which is the only address allowed to use the router's API user, API service and
RADIUS incoming (CoA / Disconnect) port.

The script is idempotent (every object is looked up by its ``wisp:`` comment before it is added)
and contains secrets (the tunnel's private key, the RADIUS secret and the API password): it is shown
once to the operator and never stored; only the tunnel's public key is kept on the gateway so the
hub can accept the peer (:mod:`services.network.vpn_hub`).
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from services.network import desired as d

WG_INTERFACE = "wg-wispcloud"
API_GROUP = "wispcloud-api"
API_CERTIFICATE = "wispcloud-api"
PORTAL_LIST = "wispcloud-portal"  # the notice / portal host: blocked subscribers may reach it
PLAIN_API_PORT = 8728
TLS_API_PORT = 8729
ONBOARDING_TAG = "wisp:onboarding"
INTERIM = "5m"  # accounting interim update (SPEC S6: at least 300 s)


@dataclass(frozen=True)
class WireguardKeys:
    private_key: str = ""
    public_key: str = ""

    @classmethod
    def generate(cls) -> WireguardKeys:
        key = X25519PrivateKey.generate()
        raw_private = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        raw_public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return cls(base64.b64encode(raw_private).decode(), base64.b64encode(raw_public).decode())


@dataclass(frozen=True)
class OnboardingInput:
    gateway_id: str
    gateway_name: str
    router_vpn_address: str
    vpn_cidr: str
    hub_address: str
    hub_endpoint: str  # host:port
    hub_public_key: str
    router_keys: WireguardKeys
    radius_secret: str
    api_username: str
    api_password: str
    api_tls: bool
    api_port: int
    blocked_address_list: str
    notice_url: str
    plan_type: str
    # True when the API password is the operator's (an existing router user may carry it); False when
    # the cloud generated it, so only a user the script creates or created before can hold it
    api_password_known: bool = False


def quote(value: str) -> str:
    """A RouterOS script string literal."""
    out = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("$", "\\$")
        .replace("?", "\\?")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{out}"'


def _kv(attrs: Iterable[tuple[str, str]]) -> str:
    return " ".join(f"{k}={quote(v)}" for k, v in attrs)


def _guarded_add(menu: str, comment: str, attrs: Iterable[tuple[str, str]], *, on_top: bool = False) -> str:
    """``add`` only when no object with this comment exists; ``on_top`` puts a firewall rule first."""
    cmd = f"{menu} add {_kv(attrs)} comment={quote(comment)}"
    if on_top:
        top = f"{cmd} place-before=0"
        add = f":if ([:len [{menu} find]] = 0) do={{ {cmd} }} else={{ {top} }}"
    else:
        add = cmd
    return f":if ([:len [{menu} find comment={quote(comment)}]] = 0) do={{ {add} }}"


def _split_endpoint(endpoint: str) -> tuple[str, str]:
    host, _, port = endpoint.rpartition(":")
    return (host or endpoint), (port or "51820")


def api_service_port(api_tls: bool, port: int) -> int:
    """The port of the router's API service: api-ssl never on the plain API port."""
    if api_tls:
        return TLS_API_PORT if port in (0, PLAIN_API_PORT) else port
    return port or PLAIN_API_PORT


def _api_user(p: OnboardingInput, hub32: str) -> list[str]:
    """The provisioner's API user: created by the script, or updated when the script created it before.
    A user of that name made by hand is never changed (nor removed)."""
    name = quote(p.api_username)
    ours = f"[/user find name={name} comment={quote(ONBOARDING_TAG)}]"
    attrs = f"group={API_GROUP} password={quote(p.api_password)} address={hub32}"
    if p.api_password_known:
        foreign = (
            f':put "User {p.api_username} was not created by WispCloud: left unchanged (the provisioner '
            'logs in with the API password stored for this gateway)"'
        )
    else:
        foreign = ":nothing"  # refused at the top of the script, before any change
    return [
        f":if ([:len [/user find name={name}]] = 0) do={{ /user add name={name} {attrs} "
        f"comment={quote(ONBOARDING_TAG)} }} else={{ :if ([:len {ours}] > 0) do={{ /user set {ours} {attrs} }} "
        f"else={{ {foreign} }} }}"
    ]


def _foreign_user_guard(p: OnboardingInput) -> list[str]:
    """Stop before changing anything when a hand-made user has the name the provisioner needs and the
    password is one the cloud generated (that user would never log in with it)."""
    if p.api_password_known:
        return []
    name = quote(p.api_username)
    message = (
        f"User {p.api_username} exists and was not created by WispCloud: nothing was changed. Give the "
        "gateway another API user name, or its existing password, and generate the script again."
    )
    return [
        f":if (([:len [/user find name={name}]] > 0) && ([:len [/user find name={name} "
        f"comment={quote(ONBOARDING_TAG)}]] = 0)) do={{ :error {quote(message)} }}",
        "",
    ]


def _api_service(p: OnboardingInput, hub32: str) -> list[str]:
    """The API service, reachable only from the hub; api-ssl gets a certificate of its own first."""
    port = api_service_port(p.api_tls, p.api_port)
    if not p.api_tls:
        return [f"/ip service set api disabled=no port={port} address={hub32}"]
    cert = quote(API_CERTIFICATE)
    return [
        f":if ([:len [/certificate find name={cert}]] = 0) do={{ /certificate add name={cert} "
        f"common-name={quote(p.router_vpn_address)} subject-alt-name={quote('IP:' + p.router_vpn_address)} "
        f"key-usage=digital-signature,key-encipherment,tls-server days-valid=3650; /certificate sign {cert} }}",
        f"/ip service set api-ssl disabled=no port={port} address={hub32} certificate={cert}",
    ]


def _walled_garden(p: OnboardingInput, hub32: str) -> list[str]:
    """Blocked subscribers reach the notice page and the portal: its host is in an address list that the
    block rules let through (ports 80 and 443) and that the notice redirect skips (no redirect loop); a
    hotspot lets it through before login too."""
    host = urlsplit(p.notice_url).hostname or ""
    if not host:
        return []
    lst = p.blocked_address_list
    lines = [
        _guarded_add(
            ADDRESS_LIST_MENU, f"{ONBOARDING_TAG}:portal", [("list", PORTAL_LIST), ("address", host)]
        ),
        _guarded_add(
            "/ip firewall filter",
            f"{ONBOARDING_TAG}:portal",
            [
                ("chain", "forward"),
                ("src-address-list", lst),
                ("dst-address-list", PORTAL_LIST),
                ("protocol", "tcp"),
                ("dst-port", "80,443"),
                ("action", "accept"),
            ],
            on_top=True,
        ),
    ]
    if p.plan_type == "hotspot":
        lines += [
            _guarded_add("/ip hotspot walled-garden", f"{ONBOARDING_TAG}:portal", [("dst-host", host)]),
            _guarded_add(
                "/ip hotspot walled-garden ip",
                f"{ONBOARDING_TAG}:portal",
                [("dst-address-list", PORTAL_LIST), ("action", "accept")],
            ),
        ]
    return lines


ADDRESS_LIST_MENU = "/ip firewall address-list"


def render_script(p: OnboardingInput) -> str:
    """The onboarding script for one router."""
    hub32 = f"{p.hub_address}/32"
    lines = [
        f"# WispCloud onboarding for {p.gateway_name} ({p.gateway_id}) - RouterOS 7",
        "# Paste into a terminal of the router or /import it. It contains secrets: delete the file afterwards.",
        "",
        *_foreign_user_guard(p),
        *_vpn_section(p),
        "",
        *_radius_section(p),
        "",
        *_api_section(p, hub32),
        "",
        *_block_section(p),
    ]
    lines += _walled_garden(p, hub32)
    lines += [
        "",
        f"/system identity set name={quote(p.gateway_name)}",
        ':put "WispCloud onboarding applied"',
        "",
    ]
    return "\n".join(lines)


def _vpn_section(p: OnboardingInput) -> list[str]:
    net = ipaddress.IPv4Network(p.vpn_cidr, strict=False)
    host, port = _split_endpoint(p.hub_endpoint)
    return [
        "# 1. VPN: a WireGuard tunnel that the router dials out to the cloud hub (works behind NAT)",
        f":if ([:len [/interface wireguard find name={quote(WG_INTERFACE)}]] = 0) do={{ /interface wireguard add "
        f"name={quote(WG_INTERFACE)} private-key={quote(p.router_keys.private_key)} comment={quote(ONBOARDING_TAG)} }}"
        f" else={{ /interface wireguard set [find name={quote(WG_INTERFACE)}] "
        f"private-key={quote(p.router_keys.private_key)} }}",
        f"/interface wireguard peers remove [find interface={quote(WG_INTERFACE)}]",
        f"/interface wireguard peers add interface={quote(WG_INTERFACE)} public-key={quote(p.hub_public_key)} "
        f"endpoint-address={quote(host)} endpoint-port={port} allowed-address={quote(str(net))} "
        f"persistent-keepalive=25s comment={quote(ONBOARDING_TAG)}",
        _guarded_add(
            "/ip address",
            f"{ONBOARDING_TAG}:vpn",
            [("address", f"{p.router_vpn_address}/{net.prefixlen}"), ("interface", WG_INTERFACE)],
        ),
    ]


def _radius_section(p: OnboardingInput) -> list[str]:
    return [
        "# 2. RADIUS through the tunnel; CoA / Disconnect accepted (port 3799)",
        f"/radius remove [find comment={quote(ONBOARDING_TAG + ':radius')}]",
        f"/radius add service=ppp,hotspot address={p.hub_address} secret={quote(p.radius_secret)} "
        f"src-address={p.router_vpn_address} authentication-port=1812 accounting-port=1813 timeout=3s "
        f"comment={quote(ONBOARDING_TAG + ':radius')}",
        "/radius incoming set accept=yes port=3799",
        "",
        "# 3. PPP and hotspot authenticate and account with RADIUS, with interim updates",
        f"/ppp aaa set use-radius=yes accounting=yes interim-update={INTERIM}",
        f"/ip hotspot profile set [find] use-radius=yes radius-accounting=yes radius-interim-update={INTERIM}",
    ]


def _api_section(p: OnboardingInput, hub32: str) -> list[str]:
    api_port = api_service_port(p.api_tls, p.api_port)
    return [
        "# 4. API user for the provisioner, usable only from the cloud hub through the tunnel",
        _guarded_add(
            "/user group",
            ONBOARDING_TAG,
            [
                ("name", API_GROUP),
                (
                    "policy",
                    "read,write,api,sensitive,!ftp,!local,!telnet,!ssh,!reboot,!policy,!test,!winbox,!password,"
                    "!web,!sniff,!romon",
                ),
            ],
        ),
        *_api_user(p, hub32),
        *_api_service(p, hub32),
        _guarded_add(
            "/ip firewall filter",
            f"{ONBOARDING_TAG}:api",
            [
                ("chain", "input"),
                ("in-interface", WG_INTERFACE),
                ("src-address", hub32),
                ("protocol", "tcp"),
                ("dst-port", str(api_port)),
                ("action", "accept"),
            ],
            on_top=True,
        ),
        _guarded_add(
            "/ip firewall filter",
            f"{ONBOARDING_TAG}:coa",
            [
                ("chain", "input"),
                ("in-interface", WG_INTERFACE),
                ("src-address", hub32),
                ("protocol", "udp"),
                ("dst-port", "3799"),
                ("action", "accept"),
            ],
            on_top=True,
        ),
    ]


def _block_section(p: OnboardingInput) -> list[str]:
    lst = p.blocked_address_list
    lines = [
        f'# 5. Block rules: services in the "{lst}" address list resolve names and see the notice page only',
        f"/ip proxy set enabled=yes port={d.BLOCKED_NOTICE_PORT}",
        _guarded_add(
            "/ip proxy access",
            f"{ONBOARDING_TAG}:notice",
            [("action", "redirect"), ("action-data", p.notice_url)],
        ),
        _guarded_add(
            "/ip firewall filter",
            f"{ONBOARDING_TAG}:proxy-others",
            [
                ("chain", "input"),
                ("protocol", "tcp"),
                ("dst-port", str(d.BLOCKED_NOTICE_PORT)),
                ("src-address-list", f"!{lst}"),
                ("action", "drop"),
            ],
            on_top=True,
        ),
    ]
    # each rule goes on top, so add them last-first to keep their order (the portal rule, added after
    # them, ends up first)
    for rule in reversed(d.block_rules_for_list(lst, PORTAL_LIST)):
        menu = "/ip firewall filter" if rule.menu == d.FILTER else "/ip firewall nat"
        lines.append(_guarded_add(menu, rule.comment, rule.attrs, on_top=True))
    return lines


def vpn_address_for(cidr: str, hub_address: str, index: int) -> str:
    """The ``index``-th router address in the VPN range (1-based), skipping the hub's address."""
    net = ipaddress.IPv4Network(cidr, strict=False)
    hub = ipaddress.IPv4Address(hub_address)
    n = index + 1 if hub in net and net.network_address + index >= hub else index
    if n < 1 or n > net.num_addresses - 2:
        raise ValueError(f"the VPN range {cidr} has no free address left")
    return str(net.network_address + n)
