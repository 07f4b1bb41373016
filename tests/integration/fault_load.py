"""Helpers of the fault tests (test_faults.py): a real ``moralbank serve`` / ``moralbank project``
process on a given store, a small town set up in the test process, and client threads that send
credits, payments and pay-code redemptions with an ``Idempotency-Key``, record every attempt and its answer, and retry
a request that got no answer or a 5xx with the same key until it gets a final one.

The checks afterwards: every request answered 2xx (finally) is in the ledger under its key, no
other API transaction is, each key moved points once, every volunteer's write-side balance and
projected balance equal the sum of the 2xx requests, and ``moralbank verify`` passes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from serving import free_port, stop, wait_healthy

from ledger import codes
from ledger.accounts import volunteer_account
from merchants.rules import parse_pay_code, redemption_key
from ops.replay import RECORDED

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = "mb_fault_bootstrap_admin_token"
SECRET = "fault-test-signing-key"
SEED_POINTS = 50


def child_env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MORALBANK_", "PROMETHEUS_"))}
    env.update(
        MORALBANK_DATABASE_URL=database_url,
        MORALBANK_VAR_DIR=str(tmp_path / "var"),
        MORALBANK_SECRET_KEY=SECRET,
        MORALBANK_BOOTSTRAP_TOKEN=BOOTSTRAP,
        MORALBANK_RATE_LIMITS="false",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def settings_for(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    from ops.settings import Settings

    return Settings(
        database_url=database_url, var_dir=tmp_path / "var", secret_key=SECRET, bootstrap_token=BOOTSTRAP, pool_size=4,
    )


class Proc:
    """A ``moralbank`` subprocess (``python -m ops.cli ARGS``), its output appended to a log."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], tmp_path: Path) -> None:
        self.name, self.args, self.env, self.tmp_path = name, args, env, tmp_path
        self.log = tmp_path / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> "Proc":
        with self.log.open("a") as log:  # the child keeps its own copy of the descriptor
            log.write(f"--- start {' '.join(self.args)}\n")
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ops.cli", *self.args], env=self.env, cwd=self.tmp_path,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        return self

    def wait_for(self, text: str, timeout: float = 60) -> None:
        """Until the process has written ``text`` since it was last started."""
        deadline = time.monotonic() + timeout
        while text not in self.output(max_chars=10**7).rsplit("--- start ", 1)[-1]:
            assert self.alive(), f"{self.name} exited:\n{self.output()}"
            assert time.monotonic() < deadline, f"{self.name} did not write {text!r} in {timeout}s:\n{self.output()}"
            time.sleep(0.1)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        assert self.proc is not None and self.alive(), self.output()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        assert self.proc.returncode == -signal.SIGKILL
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)

    def output(self, max_chars: int = 8000) -> str:
        try:
            return self.log.read_text(errors="replace")[-max_chars:]
        except OSError:
            return "(no output)"


class Server(Proc):
    """``moralbank serve`` on a fixed port (the same port across restarts)."""

    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self.port = free_port()
        super().__init__("serve", ["serve", "--port", str(self.port), "--log-level", "warning"], env, tmp_path)
        self.base = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "Server":
        super().start()
        wait_healthy(self.base, self.alive, self.output, timeout)
        return self


# ---------------------------------------------------------------- the town


@dataclass
class Town:
    unit_id: UUID
    volunteers: list[UUID]
    volunteer_tokens: dict[UUID, str]
    merchant_code: str
    merchant_token: str


def build_town(services: Any, volunteers: int = 12) -> Town:
    """A street, a community, volunteers seeded with SEED_POINTS each, one merchant; written
    in the test process before the server starts."""
    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    community = ledger.create_unit("春晖社区", "community", street.id)
    ids, tokens = [], {}
    for i in range(volunteers):
        v = ledger.register_volunteer(f"志愿者{i}", community.id)
        ids.append(v.id)
        tokens[v.id] = ledger.issue_token("volunteer", v.name, subject_id=v.id).secret
        ledger.credit(f"seed:{i}", community.id, v.id, SEED_POINTS)
    merchant, issued = services.alliance.register_merchant("便民超市", community.id)
    return Town(community.id, ids, tokens, services.alliance.merchant_code(merchant.id), issued.secret)


# ---------------------------------------------------------------- the load


