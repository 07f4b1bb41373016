"""Abuse limits: per-token buckets on scans, pay codes and redemptions; a budget of failed
attempts per client; 429 ``rate_limited`` with ``Retry-After`` (by the injected clock), and a
burst of forged codes that does not slow an honest volunteer."""

from __future__ import annotations

import statistics
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from e2e_contract import CheckedClient, World, bearer

from api.app import create_app
from api.ratelimit import TokenBuckets
from ledger.clock import ManualClock

ATTACKER = ("203.0.113.7", 40000)
HONEST = ("198.51.100.20", 40001)


def app_on(town: World, clock: ManualClock | None = None, **limits: Any) -> Any:
    settings = town.services.settings
    for name, value in limits.items():
        setattr(settings, name, value)
    app = create_app(town.services)
    if clock is not None:
        app.state.limits.seconds = lambda: clock.now().timestamp()
    return app


def activity_code(town: World, c: CheckedClient) -> str:
    now = town.services.clock.now()
    body = {
        "title": "垃圾分类宣传", "unit_id": str(town.units["community_a"]),
        "starts_at": now.isoformat(), "ends_at": (now + timedelta(hours=3)).isoformat(), "points_per_hour": 12,
    }
    a = c.post("/v1/activities", json=body, headers=town.headers("org_in")).json()
    return str(c.get(f"/v1/activities/{a['id']}/qr?format=json", headers=town.headers("org_in")).json()["code"])


