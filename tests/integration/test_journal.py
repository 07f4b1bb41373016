"""The journal is the one door for points, on each store: every kind of movement reaches the
store through it, a group of commands shares one transaction with credits saved before debits,
and a refused group gives each command the answer it would have had alone."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.utils import get_topic

from invariants import assert_invariants, replay
from movements import KINDS, every_kind
from ledger.accounts import Posting, issuing_account, merchant_account, volunteer_account
from ledger.domain import LedgerTransaction
from ledger.errors import IdempotencyConflict, InsufficientPoints
from ledger.journal import Journal, Movement

RECORDED = get_topic(LedgerTransaction.Recorded)  # type: ignore[attr-defined]


def recorded_transactions(ledger: Any) -> dict[UUID, str]:
    """Every ledger transaction in the store, by id, with its kind."""
    out = {}
    for n in ledger.iter_notifications(topics=[RECORDED]):
        event = ledger.mapper.to_domain_event(n)
        out[event.originator_id] = event.kind
    return out


def watch(ledger: Any) -> set[UUID]:
    """The ids of the transactions the journal hands to the store, from now on."""
    seen: set[UUID] = set()
    ledger.journal.on_save.append(
        lambda events: seen.update(e.originator_id for e in events if isinstance(e, LedgerTransaction.Recorded))  # type: ignore[attr-defined]
    )
    return seen


def test_every_movement_goes_through_the_journal(services: Any, clock: Any, tmp_path: Path) -> None:
    ledger = services.ledger
    seen = watch(ledger)
    street = every_kind(services, clock, tmp_path)
    lin = ledger.find_volunteer_by_member_no("QH-0001")

    stored = recorded_transactions(ledger)
    assert sorted(Counter(stored.values())) == KINDS
    assert set(stored) == seen
    assert_invariants(services)

    # The check can fail: a transaction saved around the journal is caught.
    stray = LedgerTransaction(
        key="stray", kind="award", postings=[Posting(issuing_account(street.id), volunteer_account(lin.id), 1).as_dict()],
        minutes=0, memo="", fingerprint="x", actor="", unit_id=None, reverses=None, at=clock.now(),
    )
    ledger.save(stray)
    assert set(recorded_transactions(ledger)) - seen == {stray.id}


class GatedStore:
    """The ledger as a journal's store, whose first save waits until ``n`` more commands are
    queued behind it: the next group then holds all of them, whatever the thread timing."""

    def __init__(self, ledger: Any, n: int) -> None:
        self.ledger, self.n = ledger, n
        self.clock, self.repository, self.recorder = ledger.clock, ledger.repository, ledger.recorder
        self.journal: Journal | None = None
        self.saves: list[int] = []
        self.entered = threading.Event()

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        if not self.saves:
            self.entered.set()
            deadline = time.monotonic() + 20
            while self.journal._queue.qsize() < self.n and time.monotonic() < deadline:  # type: ignore[union-attr]  # noqa: SLF001
                time.sleep(0.005)
        self.saves.append(sum(1 for o in objs if isinstance(o, LedgerTransaction.Recorded)))  # type: ignore[attr-defined]
        return self.ledger.save(*objs, **kwargs)


def gated_journal(ledger: Any, n: int) -> tuple[Journal, GatedStore]:
    gate = GatedStore(ledger, n)
    journal = Journal(gate)
    gate.journal = journal
    return journal, gate


def at_once(n: int, fn: Any, gate: GatedStore | None = None) -> list[Any]:
    """Run ``fn(i)`` for i in range(n) from n threads; each result, or the exception raised.
    With a gate: command 0 first, alone, and the others once its save is held."""

    def one(i: int) -> Any:
        try:
            return fn(i)
        except Exception as e:  # noqa: BLE001 - the command's own answer
            return e

    with ThreadPoolExecutor(n) as pool:
        first = pool.submit(one, 0) if gate is not None else None
        if gate is not None:
            assert gate.entered.wait(20)
        rest = list(pool.map(one, range(1 if gate is not None else 0, n)))
        return ([first.result()] if first is not None else []) + rest


def test_a_group_saves_credits_before_debits(services: Any) -> None:
    """Credits are saved first; debits share the group when each was decided on lots of its own
    volunteer that no other piece of the group draws on (a volunteer's second debit waits for a
    save of its own, and is decided again from fresh lots)."""
    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    vols = [ledger.register_volunteer(f"赵雨桐{i}", street.id) for i in range(22)]
    accounts, shop = [volunteer_account(v.id) for v in vols], merchant_account(uuid.uuid4())
    for v in vols:
        ledger.credit(f"seed:{v.id}", street.id, v.id, 10)
    journal, gate = gated_journal(ledger, 42)

    def command(i: int) -> Any:
        if i == 0 or i % 2:  # the first (saved alone) and 21 more: debits of 10, one per volunteer
            return journal.post(Movement(f"spend:{i}", "redemption", [Posting(accounts[(i + 1) // 2], shop, 10)]))
        if i == 42:  # a second debit of a volunteer debited in the group: on its own, after it
            return journal.post(Movement(f"spend:{i}", "redemption", [Posting(accounts[1], shop, 5)]))
        time.sleep(0.002 * i)  # credits queue among the debits, not before them
        return journal.post(Movement(f"earn:{i}", "award", [Posting(issuing_account(street.id), accounts[i // 2], 10)], unit_id=street.id))

    results = at_once(43, command, gate)
    journal.close()
    assert not [r for r in results if isinstance(r, Exception)], results
    # one alone, one group of forty-one (21 debits, 20 credits), then the volunteer's second debit:
    # decided on lots the group's debit drew from, refused by the store, decided again and saved
    assert gate.saves == [1, 41, 1, 1]
    balances, negatives, _ = replay(ledger)
    assert negatives == [] and balances[accounts[0]] == 0 and balances[accounts[1]] == 5
    assert_invariants(services)


def test_a_refused_group_answers_each_command_alone(services: Any) -> None:
    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    people = [ledger.register_volunteer(f"志愿者{i}", street.id) for i in range(13)]
    for v in people:
        ledger.credit(f"seed:{v.id}", street.id, v.id, 5)
    shop = merchant_account(uuid.uuid4())
    ledger.post("taken", "redemption", [Posting(volunteer_account(people[0].id), shop, 1)], fingerprint="first")
    journal, gate = gated_journal(ledger, 12)

    def command(i: int) -> Any:
        if i == 0:  # the gate's first save
            return journal.post(Movement("warm-up", "award", [Posting(issuing_account(street.id), volunteer_account(people[0].id), 1)]))
        if i == 1:  # this key was used for another request
            return journal.post(Movement("taken", "redemption", [Posting(volunteer_account(people[1].id), shop, 1)]))
        amount = 9 if i == 2 else 5  # one volunteer spends more than they have
        return journal.post(Movement(f"spend:{i}", "redemption", [Posting(volunteer_account(people[i].id), shop, amount)]))

    results = at_once(13, command, gate)
    journal.close()
    assert isinstance(results[1], IdempotencyConflict)
    assert isinstance(results[2], InsufficientPoints)
    assert all(not r.replayed for i, r in enumerate(results) if i not in (1, 2)), results
    assert gate.saves[:2] == [1, 12]  # the group was tried whole first, then one by one
    assert len(gate.saves) == 2 + 12
    assert_invariants(services)


@pytest.mark.parametrize("grouped", [True, False])
def test_a_seat_taken_in_a_refused_group_is_given_back(services: Any, clock: Any, grouped: bool) -> None:
    """Capacity stays exact whichever way scans are saved, also when their groups fail."""
    ledger, att = services.ledger, services.attendance
    att.batching = grouped
    street = ledger.create_unit("青禾街道", "street", None)
    activity = att.create_activity("敬老院探访", street.id, clock.now(), clock.now() + timedelta(hours=2), 10, capacity=7)
    people = [ledger.register_volunteer(f"访客{i}", street.id).id for i in range(30)]
    code = att.code_for(activity.id).code
    barrier = threading.Barrier(30)

    def scan(i: int) -> Any:
        barrier.wait()
        return att.scan_code(code, people[i % 20])  # ten volunteers scan twice at once

    outcomes = Counter(type(r).__name__ for r in at_once(30, scan))
    assert outcomes["ScanResult"] >= 7
    seated = [att.find_attendance(activity.id, v) for v in people]
    assert sorted(r.seat for r in seated if r is not None) == list(range(1, 8))
