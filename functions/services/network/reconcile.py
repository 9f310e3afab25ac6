"""Diff a router's actual state against the desired state and apply the difference.

One :class:`RouterSession` is one connection to one router: it reads what the router holds (one
pipelined round trip for all menus and all the services at hand), plans the changes, and applies
them in at most three pipelined round trips (removals, then updates, then additions, so a freed
name or address can be reused in the same pass).

Only objects carrying the provisioner's marker (``wisp:<subscriber id>``) are changed or removed.
An object made by hand that holds a name or address the system needs is reported as a *conflict*
and left alone (an "export clients to router" with ``adopt`` takes it over instead).
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


# ---------------------------------------------------------------- actual state


class ActualState:
    """Rows read from a router, indexed by the subscriber marker and by unique identity."""

    def __init__(self, rows: dict[str, list[dict[str, str]]]) -> None:
        self.rows = rows
        self.tagged: dict[str, dict[str, list[dict[str, str]]]] = {}
        self.holders: dict[tuple[str, tuple[str, ...]], list[dict[str, str]]] = {}
        for menu, menu_rows in rows.items():
            for row in menu_rows:
                sub = d.subscriber_of(row.get("comment"))
                if sub is not None and menu in d.SERVICE_MENUS:
                    self.tagged.setdefault(sub, {}).setdefault(menu, []).append(row)
                if menu in d.IDENTITY:
                    key = tuple(d.normalise(k, row.get(k, "")) for k in d.IDENTITY[menu])
                    self.holders.setdefault((menu, key), []).append(row)

    def active(self, menu: str, key: str, value: str) -> list[dict[str, str]]:
        return [r for r in self.rows.get(menu, []) if r.get(key) == value]


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


# ---------------------------------------------------------------- plan


@dataclass(frozen=True)
class Change:
    action: str  # add | set | unset | remove
    menu: str
    subscriber_id: str | None
    object_id: str | None = None
    attrs: tuple[tuple[str, str], ...] = ()
    detail: str = ""

    def command(self) -> Command:
        if self.action == "add":
            return Command.of(f"{self.menu}/add", dict(self.attrs))
        if self.action == "set":
            return Command.of(f"{self.menu}/set", {".id": self.object_id or "", **dict(self.attrs)})
        if self.action == "unset":
            return Command.of(
                f"{self.menu}/unset", {".id": self.object_id or "", "value-name": self.attrs[0][1]}
            )
        return Command.of(f"{self.menu}/remove", {".id": self.object_id or ""})

    def public(self) -> dict[str, Any]:
        """For drift reports: secrets masked."""
        fields = {k: ("***" if k == "password" else v) for k, v in self.attrs}
        out: dict[str, Any] = {"action": self.action, "menu": self.menu, "subscriber_id": self.subscriber_id}
        if self.object_id:
            out["object_id"] = self.object_id
        if fields:
            out["fields"] = fields
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class Issue:
    """A change the provisioner will not make by itself: ``conflict`` (a hand-made object holds what
    the service needs) or ``problem`` (the service's data is incomplete)."""

    kind: str
    subscriber_id: str | None
    message: str
    menu: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subscriber_id": self.subscriber_id,
            "menu": self.menu,
            "message": self.message,
        }


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    orphans: list[dict[str, str]] = field(default_factory=list)
    block_rules: str | None = None  # installed | missing | partial (when rules were read)
    password_unread: set[str] = field(default_factory=set)  # services whose router hides the password

    def issues_for(self, subscriber_id: str | None) -> list[Issue]:
        return [i for i in self.issues if i.subscriber_id == subscriber_id]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.changes:
            out[c.action] = out.get(c.action, 0) + 1
        return out

    def public(self) -> dict[str, Any]:
        return {
            "in_sync": not self.changes and not self.issues,
            "counts": self.counts(),
            "changes": [c.public() for c in self.changes],
            "issues": [i.public() for i in self.issues],
            "orphans": self.orphans,
            "block_rules": self.block_rules,
        }


def _describe(row: dict[str, str]) -> str:
    return row.get("name") or row.get("address") or row.get(".id", "")


