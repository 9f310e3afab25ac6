"""Helpers for the admin API tests: a Chalice test client with per-role bearer tokens."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from chalice.test import Client

from core.ids import iso, new_id, now_iso, utcnow
from shared.crypto import hash_password
from shared.runtime import Runtime
from shared.tokens import issue_operator_token
from store import tallies
from store.models import Operator, Session, Subscriber
from store.subscribers import get_by_id

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
