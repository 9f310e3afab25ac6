"""Every state-changing admin operation leaves an audit entry naming who did it, on which entity.

Each row performs one operation through the API and names the entity, the action and the actor the
audit log must show for it (``GET /admin/audit?entity_id=...``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from core.ids import new_id, now_iso, utcnow
from infra.local.demo import DemoData
from store.models import Gateway, Job, ProvisioningTask
from store.subscribers import get_by_id
from tests.integration.api.support import Api, ok


@pytest.fixture(scope="module")
def world_settings(world_settings: dict[str, Any]) -> dict[str, Any]:
    """A VPN hub, so a router's onboarding script can be made."""
    hub_key = "hubPublicKeyBase64hubPublicKeyBase64hubPubl="
    return {**world_settings, "vpn_hub_public_key": hub_key, "vpn_endpoint": "vpn.example.net:51820"}


ANTENNA = {"kind": "other", "lines": [{"description": "Antenna", "unit_price": "80"}]}


@dataclass
class Caller:
    """Who performs the operation: its headers and the actor the audit entry must name."""

    headers: dict[str, str]
    actor_id: str
    actor_kind: str


@dataclass
class Done:
    """What the operation changed: the audited entity and the action expected on it."""

    entity_id: str
    action: str


def _manager(api: Api, demo: DemoData) -> Caller:
    return Caller(api.as_(demo.operator_id, demo.tenant_id, "manager"), demo.operator_id, "operator")


def _api_key(api: Api, demo: DemoData) -> Caller:
    """A manager-role API key of the demo tenant (an external procedure)."""
    created = ok(
        api.post("/admin/api-keys", _manager(api, demo).headers, {"name": "ERP", "role": "manager"}), 201
    )
    return Caller({"X-Api-Key": created["key"], "Content-Type": "application/json"}, created["id"], "api_key")


def _invoice(api: Api, demo: DemoData) -> dict[str, Any]:
    body = {"subscriber_id": demo.subscriber_id, **ANTENNA}
    return ok(api.post("/admin/invoices", _manager(api, demo).headers, body), 201)


# ---------------------------------------------------------------- operations
def notices_run(api: Api, demo: DemoData, who: Caller) -> Done:
    out = ok(api.post("/admin/billing/runs", who.headers, {"kind": "notices", "tenant_id": demo.tenant_id}))
    [result] = out["results"]
    return Done(result["run_id"], "billing_notices")


def promise_expiry_run(api: Api, demo: DemoData, who: Caller) -> Done:
    sub = get_by_id(demo.subscriber_id)
    assert sub is not None
    past = (utcnow() - timedelta(days=10)).date().isoformat()
    sub.update(actions=[type(sub).billing.set({**(sub.billing or {}), "promise_until": past})])
    ok(api.post("/admin/billing/runs", who.headers, {"kind": "promise_expiry", "tenant_id": demo.tenant_id}))
    after = get_by_id(demo.subscriber_id)
    assert after is not None and "promise_until" not in (after.billing or {})
    return Done(demo.subscriber_id, "promise_expired")


def payment_account_check(api: Api, demo: DemoData, who: Caller) -> Done:
    ok(api.post("/admin/payment-settings/accounts/hosted/test", who.headers, {}))
    return Done(demo.tenant_id, "check_payment_account")


def payment_settings(api: Api, demo: DemoData, who: Caller) -> Done:
    ok(api.put("/admin/payment-settings", who.headers, {"enabled": True, "provider": "hosted"}))
    return Done(demo.tenant_id, "configure_payments")


def cancel_pending_invoices(api: Api, demo: DemoData, who: Caller) -> Done:
    inv = _invoice(api, demo)
    out = ok(api.post(f"/admin/subscribers/{demo.subscriber_id}/invoices/cancel-pending", who.headers))
    assert out["cancelled"] == 1
    return Done(inv["id"], "cancel")


def cancel_subscriber_with_invoices(api: Api, demo: DemoData, who: Caller) -> Done:
    inv = _invoice(api, demo)
    body = {"ip_action": "none", "cancel_pending_invoices": True}
    out = ok(api.post(f"/admin/subscribers/{demo.subscriber_id}/cancel", who.headers, body))
    assert out["data"]["invoices_cancelled"] == 1, out
    return Done(inv["id"], "cancel")


def create_zone(api: Api, demo: DemoData, who: Caller) -> Done:
    zone = ok(api.post("/admin/zones", who.headers, {"name": "Norte", "timezone": "America/Bogota"}), 201)
    return Done(zone["id"], "create")


def assign_operator_role(api: Api, demo: DemoData, who: Caller) -> Done:
    op = ok(
        api.post(
            "/admin/operators",
            _manager(api, demo).headers,
            {"email": "desk@demo.local", "password": "pw-123456", "role": "operator"},
        ),
        201,
    )
    ok(api.put(f"/admin/operators/{op['id']}/role", who.headers, {"role": "read_only"}))
    return Done(op["id"], "update")