def _diff(
    obj: d.DesiredObject, row: dict[str, str], service: d.DesiredService, plan: Plan
) -> tuple[dict[str, str], list[str]]:
    sets: dict[str, str] = {}
    for k, v in obj.attrs:
        if k == "password" and "password" not in row:
            # the API user cannot read passwords (no "sensitive" policy): compare what was last pushed
            plan.password_unread.add(service.subscriber_id)
            if service.previous.get("pw") != service.state.get("pw"):
                sets[k] = v
            continue
        if d.normalise(k, row.get(k)) != d.normalise(k, v):
            sets[k] = v
    unsets = [k for k in obj.clear if k in row and not d.is_empty(k, row.get(k))]
    return sets, unsets


def plan_services(
    services: Sequence[d.DesiredService],
    actual: ActualState,
    *,
    adopt: bool = False,
    prune: bool = False,
    report_orphans: bool = False,
) -> Plan:
    """Changes bringing the router's objects of ``services`` in line; orphans are tagged objects of
    services not in the list (deleted in the system only, migrated away), removed only with ``prune``."""
    plan = Plan()
    in_plan = {s.subscriber_id for s in services if s.action in ("apply", "remove")}
    for s in services:
        if s.action == "ignore":
            continue
        tagged = actual.tagged.get(s.subscriber_id, {})
        for problem in s.problems:
            plan.issues.append(Issue("problem", s.subscriber_id, problem))
        wanted = {(o.menu, o.slot): o for o in s.objects} if s.action == "apply" else {}
        for menu, rows in tagged.items():
            seen_slots: set[str] = set()
            for row in rows:
                slot = d.slot_of(menu, row)
                if (menu, slot) not in wanted:
                    plan.changes.append(
                        Change("remove", menu, s.subscriber_id, row[".id"], detail=_describe(row))
                    )
                elif slot in seen_slots:  # a duplicate (e.g. written twice by hand): keep one
                    plan.changes.append(
                        Change(
                            "remove", menu, s.subscriber_id, row[".id"], detail=f"duplicate {_describe(row)}"
                        )
                    )
                seen_slots.add(slot)
        for (menu, slot), obj in wanted.items():
            rows = [r for r in tagged.get(menu, []) if d.slot_of(menu, r) == slot]
            holders = [
                r for r in actual.holders.get((menu, obj.identity()), []) if not rows or r is not rows[0]
            ]
            blocker = _blocker(holders, in_plan, s.subscriber_id)
            if rows:
                sets, unsets = _diff(obj, rows[0], s, plan)
                if blocker is not None and any(k in sets for k in d.IDENTITY[menu]):
                    plan.issues.append(_conflict(s, menu, obj, blocker))
                    continue
                if sets:
                    changed = ", ".join(sorted(sets))
                    plan.changes.append(
                        Change(
                            "set",
                            menu,
                            s.subscriber_id,
                            rows[0][".id"],
                            tuple(sets.items()),
                            detail=f"{_describe(rows[0])}: {changed}",
                        )
                    )
                for k in unsets:
                    plan.changes.append(
                        Change(
                            "unset",
                            menu,
                            s.subscriber_id,
                            rows[0][".id"],
                            (("value-name", k),),
                            detail=f"{_describe(rows[0])}: {k}",
                        )
                    )
                continue
            if blocker is not None:
                if adopt and d.subscriber_of(blocker.get("comment")) is None:
                    plan.changes.append(
                        Change(
                            "set",
                            menu,
                            s.subscriber_id,
                            blocker[".id"],
                            obj.attrs,
                            detail=f"adopt {_describe(blocker)}",
                        )
                    )
                else:
                    plan.issues.append(_conflict(s, menu, obj, blocker))
                continue
            plan.changes.append(
                Change(
                    "add",
                    menu,
                    s.subscriber_id,
                    None,
                    obj.attrs,
                    detail=dict(obj.attrs).get("name") or dict(obj.attrs).get("address", ""),
                )
            )
        if s.kick and s.username:
            kicked_menus = {o.menu for o in s.objects if dict(o.attrs).get("disabled") == "true"}
            if s.action == "remove":
                kicked_menus = set(tagged)
            if d.PPP_SECRET in kicked_menus:
                for row in actual.active(d.PPP_ACTIVE, "name", s.username):
                    plan.changes.append(
                        Change(
                            "remove",
                            d.PPP_ACTIVE,
                            s.subscriber_id,
                            row[".id"],
                            detail=f"end session of {s.username}",
                        )
                    )
            if d.HOTSPOT_USER in kicked_menus:
                for row in actual.active(d.HOTSPOT_ACTIVE, "user", s.username):
                    plan.changes.append(
                        Change(
                            "remove",
                            d.HOTSPOT_ACTIVE,
                            s.subscriber_id,
                            row[".id"],
                            detail=f"end session of {s.username}",
                        )
                    )
    if report_orphans or prune:
        known = {s.subscriber_id for s in services}
        for sub_id, menus in actual.tagged.items():
            if sub_id in known:
                continue
            for menu, rows in menus.items():
                for row in rows:
                    plan.orphans.append(
                        {
                            "menu": menu,
                            "object_id": row[".id"],
                            "subscriber_id": sub_id,
                            "name": _describe(row),
                        }
                    )
                    if prune:
                        plan.changes.append(
                            Change("remove", menu, sub_id, row[".id"], detail=f"orphan {_describe(row)}")
                        )
    return plan


