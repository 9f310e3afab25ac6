"""The scheduled inactivity run over moto: who becomes Inactive, once, with an audit trail."""

from __future__ import annotations

from datetime import timedelta

from core.ids import iso, utcnow
from services.subscribers.inactivity import mark_inactive
from store.models import AuditEntry, Subscriber, Tenant


def _sub(runtime, demo, username: str, **fields) -> Subscriber:
    sub = Subscriber(
        login=f"{demo.tenant_id}#{username}",
        id=f"sub_{username}",
        tenant_id=demo.tenant_id,
        username=username,
        password_enc=runtime.box.encrypt("pw"),
        product_id=demo.product_id,
        gateway_id=demo.gateway_id,
        **fields,
    )
    sub.save()
    return sub


def test_customers_without_use_for_the_grace_period_become_inactive_once(runtime, demo):
    now = utcnow()
    old, recent = iso(now - timedelta(days=40)), iso(now - timedelta(days=3))
    tenant = Tenant.get(demo.tenant_id)
    tenant.update(actions=[Tenant.settings.set({"inactivity_days": 30})])
    _sub(runtime, demo, "idle", status="active", last_seen_at=old, created_at=old)
    _sub(runtime, demo, "busy", status="active", last_seen_at=recent, created_at=old)
    _sub(runtime, demo, "neverused", status="new", created_at=old)
    _sub(runtime, demo, "freeone", status="free", last_seen_at=old, created_at=old)
    _sub(
        runtime,
        demo,
        "online",
        status="active",
        last_seen_at=old,
        created_at=old,
        open_sessions={"k1": {"nas": "127.0.0.1", "sid": "S1", "st": old, "v": 1}},
    )
    # the demo subscriber was created now and never used: it stays as it is

    assert mark_inactive(runtime, now) == 2
    status = {
        u: Subscriber.get(f"{demo.tenant_id}#{u}").status
        for u in ("idle", "busy", "neverused", "freeone", "online", "demo")
    }
    assert status == {
        "idle": "inactive",
        "busy": "active",
        "neverused": "inactive",
        "freeone": "free",
        "online": "active",
        "demo": "active",
    }
    entries = list(AuditEntry.query("sub_idle"))
    assert [(e.action, e.actor_kind, e.before, e.after["status"]) for e in entries] == [
        ("inactive", "system", {"status": "active"}, "inactive")
    ]
    # a second run changes nothing
    assert mark_inactive(runtime, now) == 0


def test_grace_period_zero_turns_the_rule_off(runtime, demo):
    old = iso(utcnow() - timedelta(days=400))
    Tenant.get(demo.tenant_id).update(actions=[Tenant.settings.set({"inactivity_days": 0})])
    _sub(runtime, demo, "ancient", status="active", last_seen_at=old, created_at=old)
    assert mark_inactive(runtime, utcnow()) == 0
