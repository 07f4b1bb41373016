"""End-to-end fixtures: the HTTP API over real services on each store (helpers live in
``e2e_contract``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_contract import CheckedClient, World, bearer, build_world

from api.app import create_app
from api.context import Services
from ledger.clock import ManualClock


@pytest.fixture
def client(services: Services) -> CheckedClient:
    return CheckedClient(create_app(services))


@pytest.fixture
def admin(settings: Any) -> dict[str, str]:
    return bearer(settings.bootstrap_token.get_secret_value())


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from ops.settings import Settings
    from ops.wiring import build_services, close_services

    tmp = tmp_path_factory.mktemp(f"world-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp}/world.sqlite3"
    else:
        url = request.getfixturevalue("pg_cluster").create_database(f"w_{uuid.uuid4().hex[:12]}")
    bootstrap = "mb_e2e_world_admin"
    settings = Settings(
        database_url=url, var_dir=Path(tmp) / "var", secret_key="e2e-signing-key", bootstrap_token=bootstrap, pool_size=8,
        # One client address sends every bad and revoked token of the auth matrix, on purpose.
        rate_failures_burst=1_000_000,
    )
    services = build_services(settings, clock=ManualClock())
    yield build_world(services, bootstrap)
    close_services(services)


@pytest.fixture
def town(services: Services, settings: Any) -> World:
    """The same neighbourhood as ``world``, on this test's own fresh store."""
    return build_world(services, settings.bootstrap_token.get_secret_value())
