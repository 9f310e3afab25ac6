"""The plan of a reconcile: what a router holds (:class:`ActualState`) compared with the desired state
of its services (:mod:`services.network.desired`), as the changes to make and the issues to report.

Pure: nothing here talks to a router or to DynamoDB. Only objects carrying the provisioner's marker
(``wisp:<subscriber id>``) are changed or removed; an object made by hand that holds a name or address
the system needs is reported as a *conflict* (or taken over with ``adopt``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.routeros import Command
from services.network import desired as d
from store.models import Gateway

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
        _plan_unwanted(s, tagged, wanted, plan)
        for (menu, slot), obj in wanted.items():
            _plan_object(_Wanted(s, menu, slot, obj), tagged, actual, in_plan, plan, adopt=adopt)
        if s.kick and s.username:
            _plan_kicks(s, tagged, actual, plan)
    if report_orphans or prune:
        _plan_orphans(services, actual, plan, prune=prune)
    return plan


@dataclass(frozen=True)
class _Wanted:
    """One desired object of one service, in the menu slot it fills."""

    service: d.DesiredService
    menu: str
    slot: str
    obj: d.DesiredObject


def _plan_unwanted(
    s: d.DesiredService,
    tagged: dict[str, list[dict[str, str]]],
    wanted: dict[tuple[str, str], d.DesiredObject],
    plan: Plan,
) -> None:
    """Tagged objects of the service that it no longer wants, and duplicates of the wanted ones."""
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
                    Change("remove", menu, s.subscriber_id, row[".id"], detail=f"duplicate {_describe(row)}")
                )
            seen_slots.add(slot)


def _plan_object(
    w: _Wanted,
    tagged: dict[str, list[dict[str, str]]],
    actual: ActualState,
    in_plan: set[str],
    plan: Plan,
    *,
    adopt: bool,
) -> None:
    """Update the service's own object, adopt a hand-made one, report a conflict, or add it."""
    s, menu, obj = w.service, w.menu, w.obj
    rows = [r for r in tagged.get(menu, []) if d.slot_of(menu, r) == w.slot]
    holders = [r for r in actual.holders.get((menu, obj.identity()), []) if not rows or r is not rows[0]]
    blocker = _blocker(holders, in_plan, s.subscriber_id)
    if rows:
        _plan_update(w, rows[0], blocker, plan)
        return
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
        return
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


def _plan_update(w: _Wanted, row: dict[str, str], blocker: dict[str, str] | None, plan: Plan) -> None:
    """Set the fields of the service's object that differ, unset the ones it must not hold."""
    s, menu = w.service, w.menu
    sets, unsets = _diff(w.obj, row, s, plan)
    if blocker is not None and any(k in sets for k in d.IDENTITY[menu]):
        plan.issues.append(_conflict(s, menu, w.obj, blocker))
        return
    if sets:
        changed = ", ".join(sorted(sets))
        plan.changes.append(
            Change(
                "set",
                menu,
                s.subscriber_id,
                row[".id"],
                tuple(sets.items()),
                detail=f"{_describe(row)}: {changed}",
            )
        )
    for k in unsets:
        plan.changes.append(
            Change(
                "unset",
                menu,
                s.subscriber_id,
                row[".id"],
                (("value-name", k),),
                detail=f"{_describe(row)}: {k}",
            )
        )


def _plan_kicks(
    s: d.DesiredService, tagged: dict[str, list[dict[str, str]]], actual: ActualState, plan: Plan
) -> None:
    """End the open sessions of an account being disabled or removed."""
    kicked_menus = {o.menu for o in s.objects if dict(o.attrs).get("disabled") == "true"}
    if s.action == "remove":
        kicked_menus = set(tagged)
    for secret_menu, active_menu, key in (
        (d.PPP_SECRET, d.PPP_ACTIVE, "name"),
        (d.HOTSPOT_USER, d.HOTSPOT_ACTIVE, "user"),
    ):
        if secret_menu not in kicked_menus:
            continue
        for row in actual.active(active_menu, key, s.username):
            plan.changes.append(
                Change(
                    "remove", active_menu, s.subscriber_id, row[".id"], detail=f"end session of {s.username}"
                )
            )


def _plan_orphans(
    services: Sequence[d.DesiredService], actual: ActualState, plan: Plan, *, prune: bool
) -> None:
    known = {s.subscriber_id for s in services}
    for sub_id, menus in actual.tagged.items():
        if sub_id in known:
            continue
        for menu, rows in menus.items():
            for row in rows:
                plan.orphans.append(
                    {"menu": menu, "object_id": row[".id"], "subscriber_id": sub_id, "name": _describe(row)}
                )
                if prune:
                    plan.changes.append(
                        Change("remove", menu, sub_id, row[".id"], detail=f"orphan {_describe(row)}")
                    )


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
