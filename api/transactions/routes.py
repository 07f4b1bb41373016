"""Organizers (and admins): credits from a unit's issuing account, transactions, reversals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response

from ledger import rules
from ledger.errors import IdempotencyConflict

from api import idempotency
from api.deps import AccessDep, IdempotencyKey, LedgerDep, ReversibleTransaction, StaffPrincipal, VisibleTransaction, ZoneDep
from api.problems import responses
from api.transactions.schemas import CreditIn, ReversalIn, TransactionOut
from api.transactions.views import transaction

router = APIRouter(prefix="/v1", tags=["organizer"])


@router.post(
    "/credits",
    status_code=201,
    response_model=TransactionOut,
    responses={
        201: {"headers": idempotency.REPLAYED_DOC},
        **responses(400, 401, 403, 404, 409, 415, 422),
    },
    summary="Award points from a unit's issuing account to a volunteer",
)
def credit(
    body: CreditIn,
    principal: StaffPrincipal,
    access: AccessDep,
    key: IdempotencyKey,
    ledger: LedgerDep,
    zone: ZoneDep,
    response: Response,
) -> TransactionOut:
    access.unit(body.unit_id)
    access.volunteer(body.volunteer_id)
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
    idempotency.mark_replayed(response, result.replayed)
    return transaction(result.transaction, zone)


@router.get(
    "/transactions/{transaction_id}",
    response_model=TransactionOut,
    responses=responses(401, 403, 404, 422),
    summary="A transaction (staff of its unit; a volunteer or merchant it touches)",
)
def get_transaction(txn: VisibleTransaction, zone: ZoneDep) -> TransactionOut:
    return transaction(txn, zone)


@router.post(
    "/transactions/{transaction_id}/reversal",
    status_code=201,
    response_model=TransactionOut,
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
    body: Annotated[ReversalIn | None, Body()] = None,
) -> TransactionOut:
    result = ledger.reverse(
        original.id,
        memo=body.memo if body is not None else "",
        actor=principal.actor(key),
        request_key=idempotency.ledger_key(principal, key) if key is not None else None,
    )
    idempotency.mark_replayed(response, result.replayed)
    return transaction(result.transaction, zone)
