"""Activities and attendance: the commands (create, cancel, scan, approve, settle).

A scan loads the activity and the volunteer's attendance, decides with the pure rules of
``ledger.activities.rules``, and records the new events through the journal (``ledger.journal``),
whose committer shares one store transaction among the scans, redemptions and credits that arrive
together (``batching=False``: each scan saves alone, the straightforward build kept for the
benchmark). A conflict means another request got there first: the scan is decided again from a
fresh load.

A check-out that earns points records a ``LedgerTransaction`` (kind ``activity``, key
``attendance:<attendance id>``, minutes on it) built by the journal, in the same save as the
``CheckedOut`` event, so the accounts projection, verify, export and import see an ordinary
transaction, and a replayed scan can never pay twice (the key names the transaction).

Capacity is exact: a check-in also creates ``Seat(activity, n)`` for n ≤ capacity, and a
seat id can be recorded once only. Seats are handed out in order by a per-process index
(``SeatIndex``), at the last moment before the save; a seat taken by another process shows up as
a conflict and the index moves on.

**Scans by an organizer, maybe offline** (``scan_at``). An organizer's device scans a volunteer's
member card; with no network it queues the scan with its own time and a random nonce and sends it
later. The server applies each scan at *its own time*: the rules are pure functions of times, so
the scan's time stands where a volunteer's scan uses the clock's now (window, grace, minutes,
capacity, approval all the same). Refused: a time before the scans open or after they close
(``scan_too_early`` / ``scan_too_late``), ahead of the server's now by more than a little clock skew
(``scan_in_future``), or arriving more than ``SYNC_ALLOWANCE`` after the end (``sync_too_late``).
The events record where a scan came from: ``by``, ``offline``, ``device``, ``synced_at`` and the
``nonce`` (new fields with defaults, so events recorded before them replay unchanged).

*Whatever order the scans arrive in, the result is what the rules give for them in time order.*
The attendance keeps every scan's own time, sorted (``scans``), and the nonces it has recorded (the
same nonce again lands once: ``duplicate``). ``rules.times_of`` reads the sorted times as the rules
would have, one by one: the first checks in, one within the grace of the check-in is that same
scan, the next checks out, later ones change nothing. A new scan is added to the times and read
again:
- still no check-out: the scan is kept (``ScanNoted``, with the check-in moved earlier if it is);
- a check-out appears: ``CheckedOut`` as usual (with ``checked_in_at`` when a check-out that
  arrived first had checked in, and the late check-in now comes before it);
- the outcome was decided and the times now say otherwise (an earlier scan came late, e.g. an
  organizer's offline scan from before the phone's check-in): ``Redecided`` with the new times,
  minutes, points and status. Points already credited are never edited: the old credit is reversed
  (``Ledger.reversal``, an ordinary compensating transaction) and the new points credited under
  the key ``attendance:<id>:r<revision>``, both in the same save as the event, the new credit
  first so the running balance never dips. A settled attendance (no check-out was scanned) takes a
  late check-out scan in place of the rule for a missing one; a rejected one stays rejected.
Scans that change nothing are kept too, because a scan arriving even later can make them count
(a repeat within the grace of a check-in that moves earlier can become the check-out).
A volunteer's own phone scans (``scan``) arrive as they happen, so they are decided as before and
add their time to the same sorted set.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from ledger.activities import errors as activity_errors
from ledger.activities import rules as act
from ledger import codes, rules
from ledger.accounts import Posting, issuing_account, volunteer_account
from ledger.activities.domain import Activity, AttendanceRecord, ScanSource, Seat
from ledger.application import Ledger
from ledger.errors import ConcurrentChange, NotFound
from ledger.journal import Movement, Recorded, attempts

log = logging.getLogger(__name__)

CHECK_IN, CHECK_OUT = "check_in", "check_out"
ACTIVITY_CACHE_SECONDS = 1.0  # wall time (time.monotonic), not domain time


@dataclass(frozen=True)
class ScanResult:
    action: str  # CHECK_IN or CHECK_OUT
    replayed: bool  # the same scan again within the grace period
    activity: Activity
    attendance: AttendanceRecord


# What an organizer's scan did (``Attendance.scan_at``).
CHECKED_IN, CHECKED_OUT, NOTED, REDECIDED, DUPLICATE = "checked_in", "checked_out", "noted", "redecided", "duplicate"


@dataclass(frozen=True)
class OrganizerScanResult:
    outcome: str  # CHECKED_IN, CHECKED_OUT, NOTED (changes nothing), REDECIDED, DUPLICATE (nonce seen)
    activity: Activity
    attendance: AttendanceRecord

    @property
    def replayed(self) -> bool:
        return self.outcome == DUPLICATE


@dataclass(frozen=True)
class ActivityCode:
    code: str
    window: int
    valid_from: datetime  # start of this code's window
    rotates_at: datetime  # when the next code is shown
    accepted_until: datetime  # end of the previous-window grace


@dataclass
class _Scan:
    """A decided scan: what it records (or how to make that, given a seat, at the last moment)."""

    items: list[Any]
    activity: Activity | None = None  # set when the check-in needs a seat
    make: Callable[[int | None], list[Any]] | None = None


def credit_key(attendance_id: UUID, revision: int = 0) -> str:
    """The key of an attendance's credit: one per attendance, and one more each time a late scan
    decides its outcome again (``revision``)."""
    return f"attendance:{attendance_id}" if revision == 0 else f"attendance:{attendance_id}:r{revision}"


def activity_credit(
    activity: Activity, attendance_id: UUID, volunteer_id: UUID, points: int, minutes: int, actor: str, revision: int = 0
) -> Movement:
    """The movement paying an attendance: once per attendance and revision (its key)."""
    key = credit_key(attendance_id, revision)
    return Movement(
        key, act.ACTIVITY_KIND, [Posting(issuing_account(activity.unit_id), volunteer_account(volunteer_id), points)],
        minutes=minutes, memo=activity.title, fingerprint=rules.fingerprint([act.ACTIVITY_KIND, key, points, minutes]),
        actor=actor, unit_id=activity.unit_id,
    )


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

    def recount(self, activity_id: UUID) -> int:
        """The first seat not recorded in the store, from now on the next one handed out (a
        seat given back by a request that failed is found again)."""
        with self._lock:
            self._next[activity_id] = n = self._first_free(activity_id)
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
        self.batching = batching  # False: each scan saves alone (the straightforward build)
        self.seats = SeatIndex(ledger.exists)
        self._activities: dict[UUID, tuple[float, Activity]] = {}

    @property
    def clock(self) -> Any:
        return self.ledger.clock

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
        return self.ledger.load(Activity, activity_id, "activity")

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
        activity = self.ledger.update(lambda: self.get_activity(activity_id), lambda a: a.cancel(reason, at=self.clock.now()))
        self._activities.pop(activity_id, None)
        return activity

    def find_attendance(self, activity_id: UUID, volunteer_id: UUID) -> AttendanceRecord | None:
        return self.ledger.find(AttendanceRecord, AttendanceRecord.create_id(activity_id, volunteer_id))

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
        for _ in attempts("scans"):
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
        raise AssertionError("unreachable")

    def _check_in(
        self, activity: Activity, volunteer_id: UUID, now: datetime, source: ScanSource | None = None
    ) -> tuple[_Scan, list[Any]]:
        result: list[Any] = [CHECK_IN, None]
        fields = source.fields() if source else {}

        def make(seat: int | None) -> list[Any]:
            record = AttendanceRecord(
                activity_id=activity.id, volunteer_id=volunteer_id, unit_id=activity.unit_id, seat=seat, at=now, **fields
            )
            result[1] = record
            if seat is None:
                return [record]
            return [record, Seat(activity_id=activity.id, number=seat, volunteer_id=volunteer_id)]

        return _Scan([], activity if activity.capacity is not None else None, make), result

    def _check_out(
        self,
        activity: Activity,
        record: AttendanceRecord,
        at: datetime,
        *,
        actor: str,
        settled: bool = False,
        until: datetime | None = None,
        checked_in_at: datetime | None = None,
        scan: ScanSource | None = None,
    ) -> tuple[_Scan, list[Any]]:
        """``until``: the moment counted to (the scan, or the window's end when settling);
        ``checked_in_at``: a new check-in time (a late earlier scan); ``scan``: where it came from."""
        if record.status != act.IN:
            raise activity_errors.AlreadyCheckedOut("already checked out of this activity", attendance_status=record.status)
        minutes = act.served_minutes(checked_in_at or record.checked_in_at, until or at, activity.starts_at, activity.ends_at)
        points = act.points_for(minutes, activity.rule)
        needs_approval = activity.needs_approval or (settled and activity.no_checkout == act.APPROVAL)
        status = act.status_after_checkout(points, needs_approval)
        credit: Recorded | None = None
        if status == act.CREDITED:
            credit = self.ledger.journal.transaction(
                activity_credit(activity, record.id, record.volunteer_id, points, minutes, actor, record.revision)
            )
        record.check_out(
            at, minutes, points, status, credit.transaction.id if credit else None, settled=settled,
            checked_in_at=checked_in_at, scan=scan,
        )
        return _Scan([credit, record] if credit else [record]), [CHECK_OUT, record]

    # ---------------------------------------------------------------- an organizer's scans, maybe offline

    def scan_at(
        self,
        activity_id: UUID,
        volunteer_id: UUID,
        at: datetime,
        *,
        by: str,
        offline: bool = False,
        device: str = "",
        nonce: str = "",
    ) -> OrganizerScanResult:
        """An organizer's scan of a volunteer (their card) made at ``at``, its own time: now, or
        earlier on a device with no network, synced now. Decided by the same rules as the
        volunteer's own scan, with the volunteer's scans read in time order (``rules.times_of``):
        a scan older than those recorded decides the outcome again, and what was credited is
        corrected by compensating transactions. The same ``nonce`` again lands once
        (``DUPLICATE``).

        The caller checks that ``by`` may scan for the activity's unit and vouches for
        ``volunteer_id`` (a card code of the current serial names it).

        Raises NotFound (activity), ActivityClosed (cancelled), ScanInFuture, ScanTooEarly,
        ScanTooLate, SyncTooLate, ActivityFull, InsufficientPoints (a correction would take back
        points already spent), ConcurrencyExhausted.
        """
        for _ in attempts("scans"):
            activity = self.get_activity(activity_id)
            now = self.clock.now()
            act.check_scan_time(at, now, activity.starts_at, activity.ends_at, activity.cancelled)
            source = ScanSource(at=at, by=by, offline=offline, device=device, synced_at=now, nonce=nonce)
            record = self.find_attendance(activity_id, volunteer_id)
            if record is not None and record.seen(nonce):
                return OrganizerScanResult(DUPLICATE, activity, record)
            if record is None:
                work, made = self._check_in(activity, volunteer_id, at, source)
                if self._save(work):
                    return OrganizerScanResult(CHECKED_IN, activity, made[1])
                continue
            work, outcome = self._rescan(activity, record, source, now)
            if self._save(work):
                return OrganizerScanResult(outcome, activity, record)
        raise AssertionError("unreachable")

    def _rescan(self, activity: Activity, record: AttendanceRecord, scan: ScanSource, now: datetime) -> tuple[_Scan, str]:
        """A further scan of a volunteer who has one: their scans read again in time order."""
        assert scan.at is not None
        times = act.times_of([*record.scans, scan.at], self.grace)
        if record.status == act.IN:
            if times.checked_out_at is None:
                record.note(scan, times.checked_in_at, now)
                return _Scan([record]), NOTED
            work, _ = self._check_out(
                activity, record, times.checked_out_at, actor=scan.by, checked_in_at=times.checked_in_at, scan=scan
            )
            return work, CHECKED_OUT
        # Decided already: what would the rules have decided with this scan among the others?
        settled = record.settled and times.checked_out_at is None
        if times.checked_out_at is not None:
            out = until = times.checked_out_at
        else:  # settled (no check-out scanned): counted by the rule for a missing check-out
            assert record.checked_out_at is not None
            end = min(activity.ends_at, activity.cancelled_at or activity.ends_at)
            out, until = record.checked_out_at, act.settle_unfinished(activity.no_checkout, end) or times.checked_in_at
        minutes = act.served_minutes(times.checked_in_at, until, activity.starts_at, activity.ends_at)
        points = act.points_for(minutes, activity.rule)
        if record.status == act.REJECTED:
            status = act.REJECTED  # the organizer's refusal stands
        else:
            needs_approval = activity.needs_approval or (settled and activity.no_checkout == act.APPROVAL)
            status = act.status_after_checkout(points, needs_approval)
        same = (times.checked_in_at, out, minutes, points, status) == (
            record.checked_in_at, record.checked_out_at, record.minutes, record.points, record.status
        )
        if same:
            record.note(scan, times.checked_in_at, now)
            return _Scan([record]), NOTED
        return self._redecide(activity, record, scan, (times.checked_in_at, out), minutes, points, status, settled, now), REDECIDED

    def _redecide(
        self, activity: Activity, record: AttendanceRecord, scan: ScanSource, times: tuple[datetime, datetime],
        minutes: int, points: int, status: str, settled: bool, now: datetime,
    ) -> _Scan:
        """New figures for a decided attendance. Credited points are never edited: the old credit
        is reversed and the new one credited, both in the save with the ``Redecided`` event (the
        new credit first, so the volunteer's running balance never dips in between)."""
        items: list[Any] = []
        credited = record.status == act.CREDITED and record.transaction_id is not None
        keep = credited and status == act.CREDITED and (points, minutes) == (record.points, record.minutes)
        txn_id = record.transaction_id if keep else None
        reversed_id = None
        actor = scan.by or f"scan:{record.volunteer_id}"
        if not keep:
            if status == act.CREDITED:
                credit = self.ledger.journal.transaction(
                    activity_credit(activity, record.id, record.volunteer_id, points, minutes, actor, record.revision + 1)
                )
                txn_id = credit.transaction.id
                items.append(credit)
            if credited:
                assert record.transaction_id is not None
                original = self.ledger.get_transaction(record.transaction_id)
                movement, original = self.ledger.reversal(original, memo="a late scan changed the attendance", actor=actor)
                reversal = self.ledger.journal.transaction(movement)
                reversed_id = record.transaction_id
                items += [reversal, original]
        record.redecide(scan, times[0], times[1], minutes, points, status, txn_id, reversed_id, now, settled=settled)
        return _Scan([*items, record])

    # ---------------------------------------------------------------- saving

    def _save(self, scan: _Scan) -> bool:
        """True when recorded; False when another request got there first (decide again from a
        fresh load). Raises ActivityFull."""
        if scan.make is None:
            try:
                self.ledger.journal.commit(*scan.items, grouped=self.batching)
            except ConcurrentChange:
                return False
            return True
        make = scan.make
        taken: list[int] = []

        def prepare() -> list[Any]:
            seat = self._seat(scan)
            if seat is not None:
                taken.append(seat)
            return make(seat)

        def undo() -> None:
            if taken and scan.activity is not None:
                self.seats.give_back(scan.activity.id, taken.pop())

        try:
            self.ledger.journal.commit(prepare=prepare, undo=undo, grouped=self.batching)
        except ConcurrentChange:
            return False
        return True

    def _seat(self, scan: _Scan) -> int | None:
        """Raises ActivityFull (every seat is recorded), ConcurrentChange (a seat was given back
        meanwhile: decide again)."""
        activity = scan.activity
        if activity is None or activity.capacity is None:
            return None
        n = self.seats.take(activity.id)
        if n <= activity.capacity:
            return n
        self.seats.release(activity.id, n)
        if self.seats.recount(activity.id) > activity.capacity:
            raise activity_errors.ActivityFull("this activity is full", capacity=activity.capacity)
        raise ConcurrentChange("a seat was given back by a request that failed")

    # ---------------------------------------------------------------- approvals and settling

    def decide(self, activity_id: UUID, volunteer_ids: Sequence[UUID], approve: bool, *, by: str) -> list[AttendanceRecord]:
        """Approve (points are credited) or reject pending attendances, all in one save.
        Raises NotFound, NotPending, ConcurrencyExhausted."""
        for _ in attempts("approvals"):
            activity = self.get_activity(activity_id)
            now = self.clock.now()
            records: list[AttendanceRecord] = []
            items: list[Any] = []
            for volunteer_id in dict.fromkeys(volunteer_ids):
                record = self.get_attendance(activity_id, volunteer_id)
                if record.status != act.PENDING:
                    raise activity_errors.NotPending("this attendance is not waiting for approval", volunteer_id=str(volunteer_id), attendance_status=record.status)
                txn_id = None
                if approve:
                    credit = self.ledger.journal.transaction(
                        activity_credit(activity, record.id, volunteer_id, record.points, record.minutes, by, record.revision)
                    )
                    txn_id = credit.transaction.id
                    items.append(credit)
                record.decide(approve, by, txn_id, now)
                records.append(record)
                items.append(record)
            try:
                self.ledger.journal.commit(*items)
            except ConcurrentChange:
                continue
            return records
        raise AssertionError("unreachable")

    def settle(self, activity_id: UUID, volunteer_ids: Sequence[UUID], *, by: str) -> list[AttendanceRecord]:
        """After the end: everyone among ``volunteer_ids`` still checked in is checked out by
        the activity's rule for a missing check-out (``window_end`` counts to the end,
        ``none`` counts nothing, ``approval`` counts to the end and waits for approval).
        Raises NotFound, ActivityNotOver, ConcurrencyExhausted."""
        for _ in attempts("settlements"):
            activity = self.get_activity(activity_id)
            now = self.clock.now()
            if now <= activity.ends_at + act.LATE_SCAN and not activity.cancelled:
                raise activity_errors.ActivityNotOver("scans are still accepted; settle after they close")
            end = min(activity.ends_at, activity.cancelled_at or activity.ends_at)
            until = act.settle_unfinished(activity.no_checkout, end)
            items: list[Any] = []
            settled: list[AttendanceRecord] = []
            for volunteer_id in dict.fromkeys(volunteer_ids):
                record = self.find_attendance(activity_id, volunteer_id)
                if record is None or record.status != act.IN:
                    continue
                scan, _ = self._check_out(activity, record, now, actor=by, settled=True, until=until or record.checked_in_at)
                items += scan.items
                settled.append(record)
            if not items:
                return []
            try:
                self.ledger.journal.commit(*items)
            except ConcurrentChange:
                continue
            return settled
        raise AssertionError("unreachable")
