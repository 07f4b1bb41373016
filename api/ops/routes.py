"""Liveness, readiness and metrics: public, no token needed; and the admins' event feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import AdminPrincipal, LedgerDep, ServicesDep, ZoneDep
from api.metrics import STORE_ERRORS
from api.ops import views
from api.ops.schemas import EventPage, Health, ProjectionStatus, Readiness
from api.problems import NotReady, responses

router = APIRouter(tags=["ops"])
events = APIRouter(prefix="/v1", tags=["admin"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses=responses(503),
    summary="Readiness: the store answers and no projection is too far behind",
)
def readyz(services: ServicesDep) -> Readiness:
    try:
        services.db.ping()
        head = services.ledger.max_notification_id()
        positions = {f.name: f.position() for f in services.followers}
    except STORE_ERRORS as e:
        raise NotReady("the store is unreachable", checks={"store": type(e).__name__}) from None
    lags = {name: max(0, head - pos) for name, pos in positions.items()}
    max_lag = services.settings.readiness_max_lag
    behind = {name: lag for name, lag in lags.items() if lag > max_lag}
    if behind:
        raise NotReady(
            f"projections behind by more than {max_lag} events: {', '.join(sorted(behind))}",
            checks={"store": "ok", "projections_behind": behind, "max_lag": max_lag},
        )
    return Readiness(
        status="ready",
        last_notification_id=head,
        projections={name: ProjectionStatus(position=positions[name], lag=lags[name]) for name in positions},
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"description": "Prometheus text exposition", "content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
    summary="Prometheus metrics",
)
def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@events.get(
    "/events",
    response_model=EventPage,
    responses=responses(401, 403, 422),
    summary="The event log, in order",
)
def list_events(
    principal: AdminPrincipal,
    ledger: LedgerDep,
    zone: ZoneDep,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="the last notification id already seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    notifications = ledger.recorder.select_notifications(after, limit, inclusive_of_start=False)
    return EventPage(
        items=[views.event(ledger, n, zone) for n in notifications],
        next_after=notifications[-1].id if notifications else after,
    )
