"""Lots on each store: credits open them with their unit's policy, debits draw soonest expiry first,
reversals give back (straight on to expiry after the last day), expiry runs take each lot once, and
a run racing redemptions of the same volunteer never takes a point twice."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from lotcheck import replay_lots
from test_transfer import target, target_url  # noqa: F401 - fixtures: a fresh store to import into

from ledger.accounts import Posting, expired_account, merchant_account, volunteer_account
from ledger.errors import LedgerError
from ledger.journal import Movement
from ledger.lots.expiry import expire_due
from ops.transfer import export_log, import_log
from ops.verify import verify


def pay(ledger: Any, volunteer_id: uuid.UUID, merchant: uuid.UUID, points: int, key: str | None = None) -> Any:
    movement = Movement(
        key or f"pay:{uuid.uuid4()}", "redemption", [Posting(volunteer_account(volunteer_id), merchant_account(merchant), points)]
    )
    return ledger.journal.post(movement)


def test_policies_lots_and_drawings(ledger: Any, clock: Any) -> None:
    street = ledger.create_unit("青禾街道", "street", None)
    community = ledger.create_unit("春晖社区", "community", street.id)
    compound = ledger.create_unit("和园小区", "compound", community.id)
    ledger.set_expiry_policy(street.id, "year_after_next")
    ledger.set_expiry_policy(community.id, "months", 1)  # a community overrides its street
    assert ledger.effective_expiry_policy(compound.id).months == 1
    v = ledger.register_volunteer("林", compound.id)
    shop = uuid.uuid4()

    a = ledger.credit("c-street", street.id, v.id, 10).transaction  # ends 2028-12-31
    b = ledger.credit("c-compound", compound.id, v.id, 10).transaction  # ends a month on (community's policy)
    ledger.set_expiry_policy(community.id, None)  # back to the street's: only later credits change
    c = ledger.credit("c-compound-2", compound.id, v.id, 10).transaction
    assert [t.postings_data[0]["opens"]["expires_on"] for t in (a, b, c)] == ["2028-12-31", "2026-12-02", "2028-12-31"]

    spent = pay(ledger, v.id, shop, 15).transaction
    assert spent.postings_data[0]["draws"] == [[f"{b.id.hex}.0", compound.id.hex, 10], [f"{a.id.hex}.0", street.id.hex, 5]]
    assert replay_lots(ledger)["problems"] == []


def test_reversal_gives_back_and_lapsed_lots_go_to_expiry(ledger: Any, clock: Any) -> None:
    street = ledger.create_unit("青禾街道", "street", None)
    ledger.set_expiry_policy(street.id, "months", 1)
    v = ledger.register_volunteer("林", street.id)
    ledger.credit("c1", street.id, v.id, 10)
    clock.advance(days=20)
    ledger.credit("c2", street.id, v.id, 10)
    spent = pay(ledger, v.id, uuid.uuid4(), 14).transaction
    clock.advance(days=15)  # the first lot's last day has passed, the second's not
    back = ledger.reverse(spent.id).transaction
    postings = back.postings_data
    assert postings[0]["restores"] == spent.postings_data[0]["draws"]
    assert postings[1]["destination"] == expired_account(street.id) and postings[1]["amount"] == 10
    assert ledger.guarded_balance(volunteer_account(v.id)) == 10
    check = replay_lots(ledger)
    assert check["problems"] == []
    # the run later finds the first lot empty: nothing is expired twice
    clock.advance(days=30)
    report = expire_due(ledger)
    assert (report.lots, report.points) == (1, 10)
    assert expire_due(ledger).lots == 0
    assert ledger.guarded_balance(volunteer_account(v.id)) == 0
    assert replay_lots(ledger)["problems"] == []


def test_an_expiry_run_takes_each_lot_once_after_its_day(ledger: Any, clock: Any) -> None:
    street = ledger.create_unit("青禾街道", "street", None)
    ledger.set_expiry_policy(street.id, "months", 1)
    vs = [ledger.register_volunteer(f"v{i}", street.id) for i in range(5)]
    for i, v in enumerate(vs):
        ledger.credit(f"c{i}", street.id, v.id, 3 + i)
    pay(ledger, vs[0].id, uuid.uuid4(), 3)  # the first has nothing left to expire
    clock.set(clock.now() + timedelta(days=30))
    assert expire_due(ledger).lots == 0  # the last day itself: not yet
    clock.advance(days=1)
    report = expire_due(ledger, chunk=2)
    assert (report.lots, report.points) == (4, 4 + 5 + 6 + 7)
    assert expire_due(ledger).lots == 0
    assert all(ledger.guarded_balance(volunteer_account(v.id)) == 0 for v in vs)
    assert replay_lots(ledger)["problems"] == []


def test_an_expiry_run_and_50_redemptions_at_once(ledger: Any, clock: Any) -> None:
    street = ledger.create_unit("青禾街道", "street", None)
    community = ledger.create_unit("春晖社区", "community", street.id)
    ledger.set_expiry_policy(street.id, "months", 1)
    ledger.set_expiry_policy(community.id, "never")
    v = ledger.register_volunteer("林", community.id)
    for i in range(40):  # lots that will be due
        ledger.credit(f"old{i}", street.id, v.id, 5)
    clock.advance(days=40)
    for i in range(10):  # lots that are not (never-expiring, from the community)
        ledger.credit(f"new{i}", community.id, v.id, 5)
    shop = uuid.uuid4()
    barrier = threading.Barrier(52)

    def one(i: int) -> str:
        barrier.wait()
        try:
            if i >= 50:
                expire_due(ledger, chunk=7)
            else:
                pay(ledger, v.id, shop, 7)
        except LedgerError as e:
            return e.code
        return "ok"

    with ThreadPoolExecutor(52) as pool:
        outcomes = Counter(pool.map(one, range(52)))
    assert set(outcomes) <= {"ok", "insufficient_points"}, outcomes
    check = replay_lots(ledger)
    assert check["problems"] == []
    paid = 7 * (outcomes["ok"] - 2)
    expired = sum(n for key, d in check["drawings"].items() if key.startswith("expiry:") for _, _, n in d)
    assert paid + expired + ledger.guarded_balance(volunteer_account(v.id)) == 250
    # whatever the redemptions left of the due lots, a run takes now; nothing of the new lots
    expire_due(ledger)
    left = {x.lot: x for x in ledger.recorder.select_lots(limit=10**6)}
    assert all(x.remaining == 0 for x in left.values() if x.expires_on is not None)
    assert replay_lots(ledger)["problems"] == []



@pytest.mark.parametrize("target_url", ["same"], indirect=True)
def test_export_import_verify_keeps_every_lot_and_drawing(services: Any, target: Any, clock: Any, tmp_path: Path) -> None:
    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    ledger.set_expiry_policy(street.id, "months", 1)
    vs = [ledger.register_volunteer(f"v{i}", street.id) for i in range(3)]
    shop = uuid.uuid4()
    for i, v in enumerate(vs):
        ledger.credit(f"c{i}", street.id, v.id, 10)
    clock.advance(days=20)
    spent = [pay(ledger, v.id, shop, 4 + i).transaction for i, v in enumerate(vs)]
    for i, v in enumerate(vs):
        ledger.credit(f"d{i}", street.id, v.id, 10)
    clock.advance(days=15)
    ledger.reverse(spent[0].id)  # given back to a lapsed lot: straight on to expiry
    expire_due(ledger)
    dump = tmp_path / "export.jsonl"
    with dump.open("w", encoding="utf8") as f:
        export_log(ledger, f)
    import_log(target, dump, chunk_size=5)
    assert target.ledger.recorder.select_lots(limit=10**6) == ledger.recorder.select_lots(limit=10**6)
    assert target.ledger.recorder.select_drawings(0, 2**62, 10**6) == ledger.recorder.select_drawings(0, 2**62, 10**6)
    report = verify(target)
    assert report.ok, report.violations
    assert replay_lots(target.ledger)["problems"] == []


def test_verify_names_a_damaged_lot_and_drawing(services: Any, clock: Any) -> None:
    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    v = ledger.register_volunteer("林", street.id)
    credit = ledger.credit("c", street.id, v.id, 10).transaction
    pay(ledger, v.id, uuid.uuid4(), 4)
    assert verify(services).ok
    lot = f"{credit.id.hex}.0"
    table = "ledger_lots" if services.settings.database_url.startswith("sqlite") else "moralbank_lots"
    with ledger.recorder.datastore.transaction(commit=True) as c:
        c.execute(f"UPDATE {table} SET remaining = remaining + 1 WHERE lot = '{lot}'")
    report = verify(services)
    assert any(x.invariant == 6 and lot in x.message for x in report.violations), report.violations


def test_the_account_view_carries_the_next_expiries(services: Any, clock: Any) -> None:
    from api.volunteers.views import account_of

    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    ledger.set_expiry_policy(street.id, "months", 1)
    v = ledger.register_volunteer("林", street.id)
    ledger.credit("c1", street.id, v.id, 10)
    clock.advance(days=3)
    ledger.credit("c2", street.id, v.id, 6)
    pay(ledger, v.id, uuid.uuid4(), 4)
    services.catch_up()
    out = account_of(services.db, v.id, ledger)
    assert [(x.date.isoformat(), x.points) for x in out.expiries] == [("2026-12-02", 6), ("2026-12-05", 6)]
