"""Volunteer activities (志愿活动) and attendance: the aggregates and their pure rules.

Rules here are pure functions (no clock, no I/O): the service in ``ledger.attendance`` passes
the time in. Aggregates follow the house pattern: public methods decide, private ``@event``
methods only assign.

Ids are deterministic where uniqueness matters: one attendance per (activity, volunteer),
one seat per (activity, number). The store's unique (originator_id, version) constraint is
what makes a second check-in impossible and capacity exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.codes import CodeExpired, CodeInvalid
from ledger.domain import NAMESPACE
from ledger.errors import InvalidRequest, LedgerError

# ---------------------------------------------------------------- constants

CODE_WINDOW_SECONDS = 30
# Scans are accepted from a little before the start until a while after the end (minutes
# are clipped to the window anyway), so people can check in early and out late.
EARLY_SCAN = timedelta(minutes=30)
LATE_SCAN = timedelta(minutes=60)
DEFAULT_GRACE = timedelta(seconds=60)
MAX_DURATION = timedelta(days=7)
MAX_POINTS_PER_HOUR = 1000

# What happens to someone who never checks out.
WINDOW_END, NONE, APPROVAL = "window_end", "none", "approval"
NO_CHECKOUT_POLICIES = (WINDOW_END, NONE, APPROVAL)

# Attendance statuses.
IN, CREDITED, DONE, PENDING, REJECTED = "in", "credited", "done", "pending", "rejected"
CHECKED_OUT_STATUSES = (CREDITED, DONE, PENDING, REJECTED)

ACTIVITY_KIND = "activity"  # the LedgerTransaction kind of activity credits


# ---------------------------------------------------------------- errors


class ActivityClosed(LedgerError):
    """Cancelled, not started yet, or over: no scans."""

    code = "activity_closed"


class ActivityFull(LedgerError):
    code = "activity_full"


class CodeWrongActivity(CodeInvalid):
    """A valid code, but for another activity than the one the scanner is on."""

    code = "code_wrong_activity"


class AlreadyCheckedOut(LedgerError):
    code = "already_checked_out"


class NotPending(LedgerError):
    """An approval for an attendance that is not waiting for one."""

    code = "not_pending"


class ActivityNotOver(LedgerError):
    code = "activity_not_over"


class ActivityCancelled(LedgerError):
    """The activity was already cancelled."""

    code = "activity_cancelled"


# ---------------------------------------------------------------- pure rules


@dataclass(frozen=True)
class PointRule:
    points_per_hour: int
    min_minutes: int = 0
    max_points: int | None = None


def window_index(now: datetime) -> int:
    """The 30-second window a moment falls in (windows are cut on the Unix epoch)."""
    return int(now.timestamp()) // CODE_WINDOW_SECONDS


def window_start(index: int) -> int:
    """Unix seconds at which window ``index`` starts."""
    return index * CODE_WINDOW_SECONDS


def check_code_window(code_window: object, now: datetime) -> int:
    """A code is good in its own window and the next one. Raises CodeInvalid, CodeExpired."""
    if isinstance(code_window, bool) or not isinstance(code_window, int):
        raise CodeInvalid("unreadable code")
    current = window_index(now)
    if code_window > current:
        raise CodeInvalid("this code is not valid yet")
    if code_window < current - 1:
        raise CodeExpired("this code has expired; scan the screen again")
    return code_window


def scan_open(now: datetime, starts_at: datetime, ends_at: datetime, cancelled: bool) -> None:
    """Raises ActivityClosed when scans are not accepted now."""
    if cancelled:
        raise ActivityClosed("this activity was cancelled")
    if now < starts_at - EARLY_SCAN:
        raise ActivityClosed("this activity has not started yet", starts_at=starts_at.isoformat())
    if now > ends_at + LATE_SCAN:
        raise ActivityClosed("this activity is over", ends_at=ends_at.isoformat())


def served_minutes(checked_in: datetime, checked_out: datetime, starts_at: datetime, ends_at: datetime) -> int:
    """Whole minutes between check-in and check-out, both clipped to the activity window.

    Aware datetimes are absolute moments, so midnight and zone offsets change nothing.
    """
    start = max(checked_in, starts_at)
    end = min(checked_out, ends_at)
    if end <= start:
        return 0
    return int((end - start).total_seconds()) // 60


def points_for(minutes: int, rule: PointRule) -> int:
    """Integer points, rounding down; nothing below the minimum minutes; at most the cap."""
    if minutes <= 0 or minutes < rule.min_minutes:
        return 0
    points = minutes * rule.points_per_hour // 60
    if rule.max_points is not None:
        points = min(points, rule.max_points)
    return points


def within_grace(last_scan: datetime, now: datetime, grace: timedelta) -> bool:
    """A scan repeated this soon after the last one is that same scan, not a new one."""
    return now - last_scan < grace


def status_after_checkout(points: int, needs_approval: bool) -> str:
    if points <= 0:
        return DONE
    return PENDING if needs_approval else CREDITED


def settle_unfinished(policy: str, ends_at: datetime) -> datetime | None:
    """For someone who never checked out: the moment to count to, or None (nothing)."""
    if policy in (WINDOW_END, APPROVAL):
        return ends_at
    return None


def check_activity(
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    points_per_hour: int,
    capacity: int | None,
    min_minutes: int,
    max_points: int | None,
    no_checkout: str,
) -> None:
    """Raises InvalidRequest."""
    if not title.strip():
        raise InvalidRequest("an activity needs a title")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidRequest("start and end need a time zone offset")
    if ends_at <= starts_at:
        raise InvalidRequest("an activity must end after it starts")
    if ends_at - starts_at > MAX_DURATION:
        raise InvalidRequest("an activity lasts at most 7 days")
    if not 0 <= points_per_hour <= MAX_POINTS_PER_HOUR:
        raise InvalidRequest(f"points per hour must be 0 to {MAX_POINTS_PER_HOUR}")
    if capacity is not None and capacity < 1:
        raise InvalidRequest("capacity must be at least 1")
    if min_minutes < 0:
        raise InvalidRequest("minimum minutes cannot be negative")
    if max_points is not None and max_points < 1:
        raise InvalidRequest("the cap on points must be at least 1")
    if no_checkout not in NO_CHECKOUT_POLICIES:
        raise InvalidRequest(f"no_checkout must be one of {', '.join(NO_CHECKOUT_POLICIES)}")


# ---------------------------------------------------------------- aggregates


class Activity(Aggregate):
    @event("Created")
    def __init__(
        self,
        title: str,
        description: str,
        unit_id: UUID,
        starts_at: datetime,
        ends_at: datetime,
        points_per_hour: int,
        capacity: int | None,
        min_minutes: int,
        max_points: int | None,
        needs_approval: bool,
        no_checkout: str,
        created_by: str,
        at: datetime,
    ) -> None:
        self.title = title
        self.description = description
        self.unit_id = unit_id
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.points_per_hour = points_per_hour
        self.capacity = capacity
        self.min_minutes = min_minutes
        self.max_points = max_points
        self.needs_approval = needs_approval
        self.no_checkout = no_checkout
        self.created_by = created_by
        self.created_at = at
        self.cancelled_at: datetime | None = None
        self.settled_at: datetime | None = None

    @property
    def rule(self) -> PointRule:
        return PointRule(self.points_per_hour, self.min_minutes, self.max_points)

    @property
    def cancelled(self) -> bool:
        return self.cancelled_at is not None

    def cancel(self, reason: str, at: datetime) -> None:
        """Raises ActivityCancelled."""
        if self.cancelled:
            raise ActivityCancelled("this activity was already cancelled")
        self._cancelled(reason=reason, at=at)

    @event("Cancelled")
    def _cancelled(self, reason: str, at: datetime) -> None:
        self.cancelled_at = at
        self.cancel_reason = reason

    @event("Settled")
    def mark_settled(self, at: datetime) -> None:
        self.settled_at = at


class AttendanceRecord(Aggregate):
    """One volunteer at one activity: checked in, then out (or settled), maybe approved."""

    @staticmethod
    def create_id(activity_id: UUID, volunteer_id: UUID) -> UUID:
        return uuid5(NAMESPACE, f"attendance:{activity_id}:{volunteer_id}")

    @event("CheckedIn")
    def __init__(self, activity_id: UUID, volunteer_id: UUID, unit_id: UUID, seat: int | None, at: datetime) -> None:
        self.activity_id = activity_id
        self.volunteer_id = volunteer_id
        self.unit_id = unit_id
        self.seat = seat
        self.checked_in_at = at
        self.checked_out_at: datetime | None = None
        self.settled = False
        self.minutes = 0
        self.points = 0
        self.status = IN
        self.transaction_id: UUID | None = None
        self.decided_by = ""

    @property
    def last_scan(self) -> datetime:
        return self.checked_out_at or self.checked_in_at

    def check_out(self, at: datetime, minutes: int, points: int, status: str, transaction_id: UUID | None, *, settled: bool = False) -> None:
        """Raises AlreadyCheckedOut."""
        if self.status != IN:
            raise AlreadyCheckedOut("already checked out of this activity")
        self._checked_out(at=at, minutes=minutes, points=points, status=status, transaction_id=transaction_id, settled=settled)

    @event("CheckedOut")
    def _checked_out(self, at: datetime, minutes: int, points: int, status: str, transaction_id: UUID | None, settled: bool) -> None:
        self.checked_out_at = at
        self.minutes = minutes
        self.points = points
        self.status = status
        self.transaction_id = transaction_id
        self.settled = settled

    def decide(self, approve: bool, by: str, transaction_id: UUID | None, at: datetime) -> None:
        """Raises NotPending."""
        if self.status != PENDING:
            raise NotPending("this attendance is not waiting for approval", attendance_status=self.status)
        if approve:
            self._approved(by=by, transaction_id=transaction_id, at=at)
        else:
            self._rejected(by=by, at=at)

    @event("Approved")
    def _approved(self, by: str, transaction_id: UUID | None, at: datetime) -> None:
        self.status = CREDITED
        self.transaction_id = transaction_id
        self.decided_by = by

    @event("Rejected")
    def _rejected(self, by: str, at: datetime) -> None:
        self.status = REJECTED
        self.decided_by = by


class Seat(Aggregate):
    """Seat ``number`` (1..capacity) of an activity, taken by one check-in, never freed."""

    @staticmethod
    def create_id(activity_id: UUID, number: int) -> UUID:
        return uuid5(NAMESPACE, f"seat:{activity_id}:{number}")

    @event("Taken")
    def __init__(self, activity_id: UUID, number: int, volunteer_id: UUID) -> None:
        self.activity_id = activity_id
        self.number = number
        self.volunteer_id = volunteer_id
