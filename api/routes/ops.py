"""Liveness, readiness and metrics: public, no token needed."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api import models
from api.deps import ServicesDep
from api.metrics import STORE_ERRORS, Metrics
from api.problems import NotReady, responses

router = APIRouter(tags=["ops"])


@router.get("/healthz", response_model=models.Health, summary="Liveness: the process answers")
def healthz() -> models.Health:
    return models.Health(status="ok")


@router.get(
    "/readyz",
    response_model=models.Readiness,
    responses=responses(503),
    summary="Readiness: the store answers and no projection is too far behind",
)
def readyz(services: ServicesDep) -> models.Readiness:
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
    return models.Readiness(
        status="ready",
        last_notification_id=head,
        projections={name: models.ProjectionStatus(position=positions[name], lag=lags[name]) for name in positions},
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
