"""The ASGI app factory that ``moralbank serve`` hands to uvicorn (``factory=True``), so every
worker process builds its own services at start-up and nothing is built at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from ops.logs import configure as configure_logs
from ops.settings import Settings
from ops.projecting import ExpiryThread
from ops.wiring import ProjectionThreads, build_services, close_services


def runs_projections_inprocess(settings: Settings) -> bool:
    """With SQLite, serve also runs the projections, unless MORALBANK_INPROCESS_PROJECTIONS=false;
    with PostgreSQL only when asked to (``moralbank project`` is the worker there)."""
    if settings.inprocess_projections is not None:
        return settings.inprocess_projections
    return not settings.is_postgres


def app_factory() -> Any:
    from api.app import create_app

    configure_logs()  # each worker process is new: set its logging up too
    settings = Settings()
    services = build_services(settings)
    app = create_app(services)
    inner = app.router.lifespan_context
    inprocess = runs_projections_inprocess(settings)

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        threads = ProjectionThreads(services.followers) if inprocess else None
        expiry = ExpiryThread(services.ledger, stop_event=threads.stop_event) if threads is not None else None  # lots due, on SQLite
        try:
            async with inner(app_) as state:
                if threads is not None:
                    threads.start()
                if expiry is not None:
                    expiry.start()
                services.batches.resume_all()  # batches a crash or a stop interrupted
                try:
                    yield state
                finally:
                    if threads is not None:
                        threads.stop()
                    if expiry is not None:
                        expiry.stop()
        finally:
            app.state.metrics.close()
            close_services(services)

    app.router.lifespan_context = lifespan
    return app
