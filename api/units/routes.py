"""Admins (organizers read their own): the community tree."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from projections import queries

from api.deps import AdminPrincipal, DbDep, LedgerDep, ServicesDep, VisibleUnit, ZoneDep
from api.problems import responses
from api.units import views
from api.units.schemas import ExpiringOut, ExpiryPolicyIn, ExpiryPolicyOut, MoveUnitIn, UnitIn, UnitOut

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


@router.get(
    "/units/{unit_id}/expiry-policy",
    response_model=ExpiryPolicyOut,
    responses=responses(401, 403, 404, 422),
    summary="A unit's expiry policy: its own, the effective one and the unit it comes from (admins; organizers for their units)",
    tags=["units"],
)
def get_expiry_policy(unit: VisibleUnit, ledger: LedgerDep) -> ExpiryPolicyOut:
    return views.expiry_policy(ledger, unit.id)


@router.put(
    "/units/{unit_id}/expiry-policy",
    response_model=ExpiryPolicyOut,
    responses=responses(400, 401, 403, 404, 409, 415, 422),
    summary="Set a unit's expiry policy for the points it and the units below it that set none issue from now on "
    "(admins); lots opened before keep their last day",
    tags=["units"],
)
def set_expiry_policy(unit_id: UUID, body: ExpiryPolicyIn, principal: AdminPrincipal, ledger: LedgerDep) -> ExpiryPolicyOut:
    ledger.set_expiry_policy(unit_id, body.kind, body.months)
    return views.expiry_policy(ledger, unit_id)


@router.get(
    "/units/{unit_id}/expiring",
    response_model=ExpiringOut,
    responses=responses(401, 403, 404, 422),
    summary="Points that lapse in the next N days among volunteers under a unit: total and per last day, "
    "from the lots table (admins; organizers for their units)",
    tags=["units"],
)
def get_expiring(
    unit: VisibleUnit,
    ledger: LedgerDep,
    db: DbDep,
    services: ServicesDep,
    days: Annotated[int, Query(ge=1, le=366, description="days counted from today (in the configured zone), today included")] = 30,
) -> ExpiringOut:
    zone = services.settings.zone
    today = services.clock.now().astimezone(zone).date()
    return views.expiring(db, ledger, unit.id, today, days, zone)
