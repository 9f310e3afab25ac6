"""Login, the caller, operators, roles and API keys."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from api.schemas.common import Email, Id, Name, NotNull, Out, Password, Role, ShortText, not_null
from api.schemas.common import StrictIn as In

RoleName = Literal["read_only", "operator", "manager", "reseller", "system_admin"]


class LoginIn(In):
    email: Email
    password: str = Field(min_length=1, max_length=256)


class OperatorOut(Out):
    id: str
    tenant_id: str
    email: str
    name: str | None = None
    role: str
    permissions: list[str] = []
    active: bool
    last_login_at: str | None = None
    created_at: str
    updated_at: str | None = None


class LoginOut(Out):
    token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: str
    operator: OperatorOut


class TenantBrief(Out):
    id: str
    name: str
    kind: str
    parent_id: str | None = None


class MeOut(Out):
    actor_id: str
    actor_kind: str
    role: str
    role_description: str
    tenant: TenantBrief
    ancestor_tenant_ids: list[str]
    operator: OperatorOut | None = None


class RoleOut(Out):
    name: str
    rank: int
    description: str
    tenant_kinds: list[str]


class OperatorIn(In):
    email: Email
    password: Password
    role: RoleName
    name: ShortText | None = None
    tenant_id: Id | None = None
    permissions: list[Name] = Field(default_factory=list, max_length=50)


class OperatorPatch(In):
    email: Email | NotNull = not_null()
    password: Password | NotNull = not_null()
    role: RoleName | NotNull = not_null()
    name: ShortText | None = None
    active: bool | None = None
    permissions: list[Name] | None = Field(default=None, max_length=50)


class RoleIn(In):
    role: RoleName


class ApiKeyIn(In):
    name: Name
    role: Role = "operator"
    tenant_id: Id | None = None


class ApiKeyOut(Out):
    id: str
    tenant_id: str
    name: str
    role: str
    revoked: bool
    last_used_at: str | None = None
    created_by: str | None = None
    created_at: str


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="<id>.<secret>: send as X-Api-Key. Shown only in this response.")
