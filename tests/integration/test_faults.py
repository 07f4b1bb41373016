"""Faults under load, with real processes (issue 8): PostgreSQL restarted under a running
``moralbank serve``; ``serve`` killed with SIGKILL and restarted; the projection worker killed
with SIGKILL and restarted while writes go on. Client threads send credits, payments and pay-code
redemptions with an ``Idempotency-Key`` and retry, with the same key, whatever got no final
answer (helpers: fault_load.py). Afterwards every 2xx is in the ledger once and nothing else is,
balances and projections equal the 2xx requests, projections equal a rebuild, and ``moralbank
verify`` passes. Each test prints one summary line (``-s``)."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from fault_load import (
    Load,
    Proc,
    Server,
    assert_projections_rebuild_equal,
    build_town,
    check_ledger,
    child_env,
    projected_balances,
    run_verify,
    settings_for,
    summarize,
)

from ops.pgcluster import PgCluster
from ops.wiring import build_services, close_services

pytestmark = pytest.mark.slow

CLIENT_TIMEOUT = 45.0
# A request gives up on the store after about 12 s (ledger.persistence.POOL_TIMEOUT_SECONDS, tried
# 10 times); a payment queued behind the group committer's failing batch can wait twice that.
# Before the fix, requests waited for the whole outage plus the pool's backoff, and none failed.
MAX_ANSWER_SECONDS = 35.0
KILLS = 3
LONG_OUTAGE = 18.0
RECOVERY_SECONDS = 3.0


def own_cluster() -> PgCluster:
    """A cluster of this test's own: it is restarted, so it cannot be the session's."""
    if not PgCluster.available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are required when CI is set")
        pytest.skip("PostgreSQL server binaries not found")
    return PgCluster()


def _town(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    services = build_services(settings_for(database_url, tmp_path))
    try:
        return build_town(services)
    finally:
        close_services(services)


def _check_after(database_url: str, tmp_path: Path, town, load: Load, projected) -> dict[str, int]:  # type: ignore[no-untyped-def]
    services = build_services(settings_for(database_url, tmp_path))
    try:
        check_ledger(services, town, load.ops, projected)
        return assert_projections_rebuild_equal(services)
    finally:
        close_services(services)


def test_postgres_restart_under_load(tmp_path: Path) -> None:
    """PostgreSQL restarted under a running server and projection worker: twice at once (-m
    fast, then -m immediate: a crash), ridden out by waiting; then down for 18 s, longer than a
    request waits for the store: requests caught in it get a 503 problem (``store_unavailable``),
    not a hang nor a 500, and retried with the same key they land once; the server and the
    worker carry on without a restart."""
    with own_cluster() as pg:
        url = pg.create_database("faults")
        town = _town(url, tmp_path)
        env = child_env(url, tmp_path)
        server = Server(env, tmp_path).start()
        worker = Proc("project", ["project", "--poll", "0.05", "--batch-size", "50"], env, tmp_path).start()
        worker.wait_for("following")  # set up, before the first restart
        pids = (server.proc.pid, worker.proc.pid)  # type: ignore[union-attr]
        t0 = time.monotonic()
        try:
            load = Load(server.base, town, threads=4, timeout=CLIENT_TIMEOUT).start()
            restarts = []
            # Two quick restarts, ridden out by waiting; then an outage longer than a request
            # waits for the store (about 12 s), which must end in 503s, not in hangs.
            for mode, down_for in (("fast", 0.0), ("immediate", 0.0), ("fast", LONG_OUTAGE)):
                time.sleep(2.5)
                r0 = time.monotonic()
                pg.restart(mode, down_for=down_for)
                restarts.append(f"{mode} {time.monotonic() - r0:.1f}s")
            back = time.monotonic()
            time.sleep(4)
            load.finish(retry_for=30)
            summary = summarize(load.ops)
            print(f"\n[faults] postgres restart: {summary.line()}; restarts {len(restarts)} ({', '.join(restarts)}), "
                  f"{time.monotonic() - t0:.1f}s")

            attempts = [a for op in load.ops for a in op.attempts]
            # The server stayed up: every request got an answer, none hung.
            assert all(a.status is not None for a in attempts), [a for a in attempts if a.status is None][:3]
            # Failures are 503 problems, never a 500 with a traceback.
            failed = [a for a in attempts if a.status is not None and a.status >= 500]
            assert all(a.status == 503 and a.code == "store_unavailable" for a in failed), failed[:3]
            assert all(a.content_type.startswith("application/problem+json") for a in failed), failed[:3]
            assert not any("Traceback" in a.body for a in failed)
            assert max(a.seconds for a in attempts) < MAX_ANSWER_SECONDS
            # The long outage hit the load; those requests failed and landed on retry.
            assert failed and summary.retried_ok >= 1, summary
            assert summary.ok >= 50, summary
            # Recovered without a restart, soon: requests sent a few seconds after PostgreSQL
            # was back were answered at their first attempt.
            later = [op for op in load.ops if op.started > back + RECOVERY_SECONDS]
            assert later and all(len(op.attempts) == 1 and op.ok or op.final == 409 for op in later), later[:3]

            # Recovered without a restart: the same processes answer and project.
            assert server.alive() and worker.alive(), server.output() + worker.output()
            assert (server.proc.pid, worker.proc.pid) == pids  # type: ignore[union-attr]
            projected = projected_balances(server.base, town)
            assert worker.alive(), worker.output()
        finally:
            worker.stop()
            server.stop()
        _check_after(url, tmp_path, town, load, projected)
        run_verify(env, tmp_path)


def test_serve_killed_under_load(store: str, database_url: str, tmp_path: Path) -> None:
    """``moralbank serve`` killed with SIGKILL at random moments under load and started again
    on the same store each time (with SQLite its in-process projections die with it): clients
    retry with the same key; every 2xx is in the ledger, nothing is paid twice, verify passes."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    town = _town(database_url, tmp_path)
    env = child_env(database_url, tmp_path)
    server = Server(env, tmp_path).start()
    worker = Proc("project", ["project", "--poll", "0.05"], env, tmp_path).start() if store == "postgres" else None
    t0 = time.monotonic()
    try:
        load = Load(server.base, town, threads=4, timeout=CLIENT_TIMEOUT, seed=seed).start()
        for _ in range(KILLS):
            time.sleep(rng.uniform(1.0, 3.0))
            server.kill9()
            time.sleep(rng.uniform(0.0, 0.5))
            server.start()
        time.sleep(2.0)
        load.finish(retry_for=30)
        summary = summarize(load.ops)
        print(f"\n[faults] serve kill -9 ({store}, seed {seed}): {summary.line()}; kills {server.kills}, "
              f"{time.monotonic() - t0:.1f}s")
        assert server.kills == KILLS and summary.ok >= 50, summary
        # Each kill left requests without an answer; they got one on a retry.
        assert summary.no_answer >= 1 and summary.retried_ok >= 1, summary
        # A killed server answers nothing; a running one never fails.
        assert all(a.status is None or a.status < 500 for op in load.ops for a in op.attempts)
        projected = projected_balances(server.base, town)
    finally:
        if worker is not None:
            worker.stop()
        server.stop()
    _check_after(database_url, tmp_path, town, load, projected)
    run_verify(env, tmp_path)


