"""``moralbank bench scans``: activity check-in and check-out over HTTP, 200 concurrent clients.

In one run, on PostgreSQL (a throwaway cluster unless ``--database-url``), each served the same
way (uvicorn, ``--workers`` processes, 1 by default) and loaded the same way (``wrk``, 127.0.0.1):
- ceiling: a trivial FastAPI ``def`` endpoint with a pydantic body (the framework's limit);
- ours: ``POST /v1/scans`` with group-committed saves (many scans per transaction);
- straightforward: the same route, one aggregate load and one save per request, no batching.

For a fixed time each request is a different volunteer checking in; then the server's clock
moves two hours (the bench servers' clock is frozen at a time read from a file, so codes stay
valid and every worker process agrees) and
for the same time those volunteers check out and are credited. Each request carries its own
volunteer's token; seed more volunteers than a phase can scan (a warning says when not).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from ops.bench.report import emit

SECRET_KEY = "bench-scans-signing-key-0123456789"
ADMIN = "mb_bench_scans_admin"

LUA = r"""
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local f = io.open(os.getenv("BENCH_BODY")); local body = f:read("*a"); f:close()
local nthreads = tonumber(os.getenv("BENCH_THREADS"))
local threads = {}
function setup(thread) thread:set("tid", #threads); table.insert(threads, thread) end
function init(args)
  first = math.floor(#tokens * tid / nthreads) + 1
  last = math.floor(#tokens * (tid + 1) / nthreads)
  i = first
  wrapped = 0
end
function request()
  if i > last then i = first; wrapped = wrapped + 1 end
  local token = tokens[i]
  i = i + 1
  return wrk.format("POST", nil, {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end
function done(summary, latency, requests)
  local ranges, wraps = {}, 0
  for _, t in ipairs(threads) do
    table.insert(ranges, string.format("[%d, %d]", t:get("first"), t:get("i") - 1))
    wraps = wraps + t:get("wrapped")
  end
  io.write(string.format('BENCH {"requests": %d, "seconds": %.6f, "p50_us": %d, "p99_us": %d, "status_errors": %d, "socket_errors": %d, "wrapped": %d, "used": [%s]}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    wraps, table.concat(ranges, ", ")))
end
"""


# ---------------------------------------------------------------- the servers (run in child processes)


class FileClock:
    """The bench server's clock: frozen at the time written in a file, which the bench moves
    (every worker process reads the same file, re-read only when it changes)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp = -1.0
        self._now: Any = None

    def now(self) -> Any:
        from datetime import datetime

        stamp = os.stat(self.path).st_mtime
        if stamp != self._stamp:
            self._now, self._stamp = datetime.fromisoformat(Path(self.path).read_text().strip()), stamp
        return self._now


def server_app() -> Any:
    """uvicorn factory: the real app, on the bench's clock (``BENCH_CLOCK``, a file)."""
    from api.app import create_app
    from ops.settings import Settings
    from ops.wiring import build_services

    services = build_services(Settings(create_tables=False), clock=FileClock(os.environ["BENCH_CLOCK"]))
    return create_app(services)


class _TrivialIn(BaseModel):
    code: str


class _TrivialOut(BaseModel):
    kind: str
    action: str
    replayed: bool


def trivial_app() -> Any:
    """uvicorn factory: the framework's ceiling (a ``def`` endpoint with a pydantic body)."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/v1/scans")
    def scan(body: _TrivialIn) -> _TrivialOut:
        return _TrivialOut(kind="activity", action="check_in", replayed=False)

    return app


# ---------------------------------------------------------------- setup


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(url: str, var: Path, volunteers: int) -> dict[str, Any]:
    """A street, two activities (one per build) and ``volunteers`` volunteers with tokens."""
    from ledger.application import hash_secret
    from ledger.domain import AccessToken, Volunteer
    from ops.settings import Settings
    from ops.wiring import build_services, close_services

    svc = build_services(Settings(database_url=url, var_dir=var, secret_key=SECRET_KEY))
    try:
        ledger, att = svc.ledger, svc.attendance
        assert att is not None
        now = ledger.clock.now()
        street = ledger.create_unit("青禾街道", "street", None)
        activities = {
            build: att.create_activity(
                f"社区环境清洁（{build}）", street.id, now - timedelta(minutes=10), now + timedelta(hours=4), 10
            ).id
            for build in ("ours", "straightforward")
        }
        tokens: list[str] = []
        for start in range(0, volunteers, 1000):
            objs: list[Any] = []
            for i in range(start, min(volunteers, start + 1000)):
                v = Volunteer(name=f"志愿者{i}", unit_id=street.id, phone_last4=None, member_no=None, at=now)
                secret = f"mb_v_bench_{uuid.uuid4().hex}"
                objs += [v, AccessToken(secret_hash=hash_secret(secret), role="volunteer", name=v.name, unit_ids=[],
                                        subject_id=v.id, hint=secret[-4:], at=now)]
                tokens.append(secret)
            ledger.save(*objs)
        return {"now": now.isoformat(), "activities": activities, "tokens": tokens}
    finally:
        close_services(svc)


class Server:
    """``uvicorn --factory`` in a child process, one worker, like ``moralbank serve``."""

    def __init__(self, factory: str, env: dict[str, str], workers: int = 1) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
            env={**os.environ, **env},
        )
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(self.url + "/openapi.json", timeout=2)
                return
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{factory} did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _wrk(url: str, tmp: Path, tokens: list[str], code: str, *, clients: int, threads: int, seconds: int) -> dict[str, Any]:
    script, token_file, body_file = tmp / "scan.lua", tmp / "tokens.txt", tmp / "body.json"
    script.write_text(LUA)
    token_file.write_text("\n".join(tokens) + "\n")
    body_file.write_text(json.dumps({"code": code}))
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds}s", "--timeout", "10s", "-s", str(script),
         url + "/v1/scans"],
        env={**os.environ, "BENCH_TOKENS": str(token_file), "BENCH_BODY": str(body_file), "BENCH_THREADS": str(threads)},
        capture_output=True, text=True, check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    return dict(json.loads(line[len("BENCH "):]))


def _wrk_get(url: str, *, clients: int, threads: int, seconds: int) -> dict[str, Any]:
    """A plain GET under the same load (no script): this app's own no-op route."""
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds}s", "--timeout", "10s", "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout

    def ms(text: str) -> float:
        value = float(text.rstrip("usm"))
        return value / 1000 if text.endswith("us") else value * 1000 if text.endswith("s") and not text.endswith("ms") else value

    lines = out.splitlines()
    requests = int(next(x for x in lines if "requests in" in x).split()[0])
    seconds_ = float(next(x for x in lines if "requests in" in x).split()[3].rstrip("s,"))
    p50 = ms(next(x for x in lines if x.strip().startswith("50%")).split()[1])
    p99 = ms(next(x for x in lines if x.strip().startswith("99%")).split()[1])
    non2xx = next((int(x.split()[-1]) for x in lines if "Non-2xx" in x), 0)
    return {"requests": requests, "seconds": seconds_, "p50_us": p50 * 1000, "p99_us": p99 * 1000,
            "status_errors": non2xx, "socket_errors": 0}


# ---------------------------------------------------------------- open loop: a fixed offered rate


def open_loop(url: str, path: str, requests: list[tuple[str, bytes]], *, rate: float, seconds: float,
              max_connections: int = 512) -> dict[str, Any]:
    """POST ``requests`` ((bearer token, JSON body), each used once) at a fixed offered ``rate``
    for ``seconds``, whether or not earlier answers came back (open loop: what a volunteer feels
    at a busy event, not what a fixed set of clients can push). Latency is timed from when each
    request was due, so waiting for a connection counts too (no coordinated omission). A plain
    HTTP/1.1 client over asyncio keep-alive connections (at most ``max_connections``), lighter on
    the shared machine than a general-purpose one. (``hey -q`` offers a rate too, but sends one
    body with one token: a pay code is spent once and a volunteer checks in once.)

    Returns offered and achieved rates, p50/p99/max in ms and errors (status ≥ 400 or failed)."""
    import asyncio
    from urllib.parse import urlparse

    u = urlparse(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    n = min(len(requests), max(1, int(rate * seconds)))
    latencies: list[float] = []
    errors: dict[str, int] = {}

    def wire(token: str, body: bytes) -> bytes:
        return (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body

    async def run() -> float:
        loop = asyncio.get_running_loop()
        idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        slots = asyncio.Semaphore(max_connections)
        start = loop.time() + 0.2

        async def one(i: int) -> None:
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            data = wire(*requests[i])
            async with slots:
                try:
                    reader, writer = idle.pop() if idle else await asyncio.open_connection(host, port)
                    writer.write(data)
                    status = int((await reader.readline()).split()[1])
                    length = 0
                    while (line := await reader.readline()) not in (b"\r\n", b""):
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    await reader.readexactly(length)
                    idle.append((reader, writer))
                except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
                    errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                    return
            latencies.append(loop.time() - due)
            if status >= 400:
                errors[str(status)] = errors.get(str(status), 0) + 1

        tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
        _, late = await asyncio.wait(tasks, timeout=seconds + 30)
        elapsed = loop.time() - start
        for task in late:  # not answered 30 s after the phase: counted as errors, not waited for
            task.cancel()
        if late:
            errors["no answer in time"] = len(late)
            await asyncio.wait(late)
        for _, writer in idle:
            writer.close()
        return elapsed

    # A loop of its own in a thread of its own: the caller's thread may already run one (a test
    # process that drove a browser before), and asyncio.run refuses to nest.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="open-loop") as own:
        elapsed = own.submit(asyncio.run, run()).result()
    lat = sorted(latencies)

    def pct(q: float) -> float:
        return round(1000 * lat[min(len(lat) - 1, int(q * len(lat)))], 1) if lat else float("nan")

    return {"requests": n, "seconds": elapsed, "offered/s": round(rate, 1), "answered": len(lat),
            "p50 ms": pct(0.50), "p99 ms": pct(0.99), "max ms": round(1000 * lat[-1], 1) if lat else float("nan"),
            "errors": sum(errors.values()), "error kinds": errors}


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def open_row(build: str, phase: str, r: dict[str, Any], ceiling: float) -> dict[str, Any]:
    """A row of the open-loop table."""
    return {"build": build, "phase": phase, "offered/s": r["offered/s"],
            "% of ceiling": round(100 * r["offered/s"] / ceiling, 1) if ceiling else "-",
            "answered/s": round(r["answered"] / r["seconds"], 1), "p50 ms": r["p50 ms"], "p99 ms": r["p99 ms"],
            "max ms": r["max ms"], "errors": r["errors"], "error kinds": json.dumps(r["error kinds"]), "load": load_average()}


def _recorded(url: str) -> tuple[int, int]:
    """(check-ins, activity credits) recorded in the store so far."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = dict(conn.execute(
            "SELECT topic, count(*) FROM moralbank_events WHERE topic LIKE %s OR topic LIKE %s GROUP BY topic",
            ("%AttendanceRecord.CheckedIn", "%AttendanceRecord.CheckedOut"),
        ).fetchall())
    return (
        sum(int(n) for t, n in rows.items() if t.endswith("CheckedIn")),
        sum(int(n) for t, n in rows.items() if t.endswith("CheckedOut")),
    )


# ---------------------------------------------------------------- the command


OPEN_SHARES = (0.25, 0.5)  # offered rates of the open-loop phases, as shares of the ceiling's rate


def show(title: str, rows: list[dict[str, Any]]) -> None:
    """A second table on screen (its rows go in the JSON's meta)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in rows[0] if rows else []:
        table.add_column(col)
    for row in rows:
        table.add_row(*[f"{v:,.1f}" if isinstance(v, float) else str(v) for v in row.values()])
    Console().print(table)


def bench_scans(
    volunteers: Annotated[int, typer.Option(min=10, max=200_000, help="Volunteers seeded (more than one phase can scan).")] = 15000,
    clients: Annotated[int, typer.Option(min=1, max=1000, help="Concurrent HTTP connections.")] = 200,
    threads: Annotated[int, typer.Option(min=1, max=16, help="wrk threads.")] = 2,
    seconds: Annotated[int, typer.Option(min=1, max=120, help="Length of each load phase.")] = 6,
    database_url: Annotated[str | None, typer.Option(help="A PostgreSQL database to use (else a throwaway cluster).")] = None,
    references: Annotated[bool, typer.Option(help="Also measure the ceiling and the straightforward build.")] = True,
    workers: Annotated[int, typer.Option(min=1, max=8, help="uvicorn worker processes (all three servers alike).")] = 1,
    open_seconds: Annotated[int, typer.Option(min=0, max=60, help="Length of each open-loop phase (0: none).")] = 5,
    open_rate: Annotated[float | None, typer.Option(min=1, help="The rate the open-loop shares are of, when the ceiling is not measured (--no-references).")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the JSON (default var/bench/).")] = None,
) -> None:
    """Scans per second and p50/p99 over HTTP: ours beside the framework ceiling and the straightforward build;
    then ours at fixed offered rates (25 % and 50 % of the ceiling's, open loop): p50/p99/max."""
    if shutil.which("wrk") is None:
        raise typer.BadParameter("wrk is needed (apt-get install -y wrk)")
    from ops.pgcluster import PgCluster

    results: list[dict[str, Any]] = []
    opened: list[dict[str, Any]] = []
    loads: dict[str, float] = {"start": load_average()}
    with ExitStack() as stack:
        if database_url is None:
            cluster = stack.enter_context(PgCluster())
            database_url = cluster.create_database("bench_scans")
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mb-bench-scans-")))
        typer.echo(f"seeding {volunteers} volunteers with tokens …", err=True)
        seed = _seed(database_url, tmp / "var", volunteers)
        clock_file = tmp / "clock"
        base = open_rate or 0.0  # what the open-loop shares are of

        if references:
            typer.echo(f"ceiling: trivial endpoint, {seconds} s …", err=True)
            server = Server("ops.bench.scans:trivial_app", {}, workers)
            try:
                r = _wrk(server.url, tmp, seed["tokens"], "MB1.x", clients=clients, threads=threads, seconds=seconds)
                results.append({"build": "ceiling: trivial endpoint", "phase": "-", **r, "load": load_average()})
                base = r["requests"] / r["seconds"]
                body = json.dumps({"code": "MB1.x"}).encode()
                for share in OPEN_SHARES if open_seconds else ():
                    typer.echo(f"ceiling: open loop at {share:.0%} of its rate, {open_seconds} s …", err=True)
                    o = open_loop(server.url, "/v1/scans", [(t, body) for t in seed["tokens"]], rate=share * base, seconds=open_seconds)
                    opened.append(open_row("ceiling: trivial endpoint", f"{share:.0%} of ceiling", o, base))
            finally:
                server.stop()

        # Volunteers kept apart for the open-loop phases (each scans once in, once out).
        tokens = seed["tokens"]
        reserved: dict[float, list[str]] = {}
        if base and open_seconds:
            for share in OPEN_SHARES:
                n = int(share * base * open_seconds) + 1
                if len(tokens) - n < 10:
                    typer.echo("warning: too few volunteers for the open-loop phases (use more --volunteers)", err=True)
                    reserved = {}
                    tokens = seed["tokens"]
                    break
                reserved[share], tokens = tokens[-n:], tokens[:-n]

        for build, batching in (("ours", True), ("straightforward", False))[: 2 if references else 1]:
            env = {
                "MORALBANK_DATABASE_URL": database_url, "MORALBANK_SECRET_KEY": SECRET_KEY,
                "MORALBANK_VAR_DIR": str(tmp / "var"), "MORALBANK_SCAN_BATCHING": str(batching).lower(),
                "MORALBANK_POOL_SIZE": "20", "MORALBANK_BOOTSTRAP_TOKEN": ADMIN, "BENCH_CLOCK": str(clock_file),
                # a few hundred clients from one address, many requests per token: the abuse limits
                # would measure themselves, not the path under test
                "MORALBANK_RATE_LIMITS": "false",
            }
            clock_file.write_text(seed["now"])
            server = Server("ops.bench.scans:server_app", env, workers)
            try:
                import httpx

                activity = str(seed["activities"][build])
                phase_tokens = tokens
                if references and build == "ours":
                    typer.echo(f"this app's GET /healthz, {seconds} s …", err=True)
                    r = _wrk_get(server.url + "/healthz", clients=clients, threads=threads, seconds=seconds)
                    results.append({"build": "this app: GET /healthz", "phase": "-", **r, "load": load_average()})
                for phase, advance in (("check-in", 0), ("check-out", 2 * 3600)):
                    if advance:
                        later = datetime.fromisoformat(seed["now"]) + timedelta(seconds=advance)
                        clock_file.write_text(later.isoformat())
                        os.utime(clock_file, (time.time() + 1, time.time() + 1))  # a new mtime, surely
                    code = httpx.get(
                        f"{server.url}/v1/activities/{activity}/qr", params={"format": "json"},
                        headers={"Authorization": f"Bearer {ADMIN}"},
                    ).json()["code"]
                    typer.echo(f"{build}: {phase}, {seconds} s …", err=True)
                    r = _wrk(server.url, tmp, phase_tokens, code, clients=clients, threads=threads, seconds=seconds)
                    if r["wrapped"]:
                        typer.echo(f"warning: {build} {phase} ran out of volunteers (use more --volunteers)", err=True)
                    results.append({"build": build, "phase": phase, **r, "load": load_average()})
                    # Check out those who were sent to check in.
                    phase_tokens = [t for lo, hi in r["used"] for t in phase_tokens[lo - 1 : hi]]
                    if build != "ours":
                        continue
                    body = json.dumps({"code": code}).encode()
                    for share, kept in reserved.items():
                        typer.echo(f"{build}: {phase}, open loop at {share:.0%} of the ceiling's rate, {open_seconds} s …", err=True)
                        o = open_loop(server.url, "/v1/scans", [(t, body) for t in kept], rate=share * base, seconds=open_seconds)
                        opened.append(open_row(build, f"{phase} at {share:.0%}", o, base))
            finally:
                server.stop()
            ins, outs = _recorded(database_url)
            typer.echo(f"{build}: recorded so far (all builds): {ins} check-ins, {outs} check-outs", err=True)
    loads["end"] = load_average()

    ceiling = results[0]["requests"] / results[0]["seconds"] if references else 0.0
    plain = {r["phase"]: r["requests"] / r["seconds"] for r in results if r["build"] == "straightforward"}
    rows = []
    for r in results:
        rate = r["requests"] / r["seconds"]
        rows.append({
            "build": r["build"], "phase": r["phase"], "requests": r["requests"], "seconds": round(r["seconds"], 2),
            "scans/s": round(rate, 1), "p50 ms": round(r["p50_us"] / 1000, 1), "p99 ms": round(r["p99_us"] / 1000, 1),
            "errors": r["status_errors"] + r["socket_errors"],
            "% of ceiling": round(100 * rate / ceiling, 1) if ceiling else "-",
            "× straightforward": round(rate / plain[r["phase"]], 2) if r["phase"] in plain else "-",
            "load": r["load"],
        })
    if opened:
        show("moralbank bench scans: open loop (fixed offered rate)", opened)
    emit("scans", rows, meta={"volunteers": volunteers, "clients": clients, "wrk_threads": threads,
                              "server": f"uvicorn, {workers} worker(s)", "store": "postgresql", "load_average": loads,
                              "open_loop": opened, "open_loop_base_rate": round(base, 1)}, out=out)
