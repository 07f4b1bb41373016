"""``create_app(services)``: the FastAPI application over services built by ``ops.wiring``.
Nothing is built at import time."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api import problems
from api.context import Services
from api import ratelimit
from api.commands import batch_chunk_logger
from api.metrics import Metrics, MetricsMiddleware
from api.requestlog import RequestLogMiddleware
from fastapi.staticfiles import StaticFiles

from api.routes import activities, admin, batches, leaderboards, merchants, ops, organizer, pages, scans, volunteer
from api.routes import chain as chain_routes

DESCRIPTION = """\
道德银行 — points for community volunteering, on an append-only ledger.

Authenticate with `Authorization: Bearer <token>`. Errors are RFC 9457 problem details
(`application/problem+json`) with a stable `code`. Requests that move points accept an
`Idempotency-Key` header. Timestamps are RFC 3339 in the server's configured zone.
"""


def create_app(services: Services) -> FastAPI:
    app = FastAPI(title="moralbank", version="1", description=DESCRIPTION)
    app.state.services = services
    app.state.metrics = Metrics(services)
    app.state.limits = ratelimit.Limits(services.settings)
    if services.batches is not None:
        services.batches.on_chunk = batch_chunk_logger(app.state.metrics)
    # Innermost first: a 429 is still counted and logged by the two outer ones.
    app.add_middleware(ratelimit.RateLimitMiddleware, limits=app.state.limits)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestLogMiddleware)
    problems.install(app)
    # Prefixes live on the routers themselves, so a matched route's ``path`` is the full
    # template (the metrics label).
    # The busiest route first: routes are matched in order.
    for router in (scans.router, admin.router, organizer.router, volunteer.router, merchants.router, leaderboards.router, activities.router, ops.router, batches.router, chain_routes.router, pages.router):
        app.include_router(router)
    ratelimit.document(app)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            problems.add_schema(generate())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
