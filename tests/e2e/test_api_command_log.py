"""Domain commands leave one JSON line each (with the request id, never a token, a code or a
full phone number) and count in /metrics only what they recorded (replays do not count)."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from typing import Any

import pytest
from e2e_contract import CheckedClient, World

from api.app import create_app
from api.commands import mask_phone

from test_api_ops import sample


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("13812345678", "*******5678"),
        ("+86 138 1234 5678", "*********5678"),
        ("tel 021-6234-5678 ok", "tel *******5678 ok"),
        ("5678", "5678"),  # four digits are what we keep anyway
        ("M-00123", "M-00123"),  # a short member number is not a phone number
        ("2026", "2026"),
    ],
)
def test_mask_phone(text: str, masked: str) -> None:
    assert mask_phone(text) == masked


def command_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "moralbank.commands"]


def activity(town: World, c: CheckedClient, **kw: Any) -> dict[str, Any]:
    now = town.services.clock.now()
    body = {
        "title": "社区清洁", "unit_id": str(town.units["community_a"]), "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=3)).isoformat(), "points_per_hour": 12, **kw,
    }
    r = c.post("/v1/activities", json=body, headers=town.headers("org_in"))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_command_lines_carry_the_request_id_and_no_secrets(town: World, caplog: pytest.LogCaptureFixture) -> None:
    c = CheckedClient(create_app(town.services))
    org, shop, vol = town.headers("org_in"), town.headers("merchant"), town.headers("vol_own")
    with caplog.at_level(logging.INFO, logger="moralbank.commands"):
        reg = c.post(
            "/v1/volunteers", headers={**org, "X-Request-ID": "req-register"},
            json={"name": "王芳", "unit_id": str(town.units["building_a"]), "phone_last4": "5678", "member_no": "13812345678"},
        )
        credit = c.post("/v1/credits", headers={**org, "X-Request-ID": "req-credit"},
                        json={"volunteer_id": str(town.vol_own), "unit_id": str(town.units["community_a"]), "points": 7})
        pay = c.get("/v1/me/pay-code", headers=vol).json()["code"]
        redeemed = c.post("/v1/redemptions", json={"pay_code": pay, "points": 3}, headers=shop)
        forged = c.post("/v1/scans", json={"code": "MB1.forged"}, headers={**vol, "X-Request-ID": "req-forged"})
    assert (reg.status_code, credit.status_code, redeemed.status_code, forged.status_code) == (201, 201, 201, 422)
    lines = {line["command"]: line for line in command_lines(caplog)}
    assert set(lines) == {"register_volunteer", "credit", "pay_code", "redemption", "scan"}
    assert lines["register_volunteer"]["request_id"] == "req-register"
    assert lines["register_volunteer"]["member_no"] == "*******5678"
    assert lines["register_volunteer"]["volunteer_id"] == reg.json()["volunteer"]["id"]
    assert lines["credit"] | {"ms": 0} == lines["credit"] | {
        "event": "command", "outcome": "credited", "request_id": "req-credit", "points": 7, "ms": 0,
        "transaction_id": credit.json()["id"], "volunteer_id": str(town.vol_own), "unit_id": str(town.units["community_a"]),
    }
    assert lines["redemption"]["outcome"] == "redeemed" and lines["redemption"]["points"] == 3
    assert lines["redemption"]["request_id"] == redeemed.headers["x-request-id"]
    assert lines["scan"]["outcome"] == "refused:code_invalid" and lines["scan"]["request_id"] == "req-forged"
    text = caplog.text
    for secret in (reg.json()["token"]["secret"], pay, *(town.secrets[r] for r in ("org_in", "merchant", "vol_own"))):
        assert secret not in text
    assert "13812345678" not in text


def test_domain_counters_count_what_was_recorded(town: World) -> None:
    c = CheckedClient(create_app(town.services))
    clock = town.services.clock
    org, shop, vol, admin = town.headers("org_in"), town.headers("merchant"), town.headers("vol_own"), town.headers("admin")

    def metric(name: str, **labels: str) -> float | None:
        return sample(c.get("/metrics").text, name, **labels)

    # a credit, and its replay (same key, same body)
    credit = {"volunteer_id": str(town.vol_own), "unit_id": str(town.units["community_a"]), "points": 7}
    first = c.post("/v1/credits", json=credit, headers={**org, "Idempotency-Key": "k-credit"})
    again = c.post("/v1/credits", json=credit, headers={**org, "Idempotency-Key": "k-credit"})
    assert (first.status_code, again.headers.get("idempotent-replayed")) == (201, "true")
    assert metric("moralbank_points_credited_total", via="credit") == 7

    # scans: in, the same scan again, out an hour later (12 points), a forged code
    a = activity(town, c)
    qr = lambda: c.get(f"/v1/activities/{a['id']}/qr?format=json", headers=org).json()["code"]  # noqa: E731
    assert c.post("/v1/scans", json={"code": qr()}, headers=vol).json()["action"] == "check_in"
    assert c.post("/v1/scans", json={"code": qr()}, headers=vol).json()["replayed"] is True
    clock.advance(minutes=61)
    out = c.post("/v1/scans", json={"code": qr()}, headers=vol).json()
    assert out["action"] == "check_out" and out["attendance"]["status"] == "credited"
    assert c.post("/v1/scans", json={"code": "MB1.nope"}, headers=vol).status_code == 422
    for outcome in ("checked_in", "replayed", "checked_out"):
        assert metric("moralbank_scans_total", kind="activity", outcome=outcome) == 1, outcome
    assert metric("moralbank_scans_total", kind="unknown", outcome="refused:code_invalid") == 1
    assert metric("moralbank_points_credited_total", via="scan") == out["attendance"]["points"] == 12

    # a redemption and its replay, then its reversal and a transaction reversal
    pay = c.get("/v1/me/pay-code", headers=vol).json()["code"]
    r1 = c.post("/v1/redemptions", json={"pay_code": pay, "points": 5}, headers={**shop, "Idempotency-Key": "k-r"})
    r2 = c.post("/v1/redemptions", json={"pay_code": pay, "points": 5}, headers={**shop, "Idempotency-Key": "k-r"})
    assert (r1.status_code, r2.status_code, r2.headers.get("idempotent-replayed")) == (201, 201, "true")
    assert metric("moralbank_points_redeemed_total", via="redemption") == 5
    assert c.post(f"/v1/redemptions/{r1.json()['id']}/reversal", json={"reason": "退货"}, headers=shop).status_code == 201
    assert c.post(f"/v1/redemptions/{r1.json()['id']}/reversal", json={"reason": "again"}, headers=shop).status_code == 409
    assert c.post(f"/v1/transactions/{first.json()['id']}/reversal", headers=org).status_code == 201
    assert metric("moralbank_points_reversed_total", what="redemption") == 5
    assert metric("moralbank_points_reversed_total", what="transaction") == 7
    assert metric("moralbank_commands_total", command="redemption_reversal", outcome="refused") == 1

    # a small batch (run before the reply): two lines credited, one refused
    csv = f"volunteer_id,points\n{town.vol_own},4\n{town.vol_own},4\n00000000-0000-4000-8000-000000000000,4\n"
    params = {"unit_id": str(town.units["community_a"]), "title": "公益日"}
    b = c.post("/v1/batches", params=params, content=csv.encode(), headers={**org, "Content-Type": "text/csv"})
    assert b.status_code == 201, b.text
    refused = {r["code"] for r in b.json()["refused"]}
    assert metric("moralbank_batch_lines_total", outcome="credited") == b.json()["accepted"]
    for code in refused:
        assert metric("moralbank_batch_lines_total", outcome=f"refused:{code}") == sum(
            1 for r in b.json()["refused"] if r["code"] == code
        )
    assert metric("moralbank_points_credited_total", via="batch") == 4 * b.json()["accepted"]


def test_projection_lag_in_events_and_seconds(town: World) -> None:
    c = CheckedClient(create_app(town.services))
    town.services.catch_up()
    text = c.get("/metrics").text
    names = [f.name for f in town.services.followers]
    assert all(sample(text, "moralbank_projection_lag_seconds", projection=n) == 0 for n in names)
    town.ledger.create_unit("Lagging", "street", None)
    time.sleep(0.2)
    text = c.get("/metrics").text
    for n in names:
        assert sample(text, "moralbank_projection_lag", projection=n) == 1
        assert 0.2 <= (sample(text, "moralbank_projection_lag_seconds", projection=n) or 0) < 60
    town.services.catch_up()
    assert sample(c.get("/metrics").text, "moralbank_projection_lag_seconds", projection=names[0]) == 0
    if town.services.settings.is_postgres:
        text = c.get("/metrics").text
        for pool in ("ledger", "projections"):
            assert (sample(text, "moralbank_pool_max_connections", pool=pool) or 0) >= 1
            assert sample(text, "moralbank_pool_requests_total", pool=pool) is not None
