"""The stack's Lambda functions: one per scheduled job of the local scheduler, the API, the
provisioner, its sweep, the jobs worker and the VPN hub's peer source; each with the role its code
needs (``iam.py``) and its code from its import graph (``infra/package.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from infra.template.common import getatt, ref, sub
from infra.template.iam import access_statements


@dataclass(frozen=True)
class Function:
    lid: str
    handler: str
    description: str
    schedule: str | None = None
    vpc: bool = False  # reaches routers through the VPN (RouterOS API, CoA/Disconnect)
    timeout: int = 900
    memory: int = 1024
    env: dict[str, str] = field(default_factory=dict)
    s3_prefix: str = ""  # the documents bucket's keys it may touch (all when empty)


# Every scheduled job of the local scheduler (infra/local/scheduler.py: CLOUD_HANDLERS), the API,
# the provisioner, its sweep, the jobs worker and the VPN hub's peer source.
FUNCTIONS: tuple[Function, ...] = (
    Function(
        "ApiFunction",
        "api.app.handle_http",
        "Admin and customer-portal HTTP API (Chalice)",
        vpc=True,  # "disconnect user" sends RFC 5176 requests to routers through the VPN
        timeout=29,
        # API Gateway and Lambda trace every request (active tracing); the X-Ray SDK's subsegments
        # are left out of the API: importing the SDK costs about a fifth of a cold start
        env={"POWERTOOLS_TRACE_DISABLED": "true"},
    ),
    Function(
        "ProvisionerFunction",
        "provisioner.handler.handle_provision_batch",
        "Applies provisioning triggers to routers through the VPN (RouterOS API)",
        vpc=True,
        timeout=300,
        memory=512,
    ),
    Function(
        "JobsFunction",
        "jobs.handler.handle_job_messages",
        "Runs export and bulk-action jobs from the jobs queue, a page at a time with checkpoints",
        vpc=True,  # bulk disconnects send RFC 5176 requests to routers through the VPN
        timeout=900,
        s3_prefix="jobs/",
    ),
    Function(
        "InvoiceRunFunction",
        "billing_cron.handlers.handle_invoice_run",
        "Hourly: issue internet invoices for zones whose local issue day has started",
        "cron(0 * * * ? *)",
    ),
    Function(
        "NoticeRunFunction",
        "billing_cron.handlers.handle_notice_run",
        "Hourly: payment reminders on the notice day",
        "cron(15 * * * ? *)",
    ),
    Function(
        "CutoffRunFunction",
        "billing_cron.handlers.handle_cutoff_run",
        "Hourly: suspend clients with unpaid internet invoices after the cutoff day",
        "cron(30 * * * ? *)",
    ),
    Function(
        "PromiseExpiryRunFunction",
        "billing_cron.handlers.handle_promise_expiry",
        "Hourly: suspend clients whose payment promise ran out unpaid",
        "cron(45 * * * ? *)",
    ),
    Function(
        "InactivityRunFunction",
        "billing_cron.inactivity.handle_inactivity_run",
        "Hourly: Inactive status after the tenant's grace period without a connection",
        "cron(20 * * * ? *)",
    ),
    Function(
        "SessionReaperFunction",
        "billing_cron.reaper.handle_reap_stale_sessions",
        "Closes accounting sessions whose gateway stopped sending updates",
        "rate(5 minutes)",
        vpc=True,
    ),
    Function(
        "ModulationRunFunction",
        "billing_cron.modulation.handle_modulation_run",
        "Every quarter-hour: dynamic rate modulation windows where a gateway's local hour starts "
        "(disconnect/CoA users whose rate changes)",
        "cron(0/15 * * * ? *)",
        vpc=True,
    ),
    Function(
        "RouterSweepFunction",
        "provisioner.handler.handle_sweep",
        "Reconciles every router with the system state (drift repair)",
        "rate(6 hours)",
        vpc=True,
    ),
    Function(
        "VpnPeersFunction",
        "provisioner.vpn_hub.handle_hub_peers",
        "The VPN hub's WireGuard peers (one per onboarded gateway); the hub pulls them every 30 s",
        timeout=20,
        memory=256,
    ),
)


# Jobs running at once (exports, bulk actions): more wait on the queue, none is refused
JOBS_CONCURRENCY = 5


def function_handlers() -> dict[str, str]:
    return {f.lid: f.handler for f in FUNCTIONS}


@cache
def _packages() -> dict[str, Any]:
    from infra.package import all_packages

    return {p.name: p for p in all_packages()}


def environment() -> dict[str, Any]:
    return {
        "WISP_STAGE": ref("Stage"),
        "WISP_TABLE_PREFIX": sub("${AWS::StackName}-"),
        "WISP_KMS_KEY_ID": ref("DataKey"),
        "WISP_DATA_KEY_PARAMETER": sub("/wispcloud/${AWS::StackName}/data-key"),
        "WISP_PROVISION_QUEUE_URL": ref("ProvisionQueue"),
        "WISP_PROVISION_QUEUE_NAME": getatt("ProvisionQueue", "QueueName"),
        "WISP_PROVISION_DLQ_NAME": getatt("ProvisionDeadLetterQueue", "QueueName"),
        "WISP_JOBS_QUEUE_URL": ref("JobsQueue"),
        "WISP_PUBLIC_BASE_URL": sub("https://${WebDistribution.DomainName}"),
        "WISP_EMAIL_SENDER": ref("EmailSender"),
        "WISP_DOCUMENTS_BUCKET": ref("DocumentsBucket"),
        "WISP_VPN_ENDPOINT": sub("${VpnHubElasticIp}:51820"),
        "WISP_VPN_HUB_KEY_PARAMETER": sub("/wispcloud/${AWS::StackName}/vpn/hub-public-key"),
        "WISP_VPN_HUB_ADDRESS": ref("VpnHubAddress"),
        "WISP_VPN_CIDR": ref("VpnCidr"),
        "POWERTOOLS_SERVICE_NAME": "wispcloud",
        "POWERTOOLS_METRICS_NAMESPACE": "WispCloud",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def _vpc_config() -> dict[str, Any]:
    return {
        "SubnetIds": [ref("PrivateSubnetA"), ref("PrivateSubnetB")],
        "SecurityGroupIds": [ref("LambdaSecurityGroup")],
    }


def function_resources() -> dict[str, Any]:
    r: dict[str, Any] = {}
    for fn in FUNCTIONS:
        props: dict[str, Any] = {
            "Handler": fn.handler,
            "CodeUri": f"build/stage/{fn.lid}/",
            "Description": fn.description,
            "Timeout": fn.timeout,
            "MemorySize": fn.memory,
            "Policies": [{"Statement": access_statements(_packages()[fn.lid], fn.s3_prefix)}],
            "LoggingConfig": {"LogGroup": ref(f"{fn.lid}LogGroup")},
        }
        if fn.env:
            props["Environment"] = {"Variables": {**environment(), **fn.env}}
        if fn.vpc:
            props["VpcConfig"] = _vpc_config()
        if fn.schedule:
            props["Events"] = {"Schedule": {"Type": "Schedule", "Properties": {"Schedule": fn.schedule}}}
        r[fn.lid] = {"Type": "AWS::Serverless::Function", "Properties": props}
        r[f"{fn.lid}LogGroup"] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"RetentionInDays": ref("LogRetentionDays")},
        }
    api = r["ApiFunction"]["Properties"]
    api["Description"] = "Admin and customer-portal HTTP API (Chalice)"
    prov = r["ProvisionerFunction"]["Properties"]
    prov["ReservedConcurrentExecutions"] = 5
    prov["Policies"].append({"SQSPollerPolicy": {"QueueName": getatt("ProvisionQueue", "QueueName")}})
    prov["Events"] = {
        "Queue": {
            "Type": "SQS",
            "Properties": {
                "Queue": getatt("ProvisionQueue", "Arn"),
                "BatchSize": 10,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
            },
        }
    }
    jobs = r["JobsFunction"]["Properties"]
    jobs["Policies"].append({"SQSPollerPolicy": {"QueueName": getatt("JobsQueue", "QueueName")}})
    jobs["Events"] = {
        "Queue": {
            "Type": "SQS",
            "Properties": {
                "Queue": getatt("JobsQueue", "Arn"),
                "BatchSize": 1,  # a message is a job's run: up to its time budget
                "ScalingConfig": {"MaximumConcurrency": JOBS_CONCURRENCY},
            },
        }
    }
    return r
