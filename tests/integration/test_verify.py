"""``ops.verify``: a clean ledger verifies; each kind of damage is found (on both stores).

Damage to the read side and the write-side guard is done with SQL, as a faulty migration or a
hand edit would; damage to the log is done by writing events around the command layer."""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.persistence import StoredEvent

from ledger.accounts import Posting, issuing_account, volunteer_account
from ledger.domain import LedgerTransaction
from ledger.errors import InsufficientPoints
from ledger.store.common import BALANCES_TABLE
from ops.verify import verify
from projections.base import TRACKING_TABLE


def fill(ledger, clock):  # type: ignore[no-untyped-def]
    """Units, volunteers, awards with minutes, a reversal, a spend, a refused spend; the log
    ends with transactions."""
    street = ledger.create_unit("青禾街道", "street", None)
    community = ledger.create_unit("柳岸社区", "community", street.id)
    volunteers = [ledger.register_volunteer(f"志愿者{i}", community.id, member_no=f"T{i}") for i in range(4)]
    awards = []
    for i, v in enumerate(volunteers):
        for j in range(3):
            clock.advance(minutes=7)
            awards.append(ledger.credit(f"award:{i}:{j}", community.id, v.id, 10 + j, minutes=30 + j, memo="清洁"))
    ledger.reverse(awards[0].transaction.id, memo="重复登记")
    spender = volunteer_account(volunteers[1].id)
    ledger.post("spend:1", "adjustment", [Posting(spender, issuing_account(community.id), 5)], unit_id=community.id)
    with pytest.raises(InsufficientPoints):
        ledger.post("spend:2", "adjustment", [Posting(spender, issuing_account(community.id), 10_000)])
    for i, v in enumerate(volunteers):
        ledger.credit(f"late:{i}", street.id, v.id, 3, kind="batch", minutes=60, memo="道德银行公益日")
    return community, volunteers, awards


def guard_table(ledger) -> str:  # type: ignore[no-untyped-def]
    return getattr(ledger.recorder, "balances_table", BALANCES_TABLE)


def sql(services, statement: str, params=()) -> int:  # type: ignore[no-untyped-def]
    with services.db.transaction() as tx:
        return tx.execute(statement, params)


@pytest.fixture
def filled(services, clock):  # type: ignore[no-untyped-def]
    community, volunteers, awards = fill(services.ledger, clock)
    services.catch_up()
    return services, volunteers, awards


def invariants(report) -> set[int]:  # type: ignore[no-untyped-def]
    return {v.invariant for v in report.violations}


def test_empty_store_verifies(services):  # type: ignore[no-untyped-def]
    report = verify(services)
    assert report.ok, report.violations
    assert report.transactions == 0


def test_clean_ledger_verifies(filled):  # type: ignore[no-untyped-def]
    services, volunteers, _ = filled
    report = verify(services)
    assert report.ok, report.violations
    assert report.transactions == 12 + 1 + 1 + 4
    assert report.reversals == 1
    assert report.volunteer_accounts == 4
    assert report.accounts == 4 + 2  # two issuing accounts
    assert report.events == len(list(services.ledger.iter_notifications()))
    assert report.points_held == report.points_issued - report.points_redeemed
    assert set(report.positions.values()) == {services.ledger.max_notification_id()}


def test_catches_up_before_checking(filled, clock):  # type: ignore[no-untyped-def]
    services, volunteers, _ = filled
    community = volunteers[0].unit_id
    services.ledger.credit("after", community, volunteers[0].id, 9)
    assert verify(services, catch_up_first=False).by_invariant().keys() >= {2, 5}
    assert verify(services).ok


def test_altered_balance_row_is_found(filled):  # type: ignore[no-untyped-def]
    services, volunteers, _ = filled
    account = volunteer_account(volunteers[2].id)
    assert sql(services, "UPDATE balances SET balance = balance + 7, minutes = 1 WHERE account = %s", (account,)) == 1
    report = verify(services)
    assert invariants(report) == {2, 5}
    assert any(account in v.message and "balance" in v.message and "minutes" in v.message for v in report.violations)


def test_altered_entry_is_found(filled):  # type: ignore[no-untyped-def]
    services, volunteers, _ = filled
    account = volunteer_account(volunteers[3].id)
    assert sql(services, "UPDATE entries SET memo = %s WHERE account = %s AND kind = 'batch'", ("改过", account)) == 1
    report = verify(services)
    assert invariants(report) == {5}
    assert any("entries" in v.message and "改过" in v.message for v in report.violations)


def test_deleted_directory_row_is_found(filled):  # type: ignore[no-untyped-def]
    services, volunteers, _ = filled
    assert sql(services, "DELETE FROM volunteers WHERE id = %s", (str(volunteers[0].id),)) == 1
    report = verify(services)
    assert invariants(report) == {5}
    assert any("directory" in v.message and "volunteers" in v.message for v in report.violations)


