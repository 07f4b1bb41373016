"""The postings table on each store: one row per posting of every kind of transaction, equal to
what its event gives; verify names an altered, a missing and an extra row; an import rebuilds it."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from eventsourcing.utils import get_topic

from movements import KINDS, every_kind
from ledger.codec import state_of
from ledger.domain import LedgerTransaction
from ledger.postings import rows_of_stored
from ops.verify import verify

RECORDED = get_topic(LedgerTransaction.Recorded)  # type: ignore[attr-defined]


def table(services: Any) -> str:
    recorder = services.ledger.recorder
    return getattr(recorder, "postings_table", "ledger_postings")


def execute(services: Any, sql: str) -> None:
    """A change made behind the ledger's back (a broken disk, a hand in the database)."""
    with services.ledger.recorder.datastore.transaction(commit=True) as c:
        c.execute(sql)


def test_every_kind_of_transaction_has_its_rows(services: Any, clock: Any, tmp_path: Path) -> None:
    every_kind(services, clock, tmp_path)
    ledger = services.ledger
    rows = ledger.recorder.select_postings(0, ledger.max_notification_id(), 10_000)
    assert sorted({r.kind for r in rows}) == KINDS
    expected = []
    for n in ledger.iter_notifications(topics=[RECORDED]):
        expected += rows_of_stored(n.originator_id, state_of(n.state), ZoneInfo("Asia/Shanghai"), n.id)
    assert rows == expected
    batch_lines = [r for r in rows if r.kind == "batch"]
    assert [(r.line, r.line_minutes, r.amount) for r in batch_lines] == [(2, 60, 12), (3, 30, 8)]  # line 1 is the header
    assert all(r.line_key for r in batch_lines)
    activity = next(r for r in rows if r.kind == "activity")
    assert (activity.source_kind, activity.destination_kind, activity.amount, activity.txn_minutes) == ("issuing", "volunteer", 30, 60)
    assert str(activity.day) == activity.at.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    report = verify(services)
    assert report.ok, report.violations


@pytest.mark.parametrize("damage", ["altered", "missing", "extra"])
def test_verify_names_a_damaged_row(services: Any, clock: Any, tmp_path: Path, damage: str) -> None:
    every_kind(services, clock, tmp_path)
    first = services.ledger.recorder.select_postings(0, 10**9, 1)[0]
    t = table(services)
    if damage == "altered":
        execute(services, f"UPDATE {t} SET amount = amount + 1 WHERE position = {first.position} AND seq = 0")
    elif damage == "missing":
        execute(services, f"DELETE FROM {t} WHERE position = {first.position} AND seq = 0")
    else:
        execute(services, f"INSERT INTO {t} SELECT position, 7, transaction_id, key, kind, source_kind, source_id, "
                          f"destination_kind, destination_id, amount, line_minutes, txn_minutes, unit_id, reverses, line, "
                          f"line_key, memo, at, day FROM {t} WHERE position = {first.position} AND seq = 0")
    report = verify(services)
    found = [str(v) for v in report.violations if "postings row" in str(v)]
    assert found, report.violations
    assert all(f"at {first.position}/" in v for v in found), found
    says = {"is missing": any("is missing" in v for v in found), "does not match": any("does not match its event" in v for v in found)}
    assert says == {"altered": {"is missing": True, "does not match": True},
                    "missing": {"is missing": True, "does not match": False},
                    "extra": {"is missing": False, "does not match": True}}[damage]
