"""Helpers for the subscriber-channel tests: the Chalice test client with operator tokens, and the
messages moto's SES and SNS backends recorded (the fixtures are in this folder's ``conftest.py``)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

from chalice.test import Client
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends
from pypdf import PdfReader

from core.ids import now_iso
from infra.local.demo import DemoData
from shared.runtime import Runtime
from shared.tokens import issue_operator_token
from store.models import Operator, Tenant

REGION = "us-east-1"


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
