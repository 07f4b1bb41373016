"""Activities (志愿活动), attendance and seats: the aggregates. Public methods decide, private
``@event`` methods only assign (their bodies run again on every replay).

Ids are deterministic where uniqueness matters: one attendance per (activity, volunteer), one seat
per (activity, number). The store's unique (originator_id, version) constraint is what makes a
second check-in impossible and capacity exact.

Each class keeps the module name its events were first recorded under (``ledger.activities``):
an event's topic is stored in the log and in the hash chain, so it must not change with a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.domain import NAMESPACE

from ledger.activities.errors import ActivityCancelled, AlreadyCheckedOut, NotPending
from ledger.activities.rules import IN, CREDITED, PENDING, REJECTED, PointRule

TOPIC_MODULE = "ledger.activities"

class Activity(Aggregate):
    __module__ = TOPIC_MODULE

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


@dataclass(frozen=True)
class ScanSource:
    """Where a scan came from: who scanned (``by``: an organizer's actor; "" for the volunteer's
    own phone), whether it was made offline, on which device, when it reached the server, and
    the device's random nonce for it (the scan's identity: the same nonce lands once). ``at``:
    the scan's own time."""

    at: datetime | None = None
    by: str = ""
    offline: bool = False
    device: str = ""
    synced_at: datetime | None = None
    nonce: str = ""

    def fields(self) -> dict[str, Any]:
        return {"by": self.by, "offline": self.offline, "device": self.device, "synced_at": self.synced_at, "nonce": self.nonce}


class AttendanceRecord(Aggregate):
    """One volunteer at one activity: checked in, then out (or settled), maybe approved."""

    __module__ = TOPIC_MODULE

    @staticmethod
    def create_id(activity_id: UUID, volunteer_id: UUID) -> UUID:
        return uuid5(NAMESPACE, f"attendance:{activity_id}:{volunteer_id}")

    @event("CheckedIn")
    def __init__(
        self,
        activity_id: UUID,
        volunteer_id: UUID,
        unit_id: UUID,
        seat: int | None,
        at: datetime,
        by: str = "",
        offline: bool = False,
        device: str = "",
        synced_at: datetime | None = None,
        nonce: str = "",
    ) -> None:
        # by … nonce: where the scan came from (``ScanSource``); absent from events recorded before
        # organizers scanned, hence the defaults.
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
        self.scans = [at]  # every scan's own time, sorted (``rules.times_of`` reads them)
        self.nonces = [nonce] if nonce else []  # offline scans recorded, by their device's nonce
        self.revision = 0  # outcomes decided again because an earlier scan came late

    @property
    def last_scan(self) -> datetime:
        return self.checked_out_at or self.checked_in_at

    def seen(self, nonce: str) -> bool:
        return bool(nonce) and nonce in self.nonces

    def check_out(
        self,
        at: datetime,
        minutes: int,
        points: int,
        status: str,
        transaction_id: UUID | None,
        *,
        settled: bool = False,
        checked_in_at: datetime | None = None,
        scan: ScanSource | None = None,
    ) -> None:
        """``checked_in_at``: a new check-in time (a scan earlier than the check-in came late, so
        the old check-in is now the check-out); ``scan``: the scan's own time and source, when
        it is not ``at``. Raises AlreadyCheckedOut."""
        if self.status != IN:
            raise AlreadyCheckedOut("already checked out of this activity")
        source = (scan or ScanSource()).fields()
        self._checked_out(
            at=at, minutes=minutes, points=points, status=status, transaction_id=transaction_id, settled=settled,
            checked_in_at=checked_in_at, scan_at=scan.at if scan else None, **source,
        )

    @event("CheckedOut")
    def _checked_out(
        self,
        at: datetime,
        minutes: int,
        points: int,
        status: str,
        transaction_id: UUID | None,
        settled: bool,
        checked_in_at: datetime | None = None,
        scan_at: datetime | None = None,
        by: str = "",
        offline: bool = False,
        device: str = "",
        synced_at: datetime | None = None,
        nonce: str = "",
    ) -> None:
        self.checked_out_at = at
        self.minutes = minutes
        self.points = points
        self.status = status
        self.transaction_id = transaction_id
        self.settled = settled
        if checked_in_at is not None:
            self.checked_in_at = checked_in_at
        scanned = scan_at if scan_at is not None else (None if settled else at)
        if scanned is not None:
            self.scans = sorted([*getattr(self, "scans", [self.checked_in_at]), scanned])
        if nonce:
            self.nonces = [*self.nonces, nonce]

    def note(self, scan: ScanSource, checked_in_at: datetime, at: datetime) -> None:
        """A scan that changes no outcome (within the grace of the check-in, or after the
        check-out), kept so that a scan arriving later is decided among all of them."""
        self._noted(scan_at=scan.at, checked_in_at=checked_in_at, recorded_at=at, **scan.fields())

    @event("ScanNoted")
    def _noted(
        self, scan_at: datetime, checked_in_at: datetime, recorded_at: datetime,
        by: str, offline: bool, device: str, synced_at: datetime | None, nonce: str,
    ) -> None:
        self.scans = sorted([*self.scans, scan_at])
        self.checked_in_at = checked_in_at
        if nonce:
            self.nonces = [*self.nonces, nonce]

    def redecide(
        self,
        scan: ScanSource,
        checked_in_at: datetime,
        checked_out_at: datetime,
        minutes: int,
        points: int,
        status: str,
        transaction_id: UUID | None,
        reversed_transaction_id: UUID | None,
        at: datetime,
        *,
        settled: bool = False,
    ) -> None:
        """A scan that came late changes a decided outcome: new times, minutes, points and status;
        what was credited is reversed (``reversed_transaction_id``) and the new points credited
        (``transaction_id``) by compensating transactions saved with this event."""
        if self.status == IN:
            raise AlreadyCheckedOut("not checked out yet: a late scan checks out instead")
        self._redecided(
            scan_at=scan.at, checked_in_at=checked_in_at, checked_out_at=checked_out_at, minutes=minutes, points=points,
            status=status, transaction_id=transaction_id, reversed_transaction_id=reversed_transaction_id,
            revision=self.revision + 1, recorded_at=at, settled=settled, **scan.fields(),
        )

    @event("Redecided")
    def _redecided(
        self, scan_at: datetime, checked_in_at: datetime, checked_out_at: datetime, minutes: int, points: int,
        status: str, transaction_id: UUID | None, reversed_transaction_id: UUID | None, revision: int,
        recorded_at: datetime, by: str, offline: bool, device: str, synced_at: datetime | None, nonce: str,
        settled: bool = False,
    ) -> None:
        self.scans = sorted([*self.scans, scan_at])
        self.checked_in_at = checked_in_at
        self.checked_out_at = checked_out_at
        self.minutes = minutes
        self.points = points
        self.status = status
        self.transaction_id = transaction_id
        self.revision = revision
        self.settled = settled
        if nonce:
            self.nonces = [*self.nonces, nonce]

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

    __module__ = TOPIC_MODULE

    @staticmethod
    def create_id(activity_id: UUID, number: int) -> UUID:
        return uuid5(NAMESPACE, f"seat:{activity_id}:{number}")

    @event("Taken")
    def __init__(self, activity_id: UUID, number: int, volunteer_id: UUID) -> None:
        self.activity_id = activity_id
        self.number = number
        self.volunteer_id = volunteer_id
