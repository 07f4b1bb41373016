"""Read replicas (``MORALBANK_READ_DATABASE_URLS``): a primary and a hot standby fed by streaming
replication, each a throwaway cluster on loopback. The main flows run with reads of projections
from the standby while read-your-writes holds; the standby stops and reads fall back to the primary
with no error; it starts again and serves reads again."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.consistency import LOG_POSITION, PROJECTION_POSITION, STALE
from ops.pgcluster import PgCluster, free_port
from ops.settings import Settings
from ops.wiring import ProjectionThreads, build_services, close_services
from projections.replicas import RETRY_SECONDS


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture(scope="module")
def replicated() -> Iterator[tuple[PgCluster, PgCluster]]:
    if not PgCluster.available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are required when CI is set")
        pytest.skip("PostgreSQL server binaries not found")
    primary = PgCluster().start()
    try:
        standby = primary.standby()
        try:
            yield primary, standby
        finally:
            standby.stop()
    finally:
        primary.stop()


def replicated_database(primary: PgCluster, standby: PgCluster) -> tuple[str, str]:
    name = f"r_{uuid.uuid4().hex[:12]}"
    return primary.create_database(name), standby.wait_for_database(name)


@pytest.fixture
def services(replicated: tuple[PgCluster, PgCluster], tmp_path: Path) -> Iterator[Any]:
    primary, standby = replicated
    url, read_url = replicated_database(primary, standby)
    settings = Settings(
        database_url=url, read_database_urls=read_url, var_dir=tmp_path / "var",
        secret_key="replica-test-key", pool_size=6, rate_limits=False,
    )
    svc = build_services(settings)
    yield svc
    close_services(svc)


def neighbourhood(services: Any, points: int) -> dict[str, Any]:
    ledger = services.ledger
    street = ledger.create_unit("澄湖街道", "street", None)
    volunteer = ledger.register_volunteer("沈若溪", street.id)
    _, shop = services.alliance.register_merchant("晨光早餐铺", street.id)
    ledger.credit("replica:seed", street.id, volunteer.id, points, minutes=60)
    return {
        "street": street.id,
        "vol": bearer(ledger.issue_token("volunteer", "phone", subject_id=volunteer.id).secret),
        "shop": bearer(shop.secret),
        "admin": bearer(ledger.issue_token("admin", "replica admin").secret),
    }


def pay(client: TestClient, n: dict[str, Any], points: int = 1) -> int:
    code = client.get("/v1/me/pay-code", headers=n["vol"]).json()["code"]
    r = client.post("/v1/redemptions", json={"pay_code": code, "points": points}, headers=n["shop"])
    assert r.status_code == 201, r.text
    return int(r.headers[LOG_POSITION])


def pay_and_read(client: TestClient, n: dict[str, Any], rounds: int, balance: int) -> int:
    """Each redemption, then at once the payer's balance and the public reads: every answer 200,
    the balance already the new one (read-your-writes), never stale."""
    for _ in range(rounds):
        position = pay(client, n)
        balance -= 1
        r = client.get("/v1/me/account", headers=n["vol"])
        assert r.status_code == 200 and r.json()["balance"] == balance, r.text
        assert int(r.headers[PROJECTION_POSITION]) >= position and STALE not in r.headers
        for path in ("/v1/leaderboards?scope=street&period=all", f"/v1/units/{n['street']}"):
            assert client.get(path, headers=n["admin"]).status_code == 200, path
    return balance


def test_reads_from_the_standby_fall_back_to_the_primary_and_come_back(services: Any, replicated: Any) -> None:
    _, standby = replicated
    reads = services.db.standbys.reads
    n = neighbourhood(services, 500)
    services.catch_up()
    threads = ProjectionThreads(services.followers, poll=0.01).start()
    try:
        client = TestClient(create_app(services))
        balance = pay_and_read(client, n, 30, 500)
        served = reads["standby"]
        assert served > 0, reads  # the standby answered reads, and every one showed the payer's write

        standby.halt()  # the standby crashes
        before = dict(reads)
        balance = pay_and_read(client, n, 20, balance)
        assert reads["standby"] == before["standby"] and reads["primary"] > before["primary"], (before, reads)

        standby.restart()  # back: after the pause, reads go to it again
        time.sleep(RETRY_SECONDS + 0.5)
        before = dict(reads)
        deadline = time.monotonic() + 30
        while reads["standby"] == before["standby"] and time.monotonic() < deadline:
            balance = pay_and_read(client, n, 5, balance)
        assert reads["standby"] > before["standby"], reads
        assert client.get("/v1/me/account", headers=n["vol"]).json()["balance"] == balance
    finally:
        threads.stop()


def test_a_standby_down_at_start_costs_no_error(replicated: Any, tmp_path: Path) -> None:
    """A server whose standby is unreachable from the start serves every read from the primary."""
    primary, _ = replicated
    url = primary.create_database(f"r_{uuid.uuid4().hex[:12]}")
    dead = f"postgresql://postgres@127.0.0.1:{free_port('127.0.0.1')}/nowhere"  # nobody listens there
    settings = Settings(database_url=url, read_database_urls=dead, var_dir=tmp_path / "var", secret_key="k", pool_size=4, rate_limits=False)
    services = build_services(settings)
    try:
        n = neighbourhood(services, 50)
        services.catch_up()
        threads = ProjectionThreads(services.followers, poll=0.01).start()
        try:
            client = TestClient(create_app(services))
            pay_and_read(client, n, 5, 50)
        finally:
            threads.stop()
        assert services.db.standbys.reads["standby"] == 0 and services.db.standbys.reads["primary"] > 0
    finally:
        close_services(services)


def test_standbys_are_for_postgresql_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        Settings(database_url="sqlite:///x.sqlite3", read_database_urls="sqlite:///y.sqlite3")
