"""Activities and attendance: the commands (create, cancel, scan, approve, settle).

A scan loads the activity and the volunteer's attendance, decides with the pure rules of
``ledger.activities``, and saves the new events. Saving goes one of two ways:

* ``batching=True`` (the default): a committer thread group-commits the scans that arrive
  while the previous transaction is in flight: many scans, one ``Application.save`` (one
  PostgreSQL transaction). If that save conflicts, each scan of the batch is saved on its
  own, and the ones that still conflict are decided again from a fresh load.
* ``batching=False``: each request saves its own scan (the straightforward build, kept for
  the benchmark and as a fallback).

Either way the events are the same: a check-out that earns points records a
``LedgerTransaction`` (kind ``activity``, key ``attendance:<attendance id>``, minutes on it)
in the same save as the ``CheckedOut`` event, with the volunteer's balance delta for the
write-time guard, so the accounts projection, verify, export and import see an ordinary
transaction, and a replayed scan can never pay twice (the key names the transaction).

Capacity is exact: a check-in also creates ``Seat(activity, n)`` for n ≤ capacity, and a
seat id can be recorded once only. Seats are handed out in order by a per-process index
(``SeatIndex``); a seat taken by another process shows up as a conflict and the index moves on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from ledger.activities import errors as activity_errors
from ledger.activities import rules as act
from ledger import codes, rules
from ledger.accounts import Posting, issuing_account, volunteer_account
from ledger.activities.domain import Activity, AttendanceRecord, Seat
from ledger.application import Ledger
from ledger.domain import LedgerTransaction
from ledger.errors import ConcurrencyExhausted, NotFound
from ledger.group_commit import commit_or_fail, take_batch

log = logging.getLogger(__name__)

CHECK_IN, CHECK_OUT = "check_in", "check_out"
_RETRIES = 30
_BATCH_MAX = 500
ACTIVITY_CACHE_SECONDS = 1.0  # wall time (time.monotonic), not domain time


@dataclass(frozen=True)
class ScanResult:
    action: str  # CHECK_IN or CHECK_OUT
    replayed: bool  # the same scan again within the grace period
    activity: Activity
    attendance: AttendanceRecord


@dataclass(frozen=True)
class ActivityCode:
    code: str
    window: int
    valid_from: datetime  # start of this code's window
    rotates_at: datetime  # when the next code is shown
    accepted_until: datetime  # end of the previous-window grace


@dataclass
class _Work:
    """A decided scan: how to build its events, given a seat number when it needs one."""

    build: Callable[[int | None], list[Any]]
    deltas: list[tuple[str, int]]
    activity: Activity | None = None  # set when the check-in needs a seat
    future: Future[bool] = field(default_factory=Future)


def merge_deltas(parts: Sequence[Sequence[tuple[str, int]]]) -> list[tuple[str, int]]:
    """One delta per account (the recorder's UPDATE … FROM unnest applies one row per account)."""
    total: dict[str, int] = defaultdict(int)
    for deltas in parts:
        for account, delta in deltas:
            total[account] += delta
    return sorted((a, d) for a, d in total.items() if d)


def activity_credit(
    activity: Activity, attendance_id: UUID, volunteer_id: UUID, points: int, minutes: int, at: datetime, actor: str
) -> tuple[LedgerTransaction, list[tuple[str, int]]]:
    """The ledger transaction paying an attendance, and its guarded deltas: the same checks
    and event shape as ``Ledger.post``. Raises InvalidAmount."""
    postings = [Posting(issuing_account(activity.unit_id), volunteer_account(volunteer_id), points)]
    rules.check_postings(postings)
    rules.check_minutes(minutes)
    key = f"attendance:{attendance_id}"
    txn = LedgerTransaction(
        key=key,
        kind=act.ACTIVITY_KIND,
        postings=[p.as_dict() for p in postings],
        minutes=minutes,
        memo=activity.title,
        fingerprint=rules.fingerprint([act.ACTIVITY_KIND, key, points, minutes]),
        actor=actor,
        unit_id=activity.unit_id,
        reverses=None,
        at=at,
    )
    return txn, rules.guarded_deltas(postings)


class SeatIndex:
    """The next free seat of each activity, as far as this process knows.

    Seats are taken in order, so the taken seats are 1..n: the first free one is found by
    galloping and bisecting on existence, once per activity and process.
    """

    def __init__(self, exists: Callable[[UUID], bool]) -> None:
        self._exists = exists
        self._next: dict[UUID, int] = {}
        self._lock = threading.Lock()

    def _first_free(self, activity_id: UUID, low: int = 1) -> int:
        taken = lambda n: self._exists(Seat.create_id(activity_id, n))  # noqa: E731
        if not taken(low):
            return low
        step, high = 1, low + 1
        while taken(high):
            low, step = high, step * 2
            high = low + step
        while high - low > 1:  # low taken, high free
            mid = (low + high) // 2
            low, high = (mid, high) if taken(mid) else (low, mid)
        return high

    def take(self, activity_id: UUID) -> int:
        with self._lock:
            if activity_id not in self._next:
                self._next[activity_id] = self._first_free(activity_id)
            n = self._next[activity_id]
            self._next[activity_id] = n + 1
            return n

    def release(self, activity_id: UUID, n: int) -> None:
        """Seat ``n`` is known not to be recorded (its transaction rolled back)."""
        with self._lock:
            self._next[activity_id] = min(self._next.get(activity_id, n), n)

    def give_back(self, activity_id: UUID, n: int) -> None:
        """Seat ``n`` was not recorded after all (its save failed for another reason)."""
        with self._lock:
            if self._exists(Seat.create_id(activity_id, n)):
                self._next[activity_id] = max(self._next.get(activity_id, 1), self._first_free(activity_id, n))
            else:
                self._next[activity_id] = min(self._next.get(activity_id, n), n)


class Attendance:
    """Commands for activities and attendance. Each docstring lists what it raises."""

    def __init__(
        self,
        ledger: Ledger,
        signing_key: bytes,
        *,
        grace: timedelta = act.DEFAULT_GRACE,
        batching: bool = True,
    ) -> None:
        self.ledger = ledger
        self.key = signing_key
        self.grace = grace
        self.batching = batching
        self.seats = SeatIndex(self._exists)
        self._queue: queue.Queue[_Work | None] = queue.Queue()
        self._committer: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._activities: dict[UUID, tuple[float, Activity]] = {}

    @property
    def clock(self) -> Any:
        return self.ledger.clock

    def _exists(self, aggregate_id: UUID) -> bool:
        return bool(self.ledger.recorder.select_events(aggregate_id, limit=1))

    # ---------------------------------------------------------------- activities

    def create_activity(
        self,
        title: str,
        unit_id: UUID,
        starts_at: datetime,
        ends_at: datetime,
        points_per_hour: int,
        *,
        description: str = "",
        capacity: int | None = None,
        min_minutes: int = 0,
        max_points: int | None = None,
        needs_approval: bool = False,
        no_checkout: str = act.WINDOW_END,
        created_by: str = "",
    ) -> Activity:
        """Raises NotFound (unit), InvalidRequest."""
        self.ledger.get_unit(unit_id)
        act.check_activity(title, starts_at, ends_at, points_per_hour, capacity, min_minutes, max_points, no_checkout)
        activity = Activity(
            title=title, description=description, unit_id=unit_id, starts_at=starts_at, ends_at=ends_at,
            points_per_hour=points_per_hour, capacity=capacity, min_minutes=min_minutes, max_points=max_points,
            needs_approval=needs_approval, no_checkout=no_checkout, created_by=created_by, at=self.clock.now(),
        )
        self.ledger.save(activity)
        return activity

    def get_activity(self, activity_id: UUID) -> Activity:
        """Raises NotFound."""
        return self.ledger._get(Activity, activity_id, "activity")  # noqa: SLF001

    def _activity_for_scan(self, activity_id: UUID) -> Activity:
        """The activity, from a per-process cache kept ``ACTIVITY_CACHE_SECONDS`` (an
        activity changes only when cancelled or settled; a cancellation made by another
        process is seen by scans here within that time). Raises NotFound."""
        now = time.monotonic()
        cached = self._activities.get(activity_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        activity = self.get_activity(activity_id)
        self._activities[activity_id] = (now + ACTIVITY_CACHE_SECONDS, activity)
        return activity

    def cancel_activity(self, activity_id: UUID, reason: str = "") -> Activity:
        """Nothing already credited is touched (a reversal would be its own request).
        Raises NotFound, ActivityCancelled, ConcurrencyExhausted."""
        for _ in self.ledger._retrying():  # noqa: SLF001
            activity = self.get_activity(activity_id)
            activity.cancel(reason, at=self.clock.now())
            try:
                self.ledger.save(activity)
            except IntegrityError:
                continue
            self._activities.pop(activity_id, None)
            return activity
        raise AssertionError("unreachable")

    def find_attendance(self, activity_id: UUID, volunteer_id: UUID) -> AttendanceRecord | None:
        try:
            record = self.ledger.repository.get(AttendanceRecord.create_id(activity_id, volunteer_id))
        except AggregateNotFoundError:
            return None
        return record if isinstance(record, AttendanceRecord) else None

    def get_attendance(self, activity_id: UUID, volunteer_id: UUID) -> AttendanceRecord:
        """Raises NotFound."""
        record = self.find_attendance(activity_id, volunteer_id)
        if record is None:
            raise NotFound("attendance not found", activity_id=str(activity_id), volunteer_id=str(volunteer_id))
        return record

    # ---------------------------------------------------------------- codes

    def code_for(self, activity_id: UUID) -> ActivityCode:
        """The code to show now. Raises NotFound."""
        self.get_activity(activity_id)
        now = self.clock.now()
        w = act.window_index(now)
        code = codes.sign(self.key, codes.ACTIVITY, {"a": activity_id.hex, "w": w})
        start = datetime.fromtimestamp(act.window_start(w), tz=now.tzinfo)
        step = timedelta(seconds=act.CODE_WINDOW_SECONDS)
        return ActivityCode(code, w, start, start + step, start + 2 * step)

    def read_code(self, fields: dict[str, Any], *, expected_activity: UUID | None = None) -> tuple[UUID, int]:
        """The activity and window of an activity code's fields.
        Raises CodeInvalid, CodeExpired, CodeWrongActivity."""
        try:
            activity_id = UUID(hex=str(fields["a"]))
        except (KeyError, ValueError):
            raise codes.CodeInvalid("unreadable code") from None
        window = act.check_code_window(fields.get("w"), self.clock.now())
        if expected_activity is not None and expected_activity != activity_id:
            raise activity_errors.CodeWrongActivity("this code is for another activity", activity_id=str(activity_id))
        return activity_id, window

    # ---------------------------------------------------------------- scans

    def scan_code(self, code: str, volunteer_id: UUID, *, expected_activity: UUID | None = None) -> ScanResult:
        """Read and check an activity code, then scan. Raises what ``read_code`` and ``scan`` raise."""
        _, fields = codes.read(self.key, code, kind=codes.ACTIVITY)
        return self.scan(fields, volunteer_id, expected_activity=expected_activity)

    def scan(self, fields: dict[str, Any], volunteer_id: UUID, *, expected_activity: UUID | None = None) -> ScanResult:
        """Check in, or out, of the activity the code names.

        The caller vouches for ``volunteer_id`` (a volunteer token names a registered
        volunteer); it is not loaded again on this, the busiest path.

        Raises CodeInvalid (also: an activity that does not exist), CodeExpired,
        CodeWrongActivity, ActivityClosed, ActivityFull, AlreadyCheckedOut, ConcurrencyExhausted.
        """
        activity_id, _ = self.read_code(fields, expected_activity=expected_activity)
        for _ in range(_RETRIES):
            try:
                activity = self._activity_for_scan(activity_id)
            except NotFound:
                raise codes.CodeInvalid("this code names no activity") from None
            now = self.clock.now()
            act.scan_open(now, activity.starts_at, activity.ends_at, activity.cancelled)
            record = self.find_attendance(activity_id, volunteer_id)
            if record is None:
                work, result = self._check_in(activity, volunteer_id, now)
            elif act.within_grace(record.last_scan, now, self.grace):
                return ScanResult(CHECK_IN if record.status == act.IN else CHECK_OUT, True, activity, record)
            else:
                work, result = self._check_out(activity, record, now, actor=f"scan:{volunteer_id}")
            if self._save(work):
                return ScanResult(result[0], False, activity, result[1])
        raise ConcurrencyExhausted("too many concurrent scans; scan again")

    def _check_in(self, activity: Activity, volunteer_id: UUID, now: datetime) -> tuple[_Work, list[Any]]:
        result: list[Any] = [CHECK_IN, None]

        def build(seat: int | None) -> list[Any]:
            record = AttendanceRecord(activity_id=activity.id, volunteer_id=volunteer_id, unit_id=activity.unit_id, seat=seat, at=now)
            result[1] = record
            events = list(record.collect_events())
            if seat is not None:
                events += Seat(activity_id=activity.id, number=seat, volunteer_id=volunteer_id).collect_events()
            return events

        return _Work(build, [], activity if activity.capacity is not None else None), result

    def _check_out(
        self, activity: Activity, record: AttendanceRecord, at: datetime, *, actor: str, settled: bool = False, until: datetime | None = None
    ) -> tuple[_Work, list[Any]]:
        """``until``: the moment counted to (the scan, or the window's end when settling)."""
        if record.status != act.IN:
            raise activity_errors.AlreadyCheckedOut("already checked out of this activity", attendance_status=record.status)
        minutes = act.served_minutes(record.checked_in_at, until or at, activity.starts_at, activity.ends_at)
        points = act.points_for(minutes, activity.rule)
        needs_approval = activity.needs_approval or (settled and activity.no_checkout == act.APPROVAL)
        status = act.status_after_checkout(points, needs_approval)
        events: list[Any] = []
        deltas: list[tuple[str, int]] = []
        txn_id = None
        if status == act.CREDITED:
            txn, deltas = activity_credit(activity, record.id, record.volunteer_id, points, minutes, at, actor)
            txn_id = txn.id
            events += txn.collect_events()
        record.check_out(at, minutes, points, status, txn_id, settled=settled)
        events += record.collect_events()
        return _Work(lambda _seat: events, deltas), [CHECK_OUT, record]

    # ---------------------------------------------------------------- saving

    def _save(self, work: _Work) -> bool:
        """True when recorded; False when it conflicted (decide again from a fresh load).
        Raises ActivityFull."""
        if not self.batching:
            return self._save_one(work)
        self._ensure_committer()
        self._queue.put(work)
        return work.future.result()

    def _seat(self, work: _Work) -> int | None:
        """Raises ActivityFull."""
        activity = work.activity
        if activity is None:
            return None
        n = self.seats.take(activity.id)
        if n > activity.capacity:
            self.seats.release(activity.id, n)
            raise activity_errors.ActivityFull("this activity is full", capacity=activity.capacity)
        return n

    def _save_one(self, work: _Work) -> bool:
        seat = self._seat(work)
        try:
            self.ledger.save(*work.build(seat), balance_deltas=merge_deltas([work.deltas]))
        except IntegrityError:
            if seat is not None and work.activity is not None:
                self.seats.give_back(work.activity.id, seat)
            return False
        return True

    def _ensure_committer(self) -> None:
        if self._committer is not None:
            return
        with self._start_lock:
            if self._committer is None:
                t = threading.Thread(target=self._commit_loop, name="scan-committer", daemon=True)
                t.start()
                self._committer = t

    def close(self) -> None:
        if self._committer is not None:
            self._queue.put(None)
            self._committer.join(timeout=10)
            self._committer = None

    def _commit_loop(self) -> None:
        while (batch := take_batch(self._queue, _BATCH_MAX)) is not None:
            commit_or_fail(self._commit, batch)

    def _commit(self, batch: list[_Work]) -> None:
        """One transaction for the whole batch; on a conflict, each on its own."""
        if len(batch) > 1:
            ready: list[tuple[_Work, int | None, list[Any]]] = []
            for w in batch:
                try:
                    seat = self._seat(w)
                except activity_errors.ActivityFull as e:
                    w.future.set_exception(e)
                    continue
                ready.append((w, seat, w.build(seat)))
            try:
                self.ledger.save(
                    *[e for _, _, events in ready for e in events],
                    balance_deltas=merge_deltas([w.deltas for w, _, _ in ready]),
                )
            except IntegrityError:
                # Give the seats back (last first, so the index returns to the lowest),
                # then save one by one.
                for w, seat, _ in reversed(ready):
                    if seat is not None and w.activity is not None:
                        self.seats.release(w.activity.id, seat)
                batch = [w for w, _, _ in ready]
            else:
                for w, _, _ in ready:
                    w.future.set_result(True)
                return
        for w in batch:
            try:
                w.future.set_result(self._save_one(w))
            except activity_errors.ActivityFull as e:
                w.future.set_exception(e)

    # ---------------------------------------------------------------- approvals and settling

    def decide(self, activity_id: UUID, volunteer_ids: Sequence[UUID], approve: bool, *, by: str) -> list[AttendanceRecord]:
        """Approve (points are credited) or reject pending attendances, all in one save.
        Raises NotFound, NotPending, ConcurrencyExhausted."""
        for _ in self.ledger._retrying():  # noqa: SLF001
            activity = self.get_activity(activity_id)
            now = self.clock.now()
            records, events, deltas = [], [], []
            for volunteer_id in dict.fromkeys(volunteer_ids):
                record = self.get_attendance(activity_id, volunteer_id)
                if record.status != act.PENDING:
                    raise activity_errors.NotPending("this attendance is not waiting for approval", volunteer_id=str(volunteer_id), attendance_status=record.status)
                txn_id = None
                if approve:
                    txn, d = activity_credit(activity, record.id, volunteer_id, record.points, record.minutes, now, by)
                    txn_id = txn.id
                    deltas.append(d)
                    events += txn.collect_events()
                record.decide(approve, by, txn_id, now)
                records.append(record)
                events += record.collect_events()
            try:
                self.ledger.save(*events, balance_deltas=merge_deltas(deltas))
            except IntegrityError:
                continue
            return records
        raise AssertionError("unreachable")

    def settle(self, activity_id: UUID, volunteer_ids: Sequence[UUID], *, by: str) -> list[AttendanceRecord]:
        """After the end: everyone among ``volunteer_ids`` still checked in is checked out by
        the activity's rule for a missing check-out (``window_end`` counts to the end,
        ``none`` counts nothing, ``approval`` counts to the end and waits for approval).
        Raises NotFound, ActivityNotOver, ConcurrencyExhausted."""
        for _ in self.ledger._retrying():  # noqa: SLF001
            activity = self.get_activity(activity_id)
            now = self.clock.now()
            if now <= activity.ends_at + act.LATE_SCAN and not activity.cancelled:
                raise activity_errors.ActivityNotOver("scans are still accepted; settle after they close")
            end = min(activity.ends_at, activity.cancelled_at or activity.ends_at)
            until = act.settle_unfinished(activity.no_checkout, end)
            events: list[Any] = []
            deltas: list[list[tuple[str, int]]] = []
            settled: list[AttendanceRecord] = []
            for volunteer_id in dict.fromkeys(volunteer_ids):
                record = self.find_attendance(activity_id, volunteer_id)
                if record is None or record.status != act.IN:
                    continue
                work, _ = self._check_out(
                    activity, record, now, actor=by, settled=True, until=until or record.checked_in_at
                )
                events += work.build(None)
                deltas.append(work.deltas)
                settled.append(record)
            if not events:
                return []
            try:
                self.ledger.save(*events, balance_deltas=merge_deltas(deltas))
            except IntegrityError:
                continue
            return settled
        raise AssertionError("unreachable")