@dataclass
class Attempt:
    status: int | None  # None: no answer (connection refused or reset, timeout)
    seconds: float
    error: str = ""
    code: str = ""  # the problem's code, for a 4xx/5xx with a problem body
    content_type: str = ""
    body: str = ""
    replayed: bool = False  # 2xx with Idempotent-Replayed: an earlier attempt had landed


@dataclass
class Op:
    kind: str  # "credit" | "payment" (the volunteer pays a till's code) | "redemption" (the till takes a pay code)
    key: str  # the Idempotency-Key
    volunteer_id: UUID
    points: int
    attempts: list[Attempt] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    result: dict[str, Any] | None = None  # the final 2xx body
    pay_code: str | None = None  # a redemption's pay code, fetched once and sent again on a retry
    fetched: int = 0  # GET pay-code answered 200 (a failed one is among the attempts)

    @property
    def ledger_tag(self) -> str:
        """What names this request in the ledger's keys (see ``ledger_tag``)."""
        if self.kind == "redemption":
            assert self.pay_code is not None
            _, fields = codes.read(SECRET.encode(), self.pay_code, kind=codes.PAY)
            return redemption_key(parse_pay_code(fields).nonce)
        return self.key

    @property
    def final(self) -> int | None:
        for a in reversed(self.attempts):
            if a.status is not None and a.status < 500:
                return a.status
        return None

    @property
    def ok(self) -> bool:
        return self.final is not None and 200 <= self.final < 300

    @property
    def delta(self) -> int:
        return self.points if self.kind == "credit" else -self.points


class Load:
    """Client threads sending credits (admin token), payments (volunteer tokens) and pay-code
    redemptions (the merchant's token) until
    stopped; a request without a final answer is retried with the same key. Each thread works
    on its own volunteers, one request at a time, so a payment is never refused only because a
    credit sent at the same moment had not landed yet."""

    def __init__(self, base: str, town: Town, *, threads: int = 4, timeout: float = 20.0, payments: bool = True,
                 seed: int | None = None) -> None:
        self.base, self.town, self.timeout, self.payments = base, town, timeout, payments
        self.stop_event = threading.Event()
        self.ops: list[Op] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i, threads), name=f"load-{i}", daemon=True)
                         for i in range(threads)]
        self._rng = random.Random(seed)
        self.errors: list[BaseException] = []
        self.retry_deadline = float("inf")  # set by finish()

    def start(self) -> "Load":
        for t in self._threads:
            t.start()
        return self

    def finish(self, retry_for: float = 60.0) -> None:
        """Stop sending new requests; the threads keep retrying those in flight for up to
        ``retry_for`` seconds."""
        self.retry_deadline = time.monotonic() + retry_for
        self.stop_event.set()
        for t in self._threads:
            t.join(timeout=retry_for + self.timeout + 10)
        assert not any(t.is_alive() for t in self._threads), "a client thread hung"
        assert not self.errors, self.errors

    def _run(self, index: int, of: int) -> None:
        try:
            rng = random.Random(self._rng.random())
            mine = self.town.volunteers[index::of]
            with httpx.Client(base_url=self.base, timeout=self.timeout) as client:
                while not self.stop_event.is_set():
                    v = rng.choice(mine)
                    dice = rng.random()
                    if self.payments and dice < 0.25:
                        op = Op("payment", f"pay-{uuid.uuid4()}", v, rng.randint(1, 8))
                    elif self.payments and dice < 0.4:
                        op = Op("redemption", f"redeem-{uuid.uuid4()}", v, rng.randint(1, 8))
                    else:
                        op = Op("credit", f"credit-{uuid.uuid4()}", v, rng.randint(1, 10))
                    with self._lock:
                        self.ops.append(op)
                    self._until_final(client, op)
        except BaseException as e:  # pragma: no cover - surfaced by finish()
            self.errors.append(e)

    def _until_final(self, client: httpx.Client, op: Op) -> None:
        while True:
            attempt = self._send(client, op)
            op.attempts.append(attempt)
            if attempt.status is not None and attempt.status < 500:
                return
            if self.stop_event.is_set() and time.monotonic() > self.retry_deadline:
                return
            time.sleep(0.1)

    def _send(self, client: httpx.Client, op: Op) -> Attempt:
        if op.kind == "redemption" and op.pay_code is None:
            # The volunteer's phone shows a code (nothing stored); a failure here is retried too.
            attempt = self._request(client, op, "GET", "/v1/me/pay-code?format=json", self.town.volunteer_tokens[op.volunteer_id])
            if attempt.status == 200:
                op.pay_code = str(op.result["code"])  # type: ignore[index]
                op.result = None
                op.fetched += 1
                return self._send(client, op)
            assert attempt.status is None or attempt.status >= 500, attempt
            return attempt
        if op.kind == "credit":
            url, token = "/v1/credits", BOOTSTRAP
            body: dict[str, Any] = {"volunteer_id": str(op.volunteer_id), "unit_id": str(self.town.unit_id), "points": op.points}
        elif op.kind == "payment":
            url, token = "/v1/me/payments", self.town.volunteer_tokens[op.volunteer_id]
            body = {"merchant_code": self.town.merchant_code, "points": op.points}
        else:
            url, token = "/v1/redemptions", self.town.merchant_token
            body = {"pay_code": op.pay_code, "points": op.points}
        return self._request(client, op, "POST", url, token, body)

    def _request(self, client: httpx.Client, op: Op, method: str, url: str, token: str,
                 body: dict[str, Any] | None = None) -> Attempt:
        headers = {"Authorization": f"Bearer {token}"}
        if method == "POST":
            headers["Idempotency-Key"] = op.key
        t0 = time.monotonic()
        try:
            r = client.request(method, url, json=body, headers=headers)
        except httpx.TransportError as e:  # refused, reset, timed out
            return Attempt(None, time.monotonic() - t0, error=type(e).__name__)
        seconds = time.monotonic() - t0
        ctype = r.headers.get("content-type", "")
        code = ""
        if r.status_code >= 400 and ctype.startswith("application/problem+json"):
            code = str(r.json().get("code", ""))
        if 200 <= r.status_code < 300:
            op.result = r.json()
        return Attempt(r.status_code, seconds, code=code, content_type=ctype, body=r.text[:2000] if r.status_code >= 500 else "",
                       replayed=r.headers.get("Idempotent-Replayed") == "true")