def cancel_invoice(api: Api, demo: DemoData, who: Caller) -> Done:
    inv = _invoice(api, demo)
    ok(api.post(f"/admin/invoices/{inv['path_id']}/cancel", who.headers))
    return Done(inv["id"], "cancel")


def _failed_router_task(demo: DemoData) -> ProvisioningTask:
    """A router task of the demo gateway whose last run failed with a connection error."""
    task = ProvisioningTask(
        id=new_id("task"),
        tenant_id=demo.tenant_id,
        gateway_id=demo.gateway_id,
        kind="reconcile_router",
        status="failed",
        error_category="unreachable",
        last_error="connection refused",
        created_at=now_iso(),
    )
    task.save()
    return task


def router_task_rerun(api: Api, demo: DemoData, who: Caller) -> Done:
    task = _failed_router_task(demo)
    ok(api.post(f"/admin/tasks/{task.id}/rerun", who.headers), 202)
    return Done(task.id, "rerun")


def router_failed_tasks_rerun(api: Api, demo: DemoData, who: Caller) -> Done:
    Gateway.get(demo.gateway_id).update(actions=[Gateway.api_enabled.set(True)])
    ok(api.post(f"/admin/gateways/{demo.gateway_id}/tasks/rerun-failed", who.headers), 202)
    return Done(demo.gateway_id, "rerun_failed_tasks")


def export_to_router(api: Api, demo: DemoData, who: Caller) -> Done:
    Gateway.get(demo.gateway_id).update(actions=[Gateway.api_enabled.set(True)])
    ok(api.post(f"/admin/gateways/{demo.gateway_id}/export", who.headers, {}), 202)
    return Done(demo.gateway_id, "export_to_router")


def install_block_rules(api: Api, demo: DemoData, who: Caller) -> Done:
    Gateway.get(demo.gateway_id).update(actions=[Gateway.api_enabled.set(True)])
    ok(api.post(f"/admin/gateways/{demo.gateway_id}/block-rules", who.headers, {}), 202)
    return Done(demo.gateway_id, "install_block_rules")


def onboarding_script(api: Api, demo: DemoData, who: Caller) -> Done:
    ok(api.post(f"/admin/gateways/{demo.gateway_id}/onboarding-script", who.headers, {}))
    return Done(demo.gateway_id, "onboarding_script")


def cutoff_rerun(api: Api, demo: DemoData, who: Caller) -> Done:
    run = Job(
        id=new_id("run"),
        tenant_id=demo.tenant_id,
        kind="billing_cutoff",
        status="done",
        result={"routers": [{"gateway_id": demo.gateway_id, "subscribers": [demo.subscriber_id]}]},
        created_by="system",
        created_at=now_iso(),
    )
    run.save()
    ok(api.post(f"/admin/billing/runs/{run.id}/rerun", who.headers, {}))
    return Done(run.id, "rerun")


Operation = Callable[[Api, DemoData, Caller], Done]
CallerOf = Callable[[Api, DemoData], Caller]

CASES: list[tuple[Operation, CallerOf]] = [
    # operations that left no entry, or named the wrong actor
    (notices_run, _manager),
    (promise_expiry_run, _manager),
    (payment_account_check, _manager),
    (payment_settings, _api_key),
    (cancel_pending_invoices, _api_key),
    (cancel_subscriber_with_invoices, _api_key),
    (router_task_rerun, _api_key),
    (router_failed_tasks_rerun, _api_key),
    (cutoff_rerun, _api_key),
    (notices_run, _api_key),
    (promise_expiry_run, _api_key),
    (export_to_router, _api_key),
    (install_block_rules, _api_key),
    (onboarding_script, _api_key),
    # already audited: the control rows
    (create_zone, _manager),
    (assign_operator_role, _manager),
    (cancel_invoice, _api_key),
]


@pytest.mark.parametrize(
    "operation, caller", CASES, ids=[f"{op.__name__}-{by.__name__.strip('_')}" for op, by in CASES]
)
def test_state_changing_admin_operation_is_audited(
    api: Api, demo: DemoData, manager: dict[str, str], operation: Operation, caller: CallerOf
) -> None:
    who = caller(api, demo)
    done = operation(api, demo, who)
    entries = ok(api.get(f"/admin/audit?entity_id={done.entity_id}&limit=100", manager))["items"]
    mine = [e for e in entries if e["action"] == done.action]
    assert mine, f"no {done.action!r} entry on {done.entity_id}: {[e['action'] for e in entries]}"
    entry = mine[0]
    assert (entry["actor_id"], entry["actor_kind"]) == (who.actor_id, who.actor_kind), entry
    assert entry["tenant_id"] == demo.tenant_id
    assert "v1:" not in str(entries)  # no encrypted value, not even ciphertext
