"""Random credits, payments, reversals, days passing and expiry runs, on each store, against a
from-scratch FIFO model: the same lots, drawings, balances and settlement by funding unit."""

from __future__ import annotations

import uuid
from datetime import date
from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lotcheck import replay_lots

from ledger.accounts import Posting, merchant_account, volunteer_account
from ledger.domain import LedgerTransaction
from ledger.errors import InsufficientPoints
from ledger.journal import Movement
from ledger.lots import rules as lot_rules
from ledger.lots.expiry import expire_due
from projections import lineage

ops = st.lists(
    st.one_of(
        st.tuples(st.just("credit"), st.integers(0, 1), st.integers(0, 1), st.integers(1, 20)),
        st.tuples(st.just("pay"), st.integers(0, 1), st.integers(0, 1), st.integers(1, 30)),
        st.tuples(st.just("reverse"), st.integers(0, 30)),
        st.tuples(st.just("days"), st.integers(1, 40)),
        st.tuples(st.just("expire"),),
    ),
    min_size=1,
    max_size=25,
)
POLICIES = [("months", 1), ("months", 2), ("year_after_next", None), ("never", None)]


class Model:
    def __init__(self, zone: Any) -> None:
        self.zone = zone
        self.lots: dict[str, dict[str, Any]] = {}
        self.order = 0
        self.drawings: dict[str, list[list[Any]]] = {}
        self.balances: dict[str, int] = defaultdict(int)
        self.settled: dict[tuple[str, str], int] = defaultdict(int)  # (merchant, funding unit) -> points

    def credit(self, key: str, unit: uuid.UUID, account: str, amount: int, policy: lot_rules.Policy, at: Any) -> None:
        self.order += 1
        lot = f"{LedgerTransaction.create_id(key).hex}.0"
        self.lots[lot] = {"account": account, "unit": unit.hex, "remaining": amount, "amount": amount,
                          "last": lot_rules.last_day(policy, at, self.zone), "order": self.order}
        self.balances[account] += amount

    def pay(self, key: str, account: str, merchant: str, amount: int) -> bool:
        if self.balances[account] < amount:
            return False
        mine = sorted((k for k, v in self.lots.items() if v["account"] == account and v["remaining"]),
                      key=lambda k: (self.lots[k]["last"] is None, self.lots[k]["last"] or lot_rules.date.max, self.lots[k]["order"]))
        drawing = []
        for k in mine:
            take = min(amount, self.lots[k]["remaining"])
            if take:
                drawing.append([k, self.lots[k]["unit"], take])
                self.lots[k]["remaining"] -= take
                amount -= take
        self.drawings[key] = drawing
        self.balances[account] -= sum(d[2] for d in drawing)
        for _, unit, n in drawing:
            self.settled[(merchant, unit)] += n
        return True

    def reverse(self, key: str, account: str, merchant: str, at: Any) -> None:
        today = lot_rules.today(at, self.zone)
        for lot, unit, n in self.drawings[key]:
            self.settled[(merchant, unit)] -= n
            last = self.lots[lot]["last"]
            if not (last is not None and today > last):
                self.lots[lot]["remaining"] += n
                self.balances[account] += n

    def expire(self, at: Any) -> None:
        today = lot_rules.today(at, self.zone)
        for v in self.lots.values():
            if v["last"] is not None and today > v["last"] and v["remaining"]:
                self.balances[v["account"]] -= v["remaining"]
                v["remaining"] = 0


def settlement(ledger: Any, merchants: set[str]) -> dict[tuple[str, str], int]:
    """Points per (merchant, funding unit), from the store's postings and drawings rows."""
    rows = {(r.position, r.seq): r for r in ledger.recorder.select_postings(0, 2**62, 10**6)}
    out: dict[tuple[str, str], int] = defaultdict(int)
    for position, seq, _lot, unit, amount in ledger.recorder.select_drawings(0, 2**62, 10**6):
        r = rows[(position, seq)]
        for kind, owner in ((r.destination_kind, r.destination_id), (r.source_kind, r.source_id)):
            if kind == "merchant" and f"merchant:{owner.hex}" in merchants:
                out[(f"merchant:{owner.hex}", unit.hex)] += amount
    return {k: v for k, v in out.items() if v}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=ops, street_policy=st.sampled_from(POLICIES), community_policy=st.sampled_from(POLICIES))
def test_lots_follow_a_fifo_model(ledger: Any, services: Any, clock: Any, steps: list[tuple[Any, ...]], street_policy: Any, community_policy: Any) -> None:
    street = ledger.create_unit("街道", "street", None)
    community = ledger.create_unit("社区", "community", street.id)
    ledger.set_expiry_policy(street.id, *street_policy)
    ledger.set_expiry_policy(community.id, *community_policy)
    units = [street.id, community.id]
    vols = [ledger.register_volunteer(f"v{i}", community.id) for i in range(2)]
    shops = [merchant_account(uuid.uuid4()) for _ in range(2)]
    model = Model(ledger.zone)
    paid: list[tuple[str, uuid.UUID, str, str]] = []
    reversed_: set[int] = set()
    for step in steps:
        now = clock.now()
        if step[0] == "credit":
            _, u, v, amount = step
            key = f"credit:{uuid.uuid4()}"
            ledger.credit(key, units[u], vols[v].id, amount)
            model.credit(key, units[u], volunteer_account(vols[v].id), amount, ledger.effective_expiry_policy(units[u]), now)
        elif step[0] == "pay":
            _, v, s, amount = step
            key = f"pay:{uuid.uuid4()}"
            account = volunteer_account(vols[v].id)
            try:
                txn = ledger.journal.post(Movement(key, "redemption", [Posting(account, shops[s], amount)])).transaction
            except InsufficientPoints:
                assert not model.pay(key, account, shops[s], amount)
                continue
            assert model.pay(key, account, shops[s], amount)
            paid.append((key, txn.id, account, shops[s]))
        elif step[0] == "reverse":
            if paid and step[1] % len(paid) not in reversed_:
                i = step[1] % len(paid)
                reversed_.add(i)
                key, txn_id, account, shop = paid[i]
                ledger.reverse(txn_id)
                model.reverse(key, account, shop, now)
        elif step[0] == "days":
            clock.advance(days=step[1])
        else:
            expire_due(ledger)
            model.expire(now)
    check = replay_lots(ledger)
    assert check["problems"] == []
    stored = {x.lot: x.remaining for x in ledger.recorder.select_lots(limit=10**6) if x.lot in model.lots}
    assert stored == {k: v["remaining"] for k, v in model.lots.items()}
    assert {k: [list(d) for d in check["drawings"][k]] for k in model.drawings} == model.drawings  # replay gives tuples
    for v in vols:
        account = volunteer_account(v.id)
        assert ledger.guarded_balance(account) == model.balances[account]
    assert settlement(ledger, set(shops)) == {k: n for k, n in model.settled.items() if n}
    # the statement per issuing unit (projections.lineage, in SQL) says the same
    tables, by_unit = lineage.tables_of(ledger), {}
    for u in units:
        for r in lineage.unit_settlement(services.db, tables, u, date(2000, 1, 1), date(2100, 1, 1)):
            by_unit[(merchant_account(r["merchant_id"]), u.hex)] = r["redeemed"] - r["reversed"]
    assert {k: n for k, n in by_unit.items() if n} == {k: n for k, n in model.settled.items() if n}
