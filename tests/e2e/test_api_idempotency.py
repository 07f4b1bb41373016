"""Idempotency-Key: the same key and body give the first result, a different body is
refused, and concurrent retries move points once."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient

from ledger.accounts import volunteer_account

REPLAYED = "Idempotent-Replayed"


def credit_body(town: Any, points: int = 7, **extra: Any) -> dict[str, Any]:
    return {"volunteer_id": str(town.vol_own), "unit_id": str(town.units["community_a"]), "points": points, **extra}


def balance(town: Any) -> int:
    return int(town.ledger.guarded_balance(volunteer_account(town.vol_own)))


def test_replay_returns_the_first_result(town: Any) -> None:
    c, org = town.client, town.headers("org_in")
    first = c.post("/v1/credits", json=credit_body(town), headers={**org, "Idempotency-Key": "day-1/line-1"})
    assert first.status_code == 201 and REPLAYED not in first.headers
    head, points = town.head(), balance(town)
    again = c.post("/v1/credits", json=credit_body(town), headers={**org, "Idempotency-Key": "day-1/line-1"})
    assert again.status_code == 201
    assert again.headers[REPLAYED] == "true"
    assert again.json() == first.json()
    assert (town.head(), balance(town)) == (head, points)
    # Spelled-out defaults and surrounding spaces in the memo are the same request.
    same = credit_body(town, minutes=0, memo="  ")
    assert c.post("/v1/credits", json=same, headers={**org, "Idempotency-Key": "day-1/line-1"}).json()["id"] == first.json()["id"]
    town.services.catch_up()
    assert c.get("/v1/me/account", headers=town.headers("vol_own")).json()["balance"] == 100 + 7


def test_same_key_with_a_different_body_is_refused(town: Any) -> None:
    c, org = town.client, town.headers("org_in")
    assert c.post("/v1/credits", json=credit_body(town), headers={**org, "Idempotency-Key": "k"}).status_code == 201
    head = town.head()
    other = c.post("/v1/credits", json=credit_body(town, points=8), headers={**org, "Idempotency-Key": "k"})
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_conflict")
    assert other.json()["idempotency_key"] == "k"
    assert town.head() == head


def test_keys_belong_to_the_caller(town: Any) -> None:
    c = town.client
    a = c.post("/v1/credits", json=credit_body(town), headers={**town.headers("org_in"), "Idempotency-Key": "k"})
    b = c.post("/v1/credits", json=credit_body(town), headers={**town.headers("admin"), "Idempotency-Key": "k"})
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"] and REPLAYED not in b.headers


def test_without_a_key_every_request_is_new(town: Any) -> None:
    c, org = town.client, town.headers("org_in")
    ids = {c.post("/v1/credits", json=credit_body(town), headers=org).json()["id"] for _ in range(3)}
    assert len(ids) == 3
    assert balance(town) == 100 + 3 * 7


def test_reversal_replay_and_conflicts(town: Any) -> None:
    c, org = town.client, town.headers("org_in")
    txn = c.post("/v1/credits", json=credit_body(town), headers=org).json()["id"]
    path = f"/v1/transactions/{txn}/reversal"
    first = c.post(path, json={"memo": "wrong volunteer"}, headers={**org, "Idempotency-Key": "undo-1"})
    assert first.status_code == 201 and first.json()["reverses"] == txn
    head = town.head()
    again = c.post(path, json={"memo": "wrong volunteer"}, headers={**org, "Idempotency-Key": "undo-1"})
    assert (again.status_code, again.headers[REPLAYED], again.json()) == (201, "true", first.json())
    differs = c.post(path, json={"memo": "other"}, headers={**org, "Idempotency-Key": "undo-1"})
    assert (differs.status_code, differs.json()["code"]) == (409, "idempotency_conflict")
    for headers in ({**org, "Idempotency-Key": "undo-2"}, org, {**town.headers("admin"), "Idempotency-Key": "undo-1"}):
        refused = c.post(path, json={"memo": "wrong volunteer"}, headers=headers)
        assert (refused.status_code, refused.json()["code"]) == (409, "already_reversed")
    assert town.head() == head
    assert balance(town) == 100
    other = c.post("/v1/credits", json=credit_body(town), headers=org).json()["id"]
    reused = c.post(f"/v1/transactions/{other}/reversal", json={"memo": "wrong volunteer"},
                    headers={**org, "Idempotency-Key": "undo-1"})
    assert (reused.status_code, reused.json()["code"]) == (409, "idempotency_conflict")
    assert c.get(f"/v1/transactions/{other}", headers=org).json()["reversed_by"] is None


def _hammer(town: Any, path: str, body: dict[str, Any], key: str, n: int = 8) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def one(i: int) -> None:
        client = TestClient(town.client.app)
        barrier.wait()
        results[i] = client.post(path, json=body, headers={**town.headers("org_in"), "Idempotency-Key": key})

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_concurrent_retries_credit_once(town: Any) -> None:
    head = town.head()
    results = _hammer(town, "/v1/credits", credit_body(town, points=9), "burst")
    assert [r.status_code for r in results] == [201] * 8, [r.text for r in results]
    assert len({r.json()["id"] for r in results}) == 1
    assert sum(r.headers.get(REPLAYED) == "true" for r in results) == 7
    assert town.head() == head + 1  # one LedgerTransaction.Recorded
    assert balance(town) == 100 + 9


def test_concurrent_retries_reverse_once(town: Any) -> None:
    txn = town.credit(points=10)
    head = town.head()
    results = _hammer(town, f"/v1/transactions/{txn}/reversal", {"memo": "dup"}, "undo")
    assert [r.status_code for r in results] == [201] * 8, [r.text for r in results]
    assert len({r.json()["id"] for r in results}) == 1
    assert sum(r.headers.get(REPLAYED) == "true" for r in results) == 7
    assert town.head() == head + 3  # the reversal, the original marked reversed, the client key
    assert balance(town) == 100
