"""The world the paging tests walk, and the table of every paged list of the admin API and the portal.

A reseller's three manager tenants (one ordered before the demo tenant, the demo tenant, one after it)
and a tenant outside the reseller hold rows that tie on their sort key (same creation time, same name,
the same username in two tenants) and filters that match few rows: subscribers (some online, one with
two sessions), invoices, payments and payment reports, audit entries, a connection log, router tasks,
billing runs, imports and the other jobs (the demo tenant's newest runs outnumber a page of 50 jobs);
one tenant made many invoices, payment reports, billing runs and imports in one instant (more than a page).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.ids import new_id
from infra.local.demo import DemoData
from shared.crypto import hash_password
from store import subscribers as subscriber_store
from store.models import AuditEntry, Invoice, Job, Payment, ProvisioningTask, Session, Subscriber, Tenant
from tests.integration.api.paging import Getter, PagedList
from tests.integration.api.support import Api, ok, open_session

TIE = "2026-03-01T10:00:00.000000Z"  # the creation time most rows share
BEFORE = "2026-02-27T08:00:00.000000Z"
AFTER = "2026-03-03T12:00:00.000000Z"
FIRST_TENANT = "ten_aaa_paging"  # ordered before the demo tenant (ten_demo)
LAST_TENANT = "ten_zzz_paging"  # ordered after it
FOREIGN_TENANT = "ten_foreign_paging"  # under the system, outside the demo reseller
CROWD = "2026-03-02T09:00:00.000000Z"  # the instant many rows of the last tenant share
CROWDED = 12  # how many rows of a kind the last tenant made in that instant


def moment(i: int) -> str:
    """Most rows tie on TIE; every fourth is a little older, every seventh a little newer."""
    return BEFORE if i % 4 == 3 else AFTER if i % 7 == 6 else TIE


@dataclass
class Seeded:
    """The seeded data: who calls (auth headers by name) and the keys each list must hold."""

    demo: DemoData
    who: dict[str, dict[str, str]]  # admin, reseller, manager (demo tenant), foreign, portal, portal_other
    rows: dict[str, set[str]] = field(default_factory=dict)  # list name -> the keys it must hold


def add_tenant(tid: str, parent: str, ancestors: list[str]) -> None:
    Tenant(
        id=tid,
        name=f"Tenant {tid}",
        kind="manager",
        parent_id=parent,
        ancestors=ancestors,
        timezone="America/Mexico_City",
        created_at=TIE,
    ).save()


USERNAMES = {
    FIRST_TENANT: ("ana", "bob", "carl", "zed"),
    "ten_demo": ("ana", "Bea", "carl", "dan", "eve", "fay"),
    LAST_TENANT: ("abe", "bea", "dan", "fay2"),
    FOREIGN_TENANT: ("ana", "olga"),
}
SUSPENDED = {("ten_demo", "carl"), (FIRST_TENANT, "zed"), (LAST_TENANT, "bea")}
IN_ZONE = {("ten_demo", "dan"), ("ten_demo", "fay")}
ON_ROUTER = {("ten_demo", "Bea"), ("ten_demo", "eve")}
ONLINE = {
    (FIRST_TENANT, "ana"),
    (FIRST_TENANT, "bob"),
    (FIRST_TENANT, "carl"),
    ("ten_demo", "ana"),
    ("ten_demo", "dan"),
    (LAST_TENANT, "abe"),
    (LAST_TENANT, "dan"),
    (FOREIGN_TENANT, "ana"),
}


def add_subscriber(tid: str, username: str, i: int, **fields: Any) -> Subscriber:
    sub = Subscriber(
        id=new_id("sub"),
        tenant_id=tid,
        username=username,
        password_enc="x",
        status="suspended" if (tid, username) in SUSPENDED else "active",
        name="Same Name",
        zone_id="zone_demo" if (tid, username) in IN_ZONE else None,
        gateway_id="gw_demo" if (tid, username) in ON_ROUTER else None,
        product_id="prod_demo",
        created_at=moment(i),
        **fields,
    )
    return subscriber_store.create(sub)


def add_invoice(tid: str, sub_id: str, i: int, status: str = "pending", when: str | None = None) -> Invoice:
    inv = Invoice(
        id=new_id("oth"),
        tenant_id=tid,
        subscriber_id=sub_id,
        number=i + 1,
        kind="other",
        status=status,
        issue_date=(when or moment(i))[:10],
        total="10.00",
        paid="10.00" if status == "paid" else "0",
        lines=[{"description": "Install", "quantity": "1", "unit_price": "10.00", "amount": "10.00"}],
        created_at=when or moment(i),
    )
    inv.save()
    return inv


def add_payment(tid: str, sub_id: str, i: int, kind: str = "payment", when: str | None = None) -> Payment:
    p = Payment(
        id=new_id("pay"),
        tenant_id=tid,
        subscriber_id=sub_id,
        amount="10.00",
        kind=kind,
        status="pending_confirmation" if kind == "reported" else "applied",
        source="portal" if kind == "reported" else "operator",
        created_at=when or moment(i),
    )
    p.save()
    return p


def add_audit(tid: str, entity_id: str, i: int, when: str | None = None) -> AuditEntry:
    entry = AuditEntry(
        entity_id=entity_id,
        ts_id=f"{when or moment(i)}#{new_id('x')[-8:]}",
        tenant_id=tid,
        entity_type="subscriber",
        action=f"act-{new_id('a')}",
        actor_id="op_test",
        actor_kind="operator",
    )
    entry.save()
    return entry


def add_session(sub: Subscriber, i: int, wifi: bool, when: str | None = None) -> Session:
    row = Session(
        id=new_id("ses"),
        tenant_id=sub.tenant_id,
        subscriber_id=sub.id,
        username=sub.username,
        acct_session_id=f"acct-{i}",
        nas_ip="127.0.0.1",
        ssid="Plaza WiFi" if wifi else None,
        started_at=when or moment(i),
        ended_at=AFTER,
        last_update=AFTER,
        closed_by="stop",
    )
    row.save()
    return row


def add_task(tid: str, i: int, status: str, when: str | None = None) -> ProvisioningTask:
    task = ProvisioningTask(
        id=new_id("task"),
        tenant_id=tid,
        gateway_id="gw_demo",
        kind="reconcile_subscriber",
        status=status,
        created_at=when or moment(i),
    )
    task.save()
    return task


RUN_KINDS = ("billing_invoices", "billing_notices", "billing_cutoff")
JOB_KINDS = ("subscriber_export", "subscriber_bulk")
IMPORT_KINDS = ("import_create", "import_update")
NEWER_RUNS = 55  # the demo tenant's runs newer than every other row of the Job table


def add_job(tid: str, kind: str, i: int, when: str | None = None) -> Job:
    """A row of the Job table: a billing run, an import or an export or bulk job."""
    job = Job(
        id=new_id("run" if kind in RUN_KINDS else "job"),
        tenant_id=tid,
        kind=kind,
        status="done",
        total=1,
        done=1,
        failed=0,
        result={"filename": f"file-{i}.csv"} if kind in IMPORT_KINDS else {},
        created_by="op_test",
        created_at=when or moment(i),
    )
    job.save()
    return job


def seed_jobs(world: Seeded) -> None:
    """Billing runs, imports and the other jobs of every tenant, tied on their creation time, and the
    demo tenant's newest runs: more than a page of 50 rows of the Job table, all newer than its jobs."""
    rows, demo = world.rows, world.demo.tenant_id
    for key in ("runs", "runs:cutoff", "imports", "jobs", "jobs:import_create"):
        rows[key] = set()
    counts = {FIRST_TENANT: (4, 3, 2), demo: (6, 4, 3), LAST_TENANT: (3, 2, 2), FOREIGN_TENANT: (2, 1, 1)}
    for tid, (runs, imports, others) in counts.items():
        mine = tid != FOREIGN_TENANT
        for j in range(runs):
            run = add_job(tid, RUN_KINDS[j % 3], j)
            if mine:
                rows["runs"].add(run.id)
                if run.kind == "billing_cutoff":
                    rows["runs:cutoff"].add(run.id)
        for j in range(imports):
            imp = add_job(tid, IMPORT_KINDS[j % 2], j + 1)
            if mine:
                rows["imports"].add(imp.id)
                rows["jobs"].add(imp.id)
                if imp.kind == "import_create":
                    rows["jobs:import_create"].add(imp.id)
        for j in range(others):
            other = add_job(tid, JOB_KINDS[j % 2], j + 2)
            if mine:
                rows["jobs"].add(other.id)
    for j in range(NEWER_RUNS):
        newer = f"2026-03-04T{10 + j // 60:02d}:{j % 60:02d}:00.000000Z"
        rows["runs"].add(add_job(demo, RUN_KINDS[0], j, when=newer).id)
    for j in range(CROWDED):  # runs and imports the last tenant made in one instant
        run = add_job(LAST_TENANT, RUN_KINDS[j % 3], j, when=CROWD)
        rows["runs"].add(run.id)
        if run.kind == "billing_cutoff":
            rows["runs:cutoff"].add(run.id)
        if j % 2 == 0:
            imp = add_job(LAST_TENANT, IMPORT_KINDS[j // 2 % 2], j, when=CROWD)
            rows["imports"].add(imp.id)
            rows["jobs"].add(imp.id)
            if imp.kind == "import_create":
                rows["jobs:import_create"].add(imp.id)


def portal_login(api: Api, tenant_id: str, username: str, password: str) -> dict[str, str]:
    body = {"tenant_id": tenant_id, "username": username, "password": password}
    token = ok(api.post("/portal/auth/login", None, body))["token"]
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def seed_world(api: Api, demo: DemoData) -> Seeded:
    add_tenant(FIRST_TENANT, demo.reseller_id, [demo.system_id, demo.reseller_id])
    add_tenant(LAST_TENANT, demo.reseller_id, [demo.system_id, demo.reseller_id])
    add_tenant(FOREIGN_TENANT, demo.system_id, [demo.system_id])
    world = Seeded(
        demo,
        {
            "admin": api.as_(demo.admin_id, demo.system_id, "system_admin"),
            "reseller": api.operator(demo.reseller_id, "reseller"),
            "manager": api.as_(demo.operator_id, demo.tenant_id, "manager"),
            "foreign": api.operator(FOREIGN_TENANT, "manager"),
        },
    )
    rows = world.rows
    subs: dict[tuple[str, str], Subscriber] = {}
    i = 0
    for tid, names in USERNAMES.items():
        for name in names:
            extra = {"portal_password_hash": hash_password("portal-pass-1")} if name == "eve" else {}
            subs[(tid, name)] = add_subscriber(tid, name, i, **extra)
            i += 1
    for key in sorted(ONLINE):
        open_session(subs[key].id, key=f"k-{key[0]}-{key[1]}")
    open_session(subs[("ten_demo", "ana")].id, key="k-ten_demo-ana-2", mac="AA:BB:CC:00:00:02")
    demo_sub = subscriber_store.get_by_id(demo.subscriber_id)
    assert demo_sub is not None
    subs[(demo.tenant_id, "demo")] = demo_sub
    reseller_tenants = (FIRST_TENANT, demo.tenant_id, LAST_TENANT)
    rows["subscribers"] = {s.id for (tid, _), s in subs.items() if tid in reseller_tenants}
    rows["subscribers:demo"] = {s.id for (tid, _), s in subs.items() if tid == demo.tenant_id}
    rows["subscribers:suspended"] = {
        s.id for k, s in subs.items() if k in SUSPENDED and k[0] != FOREIGN_TENANT
    }
    rows["subscribers:zone"] = {s.id for k, s in subs.items() if k in IN_ZONE} | {demo.subscriber_id}
    rows["subscribers:router"] = {s.id for k, s in subs.items() if k in ON_ROUTER} | {demo.subscriber_id}
    rows["subscribers:search"] = {
        s.id for (tid, name), s in subs.items() if name.startswith("da") and tid in reseller_tenants
    }
    online = {k: s for k, s in subs.items() if k in ONLINE and k[0] in reseller_tenants}
    rows["online"] = {f"{s.id}/k-{k[0]}-{k[1]}" for k, s in online.items()}
    rows["online"].add(f"{subs[('ten_demo', 'ana')].id}/k-ten_demo-ana-2")
    rows["online:demo"] = {k for k in rows["online"] if "-ten_demo-" in k}
    rows["online:search"] = {f"{s.id}/k-{k[0]}-{k[1]}" for k, s in online.items() if k[1] == "dan"}
    # invoices: the demo subscriber's (its portal list too), and the other tenants'
    rows["invoices"], rows["invoices:paid"], rows["invoices:demo"] = set(), set(), set()
    for tid, n in ((FIRST_TENANT, 3), (demo.tenant_id, 6), (LAST_TENANT, 3), (FOREIGN_TENANT, 2)):
        owner = demo.subscriber_id if tid == demo.tenant_id else subs[(tid, USERNAMES[tid][0])].id
        for j in range(n):
            status = "paid" if j == 1 else "pending"
            inv = add_invoice(tid, owner, j, status)
            if tid != FOREIGN_TENANT:
                rows["invoices"].add(inv.id)
                if status == "paid":
                    rows["invoices:paid"].add(inv.id)
            if tid == demo.tenant_id:
                rows["invoices:demo"].add(inv.id)
    # payments and the payments customers reported (bank transfers waiting for confirmation)
    rows["payments"], rows["reports"] = set(), set()
    for tid, n in ((FIRST_TENANT, 4), (demo.tenant_id, 3), (LAST_TENANT, 2), (FOREIGN_TENANT, 2)):
        owner = subs[(tid, USERNAMES[tid][0])].id
        for j in range(n):
            p = add_payment(tid, owner, j)
            r = add_payment(tid, owner, j + 1, kind="reported")
            if tid != FOREIGN_TENANT:
                rows["payments"] |= {p.id, r.id}
                rows["reports"].add(r.id)
    # invoices and payment reports the last tenant made in one instant: more than a page of them
    crowd_owner = subs[(LAST_TENANT, USERNAMES[LAST_TENANT][0])].id
    for j in range(CROWDED):
        inv = add_invoice(LAST_TENANT, crowd_owner, 100 + j, "paid" if j == 0 else "pending", when=CROWD)
        rows["invoices"].add(inv.id)
        if inv.status == "paid":
            rows["invoices:paid"].add(inv.id)
        report = add_payment(LAST_TENANT, crowd_owner, 100 + j, kind="reported", when=CROWD)
        rows["payments"].add(report.id)
        rows["reports"].add(report.id)
    # the audit log: the demo subscriber's history and the demo tenant's log
    rows["audit:entity"] = {add_audit(demo.tenant_id, demo.subscriber_id, j).action for j in range(7)}
    others = {add_audit(demo.tenant_id, subs[(demo.tenant_id, "ana")].id, j).action for j in range(3)}
    rows["audit:tenant"] = rows["audit:entity"] | others
    rows["audit:since"] = {
        add_audit(demo.tenant_id, demo.subscriber_id, j, when="2026-03-05T09:00:00.000000Z").action
        for j in range(2)
    }
    rows["audit:entity"] |= rows["audit:since"]
    rows["audit:tenant"] |= rows["audit:since"]
    add_audit(FOREIGN_TENANT, subs[(FOREIGN_TENANT, "ana")].id, 0)
    # the demo subscriber's connection log (every other connection over Wi-Fi)
    sessions = [add_session(demo_sub, j, wifi=j % 2 == 0) for j in range(8)]
    rows["connections"] = {s.id for s in sessions}
    rows["wifi"] = {s.id for s in sessions if s.ssid}
    # provisioning tasks of the demo router
    tasks = [add_task(demo.tenant_id, j, "failed" if j in (2, 5) else "succeeded") for j in range(7)]
    rows["tasks"] = {t.id for t in tasks}
    rows["tasks:failed"] = {t.id for t in tasks if t.status == "failed"}
    seed_jobs(world)
    world.who["portal"] = portal_login(api, demo.tenant_id, demo.username, demo.password)
    world.who["portal_other"] = portal_login(api, demo.tenant_id, "eve", "portal-pass-1")
    return world


def audit_key(r: dict[str, Any]) -> str:
    return str(r["action"])


def row_id(r: dict[str, Any]) -> str:
    return str(r["id"])


def count_rows(rows: list[dict[str, Any]]) -> int:
    return len(rows)


def subscribers_online(rows: list[dict[str, Any]]) -> int:
    return len({r["subscriber_id"] for r in rows})


def subscriber_list(path: str) -> PagedList:
    return PagedList("subscribers", path, 500, row_id, total=count_rows)


def online_key(r: dict[str, Any]) -> str:
    return f"{r['subscriber_id']}/{r['session_id']}"


def online_list(path: str, total: Callable[[list[dict[str, Any]]], int] | None = None) -> PagedList:
    """The Online list: a row per session, a page of subscribers."""
    return PagedList("online", path, 1000, online_key, total=total, counted=subscribers_online)


LISTS: dict[str, tuple[PagedList, str, str]] = {
    # name: (list, who walks it, the rows it holds)
    "subscribers by username": (subscriber_list("/admin/subscribers"), "reseller", "subscribers"),
    "subscribers by username, descending": (
        subscriber_list("/admin/subscribers?sort=-username"),
        "reseller",
        "subscribers",
    ),
    "subscribers by creation time (ties)": (
        subscriber_list("/admin/subscribers?sort=created_at"),
        "reseller",
        "subscribers",
    ),
    "subscribers by name (all the same), descending": (
        subscriber_list("/admin/subscribers?sort=-name"),
        "reseller",
        "subscribers",
    ),
    "subscribers by price (all the same)": (
        subscriber_list("/admin/subscribers?sort=price"),
        "reseller",
        "subscribers",
    ),
    "subscribers of one tenant": (
        subscriber_list("/admin/subscribers?tenant_id=ten_demo"),
        "admin",
        "subscribers:demo",
    ),
    "suspended subscribers (few)": (
        subscriber_list("/admin/subscribers?status=suspended"),
        "reseller",
        "subscribers:suspended",
    ),
    "subscribers of a zone (few)": (
        subscriber_list("/admin/subscribers?zone_id=zone_demo"),
        "reseller",
        "subscribers:zone",
    ),
    "subscribers matching a search (few)": (
        subscriber_list("/admin/subscribers?q=da"),
        "reseller",
        "subscribers:search",
    ),
    "subscribers on a router (few)": (
        subscriber_list("/admin/subscribers?gateway_id=gw_demo"),
        "reseller",
        "subscribers:router",
    ),
    "online subscribers": (
        online_list("/admin/subscribers/online", subscribers_online),
        "reseller",
        "online",
    ),
    "online subscribers of one tenant": (
        online_list("/admin/subscribers/online?tenant_id=ten_demo", subscribers_online),
        "reseller",
        "online:demo",
    ),
    "online subscribers matching a search (few)": (
        online_list("/admin/subscribers/online?q=dan"),
        "reseller",
        "online:search",
    ),
    "invoices": (PagedList("invoices", "/admin/invoices", 500, row_id), "reseller", "invoices"),
    "paid invoices (few)": (
        PagedList("invoices", "/admin/invoices?status=paid", 500, row_id),
        "reseller",
        "invoices:paid",
    ),
    "invoices of a subscriber": (
        PagedList("invoices", "/admin/invoices?subscriber_id=sub_demo", 500, row_id),
        "manager",
        "invoices:demo",
    ),
    "payments": (PagedList("payments", "/admin/payments", 1000, row_id), "reseller", "payments"),
    "payment reports": (PagedList("reports", "/admin/payment-reports", 200, row_id), "reseller", "reports"),
    "audit log of a tenant": (PagedList("audit", "/admin/audit", 500, audit_key), "manager", "audit:tenant"),
    "audit log of a tenant since a day (few)": (
        PagedList("audit", "/admin/audit?since=2026-03-04", 500, audit_key),
        "manager",
        "audit:since",
    ),
    "audit log of an object": (
        PagedList("audit", "/admin/audit?entity_id=sub_demo", 500, audit_key),
        "manager",
        "audit:entity",
    ),
    "audit log of an object since a day (few)": (
        PagedList("audit", "/admin/audit?entity_id=sub_demo&since=2026-03-04", 500, audit_key),
        "manager",
        "audit:since",
    ),
    "audit log of a subscriber": (
        PagedList("audit", "/admin/subscribers/sub_demo/audit", 500, audit_key),
        "manager",
        "audit:entity",
    ),
    "connection log": (
        PagedList("connections", "/admin/subscribers/sub_demo/connections", 500, lambda r: r["session_id"]),
        "manager",
        "connections",
    ),
    "Wi-Fi connection log (few)": (
        PagedList("wifi", "/admin/subscribers/sub_demo/wifi-connections", 500, lambda r: r["session_id"]),
        "manager",
        "wifi",
    ),
    "tasks of a tenant": (
        PagedList("tasks", "/admin/tasks", 200, row_id, "next_token", "next_token"),
        "manager",
        "tasks",
    ),
    "failed tasks of a router (few)": (
        PagedList(
            "tasks", "/admin/tasks?gateway_id=gw_demo&status=failed", 200, row_id, "next_token", "next_token"
        ),
        "manager",
        "tasks:failed",
    ),
    "tasks of a router": (
        PagedList("tasks", "/admin/gateways/gw_demo/tasks", 200, row_id, "next_token", "next_token"),
        "manager",
        "tasks",
    ),
    "billing runs": (PagedList("runs", "/admin/billing/runs", 200, row_id), "reseller", "runs"),
    "cutoff runs (few)": (
        PagedList("runs", "/admin/billing/runs?kind=billing_cutoff", 200, row_id),
        "reseller",
        "runs:cutoff",
    ),
    "imports": (PagedList("imports", "/admin/imports", 200, row_id), "reseller", "imports"),
    "jobs": (PagedList("jobs", "/admin/jobs", 200, row_id), "reseller", "jobs"),
    "imports among the jobs (few)": (
        PagedList("jobs", "/admin/jobs?kind=import_create", 200, row_id),
        "reseller",
        "jobs:import_create",
    ),
    "portal connection log": (
        PagedList("portal connections", "/portal/connections", 100, row_id, "next_token", "next_token"),
        "portal",
        "connections",
    ),
    "portal invoices": (
        PagedList("portal invoices", "/portal/invoices", 100, row_id, "next_token", "next_token"),
        "portal",
        "invoices:demo",
    ),
}


def getter(api: Api) -> Getter:
    """GET through the test client, as the walker calls it."""
    return lambda path, who: api.get(path, who)
