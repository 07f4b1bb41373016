"""``moralbank bench soak``: the whole product under a mixed load while its processes are killed.

On a throwaway PostgreSQL primary and a hot standby fed by streaming replication (each its own
cluster on loopback): ``moralbank serve --workers N`` with reads of projections from the standby,
one ``moralbank project`` worker, and clients sending a fixed number of operations — scans
(check-in, check-out), redemptions, credits, reversals of redemptions, small welfare-day batches
and reads. A chaos thread kills ``serve`` (SIGKILL to its process group), the worker (SIGKILL) or
the standby (an immediate stop) at random moments and starts them again.

A client retries an operation it got no answer for (or a 5xx) with the same ``Idempotency-Key``
(a scan: the same code within its grace period) until it has a definite one, so every operation
ends known. At the end:
- every 2xx that moved points is in the ledger, and exactly once: each answered transaction id is
  in the postings table, and per kind the store holds no transaction the clients were not told of;
- every batch answered 2xx finished with its lines credited once;
- ``moralbank verify`` passes (the chain, the invariants, projections equal a rebuild).
Figures: operations and kills, answers by status and code, latency per kind (p50/p99/max).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from ops.bench.report import emit

SECRET_KEY = "bench-soak-signing-key-0123456789"
ADMIN = "mb_a_soak_admin_0123456789abcdef"
MIX = {"read": 30, "scan": 25, "redeem": 22, "credit": 10, "reverse": 6, "batch": 2, "board": 5}
GIVE_UP_SECONDS = 180.0  # one operation's retries: longer than any restart
CODE_SECONDS = 20.0  # an activity's code is shown afresh every 30 s; the scanner re-reads it after this


# ---------------------------------------------------------------- the processes


@dataclass
class Proc:
    """A child process in its own session (killed with its children), started again on demand."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=out, start_new_session=True)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


class Chaos(threading.Thread):
    """Kills one of serve, the projection worker or the standby every ``every`` seconds on average
    (exponential gaps), and starts it again after a short pause."""

    def __init__(self, serve: Proc, worker: Proc, standby: Any, every: float, rng: random.Random) -> None:
        super().__init__(name="soak-chaos", daemon=True)
        self.serve, self.worker, self.standby = serve, worker, standby
        self.every, self.rng = every, rng
        self.stop_event = threading.Event()
        self.kills: Counter[str] = Counter()

    def run(self) -> None:
        while not self.stop_event.wait(self.rng.expovariate(1 / self.every)):
            target = self.rng.choice(["serve", "worker", "standby"])
            pause = self.rng.uniform(0.2, 2.0)
            if target == "standby":
                self.standby.halt()
                time.sleep(pause)
                self.standby.restart()
            else:
                proc = self.serve if target == "serve" else self.worker
                proc.kill()
                time.sleep(pause)
                proc.start()
            self.kills[target] += 1


# ---------------------------------------------------------------- the neighbourhood


def _seed(url: str, var: Path, volunteers: int, merchants: int, activities: int) -> dict[str, Any]:
    from ops.settings import Settings
    from ops.wiring import build_services, close_services

    import logging

    svc = build_services(Settings(database_url=url, var_dir=var, secret_key=SECRET_KEY, bootstrap_token=ADMIN))
    logging.getLogger("moralbank.commands").setLevel(logging.WARNING)  # not a line per made-up command
    try:
        ledger, now = svc.ledger, svc.ledger.clock.now()
        street = ledger.create_unit("澄湖街道", "street", None)
        communities = [ledger.create_unit(name, "community", street.id) for name in ("荷塘社区", "枫桥社区")]
        people = []
        for i in range(volunteers):
            v = ledger.register_volunteer(f"志愿者{i:05d}", communities[i % 2].id)
            token = ledger.issue_token("volunteer", "soak phone", subject_id=v.id).secret
            ledger.credit(f"soak:seed:{i}", street.id, v.id, 500, minutes=60)
            people.append({"id": str(v.id), "token": token})
        shops = [svc.alliance.register_merchant(f"澄湖小店{i}", street.id)[1].secret for i in range(merchants)]
        acts = [
            str(svc.attendance.create_activity(f"巡河护绿 第{i + 1}场", street.id, now - timedelta(minutes=30), now + timedelta(days=2), 10).id)
            for i in range(activities)
        ]
        svc.catch_up()
        return {"street": str(street.id), "volunteers": people, "merchants": shops, "activities": acts}
    finally:
        close_services(svc)


