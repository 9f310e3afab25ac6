"""Cards and vouchers (SPEC S2 "From card"; S4 recharge).

A batch generates cards for one product: each card is a voucher (code + password) and a login with the
same credentials, so a guest can connect at the hotspot with the card as printed, or the card can be
redeemed onto an existing account (a recharge: the residual credit of the previous product is kept).
A card is consumed once: the voucher's conditional change ``unused`` → ``redeemed`` lets exactly one of
any number of concurrent redemptions through.

Validity: ``{"starts": "first_login", "days": n}`` counts from the first use (the first login for a
card used at the hotspot, the redemption for a card redeemed onto an account);
``{"starts": "date", "date": "2026-12-01", "days": n}`` runs from that date; without one, the
product's own validity applies.
"""

from __future__ import annotations

import csv
import hmac
import io
import secrets
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from core import catalog_rules as rules
from core.billing_calendar import local_midnight
from core.errors import ConflictError, DomainError, InvalidStateError, NotFoundError, ValidationError
from core.ids import iso, new_id, now_iso, utcnow
from core.lifecycle import check_username
from services import card_pdf
from services import subscribers as subs
from services.catalog import check_reference
from services.identity.actors import Actor
from services.subscribers import lifecycle
from services.tenants import audit, target_tenant, tenant_filter
from shared.observability import get_logger
from shared.runtime import Runtime
from store import catalog as catalog_store
from store import subscribers as subscriber_store
from store import tenants as tenant_store
from store import vouchers as store
from store.models import Gateway, Product, Subscriber, Voucher, VoucherBatch

log = get_logger("vouchers")

ALPHABETS = {
    "digits": "0123456789",
    "lower": "abcdefghjkmnpqrstuvwxyz",  # no i, l, o: easy to read from a card
    "upper": "ABCDEFGHJKLMNPQRSTUVWXYZ",
    "alnum": "abcdefghjkmnpqrstuvwxyz23456789",
    "alnum_upper": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789",
}
MAX_BATCH = 5_000
# The code space must be much larger than the batch, or random codes keep colliding (and become guessable).
MIN_SPACE_FACTOR = 1_000
MAX_ATTEMPTS_PER_CARD = 8
WRITERS = 4
CSV_COLUMNS = (
    "code",
    "password",
    "product",
    "price",
    "validity",
    "status",
    "valid_until",
    "redeemed_by",
    "redeemed_at",
)


@dataclass(frozen=True)
class BatchRequest:
    product_id: str
    count: int
    name: str | None = None
    prefix: str = ""
    username_length: int = 8
    password_length: int = 8
    username_alphabet: str = "alnum"
    password_alphabet: str = "alnum"
    validity: dict[str, Any] | None = None
    price: str | None = None
    gateway_id: str | None = None
    tenant_id: str | None = None


def batch_dict(batch: VoucherBatch) -> dict[str, Any]:
    return {
        "id": batch.id,
        "tenant_id": batch.tenant_id,
        "name": batch.name,
        "product_id": batch.product_id,
        "count": int(batch.card_count),
        "prefix": batch.prefix,
        "price": batch.price,
        "validity": batch.validity or {},
        "status": batch.status,
        "options": batch.options or {},
        "created_by": batch.created_by,
        "created_at": batch.created_at,
        "revoked_at": batch.revoked_at,
    }


def voucher_dict(v: Voucher) -> dict[str, Any]:
    """A voucher without its password."""
    return {
        "code": v.code,
        "tenant_id": v.tenant_id,
        "batch_id": v.batch_id,
        "product_id": v.product_id,
        "status": v.status,
        "valid_until": v.valid_until,
        "redeemed_by": v.redeemed_by,
        "redeemed_at": v.redeemed_at,
        "created_at": v.created_at,
    }


# ---------------------------------------------------------------- rules
def check_validity(raw: dict[str, Any] | None) -> dict[str, Any]:
    """Normalise a batch validity: none, from the first login, or from a date; ``days`` 1..3660."""
    if not raw or raw.get("starts") in (None, "", "none"):
        return {}
    starts = raw.get("starts")
    try:
        days = int(raw.get("days") or 0)
    except (TypeError, ValueError) as exc:
        raise ValidationError("must be a whole number of days", field="validity.days") from exc
    if not 1 <= days <= 3660:
        raise ValidationError("must be 1 to 3660 days", field="validity.days")
    if starts == "first_login":
        return {"starts": "first_login", "days": days}
    if starts == "date":
        try:
            start = date.fromisoformat(str(raw.get("date") or ""))
        except ValueError as exc:
            raise ValidationError("must be a date like 2026-12-01", field="validity.date") from exc
        return {"starts": "date", "date": start.isoformat(), "days": days}
    raise ValidationError("must be none, first_login or date", field="validity.starts")


