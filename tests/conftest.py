"""Shared fixtures: an in-process moto account with every table created from the models."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "WispCloud")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

from moto import mock_aws

from composition import init_runtime
from infra.local.demo import DemoData, seed_demo
from shared.crypto import StaticKeyProvider
from shared.runtime import Runtime
from shared.settings import Settings
from store import db


def make_settings(**overrides: object) -> Settings:
    base = Settings(
        stage="test",
        region="us-east-1",
        table_prefix=f"wisp-test-{secrets.token_hex(3)}-",
        provision_queue_name="wisp-test-provision.fifo",
        provision_dlq_name="wisp-test-provision-dlq.fifo",
        documents_bucket="wisp-test-documents",
    )
    return base.with_overrides(**overrides) if overrides else base


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def runtime(aws: None) -> Runtime:
    """A runtime bound to fresh moto tables and a random data key."""
    rt = init_runtime(make_settings(), StaticKeyProvider(secrets.token_bytes(32)))
    db.create_tables()
    rt.aws.client("s3").create_bucket(Bucket=rt.settings.documents_bucket)
    rt.aws.client("ses").verify_email_identity(EmailAddress=rt.settings.email_sender)
    return rt


@pytest.fixture
def demo(runtime: Runtime) -> DemoData:
    return seed_demo(runtime.box)
