"""``moralbank bench ryw``: the wait that read-your-writes adds to a read right after a write.

On PostgreSQL (a throwaway cluster unless ``--database-url``), ``moralbank serve`` (uvicorn, one
worker) and a separate ``moralbank project`` worker, one client in a loop: the till redeems a pay
code, then at once the payer reads ``GET /v1/me/account`` (it waits until the accounts projection
has applied the redemption). In the same run, the reference: the same read when there is nothing
to wait for (the previous write long applied). The figure: the read's latency right after a write
beside the reference's, and the difference at p50 and p99.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from ops.bench.report import emit

SECRET_KEY = "bench-ryw-signing-key-0123456789"


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def bench_ryw(
    rounds: Annotated[int, typer.Option(min=10, max=100_000, help="Write-then-read rounds.")] = 1000,
    poll: Annotated[float, typer.Option(min=0.001, help="The projection worker's poll interval (moralbank project --poll).")] = 0.1,
    database_url: Annotated[str | None, typer.Option(help="A database to use (else a throwaway PostgreSQL cluster).")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the JSON (default var/bench/).")] = None,
) -> None:
    """Latency of a read right after a write (it waits for the projection) beside the same read with nothing to wait for."""
    import httpx

    from api.consistency import LOG_POSITION, PROJECTION_POSITION, STALE
    from ops.bench.scans import Server
    from ops.pgcluster import PgCluster
    from ops.settings import Settings
    from ops.wiring import build_services, close_services

    with ExitStack() as stack:
        if database_url is None:
            cluster = stack.enter_context(PgCluster())
            database_url = cluster.create_database("bench_ryw")
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mb-bench-ryw-")))
        var = tmp / "var"
        svc = build_services(Settings(database_url=database_url, var_dir=var, secret_key=SECRET_KEY))
        try:
            street = svc.ledger.create_unit("青禾街道", "street", None)
            volunteer = svc.ledger.register_volunteer("王芳", street.id)
            _, shop = svc.alliance.register_merchant("好邻居便利店", street.id)
            svc.ledger.credit("bench:ryw", street.id, volunteer.id, 10 * rounds, minutes=1)
            vol = {"Authorization": "Bearer " + svc.ledger.issue_token("volunteer", "phone", subject_id=volunteer.id).secret}
            till = {"Authorization": "Bearer " + shop.secret}
            svc.catch_up()
        finally:
            close_services(svc)
        env = {
            "MORALBANK_DATABASE_URL": database_url, "MORALBANK_SECRET_KEY": SECRET_KEY, "MORALBANK_VAR_DIR": str(var),
            "MORALBANK_INPROCESS_PROJECTIONS": "false", "MORALBANK_RATE_LIMITS": "false",
        }
        worker = subprocess.Popen(
            [str(Path(sys.executable).with_name("moralbank")), "project", "--poll", str(poll)],
            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        stack.callback(lambda: (worker.terminate(), worker.wait(timeout=20)))
        server = Server("ops.asgi:app_factory", env)
        stack.callback(server.stop)
        typer.echo(f"{rounds} rounds: redeem, then read at once; then the same read again …", err=True)
        after: list[float] = []
        plain: list[float] = []
        writes: list[float] = []
        stale = wrong = 0
        with httpx.Client(base_url=server.url, timeout=10) as client:
            balance = 10 * rounds
            for i in range(rounds + 20):
                code = client.get("/v1/me/pay-code", headers=vol).json()["code"]
                t0 = time.perf_counter()
                r = client.post("/v1/redemptions", json={"pay_code": code, "points": 1}, headers=till)
                t1 = time.perf_counter()
                assert r.status_code == 201, r.text
                position = int(r.headers[LOG_POSITION])
                balance -= 1
                a = client.get("/v1/me/account", headers=vol)
                t2 = time.perf_counter()
                time.sleep(max(0.0, 3 * poll))  # the write long applied: nothing to wait for
                t3 = time.perf_counter()
                b = client.get("/v1/me/account", headers=vol)
                t4 = time.perf_counter()
                if i < 20:  # warm-up
                    continue
                writes.append(t1 - t0)
                after.append(t2 - t1)
                plain.append(t4 - t3)
                stale += STALE in a.headers
                wrong += a.json()["balance"] != balance or int(a.headers.get(PROJECTION_POSITION, 0)) < position
    ms = 1000.0
    rows = [
        {"what": "reference: the same read, nothing to wait for", "p50 ms": round(_pct(plain, 50) * ms, 1),
         "p99 ms": round(_pct(plain, 99) * ms, 1), "mean ms": round(statistics.fmean(plain) * ms, 1)},
        {"what": "ours: the read right after the write (waits)", "p50 ms": round(_pct(after, 50) * ms, 1),
         "p99 ms": round(_pct(after, 99) * ms, 1), "mean ms": round(statistics.fmean(after) * ms, 1)},
        {"what": "wait added (ours − reference)", "p50 ms": round((_pct(after, 50) - _pct(plain, 50)) * ms, 1),
         "p99 ms": round((_pct(after, 99) - _pct(plain, 99)) * ms, 1),
         "mean ms": round((statistics.fmean(after) - statistics.fmean(plain)) * ms, 1)},
        {"what": "the write (POST /v1/redemptions)", "p50 ms": round(_pct(writes, 50) * ms, 1),
         "p99 ms": round(_pct(writes, 99) * ms, 1), "mean ms": round(statistics.fmean(writes) * ms, 1)},
    ]
    meta: dict[str, Any] = {"rounds": rounds, "worker_poll_s": poll, "stale": stale, "not_seen": wrong,
                            "server": "uvicorn, 1 worker; moralbank project in its own process", "store": "postgresql"}
    emit("ryw", rows, meta=meta, out=out)
