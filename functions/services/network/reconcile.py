"""Diff a router's actual state against the desired state and apply the difference.

One :class:`RouterSession` is one connection to one router: it reads what the router holds (one
pipelined round trip for all menus and all the services at hand), plans the changes, and applies
them in at most three pipelined round trips (removals, then updates, then additions, so a freed
name or address can be reused in the same pass).

Only objects carrying the provisioner's marker (``wisp:<subscriber id>``) are changed or removed.
An object made by hand that holds a name or address the system needs is reported as a *conflict*
and left alone (an "export clients to router" with ``adopt`` takes it over instead); the plan itself
is computed in :mod:`services.network.plan`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.routeros import (
    ClientStats,
    Command,
    RouterAuthError,
    RouterClient,
    RouterTarget,
    RouterTrap,
    connect,
)
from services.network import desired as d
from services.network.plan import ActualState, Change, Plan, plan_block_rules, plan_services
from shared.crypto import SecretBox
from store import provisioning as repo
from store.models import Gateway, Subscriber

_MISSING_ITEM = ("no such item",)


def target_for(gateway: Gateway, box: SecretBox, timeout: float) -> RouterTarget:
    """Connection parameters of a router; the API password is decrypted here and nowhere else."""
    host = gateway.api_host or gateway.vpn_address or gateway.nas_ip
    if not gateway.api_username or not gateway.api_password_enc:
        raise RouterAuthError(f"{gateway.name}: no API credentials are configured for this router")
    return RouterTarget(
        name=gateway.name,
        host=host,
        port=int(gateway.api_port or (8729 if gateway.api_tls else 8728)),
        username=gateway.api_username,
        password=box.decrypt(gateway.api_password_enc),
        tls=bool(gateway.api_tls),
        timeout=float(timeout),
    )


def password_fingerprint(box: SecretBox, password: str) -> str:
    """Keyed fingerprint of a network password pushed to a router (routers whose API user cannot read
    passwords are still kept in line without storing the password twice)."""
    return hmac.new(box.derive(b"wisp-router-password-v1"), password.encode(), hashlib.sha256).hexdigest()[
        :24
    ]


def _or_query(terms: Sequence[tuple[str, str]]) -> list[str]:
    words: list[str] = []
    for i, (k, v) in enumerate(terms):
        words.append(f"?{k}={v}")
        if i:
            words.append("?#|")
    return words


def _service_proplist(menu: str) -> tuple[str, ...]:
    return (".id", "comment", *d.SERVICE_MENUS[menu])


_ACTIVE_PROPS = {
    d.PPP_ACTIVE: (".id", "name", "service", "caller-id", "address", "uptime", "radius"),
    d.HOTSPOT_ACTIVE: (
        ".id",
        "server",
        "user",
        "address",
        "mac-address",
        "uptime",
        "bytes-in",
        "bytes-out",
        "radius",
    ),
}
_RULE_PROPS = (".id", "comment", *d.RULE_FIELDS)


def read_for_services(client: RouterClient, services: Sequence[d.DesiredService]) -> ActualState:
    """Only the rows that matter to these services: tagged for them, or holding a name/address they
    need, plus the open sessions of accounts that may be kicked. One round trip."""
    terms: dict[str, list[tuple[str, str]]] = {m: [] for m in d.SERVICE_MENUS}
    active_terms: dict[str, list[tuple[str, str]]] = {d.PPP_ACTIVE: [], d.HOTSPOT_ACTIVE: []}
    for s in services:
        if s.action == "ignore":
            continue
        for menu in d.SERVICE_MENUS:
            terms[menu].append(("comment", d.marker(s.subscriber_id)))
        for o in s.objects:
            values = o.values
            for k in d.IDENTITY[o.menu]:
                if k != "list" and values.get(k):
                    terms[o.menu].append((k, values[k]))
        if s.kick and s.username:
            active_terms[d.PPP_ACTIVE].append(("name", s.username))
            active_terms[d.HOTSPOT_ACTIVE].append(("user", s.username))
    commands: list[Command] = []
    menus: list[str] = []
    for menu, t in terms.items():
        if t:
            commands.append(
                Command.of(
                    f"{menu}/print", queries=_or_query(sorted(set(t))), proplist=_service_proplist(menu)
                )
            )
            menus.append(menu)
    for menu, t in active_terms.items():
        if t:
            commands.append(
                Command.of(f"{menu}/print", queries=_or_query(sorted(set(t))), proplist=_ACTIVE_PROPS[menu])
            )
            menus.append(menu)
    return _read(client, menus, commands)


def read_router(client: RouterClient, *, with_rules: bool = True, with_active: bool = False) -> ActualState:
    """Every object the provisioner may manage on a router (static entries only in address lists and
    ARP: dynamic ones are the router's own). One round trip."""
    menus: list[str] = []
    commands: list[Command] = []
    for menu in d.SERVICE_MENUS:
        queries = ["?dynamic=false"] if menu in (d.ADDRESS_LIST, d.ARP) else []
        commands.append(Command.of(f"{menu}/print", queries=queries, proplist=_service_proplist(menu)))
        menus.append(menu)
    if with_rules:
        for menu in (d.FILTER, d.NAT):
            commands.append(Command.of(f"{menu}/print", proplist=_RULE_PROPS))
            menus.append(menu)
    if with_active:
        for menu, props in _ACTIVE_PROPS.items():
            commands.append(Command.of(f"{menu}/print", proplist=props))
            menus.append(menu)
    return _read(client, menus, commands)


def _read(client: RouterClient, menus: list[str], commands: list[Command]) -> ActualState:
    replies = client.pipeline(commands)
    rows: dict[str, list[dict[str, str]]] = {}
    for menu, reply in zip(menus, replies, strict=True):
        reply.raise_for_trap()
        rows[menu] = reply.rows
    return ActualState(rows)


# ---------------------------------------------------------------- apply


@dataclass
class ApplyResult:
    applied: int = 0
    traps: list[tuple[Change, RouterTrap]] = field(default_factory=list)

    def errors_for(self, subscriber_id: str | None) -> list[str]:
        return [str(t) for c, t in self.traps if c.subscriber_id == subscriber_id]

    def error_subscribers(self) -> set[str | None]:
        return {c.subscriber_id for c, _ in self.traps}


def apply_plan(client: RouterClient, changes: Sequence[Change]) -> ApplyResult:
    """Removals, then updates, then additions: each phase one pipelined round trip (or a few)."""
    result = ApplyResult()
    phases = (
        [c for c in changes if c.action == "remove"],
        [c for c in changes if c.action in ("set", "unset")],
        [c for c in changes if c.action == "add"],
    )
    for phase in phases:
        if not phase:
            continue
        replies = client.pipeline([c.command() for c in phase])
        for change, reply in zip(phase, replies, strict=True):
            trap = reply.trap
            if trap is None or (change.action == "remove" and trap.trap_message in _MISSING_ITEM):
                result.applied += 1  # removing what is already gone is success
            else:
                result.traps.append((change, trap))
    return result


# ---------------------------------------------------------------- desired state from DynamoDB


def services_for_router(
    gateway: Gateway, box: SecretBox, catalogue: repo.Catalogue | None = None
) -> list[d.DesiredService]:
    """The desired state of every service assigned to a router."""
    subs = repo.gateway_subscribers(gateway)
    return services_for(subs, gateway, box, catalogue)


def services_for(
    subs: Iterable[Subscriber], gateway: Gateway, box: SecretBox, catalogue: repo.Catalogue | None = None
) -> list[d.DesiredService]:
    subs = list(subs)
    cat = catalogue or repo.Catalogue()
    cat.preload(s.product_id for s in subs)
    out = []
    for sub in subs:
        svc = d.desired_service(sub, sub.id, gateway, cat, box)
        out.append(with_password_state(svc, sub, box))
    return out


def with_password_state(svc: d.DesiredService, sub: Subscriber | None, box: SecretBox) -> d.DesiredService:
    """Add the pushed-password fingerprint and the previous router state to a desired service."""
    if sub is None:
        return svc
    previous = dict(sub.router_state or {})
    state = dict(svc.state)
    password = next((v for o in svc.objects for k, v in o.attrs if k == "password"), None)
    if password is not None:
        state["pw"] = password_fingerprint(box, password)
    return d.DesiredService(
        svc.subscriber_id,
        svc.username,
        svc.action,
        svc.objects,
        svc.kick,
        svc.problems,
        state,
        svc.reason,
        previous,
    )


# ---------------------------------------------------------------- one router, one connection


@dataclass
class Outcome:
    plan: Plan
    result: ApplyResult
    services: list[d.DesiredService]

    def summary(self) -> dict[str, Any]:
        return {
            "applied": self.result.applied,
            "changes": self.plan.counts(),
            "traps": len(self.result.traps),
            "issues": len(self.plan.issues),
        }


class RouterSession:
    """One connection to one router, opened on first use and shared by everything in a batch."""

    def __init__(
        self, gateway: Gateway, box: SecretBox, timeout: float, stats: ClientStats | None = None
    ) -> None:
        self.gateway = gateway
        self._box = box
        self._timeout = timeout
        self._client: RouterClient | None = None
        self.stats = stats or ClientStats()

    @property
    def client(self) -> RouterClient:
        if self._client is None:
            self._client = connect(target_for(self.gateway, self._box, self._timeout), self.stats)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> RouterSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reconcile_services(
        self, services: Sequence[d.DesiredService], *, adopt: bool = False, dry_run: bool = False
    ) -> Outcome:
        """Bring the router objects of these services in line (a batch of subscriber triggers)."""
        active = [s for s in services if s.action != "ignore"]
        if not active:
            return Outcome(Plan(), ApplyResult(), list(services))
        actual = read_for_services(self.client, active)
        plan = plan_services(active, actual, adopt=adopt)
        result = ApplyResult() if dry_run else apply_plan(self.client, plan.changes)
        return Outcome(plan, result, list(services))

    def reconcile_router(
        self,
        services: Sequence[d.DesiredService],
        *,
        prune: bool = False,
        adopt: bool = False,
        ensure_rules: bool = False,
        dry_run: bool = False,
    ) -> Outcome:
        """The whole router: every service assigned to it, plus the block rules once installed."""
        actual = read_router(self.client, with_rules=True)
        plan = plan_services(services, actual, adopt=adopt, prune=prune, report_orphans=True)
        if any(s.kick for s in services):
            # accounts to disable: their open sessions are read in a second round trip
            extra = read_for_services(self.client, [s for s in services if s.kick])
            actual.rows.update(
                {m: extra.rows[m] for m in (d.PPP_ACTIVE, d.HOTSPOT_ACTIVE) if m in extra.rows}
            )
            plan = plan_services(services, actual, adopt=adopt, prune=prune, report_orphans=True)
        rule_changes, status = plan_block_rules(self.gateway, actual, ensure=ensure_rules)
        plan.changes.extend(rule_changes)
        plan.block_rules = status
        result = ApplyResult() if dry_run else apply_plan(self.client, plan.changes)
        return Outcome(plan, result, list(services))

    def install_block_rules(self, *, dry_run: bool = False) -> Outcome:
        actual = _read(
            self.client,
            [d.FILTER, d.NAT],
            [Command.of(f"{m}/print", proplist=_RULE_PROPS) for m in (d.FILTER, d.NAT)],
        )
        changes, status = plan_block_rules(self.gateway, actual, ensure=True)
        plan = Plan(changes=changes, block_rules=status)
        result = ApplyResult() if dry_run else apply_plan(self.client, changes)
        return Outcome(plan, result, [])

    def read_menu(self, menu: str, proplist: Sequence[str] = ()) -> list[dict[str, str]]:
        return self.client.print(menu, proplist=proplist)
