"""The merchant alliance: merchants and offers (admin writes, public reads), the volunteer's
pay code, redemptions and reversals (merchants), statements (the merchant, admins)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Depends, Query, Response

from ledger import codes
from ledger.errors import NotFound
from merchants import rules
from merchants.application import Alliance
from merchants.domain import Merchant, Offer, Redemption
from merchants.errors import OfferUnavailable
from projections import alliance as queries
from projections.accounts import iso
from projections.db import Database

from api import alliance_models as am
from api import auth, idempotency, views
from api.auth import ADMIN, MERCHANT, ORGANIZER, VOLUNTEER, Principal
from api.deps import (
    AdminPrincipal,
    CurrentPrincipal,
    DbDep,
    IdempotencyKey,
    OwnVolunteer,
    ServicesDep,
    ZoneDep,
    decode_cursor,
    encode_cursor,
)
from api.activity_models import ScanOut
from api.datetimes import Day
from api.commands import command
from api.problems import Forbidden, responses
from api.routes.scans import Scan, handles

router = APIRouter(prefix="/v1", tags=["merchants"])

# ---------------------------------------------------------------- dependencies


def get_alliance(services: ServicesDep) -> Alliance:
    assert services.alliance is not None, "ops.wiring builds the alliance"
    return services.alliance


AllianceDep = Annotated[Alliance, Depends(get_alliance)]


def _merchant_principal(principal: CurrentPrincipal) -> Principal:
    auth.require_role(principal, (MERCHANT,))
    if principal.subject_id is None:
        raise Forbidden("this merchant token names no merchant")
    return principal


def _merchant_or_admin(principal: CurrentPrincipal) -> Principal:
    return auth.require_role(principal, (MERCHANT, ADMIN))


MerchantPrincipal = Annotated[Principal, Depends(_merchant_principal)]
MerchantOrAdmin = Annotated[Principal, Depends(_merchant_or_admin)]


def own_or_admin(merchant_id: UUID, principal: MerchantOrAdmin, alliance: AllianceDep) -> Merchant:
    """The merchant itself or an admin. Raises NotFound, Forbidden (another merchant)."""
    merchant = alliance.get_merchant(merchant_id)
    if principal.role == MERCHANT and principal.subject_id != merchant_id:
        raise Forbidden("a merchant sees only its own", merchant_id=str(merchant_id))
    return merchant


OwnMerchant = Annotated[Merchant, Depends(own_or_admin)]


def after_cursor(
    limit: Annotated[int, Query(ge=1, le=200, description="items per page")] = 50,
    cursor: Annotated[str | None, Query(max_length=100, description="`next_cursor` of the previous page")] = None,
) -> tuple[int, int | None]:
    return limit, decode_cursor(cursor) if cursor is not None else None


AfterCursor = Annotated[tuple[int, int | None], Depends(after_cursor)]
Format = Literal["png", "svg", "json"]

# ---------------------------------------------------------------- views


def merchant_out(m: Merchant | dict[str, Any], zone: Any) -> am.MerchantOut:
    if isinstance(m, dict):
        return am.MerchantOut(
            id=UUID(m["id"]), name=m["name"], unit_id=UUID(m["unit_id"]), address=m["address"], contact=m["contact"],
            suspended=bool(m["suspended"]), registered_at=views.from_row_time(m["registered_at"], zone),
        )
    return am.MerchantOut(
        id=m.id, name=m.name, unit_id=m.unit_id, address=m.address, contact=m.contact, suspended=m.suspended,
        registered_at=views.zoned(m.registered_at, zone),
    )


def offer_out(row: dict[str, Any], now: datetime, zone: Any) -> am.OfferOut:
    starts = views.from_row_time(row["starts_at"], zone) if row["starts_at"] else None
    ends = views.from_row_time(row["ends_at"], zone) if row["ends_at"] else None
    stock = int(row["stock"]) if row["stock"] is not None else None
    taken = int(row["taken"])
    try:
        rules.check_offer_open(withdrawn=bool(row["withdrawn"]), starts_at=starts, ends_at=ends, stock=stock, taken=taken, now=now)
        available = True
    except OfferUnavailable:
        available = False
    return am.OfferOut(
        id=UUID(row["id"]), merchant_id=UUID(row["merchant_id"]), title=row["title"], points=int(row["points"]),
        stock=stock, stock_left=rules.stock_left(stock, taken), limit=row["lim"], limit_period=row["limit_period"],
        starts_at=starts, ends_at=ends, withdrawn=bool(row["withdrawn"]), available=available,
    )


def fresh_offer_out(o: Offer, now: datetime, zone: Any) -> am.OfferOut:
    row = {
        "id": str(o.id), "merchant_id": str(o.merchant_id), "title": o.title, "points": o.points, "stock": o.stock,
        "taken": o.taken, "lim": o.limit, "limit_period": o.limit_period, "withdrawn": o.withdrawn,
        "starts_at": o.starts_at.isoformat() if o.starts_at else None, "ends_at": o.ends_at.isoformat() if o.ends_at else None,
    }
    return offer_out(row, now, zone)


def redemption_out(r: Redemption, volunteer_name: str, zone: Any) -> am.RedemptionOut:
    return am.RedemptionOut(
        id=r.id, transaction_id=r.transaction_id, merchant_id=r.merchant_id, volunteer_id=r.volunteer_id,
        volunteer_name=rules.mask_name(volunteer_name), offer_id=r.offer_id, title=r.title,
        points=r.points, via=r.via, at=views.zoned(r.at, zone), reversed_by=r.reversed_by, reversal_reason=r.reversal_reason,
    )


def code_response(code: str, fmt: str, expires_at: datetime | None, zone: Any, now: datetime | None = None) -> Response:
    headers = {"Cache-Control": "no-store"}
    if expires_at is not None:
        headers["X-Expires-At"] = views.zoned(expires_at, zone).isoformat()
        if now is not None:  # by the server's clock, so a phone with a wrong clock still renews in time
            headers["X-Expires-In"] = str(max(0, int((expires_at - now).total_seconds())))
    if fmt == "json":
        body = am.CodeOut(code=code, expires_at=views.zoned(expires_at, zone) if expires_at else None)
        return Response(body.model_dump_json(), media_type="application/json", headers=headers)
    buf = io.BytesIO()
    if fmt == "svg":
        qrcode.make(code, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2).save(buf)
        return Response(buf.getvalue(), media_type="image/svg+xml", headers=headers)
    qrcode.make(code, box_size=10, border=2).save(buf)
    return Response(buf.getvalue(), media_type="image/png", headers=headers)


CODE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the code as JSON, or its QR image",
        "model": am.CodeOut,
        "content": {
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "image/svg+xml": {"schema": {"type": "string"}},
        },
    }
}

# ---------------------------------------------------------------- merchants


@router.post(
    "/merchants",
    status_code=201,
    response_model=am.RegisteredMerchantOut,
    responses=responses(400, 401, 403, 404, 415, 422),
    summary="Register a merchant of the alliance (the reply carries its token once)",
)
def register_merchant(body: am.MerchantIn, principal: AdminPrincipal, alliance: AllianceDep, zone: ZoneDep) -> am.RegisteredMerchantOut:
    merchant, issued = alliance.register_merchant(body.name, body.unit_id, address=body.address, contact=body.contact)
    return am.RegisteredMerchantOut(
        merchant=merchant_out(merchant, zone), token=views.issued(issued, zone), code=alliance.merchant_code(merchant.id)
    )


@router.get(
    "/merchants",
    response_model=am.MerchantPage,
    responses=responses(400, 422),
    summary="Merchants of the alliance (public), optionally of one unit and the units below it",
)
def list_merchants(
    db: DbDep,
    zone: ZoneDep,
    page: AfterCursor,
    unit_id: Annotated[UUID | None, Query(description="this unit and every unit below it")] = None,
) -> am.MerchantPage:
    limit, after = page
    rows = queries.merchants(db, unit_id=str(unit_id) if unit_id else None, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return am.MerchantPage(
        items=[merchant_out(r, zone) for r in rows], next_cursor=encode_cursor(int(rows[-1]["seq"])) if more else None
    )


@router.get(
    "/merchants/me",
    response_model=am.MerchantOut,
    responses=responses(401, 403, 404),
    summary="The calling merchant (for the till page)",
)
def my_merchant(principal: MerchantPrincipal, alliance: AllianceDep, zone: ZoneDep) -> am.MerchantOut:
    assert principal.subject_id is not None
    return merchant_out(alliance.get_merchant(principal.subject_id), zone)


@router.get("/merchants/{merchant_id}", response_model=am.MerchantOut, responses=responses(404, 422), summary="A merchant (public)")
def get_merchant(merchant_id: UUID, alliance: AllianceDep, zone: ZoneDep) -> am.MerchantOut:
    return merchant_out(alliance.get_merchant(merchant_id), zone)


@router.post(
    "/merchants/{merchant_id}/suspension",
    response_model=am.MerchantOut,
    responses=responses(400, 401, 403, 404, 409, 415, 422),
    summary="Suspend a merchant: its codes and redemptions are refused (merchant_suspended)",
)
def suspend_merchant(
    merchant_id: UUID, body: am.SuspensionIn, principal: AdminPrincipal, alliance: AllianceDep, zone: ZoneDep
) -> am.MerchantOut:
    return merchant_out(alliance.suspend_merchant(merchant_id, body.reason), zone)


@router.delete(
    "/merchants/{merchant_id}/suspension",
    response_model=am.MerchantOut,
    responses=responses(401, 403, 404, 409, 422),
    summary="Reinstate a suspended merchant",
)
def reinstate_merchant(merchant_id: UUID, principal: AdminPrincipal, alliance: AllianceDep, zone: ZoneDep) -> am.MerchantOut:
    return merchant_out(alliance.reinstate_merchant(merchant_id), zone)


@router.get(
    "/merchants/{merchant_id}/code",
    responses={**CODE_RESPONSES, **responses(401, 403, 404, 422)},
    summary="The merchant's static till code (the merchant, admins)",
)
def merchant_code(
    merchant: OwnMerchant, alliance: AllianceDep, zone: ZoneDep, format: Annotated[Format, Query()] = "json"
) -> Response:
    return code_response(alliance.merchant_code(merchant.id), format, None, zone)


# ---------------------------------------------------------------- offers


@router.post(
    "/merchants/{merchant_id}/offers",
    status_code=201,
    response_model=am.OfferOut,
    responses=responses(400, 401, 403, 404, 415, 422),
    summary="Add an offer (兑换项目) to a merchant (admins, or the merchant itself)",
)
def create_offer(body: am.OfferIn, merchant: OwnMerchant, alliance: AllianceDep, zone: ZoneDep) -> am.OfferOut:
    offer = alliance.create_offer(
        merchant.id, body.title, body.points, stock=body.stock, limit=body.limit, limit_period=body.limit_period,
        starts_at=body.starts_at, ends_at=body.ends_at,
    )
    return fresh_offer_out(offer, alliance.clock.now(), zone)


@router.get(
    "/merchants/{merchant_id}/offers",
    response_model=am.OfferPage,
    responses=responses(400, 404, 422),
    summary="A merchant's offers (public), oldest first, by cursor",
)
def list_offers(merchant_id: UUID, db: DbDep, alliance: AllianceDep, zone: ZoneDep, page: AfterCursor) -> am.OfferPage:
    alliance.get_merchant(merchant_id)
    limit, after = page
    rows = queries.offers(db, str(merchant_id), after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    now = alliance.clock.now()
    return am.OfferPage(
        items=[offer_out(r, now, zone) for r in rows], next_cursor=encode_cursor(int(rows[-1]["seq"])) if more else None
    )


@router.post(
    "/offers/{offer_id}/withdrawal",
    response_model=am.OfferOut,
    responses=responses(401, 403, 404, 409, 422),
    summary="Withdraw an offer (admins, or its merchant)",
)
def withdraw_offer(offer_id: UUID, principal: MerchantOrAdmin, alliance: AllianceDep, zone: ZoneDep) -> am.OfferOut:
    offer = alliance.get_offer(offer_id)
    if principal.role == MERCHANT and principal.subject_id != offer.merchant_id:
        raise Forbidden("this offer belongs to another merchant", offer_id=str(offer_id))
    return fresh_offer_out(alliance.withdraw_offer(offer_id), alliance.clock.now(), zone)


# ---------------------------------------------------------------- pay codes, redemptions, reversals


@router.get(
    "/me/pay-code",
    responses={**CODE_RESPONSES, **responses(401, 403, 404, 422)},
    summary="A fresh one-time pay code, valid 60 s (an older unexpired one stays valid until used)",
    tags=["volunteer"],
)
def pay_code(volunteer: OwnVolunteer, alliance: AllianceDep, zone: ZoneDep, format: Annotated[Format, Query()] = "json") -> Response:
    with command("pay_code", volunteer_id=volunteer.id) as c:
        issued = alliance.issue_pay_code(volunteer.id)
        c.done("issued")
    return code_response(issued.code, format, issued.expires_at, zone, alliance.clock.now())


@router.post(
    "/redemptions",
    status_code=201,
    response_model=am.RedemptionOut,
    responses={201: {"headers": idempotency.REPLAYED_DOC}, **responses(400, 401, 403, 404, 409, 415, 422)},
    summary="Redeem a volunteer's pay code for points or an offer (merchants), at most once per code",
)
def redeem(
    body: am.RedemptionIn,
    principal: MerchantPrincipal,
    key: IdempotencyKey,
    alliance: AllianceDep,
    zone: ZoneDep,
    response: Response,
) -> am.RedemptionOut:
    assert principal.subject_id is not None
    with command("redemption", merchant_id=principal.subject_id, offer_id=body.offer_id) as c:
        result = alliance.redeem(
            principal.subject_id, body.pay_code, points=body.points, offer_id=body.offer_id,
            actor=principal.actor(key), replay_allowed=key is not None,
        )
        c.done("redeemed", redemption_id=result.redemption.id, volunteer_id=result.redemption.volunteer_id)
        c.redeemed("redemption", result.redemption.points, replayed=result.replayed)
    if result.replayed:
        response.headers[idempotency.REPLAYED_HEADER] = "true"
    return redemption_out(result.redemption, alliance.volunteer_name(result.redemption.volunteer_id), zone)


@handles(codes.MERCHANT)
def merchant_scan(s: Scan) -> ScanOut:
    """Scanning a till's code starts a payment: the reply shows the shop and its open offers;
    the volunteer confirms with POST /v1/me/payments."""
    alliance = s.services.alliance
    assert alliance is not None
    merchant = alliance.read_merchant_code(s.body.code)
    now = alliance.clock.now()
    offers = [offer_out(r, now, s.zone) for r in queries.offers(s.services.db, str(merchant.id), after=None, limit=200)]
    return ScanOut(
        kind="merchant", action="pay", replayed=False,
        merchant=am.ScanMerchant(
            id=merchant.id, name=merchant.name, address=merchant.address, code=s.body.code,
            offers=[o for o in offers if o.available],
        ),
    )


@router.post(
    "/me/payments",
    status_code=201,
    response_model=am.RedemptionOut,
    responses={201: {"headers": idempotency.REPLAYED_DOC}, **responses(400, 401, 403, 404, 409, 415, 422)},
    summary="Pay a merchant whose till code you scanned (volunteers); the same Idempotency-Key pays once",
    tags=["volunteer"],
)
def pay_merchant(
    body: am.PaymentIn,
    volunteer: OwnVolunteer,
    principal: CurrentPrincipal,
    key: IdempotencyKey,
    alliance: AllianceDep,
    zone: ZoneDep,
    response: Response,
) -> am.RedemptionOut:
    with command("payment", volunteer_id=volunteer.id, offer_id=body.offer_id) as c:
        merchant = alliance.read_merchant_code(body.merchant_code)
        result = alliance.pay(
            volunteer.id, merchant.id, idempotency.ledger_key(principal, key), points=body.points, offer_id=body.offer_id,
            actor=principal.actor(key),
        )
        c.done("paid", merchant_id=merchant.id, redemption_id=result.redemption.id)
        c.redeemed("payment", result.redemption.points, replayed=result.replayed)
    if result.replayed:
        response.headers[idempotency.REPLAYED_HEADER] = "true"
    return redemption_out(result.redemption, volunteer.name, zone)


def visible_redemption(redemption_id: UUID, principal: CurrentPrincipal, alliance: AllianceDep) -> Redemption:
    """Its merchant, its volunteer, admins. Raises NotFound (also for anyone else), Forbidden (staff)."""
    redemption = alliance.get_redemption(redemption_id)
    if principal.role == ADMIN:
        return redemption
    if principal.role == MERCHANT and principal.subject_id == redemption.merchant_id:
        return redemption
    if principal.role == VOLUNTEER and principal.subject_id == redemption.volunteer_id:
        return redemption
    if principal.role == ORGANIZER:
        raise Forbidden("only an admin, the merchant or the volunteer can see a redemption")
    raise NotFound("redemption not found", id=str(redemption_id))


@router.get(
    "/redemptions/{redemption_id}",
    response_model=am.RedemptionOut,
    responses=responses(401, 403, 404, 422),
    summary="A redemption (its merchant, its volunteer, admins)",
)
def get_redemption(
    redemption: Annotated[Redemption, Depends(visible_redemption)], alliance: AllianceDep, zone: ZoneDep
) -> am.RedemptionOut:
    return redemption_out(redemption, alliance.volunteer_name(redemption.volunteer_id), zone)


@router.post(
    "/redemptions/{redemption_id}/reversal",
    status_code=201,
    response_model=am.RedemptionOut,
    responses={201: {"headers": idempotency.REPLAYED_DOC}, **responses(400, 401, 403, 404, 409, 415, 422)},
    summary="Undo a redemption with a compensating posting, once (the merchant that took it, admins)",
)
def reverse_redemption(
    redemption_id: UUID,
    body: am.ReversalIn,
    principal: MerchantOrAdmin,
    key: IdempotencyKey,
    alliance: AllianceDep,
    zone: ZoneDep,
    response: Response,
) -> am.RedemptionOut:
    with command("redemption_reversal", redemption_id=redemption_id) as c:
        result = alliance.reverse(
            redemption_id, reason=body.reason, actor=principal.actor(key),
            merchant_id=principal.subject_id if principal.role == MERCHANT else None, replay_allowed=key is not None,
        )
        c.done("reversed")
        c.reversed("redemption", result.redemption.points, replayed=result.replayed)
    if result.replayed:
        response.headers[idempotency.REPLAYED_HEADER] = "true"
    return redemption_out(result.redemption, alliance.volunteer_name(result.redemption.volunteer_id), zone)


# ---------------------------------------------------------------- statements

CSV_COLUMNS = ["时间 time", "类型 kind", "积分 points", "兑换项目 offer", "志愿者 volunteer", "备注 memo", "兑换号 redemption", "流水号 transaction"]


def statement(db: Database, merchant: Merchant, start: date, end: date, zone: Any) -> am.StatementOut:
    lo, hi = rules.statement_window(start, end, zone)
    rows = queries.statement(db, str(merchant.id), _utc_text(lo), _utc_text(hi))
    lines = [
        am.StatementLine(
            transaction_id=UUID(r["transaction_id"]), kind=r["kind"], points=int(r["points"]),
            redemption_id=UUID(r["redemption_id"]) if r["redemption_id"] else None,
            offer_id=UUID(r["offer_id"]) if r["offer_id"] else None, title=r["offer_title"] or "",
            volunteer=rules.mask_name(r["volunteer_name"]), memo=r["memo"], at=views.from_row_time(r["at"], zone),
            reverses=UUID(r["reverses"]) if r["reverses"] else None,
        )
        for r in rows
    ]
    return am.StatementOut.model_validate(
        {
            "merchant_id": merchant.id, "merchant_name": merchant.name, "from": start, "to": end, "timezone": str(zone),
            "lines": lines, "totals": am.StatementTotals(**rules.statement_totals(rows)),
        }
    )


def _utc_text(dt: datetime) -> str:
    return iso(dt)


def statement_csv(s: am.StatementOut) -> str:
    """UTF-8 with a byte-order mark and CRLF lines: Excel opens it with the Chinese intact."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([f"{s.merchant_name} 对账单 statement", f"{s.start.isoformat()} ~ {s.end.isoformat()}", s.timezone])
    w.writerow(CSV_COLUMNS)
    for line in s.lines:
        w.writerow([
            line.at.strftime("%Y-%m-%d %H:%M:%S"), "兑换 redemption" if line.points > 0 else "撤销 reversal", line.points,
            line.title, line.volunteer, _cell(line.memo), str(line.redemption_id or ""), str(line.transaction_id),
        ])
    t = s.totals
    w.writerow([])
    w.writerow(["兑换笔数 redemptions", t.redemptions, "兑换积分 redeemed", t.redeemed])
    w.writerow(["撤销笔数 reversals", t.reversals, "撤销积分 reversed", t.reversed])
    w.writerow(["净积分 net", t.net])
    return "\ufeff" + out.getvalue()


def _cell(text: str) -> str:
    """A memo never starts a formula when the file is opened in a spreadsheet."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


@router.get(
    "/merchants/{merchant_id}/statement",
    response_model=am.StatementOut,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV with `format=csv`"},
        **responses(401, 403, 404, 422),
    },
    summary="A merchant's statement (对账单) for settlement: every redemption and reversal in the period",
)
def get_statement(
    merchant: OwnMerchant,
    db: DbDep,
    zone: ZoneDep,
    alliance: AllianceDep,
    start: Annotated[Day | None, Query(alias="from", description="first day (in the configured zone); default today")] = None,
    end: Annotated[Day | None, Query(alias="to", description="last day, inclusive; default = from")] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    start = start or alliance.clock.now().astimezone(zone).date()
    end = end or start
    s = statement(db, merchant, start, end, zone)
    if format == "csv":
        name = f"statement-{merchant.id.hex[:8]}-{start.isoformat()}-{end.isoformat()}.csv"
        return Response(
            statement_csv(s).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return s
