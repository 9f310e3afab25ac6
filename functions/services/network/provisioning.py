"""Provisioning operations for the admin API: tasks, drift, export to router, block rules, live router
reads (PPP / hotspot active connections, ARP table), router onboarding, final-failure notices.

Changes to a router always go through the trigger queue (retried, ordered per router, visible as
tasks); only reads (drift, active connections, ARP) talk to the router synchronously, and never to a
router whose API is disabled.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from adapters.routeros import RouterError
from core.errors import InvalidStateError, NotFoundError, UnavailableError, ValidationError
from core.ids import now_iso
from core.paging import decode_key, encode_key
from services.audit import record_audit
from services.identity.actors import Actor
from services.network import desired as d
from services.network.onboarding import (
    OnboardingInput,
    WireguardKeys,
    api_service_port,
    render_script,
    vpn_address_for,
)
from services.network.reconcile import RouterSession, services_for_router
from services.network.triggers import (
    SyncRequest,
    api_disabled_warning,
    request_block_rules,
    request_export,
    request_rerun,
)
from shared.crypto import random_password
from shared.observability import get_logger
from shared.runtime import Runtime
from store import catalog as catalog_store
from store import provisioning as repo
from store.models import Gateway, ProvisioningTask

log = get_logger("provisioner")

RERUNNABLE = ("failed", "dead")


def notice_url(public_base_url: str, tenant_id: str) -> str:
    """The suspended-customer notice page the router's proxy redirects blocked clients to: the amount
    due and a pay button, signed in to the tenant's portal."""
    return f"{public_base_url.rstrip('/')}/my/notice?t={quote(tenant_id, safe='')}"


def sync_view(req: SyncRequest) -> dict[str, Any]:
    return {
        "status": req.status,
        "task_id": req.task_id,
        "gateway_id": req.gateway_id,
        "warning": req.warning,
    }


def task_view(task: ProvisioningTask) -> dict[str, Any]:
    result = dict(task.result or {})
    return {
        "id": task.id,
        "tenant_id": task.tenant_id,
        "gateway_id": task.gateway_id,
        "kind": task.kind,
        "subscriber_id": task.subscriber_id,
        "status": task.status,
        "attempts": int(task.attempts or 0),
        "last_error": task.last_error,
        "error_category": task.error_category,
        "reason": result.get("reason"),
        "actor": result.get("actor"),
        "run": int(result.get("run", 1)),
        "summary": result.get("summary"),
        "created_at": task.created_at,
        "updated_at": task.updated_at,
    }


# ---------------------------------------------------------------- lookups (the API checks tenant scope)
def get_gateway(actor: Actor, gateway_id: str) -> Gateway:
    """A router of the caller's tenant subtree (404 otherwise)."""
    gw = repo.get_gateway(gateway_id)
    actor.require_visible(gw.tenant_id, "gateway")
    return gw


def get_task(task_id: str) -> ProvisioningTask:
    return repo.get_task(task_id)


# ---------------------------------------------------------------- tasks
def list_tasks(
    rt: Runtime,
    *,
    tenant_id: str | None = None,
    gateway_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    next_token: str | None = None,
) -> dict[str, Any]:
    """Tasks newest first, of one router or one tenant, optionally of one status (paginated with signed
    tokens bound to that router's or tenant's list)."""
    scope = f"tasks:g:{gateway_id}" if gateway_id else f"tasks:t:{tenant_id}"
    start = decode_key(rt.signer, next_token, scope, field="next_token")
    page = repo.list_tasks(
        tenant_id=tenant_id, gateway_id=gateway_id, status=status, limit=limit, start=start
    )
    return {
        "items": [task_view(t) for t in page.items],
        "next_token": encode_key(rt.signer, page.last_key, scope),
    }


def rerun_task(
    rt: Runtime, task: ProvisioningTask, actor: str, actor_kind: str = "operator"
) -> dict[str, Any]:
    """Send a task to its router again (same task, next run)."""
    req = request_rerun(rt, task, actor)
    record_audit(
        actor, actor_kind, task.tenant_id, "provisioning_task", task.id, "rerun", None, sync_view(req)
    )
    return sync_view(req)