# ---------------------------------------------------------------- the clients


@dataclass
class Outcome:
    kind: str
    status: int  # 0: no definite answer within GIVE_UP_SECONDS
    code: str
    seconds: float
    retries: int  # requests sent again for want of an answer
    transactions: list[str] = field(default_factory=list)  # ids of ledger transactions answered 2xx


class Load:
    """Operations drawn from ``MIX`` with one seeded generator per client; shared state (who
    scanned where, which redemptions may be reversed) behind one lock."""

    def __init__(self, base: str, seed: dict[str, Any], operations: int, rng_seed: int) -> None:
        self.base, self.seed = base, seed
        self.left = operations
        self.lock = threading.Lock()
        self.outcomes: list[Outcome] = []
        self.redeemed: list[str] = []  # redemption ids that may be reversed
        self.scan_at = [0] * len(seed["volunteers"])  # per volunteer: scans made (2 per activity)
        self.busy: set[int] = set()  # volunteers with an operation in flight (a scan's order matters)
        self.batches: list[tuple[str, int]] = []  # (batch id, lines) answered 2xx
        self.codes: dict[str, tuple[str, float]] = {}  # per activity: its code and when it was fetched
        self.kinds = list(MIX)
        self.weights = [MIX[k] for k in self.kinds]
        self.rng_seed = rng_seed

    def take(self) -> bool:
        with self.lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True

    def client(self, n: int) -> None:
        import httpx

        rng = random.Random(self.rng_seed * 1000 + n)
        with httpx.Client(base_url=self.base, timeout=15) as http:
            while self.take():
                kind = rng.choices(self.kinds, self.weights)[0]
                started = time.monotonic()
                outcome = getattr(self, f"_{kind}")(http, rng)
                outcome.seconds = time.monotonic() - started
                with self.lock:
                    self.outcomes.append(outcome)

    # -- one try at a time, retried until definite

    def _send(self, http: Any, method: str, path: str, **kw: Any) -> tuple[int, Any, int]:
        """(status, body, retries): sent again, the same request, on no answer or a 5xx."""
        import httpx

        deadline = time.monotonic() + GIVE_UP_SECONDS
        attempts = 0
        while True:
            attempts += 1
            try:
                r = http.request(method, path, **kw)
                if r.status_code < 500:
                    try:
                        body = r.json()
                    except ValueError:
                        body = {}
                    return r.status_code, body, attempts - 1
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                return 0, {"code": "no_answer"}, attempts - 1
            time.sleep(min(2.0, 0.05 * attempts))

    @staticmethod
    def _bearer(secret: str, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}", **({"Idempotency-Key": key} if key else {})}

    def _volunteer(self, rng: random.Random) -> tuple[int, dict[str, str]]:
        people = self.seed["volunteers"]
        while True:
            i = rng.randrange(len(people))
            with self.lock:
                if i not in self.busy:
                    self.busy.add(i)
                    return i, people[i]

    def _done(self, i: int) -> None:
        with self.lock:
            self.busy.discard(i)

    def _outcome(self, kind: str, status: int, body: Any, attempts: int, *tx: str) -> Outcome:
        code = "" if 200 <= status < 300 else str(body.get("code", "")) if isinstance(body, dict) else ""
        return Outcome(kind, status, code, 0.0, attempts, [t for t in tx if t] if 200 <= status < 300 else [])

    # -- the operations

    def _read(self, http: Any, rng: random.Random) -> Outcome:
        i, v = self._volunteer(rng)
        self._done(i)  # a read does not depend on the order of the volunteer's operations
        status, body, attempts = self._send(http, "GET", "/v1/me/account", headers=self._bearer(v["token"]))
        return self._outcome("read", status, body, attempts)

    def _board(self, http: Any, rng: random.Random) -> Outcome:
        status, body, attempts = self._send(http, "GET", "/v1/leaderboards", params={"unit_id": self.seed["street"]})
        return self._outcome("board", status, body, attempts)

    def _credit(self, http: Any, rng: random.Random) -> Outcome:
        i, v = self._volunteer(rng)
        try:
            body = {"volunteer_id": v["id"], "unit_id": self.seed["street"], "points": rng.randint(1, 20), "minutes": 30}
            status, out, attempts = self._send(http, "POST", "/v1/credits", json=body,
                                               headers=self._bearer(ADMIN, f"soak-credit-{uuid.uuid4().hex}"))
            return self._outcome("credit", status, out, attempts, str(out.get("id", "")) if status < 300 else "")
        finally:
            self._done(i)

    def _redeem(self, http: Any, rng: random.Random) -> Outcome:
        i, v = self._volunteer(rng)
        try:
            status, shown, attempts = self._send(http, "GET", "/v1/me/pay-code", headers=self._bearer(v["token"]))
            if status != 200:
                return self._outcome("redeem", status, shown, attempts)
            shop = rng.choice(self.seed["merchants"])
            status, out, more = self._send(http, "POST", "/v1/redemptions",
                                           json={"pay_code": shown["code"], "points": rng.randint(1, 5)},
                                           headers=self._bearer(shop, f"soak-redeem-{uuid.uuid4().hex}"))
            if status == 201:
                with self.lock:
                    self.redeemed.append(out["id"])
            return self._outcome("redeem", status, out, attempts + more, str(out.get("transaction_id", "")) if status < 300 else "")
        finally:
            self._done(i)

    def _reverse(self, http: Any, rng: random.Random) -> Outcome:
        with self.lock:
            target = self.redeemed.pop(rng.randrange(len(self.redeemed))) if self.redeemed else None
        if target is None:
            return self._read(http, rng)
        status, out, attempts = self._send(http, "POST", f"/v1/redemptions/{target}/reversal",
                                           json={"reason": "顾客退货"}, headers=self._bearer(ADMIN, f"soak-reverse-{target}"))
        return self._outcome("reverse", status, out, attempts, str(out.get("reversed_by") or "") if status < 300 else "")

    def _scan(self, http: Any, rng: random.Random) -> Outcome:
        i, v = self._volunteer(rng)
        try:
            k = self.scan_at[i] // 2
            if k >= len(self.seed["activities"]):
                return Outcome("scan", 409, "soak_no_activity_left", 0.0, 0)
            activity = self.seed["activities"][k]
            code = self._activity_code(http, activity)
            status, out, attempts = self._send(http, "POST", "/v1/scans", json={"code": code}, headers=self._bearer(v["token"]))
            if status == 200 or status == 201:
                self.scan_at[i] += 1
            credited = str((out.get("attendance") or {}).get("transaction_id") or "") if status < 300 else ""
            return self._outcome("scan", status, out, attempts, credited)
        finally:
            self._done(i)

    def _activity_code(self, http: Any, activity: str) -> str:
        """The activity's code as its screen shows it now: codes rotate every 30 s, so one fetched
        more than 20 s ago is fetched again."""
        with self.lock:
            code, fetched = self.codes.get(activity, ("", 0.0))
        if time.monotonic() - fetched > CODE_SECONDS:
            status, out, _ = self._send(http, "GET", f"/v1/activities/{activity}/qr",
                                        params={"format": "json"}, headers=self._bearer(ADMIN))
            code = str(out.get("code")) if status == 200 else "unavailable"
            with self.lock:
                self.codes[activity] = (code, time.monotonic())
        return code

    def _batch(self, http: Any, rng: random.Random) -> Outcome:
        people = rng.sample(self.seed["volunteers"], 20)
        text = "volunteer_id,points\n" + "".join(f"{p['id']},{rng.randint(1, 5)}\n" for p in people)
        status, out, attempts = self._send(
            http, "POST", "/v1/batches", params={"unit_id": self.seed["street"], "title": "soak 公益日"},
            content=text.encode(), headers={**self._bearer(ADMIN, f"soak-batch-{uuid.uuid4().hex}"), "Content-Type": "text/csv"},
        )
        if status in (200, 201, 202):
            with self.lock:
                self.batches.append((str(out["id"]), len(people)))
        return self._outcome("batch", status, out, attempts)