def _date_days(validity: dict[str, Any]) -> tuple[date, date]:
    """A date-valid card's first day and the day after its last."""
    first = date.fromisoformat(validity["date"])
    return first, first + timedelta(days=int(validity["days"]))


def _date_window(tenant_id: str, validity: dict[str, Any]) -> tuple[str, str]:
    """A date-valid card's window: from the start of its first day to the end of its last, days of the
    tenant's calendar (the cards are the tenant's; "valid from 1 December" starts at its midnight)."""
    tenant = tenant_store.get_tenant(tenant_id)
    tz = tenant.timezone if tenant is not None else None
    first, after = _date_days(validity)
    return iso(local_midnight(first, tz)), iso(local_midnight(after, tz))


def validity_text(validity: dict[str, Any], product: Product | None) -> str:
    if validity.get("starts") == "first_login":
        n = int(validity["days"])
        return f"Valid {n} day{'s' if n != 1 else ''} from first use"
    if validity.get("starts") == "date":
        first, after = _date_days(validity)
        return f"Valid {first.isoformat()} to {after.isoformat()}"
    if product is not None and product.validity_days:
        n = int(product.validity_days)
        return f"Valid {n} day{'s' if n != 1 else ''}"
    return ""


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _check_request(req: BatchRequest) -> None:
    if not 1 <= req.count <= MAX_BATCH:
        raise ValidationError(f"must be 1 to {MAX_BATCH}", field="count")
    for name in ("username_alphabet", "password_alphabet"):
        if getattr(req, name) not in ALPHABETS:
            raise ValidationError(f"must be one of {', '.join(ALPHABETS)}", field=name)
    if not 4 <= req.username_length <= 32:
        raise ValidationError("must be 4 to 32 characters", field="username_length")
    if not 4 <= req.password_length <= 32:
        raise ValidationError("must be 4 to 32 characters", field="password_length")
    if req.prefix:
        if len(req.prefix) > 16:
            raise ValidationError("at most 16 characters", field="prefix")
        check_username(req.prefix + "x", field="prefix")
    distinct = len(set(ALPHABETS[req.username_alphabet].lower()))
    if distinct**req.username_length < MIN_SPACE_FACTOR * req.count:
        raise ValidationError(
            f"{req.username_length} characters of {req.username_alphabet} give too few different codes for "
            f"{req.count} cards: use longer codes or a larger alphabet",
            field="username_length",
        )


# ---------------------------------------------------------------- generation
@dataclass(frozen=True)
class _CardTerms:
    """What every card of a batch shares: its product, router, validity window and login type."""

    tenant_id: str
    batch_id: str
    product_id: str
    gateway: Gateway | None
    connection_type: str
    assigned_at: str | None
    expires_at: str | None
    valid_until: str | None
    days_after_first_login: int | None


def _card_terms(
    tid: str, batch_id: str, prod: Product, gw: Gateway | None, validity: dict[str, Any], now: str
) -> _CardTerms:
    expires_at: str | None
    valid_until: str | None = None
    if validity.get("starts") == "date":
        assigned_at, expires_at = _date_window(tid, validity)
        valid_until = expires_at
    else:
        assigned_at, expires_at, valid_until = now, subs.expiry(prod, now), None
    first_login = validity.get("starts") == "first_login"
    return _CardTerms(
        tenant_id=tid,
        batch_id=batch_id,
        product_id=prod.id,
        gateway=gw,
        connection_type=(gw.plan_type if gw else None) or "hotspot",
        assigned_at=assigned_at,
        expires_at=None if first_login else expires_at,
        valid_until=valid_until,
        days_after_first_login=validity["days"] if first_login else None,
    )


