"""Read-your-writes (DESIGN.md, Storage → Consistency): a 2xx write answers ``Log-Position``; the
next read of projections by the same principal, or of the account the write moved, waits until the
projections have applied it (``Projection-Position``), at most about 2 s (then ``Stale: true``); a
client may send ``Read-After``. On each store in one process, and on PostgreSQL with ``serve``
(two workers) and a separate ``moralbank project`` worker process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from serving import free_port, stop, wait_healthy

from api.app import create_app
from api.consistency import LOG_POSITION, PROJECTION_POSITION, READ_AFTER, STALE
from ops.wiring import ProjectionThreads


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def neighbourhood(services: Any, points: int) -> dict[str, Any]:
    """A street, a volunteer with points and a token, a merchant's token, an admin token."""
    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    volunteer = ledger.register_volunteer("王芳", street.id)
    _, shop = services.alliance.register_merchant("好邻居便利店", street.id)
    ledger.credit("ryw:seed", street.id, volunteer.id, points, minutes=60)
    return {
        "volunteer": volunteer.id,
        "vol": bearer(ledger.issue_token("volunteer", "phone", subject_id=volunteer.id).secret),
        "shop": bearer(shop.secret),
        "admin": bearer(ledger.issue_token("admin", "ryw admin").secret),
    }


def redeem(client: Any, n: dict[str, Any], points: int = 1) -> int:
    """The volunteer shows a pay code, the till redeems it; returns the answer's log position."""
    shown = client.get("/v1/me/pay-code", headers=n["vol"])
    assert shown.status_code == 200, shown.text
    code = shown.json()["code"]
    r = client.post("/v1/redemptions", json={"pay_code": code, "points": points}, headers=n["shop"])
    assert r.status_code == 201, r.text
    return int(r.headers[LOG_POSITION])


def test_the_payer_sees_the_redemption_at_once(services: Any) -> None:
    n = neighbourhood(services, 100)
    services.catch_up()
    services.settings.rate_limits = False  # 21 pay codes in a few seconds: more than a phone's burst
    threads = ProjectionThreads(services.followers).start()
    try:
        client = TestClient(create_app(services))
        for i in range(1, 21):
            position = redeem(client, n)
            r = client.get("/v1/me/account", headers=n["vol"])  # no header: the server knows the payer's write
            assert r.status_code == 200 and r.json()["balance"] == 100 - i, (i, r.json())
            assert int(r.headers[PROJECTION_POSITION]) >= position and STALE not in r.headers
        # another principal reads after a position it was given
        position = redeem(client, n, 5)
        r = client.get(f"/v1/volunteers/{n['volunteer']}/account", headers={**n["admin"], READ_AFTER: str(position)})
        assert r.json()["balance"] == 75 and int(r.headers[PROJECTION_POSITION]) >= position
        # a read with nothing to wait for says nothing about positions
        assert PROJECTION_POSITION not in client.get("/v1/me", headers=n["vol"]).headers
    finally:
        threads.stop()


def test_a_read_waits_about_two_seconds_then_says_it_may_be_stale(services: Any) -> None:
    n = neighbourhood(services, 10)
    services.catch_up()
    client = TestClient(create_app(services))  # no projection runs
    position = redeem(client, n)
    started = time.monotonic()
    r = client.get("/v1/me/account", headers=n["vol"])
    waited = time.monotonic() - started
    assert r.status_code == 200 and r.headers[STALE] == "true" and 1.9 <= waited < 4, waited
    assert int(r.headers[PROJECTION_POSITION]) < position and r.json()["balance"] == 10
    services.catch_up()
    started = time.monotonic()
    r = client.get("/v1/me/account", headers=n["vol"])
    assert time.monotonic() - started < 1 and STALE not in r.headers and r.json()["balance"] == 9
    # a position past the log's end is nobody's write: no wait; a hint that is no position is ignored
    for hint in (str(10**15), "soon", "-3"):
        started = time.monotonic()
        r = client.get("/v1/me/account", headers={**n["vol"], READ_AFTER: hint})
        assert r.status_code == 200 and time.monotonic() - started < 1 and STALE not in r.headers, hint


def test_a_failed_write_has_no_position(services: Any) -> None:
    n = neighbourhood(services, 3)
    client = TestClient(create_app(services))
    shown = client.get("/v1/me/pay-code", headers=n["vol"])
    assert shown.status_code == 200, shown.text
    code = shown.json()["code"]
    r = client.post("/v1/redemptions", json={"pay_code": code, "points": 4}, headers=n["shop"])
    assert r.status_code == 409 and LOG_POSITION not in r.headers


@pytest.mark.parametrize("store", ["postgres"])
def test_a_thousand_redemptions_each_seen_at_once_across_processes(services: Any, settings: Any, tmp_path: Path) -> None:
    """``serve --workers 2`` and a separate ``moralbank project``: each redemption, then at once
    the payer's balance (a new connection each time, so either worker may answer)."""
    rounds = int(os.environ.get("MORALBANK_RYW_ROUNDS", "1000"))
    n = neighbourhood(services, rounds + 10)
    services.catch_up()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MORALBANK_", "PROMETHEUS_"))},
        "MORALBANK_DATABASE_URL": settings.database_url,
        "MORALBANK_VAR_DIR": str(tmp_path / "var"),
        "MORALBANK_SECRET_KEY": settings.secret_key.get_secret_value(),
        "MORALBANK_RATE_LIMITS": "false",
        "TMPDIR": str(tmp_path),
    }
    cli = str(Path(sys.executable).with_name("moralbank"))
    port = free_port()
    logs = (tmp_path / "project.log").open("wb"), (tmp_path / "serve.log").open("wb")
    worker = subprocess.Popen([cli, "project", "--poll", "0.02"], env=env, stdout=subprocess.DEVNULL, stderr=logs[0])
    serve = subprocess.Popen(
        [cli, "serve", "--workers", "2", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=logs[1],
    )
    base = f"http://127.0.0.1:{port}"
    stale = 0
    try:
        wait_healthy(base, lambda: serve.poll() is None, lambda: (tmp_path / "serve.log").read_text(), timeout=180)
        with httpx.Client(base_url=base, timeout=10) as client:
            for i in range(1, rounds + 1):
                position = redeem(client, n)
                r = httpx.get(base + "/v1/me/account", headers={**n["vol"], "Connection": "close"}, timeout=10)
                assert r.status_code == 200, r.text
                stale += STALE in r.headers
                assert r.json()["balance"] == rounds + 10 - i, (i, position, dict(r.headers))
                assert int(r.headers[PROJECTION_POSITION]) >= position
        assert worker.poll() is None
        # the bound: with the worker stopped, the read answers after about 2 s, saying so
        stop(worker)
        with httpx.Client(base_url=base, timeout=10) as client:
            redeem(client, n)
            started = time.monotonic()
            r = client.get("/v1/me/account", headers=n["vol"])
            assert r.headers[STALE] == "true" and 1.9 <= time.monotonic() - started < 4
            assert r.json()["balance"] == 10
    finally:
        stop(serve)
        stop(worker)
        for f in logs:
            f.close()
    assert stale == 0