def rerun_failed(rt: Runtime, gateway: Gateway, actor: str, actor_kind: str = "operator") -> dict[str, Any]:
    """Re-run every failed or dead task of a router (SPEC S5: bulk re-run of connection errors)."""
    _require_api(gateway)
    rerun: list[str] = []
    for status in RERUNNABLE:
        for task in repo.iter_gateway_tasks(gateway.id, status):
            req = request_rerun(rt, task, actor)
            if req.status == "queued":
                rerun.append(task.id)
    record_audit(
        actor,
        actor_kind,
        gateway.tenant_id,
        "gateway",
        gateway.id,
        "rerun_failed_tasks",
        None,
        {"tasks": len(rerun)},
    )
    return {"gateway_id": gateway.id, "requeued": len(rerun), "task_ids": rerun}


# ---------------------------------------------------------------- router changes (queued)
def export_to_router(
    rt: Runtime,
    gateway: Gateway,
    actor: str,
    subscriber_ids: list[str] | None = None,
    *,
    adopt: bool = False,
    prune: bool = False,
    actor_kind: str = "operator",
) -> dict[str, Any]:
    """ "Export clients to router" (SPEC S4): the whole router or the chosen services, applied through
    the queue. Chosen services must be assigned to this router."""
    _require_api(gateway)
    if subscriber_ids is not None:
        if not subscriber_ids:
            raise ValidationError("choose at least one subscriber", field="subscriber_ids")
        wrong = []
        for sid in dict.fromkeys(subscriber_ids):
            sub = repo.find_subscriber(sid)
            if sub is None or sub.tenant_id != gateway.tenant_id or sub.gateway_id != gateway.id:
                wrong.append(sid)
        if wrong:
            raise ValidationError(
                f"not assigned to this router: {', '.join(wrong[:20])}",
                field="subscriber_ids",
                details={"subscriber_ids": wrong},
            )
        subscriber_ids = list(dict.fromkeys(subscriber_ids))
    reqs = request_export(rt, gateway, subscriber_ids, actor, adopt=adopt, prune=prune)
    record_audit(
        actor,
        actor_kind,
        gateway.tenant_id,
        "gateway",
        gateway.id,
        "export_to_router",
        None,
        {"subscribers": len(subscriber_ids) if subscriber_ids else "all", "adopt": adopt, "prune": prune},
    )
    return {
        "gateway_id": gateway.id,
        "queued": sum(1 for r in reqs if r.status == "queued"),
        "tasks": [sync_view(r) for r in reqs],
    }


def install_block_rules(
    rt: Runtime, gateway: Gateway, actor: str, actor_kind: str = "operator"
) -> dict[str, Any]:
    """Queue the installation of the blocked-list firewall filter + NAT rules on a router."""
    _require_api(gateway)
    req = request_block_rules(rt, gateway, actor)
    record_audit(
        actor,
        actor_kind,
        gateway.tenant_id,
        "gateway",
        gateway.id,
        "install_block_rules",
        None,
        sync_view(req),
    )
    return sync_view(req)


# ---------------------------------------------------------------- router reads (synchronous)
def _require_api(gateway: Gateway) -> None:
    if not gateway.api_enabled:
        raise InvalidStateError(api_disabled_warning(gateway), field="gateway_id")
    if (gateway.vendor or "mikrotik") != "mikrotik":
        raise InvalidStateError(f"{gateway.name} is not a MikroTik router", field="gateway_id")


@contextmanager
def _session(rt: Runtime, gateway: Gateway) -> Iterator[RouterSession]:
    _require_api(gateway)
    session = RouterSession(gateway, rt.box, rt.settings.router_api_timeout_s)
    try:
        yield session
    except RouterError as exc:
        raise UnavailableError(exc.message, field="gateway_id", details={"category": exc.category}) from exc
    finally:
        session.close()


def drift(rt: Runtime, gateway: Gateway) -> dict[str, Any]:
    """Dry run: what a router reconcile would change (secrets masked), the conflicts with objects made
    by hand, the provisioner's objects of services not assigned here (orphans), block-rule status."""
    services = services_for_router(gateway, rt.box)
    with _session(rt, gateway) as session:
        outcome = session.reconcile_router(services, dry_run=True)
    report = outcome.plan.public()
    usernames = {s.subscriber_id: s.username for s in services}
    for change in report["changes"]:
        if change.get("subscriber_id") in usernames:
            change["username"] = usernames[change["subscriber_id"]]
    return {
        "gateway_id": gateway.id,
        "gateway_name": gateway.name,
        "checked_at": now_iso(),
        "services": sum(1 for s in services if s.action == "apply"),
        **report,
    }


