"""The hot paths under load, on PostgreSQL, over HTTP: ``moralbank serve --workers 2`` takes 2 000
scans and redemptions from 200 clients at once, half of them on 10 hot volunteers who run out of
points, while an admin revokes a till's token and a hot volunteer's token in the middle.

- no request sent with a revoked token after its revocation was answered succeeds (whichever of
  the two workers serves it: each caches tokens, and the revocation answers once every process
  has seen it);
- no volunteer goes below zero, at any point of the log; every answer is a success or a 4xx;
- the invariants hold and ``verify`` passes.
"""

from __future__ import annotations

import os
import random
import secrets
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from invariants import assert_invariants
from serving import free_port, stop, wait_healthy

from ledger import codes
from ledger.accounts import Posting, issuing_account, volunteer_account
from ledger.application import hash_secret
from ledger.domain import AccessToken, Volunteer
from ledger.journal import Movement
from merchants import rules
from ops.verify import verify
from ops.wiring import build_services, close_services

CLIENTS = 200
REQUESTS = 2000
HOT = 10
HOT_POINTS = 40  # each hot volunteer is asked for about 100: most of their payments are refused
COLD_PAYERS = 100
COLD_SCANNERS = 500
ADMIN = "mb_test_hot_paths_admin"


@dataclass
class Call:
    kind: str  # "scan" or "redeem"
    token: str
    volunteer: Any
    points: int = 0
    sent: float = 0.0
    answered: float = 0.0
    status: int = 0
    code: str = ""


def _seed(services: Any) -> dict[str, Any]:
    ledger, alliance, attendance = services.ledger, services.alliance, services.attendance
    now = datetime.now(timezone.utc)
    street = ledger.create_unit("青禾街道", "street", None)
    activity = attendance.create_activity("社区环境清洁", street.id, now - timedelta(minutes=10), now + timedelta(hours=4), 10)
    tills = [alliance.register_merchant(f"联盟商家{i + 1}号店", street.id)[1].secret for i in range(4)]
    people: list[tuple[Volunteer, str]] = []
    objs: list[Any] = []
    for i in range(HOT + COLD_PAYERS + COLD_SCANNERS):
        v = Volunteer(name=f"志愿者{i}", unit_id=street.id, phone_last4=None, member_no=None, at=ledger.clock.now())
        secret = f"mb_v_hot_{secrets.token_urlsafe(16)}"
        objs += [v, AccessToken(secret_hash=hash_secret(secret), role="volunteer", name=v.name, unit_ids=[],
                                subject_id=v.id, hint=secret[-4:], at=ledger.clock.now())]
        people.append((v, secret))
        if len(objs) >= 400:
            ledger.save(*objs)
            objs = []
    ledger.save(*objs)
    credits = [
        ledger.journal.transaction(Movement(
            f"seed:{v.id}", "award", [Posting(issuing_account(street.id), volunteer_account(v.id), HOT_POINTS if i < HOT else 100)],
            unit_id=street.id,
        ))
        for i, (v, _) in enumerate(people[: HOT + COLD_PAYERS])
    ]
    for start in range(0, len(credits), 100):
        ledger.journal.commit(*credits[start : start + 100], grouped=False)
    return {"activity": activity.id, "tills": tills, "hot": people[:HOT], "payers": people[HOT : HOT + COLD_PAYERS],
            "scanners": people[HOT + COLD_PAYERS :]}


