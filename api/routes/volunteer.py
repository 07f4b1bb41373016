"""Volunteers: their own profile, balance and history."""

from __future__ import annotations

from fastapi import APIRouter

from api import models, views
from api.deps import DbDep, OwnVolunteer, PageDep, ZoneDep
from api.problems import responses
from api.routes.common import account_of, entries_of

router = APIRouter(prefix="/v1/me", tags=["volunteer"])


@router.get("", response_model=models.VolunteerOut, responses=responses(401, 403, 404), summary="My profile")
def me(volunteer: OwnVolunteer, zone: ZoneDep) -> models.VolunteerOut:
    return views.volunteer(volunteer, zone)


@router.get(
    "/account", response_model=models.AccountOut, responses=responses(401, 403, 404), summary="My balance, earned, redeemed, minutes"
)
def my_account(volunteer: OwnVolunteer, db: DbDep) -> models.AccountOut:
    return account_of(db, volunteer.id)


@router.get(
    "/entries",
    response_model=models.EntryPage,
    responses=responses(400, 401, 403, 404, 422),
    summary="My entries, newest first, by cursor",
)
def my_entries(volunteer: OwnVolunteer, page: PageDep, db: DbDep, zone: ZoneDep) -> models.EntryPage:
    return entries_of(db, volunteer.id, page, zone)
