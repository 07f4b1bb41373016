"""Pure rules of activities and attendance: no clock, no I/O (the service passes the time in)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ledger.codes import CodeExpired, CodeInvalid
from ledger.errors import InvalidRequest

from ledger.activities.errors import ActivityClosed, ScanInFuture, ScanTooEarly, ScanTooLate, SyncTooLate

# ---------------------------------------------------------------- constants

CODE_WINDOW_SECONDS = 30
# Scans are accepted from a little before the start until a while after the end (minutes
# are clipped to the window anyway), so people can check in early and out late.
EARLY_SCAN = timedelta(minutes=30)
LATE_SCAN = timedelta(minutes=60)
DEFAULT_GRACE = timedelta(seconds=60)
MAX_DURATION = timedelta(days=7)
MAX_POINTS_PER_HOUR = 1000
# Offline scans (made on an organizer's device with no network, sent later).
SYNC_ALLOWANCE = timedelta(hours=24)  # synced at most this long after the end
CLOCK_SKEW = timedelta(minutes=2)  # a device clock this far ahead of ours is still believed

# What happens to someone who never checks out.
WINDOW_END, NONE, APPROVAL = "window_end", "none", "approval"
NO_CHECKOUT_POLICIES = (WINDOW_END, NONE, APPROVAL)

# Attendance statuses.
IN, CREDITED, DONE, PENDING, REJECTED = "in", "credited", "done", "pending", "rejected"
CHECKED_OUT_STATUSES = (CREDITED, DONE, PENDING, REJECTED)

ACTIVITY_KIND = "activity"  # the LedgerTransaction kind of activity credits



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


# ---------------------------------------------------------------- scans at their own time


def check_scan_time(at: datetime, now: datetime, starts_at: datetime, ends_at: datetime, cancelled: bool) -> None:
    """A scan made at ``at`` (an organizer's, maybe offline), arriving ``now``.
    Raises ActivityClosed (cancelled), ScanInFuture, ScanTooEarly, ScanTooLate, SyncTooLate."""
    if cancelled:
        raise ActivityClosed("this activity was cancelled")
    if at.tzinfo is None:
        raise ScanInFuture("a scan's time needs a time zone offset")
    if at > now + CLOCK_SKEW:
        raise ScanInFuture("this scan is stamped in the future; check the device's clock", scanned_at=at.isoformat())
    if at < starts_at - EARLY_SCAN:
        raise ScanTooEarly("this scan was made before the activity opened", starts_at=starts_at.isoformat())
    if at > ends_at + LATE_SCAN:
        raise ScanTooLate("this scan was made after the activity closed", ends_at=ends_at.isoformat())
    if now > ends_at + SYNC_ALLOWANCE:
        raise SyncTooLate("offline scans of this activity had to be synced within a day of its end", ends_at=ends_at.isoformat())


@dataclass(frozen=True)
class Times:
    """What a volunteer's scans of one activity say, read in time order."""

    checked_in_at: datetime
    checked_out_at: datetime | None  # None: still in


def times_of(scans: Sequence[datetime], grace: timedelta) -> Times:
    """The scans in time order, by the rules of a scan as it happens: the first checks in; a
    scan within ``grace`` of the check-in is that same scan; the next one checks out; any later
    scan is refused (already checked out), so it changes nothing. Whatever order the scans
    arrive in, this is the result."""
    ordered = sorted(scans)
    first = ordered[0]
    out = next((t for t in ordered[1:] if not within_grace(first, t, grace)), None)
    return Times(first, out)
