"""What the customer-portal routes and the operator's portal routes share: the signed-in subscriber,
file downloads, and the payment and contract views."""

from __future__ import annotations

from chalice import Response

from api.routing import RequestContext
from api.schemas.portal import PortalContractOut, PortalPaymentOut
from services import contracts as contract_svc
from services import portal_auth
from store.models import Contract, Payment, Subscriber


def me(ctx: RequestContext) -> Subscriber:
    return portal_auth.current_subscriber(ctx.p)


def file_download(data: bytes, content_type: str, filename: str) -> Response:
    safe = "".join(ch for ch in filename if ch.isalnum() or ch in "._-") or "file"
    return Response(
        body=data,
        status_code=200,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="{safe}"',
            "Cache-Control": "private, no-store",
        },
    )


def payment_out(p: Payment) -> PortalPaymentOut:
    return PortalPaymentOut(
        id=p.id,
        subscriber_id=p.subscriber_id,
        amount=p.amount,
        currency=p.currency,
        method=p.method,
        reference=p.reference,
        kind=p.kind,
        status=p.status,
        source=p.source,
        applied=list(p.applied or []),
        notes=p.notes,
        effects=dict(p.effects or {}),
        created_at=p.created_at,
    )


def contract_out(c: Contract) -> PortalContractOut:
    return PortalContractOut.model_validate(contract_svc.contract_view(c))
