"""What the local stack does once moto is up: tables, bucket, queues, the demo data on first start,
the provisioning triggers lost with the in-memory queues, and a reconcile of the simulated router."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError


@dataclass(frozen=True)
class Bootstrap:
    first_start: bool
    requeued: int
    demo: Any  # infra.local.demo.DemoData
    queue_url: str
    dlq_url: str
    admin_token: str
    manager_token: str


def bootstrap(env: Mapping[str, str], router_port: int | None) -> Bootstrap:
    from composition import init_runtime
    from infra.local.demo import DEMO_GATEWAY, DEMO_TENANT, demo_data, seed_demo
    from services.network import triggers
    from shared.settings import Settings
    from shared.tokens import issue_operator_token
    from store import provisioning as repo
    from store.models import ALL_MODELS, Gateway, ProvisioningTask

    settings = Settings.from_env(env)
    rt = init_runtime(settings)
    existing: set[str] = set()
    for page in rt.aws.client("dynamodb").get_paginator("list_tables").paginate():
        existing.update(page["TableNames"])
    for model in ALL_MODELS:  # one ListTables instead of a DescribeTable per model
        if model.Meta.table_name not in existing:
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=False)
    rt.aws.client("ses").verify_email_identity(EmailAddress=settings.email_sender)
    try:
        rt.aws.client("s3").create_bucket(Bucket=settings.documents_bucket)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    queue_url, dlq_url = triggers.ensure_queues(rt)

    admin_password = env.get("WISP_DEMO_ADMIN_PASSWORD", "admin-demo-123")
    first = repo.find_tenant(DEMO_TENANT) is None
    if first:
        demo = seed_demo(rt.box, admin_password=admin_password, router_api_port=router_port)
    else:
        demo = demo_data(admin_password)

    # The queues live in memory: send again the triggers of the tasks still waiting for a run.
    requeued = 0
    for task in ProvisioningTask.scan(ProvisioningTask.status == "queued"):
        triggers.send_trigger(rt, task, int((task.result or {}).get("run", 1)))
        requeued += 1

    gateway = repo.find_gateway(DEMO_GATEWAY)
    if router_port is not None and gateway is not None and gateway.api_enabled:
        if gateway.api_host == "127.0.0.1" and int(gateway.api_port or 0) != router_port:
            gateway.update(actions=[Gateway.api_port.set(router_port)])
        # the simulated router starts reset: install the block rules and every service again
        triggers.request_block_rules(rt, gateway, "local stack start")
        triggers.request_router_sync(rt, gateway, "local stack start")

    ttl = settings.token_ttl_seconds
    return Bootstrap(
        first_start=first,
        requeued=requeued,
        demo=demo,
        queue_url=queue_url,
        dlq_url=dlq_url,
        admin_token=issue_operator_token(rt.signer, demo.admin_id, demo.system_id, "system_admin", ttl),
        manager_token=issue_operator_token(rt.signer, demo.operator_id, demo.tenant_id, "manager", ttl),
    )
