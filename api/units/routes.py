"""Admins (organizers read their own): the community tree."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from projections import queries

from api.deps import AdminPrincipal, DbDep, LedgerDep, VisibleUnit, ZoneDep
from api.problems import responses
from api.units import views
from api.units.schemas import MoveUnitIn, UnitIn, UnitOut

router = APIRouter(prefix="/v1", tags=["admin"])


@router.post(
    "/units",
    status_code=201,
    response_model=UnitOut,
    responses=responses(400, 401, 403, 404, 415, 422),
    summary="Create a unit of the community tree",
)
def create_unit(body: UnitIn, principal: AdminPrincipal, ledger: LedgerDep, zone: ZoneDep) -> UnitOut:
    unit = ledger.create_unit(body.name, body.kind, body.parent_id)
    return views.unit(ledger, unit, [], zone)


@router.get(
    "/units/{unit_id}",
    response_model=UnitOut,
    responses=responses(401, 403, 404, 422),
    summary="A unit, its ancestors, children and roll-up totals (admins; organizers for their units)",
)
def get_unit(unit: VisibleUnit, totals: views.UnitTotals, ledger: LedgerDep, db: DbDep, zone: ZoneDep) -> UnitOut:
    out = views.unit(ledger, unit, queries.units(db, parent_id=str(unit.id)), zone)
    out.totals = totals
    return out


@router.post(
    "/units/{unit_id}/move",
    response_model=UnitOut,
    responses=responses(400, 401, 403, 404, 409, 415, 422),
    summary="Move a unit under another parent",
)
def move_unit(unit_id: UUID, body: MoveUnitIn, principal: AdminPrincipal, ledger: LedgerDep, db: DbDep, zone: ZoneDep) -> UnitOut:
    unit = ledger.move_unit(unit_id, body.parent_id)
    return views.unit(ledger, unit, queries.units(db, parent_id=str(unit.id)), zone)
