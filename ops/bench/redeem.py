"""``moralbank bench redeem``: pay-code redemptions over HTTP, 200 concurrent clients, half of
them on the same 10 hot volunteers.

In one run, on PostgreSQL (a throwaway cluster unless ``--database-url``), each served the same
way (uvicorn, one worker, in its own process) and loaded the same way (``wrk``, 127.0.0.1):
- ceiling: a trivial FastAPI ``def`` endpoint with the same pydantic body (the framework's limit);
- ours: ``POST /v1/redemptions`` (token, merchant, pay code, one ``Ledger.post`` whose insert
  transaction checks the balance guard; the redemption record saved in the same transaction);
- straightforward: the same route and token check, but the volunteer's balance is an aggregate
  (a wallet): load it, check, save, reload and retry on a version conflict; the code's nonce is
  claimed by an aggregate saved with it.

Every request carries a distinct pay code (signed by the bench with the server's key) and one of
a few merchants' tokens; each redemption takes 1 point. Afterwards the rows written are counted
and, for ours, ``verify`` runs over the whole store.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from pydantic import BaseModel

from ops.bench.report import emit

SECRET_KEY = "bench-redeem-signing-key-0123456789"
MERCHANTS = 4
HOT_BALANCE = 1_000_000
COLD_BALANCE = 1_000

LUA = r"""
local lines = {}
for line in io.lines(os.getenv("BENCH_LINES")) do lines[#lines + 1] = line end
local nthreads = tonumber(os.getenv("BENCH_THREADS"))
local created = 0
function setup(thread) thread:set("tid", created); created = created + 1 end
function init(args)
  first = math.floor(#lines * tid / nthreads) + 1
  last = math.floor(#lines * (tid + 1) / nthreads)
  i = first
end
function request()
  if i > last then wrk.thread:stop(); i = last end
  local line = lines[i]
  i = i + 1
  local tab = string.find(line, "\t", 1, true)
  return wrk.format("POST", nil, {["Authorization"] = "Bearer " .. string.sub(line, 1, tab - 1),
                                  ["Content-Type"] = "application/json"}, string.sub(line, tab + 1))
end
function done(summary, latency, requests)
  io.write(string.format('BENCH {"requests": %d, "seconds": %.6f, "p50_us": %d, "p99_us": %d, "status_errors": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""

# ---------------------------------------------------------------- the servers (child processes)


class _Body(BaseModel):
    pay_code: str
    points: int | None = None
    offer_id: UUID | None = None


class _Out(BaseModel):
    id: UUID
    points: int


def trivial_app() -> Any:
    """uvicorn factory: the framework's ceiling (a ``def`` endpoint with a pydantic body)."""
    from fastapi import FastAPI

    app = FastAPI()
    fixed = uuid.uuid4()

    @app.post("/v1/redemptions", status_code=201)
    def redeem(body: _Body) -> _Out:
        return _Out(id=fixed, points=body.points or 0)

    return app


class Wallet(Aggregate):
    """The straightforward model: a volunteer's balance as an aggregate."""

    @staticmethod
    def create_id(volunteer_id: UUID) -> UUID:
        return uuid.uuid5(UUID(int=7), "wallet:" + volunteer_id.hex)

    @event("Opened")
    def __init__(self, volunteer_id: UUID, balance: int) -> None:
        self.volunteer_id = volunteer_id
        self.balance = balance

    @event("Debited")
    def debit(self, merchant_id: UUID, amount: int, nonce: str) -> None:
        self.balance -= amount


class SpentCode(Aggregate):
    @staticmethod
    def create_id(nonce: str) -> UUID:
        return uuid.uuid5(UUID(int=7), "spent:" + nonce)

    @event("Spent")
    def __init__(self, nonce: str) -> None:
        self.nonce = nonce


class StraightRedeem(Application[UUID]):
    name = "straightredeem"
    is_snapshotting_enabled = False


def _straight_env(url: str) -> dict[str, str]:
    from ledger.store import ledger_env

    env = ledger_env(url, pool_size=20, max_overflow=40)
    env.pop("APPLICATION_RECORDER_TOPIC", None)
    return env


def straightforward_app() -> Any:
    """uvicorn factory: the same route and token check over a wallet aggregate per volunteer."""
    from eventsourcing.persistence import IntegrityError
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from api import auth
    from ledger import codes
    from merchants import rules
    from ops.settings import Settings
    from ops.wiring import build_services

    settings = Settings(create_tables=False)
    services = build_services(settings)
    straight = StraightRedeem(env=_straight_env(settings.database_url))
    key = settings.signing_key()
    app = FastAPI()

    @app.post("/v1/redemptions", status_code=201, response_model=None)
    def redeem(body: _Body, authorization: Annotated[str, __import__("fastapi").Header()] = "") -> Any:
        principal = auth.authenticate(services.ledger, authorization.removeprefix("Bearer "))
        _, fields = codes.read(key, body.pay_code, kind=codes.PAY)
        claims = rules.parse_pay_code(fields)
        for _ in range(50):
            wallet = straight.repository.get(Wallet.create_id(claims.volunteer_id))
            if wallet.balance < (body.points or 0):
                return JSONResponse({"code": "insufficient_points"}, status_code=409)
            wallet.debit(principal.subject_id, body.points or 0, claims.nonce)
            try:
                straight.save(wallet, SpentCode(claims.nonce))
            except IntegrityError:
                if straight.recorder.select_events(SpentCode.create_id(claims.nonce), limit=1):
                    return JSONResponse({"code": "code_used"}, status_code=409)
                continue
            return {"id": str(SpentCode.create_id(claims.nonce)), "points": body.points}
        return JSONResponse({"code": "conflict"}, status_code=409)

    return app


# ---------------------------------------------------------------- setup


def _seed(url: str, var: Path, volunteers: int, hot: int) -> dict[str, Any]:
    """A street, merchants with tokens, hot and cold volunteers with points, in our ledger and
    as wallets for the straightforward build."""
    from ledger.domain import Volunteer
    from ops.settings import Settings
    from ops.wiring import build_services, close_services

    svc = build_services(Settings(database_url=url, var_dir=var, secret_key=SECRET_KEY))
    straight = StraightRedeem(env=_straight_env(url))
    try:
        ledger, alliance = svc.ledger, svc.alliance
        assert alliance is not None
        now = ledger.clock.now()
        street = ledger.create_unit("青禾街道", "street", None)
        tokens = [alliance.register_merchant(f"联盟商家{i + 1}号店", street.id)[1].secret for i in range(MERCHANTS)]
        ids: list[UUID] = []
        for start in range(0, hot + volunteers, 500):
            batch = [
                Volunteer(name=f"志愿者{i}", unit_id=street.id, phone_last4=None, member_no=None, at=now)
                for i in range(start, min(hot + volunteers, start + 500))
            ]
            ledger.save(*batch)
            ids += [v.id for v in batch]
        wallets = []
        for i, vid in enumerate(ids):  # points only ever move through Ledger.post
            points = HOT_BALANCE if i < hot else COLD_BALANCE
            ledger.credit(f"bench:seed:{vid}", street.id, vid, points, memo="bench")
            wallets.append(Wallet(vid, points))
        for start in range(0, len(wallets), 500):
            straight.save(*wallets[start : start + 500])
        return {"hot": ids[:hot], "cold": ids[hot:], "tokens": tokens}
    finally:
        straight.close()
        close_services(svc)


def _lines(path: Path, seed: dict[str, Any], n: int, rng: random.Random) -> None:
    """``n`` requests, each with a fresh pay code: even ones on the hot volunteers."""
    from ledger import codes
    from merchants import rules

    key = SECRET_KEY.encode()
    expires = int(time.time()) + 3600
    with path.open("w") as f:
        for i in range(n):
            vol = seed["hot"][(i // 2) % len(seed["hot"])] if i % 2 == 0 else rng.choice(seed["cold"])
            code = codes.sign(key, codes.PAY, rules.pay_code_fields(vol, secrets.token_urlsafe(12), expires))
            body = json.dumps({"pay_code": code, "points": 1}, separators=(",", ":"))
            f.write(f"{seed['tokens'][i % len(seed['tokens'])]}\t{body}\n")


def _wrk(url: str, tmp: Path, lines: Path, *, clients: int, threads: int, seconds: int) -> dict[str, Any]:
    script = tmp / "redeem.lua"
    script.write_text(LUA)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds}s", "--timeout", "10s", "-s", str(script),
         url + "/v1/redemptions"],
        env={**os.environ, "BENCH_LINES": str(lines), "BENCH_THREADS": str(threads)},
        capture_output=True, text=True, check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    return dict(json.loads(line[len("BENCH "):]))


def _count(url: str, sql: str, params: tuple[Any, ...] = ()) -> int:
    from projections.db import Database

    db = Database(url, pool_size=1)
    try:
        with db.read() as tx:
            row = tx.one(sql, params)
        return int(row["n"]) if row else 0
    finally:
        db.close()


# ---------------------------------------------------------------- the command


def bench_redeem(
    seconds: Annotated[int, typer.Option(min=1, max=600, help="Length of each load run.")] = 10,
    clients: Annotated[int, typer.Option(min=1, max=1000, help="Concurrent HTTP connections.")] = 200,
    threads: Annotated[int, typer.Option(min=1, max=16, help="wrk threads.")] = 2,
    volunteers: Annotated[int, typer.Option(min=1, max=1_000_000, help="Cold volunteers (besides the hot ones).")] = 2000,
    hot: Annotated[int, typer.Option(min=1, max=1000, help="Hot volunteers taking half the requests.")] = 10,
    lines: Annotated[int, typer.Option(min=10, help="Distinct pay codes prepared per build (caps a run's requests).")] = 40_000,
    references: Annotated[bool, typer.Option(help="Also run the ceiling and the straightforward build.")] = True,
    database_url: Annotated[str | None, typer.Option(help="A database to use (else a throwaway PostgreSQL cluster).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=8, help="uvicorn worker processes (every build alike).")] = 1,
    open_seconds: Annotated[int, typer.Option(min=0, max=60, help="Length of each open-loop phase (0: none).")] = 5,
    open_rate: Annotated[float | None, typer.Option(min=1, help="The rate the open-loop shares are of, when the ceiling is not measured (--no-references).")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the JSON (default var/bench/).")] = None,
) -> None:
    """Redemptions per second and p50/p99: ours beside the framework ceiling and the straightforward build;
    then the ceiling and ours at fixed offered rates (25 % and 50 % of the ceiling's, open loop): p50/p99/max."""
    if shutil.which("wrk") is None:
        raise typer.BadParameter("wrk is needed (apt-get install -y wrk)")
    from ops.bench.scans import OPEN_SHARES, Server, load_average, open_loop, open_row, show
    from ops.pgcluster import PgCluster
    from ops.settings import Settings
    from ops.verify import verify
    from ops.wiring import build_services, close_services

    rng = random.Random(6)
    results: list[dict[str, Any]] = []
    opened: list[dict[str, Any]] = []
    loads: dict[str, float] = {"start": load_average()}
    checks: dict[str, Any] = {}
    with ExitStack() as stack:
        if database_url is None:
            cluster = stack.enter_context(PgCluster())
            database_url = cluster.create_database("bench_redeem")
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mb-bench-redeem-")))
        var = tmp / "var"
        typer.echo(f"seeding {hot} hot and {volunteers} cold volunteers, {MERCHANTS} merchants …", err=True)
        seed = _seed(database_url, var, volunteers, hot)
        env = {
            "MORALBANK_DATABASE_URL": database_url, "MORALBANK_SECRET_KEY": SECRET_KEY, "MORALBANK_VAR_DIR": str(var),
            "MORALBANK_POOL_SIZE": "20", "MORALBANK_CREATE_TABLES": "false", "MORALBANK_INPROCESS_PROJECTIONS": "false",
            # a few hundred clients from one address, many requests per token: the abuse limits
            # would measure themselves, not the path under test
            "MORALBANK_RATE_LIMITS": "false",
        }
        builds = [("ours", "ops.asgi:app_factory")]
        if references:
            builds = [("ceiling: trivial FastAPI endpoint", "ops.bench.redeem:trivial_app"), *builds,
                      ("straightforward: wallet aggregate", "ops.bench.redeem:straightforward_app")]
        base = open_rate or 0.0  # what the open-loop shares are of
        for build, factory in builds:
            path = tmp / "lines.txt"
            _lines(path, seed, lines, rng)
            typer.echo(f"{build}: {seconds} s, {clients} clients …", err=True)
            server = Server(factory, env, workers)
            try:
                r = _wrk(server.url, tmp, path, clients=clients, threads=threads, seconds=seconds)
                results.append({"build": build, **r, "load": load_average()})
                if build.startswith("ceiling"):
                    base = r["requests"] / r["seconds"]
                if build.startswith("straightforward") or not base:
                    continue
                for share in OPEN_SHARES if open_seconds else ():
                    n = int(share * base * open_seconds) + 1
                    fresh = tmp / "open.txt"
                    _lines(fresh, seed, n, rng)  # pay codes of their own, each spent once
                    requests = [(t, b.encode()) for t, b in (x.split("\t", 1) for x in fresh.read_text().splitlines())]
                    typer.echo(f"{build}: open loop at {share:.0%} of the ceiling's rate, {open_seconds} s …", err=True)
                    o = open_loop(server.url, "/v1/redemptions", requests, rate=share * base, seconds=open_seconds)
                    opened.append(open_row(build, f"{share:.0%} of ceiling", o, base))
            finally:
                server.stop()

        checks["redemptions_recorded"] = _count(
            database_url, "SELECT count(*) AS n FROM " + ("moralbank_events" if database_url.startswith("postgres") else "stored_events")
            + " WHERE topic LIKE %s", ("%Redemption.Made",),
        )
        svc = build_services(Settings(database_url=database_url, var_dir=var, secret_key=SECRET_KEY, create_tables=False))
        try:
            report = verify(svc)
            checks["verify_ok"] = report.ok
            checks["verify_violations"] = [str(v) for v in report.violations[:5]]
        finally:
            close_services(svc)

    ceiling = next((r for r in results if r["build"].startswith("ceiling")), None)
    plain = next((r for r in results if r["build"].startswith("straightforward")), None)
    rows = []
    for r in results:
        rate = r["requests"] / r["seconds"]
        rows.append({
            "build": r["build"], "requests": r["requests"], "seconds": round(r["seconds"], 2),
            "redemptions/s": round(rate, 1), "p50 ms": round(r["p50_us"] / 1000, 1), "p99 ms": round(r["p99_us"] / 1000, 1),
            "errors": r["status_errors"] + r["socket_errors"],
            "% of ceiling": round(100 * rate / (ceiling["requests"] / ceiling["seconds"]), 1) if ceiling else "-",
            "× straightforward": round(rate / (plain["requests"] / plain["seconds"]), 2) if plain else "-",
            "load": r["load"],
        })
    loads["end"] = load_average()
    if opened:
        show("moralbank bench redeem: open loop (fixed offered rate)", opened)
    ours = next(r for r in results if r["build"] == "ours")
    ok_ours = ours["requests"] - ours["status_errors"]
    typer.echo(f"ours: {ok_ours} answered 201, {checks['redemptions_recorded']} redemptions recorded; verify ok: {checks['verify_ok']}", err=True)
    emit("redeem", rows, meta={"cold_volunteers": volunteers, "hot_volunteers": hot, "clients": clients, "wrk_threads": threads,
                               "server": f"uvicorn, {workers} worker(s)", "store": "postgresql" if database_url.startswith("postgres") else "sqlite",
                               "half_on_hot": True, "load_average": loads, "open_loop": opened, "open_loop_base_rate": round(base, 1),
                               **checks}, out=out)