def _make_card(rt: Runtime, req: BatchRequest, terms: _CardTerms) -> None:
    """Write one card (voucher and hotspot login), drawing a new code while the drawn one is taken."""
    tid, gw = terms.tenant_id, terms.gateway
    for _attempt in range(MAX_ATTEMPTS_PER_CARD):
        code = req.prefix + _random(ALPHABETS[req.username_alphabet], req.username_length)
        password = _random(ALPHABETS[req.password_alphabet], req.password_length)
        enc = rt.box.encrypt(password)
        voucher = Voucher(
            id=store.voucher_key(tid, code),
            tenant_id=tid,
            batch_id=terms.batch_id,
            code=code,
            password_enc=enc,
            product_id=terms.product_id,
            status="unused",
            valid_until=terms.valid_until,
            created_at=now_iso(),
        )
        login = Subscriber(
            login=subscriber_store.login_key(tid, code),
            id=new_id("sub"),
            tenant_id=tid,
            username=code,
            password_enc=enc,
            status="new",
            connection_type=terms.connection_type,
            product_id=terms.product_id,
            product_assigned_at=terms.assigned_at,
            product_expires_at=terms.expires_at,
            expires_days_after_first_login=terms.days_after_first_login,
            gateway_id=gw.id if gw else None,
            zone_id=gw.zone_id if gw else None,
            voucher_id=voucher.id,
            created_via="card",
            created_at=voucher.created_at,
            updated_at=voucher.created_at,
        )
        if store.insert_card(voucher, login):
            return
    raise ConflictError("could not find free codes for the cards: use longer codes", field="username_length")


def create_batch(rt: Runtime, actor: Actor, req: BatchRequest) -> VoucherBatch:
    """Generate a batch of cards for one product (each a voucher plus its hotspot login)."""
    _check_request(req)
    tid = target_tenant(actor, req.tenant_id)
    prod: Product = check_reference(actor, Product, req.product_id, tid, "product_id")
    if not prod.active:
        raise InvalidStateError("the product is not active", field="product_id")
    gw: Gateway | None = check_reference(actor, Gateway, req.gateway_id, tid, "gateway_id")
    validity = check_validity(req.validity)
    price = rules.check_money(req.price, "price") if req.price not in (None, "") else str(prod.price)
    now = now_iso()
    batch = VoucherBatch(
        id=new_id("vb"),
        tenant_id=tid,
        product_id=prod.id,
        card_count=req.count,
        prefix=req.prefix,
        price=price,
        validity=validity,
        status="generating",
        created_by=actor.actor_id,
        created_at=now,
        name=req.name,
        options={
            "username_length": req.username_length,
            "password_length": req.password_length,
            "username_alphabet": req.username_alphabet,
            "password_alphabet": req.password_alphabet,
            "gateway_id": gw.id if gw else None,
        },
    )
    store.create_batch(batch)
    terms = _card_terms(tid, batch.id, prod, gw, validity, now)
    try:
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            list(pool.map(lambda _: _make_card(rt, req, terms), range(req.count)))
    except Exception:
        # the cards written so far stay listed under the failed batch, which can be revoked
        store.set_batch_status(batch, "generating", "failed")
        raise
    store.set_batch_status(batch, "generating", "active")
    batch.status = "active"
    audit(actor, tid, "voucher_batch", batch.id, "create", None, batch_dict(batch))
    log.info("voucher batch generated", extra={"batch_id": batch.id, "count": req.count})
    return batch


# ---------------------------------------------------------------- reads
def get_batch(actor: Actor, batch_id: str) -> VoucherBatch:
    batch = store.get_batch(batch_id) if 0 < len(batch_id) <= 128 else None
    if batch is None or not actor.can_see(batch.tenant_id):
        raise NotFoundError("voucher batch not found", field="batch_id")
    return batch


def list_batches(actor: Actor, tenant_id: str | None) -> list[dict[str, Any]]:
    return [batch_dict(b) for b in store.list_batches(tenant_filter(actor, tenant_id))]


def _vouchers(batch: VoucherBatch, status: str | None = None) -> list[Voucher]:
    items = store.vouchers_of_batch(batch.id)
    if status:
        items = [v for v in items if v.status == status]
    return sorted(items, key=lambda v: (v.created_at, v.code))


