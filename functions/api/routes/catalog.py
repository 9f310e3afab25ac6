"""Zones, gateways (routers / NAS), product policies and products: CRUD with full validation.

Policies and products defined higher in the tenant tree are listed and usable below (read-only there).
Gateway secrets are write-only: the responses say only whether one is set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice import Blueprint
from pydantic import BaseModel

from api.http import patch_changes
from api.routing import RequestContext, route
from api.schemas.catalog import (
    CatalogQuery,
    GatewayIn,
    GatewayOut,
    GatewayPatch,
    PolicyIn,
    PolicyOut,
    PolicyPatch,
    ProductIn,
    ProductOut,
    ProductPatch,
    ZoneIn,
    ZoneOut,
    ZonePatch,
)
from api.schemas.common import Deleted
from services import catalog as svc
from services.tenants import reject_nulls
from store.models import Gateway, Policy, Product, Zone

bp = Blueprint(__name__)


def _out(model: type[BaseModel], item: Any) -> Any:
    return model.model_validate(svc.item_dict(item))


def _register(
    plural: str,
    param: str,
    label: str,
    table: type[Any],
    in_model: type[BaseModel],
    patch_model: type[BaseModel],
    out_model: type[BaseModel],
    create: Callable[[RequestContext, dict[str, Any]], Any],
    update: Callable[[RequestContext, str, dict[str, Any]], Any],
    delete: Callable[[RequestContext, str], None],
    notes: str = "",
) -> None:
    """The handlers of one catalogue kind (list, create, get, edit, delete), declared as routes."""

    def handle_list(ctx: RequestContext) -> list[Any]:
        items = svc.list_items(ctx.p, table, ctx.query.tenant_id, ctx.query.include_inherited)
        return [_out(out_model, i) for i in items]

    def handle_create(ctx: RequestContext) -> Any:
        data = {k: v for k, v in ctx.body.model_dump().items() if v is not None}
        return _out(out_model, create(ctx, data))

    def handle_get(ctx: RequestContext, **params: str) -> Any:
        return _out(out_model, svc.get_item(ctx.p, table, params[param]))

    def handle_update(ctx: RequestContext, **params: str) -> Any:
        changes = reject_nulls(
            table,
            {
                k: v
                for k, v in patch_changes(ctx.body).items()
                if k not in ("radius_secret", "api_password") or v is not None
            },
        )
        return _out(out_model, update(ctx, params[param], changes))

    def handle_delete(ctx: RequestContext, **params: str) -> Deleted:
        delete(ctx, params[param])
        return Deleted(id=params[param])

    # Chalice names each view after its function: one distinct name per route
    handlers = (handle_list, handle_create, handle_get, handle_update, handle_delete)
    for fn, verb in zip(handlers, ("list", "create", "get", "update", "delete"), strict=True):
        fn.__name__ = f"handle_{verb}_{label}"
    _declare(plural, param, label, in_model, patch_model, out_model, notes, handlers)


def _declare(
    plural: str,
    param: str,
    label: str,
    in_model: type[BaseModel],
    patch_model: type[BaseModel],
    out_model: type[BaseModel],
    notes: str,
    handlers: tuple[Callable[..., Any], ...],
) -> None:
    """The five CRUD routes of one catalogue kind, with their OpenAPI descriptions."""
    handle_list, handle_create, handle_get, handle_update, handle_delete = handlers
    base = f"/admin/{plural}"
    tag = [plural]
    item = f"{base}/{{{param}}}"
    route(
        bp,
        base,
        "GET",
        summary=f"List {plural}",
        tags=tag,
        query=CatalogQuery,
        response=out_model,
        response_is_list=True,
        description=notes,
    )(handle_list)
    route(
        bp,
        base,
        "POST",
        summary=f"Create a {label}",
        tags=tag,
        body=in_model,
        response=out_model,
        min_role="manager",
        status=201,
        description=notes,
    )(handle_create)
    route(bp, item, "GET", summary=f"Get a {label}", tags=tag, response=out_model)(handle_get)
    route(
        bp,
        item,
        "PATCH",
        summary=f"Edit a {label}",
        tags=tag,
        body=patch_model,
        response=out_model,
        min_role="manager",
        description=notes,
    )(handle_update)
    route(
        bp,
        item,
        "DELETE",
        summary=f"Delete a {label} (refused while in use)",
        tags=tag,
        response=Deleted,
        min_role="manager",
    )(handle_delete)


_register(
    "zones",
    "zone_id",
    "zone",
    Zone,
    ZoneIn,
    ZonePatch,
    ZoneOut,
    lambda ctx, d: svc.create_zone(ctx.p, d),
    lambda ctx, i, c: svc.update_zone(ctx.p, i, c),
    lambda ctx, i: svc.delete_zone(ctx.p, i),
    "A zone carries the billing calendar and the time zone of its routers and clients.",
)
_register(
    "gateways",
    "gateway_id",
    "gateway",
    Gateway,
    GatewayIn,
    GatewayPatch,
    GatewayOut,
    lambda ctx, d: svc.create_gateway(ctx.rt, ctx.p, d),
    lambda ctx, i, c: svc.update_gateway(ctx.rt, ctx.p, i, c),
    lambda ctx, i: svc.delete_gateway(ctx.p, i),
    "radius_secret and api_password are write-only: stored encrypted, never returned. The NAS address "
    "is unique platform-wide.",
)
_register(
    "policies",
    "policy_id",
    "policy",
    Policy,
    PolicyIn,
    PolicyPatch,
    PolicyOut,
    lambda ctx, d: svc.create_policy(ctx.p, d),
    lambda ctx, i, c: svc.update_policy(ctx.p, i, c),
    lambda ctx, i: svc.delete_policy(ctx.p, i),
    "SPEC S6: interim update below 300 s becomes 300; minimum split time >= 5 min and data >= 10 MB; "
    "concurrent connections <= max devices; burst needs all six fields; custom attributes must fit "
    "their RADIUS dictionary type.",
)
_register(
    "products",
    "product_id",
    "product",
    Product,
    ProductIn,
    ProductPatch,
    ProductOut,
    lambda ctx, d: svc.create_product(ctx.p, d),
    lambda ctx, i, c: svc.update_product(ctx.p, i, c),
    lambda ctx, i: svc.delete_product(ctx.p, i),
    "A product's policy must be defined at its level or above.",
)
