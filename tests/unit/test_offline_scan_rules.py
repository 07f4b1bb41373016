"""Pure rules of scans at their own time: which times are taken, and what a volunteer's scans say
in time order. Old attendance events (recorded before organizers scanned) still replay."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, strategies as st

from ledger.activities import errors as activity_errors
from ledger.activities import rules as act
from ledger.activities.domain import AttendanceRecord

SH = ZoneInfo("Asia/Shanghai")
G = timedelta(seconds=60)


def at(h: int, m: int = 0, s: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 11, day, h, m, s, tzinfo=SH)


START, END = at(9), at(12)


@pytest.mark.parametrize(
    ("scan", "now", "cancelled", "error"),
    [
        (at(9, 30), at(9, 30), False, None),
        (at(8, 30), at(9), False, None),  # the earliest a scan is taken
        (at(8, 29, 59), at(9), False, activity_errors.ScanTooEarly),
        (at(13), at(13, 30), False, None),  # the latest
        (at(13, 0, 1), at(13, 30), False, activity_errors.ScanTooLate),
        (at(10, 2), at(10), False, None),  # a device clock two minutes ahead is believed
        (at(10, 2, 1), at(10), False, activity_errors.ScanInFuture),
        (at(11), at(12, day=3), False, None),  # synced within a day of the end
        (at(11), at(12, 0, 1, day=3), False, activity_errors.SyncTooLate),
        (at(10), at(10), True, activity_errors.ActivityClosed),
    ],
)
def test_check_scan_time(scan: datetime, now: datetime, cancelled: bool, error: type[Exception] | None) -> None:
    if error is None:
        act.check_scan_time(scan, now, START, END, cancelled)
    else:
        with pytest.raises(error):
            act.check_scan_time(scan, now, START, END, cancelled)


@pytest.mark.parametrize(
    ("scans", "checked_in", "checked_out"),
    [
        ([at(9)], at(9), None),
        ([at(11), at(9)], at(9), at(11)),  # the check-out arrived first
        ([at(9), at(9, 0, 59)], at(9), None),  # within the grace: the same scan
        ([at(9), at(9, 0, 59), at(9, 1)], at(9), at(9, 1)),
        ([at(10), at(11), at(9)], at(9), at(10)),  # a late earlier scan: the old check-in checks out
    ],
)
def test_times_of(scans: list[datetime], checked_in: datetime, checked_out: datetime | None) -> None:
    assert act.times_of(scans, G) == act.Times(checked_in, checked_out)


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=8), st.randoms())
def test_times_of_ignores_the_order(seconds: list[int], rnd: object) -> None:
    times = [START + timedelta(seconds=s) for s in seconds]
    shuffled = list(times)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert act.times_of(shuffled, G) == act.times_of(sorted(times), G)


def test_an_attendance_recorded_before_organizer_scans_replays() -> None:
    """Events stored without the new fields (by, offline, device, synced_at, nonce, scan_at)."""
    activity_id, volunteer_id = uuid.uuid4(), uuid.uuid4()
    record = AttendanceRecord(activity_id=activity_id, volunteer_id=volunteer_id, unit_id=uuid.uuid4(), seat=None, at=at(9))
    record.check_out(at(10), 60, 10, act.CREDITED, uuid.uuid4())
    events = record.collect_events()
    old = []
    for e in events:
        state = {k: v for k, v in vars(e).items() if k not in ("by", "offline", "device", "synced_at", "nonce", "scan_at", "checked_in_at")}
        shell = object.__new__(type(e))
        object.__setattr__(shell, "__dict__", state)
        old.append(shell)
    replayed = None
    for e in old:
        replayed = e.mutate(replayed)
    assert replayed is not None
    assert (replayed.checked_in_at, replayed.checked_out_at, replayed.points) == (at(9), at(10), 10)
    assert replayed.scans == [at(9), at(10)] and replayed.nonces == [] and replayed.revision == 0
