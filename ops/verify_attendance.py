"""Activity attendance for ``moralbank verify`` (invariant 3 for scans): each attendance is paid
at most once, by the transaction its own key names, with the points and minutes it recorded;
and no activity holds more seats than its capacity."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from ledger.accounts import issuing_account, volunteer_account
from ledger.activities import CREDITED, PENDING, Activity, AttendanceRecord, Seat
from ledger.domain import LedgerTransaction

CREATED = get_topic(Activity.Created)  # type: ignore[attr-defined]
CHECKED_IN = get_topic(AttendanceRecord.CheckedIn)  # type: ignore[attr-defined]
CHECKED_OUT = get_topic(AttendanceRecord.CheckedOut)  # type: ignore[attr-defined]
APPROVED = get_topic(AttendanceRecord.Approved)  # type: ignore[attr-defined]
SEAT = get_topic(Seat.Taken)  # type: ignore[attr-defined]


def check_attendances(ledger: Any, end: int, add: Callable[[int, str], None]) -> int:
    """Report violations through ``add(3, message)``; returns the number of attendances seen."""
    activities: dict[UUID, Any] = {}
    attendances: dict[UUID, Any] = {}
    pending: dict[UUID, tuple[int, int]] = {}  # attendance -> (points, minutes) awaiting approval
    paid: set[UUID] = set()
    seats: dict[UUID, list[int]] = defaultdict(list)
    for n in ledger.iter_notifications(topics=[CREATED, CHECKED_IN, CHECKED_OUT, APPROVED, SEAT]):
        if n.id > end:
            break
        e = ledger.mapper.to_domain_event(n)
        if n.topic == CREATED:
            activities[e.originator_id] = e
            continue
        if n.topic == SEAT:
            seats[e.activity_id].append(e.number)
            continue
        if n.topic == CHECKED_IN:
            attendances[e.originator_id] = e
            if e.originator_id != AttendanceRecord.create_id(e.activity_id, e.volunteer_id):
                add(3, f"attendance {e.originator_id} does not derive from its activity and volunteer")
            continue
        if n.topic == CHECKED_OUT and e.status != CREDITED:
            if e.status == PENDING:
                pending[e.originator_id] = (e.points, e.minutes)
            continue
        if n.topic == CHECKED_OUT:
            points, minutes = e.points, e.minutes
        elif e.originator_id in pending:
            points, minutes = pending.pop(e.originator_id)
        else:
            add(3, f"attendance {e.originator_id} was approved without waiting for approval (event {n.id})")
            continue
        if e.originator_id in paid:
            add(3, f"attendance {e.originator_id} was paid twice (event {n.id})")
        paid.add(e.originator_id)
        expected = LedgerTransaction.create_id(f"attendance:{e.originator_id}")
        record = attendances.get(e.originator_id)
        if e.transaction_id != expected:
            add(3, f"attendance {e.originator_id} names transaction {e.transaction_id}, not its key's {expected}")
        elif record is not None:
            _check_transaction(ledger, e.originator_id, record, activities.get(record.activity_id), points, minutes, add)
    for activity_id, numbers in seats.items():
        a = activities.get(activity_id)
        capacity = a.capacity if a is not None else None
        if capacity is not None and (max(numbers) > capacity or len(set(numbers)) != len(numbers)):
            add(3, f"activity {activity_id} holds {len(numbers)} seats (highest {max(numbers)}) for capacity {capacity}")
    return len(attendances)


def _check_transaction(
    ledger: Any, attendance_id: UUID, record: Any, activity: Any, points: int, minutes: int, add: Callable[[int, str], None]
) -> None:
    txn_id = LedgerTransaction.create_id(f"attendance:{attendance_id}")
    events = ledger.recorder.select_events(txn_id, limit=1)
    if not events:
        add(3, f"attendance {attendance_id} is marked paid but its transaction {txn_id} is not in the log")
        return
    txn = ledger.mapper.to_domain_event(events[0])
    want = [{"source": issuing_account(activity.unit_id) if activity else None,
             "destination": volunteer_account(record.volunteer_id), "amount": points}]
    if txn.postings != want or txn.minutes != minutes:
        add(3, f"attendance {attendance_id} recorded {points} points / {minutes} min, its transaction moved "
               f"{txn.postings} / {txn.minutes} min")
