"""Helpers for the subscriber-channel tests: one moto account and set of tables per test module
(emptied between tests), the Chalice test client with operator tokens, and the messages moto's SES
and SNS backends recorded.

Import the fixtures into a test module by their ``*_fixture`` names; pytest knows them by ``name=``.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.test import Client
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends
from pypdf import PdfReader

import composition as runtime_module
from api.app import app
from composition import init_runtime
from core.ids import now_iso
from infra.local.demo import DemoData
from shared.crypto import StaticKeyProvider
from shared.runtime import Runtime
from shared.settings import set_settings
from shared.tokens import issue_operator_token
from store import db
from store.models import ALL_MODELS, Operator, Tenant
from tests.conftest import make_settings

REGION = "us-east-1"


@pytest.fixture(scope="module", name="channels_world")
def channels_world_fixture() -> Iterator[Runtime]:
    """Creating the tables costs seconds on moto; emptying them between tests a fraction of that."""
    with mock_aws():
        rt = init_runtime(make_settings(), StaticKeyProvider(secrets.token_bytes(32)))
        db.create_tables()
        rt.aws.client("s3").create_bucket(Bucket=rt.settings.documents_bucket)
        rt.aws.client("ses").verify_email_identity(EmailAddress=rt.settings.email_sender)
        yield rt


@pytest.fixture(name="runtime")
def channels_runtime_fixture(channels_world: Runtime) -> Runtime:
    """The module's runtime with empty tables and no messages sent yet."""
    rt = channels_world
    set_settings(rt.settings)
    runtime_module._runtime = rt  # what get_runtime() returns to the Chalice routes
    db.configure(rt.settings)
    for model in ALL_MODELS:
        keys = [model._hash_key_attribute().attr_name]
        if model._range_key_attribute() is not None:
            keys.append(model._range_key_attribute().attr_name)
        with model.batch_write() as batch:
            for item in model.scan(attributes_to_get=keys):
                batch.delete(item)
    ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages.clear()
    sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.clear()
    return rt


@dataclass
class Http:
    client: Client
    rt: Runtime
    demo: DemoData

    def manager(self) -> dict[str, str]:
        return self.as_(self.demo.operator_id, self.demo.tenant_id, "manager")

    def other_manager(self) -> dict[str, str]:
        """A manager of another tenant (a sibling of the demo tenant)."""
        now = now_iso()
        Tenant(
            id="ten_other",
            name="Other WISP",
            kind="manager",
            parent_id=self.demo.reseller_id,
            ancestors=[self.demo.system_id, self.demo.reseller_id],
            created_at=now,
        ).save()
        Operator(
            id="op_other",
            tenant_id="ten_other",
            email="other@test.local",
            role="manager",
            password_hash="-",
            created_at=now,
        ).save()
        return self.as_("op_other", "ten_other", "manager")

    def as_(self, operator_id: str, tenant_id: str, role: str) -> dict[str, str]:
        token = issue_operator_token(self.rt.signer, operator_id, tenant_id, role, 3600)
        return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(
        self,
        method: str,
        path: str,
        who: dict[str, str] | None = None,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        h = dict(who or {"Content-Type": "application/json"})
        h.update(headers or {})
        data: Any = raw if raw is not None else (json.dumps(body) if body is not None else None)
        fn = getattr(self.client.http, method.lower())
        return fn(path, headers=h, body=data) if data is not None else fn(path, headers=h)

    def get(self, path: str, who: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.call("GET", path, who, **kw)

    def post(self, path: str, who: dict[str, str] | None = None, body: Any = None, **kw: Any) -> Any:
        return self.call("POST", path, who, body if body is not None or "raw" in kw else {}, **kw)

    def put(self, path: str, who: dict[str, str] | None = None, body: Any = None, **kw: Any) -> Any:
        return self.call("PUT", path, who, body if body is not None else {}, **kw)


@pytest.fixture(name="http")
def http_fixture(runtime: Runtime, demo: DemoData) -> Iterator[Http]:
    with Client(app) as client:
        yield Http(client, runtime, demo)


@pytest.fixture(name="atomic_dynamodb")
def atomic_dynamodb_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
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

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.__dict__}")


@pytest.fixture(name="app_logs")
def app_logs_fixture() -> Iterator[list[str]]:
    """Every log record of the application (all levels, with its extra fields) while the test runs."""
    root = logging.getLogger("wispcloud")
    loggers = [root] + [
        logging.getLogger(n) for n in list(logging.root.manager.loggerDict) if n.startswith("wispcloud.")
    ]
    levels = [lg.level for lg in loggers]
    handler = _Collect()
    root.addHandler(handler)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def sent_emails() -> list[Any]:
    """Messages SES accepted (moto keeps them: ``source``, ``destinations``, ``subject``, ``body``)."""
    return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


def sent_sms() -> list[tuple[str, str]]:
    """(phone number, text) of every SMS SNS published."""
    return list(sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.values())


def pdf_text(data: bytes) -> tuple[int, str]:
    """Page count and the extracted text of a PDF."""
    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), "\n".join(page.extract_text() or "" for page in reader.pages)
