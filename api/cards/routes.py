"""Member cards (issue, re-issue, unlock, QR, printable sheets), PIN sign-in, the volunteer's
PIN change, and one-time sign-in links for shop staff and organizers."""

from __future__ import annotations

import math
from pathlib import Path
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from ledger.cards.service import Cards
from ledger.errors import LedgerError, NotFound

from api import ratelimit
from api.cards import schemas, sheet, views
from api.cards.deps import CardsDep
from api.deps import (
    AccessDep, AdminPrincipal, CommandsDep, LedgerDep, OwnVolunteer, ServicesDep, StaffPrincipal, VisibleVolunteer, ZoneDep,
)
from api.problems import Problem, responses
from api.tokens.views import issued
from api.volunteers.views import volunteer as volunteer_view

router = APIRouter(prefix="/v1", tags=["cards"])

MAX_SHEET = 200
PAGES = Path(__file__).resolve().parent.parent / "web" / "pages"
# Refusals of the public sign-in routes that mean someone is guessing: each costs the client's
# address one failed attempt of the same budget a bad token costs (``api.ratelimit``).
GUESSES = frozenset({"pin_wrong", "card_locked", "card_revoked", "code_invalid", "link_invalid", "link_used", "link_expired"})


class RateLimited(Problem):
    status, code, title = 429, "rate_limited", "Too many requests"


class InputInvalid(Problem):
    """Input the schema cannot say (one of two fields, a list in one query parameter)."""

    status, code, title = 422, "validation_error", "Invalid request"


def base_url(request: Request) -> str:
    return str(request.base_url)


@contextmanager
def counted_guesses(request: Request) -> Iterator[None]:
    """Refuse a client that used up its failed attempts; charge it for each guess it makes."""
    limits: ratelimit.Limits | None = getattr(request.app.state, "limits", None)
    client = ratelimit.Client(request.client.host if request.client else "unknown", None)
    if limits is not None and limits.enabled and (wait := limits.blocked(client)):
        retry = max(1, math.ceil(wait)) if math.isfinite(wait) else 3600
        raise RateLimited("too many failed attempts from this client; try again later",
                          headers={"Retry-After": str(retry)}, limit=ratelimit.FAILURES, retry_after=retry)
    try:
        yield
    except LedgerError as e:
        if limits is not None and limits.enabled and e.code in GUESSES:
            limits.failed(client, by_token=False)
        raise


def _card_out(cards: Cards, card: Any, request: Request, zone: Any) -> schemas.CardOut:
    return views.card(card, cards.code_for(card), base_url(request), zone)


# ---------------------------------------------------------------- organizers: a volunteer's card


@router.post(
    "/volunteers/{volunteer_id}/card",
    status_code=201,
    response_model=schemas.CardOut,
    responses=responses(400, 401, 403, 404, 409, 415, 422),
    summary="Issue a volunteer's member card with a PIN, or re-issue it (the old card and its sign-ins stop working)",
)
def issue_card(
    volunteer_id: UUID, body: schemas.CardIssueIn, principal: StaffPrincipal, access: AccessDep, cards: CardsDep,
    request: Request, zone: ZoneDep, commands: CommandsDep,
) -> schemas.CardOut:
    access.volunteer(volunteer_id)
    with commands.command("issue_card", volunteer_id=volunteer_id) as c:
        card = cards.issue(volunteer_id, body.pin)
        c.done("issued", serial=card.serial)
    return _card_out(cards, card, request, zone)


@router.post(
    "/volunteers/{volunteer_id}/card/unlock",
    response_model=schemas.CardOut,
    responses=responses(401, 403, 404, 409, 422),
    summary="Unlock a card locked by wrong PINs",
)
def unlock_card(
    volunteer_id: UUID, principal: StaffPrincipal, access: AccessDep, cards: CardsDep, request: Request, zone: ZoneDep,
    commands: CommandsDep,
) -> schemas.CardOut:
    access.volunteer(volunteer_id)
    with commands.command("unlock_card", volunteer_id=volunteer_id) as c:
        card = cards.unlock(volunteer_id, by=principal.actor())
        c.done("unlocked", serial=card.serial)
    return _card_out(cards, card, request, zone)