def test_altered_guarded_balance_is_found(filled):  # type: ignore[no-untyped-def]
    services, volunteers, _ = filled
    ledger = services.ledger
    account = volunteer_account(volunteers[1].id)
    assert sql(services, f"UPDATE {guard_table(ledger)} SET balance = balance + 1 WHERE account = %s", (account,)) == 1
    report = verify(services)
    assert invariants(report) == {2}
    assert [v.message for v in report.violations] == [
        f"{account}: the write side guards {ledger.guarded_balance(account)} "
        f"but the replay gives {ledger.guarded_balance(account) - 1}"
    ]


def test_missing_guarded_balance_is_found(filled):  # type: ignore[no-untyped-def]
    services, volunteers, _ = filled
    account = volunteer_account(volunteers[0].id)
    assert sql(services, f"DELETE FROM {guard_table(services.ledger)} WHERE account = %s", (account,)) == 1
    assert invariants(verify(services)) == {2}


@pytest.mark.parametrize("catch_up_first", [True, False], ids=["catch-up", "no-catch-up"])
def test_tracking_moved_back_is_found(filled, catch_up_first):  # type: ignore[no-untyped-def]
    services, _, _ = filled
    end = services.ledger.max_notification_id()
    moved = sql(
        services,
        f"UPDATE {TRACKING_TABLE} SET notification_id = notification_id - 3 WHERE projection = 'accounts'",
    )
    assert moved == 1
    report = verify(services, catch_up_first=catch_up_first)
    assert 5 in invariants(report)
    assert report.positions["accounts"] == end - 3
    if catch_up_first:
        # Replaying the last events again would apply them twice: the projection refuses.
        assert any("catch-up failed" in v.message for v in report.violations)


def test_tracking_moved_ahead_is_found(filled):  # type: ignore[no-untyped-def]
    services, _, _ = filled
    sql(services, f"UPDATE {TRACKING_TABLE} SET notification_id = notification_id + 5 WHERE projection = 'directory'")
    report = verify(services)
    assert invariants(report) == {5}
    assert any("directory is at position" in v.message for v in report.violations)


def test_event_written_around_the_guard_is_found(filled):  # type: ignore[no-untyped-def]
    """A debit saved without balance deltas: the guard never saw it, and it overdraws."""
    services, volunteers, _ = filled
    ledger = services.ledger
    account = volunteer_account(volunteers[0].id)
    txn = LedgerTransaction(
        key="forged:overdraw", kind="adjustment",
        postings=[Posting(account, issuing_account(volunteers[0].unit_id), 1_000).as_dict()],
        minutes=0, memo="", fingerprint="x", actor="", unit_id=None, reverses=None, at=services.clock.now(),
    )
    ledger.save(txn)
    report = verify(services)
    # 1: it overdraws; 2: the guard and the postings table never saw it (and the balances row is
    # not the replay's); 6: a debit that drew no lots. Not 5: a projection is compared with a
    # rebuild from the postings table, which agrees with it; that table differing from the events
    # is invariant 2.
    assert invariants(report) == {1, 2, 6}
    assert any(v.invariant == 1 and account in v.message and "forged:overdraw" in v.message for v in report.violations)


def test_transaction_recorded_twice_is_found(filled):  # type: ignore[no-untyped-def]
    """The same key's event copied under another id: the key moved points twice."""
    services, volunteers, awards = filled
    ledger = services.ledger
    original = ledger.recorder.select_events(awards[5].transaction.id, limit=1)[0]
    copy = StoredEvent(uuid.uuid4(), 1, original.topic, original.state)
    ledger.recorder.insert_events([copy])
    services.catch_up()
    report = verify(services)
    messages = [v.message for v in report.violations if v.invariant == 3]
    assert any("does not derive from its key" in m for m in messages)
    assert any("moved points twice" in m for m in messages)
    assert 2 in invariants(report)  # the guard never counted the copy


def test_second_reversal_is_found(filled):  # type: ignore[no-untyped-def]
    services, volunteers, awards = filled
    ledger = services.ledger
    original = ledger.get_transaction(awards[0].transaction.id)
    again = LedgerTransaction(
        key="reversal:again", kind="reversal", postings=[p.reversed().as_dict() for p in original.postings],
        minutes=original.minutes, memo="", fingerprint="x", actor="", unit_id=original.unit_id,
        reverses=original.id, at=services.clock.now(),
    )
    ledger.save(again)
    services.catch_up()
    report = verify(services)
    assert any(v.invariant == 3 and "reversed 2 times" in v.message for v in report.violations)