def active_connections(rt: Runtime, gateway: Gateway) -> dict[str, Any]:
    """PPP and hotspot active connections read from the router now (SPEC S4)."""
    with _session(rt, gateway) as session:
        replies = session.client.pipeline(
            [
                _print(d.PPP_ACTIVE),
                _print(d.HOTSPOT_ACTIVE),
            ]
        )
    ppp = [_strip(r) for r in replies[0].raise_for_trap().rows]
    hotspot = [_strip(r) for r in replies[1].raise_for_trap().rows]
    return {"gateway_id": gateway.id, "ppp": ppp, "hotspot": hotspot, "read_at": now_iso()}


def arp_table(rt: Runtime, gateway: Gateway) -> dict[str, Any]:
    """The router's ARP table, each entry matched to the service holding that IP (IP/MAC binding:
    compare, then bind the MAC to the service, which makes the entry static through the provisioner)."""
    with _session(rt, gateway) as session:
        rows = session.client.print(d.ARP)
    by_ip = {s.ip: s for s in repo.gateway_subscribers(gateway) if s.ip}
    out = []
    for row in rows:
        entry: dict[str, Any] = _strip(row)
        sub = by_ip.get(row.get("address", ""))
        if sub is not None:
            entry["subscriber_id"] = sub.id
            entry["username"] = sub.username
            entry["subscriber_mac"] = sub.mac
            entry["mac_matches"] = bool(sub.mac) and d.normalise("mac-address", sub.mac) == d.normalise(
                "mac-address", row.get("mac-address")
            )
        out.append(entry)
    return {"gateway_id": gateway.id, "entries": out, "read_at": now_iso()}


def arp_entry(rt: Runtime, gateway: Gateway, ip: str) -> dict[str, str] | None:
    """The router's ARP entry for one IP (address, mac-address, interface…), or None."""
    with _session(rt, gateway) as session:
        rows = session.client.print(d.ARP)
    for row in rows:
        if row.get("address") == ip:
            return _strip(row)
    return None


def _print(menu: str) -> Any:
    from adapters.routeros import Command

    return Command.of(f"{menu}/print")


def _strip(row: dict[str, str]) -> dict[str, str]:
    return {("id" if k == ".id" else k): v for k, v in row.items()}


# ---------------------------------------------------------------- onboarding
def hub_public_key(rt: Runtime) -> str:
    """The VPN hub's WireGuard public key: set in the configuration, or as the hub publishes it in
    its SSM parameter when it starts (the cloud stack)."""
    s = rt.settings
    if s.vpn_hub_public_key:
        return s.vpn_hub_public_key
    if s.vpn_hub_key_parameter:
        ssm = rt.aws.client("ssm")
        try:
            value = str(ssm.get_parameter(Name=s.vpn_hub_key_parameter)["Parameter"]["Value"]).strip()
        except ssm.exceptions.ParameterNotFound:
            value = ""
        if value:
            return value
        raise InvalidStateError(
            "the VPN hub has not published its public key yet (it does when it starts)", field="gateway_id"
        )
    raise InvalidStateError("the VPN hub is not configured (WISP_VPN_HUB_PUBLIC_KEY)", field="gateway_id")