def _calls(seed: dict[str, Any], rng: random.Random) -> list[Call]:
    """Half the requests on the hot volunteers (their scans and payments), the rest spread."""
    calls: list[Call] = []
    for i in range(REQUESTS // 4):
        v, token = seed["hot"][i % HOT]
        calls.append(Call("scan", token, v))
        calls.append(Call("redeem", seed["tills"][i % 4], v, rng.randint(1, 3)))
        calls.append(Call("scan", *reversed(seed["scanners"][i % COLD_SCANNERS])))
        v, _ = seed["payers"][i % COLD_PAYERS]
        calls.append(Call("redeem", seed["tills"][(i + 1) % 4], v, rng.randint(1, 3)))
    rng.shuffle(calls)
    return calls


@pytest.mark.parametrize("store", ["postgres"])
def test_scans_and_redemptions_from_200_clients_with_tokens_revoked_midway(settings: Any, tmp_path: Path) -> None:
    services = build_services(settings)  # the system clock: the server's clock
    try:
        _run(services, settings, tmp_path)
    finally:
        close_services(services)


def _run(services: Any, settings: Any, tmp_path: Path) -> None:
    seed = _seed(services)
    key = settings.secret_key.get_secret_value().encode()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MORALBANK_", "PROMETHEUS_"))},
        "MORALBANK_DATABASE_URL": settings.database_url,
        "MORALBANK_VAR_DIR": str(tmp_path / "var"),
        "MORALBANK_SECRET_KEY": settings.secret_key.get_secret_value(),
        "MORALBANK_BOOTSTRAP_TOKEN": ADMIN,
        "MORALBANK_RATE_LIMITS": "false",  # 200 clients from one address
        "MORALBANK_CREATE_TABLES": "false",
        "TMPDIR": str(tmp_path),
    }
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    cli = str(Path(sys.executable).with_name("moralbank"))
    serve = subprocess.Popen([cli, "serve", "--workers", "2", "--port", str(port), "--log-level", "warning"],
                             env=env, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    rng = random.Random(15)
    calls = _calls(seed, rng)
    till, hot_volunteer = seed["tills"][0], seed["hot"][0][1]
    revoked: dict[str, float] = {}  # token -> when its revocation was answered (monotonic)
    finished = 0
    lock = threading.Lock()
    local = threading.local()
    try:
        wait_healthy(base, lambda: serve.poll() is None, lambda: (tmp_path / "serve.log").read_text(), timeout=180)
        with httpx.Client(base_url=base, timeout=30) as admin:
            for token in (till, hot_volunteer):  # each worker has cached these tokens
                assert admin.get("/v1/me" if token == hot_volunteer else "/v1/merchants/me",
                                 headers={"Authorization": f"Bearer {token}"}).status_code == 200

        def revoke_midway() -> None:
            while finished < REQUESTS // 4:
                time.sleep(0.01)
            with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {ADMIN}"}) as admin:
                for token in (till, hot_volunteer):
                    r = admin.delete(f"/v1/tokens/{AccessToken.create_id(hash_secret(token))}")
                    assert r.status_code == 200 and r.json()["revoked_at"], r.text
                    revoked[token] = time.monotonic()

        def one(call: Call) -> Call:
            nonlocal finished
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = httpx.Client(base_url=base, timeout=60)
            headers = {"Authorization": f"Bearer {call.token}"}
            if call.kind == "scan":
                body: dict[str, Any] = {"code": services.attendance.code_for(seed["activity"]).code}
                path = "/v1/scans"
            else:
                pay = codes.sign(key, codes.PAY, rules.pay_code_fields(call.volunteer.id, secrets.token_urlsafe(12), int(time.time()) + 600))
                body, path = {"pay_code": pay, "points": call.points}, "/v1/redemptions"
            call.sent = time.monotonic()
            r = client.post(path, json=body, headers=headers)
            call.answered = time.monotonic()
            call.status = r.status_code
            if r.status_code >= 400:
                call.code = r.json().get("code", "")
            with lock:
                finished += 1
            return call

        revoker = threading.Thread(target=revoke_midway)
        revoker.start()
        with ThreadPoolExecutor(CLIENTS) as pool:
            done = list(pool.map(one, calls))
        revoker.join(timeout=60)
    finally:
        stop(serve)

    assert set(revoked) == {till, hot_volunteer}
    # Every answer is a success or a refusal the API documents; never a 5xx.
    outcomes: dict[tuple[str, int, str], int] = {}
    for c in done:
        outcomes[(c.kind, c.status, c.code)] = outcomes.get((c.kind, c.status, c.code), 0) + 1
    assert all(status in (200, 201, 401, 409) for _, status, _ in outcomes), outcomes
    # The revoked tokens: refused for every request sent after the revocation was answered.
    for token, answered in revoked.items():
        after = [c for c in done if c.token == token and c.sent > answered]
        assert after, f"no request of the revoked token was sent after its revocation: {outcomes}"
        wrong = [(c.kind, c.status, c.code) for c in after if c.status != 401 or c.code != "unauthorized"]
        assert wrong == [], wrong[:5]
        # and before it, the token worked
        assert any(c.status in (200, 201) for c in done if c.token == token and c.answered < answered)
    # The hot volunteers ran out: the guard refused what they did not have.
    assert outcomes.get(("redeem", 409, "insufficient_points"), 0) > 0, outcomes
    assert outcomes.get(("redeem", 201, ""), 0) > 0 and outcomes.get(("scan", 200, ""), 0) > 0, outcomes
    balances = services.ledger.guarded_balances()
    assert all(b >= 0 for b in balances.values())
    for v, _ in seed["hot"]:
        assert balances.get(volunteer_account(v.id), 0) < HOT_POINTS  # each paid something
    assert_invariants(services)  # never below zero at any point of the log; double entry; replays
    report = verify(services)
    assert report.ok, report.violations[:5]
