"""Staff (organizers for their units, admins for all): the unit tree with each unit's figures,
and volunteers found by name, member number or the last four digits of their phone."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from projections import boards
from projections import directory_queries as dq

from api.auth import ADMIN
from api.deps import AccessDep, DbDep, ServicesDep, StaffPrincipal, ZoneDep
from api.directory import views
from api.directory.schemas import UnitTree, VolunteerPage
from api.problems import responses

router = APIRouter(prefix="/v1", tags=["organizer"])


@router.get(
    "/units",
    response_model=UnitTree,
    responses=responses(401, 403),
    summary="The unit tree you may see, with each unit's figures for this week, month, year and all time",
)
def list_units(principal: StaffPrincipal, services: ServicesDep, db: DbDep) -> UnitTree:
    today = services.clock.now().astimezone(services.settings.zone).date()
    starts = {p: boards.period_start(p, today) for p in boards.PERIODS}
    with db.read() as tx:
        units = dq.all_units(tx)
        visible = None if principal.role == ADMIN else dq.units_under(tx, [str(u) for u in principal.unit_ids])
        figures = dq.unit_figures(tx, [(p, boards.start_key(s)) for p, s in starts.items()])
    return UnitTree(units=views.tree(units, visible, figures, starts))


@router.get(
    "/volunteers",
    response_model=VolunteerPage,
    responses=responses(400, 401, 403, 404, 422),
    summary="Find volunteers of your units by name, member number or phone's last four, by cursor",
)
def search_volunteers(
    principal: StaffPrincipal,
    access: AccessDep,
    db: DbDep,
    zone: ZoneDep,
    q: Annotated[str | None, Query(max_length=100, description="part of a name, or a whole member number or phone's last four")] = None,
    unit_id: Annotated[UUID | None, Query(description="only volunteers living in this unit or under it")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="volunteers per page")] = 50,
    cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")] = None,
) -> VolunteerPage:
    after = views.decode_cursor(cursor) if cursor is not None else None
    if unit_id is not None:
        access.unit(unit_id)
    text = (q or "").strip() or None
    with db.read() as tx:
        if unit_id is not None:
            scope: set[str] | None = dq.units_under(tx, [str(unit_id)])
        elif principal.role == ADMIN:
            scope = None
        else:
            scope = dq.units_under(tx, [str(u) for u in principal.unit_ids])
        rows = dq.search_volunteers(tx, q=text, units=sorted(scope) if scope is not None else None, after=after, limit=limit + 1)
        named = views.paths(dq.all_units(tx))
    more = len(rows) > limit
    rows = rows[:limit]
    return VolunteerPage(
        items=[views.volunteer_row(r, named, zone) for r in rows],
        next_cursor=views.encode_cursor(rows[-1]) if more and rows else None,
    )
