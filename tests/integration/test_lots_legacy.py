"""Stores with credits from before lots: ``open_legacy`` (``moralbank lots open-legacy``, and first
in every expiry run) opens one never-expiring lot per volunteer for the points in no lot, through an
event; verify passes afterwards, the points can be spent (drawings whole), a second run opens
nothing, and runs racing redemptions open nothing twice. Both stores.

The old events are forged as the code before lots wrote them (``git show c8d7d1f^:ledger/journal.py``):
a ``LedgerTransaction.Recorded`` whose postings carry neither ``opens`` nor ``draws``, saved with
its guard deltas and posting rows, no lots."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from test_transfer import target, target_url  # noqa: F401 - fixtures: a fresh store to import into
from typer.testing import CliRunner

from ledger import rules
from ledger.accounts import Posting, issuing_account, merchant_account, volunteer_account
from ledger.domain import LedgerTransaction
from ledger.errors import LedgerError
from ledger.journal import Movement
from ledger.lots.expiry import expire_due
from ledger.lots.legacy import OPENED, open_legacy
from ledger.postings import rows_of
from ops.transfer import export_log, import_log
from ops.verify import verify


def old_format(ledger: Any, key: str, kind: str, postings: list[Posting], unit_id: uuid.UUID | None = None) -> None:
    """A transaction as the code before lots recorded it: no lot fields, no lots written."""
    stored = [p.as_dict() for p in postings]
    txn = LedgerTransaction(
        key=key, kind=kind, postings=stored, minutes=0, memo="", fingerprint=rules.fingerprint([kind, stored, 0, ""]),
        actor="", unit_id=unit_id, reverses=None, at=ledger.clock.now(),
    )
    rows = rows_of(txn.id, {**txn.__dict__, "postings": stored}, ledger.zone)
    ledger.journal._save(list(txn.collect_events()), rules.guarded_deltas(postings), [], rows, None)  # noqa: SLF001


def pay(ledger: Any, volunteer_id: uuid.UUID, shop: uuid.UUID, points: int) -> Any:
    return ledger.journal.post(
        Movement(f"pay:{uuid.uuid4()}", "redemption", [Posting(volunteer_account(volunteer_id), merchant_account(shop), points)])
    ).transaction


def lots_of(ledger: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for lot in ledger.recorder.select_lots(limit=10**6):
        out.setdefault(lot.account, []).append(lot)
    return out


def legacy_events(ledger: Any) -> list[Any]:
    return [ledger.mapper.to_domain_event(n) for n in ledger.iter_notifications() if n.topic == OPENED]


def a_store_from_before_lots(ledger: Any, clock: Any) -> tuple[Any, list[Any], uuid.UUID]:
    street = ledger.create_unit("青禾街道", "street", None)
    community = ledger.create_unit("春晖社区", "community", street.id)
    vs = [ledger.register_volunteer(f"v{i}", community.id) for i in range(4)]
    shop = uuid.uuid4()
    for i, v in enumerate(vs[:3]):  # before lots: credits and a redemption with no lot fields
        old_format(ledger, f"old-credit:{i}", "award", [Posting(issuing_account(street.id), volunteer_account(v.id), 20 + i)], street.id)
    old_format(ledger, "old-pay:0", "redemption", [Posting(volunteer_account(vs[0].id), merchant_account(shop), 5)])
    # lots are deployed: new credits open lots (expiring ones), a debit draws them, then falls short
    ledger.set_expiry_policy(street.id, "months", 1)
    ledger.credit("new-credit:1", street.id, vs[1].id, 4)
    ledger.credit("new-credit:3", street.id, vs[3].id, 9)  # a volunteer with no points of before lots
    short = pay(ledger, vs[1].id, shop, 10)  # 4 from the new lot, 6 from points in no lot
    assert sum(d[2] for d in short.postings_data[0]["draws"]) == 4
    return street, vs, shop


def test_open_legacy_makes_verify_pass_and_the_points_spendable(services: Any, clock: Any) -> None:
    ledger = services.ledger
    street, vs, shop = a_store_from_before_lots(ledger, clock)
    services.catch_up()
    before = verify(services)
    assert not before.ok
    assert any(x.invariant == 6 and "in no lot" in x.message for x in before.violations), before.violations

    report = open_legacy(ledger, chunk=2)
    assert (report.volunteers, report.points) == (3, (20 - 5) + (21 - 6) + 22)
    opened = legacy_events(ledger)
    assert sorted(e.amount for e in opened) == [15, 15, 22]
    assert {e.unit_id for e in opened} == {vs[0].unit_id}  # funded by the home unit
    lots = lots_of(ledger)
    for v in vs:
        account = volunteer_account(v.id)
        assert sum(x.remaining for x in lots[account]) == ledger.guarded_balance(account)
    services.catch_up()
    after = verify(services)
    assert after.ok, after.violations

    # a second run (and an expiry run, which opens them first) opens nothing
    assert open_legacy(ledger).volunteers == 0
    assert expire_due(ledger).legacy_lots == 0
    assert len(legacy_events(ledger)) == 3

    # every point can be spent, each drawing whole; the new lot (soonest expiry) goes first
    for v in vs:
        account = volunteer_account(v.id)
        spent = pay(ledger, v.id, shop, ledger.guarded_balance(account))
        draws = spent.postings_data[0]["draws"]
        assert sum(d[2] for d in draws) == spent.postings_data[0]["amount"]
    assert all(x.remaining == 0 for xs in lots_of(ledger).values() for x in xs)
    services.catch_up()
    assert verify(services).ok


def test_runs_racing_redemptions_open_nothing_twice(services: Any, clock: Any) -> None:
    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    vs = [ledger.register_volunteer(f"v{i}", street.id) for i in range(6)]
    for i, v in enumerate(vs):
        old_format(ledger, f"old:{i}", "award", [Posting(issuing_account(street.id), volunteer_account(v.id), 100)], street.id)
    shop = uuid.uuid4()
    barrier = threading.Barrier(34)

    def one(i: int) -> str:
        barrier.wait()
        try:
            if i >= 30:
                open_legacy(ledger, chunk=1 + i % 3)
            else:
                pay(ledger, vs[i % 3].id, shop, 7)  # the first three are spent from while lots open
        except LedgerError as e:
            return e.code
        return "ok"

    with ThreadPoolExecutor(34) as pool:
        outcomes = Counter(pool.map(one, range(34)))
    assert outcomes == {"ok": 34}, outcomes
    assert open_legacy(ledger).volunteers == 0
    opened = Counter(e.account for e in legacy_events(ledger))
    assert opened == Counter({volunteer_account(v.id): 1 for v in vs})
    for v in vs:
        account = volunteer_account(v.id)
        assert sum(x.remaining for x in lots_of(ledger)[account]) == ledger.guarded_balance(account)
    services.catch_up()
    report = verify(services)
    assert report.ok, report.violations


@pytest.mark.parametrize("target_url", ["same"], indirect=True)
def test_export_import_keeps_the_lots_of_before_lots(services: Any, target: Any, clock: Any, tmp_path: Path) -> None:
    ledger = services.ledger
    _street, vs, shop = a_store_from_before_lots(ledger, clock)
    open_legacy(ledger)
    pay(ledger, vs[2].id, shop, 3)
    dump = tmp_path / "export.jsonl"
    with dump.open("w", encoding="utf8") as f:
        export_log(ledger, f)
    import_log(target, dump, chunk_size=4)
    assert target.ledger.recorder.select_lots(limit=10**6) == ledger.recorder.select_lots(limit=10**6)
    assert target.ledger.recorder.select_drawings(0, 2**62, 10**6) == ledger.recorder.select_drawings(0, 2**62, 10**6)
    report = verify(target)
    assert report.ok, report.violations


def test_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.clock import ManualClock
    from ops.cli import app
    from ops.settings import Settings
    from ops.wiring import build_services, close_services

    url = f"sqlite:///{tmp_path}/cli.sqlite3"
    monkeypatch.setenv("MORALBANK_DATABASE_URL", url)
    monkeypatch.setenv("MORALBANK_VAR_DIR", str(tmp_path / "var"))
    svc = build_services(Settings(database_url=url), clock=ManualClock())
    try:
        street = svc.ledger.create_unit("青禾街道", "street", None)
        v = svc.ledger.register_volunteer("林", street.id)
        old_format(svc.ledger, "old", "award", [Posting(issuing_account(street.id), volunteer_account(v.id), 12)], street.id)
    finally:
        close_services(svc)
    runner = CliRunner()
    result = runner.invoke(app, ["lots", "open-legacy"])
    assert result.exit_code == 0 and "opened 1 lot(s) of before lots, 12 point(s)" in result.stderr, result.output
    result = runner.invoke(app, ["lots", "open-legacy"])
    assert result.exit_code == 0 and "opened 0 lot(s)" in result.stderr, result.output


def test_reversing_a_redemption_of_before_lots_gives_a_lot_of_the_home_unit(services: Any, clock: Any) -> None:
    from ledger.domain import LedgerTransaction

    ledger = services.ledger
    street, vs, shop = a_store_from_before_lots(ledger, clock)
    open_legacy(ledger)
    back = ledger.reverse(LedgerTransaction.create_id("old-pay:0")).transaction  # drew no lot: paid before lots
    opened = back.postings_data[0]["opens"]
    assert (opened["unit"], opened["expires_on"]) == (vs[0].unit_id.hex, None)  # not the shop's id
    services.catch_up()
    report = verify(services)
    assert report.ok, report.violations