def assert_rate_limited(r: Any, retry_after: int | None = None) -> None:
    assert r.status_code == 429, r.text
    assert r.json()["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) >= 1
    if retry_after is not None:
        assert int(r.headers["retry-after"]) == retry_after == r.json()["retry_after"]


@pytest.mark.parametrize(
    ("per_minute", "burst", "steps", "expected"),
    [
        # (seconds since the previous take, waited seconds answered)
        (60, 2, [(0, 0), (0, 0), (0, 1.0), (0.5, 0.5), (0.5, 0)], "one a second after a burst of two"),
        (6, 1, [(0, 0), (0, 10.0), (9, 1.0), (1, 0), (100, 0), (0, 10.0)], "refills to the burst, never beyond"),
        (0, 1, [(0, 0), (1000, float("inf"))], "a zero rate never refills"),
    ],
)
def test_token_bucket(per_minute: float, burst: int, steps: list[tuple[float, float]], expected: str) -> None:
    b, now = TokenBuckets(per_minute, burst), 1000.0
    for gap, wait in steps:
        now += gap
        assert b.take("k", now) == pytest.approx(wait), expected


def test_retry_after_follows_the_injected_clock(town: World, clock: ManualClock) -> None:
    c = CheckedClient(app_on(town, clock, rate_pay_codes_per_minute=6, rate_pay_codes_burst=3))
    vol = town.headers("vol_own")
    assert [c.get("/v1/me/pay-code", headers=vol).status_code for _ in range(3)] == [200, 200, 200]
    assert_rate_limited(c.get("/v1/me/pay-code", headers=vol), retry_after=10)  # one token per 10 s
    assert c.get("/v1/me", headers=vol).status_code == 200  # other routes of the same token are not limited
    assert c.get("/v1/me/pay-code", headers=town.headers("vol_other")).status_code == 200  # nor other tokens
    clock.advance(7.5)
    assert_rate_limited(c.get("/v1/me/pay-code", headers=vol), retry_after=3)  # 2.5 s, rounded up
    clock.advance(2.5)
    assert c.get("/v1/me/pay-code", headers=vol).status_code == 200
    assert_rate_limited(c.get("/v1/me/pay-code", headers=vol), retry_after=10)
    assert c.get("/metrics").text.count('moralbank_rate_limited_total{limit="pay_codes"} 3.0') == 1


def test_redemptions_and_scans_are_limited_per_token(town: World, clock: ManualClock) -> None:
    c = CheckedClient(app_on(town, clock, rate_redemptions_burst=2, rate_scans_burst=2, rate_scans_per_minute=30))
    shop = town.headers("merchant")
    codes = [c.get("/v1/me/pay-code", headers=town.headers("vol_own")).json()["code"] for _ in range(3)]
    assert [c.post("/v1/redemptions", json={"pay_code": p, "points": 1}, headers=shop).status_code for p in codes] == [201, 201, 429]
    code = activity_code(town, c)
    vol = town.headers("vol_own")
    assert [c.post("/v1/scans", json={"code": code}, headers=vol).status_code for _ in range(3)] == [200, 200, 429]
    assert_rate_limited(c.post("/v1/scans", json={"code": code}, headers=vol), retry_after=2)
    assert c.post("/v1/scans", json={"code": code}, headers=town.headers("vol_other")).status_code == 200


def test_failed_attempts_block_the_client_not_the_neighbours(town: World, clock: ManualClock) -> None:
    app = app_on(town, clock, rate_failures_per_minute=30, rate_failures_burst=5)
    attacker, honest = CheckedClient(app, client=ATTACKER), CheckedClient(app, client=HONEST)
    # bad tokens: charged to the address
    statuses = [attacker.get("/v1/me", headers=bearer(f"mb_guess_{i}")).status_code for i in range(8)]
    assert statuses == [401] * 5 + [429] * 3
    assert_rate_limited(attacker.get("/v1/me", headers=town.headers("vol_own")), retry_after=2)
    assert attacker.get("/v1/leaderboards").status_code == 200  # anonymous public reads stay open
    assert honest.get("/v1/me", headers=town.headers("vol_own")).status_code == 200
    clock.advance(2)
    assert attacker.get("/v1/me", headers=town.headers("vol_own")).status_code == 200
    # forged codes from a valid token: charged to that token, wherever it comes from
    forger = town.headers("vol_other")
    statuses = [honest.post("/v1/scans", json={"code": f"MB1.forged{i}"}, headers=forger).status_code for i in range(7)]
    assert statuses == [422] * 5 + [429] * 2
    assert honest.get("/v1/me", headers=town.headers("vol_own")).status_code == 200


def test_a_burst_of_forged_codes_does_not_slow_an_honest_volunteer(town: World) -> None:
    app = app_on(town)  # the default limits, on the wall clock
    honest = CheckedClient(app, client=HONEST)
    code = activity_code(town, honest)
    vol = town.headers("vol_own")

    def honest_scans(n: int) -> list[float]:
        took = []
        for _ in range(n):
            start = time.perf_counter()
            r = honest.post("/v1/scans", json={"code": code}, headers=vol)
            took.append(time.perf_counter() - start)
            assert r.status_code == 200, r.text
        return took

    honest_scans(1)  # check in (the repeats are replays: the same path, nothing new recorded)
    quiet = honest_scans(5)  # 1 + 5 + 15 scans stay within the default burst of 30 per token

    stop = threading.Event()
    answers: list[int] = []

    def attack(client_addr: tuple[str, int], headers: dict[str, str]) -> None:
        forger = CheckedClient(app, client=client_addr)
        i = 0
        while not stop.is_set():
            i += 1
            answers.append(forger.post("/v1/scans", json={"code": f"MB1.forged.{i}"}, headers=headers).status_code)

    attackers = [
        threading.Thread(target=attack, args=(ATTACKER, town.headers("vol_other"))),  # forged codes, valid token
        threading.Thread(target=attack, args=(("203.0.113.8", 40002), bearer("mb_forged_token"))),  # forged tokens
    ]
    for t in attackers:
        t.start()
    try:
        started = time.monotonic()
        while answers.count(429) < 20:  # both budgets (30 failures each by default) are spent
            assert time.monotonic() - started < 60, f"no 429 after {len(answers)} forged requests"
            time.sleep(0.01)
        busy = honest_scans(15)
    finally:
        stop.set()
        for t in attackers:
            t.join()
    seconds = time.monotonic() - started
    refused = answers.count(429)
    print(f"quiet median {statistics.median(quiet) * 1000:.1f} ms, under attack median "
          f"{statistics.median(busy) * 1000:.1f} ms max {max(busy) * 1000:.1f} ms; attack {len(answers)} requests, {refused} refused")
    # After the two budgets, everything is refused but what the buckets refill (0.5 a second each).
    assert len(answers) - refused <= 60 + seconds + 2
    assert set(answers) <= {401, 422, 429}
    # Loose: the attackers share the machine's cores with the honest caller, but their
    # requests are refused before any store work.
    assert statistics.median(busy) < max(0.25, 5 * statistics.median(quiet))
    assert max(busy) < 2.0
