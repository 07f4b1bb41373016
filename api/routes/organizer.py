"""Organizers (and admins): volunteers of their units, credits and reversals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response

from ledger import rules
from ledger.errors import IdempotencyConflict

from api import idempotency, models, views
from api.deps import (
    AccessDep,
    DbDep,
    IdempotencyKey,
    LedgerDep,
    PageDep,
    ReversibleTransaction,
    StaffPrincipal,
    VisibleTransaction,
    VisibleVolunteer,
    ZoneDep,
)
from api.commands import command
from api.problems import responses
from api.routes.common import account_of, entries_of

router = APIRouter(prefix="/v1", tags=["organizer"])


@router.post(
    "/volunteers",
    status_code=201,
    response_model=models.RegisteredVolunteerOut,
    responses=responses(400, 401, 403, 404, 409, 415, 422),
    summary="Register a volunteer in one of your units (the reply carries their token once)",
)
def register_volunteer(
    body: models.VolunteerIn, principal: StaffPrincipal, access: AccessDep, ledger: LedgerDep, zone: ZoneDep
) -> models.RegisteredVolunteerOut:
    access.unit(body.unit_id)
    with command("register_volunteer", unit_id=body.unit_id, phone_last4=body.phone_last4, member_no=body.member_no) as c:
        volunteer = ledger.register_volunteer(
            body.name, body.unit_id, phone_last4=body.phone_last4, member_no=body.member_no
        )
        issued = ledger.issue_token("volunteer", volunteer.name, subject_id=volunteer.id)
        c.done("registered", volunteer_id=volunteer.id)
    return models.RegisteredVolunteerOut(volunteer=views.volunteer(volunteer, zone), token=views.issued(issued, zone))


@router.get(
    "/volunteers/{volunteer_id}",
    response_model=models.VolunteerOut,
    responses=responses(401, 403, 404, 422),
    summary="A volunteer of your units (a volunteer may read their own)",
)
def get_volunteer(volunteer: VisibleVolunteer, zone: ZoneDep) -> models.VolunteerOut:
    return views.volunteer(volunteer, zone)


@router.get(
    "/volunteers/{volunteer_id}/account",
    response_model=models.AccountOut,
    responses=responses(401, 403, 404, 422),
    summary="A volunteer's balance, earned, redeemed and minutes",
)
def get_volunteer_account(volunteer: VisibleVolunteer, db: DbDep) -> models.AccountOut:
    return account_of(db, volunteer.id)


@router.get(
    "/volunteers/{volunteer_id}/entries",
    response_model=models.EntryPage,
    responses=responses(400, 401, 403, 404, 422),
    summary="A volunteer's entries, newest first, by cursor",
)
def get_volunteer_entries(volunteer: VisibleVolunteer, page: PageDep, db: DbDep, zone: ZoneDep) -> models.EntryPage:
    return entries_of(db, volunteer.id, page, zone)


@router.post(
    "/credits",
    status_code=201,
    response_model=models.TransactionOut,
    responses={
        201: {"headers": idempotency.REPLAYED_DOC},
        **responses(400, 401, 403, 404, 409, 415, 422),
    },
    summary="Award points from a unit's issuing account to a volunteer",
)
def credit(
    body: models.CreditIn,
    principal: StaffPrincipal,
    access: AccessDep,
    key: IdempotencyKey,
    ledger: LedgerDep,
    zone: ZoneDep,
    response: Response,
) -> models.TransactionOut:
    access.unit(body.unit_id)
    access.volunteer(body.volunteer_id)
    with command("credit", unit_id=body.unit_id, volunteer_id=body.volunteer_id) as c:
        try:
            result = ledger.credit(
                idempotency.ledger_key(principal, key),
                body.unit_id,
                body.volunteer_id,
                body.points,
                minutes=body.minutes,
                memo=body.memo,
                actor=principal.actor(key),
                fingerprint=rules.fingerprint(["credit", body.model_dump(mode="json")]),
            )
        except IdempotencyConflict:
            raise idempotency.conflict(key) from None
        c.done("credited", transaction_id=result.transaction.id)
        c.credited("credit", sum(p.amount for p in result.transaction.postings), replayed=result.replayed)
    if result.replayed:
        response.headers[idempotency.REPLAYED_HEADER] = "true"
    return views.transaction(result.transaction, zone)


@router.get(
    "/transactions/{transaction_id}",
    response_model=models.TransactionOut,
    responses=responses(401, 403, 404, 422),
    summary="A transaction (staff of its unit; a volunteer or merchant it touches)",
)
def get_transaction(txn: VisibleTransaction, zone: ZoneDep) -> models.TransactionOut:
    return views.transaction(txn, zone)


@router.post(
    "/transactions/{transaction_id}/reversal",
    status_code=201,
    response_model=models.TransactionOut,
    responses={
        201: {"headers": idempotency.REPLAYED_DOC},
        **responses(400, 401, 403, 404, 409, 415, 422),
    },
    summary="Reverse a transaction with a compensating one (at most once)",
)
def reverse(
    original: ReversibleTransaction,
    principal: StaffPrincipal,
    key: IdempotencyKey,
    ledger: LedgerDep,
    zone: ZoneDep,
    response: Response,
    body: Annotated[models.ReversalIn | None, Body()] = None,
) -> models.TransactionOut:
    memo = body.memo if body is not None else ""
    with command("reversal", transaction_id=original.id, kind=original.kind) as c:
        result = ledger.reverse(
            original.id,
            memo=memo,
            actor=principal.actor(key),
            request_key=idempotency.ledger_key(principal, key) if key is not None else None,
        )
        c.done("reversed", reversal_id=result.transaction.id)
        c.reversed("transaction", sum(p.amount for p in result.transaction.postings), replayed=result.replayed)
    if result.replayed:
        response.headers[idempotency.REPLAYED_HEADER] = "true"
    return views.transaction(result.transaction, zone)
