"""Configuration, read once from the environment into an immutable object.

Nothing else in the code base reads ``os.environ``: entry points call :func:`get_settings`
and pass the result (or the parts they need) down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache

VERSION = "0.1.0"


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc


class SettingsError(ValueError):
    """A setting has a value the system cannot use."""


@dataclass(frozen=True)
class Settings:
    stage: str = "local"
    region: str = "us-east-1"
    # DynamoDB table names are ``table_prefix + <base name>`` (see store.models)
    table_prefix: str = "wisp-local-"
    # Endpoint of an AWS-compatible service (moto server locally); None in the cloud
    aws_endpoint_url: str | None = None
    # Provisioning trigger queue (name locally, URL in the cloud)
    provision_queue_url: str | None = None
    provision_queue_name: str = "wisp-local-provision.fifo"
    provision_dlq_name: str = "wisp-local-provision-dlq.fifo"
    # Jobs (exports, bulk actions): queue (name locally, URL in the cloud); seconds one run works before it
    # hands over to the next; rows per page of an export and subscribers per page of a bulk action
    # (progress and checkpoint every page); bytes per part of a job file (S3: at least 5 MiB)
    jobs_queue_url: str | None = None
    jobs_queue_name: str = "wisp-local-jobs"
    jobs_dlq_name: str = "wisp-local-jobs-dlq"
    job_time_budget_s: int = 600
    job_page_size: int = 1000
    job_bulk_page_size: int = 100
    job_part_bytes: int = 8 * 1024 * 1024
    # Provisioner: retry backoff base (s, doubled per attempt), RouterOS API timeout (s), the WireGuard hub
    provision_backoff_base_s: int = 10
    router_api_timeout_s: int = 10
    vpn_endpoint: str = "vpn.wispcloud.local:51820"
    vpn_hub_public_key: str | None = None
    # SSM parameter where the hub publishes its public key (read when vpn_hub_public_key is not set)
    vpn_hub_key_parameter: str | None = None
    vpn_hub_address: str = "10.255.0.1"
    vpn_cidr: str = "10.255.0.0/16"
    # Encryption at rest: a local key file, or a KMS key wrapping a data key kept in SSM
    data_key_file: str | None = None
    kms_key_id: str | None = None
    data_key_parameter: str | None = None
    # Documents (contract PDFs and attachments, invoice PDFs, card sheets)
    documents_bucket: str = "wisp-local-documents"
    # Tokens
    token_ttl_seconds: int = 12 * 3600
    # RADIUS service
    radius_bind: str = "127.0.0.1"
    radius_auth_port: int = 1812
    radius_acct_port: int = 1813
    radius_coa_port: int = 3799
    radius_cache_ttl: int = 30
    radius_health_port: int = 0  # HTTP GET /health for the load balancer; 0 = off
    radius_workers: int = 0  # worker processes sharing the ports; 0 = one per CPU of the task
    radius_counter_flush_s: int = 60  # online totals counters written at most this often; 0 = per packet
    # HTTP API (local server)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    public_base_url: str = "http://127.0.0.1:8000"
    # Notifications
    email_sender: str = "noreply@wispcloud.local"
    sms_sender_id: str = "WispCloud"
    # Billing offsets for recharge-type users (SPEC S5): issue = pay - 6, notice = pay - 4, cutoff = pay + 6
    recharge_issue_offset_days: int = 6
    recharge_notice_offset_days: int = 4
    recharge_cutoff_offset_days: int = 6
    log_level: str = "INFO"
    # Online-payment providers: API base URLs (None = the provider's own; a local double in tests) and
    # the timeout of one call to a provider (s)
    stripe_api_base: str | None = None
    mercadopago_api_base: str | None = None
    payment_provider_timeout_s: int = 20
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e: Mapping[str, str] = os.environ if env is None else env
        stage = e.get("WISP_STAGE", "local")
        prefix = e.get("WISP_TABLE_PREFIX", f"wisp-{stage}-")
        return cls(
            stage=stage,
            region=e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION") or "us-east-1",
            table_prefix=prefix,
            aws_endpoint_url=e.get("WISP_AWS_ENDPOINT_URL") or None,
            provision_queue_url=e.get("WISP_PROVISION_QUEUE_URL") or None,
            provision_queue_name=e.get("WISP_PROVISION_QUEUE_NAME", f"{prefix}provision.fifo"),
            provision_dlq_name=e.get("WISP_PROVISION_DLQ_NAME", f"{prefix}provision-dlq.fifo"),
            jobs_queue_url=e.get("WISP_JOBS_QUEUE_URL") or None,
            jobs_queue_name=e.get("WISP_JOBS_QUEUE_NAME", f"{prefix}jobs"),
            jobs_dlq_name=e.get("WISP_JOBS_DLQ_NAME", f"{prefix}jobs-dlq"),
            job_time_budget_s=_int(e, "WISP_JOB_TIME_BUDGET_S", 600),
            job_page_size=_int(e, "WISP_JOB_PAGE_SIZE", 1000),
            job_bulk_page_size=_int(e, "WISP_JOB_BULK_PAGE_SIZE", 100),
            job_part_bytes=_int(e, "WISP_JOB_PART_BYTES", 8 * 1024 * 1024),
            provision_backoff_base_s=_int(e, "WISP_PROVISION_BACKOFF_BASE_S", 10),
            router_api_timeout_s=_int(e, "WISP_ROUTER_API_TIMEOUT_S", 10),
            vpn_endpoint=e.get("WISP_VPN_ENDPOINT", "vpn.wispcloud.local:51820"),
            vpn_hub_public_key=e.get("WISP_VPN_HUB_PUBLIC_KEY") or None,
            vpn_hub_key_parameter=e.get("WISP_VPN_HUB_KEY_PARAMETER") or None,
            vpn_hub_address=e.get("WISP_VPN_HUB_ADDRESS", "10.255.0.1"),
            vpn_cidr=e.get("WISP_VPN_CIDR", "10.255.0.0/16"),
            data_key_file=e.get("WISP_DATA_KEY_FILE") or None,
            kms_key_id=e.get("WISP_KMS_KEY_ID") or None,
            data_key_parameter=e.get("WISP_DATA_KEY_PARAMETER") or None,
            documents_bucket=e.get("WISP_DOCUMENTS_BUCKET", f"{prefix}documents"),
            token_ttl_seconds=_int(e, "WISP_TOKEN_TTL_SECONDS", 12 * 3600),
            radius_bind=e.get("WISP_RADIUS_BIND", "127.0.0.1"),
            radius_auth_port=_int(e, "WISP_RADIUS_AUTH_PORT", 1812),
            radius_acct_port=_int(e, "WISP_RADIUS_ACCT_PORT", 1813),
            radius_coa_port=_int(e, "WISP_RADIUS_COA_PORT", 3799),
            radius_cache_ttl=_int(e, "WISP_RADIUS_CACHE_TTL", 30),
            radius_health_port=_int(e, "WISP_RADIUS_HEALTH_PORT", 0),
            radius_workers=_int(e, "WISP_RADIUS_WORKERS", 0),
            radius_counter_flush_s=_int(e, "WISP_RADIUS_COUNTER_FLUSH_S", 60),
            api_host=e.get("WISP_API_HOST", "127.0.0.1"),
            api_port=_int(e, "WISP_API_PORT", 8000),
            public_base_url=e.get("WISP_PUBLIC_BASE_URL", "http://127.0.0.1:8000"),
            email_sender=e.get("WISP_EMAIL_SENDER", "noreply@wispcloud.local"),
            sms_sender_id=e.get("WISP_SMS_SENDER_ID", "WispCloud"),
            recharge_issue_offset_days=_int(e, "WISP_RECHARGE_ISSUE_OFFSET_DAYS", 6),
            recharge_notice_offset_days=_int(e, "WISP_RECHARGE_NOTICE_OFFSET_DAYS", 4),
            recharge_cutoff_offset_days=_int(e, "WISP_RECHARGE_CUTOFF_OFFSET_DAYS", 6),
            log_level=e.get("WISP_LOG_LEVEL", "INFO"),
            stripe_api_base=e.get("WISP_STRIPE_API_BASE") or None,
            mercadopago_api_base=e.get("WISP_MERCADOPAGO_API_BASE") or None,
            payment_provider_timeout_s=_int(e, "WISP_PAYMENT_PROVIDER_TIMEOUT_S", 20),
        )

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


_current: Settings | None = None


@lru_cache(maxsize=1)
def _from_env() -> Settings:
    return Settings.from_env()


def get_settings() -> Settings:
    """The process-wide settings: set explicitly (tests, local stack) or read once from the environment."""
    return _current if _current is not None else _from_env()


def set_settings(settings: Settings) -> None:
    global _current
    _current = settings