@router.get(
    "/volunteers/{volunteer_id}/card",
    responses={
        200: {
            "description": "the card's QR (its URL, with the card code in the fragment) as PNG or SVG, or the card as JSON",
            "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/svg+xml": {"schema": {"type": "string"}},
                "application/json": {"schema": {"$ref": "#/components/schemas/CardOut"}},
            },
        },
        **responses(401, 403, 404, 422),
    },
    response_model=None,
    summary="A volunteer's member card (staff of their units; a volunteer their own)",
)
def get_card(
    volunteer: VisibleVolunteer, cards: CardsDep, request: Request, zone: ZoneDep,
    format: Annotated[schemas.CardFormat, Query()] = "json",  # noqa: A002
) -> Any:
    out = _card_out(cards, cards.get(volunteer.id), request, zone)
    headers = {"Cache-Control": "no-store"}
    if format == "svg":
        return Response(views.qr_svg(out.url), media_type="image/svg+xml", headers=headers)
    if format == "png":
        return Response(views.qr_png(out.url), media_type="image/png", headers=headers)
    return Response(out.model_dump_json(), media_type="application/json", headers=headers)


def _volunteer_ids(values: list[str]) -> list[UUID]:
    """Raises InputInvalid."""
    ids: list[UUID] = []
    for part in (p.strip() for v in values for p in v.split(",")):
        if not part:
            continue
        try:
            ids.append(UUID(part))
        except ValueError:
            raise InputInvalid(f"not a volunteer id: {part[:40]!r}") from None
    ids = list(dict.fromkeys(ids))
    if not ids or len(ids) > MAX_SHEET:
        raise InputInvalid(f"name 1 to {MAX_SHEET} volunteers")
    return ids


@router.get(
    "/cards/sheet",
    responses={
        200: {
            "description": "A4 pages of member cards, as PDF (a CJK font embedded) or print-ready HTML",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}},
                        "text/html": {"schema": {"type": "string"}}},
        },
        **responses(401, 403, 404, 422),
    },
    response_model=None,
    summary="Printable member cards of chosen volunteers of your units (8 or 10 a page)",
)
def card_sheet(
    principal: StaffPrincipal, access: AccessDep, ledger: LedgerDep, cards: CardsDep, request: Request,
    volunteer_ids: Annotated[list[str], Query(description="volunteer ids, comma-separated or repeated (at most 200)")],
    per_page: Annotated[int, Query(description="cards a page: 8 or 10")] = 8,
    format: Annotated[schemas.SheetFormat, Query()] = "pdf",  # noqa: A002
) -> Response:
    if per_page not in sheet.PER_PAGE:
        raise InputInvalid("per_page is 8 or 10")
    faces = []
    units: dict[UUID, str] = {}
    for volunteer_id in _volunteer_ids(volunteer_ids):
        volunteer = access.volunteer(volunteer_id)
        card = cards.get(volunteer_id)
        if volunteer.unit_id not in units:
            unit = ledger.get_unit(volunteer.unit_id)
            parent = ledger.get_unit(unit.parent_id).name if unit.parent_id else None
            units[volunteer.unit_id] = f"{parent} · {unit.name}" if parent else unit.name
        url = views.card_url(base_url(request), cards.code_for(card))
        faces.append(sheet.CardFace(volunteer.name, volunteer.member_no, units[volunteer.unit_id], card.serial, url))
    title = "道德银行 会员卡"
    headers = {"Cache-Control": "no-store"}
    if format == "html":
        return Response(sheet.html_sheet(faces, per_page, title), media_type="text/html; charset=utf-8", headers=headers)
    headers["Content-Disposition"] = 'inline; filename="member-cards.pdf"'
    return Response(sheet.pdf(faces, per_page, title), media_type="application/pdf", headers=headers)


