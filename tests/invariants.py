"""An independent check of DESIGN.md's invariants, written for the tests (it does not reuse
``ops.verify``, which is itself under test)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from ledger.accounts import is_volunteer
from ledger.domain import LedgerTransaction
from projections.base import snapshot_rows


def replay(ledger: Any) -> tuple[dict[str, int], list[str], Counter[str]]:
    """Balances from the log in commit order; every moment a volunteer went below zero; keys."""
    balances: dict[str, int] = defaultdict(int)
    negatives: list[str] = []
    keys: Counter[str] = Counter()
    for n in ledger.iter_notifications():
        event = ledger.mapper.to_domain_event(n)
        if not isinstance(event, LedgerTransaction.Recorded):  # type: ignore[attr-defined]
            continue
        keys[event.key] += 1
        assert event.originator_id == LedgerTransaction.create_id(event.key)
        for p in event.postings:
            balances[p["source"]] -= p["amount"]
            balances[p["destination"]] += p["amount"]
        negatives += [f"{a}={b} at {n.id}" for a, b in balances.items() if is_volunteer(a) and b < 0]
    return dict(balances), negatives, keys


def assert_invariants(services: Any) -> dict[str, int]:
    ledger, db = services.ledger, services.db
    balances, negatives, keys = replay(ledger)
    # 1. never below zero, at any point of the log
    assert negatives == []
    # 2. double entry, and every balance equals its replay (write side and read side)
    assert sum(balances.values()) == 0
    guarded = ledger.guarded_balances()
    assert {a: b for a, b in guarded.items() if b} == {a: b for a, b in balances.items() if is_volunteer(a) and b}
    services.catch_up()
    with db.read() as tx:
        projected = {r["account"]: int(r["balance"]) for r in tx.all("SELECT account, balance FROM balances")}
    assert {a: b for a, b in projected.items() if b} == {a: b for a, b in balances.items() if b}
    # 3. a key moves points at most once
    assert [k for k, n in keys.items() if n > 1] == []
    # 5. projections equal a rebuild from scratch
    for f in services.followers:
        before = snapshot_rows(db, f.projection)
        f.rebuild()
        assert snapshot_rows(db, f.projection) == before, f.name
    return balances
