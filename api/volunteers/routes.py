"""Volunteers: organizers register and read those of their units; a volunteer reads their own."""

from __future__ import annotations

from fastapi import APIRouter

from api.cards.deps import CardsDep
from api.deps import AccessDep, DbDep, LedgerDep, OwnVolunteer, PageDep, StaffPrincipal, VisibleVolunteer, ZoneDep
from api.problems import responses
from api.tokens.views import issued
from api.volunteers import views
from api.volunteers.schemas import AccountOut, EntryPage, MoveVolunteerIn, RegisteredVolunteerOut, VolunteerIn, VolunteerOut

# Each route names its audience (the tag) itself: organizers', a volunteer's own, and the move
# (documented beside the leaderboards it changes).
router = APIRouter(prefix="/v1")
ORGANIZER, VOLUNTEER, LEADERBOARDS = ["organizer"], ["volunteer"], ["leaderboards"]


@router.post(
    "/volunteers",
    status_code=201,
    response_model=RegisteredVolunteerOut,
    responses=responses(400, 401, 403, 404, 409, 415, 422),
    summary="Register a volunteer in one of your units (the reply carries their token once)",
    tags=ORGANIZER,
)
def register_volunteer(
    body: VolunteerIn, principal: StaffPrincipal, access: AccessDep, ledger: LedgerDep, zone: ZoneDep, cards: CardsDep
) -> RegisteredVolunteerOut:
    access.unit(body.unit_id)
    pin = body.pin
    volunteer = ledger.register_volunteer(
        body.name, body.unit_id, phone_last4=body.phone_last4, member_no=body.member_no,
        also_save=(lambda v: [cards.new_card(v.id, pin)]) if pin is not None else None,
    )
    token = ledger.issue_token("volunteer", volunteer.name, subject_id=volunteer.id)
    return RegisteredVolunteerOut(volunteer=views.volunteer(volunteer, zone), token=issued(token, zone))


@router.get(
    "/volunteers/{volunteer_id}",
    response_model=VolunteerOut,
    responses=responses(401, 403, 404, 422),
    summary="A volunteer of your units (a volunteer may read their own)",
    tags=ORGANIZER,
)
def get_volunteer(volunteer: VisibleVolunteer, zone: ZoneDep) -> VolunteerOut:
    return views.volunteer(volunteer, zone)


@router.get(
    "/volunteers/{volunteer_id}/account",
    response_model=AccountOut,
    responses=responses(401, 403, 404, 422),
    summary="A volunteer's balance, earned, redeemed and minutes",
    tags=ORGANIZER,
)
def get_volunteer_account(volunteer: VisibleVolunteer, db: DbDep, ledger: LedgerDep) -> AccountOut:
    return views.account_of(db, volunteer.id, ledger)


@router.get(
    "/volunteers/{volunteer_id}/entries",
    response_model=EntryPage,
    responses=responses(400, 401, 403, 404, 422),
    summary="A volunteer's entries, newest first, by cursor",
    tags=ORGANIZER,
)
def get_volunteer_entries(volunteer: VisibleVolunteer, page: PageDep, db: DbDep, zone: ZoneDep) -> EntryPage:
    return views.entries_of(db, volunteer.id, page, zone)


@router.get("/me", response_model=VolunteerOut, responses=responses(401, 403, 404), summary="My profile", tags=VOLUNTEER)
def me(volunteer: OwnVolunteer, zone: ZoneDep) -> VolunteerOut:
    return views.volunteer(volunteer, zone)


@router.get(
    "/me/account",
    response_model=AccountOut,
    responses=responses(401, 403, 404),
    summary="My balance, earned, redeemed, minutes",
    tags=VOLUNTEER,
)
def my_account(volunteer: OwnVolunteer, db: DbDep, ledger: LedgerDep) -> AccountOut:
    return views.account_of(db, volunteer.id, ledger)


@router.get(
    "/me/entries",
    response_model=EntryPage,
    responses=responses(400, 401, 403, 404, 422),
    summary="My entries, newest first, by cursor",
    tags=VOLUNTEER,
)
def my_entries(volunteer: OwnVolunteer, page: PageDep, db: DbDep, zone: ZoneDep) -> EntryPage:
    return views.entries_of(db, volunteer.id, page, zone)


@router.post(
    "/volunteers/{volunteer_id}/move",
    response_model=VolunteerOut,
    responses=responses(400, 401, 403, 404, 409, 415, 422),
    summary="Move a volunteer to another home unit (later points count there; earlier ones stay)",
    tags=LEADERBOARDS,
)
def move_volunteer(
    principal: StaffPrincipal,
    volunteer: VisibleVolunteer,
    body: MoveVolunteerIn,
    access: AccessDep,
    ledger: LedgerDep,
    zone: ZoneDep,
) -> VolunteerOut:
    access.unit(body.unit_id)
    return views.volunteer(ledger.move_volunteer(volunteer.id, body.unit_id), zone)