def batch_detail(actor: Actor, batch_id: str) -> dict[str, Any]:
    """The batch with its cards counted per status."""
    batch = get_batch(actor, batch_id)
    counts = Counter(v.status for v in store.vouchers_of_batch(batch.id))
    return {**batch_dict(batch), "cards": dict(sorted(counts.items()))}


def get_voucher(actor: Actor, code: str, tenant_id: str | None) -> Voucher:
    tid = target_tenant(actor, tenant_id)
    v = store.get_voucher(tid, code) if 0 < len(code) <= 64 else None
    if v is None:
        raise NotFoundError("voucher not found", field="code")
    return v


def _card_rows(rt: Runtime, batch: VoucherBatch, vouchers: list[Voucher]) -> list[dict[str, Any]]:
    prod = catalog_store.get(Product, batch.product_id)
    text = validity_text(batch.validity or {}, prod)
    return [
        {
            "code": v.code,
            "password": rt.box.decrypt(v.password_enc),
            "product": prod.name if prod else v.product_id,
            "price": batch.price,
            "validity": text,
            "status": v.status,
            "valid_until": v.valid_until or "",
            "redeemed_by": v.redeemed_by or "",
            "redeemed_at": v.redeemed_at or "",
        }
        for v in vouchers
    ]


def export_csv(rt: Runtime, actor: Actor, batch_id: str, status: str | None = None) -> str:
    """The batch's cards with their credentials as CSV (the read of the passwords is audited)."""
    batch = get_batch(actor, batch_id)
    rows = _card_rows(rt, batch, _vouchers(batch, status))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    audit(actor, batch.tenant_id, "voucher_batch", batch.id, "export_credentials", None, {"cards": len(rows)})
    return buf.getvalue()


def print_sheet(
    rt: Runtime, actor: Actor, batch_id: str, cards_per_page: int = 10, status: str | None = "unused"
) -> bytes:
    """The print sheet of the batch's cards (unused ones by default) as a PDF."""
    batch = get_batch(actor, batch_id)
    vouchers = _vouchers(batch, status)
    if not vouchers:
        raise InvalidStateError("the batch has no cards in that status to print", field="status")
    tenant = tenant_store.get_tenant(batch.tenant_id)
    cards = []
    for row in _card_rows(rt, batch, vouchers):
        lines = tuple(
            x
            for x in (row["validity"], f"Price: {row['price']} {tenant.currency if tenant else ''}".strip())
            if x
        )
        cards.append(
            card_pdf.Card(
                row["code"],
                row["password"],
                card_pdf.card_url(rt, row["code"], batch.tenant_id),
                row["product"],
                lines,
            )
        )
    name = (tenant.company_name or tenant.name) if tenant else batch.tenant_id
    pdf = card_pdf.render_cards_pdf(
        cards,
        card_pdf.SheetStyle(
            name, card_pdf.tenant_logo(rt, tenant), cards_per_page, f"{name} cards {batch.name or batch.id}"
        ),
    )
    audit(actor, batch.tenant_id, "voucher_batch", batch.id, "print_cards", None, {"cards": len(cards)})
    return pdf


# ---------------------------------------------------------------- revoke
def revoke_batch(actor: Actor, batch_id: str) -> dict[str, Any]:
    """Revoke every unused card of the batch: its voucher can no longer be redeemed and its login no
    longer connects. Cards already redeemed, or already used at the hotspot, keep working."""
    batch = get_batch(actor, batch_id)
    if batch.status == "revoked":
        raise InvalidStateError("the batch is already revoked", field="status")
    before = batch_dict(batch)
    store.set_batch_status(batch, batch.status, "revoked")
    now = now_iso()
    store.update_batch(batch, {"revoked_at": now})
    batch.status, batch.revoked_at = "revoked", now
    revoked = in_use = 0
    for v in store.vouchers_of_batch(batch.id):
        if v.status != "unused" or not store.set_voucher_status(v, "unused", "revoked"):
            continue
        revoked += 1
        if not store.cancel_card_login(subscriber_store.login_key(v.tenant_id, v.code)):
            in_use += 1
    result = {"revoked": revoked, "in_use_kept": in_use}
    audit(
        actor, batch.tenant_id, "voucher_batch", batch.id, "revoke", before, {**batch_dict(batch), **result}
    )
    return {**batch_dict(batch), **result}