# ---------------------------------------------------------------- residents: card + PIN


@router.post(
    "/card-sessions",
    status_code=201,
    response_model=schemas.CardSessionOut,
    responses=responses(400, 401, 404, 415, 422, 423),
    summary="Sign in with a member card's code and its PIN: a new volunteer token (public)",
)
def card_session(
    body: schemas.CardSessionIn, cards: CardsDep, request: Request, zone: ZoneDep, commands: CommandsDep
) -> schemas.CardSessionOut:
    with counted_guesses(request), commands.command("card_sign_in") as c:
        signed = cards.sign_in(views.code_of(body.card_code), body.pin)
        c.done("signed_in", volunteer_id=signed.volunteer.id, serial=signed.card.serial)
    return schemas.CardSessionOut(volunteer=volunteer_view(signed.volunteer, zone), token=issued(signed.issued, zone))


@router.put(
    "/me/pin",
    response_model=schemas.CardOut,
    responses=responses(400, 401, 403, 404, 415, 422, 423),
    summary="Change my card's PIN (the current one is checked, and counts as a try)",
)
def change_pin(
    body: schemas.PinChangeIn, volunteer: OwnVolunteer, cards: CardsDep, request: Request, zone: ZoneDep, commands: CommandsDep
) -> schemas.CardOut:
    with commands.command("change_pin", volunteer_id=volunteer.id) as c:
        card = cards.change_pin(volunteer.id, body.current_pin, body.new_pin)
        c.done("changed", serial=card.serial)
    return _card_out(cards, card, request, zone)


# ---------------------------------------------------------------- staff: one-time sign-in links


@router.post(
    "/signin-links",
    status_code=201,
    response_model=schemas.SigninLinkOut,
    responses=responses(400, 401, 403, 404, 415, 422),
    summary="A one-time sign-in link (QR) for a shop's staff or an organizer, valid 7 days",
)
def create_signin_link(
    body: schemas.SigninLinkIn, principal: AdminPrincipal, services: ServicesDep, cards: CardsDep, request: Request, zone: ZoneDep,
    commands: CommandsDep,
) -> schemas.SigninLinkOut:
    name = body.name
    if body.role == "merchant":
        if body.merchant_id is None or body.unit_ids:
            raise InputInvalid("a shop's link names merchant_id and no unit_ids")
        if services.alliance is None:
            raise NotFound("merchant not found", id=str(body.merchant_id))
        name = name or services.alliance.get_merchant(body.merchant_id).name
    elif body.merchant_id is not None or not body.unit_ids:
        raise InputInvalid("an organizer's link names unit_ids and no merchant_id")
    with commands.command("create_signin_link", role=body.role) as c:
        new = cards.create_link(body.role, name or "organizer", unit_ids=body.unit_ids, subject_id=body.merchant_id,
                                created_by=principal.actor())
        c.done("created", link_id=new.link.id)
    return views.link(new.link, views.link_url(base_url(request), new.secret), zone)


def next_page(role: str) -> str:
    if role == "merchant":
        return "/pages/till"
    return "/pages/console" if (PAGES / "console.html").is_file() else "/pages/activity-screen"


@router.post(
    "/signin-links/exchange",
    status_code=201,
    response_model=schemas.SigninExchangeOut,
    responses=responses(400, 401, 409, 410, 415, 422),
    summary="Exchange a sign-in link's secret for its bearer token, once (public)",
)
def exchange_signin_link(
    body: schemas.SigninExchangeIn, cards: CardsDep, request: Request, zone: ZoneDep, commands: CommandsDep
) -> schemas.SigninExchangeOut:
    with counted_guesses(request), commands.command("signin_link_exchange") as c:
        link, token = cards.exchange_link(body.token)
        c.done("exchanged", link_id=link.id, role=link.role)
    return schemas.SigninExchangeOut(token=issued(token, zone), next=next_page(link.role))

