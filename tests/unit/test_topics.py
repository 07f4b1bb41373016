"""Stored topics do not move with files: an event's topic is in the log and in its chain digest."""

from __future__ import annotations

import pytest
from eventsourcing.utils import get_topic, resolve_topic

from ledger.activities.domain import Activity, AttendanceRecord, Seat
from ledger.batches.domain import Batch
from ledger.domain import LedgerTransaction, Volunteer


@pytest.mark.parametrize(
    ("cls", "topic"),
    [
        (Activity.Created, "ledger.activities:Activity.Created"),
        (Activity.Cancelled, "ledger.activities:Activity.Cancelled"),
        (AttendanceRecord.CheckedOut, "ledger.activities:AttendanceRecord.CheckedOut"),
        (Seat.Taken, "ledger.activities:Seat.Taken"),
        (Batch.ChunkPosted, "ledger.batches:Batch.ChunkPosted"),
        (LedgerTransaction.Recorded, "ledger.domain:LedgerTransaction.Recorded"),
        (Volunteer.Registered, "ledger.domain:Volunteer.Registered"),
    ],
)
def test_topic_is_the_one_first_recorded(cls: type, topic: str) -> None:
    assert get_topic(cls) == topic
    assert resolve_topic(topic) is cls