# ---------------------------------------------------------------- summary and checks


@dataclass
class Summary:
    ops: int
    requests: int
    ok: int  # operations answered 2xx in the end
    refused: int  # operations answered 4xx in the end
    failed_attempts: int  # attempts answered 5xx or not at all
    no_answer: int
    by_status: Counter[str]
    retried_ok: int  # operations that failed at least once and landed on a retry
    replayed: int  # retries answered with the first result (the failed attempt had landed)
    max_seconds: float
    kinds: Counter[str]

    def line(self) -> str:
        statuses = " ".join(f"{k}:{v}" for k, v in sorted(self.by_status.items()))
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.kinds.items()))
        return (f"requests {self.requests} (ops {self.ops}: {kinds}), 2xx {self.ok}, 4xx {self.refused}, errors {self.failed_attempts} "
                f"(no answer {self.no_answer}), retried-then-2xx {self.retried_ok} (replayed {self.replayed}), slowest {self.max_seconds:.2f}s [{statuses}]")


def summarize(ops: list[Op]) -> Summary:
    attempts = [a for op in ops for a in op.attempts]
    by_status: Counter[str] = Counter(
        (str(a.status) + (f"/{a.code}" if a.code and a.status and a.status >= 500 else "")) if a.status is not None else a.error
        for a in attempts
    )
    return Summary(
        ops=len(ops), requests=len(attempts) + sum(op.fetched for op in ops), ok=sum(op.ok for op in ops),
        refused=sum(1 for op in ops if op.final is not None and op.final >= 400),
        failed_attempts=sum(1 for a in attempts if a.status is None or a.status >= 500),
        no_answer=sum(1 for a in attempts if a.status is None), by_status=by_status,
        retried_ok=sum(1 for op in ops if op.ok and len(op.attempts) > 1),
        replayed=sum(1 for a in attempts if a.replayed),
        max_seconds=max((a.seconds for a in attempts), default=0.0),
        kinds=Counter(op.kind for op in ops),
    )