# ---------------------------------------------------------------- the checks


def _check(url: str, load: Load, seeded_credits: int) -> dict[str, Any]:
    import httpx
    import psycopg

    answered = [t for o in load.outcomes for t in o.transactions]
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%%_postings'").fetchone()
        table = str(row[0]) if row else "postings"
        stored = {str(r[0]) for r in conn.execute(f"SELECT DISTINCT transaction_id FROM {table}")}
        by_kind = dict(conn.execute(f"SELECT kind, count(DISTINCT transaction_id) FROM {table} GROUP BY kind").fetchall())
    missing = [t for t in answered if t not in stored]
    told = Counter(o.kind for o in load.outcomes for _ in o.transactions)
    # A scan answered twice (a replay within its grace period) names the same credit: count it once.
    told["scan"] = len({t for o in load.outcomes if o.kind == "scan" for t in o.transactions})
    twice = len([t for o in load.outcomes if o.kind != "scan" for t in o.transactions])
    twice -= len({t for o in load.outcomes if o.kind != "scan" for t in o.transactions})
    batch_done = 0
    with httpx.Client(base_url=load.base, timeout=30) as http:
        for batch_id, lines in load.batches:
            for _ in range(600):
                r = http.get(f"/v1/batches/{batch_id}", headers={"Authorization": f"Bearer {ADMIN}"})
                if r.status_code == 200 and r.json()["status"] != "running":
                    break
                time.sleep(0.1)
            body = r.json()
            batch_done += body.get("status") == "finished" and body.get("accepted") == lines
    expected = {"award": told["credit"] + told["scan"] + seeded_credits, "redemption": told["redeem"],
                "reversal": told["reverse"], "batch": len(load.batches)}
    # Per kind, the store holds exactly the transactions the clients were answered 2xx for.
    unexplained = {k: {"stored": by_kind.get(k, 0), "answered": n} for k, n in expected.items() if by_kind.get(k, 0) != n}
    unexplained |= {k: {"stored": n, "answered": 0} for k, n in by_kind.items() if k not in expected}
    return {
        "unexplained": unexplained,
        "answered_2xx_transactions": len(answered), "missing_from_ledger": len(missing), "answered_twice": twice,
        "told": dict(told), "stored_by_kind": by_kind, "seeded_credits": seeded_credits,
        "batches": len(load.batches), "batches_finished_whole": batch_done,
    }