# ---------------------------------------------------------------- redeem
def _find_voucher(
    rt: Runtime, tenant_id: str, code: str, password: str | None, require_password: bool
) -> Voucher:
    """The card with this code, checking its password when one is given or required. A wrong password
    answers like an unknown code, so codes cannot be probed."""
    code = code.strip()
    v = store.get_voucher(tenant_id, code) if 0 < len(code) <= 64 else None
    if v is not None and (require_password or password is not None):
        given = (password or "").strip().encode()
        if not hmac.compare_digest(given, rt.box.decrypt(v.password_enc).encode()):
            v = None
    if v is None:
        raise NotFoundError("no card with this code and password", field="code")
    return v


def _redeemable(
    rt: Runtime, tenant_id: str, code: str, password: str | None, require_password: bool
) -> tuple[Voucher, VoucherBatch]:
    v = _find_voucher(rt, tenant_id, code, password, require_password)
    if v.status != "unused":
        raise ConflictError(f"this card is already {v.status}", field="code")
    batch = store.get_batch(v.batch_id)
    if batch is None or batch.status != "active":
        raise ConflictError("this card's batch has been revoked", field="code")
    if v.valid_until and now_iso() >= v.valid_until:
        raise ConflictError("this card has expired", field="code")
    return v, batch


def find_redeemable(rt: Runtime, tenant_id: str, code: str, password: str) -> Voucher:
    """A card that can be redeemed now (code and password right, unused, batch active, not expired);
    used to check a card before an account is created for it."""
    return _redeemable(rt, tenant_id, code, password, True)[0]


def redeem_voucher(
    rt: Runtime,
    actor: Actor,
    subscriber_id: str,
    code: str,
    password: str | None = None,
    *,
    require_password: bool = False,
) -> dict[str, Any]:
    """Redeem a card onto an existing subscriber: the card's product is assigned as a recharge (the
    residual time and traffic of the previous product are kept) and the card can never be used again.

    Of any number of concurrent redemptions of one card exactly one succeeds; the others get
    :class:`ConflictError`."""
    sub = subs.get_subscriber(actor, subscriber_id)
    v, batch = _redeemable(rt, sub.tenant_id, code, password, require_password)
    card_login = subscriber_store.login_key(v.tenant_id, v.code)
    if card_login == sub.login:
        raise ValidationError("a card cannot be redeemed onto its own login", field="code")
    now = utcnow()
    if not store.set_voucher_status(v, "unused", "redeemed", redeemed_by=sub.id):
        raise ConflictError("this card has already been used", field="code")
    login_cancelled = store.cancel_card_login(card_login)
    if not login_cancelled and subscriber_store.get_by_login(v.tenant_id, v.code) is not None:
        # the card was used to connect at the hotspot first: it is spent that way
        store.set_voucher_status(v, "redeemed", "used", expect_redeemed_by=sub.id)
        raise ConflictError("this card has already been used to connect", field="code")
    try:
        outcome = lifecycle.recharge(rt, actor, sub.id, {"product_id": v.product_id})
        validity = batch.validity or {}
        expires: str | None = None
        if validity.get("starts") == "first_login":
            expires = iso(now + timedelta(days=int(validity["days"])))
        elif validity.get("starts") == "date":
            expires = _date_window(v.tenant_id, validity)[1]
        if expires is not None:
            subs.update_subscriber(rt, actor, sub.id, {"product_expires_at": expires})
    except DomainError:
        store.set_voucher_status(v, "redeemed", "unused", expect_redeemed_by=sub.id)
        if login_cancelled:
            store.restore_card_login(card_login)
        raise
    audit(
        actor,
        v.tenant_id,
        "voucher",
        v.id,
        "redeem",
        {"status": "unused"},
        {
            "status": "redeemed",
            "subscriber_id": sub.id,
            "product_id": v.product_id,
            "price": batch.price,
            "batch_id": batch.id,
        },
    )
    fresh = subscriber_store.get_by_id(sub.id) or sub
    return {
        "code": v.code,
        "subscriber_id": sub.id,
        "username": sub.username,
        "product_id": v.product_id,
        "product_expires_at": fresh.product_expires_at,
        "system": outcome.system,
        "carried_time_min": outcome.data.get("carried_time_min"),
        "carried_data_mb": outcome.data.get("carried_data_mb"),
        "router": outcome.router,
        "warnings": outcome.warnings,
    }
