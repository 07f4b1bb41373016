"""``create_app(services)``: the FastAPI application over services built by ``ops.wiring``.
Nothing is built at import time."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import FastAPI

from fastapi.staticfiles import StaticFiles

from ledger import codes

from api import consistency, problems, ratelimit
from api.activities.routes import router as activities
from api.alliance.routes import router as alliance
from api.batches.routes import router as batches
from api.cards.routes import router as cards
from api.chain.routes import router as chain
from api.context import Services
from api.directory.routes import router as directory
from api.leaderboards.routes import router as leaderboards
from api.metrics import Metrics, MetricsMiddleware
from api.ops.routes import events, router as ops
from api.pages.routes import STATIC, router as pages
from api.reports.routes import router as reports
from api.requestlog import RequestLogMiddleware
from api.roster.routes import router as roster
from api.scans.handlers import activity_scan, merchant_scan
from api.scans.routes import scans_router
from api.tokens.routes import router as tokens
from api.transactions.routes import router as transactions
from api.units.routes import router as units
from api.volunteers.routes import router as volunteers

# Threads for the routes (plain ``def``): a scan or a redemption holds one while the journal's
# committer saves it with the others waiting, so the group a save can share is at most this big
# (anyio's default of 40 capped a group at 40 commands however many clients waited).
ROUTE_THREADS = 200

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
    services.commands.metrics = app.state.metrics  # commands run outside a request count here too
    app.state.consistency = consistency.Consistency(services.db)
    app.state.consistency.head = services.ledger.max_notification_id
    app.state.consistency.try_setup()
    # Innermost first: a 429 is still counted and logged by the two outer ones.
    app.add_middleware(consistency.ConsistencyMiddleware, consistency=app.state.consistency)
    app.add_middleware(ratelimit.RateLimitMiddleware, limits=app.state.limits)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestLogMiddleware)
    problems.install(app)
    # Prefixes live on the routers themselves, so a matched route's ``path`` is the full
    # template (the metrics label).
    # The busiest route first: routes are matched in order. The scan route handles the kinds of
    # code in its table.
    scans = scans_router({codes.ACTIVITY: activity_scan, codes.MERCHANT: merchant_scan})
    for router in (scans, units, tokens, events, volunteers, transactions, alliance, leaderboards, activities, ops, batches, chain, cards, directory, roster, reports, pages):
        app.include_router(router)
    ratelimit.document(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            consistency.document(problems.add_schema(generate()))
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    def more_threads() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = ROUTE_THREADS

    app.router.on_startup.append(more_threads)
    return app