def onboarding_script(
    rt: Runtime,
    gateway: Gateway,
    actor: str,
    *,
    rotate_api_password: bool = False,
    actor_kind: str = "operator",
) -> dict[str, Any]:
    """The RouterOS script joining a router to the cloud (WireGuard, RADIUS, AAA, API user, block
    rules). Assigns the router's VPN address once, a new tunnel key pair each time (the private key
    is only in the script) and the API credentials the provisioner will use."""
    s = rt.settings
    hub_key = hub_public_key(rt)
    if (gateway.vendor or "mikrotik") != "mikrotik":
        raise InvalidStateError(f"{gateway.name} is not a MikroTik router", field="gateway_id")
    vpn_address = gateway.vpn_address
    if not vpn_address:
        try:
            vpn_address = vpn_address_for(s.vpn_cidr, s.vpn_hub_address, repo.next_counter("vpn-address"))
        except ValueError as exc:
            raise InvalidStateError(str(exc)) from exc
    keys = WireguardKeys.generate()
    username = gateway.api_username or "wispcloud"
    password_known = bool(gateway.api_password_enc) and not rotate_api_password
    password = rt.box.decrypt(str(gateway.api_password_enc)) if password_known else random_password(24)
    warnings: list[str] = []
    port = api_service_port(bool(gateway.api_tls), int(gateway.api_port or 0))
    if gateway.api_tls and int(gateway.api_port or 0) not in (0, port):
        warnings.append(f"api-ssl is never served on the plain API port: it uses port {port}.")
    nas_ip = _onboarded_nas_ip(gateway, vpn_address, warnings)
    script = render_script(
        OnboardingInput(
            gateway_id=gateway.id,
            gateway_name=gateway.name,
            router_vpn_address=vpn_address,
            vpn_cidr=s.vpn_cidr,
            hub_address=s.vpn_hub_address,
            hub_endpoint=s.vpn_endpoint,
            hub_public_key=hub_key,
            router_keys=keys,
            radius_secret=rt.box.decrypt(gateway.radius_secret_enc),
            api_username=username,
            api_password=password,
            api_tls=bool(gateway.api_tls),
            api_port=port,
            blocked_address_list=gateway.blocked_address_list,
            notice_url=notice_url(s.public_base_url, gateway.tenant_id),
            plan_type=gateway.plan_type,
            api_password_known=password_known,
        )
    )
    repo.save_onboarding(
        gateway,
        vpn_address=vpn_address,
        vpn_public_key=keys.public_key,
        api_username=username,
        api_password_enc=rt.box.encrypt(password),
        api_port=port,
        nas_ip=nas_ip,
    )
    record_audit(
        actor,
        actor_kind,
        gateway.tenant_id,
        "gateway",
        gateway.id,
        "onboarding_script",
        None,
        {"vpn_address": vpn_address, "vpn_public_key": keys.public_key, "api_username": username},
    )
    return {
        "gateway_id": gateway.id,
        "vpn_address": vpn_address,
        "vpn_public_key": keys.public_key,
        "api_username": username,
        "api_port": port,
        "nas_ip": nas_ip,
        "warnings": warnings,
        "script": script,
    }


def _onboarded_nas_ip(gateway: Gateway, vpn_address: str, warnings: list[str]) -> str:
    """The gateway's NAS address once the router sends RADIUS through the tunnel (from its VPN address):
    that address, unless another gateway holds it (then unchanged, with a warning)."""
    if gateway.nas_ip == vpn_address:
        return vpn_address
    holders = [g for g in catalog_store.gateways_by_nas_ip(vpn_address) if g.id != gateway.id]
    if holders:
        warnings.append(
            f"The router will send RADIUS from its tunnel address {vpn_address}, which gateway "
            f"{holders[0].name} uses as its NAS address: its requests will not be accepted until one of "
            f"the two NAS addresses is changed (this gateway keeps {gateway.nas_ip})."
        )
        return str(gateway.nas_ip)
    warnings.append(
        f"NAS address changed from {gateway.nas_ip} to the tunnel address {vpn_address}: the router sends "
        "RADIUS through the VPN once the script is applied."
    )
    return vpn_address


# ---------------------------------------------------------------- notifications
def notify_final_failure(rt: Runtime, gateway: Gateway | None, tasks: list[ProvisioningTask]) -> None:
    """E-mail the tenant's contact when router changes exhausted their retries (SPEC S5)."""
    if not tasks:
        return
    tenant = repo.find_tenant(tasks[0].tenant_id)
    if tenant is None or not tenant.contact_email:
        log.warning("no contact e-mail for a provisioning failure", extra={"tenant_id": tasks[0].tenant_id})
        return
    name = gateway.name if gateway else tasks[0].gateway_id
    lines = [
        f"{len(tasks)} change(s) could not be applied to the router {name} after several attempts.",
        "",
    ]
    for t in tasks[:20]:
        what = f"subscriber {t.subscriber_id}" if t.subscriber_id else t.kind.replace("_", " ")
        lines.append(f"- {what}: {t.error_category or 'error'}: {t.last_error or '-'} (task {t.id})")
    if len(tasks) > 20:
        lines.append(f"- ... and {len(tasks) - 20} more")
    lines += [
        "",
        "The system keeps the intended state: once the router is reachable again, re-run the failed tasks",
        "of this router (Tasks, 're-run failed') or wait for the periodic router sweep.",
    ]
    rt.notifier.send_email(
        tenant.contact_email, f"Router {name}: changes could not be applied", "\n".join(lines)
    )


def find_task_or_404(actor: Actor, task_id: str) -> ProvisioningTask:
    """A provisioning task of the caller's tenant subtree (404 otherwise)."""
    task = repo.find_task(task_id)
    if task is None:
        raise NotFoundError("task not found")
    actor.require_visible(task.tenant_id, "task")
    return task
