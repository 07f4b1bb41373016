"""Fixtures shared by every tier. Each store-dependent test runs on SQLite and on a real
PostgreSQL 15 cluster that the suite starts itself (as an unprivileged user, in a temp dir,
on a free port) and removes afterwards. With ``CI`` set, a missing PostgreSQL fails."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.clock import ManualClock
from ops.pgcluster import PgCluster

BOOTSTRAP = "mb_test_bootstrap_admin_token"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    if not PgCluster.available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are required when CI is set")
        pytest.skip("PostgreSQL server binaries not found")
    cluster = PgCluster()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(store: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if store == "sqlite":
        return f"sqlite:///{tmp_path}/moralbank.sqlite3"
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    from ops.settings import Settings

    return Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        secret_key="test-signing-key-not-for-production",
        bootstrap_token=BOOTSTRAP,
        pool_size=8,
    )


@pytest.fixture
def services(settings, clock):  # type: ignore[no-untyped-def]
    from ops.wiring import build_services, close_services

    svc = build_services(settings, clock=clock)
    yield svc
    close_services(svc)


@pytest.fixture
def ledger(services):  # type: ignore[no-untyped-def]
    return services.ledger
