"""Admin: the community tree, organizers and tokens, the event feed."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from projections import queries

from api import models, views
from api.deps import AdminPrincipal, DbDep, LedgerDep, VisibleUnit, ZoneDep
from api.leaderboards import UnitTotals
from api.problems import responses

router = APIRouter(prefix="/v1", tags=["admin"])


@router.post(
    "/units",
    status_code=201,
    response_model=models.UnitOut,
    responses=responses(400, 401, 403, 404, 415, 422),
    summary="Create a unit of the community tree",
)
def create_unit(body: models.UnitIn, principal: AdminPrincipal, ledger: LedgerDep, zone: ZoneDep) -> models.UnitOut:
    unit = ledger.create_unit(body.name, body.kind, body.parent_id)
    return views.unit(ledger, unit, [], zone)


@router.get(
    "/units/{unit_id}",
    response_model=models.UnitOut,
    responses=responses(401, 403, 404, 422),
    summary="A unit, its ancestors, children and roll-up totals (admins; organizers for their units)",
)
def get_unit(unit: VisibleUnit, totals: UnitTotals, ledger: LedgerDep, db: DbDep, zone: ZoneDep) -> models.UnitOut:
    out = views.unit(ledger, unit, queries.units(db, parent_id=str(unit.id)), zone)
    out.totals = totals
    return out


@router.post(
    "/units/{unit_id}/move",
    response_model=models.UnitOut,
    responses=responses(400, 401, 403, 404, 409, 415, 422),
    summary="Move a unit under another parent",
)
def move_unit(
    unit_id: UUID, body: models.MoveUnitIn, principal: AdminPrincipal, ledger: LedgerDep, db: DbDep, zone: ZoneDep
) -> models.UnitOut:
    unit = ledger.move_unit(unit_id, body.parent_id)
    return views.unit(ledger, unit, queries.units(db, parent_id=str(unit.id)), zone)


@router.post(
    "/organizers",
    status_code=201,
    response_model=models.IssuedTokenOut,
    responses=responses(400, 401, 403, 404, 415, 422),
    summary="Create an organizer token for some units (the secret is shown once)",
)
def create_organizer(
    body: models.OrganizerIn, principal: AdminPrincipal, ledger: LedgerDep, zone: ZoneDep
) -> models.IssuedTokenOut:
    unit_ids = list(dict.fromkeys(body.unit_ids))
    return views.issued(ledger.issue_token("organizer", body.name, unit_ids=unit_ids), zone)


@router.get(
    "/tokens",
    response_model=models.TokenList,
    responses=responses(401, 403),
    summary="Every token issued (never the secrets)",
)
def list_tokens(principal: AdminPrincipal, ledger: LedgerDep, zone: ZoneDep) -> models.TokenList:
    return models.TokenList(items=[views.token(t, zone) for t in ledger.list_tokens()])


@router.delete(
    "/tokens/{token_id}",
    response_model=models.TokenOut,
    responses=responses(401, 403, 404, 409, 422),
    summary="Revoke a token (revoking twice is harmless)",
)
def revoke_token(token_id: UUID, principal: AdminPrincipal, ledger: LedgerDep, zone: ZoneDep) -> models.TokenOut:
    return views.token(ledger.revoke_token(token_id), zone)


@router.get(
    "/events",
    response_model=models.EventPage,
    responses=responses(401, 403, 422),
    summary="The event log, in order",
)
def list_events(
    principal: AdminPrincipal,
    ledger: LedgerDep,
    zone: ZoneDep,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="the last notification id already seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> models.EventPage:
    notifications = ledger.recorder.select_notifications(after, limit, inclusive_of_start=False)
    return models.EventPage(
        items=[views.event(ledger, n, zone) for n in notifications],
        next_after=notifications[-1].id if notifications else after,
    )
