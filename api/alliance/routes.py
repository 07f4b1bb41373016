"""The merchant alliance: merchants and offers (admin writes, public reads), the volunteer's
pay code, redemptions and reversals (merchants), statements (the merchant, admins)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response

from projections import alliance as queries

from api import cursors, idempotency, qr
from api.alliance import schemas as am
from api.alliance import statements, views
from api.alliance.deps import AfterCursor, AllianceDep, MerchantOrAdmin, MerchantPrincipal, OwnMerchant, VisibleRedemption
from api.auth import MERCHANT
from api.datetimes import Day
from api.cards.views import code_of
from api.deps import AdminPrincipal, CommandsDep, CurrentPrincipal, DbDep, IdempotencyKey, LedgerDep, OwnVolunteer, VisibleUnit, ZoneDep
from api.problems import Forbidden, InvalidIdempotencyKey, responses
from api.tokens.views import issued as issued_token

router = APIRouter(prefix="/v1", tags=["merchants"])

CODE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the code as JSON, or its QR image", "model": am.CodeOut, "content": qr.image_content()}
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
        merchant=views.merchant(merchant, zone), token=issued_token(issued, zone), code=alliance.merchant_code(merchant.id)
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
    rows, next_cursor = cursors.page_of(
        queries.merchants(db, unit_id=str(unit_id) if unit_id else None, after=after, limit=limit + 1), limit
    )
    return am.MerchantPage(items=[views.merchant(r, zone) for r in rows], next_cursor=next_cursor)


@router.get(
    "/merchants/me",
    response_model=am.MerchantOut,
    responses=responses(401, 403, 404),
    summary="The calling merchant (for the till page)",
)
def my_merchant(principal: MerchantPrincipal, alliance: AllianceDep, zone: ZoneDep) -> am.MerchantOut:
    assert principal.subject_id is not None
    return views.merchant(alliance.get_merchant(principal.subject_id), zone)


@router.get("/merchants/{merchant_id}", response_model=am.MerchantOut, responses=responses(404, 422), summary="A merchant (public)")
def get_merchant(merchant_id: UUID, alliance: AllianceDep, zone: ZoneDep) -> am.MerchantOut:
    return views.merchant(alliance.get_merchant(merchant_id), zone)


@router.post(
    "/merchants/{merchant_id}/suspension",
    response_model=am.MerchantOut,
    responses=responses(400, 401, 403, 404, 409, 415, 422),
    summary="Suspend a merchant: its codes and redemptions are refused (merchant_suspended)",
)
def suspend_merchant(
    merchant_id: UUID, body: am.SuspensionIn, principal: AdminPrincipal, alliance: AllianceDep, zone: ZoneDep
) -> am.MerchantOut:
    return views.merchant(alliance.suspend_merchant(merchant_id, body.reason), zone)


@router.delete(
    "/merchants/{merchant_id}/suspension",
    response_model=am.MerchantOut,
    responses=responses(401, 403, 404, 409, 422),
    summary="Reinstate a suspended merchant",
)
def reinstate_merchant(merchant_id: UUID, principal: AdminPrincipal, alliance: AllianceDep, zone: ZoneDep) -> am.MerchantOut:
    return views.merchant(alliance.reinstate_merchant(merchant_id), zone)


@router.get(
    "/merchants/{merchant_id}/code",
    responses={**CODE_RESPONSES, **responses(401, 403, 404, 422)},
    summary="The merchant's static till code (the merchant, admins)",
)
def merchant_code(
    merchant: OwnMerchant, alliance: AllianceDep, zone: ZoneDep, format: Annotated[qr.Format, Query()] = "json"
) -> Response:
    code = alliance.merchant_code(merchant.id)
    return qr.response(code, format, lambda: views.code(code, None, zone))


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
    return views.fresh_offer(offer, alliance.clock.now(), zone)


@router.get(
    "/merchants/{merchant_id}/offers",
    response_model=am.OfferPage,
    responses=responses(400, 404, 422),
    summary="A merchant's offers (public), oldest first, by cursor",
)
def list_offers(merchant_id: UUID, db: DbDep, alliance: AllianceDep, zone: ZoneDep, page: AfterCursor) -> am.OfferPage:
    alliance.get_merchant(merchant_id)
    limit, after = page
    rows, next_cursor = cursors.page_of(queries.offers(db, str(merchant_id), after=after, limit=limit + 1), limit)
    now = alliance.clock.now()
    return am.OfferPage(items=[views.offer(r, now, zone) for r in rows], next_cursor=next_cursor)


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
    return views.fresh_offer(alliance.withdraw_offer(offer_id), alliance.clock.now(), zone)


# ---------------------------------------------------------------- pay codes, redemptions, reversals


@router.get(
    "/me/pay-code",
    responses={**CODE_RESPONSES, **responses(401, 403, 404, 422)},
    summary="A fresh one-time pay code, valid 60 s (an older unexpired one stays valid until used)",
    tags=["volunteer"],
)
def pay_code(volunteer: OwnVolunteer, alliance: AllianceDep, zone: ZoneDep, format: Annotated[qr.Format, Query()] = "json") -> Response:
    issued = alliance.issue_pay_code(volunteer.id)
    headers = views.code_headers(issued.expires_at, zone, alliance.clock.now())
    return qr.response(issued.code, format, lambda: views.code(issued.code, issued.expires_at, zone), headers)


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
    result = alliance.redeem(
        principal.subject_id, body.pay_code, points=body.points, offer_id=body.offer_id,
        actor=principal.actor(key), replay_allowed=key is not None,
    )
    idempotency.mark_replayed(response, result.replayed)
    return views.redemption(result.redemption, alliance.volunteer_name(result.redemption.volunteer_id), zone)


@router.post(
    "/card-payments",
    status_code=201,
    response_model=am.RedemptionOut,
    responses={201: {"headers": idempotency.REPLAYED_DOC}, **responses(400, 401, 403, 404, 409, 415, 422, 423)},
    summary="Take a payment by member card and PIN at the till (merchants); the till's Idempotency-Key "
    "(required) pays once. Wrong PINs count towards the card's lock; a daily cap per volunteer, set per unit",
)
def pay_by_card(
    body: am.CardPaymentIn,
    principal: MerchantPrincipal,
    key: IdempotencyKey,
    alliance: AllianceDep,
    zone: ZoneDep,
    response: Response,
) -> am.RedemptionOut:
    assert principal.subject_id is not None
    if key is None:
        raise InvalidIdempotencyKey(f"a card payment needs the till's own {idempotency.HEADER} header")
    result = alliance.pay_by_card(
        principal.subject_id, code_of(body.card_code), body.pin, idempotency.ledger_key(principal, key),
        points=body.points, offer_id=body.offer_id, actor=principal.actor(key),
    )
    idempotency.mark_replayed(response, result.replayed)
    return views.redemption(result.redemption, alliance.volunteer_name(result.redemption.volunteer_id), zone)


@router.get(
    "/units/{unit_id}/card-cap",
    response_model=am.CardCapOut,
    responses=responses(401, 403, 404, 422),
    summary="The daily cap on card payments for volunteers of a unit (organizers of the unit, admins)",
    tags=["units"],
)
def card_cap(unit: VisibleUnit, alliance: AllianceDep) -> am.CardCapOut:
    return am.CardCapOut(unit_id=unit.id, daily_cap=alliance.card_cap(unit.id))


@router.put(
    "/units/{unit_id}/card-cap",
    response_model=am.CardCapOut,
    responses=responses(400, 401, 403, 404, 409, 415, 422),
    summary="Set the daily cap on card payments for a unit and the units below it that set none (admins)",
    tags=["units"],
)
def set_card_cap(unit_id: UUID, body: am.CardCapIn, principal: AdminPrincipal, alliance: AllianceDep) -> am.CardCapOut:
    alliance.set_card_cap(unit_id, body.daily_cap, by=principal.actor())
    return am.CardCapOut(unit_id=unit_id, daily_cap=alliance.card_cap(unit_id))


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
    commands: CommandsDep,
    zone: ZoneDep,
    response: Response,
) -> am.RedemptionOut:
    # Reading the till's code is part of the payment: a refused code is logged as a refused payment.
    with commands.command("payment", volunteer_id=volunteer.id, offer_id=body.offer_id):
        merchant = alliance.read_merchant_code(body.merchant_code)
        result = alliance.pay(
            volunteer.id, merchant.id, idempotency.ledger_key(principal, key), points=body.points, offer_id=body.offer_id,
            actor=principal.actor(key),
        )
    idempotency.mark_replayed(response, result.replayed)
    return views.redemption(result.redemption, volunteer.name, zone)


@router.get(
    "/redemptions/{redemption_id}",
    response_model=am.RedemptionOut,
    responses=responses(401, 403, 404, 422),
    summary="A redemption (its merchant, its volunteer, admins)",
)
def get_redemption(
    redemption: VisibleRedemption, alliance: AllianceDep, zone: ZoneDep
) -> am.RedemptionOut:
    return views.redemption(redemption, alliance.volunteer_name(redemption.volunteer_id), zone)


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
    result = alliance.reverse(
        redemption_id, reason=body.reason, actor=principal.actor(key),
        merchant_id=principal.subject_id if principal.role == MERCHANT else None, replay_allowed=key is not None,
    )
    idempotency.mark_replayed(response, result.replayed)
    return views.redemption(result.redemption, alliance.volunteer_name(result.redemption.volunteer_id), zone)


def statement_period(
    alliance: AllianceDep,
    zone: ZoneDep,
    start: Annotated[Day | None, Query(alias="from", description="first day (in the configured zone); default today")] = None,
    end: Annotated[Day | None, Query(alias="to", description="last day, inclusive; default = from")] = None,
) -> tuple[date, date]:
    start = start or alliance.clock.now().astimezone(zone).date()
    return start, end or start


Period = Annotated[tuple[date, date], Depends(statement_period)]
StatementFormat = Annotated[Literal["json", "csv"], Query()]


@router.get(
    "/merchants/{merchant_id}/statement",
    response_model=am.StatementOut,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV with `format=csv`"},
        **responses(401, 403, 404, 422),
    },
    summary="A merchant's statement (对账单) for settlement: every redemption and reversal in the period, "
    "each line and the totals split by the issuing unit that funded the points (CSV: one column per funding unit)",
)
def get_statement(
    merchant: OwnMerchant, db: DbDep, zone: ZoneDep, ledger: LedgerDep, period: Period, format: StatementFormat = "json"
) -> Any:
    start, end = period
    s = statements.statement(db, merchant, start, end, zone, ledger)
    if format == "csv":
        name = f"statement-{merchant.id.hex[:8]}-{start.isoformat()}-{end.isoformat()}.csv"
        return _csv(statements.statement_csv(s), name)
    return s


@router.get(
    "/units/{unit_id}/alliance-statement",
    response_model=am.UnitStatementOut,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV with `format=csv`"},
        **responses(401, 403, 404, 422),
    },
    summary="What a unit's budget owes the alliance: per shop, the points issued by this unit (fund lineage, "
    "whatever the volunteers' home units) redeemed there in the period (admins, organizers of the unit)",
    tags=["units"],
)
def get_unit_statement(
    unit: VisibleUnit, db: DbDep, zone: ZoneDep, ledger: LedgerDep, period: Period, format: StatementFormat = "json"
) -> Any:
    start, end = period
    s = statements.unit_statement(db, ledger, unit, start, end, zone)
    if format == "csv":
        return _csv(statements.unit_statement_csv(s), f"alliance-{unit.id.hex[:8]}-{start.isoformat()}-{end.isoformat()}.csv")
    return s


def _csv(text: str, name: str) -> Response:
    return Response(
        text.encode("utf-8"), media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
