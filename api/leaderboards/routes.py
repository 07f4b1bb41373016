"""Public leaderboards of role models (道德榜样)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from api.datetimes import Instant
from api.deps import DbDep, LedgerDep, OptionalPrincipal, ServicesDep, ZoneDep
from api.leaderboards.schemas import LeaderboardOut, Metric, Period
from api.leaderboards.views import leaderboard
from api.problems import responses

router = APIRouter(prefix="/v1", tags=["leaderboards"])


@router.get(
    "/leaderboards",
    response_model=LeaderboardOut,
    responses=responses(400, 401, 404, 422),
    summary="Role models of a unit in a period, ranked (public; names masked unless you organize the unit)",
    description=(
        "Volunteers ranked by points earned or minutes served while their home was the unit or "
        "under it, in the week (from Monday), month, year or all time holding `at` (default: now), "
        "cut in the server's zone. Equal values share a rank and the next rank skips (1, 2, 2, 4); "
        "inside a tie rows are ordered by volunteer id. Without `unit_id`: the first street. "
        "A bearer token is optional: an admin, or an organizer of the unit, sees full names."
    ),
    # The token is optional: `{}` beside the HTTPBearer requirement FastAPI derives from the
    # dependency (openapi_extra lists are appended to the generated ones).
    openapi_extra={"security": [{}]},
)
def get_leaderboard(
    principal: OptionalPrincipal,
    services: ServicesDep,
    ledger: LedgerDep,
    db: DbDep,
    zone: ZoneDep,
    metric: Annotated[Metric, Query(description="points earned or minutes served")] = "points",
    period: Annotated[Period, Query(description="week (from Monday), month, year or all time")] = "all",
    at: Annotated[Instant | None, Query(description="an instant inside the period (RFC 3339); default now")] = None,
    unit_id: Annotated[UUID | None, Query(description="the unit; default: the first street")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")] = None,
) -> LeaderboardOut:
    when = services.clock.now() if at is None else at if at.tzinfo is not None else at.replace(tzinfo=zone)
    return leaderboard(
        db, ledger, principal, unit_id=unit_id, metric=metric, period=period, at=when, zone=zone,
        limit=limit, cursor=cursor,
    )