def _verify(env: dict[str, str], cli: str) -> tuple[int, str]:
    p = subprocess.run([cli, "verify"], env=env, capture_output=True, text=True, timeout=3600)
    return p.returncode, (p.stdout + p.stderr)[-2000:]


def _ms(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 1)


def bench_soak(
    operations: Annotated[int, typer.Option(min=1, help="Operations in all.")] = 20_000,
    clients: Annotated[int, typer.Option(min=1, help="Concurrent clients.")] = 32,
    workers: Annotated[int, typer.Option(min=1, help="serve --workers.")] = 4,
    volunteers: Annotated[int, typer.Option(min=10)] = 400,
    merchants: Annotated[int, typer.Option(min=1)] = 6,
    kill_every: Annotated[float, typer.Option(min=0.5, help="Mean seconds between kills (0.5 and up).")] = 20.0,
    seed: Annotated[int, typer.Option(help="Random seed of the load and the kills.")] = 1,
    out: Annotated[Path | None, typer.Option(help="JSON file (default var/bench/soak-<time>.json).")] = None,
) -> None:
    """serve --workers N + a projection worker + a primary and a streaming standby, a mixed load,
    kills at random moments; then every 2xx in the ledger exactly once, and verify."""
    from ops.pgcluster import PgCluster, free_port

    rng = random.Random(seed)
    cli = str(Path(sys.executable).with_name("moralbank"))
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(__import__("tempfile").TemporaryDirectory(prefix="soak-")))
        primary = PgCluster(settings={"max_connections": "400"}).start()
        stack.callback(primary.stop)
        standby = primary.standby()
        stack.callback(standby.stop)
        url = primary.create_database("soak")
        read_url = standby.wait_for_database("soak")
        activities = max(1, -(-operations * MIX["scan"] // sum(MIX.values()) // (2 * volunteers)) + 2)
        started = time.monotonic()
        neighbourhood = _seed(url, tmp / "var", volunteers, merchants, activities)
        typer.echo(f"seeded {volunteers} volunteers, {merchants} shops, {activities} activities in {time.monotonic() - started:.1f}s", err=True)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MORALBANK_")},
            "MORALBANK_DATABASE_URL": url, "MORALBANK_READ_DATABASE_URLS": read_url,
            "MORALBANK_VAR_DIR": str(tmp / "var"), "MORALBANK_SECRET_KEY": SECRET_KEY,
            "MORALBANK_RATE_LIMITS": "false", "MORALBANK_POOL_SIZE": "8",
        }
        port = free_port("127.0.0.1")
        serve = Proc("serve", [cli, "serve", "--workers", str(workers), "--port", str(port), "--log-level", "warning"], env, tmp / "serve.log")
        worker = Proc("worker", [cli, "project", "--poll", "0.02"], env, tmp / "project.log")
        serve.start()
        worker.start()
        stack.callback(serve.stop)
        stack.callback(worker.stop)
        base = f"http://127.0.0.1:{port}"
        _wait_up(base, 120)
        load = Load(base, neighbourhood, operations, seed)
        chaos = Chaos(serve, worker, standby, kill_every, rng)
        chaos.start()
        t0 = time.monotonic()
        threads = [threading.Thread(target=load.client, args=(n,), daemon=True) for n in range(clients)]
        for t in threads:
            t.start()
        last = t0
        while any(t.is_alive() for t in threads):
            time.sleep(1)
            if time.monotonic() - last > 30:
                last = time.monotonic()
                typer.echo(f"  {len(load.outcomes):,} operations, kills {dict(chaos.kills)}", err=True)
        elapsed = time.monotonic() - t0
        chaos.stop_event.set()
        chaos.join()
        for proc in (serve, worker):  # whatever the last kill left, both run for the checks
            if proc.proc is None or proc.proc.poll() is not None:
                proc.start()
        if not standby.running:
            standby.restart()
        _wait_up(base, 120)
        checks = _check(url, load, volunteers)
        worker.stop()
        subprocess.run([cli, "project", "--once"], env=env, capture_output=True, check=True, timeout=1800)
        code, verify_text = _verify(env, cli)

    rows = []
    for kind in sorted({o.kind for o in load.outcomes}):
        mine = [o for o in load.outcomes if o.kind == kind]
        answers = Counter(f"{o.status} {o.code}".strip() for o in mine)
        rows.append({
            "kind": kind, "operations": len(mine), "2xx": sum(200 <= o.status < 300 for o in mine),
            "retried": sum(o.retries > 0 for o in mine), "p50_ms": _ms([o.seconds for o in mine], 0.50),
            "p99_ms": _ms([o.seconds for o in mine], 0.99), "max_ms": _ms([o.seconds for o in mine], 1.0),
            "answers": ", ".join(f"{k}×{v}" for k, v in answers.most_common() if not k.startswith("2")) or "-",
        })
    meta = {
        "operations": len(load.outcomes), "seconds": round(elapsed, 1), "ops_per_s": round(len(load.outcomes) / elapsed, 1),
        "kills": dict(chaos.kills), "no_answer": sum(o.status == 0 for o in load.outcomes),
        "verify_exit": code, "verify_tail": verify_text, "checks": checks, "clients": clients, "workers": workers,
        "load_average": os.getloadavg(),
    }
    emit("soak", rows, meta=meta, out=out)
    ok = code == 0 and not checks["unexplained"] and checks["missing_from_ledger"] == 0 and checks["answered_twice"] == 0 and meta["no_answer"] == 0 \
        and checks["batches_finished_whole"] == checks["batches"]
    typer.echo(f"{len(load.outcomes):,} operations in {elapsed:.0f}s, kills {dict(chaos.kills)}, verify exit {code}, "
               f"2xx missing {checks['missing_from_ledger']}, twice {checks['answered_twice']}: {'OK' if ok else 'FAILED'}", err=True)
    if not ok:
        raise typer.Exit(1)


def _wait_up(base: str, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{base} did not come up within {timeout:.0f}s")
        time.sleep(0.2)
