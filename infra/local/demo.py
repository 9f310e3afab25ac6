"""Demo data for the local stack, the tests and the benches."""

from __future__ import annotations

from dataclasses import dataclass

from core.ids import now_iso
from core.money import DEFAULT_CURRENCY
from shared.crypto import SecretBox, hash_password
from store.models import Gateway, Operator, Policy, Product, Subscriber, Tenant, Zone

DEMO_TENANT = "ten_demo"
DEMO_RESELLER = "ten_demo_reseller"
DEMO_SYSTEM = "ten_system"
DEMO_GATEWAY = "gw_demo"
DEMO_ROUTER_USERNAME = "wispcloud"
DEMO_ROUTER_PASSWORD = "router-demo-pass"


@dataclass(frozen=True)
class DemoData:
    system_id: str
    reseller_id: str
    tenant_id: str
    zone_id: str
    gateway_id: str
    policy_id: str
    product_id: str
    subscriber_id: str
    operator_id: str
    operator_email: str
    operator_password: str
    admin_id: str
    admin_email: str
    radius_secret: str
    username: str
    password: str


def seed_demo(
    box: SecretBox,
    nas_ip: str = "127.0.0.1",
    admin_password: str = "admin-demo-123",  # noqa: S107
    router_api_port: int | None = None,
) -> DemoData:
    """Create (or overwrite) the demo tenant tree, zone, gateway, policy, product and subscriber.

    With ``router_api_port`` the demo gateway's router API is enabled at ``nas_ip:router_api_port``
    (the local stack's simulated router), reached directly: its VPN address is ``nas_ip`` too, so
    rendering the onboarding script keeps it where it is."""
    now = now_iso()
    _seed_tenants(now)
    _seed_zone_and_gateway(box, now, nas_ip, router_api_port)
    _seed_catalogue(now)
    _seed_subscriber(box, now)
    _seed_operators(now, admin_password)
    return demo_data(admin_password)


def _seed_tenants(now: str) -> None:
    """The tenant tree: the system, a reseller and the demo ISP under it."""
    Tenant(
        id=DEMO_SYSTEM, name="WispCloud", kind="system", parent_id="-", ancestors=[], created_at=now
    ).save()
    Tenant(
        id=DEMO_RESELLER,
        name="Demo Reseller",
        kind="reseller",
        parent_id=DEMO_SYSTEM,
        ancestors=[DEMO_SYSTEM],
        created_at=now,
    ).save()
    Tenant(
        id=DEMO_TENANT,
        name="Demo WISP",
        kind="manager",
        parent_id=DEMO_RESELLER,
        ancestors=[DEMO_SYSTEM, DEMO_RESELLER],
        company_name="Demo WISP",
        currency=DEFAULT_CURRENCY,
        tax_rate="0",
        timezone="America/Mexico_City",
        created_at=now,
    ).save()


def _seed_zone_and_gateway(box: SecretBox, now: str, nas_ip: str, router_api_port: int | None) -> None:
    Zone(
        id="zone_demo", tenant_id=DEMO_TENANT, name="Centro", timezone="America/Mexico_City", created_at=now
    ).save()
    Gateway(
        id=DEMO_GATEWAY,
        tenant_id=DEMO_TENANT,
        zone_id="zone_demo",
        name="Demo router",
        nas_ip=nas_ip,
        nas_identifier="demo-router",
        radius_secret_enc=box.encrypt("testing123"),
        require_message_authenticator=True,
        api_enabled=router_api_port is not None,
        api_host=nas_ip,
        api_port=router_api_port or 8728,
        api_username=DEMO_ROUTER_USERNAME,
        api_password_enc=box.encrypt(DEMO_ROUTER_PASSWORD),
        vpn_address=nas_ip if router_api_port is not None else None,
        timezone="America/Mexico_City",
        plan_type="pppoe",
        created_at=now,
    ).save()


def _seed_catalogue(now: str) -> None:
    Policy(
        id="pol_demo",
        tenant_id=DEMO_TENANT,
        code="HOME-10",
        description="Home 10/2 Mbit/s",
        download_rate=10_000_000,
        upload_rate=2_000_000,
        interim_update_s=300,
        created_at=now,
    ).save()
    Product(
        id="prod_demo",
        tenant_id=DEMO_TENANT,
        name="Home 10M",
        policy_id="pol_demo",
        price="25.00",
        connection_type="pppoe",
        created_at=now,
    ).save()


def _seed_subscriber(box: SecretBox, now: str) -> None:
    Subscriber(
        login=f"{DEMO_TENANT}#demo",
        id="sub_demo",
        tenant_id=DEMO_TENANT,
        username="demo",
        password_enc=box.encrypt("demo123"),
        portal_password_hash=hash_password("demo123"),
        status="active",
        connection_type="pppoe",
        name="Demo Subscriber",
        email="demo@example.com",
        phone="+15555550100",
        zone_id="zone_demo",
        gateway_id="gw_demo",
        product_id="prod_demo",
        product_assigned_at=now,
        ip="10.10.0.10",
        created_at=now,
    ).save()


def _seed_operators(now: str, admin_password: str) -> None:
    Operator(
        id="op_demo_admin",
        tenant_id=DEMO_SYSTEM,
        email="admin@wispcloud.local",
        name="System admin",
        role="system_admin",
        password_hash=hash_password(admin_password),
        created_at=now,
    ).save()
    Operator(
        id="op_demo_manager",
        tenant_id=DEMO_TENANT,
        email="manager@demo.local",
        name="Demo manager",
        role="manager",
        password_hash=hash_password(admin_password),
        created_at=now,
    ).save()


def demo_data(admin_password: str = "admin-demo-123") -> DemoData:  # noqa: S107
    """The demo's identifiers and credentials (what :func:`seed_demo` writes)."""
    return DemoData(
        system_id=DEMO_SYSTEM,
        reseller_id=DEMO_RESELLER,
        tenant_id=DEMO_TENANT,
        zone_id="zone_demo",
        gateway_id=DEMO_GATEWAY,
        policy_id="pol_demo",
        product_id="prod_demo",
        subscriber_id="sub_demo",
        operator_id="op_demo_manager",
        operator_email="manager@demo.local",
        operator_password=admin_password,
        admin_id="op_demo_admin",
        admin_email="admin@wispcloud.local",
        radius_secret="testing123",
        username="demo",
        password="demo123",
    )
