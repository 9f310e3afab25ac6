"""The suite's one moto world: an in-process AWS account with a runtime bound to fresh tables.

``runtime`` is a fresh account per test; ``world`` is one account per test module (creating every table
and the per-model DynamoDB clients costs seconds) — a module changes its settings by overriding
``world_settings``, and a folder whose tests share the module's world empties it between tests with
:func:`emptied`. Folders add their own fixtures in their ``conftest.py``.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "WispCloud")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends
from pynamodb.models import Model

import composition as runtime_module
from composition import init_runtime
from infra.local.demo import DemoData, seed_demo
from infra.local.moto_speed import speed_up_dynamodb_answers
from infra.local.moto_updates import speed_up_update_items
from shared.crypto import StaticKeyProvider
from shared.runtime import Runtime
from shared.settings import Settings, set_settings
from store import db
from store.models import ALL_MODELS, Tenant

# moto's DynamoDB answers as json.dumps and its UpdateItem without the repeated work, as in the local
# stack's server (same answers, errors and items: tests/integration/test_local_moto_speed.py and
# test_local_moto_updates.py): a large part of the suite's time otherwise.
speed_up_dynamodb_answers()
speed_up_update_items()


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


def new_runtime(settings: Settings | None = None, tables: Iterable[type[Model]] | None = None) -> Runtime:
    """A runtime with a random data key, its tables (every table unless ``tables`` names some), the
    documents bucket and the verified e-mail sender. Call inside moto."""
    rt = init_runtime(settings or make_settings(), StaticKeyProvider(secrets.token_bytes(32)))
    if tables is None:
        db.create_tables()
    else:
        for model in tables:
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=False)
    rt.aws.client("s3").create_bucket(Bucket=rt.settings.documents_bucket)
    rt.aws.client("ses").verify_email_identity(EmailAddress=rt.settings.email_sender)
    return rt


def emptied(rt: Runtime) -> Runtime:
    """``rt`` made current again with every table empty and no e-mail or SMS recorded yet."""
    set_settings(rt.settings)
    runtime_module._runtime = rt  # what get_runtime() returns to the Chalice routes
    if Tenant.Meta.table_name != rt.settings.table_prefix + "tenants":
        db.configure(rt.settings)  # another module rebound the models meanwhile
    for model in ALL_MODELS:
        hash_key = model._hash_key_attribute().attr_name
        range_attr = model._range_key_attribute()
        keys = [hash_key] + ([range_attr.attr_name] if range_attr else [])
        with model.batch_write() as batch:
            for item in model.scan(attributes_to_get=keys):
                batch.delete(item)
    ses_backends[DEFAULT_ACCOUNT_ID][rt.settings.region].sent_messages.clear()
    sns_backends[DEFAULT_ACCOUNT_ID][rt.settings.region].sms_messages.clear()
    return rt


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def runtime(aws: None) -> Runtime:
    """A runtime bound to fresh moto tables and a random data key."""
    return new_runtime()


@pytest.fixture(scope="module")
def world_settings() -> dict[str, Any]:
    """Settings the module's world differs in (a test module overrides this fixture)."""
    return {}


@pytest.fixture(scope="module")
def world(world_settings: dict[str, Any]) -> Iterator[Runtime]:
    """One moto account, runtime and set of tables per test module."""
    with mock_aws():
        yield new_runtime(make_settings(**world_settings))


@pytest.fixture
def demo(runtime: Runtime) -> DemoData:
    return seed_demo(runtime.box)


@contextmanager
def serialized_moto() -> Iterator[None]:
    """Make moto handle one DynamoDB request at a time.

    DynamoDB applies each request atomically (a conditional update checks and writes as one step);
    moto evaluates the condition and then writes in separate Python steps, so threads racing on one
    item can both pass a condition. Serialising moto's request handling restores DynamoDB's behaviour
    for concurrency tests; it does not order or retry anything in the code under test."""
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoHandler.call_action = original  # type: ignore[method-assign]
