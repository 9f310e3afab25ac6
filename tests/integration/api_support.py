"""Helpers for the admin API tests: a Chalice test client with per-role bearer tokens."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from chalice.test import Client
from moto import mock_aws

import composition as runtime_module
from api.app import app
from composition import init_runtime
from core.ids import iso, new_id, now_iso, utcnow
from infra.local.demo import DemoData
from shared.crypto import StaticKeyProvider, hash_password
from shared.runtime import Runtime
from shared.settings import set_settings
from shared.tokens import issue_operator_token
from store import db, tallies
from store.models import ALL_MODELS, Operator, Session, Subscriber, Tenant
from store.subscribers import get_by_id
from tests.conftest import make_settings

ROLES = ("read_only", "operator", "manager", "reseller", "system_admin")


@dataclass
class Api:
    client: Client
    rt: Runtime
    tokens: dict[str, str] = field(default_factory=dict)

    def as_(self, operator_id: str, tenant_id: str, role: str) -> dict[str, str]:
        token = issue_operator_token(self.rt.signer, operator_id, tenant_id, role, 3600)
        return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def operator(self, tenant_id: str, role: str, email: str | None = None) -> dict[str, str]:
        """Create an operator with that role in that tenant; returns its auth headers."""
        op_id = new_id("op")
        Operator(
            id=op_id,
            tenant_id=tenant_id,
            email=email or f"{op_id}@test.local",
            role=role,
            password_hash=hash_password("pw-12345678"),
            created_at=now_iso(),
        ).save()
        return self.as_(op_id, tenant_id, role)

    def call(
        self,
        method: str,
        path: str,
        who: dict[str, str] | None = None,
        body: Any = None,
        raw: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        h = dict(who or {"Content-Type": "application/json"})
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        fn = getattr(self.client.http, method.lower())
        return fn(path, headers=h, body=data) if data is not None else fn(path, headers=h)

    def get(self, path: str, who: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.call("GET", path, who, **kw)

    def post(self, path: str, who: dict[str, str] | None = None, body: Any = None, **kw: Any) -> Any:
        return self.call("POST", path, who, body if body is not None else {}, **kw)

    def patch(self, path: str, who: dict[str, str] | None = None, body: Any = None, **kw: Any) -> Any:
        return self.call("PATCH", path, who, body if body is not None else {}, **kw)

    def put(self, path: str, who: dict[str, str] | None = None, body: Any = None, **kw: Any) -> Any:
        return self.call("PUT", path, who, body if body is not None else {}, **kw)

    def delete(self, path: str, who: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.call("DELETE", path, who, **kw)


@pytest.fixture(scope="module", name="api_world")
def api_world_fixture() -> Iterator[Runtime]:
    """One moto account, one runtime and one set of tables per test module: creating the tables and the
    per-model DynamoDB clients costs seconds; emptying the tables between tests a fraction of that."""
    with mock_aws():
        rt = init_runtime(make_settings(), StaticKeyProvider(secrets.token_bytes(32)))
        db.create_tables()
        yield rt


@pytest.fixture(name="runtime")
def fast_runtime_fixture(api_world: Runtime) -> Runtime:
    """Overrides the suite's ``runtime`` for the API modules: the module's runtime, tables emptied."""
    rt = api_world
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
    return rt


# Fixtures are exported under *_fixture names (import them into a test module; pytest uses name=)
@pytest.fixture(name="api")
def api_fixture(runtime: Runtime, demo: DemoData) -> Iterator[Api]:
    with Client(app) as client:
        yield Api(client, runtime)


@pytest.fixture(name="admin")
def admin_fixture(api: Api, demo: DemoData) -> dict[str, str]:
    """The demo system administrator."""
    return api.as_(demo.admin_id, demo.system_id, "system_admin")


@pytest.fixture(name="manager")
def manager_fixture(api: Api, demo: DemoData) -> dict[str, str]:
    """The demo manager (tenant ten_demo)."""
    return api.as_(demo.operator_id, demo.tenant_id, "manager")


def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.status_code}: {resp.body[:2000]!r}"
    return resp.json_body


def err(resp: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.body[:2000]!r}"
    body = resp.json_body["error"]
    if field is not None:
        assert body.get("field") == field, body
    return body


def stored(sub_id: str) -> Subscriber:
    """The subscriber record as stored (it must exist)."""
    sub = get_by_id(sub_id)
    assert sub is not None, f"subscriber {sub_id} not found"
    return sub


def open_session(
    sub_id: str,
    key: str = "k1",
    down: int = 50 * 1_048_576,
    up: int = 5 * 1_048_576,
    ip: str = "10.10.0.99",
    mac: str = "AA:BB:CC:00:00:01",
    closed: bool = False,
    nas_ip: str = "127.0.0.1",
    minutes: int = 90,
) -> None:
    """An accounting session as the RADIUS service records it: the entry on the subscriber item and
    its connection-log row."""
    sub = stored(sub_id)
    started, now = iso(utcnow() - timedelta(minutes=minutes)), iso(utcnow())
    entry = {
        "nas": nas_ip,
        "sid": f"acct-{key}",
        "st": started,
        "lu": now,
        "v": 1,
        "i": up,
        "o": down,
        "t": minutes * 60,
        "iv": 300,
        "ip": ip,
        "mac": mac,
    }
    if closed:
        entry.update(cb="stop", et=now)
    actions = [Subscriber.open_sessions[key].set(entry)]
    if not closed:  # as the RADIUS store does: the online index and the online counter
        actions.append(Subscriber.online_t.set(sub.tenant_id))
        if not sub.online_t:
            tallies.move(sub.tenant_id, None, tallies.bucket_for(sub).with_status(tallies.ONLINE))
    sub.update(actions=actions)
    Session(
        id=key,
        tenant_id=sub.tenant_id,
        subscriber_id=sub.id,
        username=sub.username,
        acct_session_id=f"acct-{key}",
        nas_ip=nas_ip,
        framed_ip=ip,
        mac=mac,
        started_at=started,
        last_update=now,
        duration_s=minutes * 60,
        input_octets=up,
        output_octets=down,
        ended_at=now if closed else None,
        closed_by="stop" if closed else None,
        open_nas=None if closed else nas_ip,
        open_hour=None if closed else now[:13],
    ).save()