def test_projection_worker_killed_while_writes_go_on(store: str, database_url: str, tmp_path: Path) -> None:
    """``moralbank project`` killed with SIGKILL at random moments while a server takes writes,
    started again each time: once caught up, every projection equals its rebuild and the
    balances equal the 2xx requests; verify passes. (test_projection_crash.py kills a worker
    catching up on a still log.)"""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    town = _town(database_url, tmp_path)
    env = child_env(database_url, tmp_path)
    server = Server({**env, "MORALBANK_INPROCESS_PROJECTIONS": "false"}, tmp_path).start()
    # Small batches, polled often: the worker is mostly in the middle of one when killed.
    worker = Proc("project", ["project", "--poll", "0.01", "--batch-size", "5"], env, tmp_path).start()
    t0 = time.monotonic()
    try:
        load = Load(server.base, town, threads=3, timeout=CLIENT_TIMEOUT, seed=seed).start()
        lags = []
        for _ in range(KILLS + 2):
            time.sleep(rng.uniform(0.5, 2.0))
            worker.kill9()
            lags.append(_lag(server.base))
            worker.start()
        time.sleep(1.0)
        load.finish(retry_for=30)
        summary = summarize(load.ops)
        projected = projected_balances(server.base, town)
        assert worker.alive(), worker.output()
    finally:
        worker.stop()
        server.stop()
    print(f"\n[faults] project kill -9 ({store}, seed {seed}): {summary.line()}; kills {worker.kills} "
          f"(lag at each kill {lags}), {time.monotonic() - t0:.1f}s")
    assert worker.kills == KILLS + 2 and summary.ok >= 50, summary
    assert summary.failed_attempts == 0, summary  # the server was never touched
    positions = _check_after(database_url, tmp_path, town, load, projected)
    assert len(set(positions.values())) == 1
    run_verify(env, tmp_path)


def _lag(base: str) -> int:
    """The largest projection lag the server reports (events not yet applied)."""
    import httpx

    body = httpx.get(base + "/readyz", timeout=10).json()
    return max(p["lag"] for p in body["projections"].values())