def api_transactions(services: Any) -> Counter[str]:
    """The tags of every transaction recorded through the API, counted from the raw log: the
    client's key of a credit (``api:<principal>:<key>``) or a payment
    (``scanpay:<volunteer>:api:<principal>:<key>``), the whole key of a pay-code redemption
    (``paycode:<nonce>``)."""
    keys: Counter[str] = Counter()
    for n in services.ledger.iter_notifications(topics=[RECORDED]):
        key = json.loads(n.state)["key"]
        if key.startswith(("api:", "scanpay:")):
            keys[key.rsplit(":", 1)[1]] += 1
        elif key.startswith("paycode:"):
            keys[key] += 1
    return keys


def check_ledger(services: Any, town: Town, ops: list[Op], projected: dict[UUID, int]) -> None:
    """Every operation has a final answer; the ledger holds exactly the 2xx ones, once each;
    every balance (write side and ``projected``, the server's read side) is the seed plus the
    2xx credits minus the 2xx payments."""
    unanswered = [op for op in ops if op.final is None]
    assert not unanswered, f"{len(unanswered)} request(s) never got a final answer, e.g. {unanswered[0]}"
    refused = Counter(f"{op.kind}:{a.status}/{a.code}" for op in ops if not op.ok for a in op.attempts[-1:])
    # The only refusal the load can meet is a payment over the balance.
    assert set(refused) <= {"payment:409/insufficient_points", "redemption:409/insufficient_points"}, refused
    ledger = services.ledger
    for op in ops:
        if op.ok:
            assert op.result is not None
            txn = ledger.get_transaction(UUID(op.result["transaction_id"] if "transaction_id" in op.result else op.result["id"]))
            assert txn.key.endswith(op.ledger_tag), (txn.key, op.ledger_tag)
    keys = api_transactions(services)
    assert max(keys.values(), default=1) == 1, [k for k, n in keys.items() if n > 1][:5]
    landed = set(keys)
    wanted = {op.ledger_tag for op in ops if op.ok}
    assert landed == wanted, (f"in the ledger but not answered 2xx: {sorted(landed - wanted)[:5]}; "
                              f"answered 2xx but not in the ledger: {sorted(wanted - landed)[:5]}")
    expected = {v: SEED_POINTS for v in town.volunteers}
    for op in ops:
        if op.ok:
            expected[op.volunteer_id] += op.delta
    guarded = {v: ledger.guarded_balance(volunteer_account(v)) for v in town.volunteers}
    assert guarded == expected
    assert projected == expected


def projected_balances(base: str, town: Town, timeout: float = 60) -> dict[UUID, int]:
    """The server's read side (GET .../account), once /readyz reports every projection at the
    log's end (a 503 from /readyz, e.g. while the store recovers, is polled again)."""
    headers = {"Authorization": f"Bearer {BOOTSTRAP}"}
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base, timeout=10, headers=headers) as client:
        while True:
            ready = client.get("/readyz").json()
            lags = [p["lag"] for p in ready.get("projections", {}).values()] if "projections" in ready else [1]
            if lags and max(lags) == 0:
                return {v: int(client.get(f"/v1/volunteers/{v}/account").json()["balance"]) for v in town.volunteers}
            assert time.monotonic() < deadline, f"projections did not catch up: {ready}"
            time.sleep(0.2)


def run_verify(env: dict[str, str], tmp_path: Path) -> str:
    """``moralbank verify`` (catching the projections up first); returns its output."""
    proc = subprocess.run(
        [sys.executable, "-m", "ops.cli", "verify"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK" in proc.stdout, proc.stdout
    return proc.stdout


def assert_projections_rebuild_equal(services: Any) -> dict[str, int]:
    """Invariant 5: each projection is at the log's end and holds exactly the rows a rebuild
    from scratch gives. Returns the positions."""
    from projections.base import snapshot_rows

    end = services.ledger.max_notification_id()
    positions = {f.name: f.position() for f in services.followers}
    assert set(positions.values()) == {end}, (positions, end)
    before = {f.name: snapshot_rows(services.db, f.projection) for f in services.followers}
    for f in services.followers:
        f.rebuild()
        assert f.position() == end, f.name
    after = {f.name: snapshot_rows(services.db, f.projection) for f in services.followers}
    for name in before:
        assert before[name] == after[name], f"projection {name} differs from its rebuild"
    return positions