def _blocker(holders: list[dict[str, str]], in_plan: set[str], own: str) -> dict[str, str] | None:
    """A row holding the identity that this pass will not free: hand-made, or tagged for a service
    that is not being reconciled now."""
    for row in holders:
        sub = d.subscriber_of(row.get("comment"))
        if sub == own:
            continue
        if sub is None or sub not in in_plan:
            return row
    return None


def _conflict(s: d.DesiredService, menu: str, obj: d.DesiredObject, blocker: dict[str, str]) -> Issue:
    owner = d.subscriber_of(blocker.get("comment"))
    who = (
        f"an object of subscriber {owner} (not managed here any more)" if owner else "an object made by hand"
    )
    what = " ".join(f"{k}={v}" for k, v in zip(d.IDENTITY[menu], obj.identity(), strict=True))
    return Issue("conflict", s.subscriber_id, f"{menu} {what} is held by {who} ({blocker.get('.id')})", menu)


def plan_block_rules(gateway: Gateway, actual: ActualState, *, ensure: bool) -> tuple[list[Change], str]:
    """Changes installing/repairing the block rules; status installed | missing | partial.

    Rules go above the operator's own rules (``place-before`` the first rule that is not ours) so
    that an "accept established" rule cannot let blocked clients through.
    """
    changes: list[Change] = []
    rules = d.block_rules(gateway)
    present = 0
    in_line = 0
    for menu in (d.FILTER, d.NAT):
        rows = actual.rows.get(menu, [])
        ours = {
            r.get("comment"): r for r in rows if (r.get("comment") or "").startswith(d.BLOCK_RULES_PREFIX)
        }
        first_other = next(
            (r[".id"] for r in rows if not (r.get("comment") or "").startswith(d.BLOCK_RULES_PREFIX)), None
        )
        wanted = [r for r in rules if r.menu == menu]
        for rule in wanted:
            row = ours.pop(rule.comment, None)
            if row is None:
                attrs = (*rule.attrs, ("comment", rule.comment))
                if first_other:
                    attrs = (*attrs, ("place-before", first_other))
                changes.append(Change("add", menu, None, None, attrs, detail=rule.comment))
                continue
            present += 1
            sets = {
                k: v
                for k, v in (*rule.attrs, ("disabled", "false"))
                if d.normalise(k, row.get(k)) != d.normalise(k, v)
            }
            if sets:
                changes.append(
                    Change("set", menu, None, row[".id"], tuple(sets.items()), detail=rule.comment)
                )
            else:
                in_line += 1
        for comment, row in ours.items():  # rules of an older rule set
            changes.append(Change("remove", menu, None, row[".id"], detail=comment or ""))
    status = "installed" if in_line == len(rules) else ("missing" if present == 0 else "partial")
    if not ensure and status == "missing":
        return [], status
    return changes, status


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
