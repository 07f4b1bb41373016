"""Activities and attendance as replies, from the aggregates or the attendance read model."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from ledger.activities.domain import Activity, AttendanceRecord
from ledger.activities.service import ActivityCode

from api.activities.schemas import ActivityCodeOut, ActivityCounts, ActivityOut, AttendanceOut
from api.datetimes import from_row_time, zoned


def counts(row: dict[str, Any] | None) -> ActivityCounts:
    if row is None:
        return ActivityCounts(checked_in=0, present=0, checked_out=0, pending=0, points=0, minutes=0)
    c = {k: int(row[k]) for k in ("checked_in", "checked_out", "pending", "points", "minutes")}
    return ActivityCounts(present=c["checked_in"] - c["checked_out"], **c)


def activity(a: Activity, row: dict[str, Any] | None, zone: ZoneInfo) -> ActivityOut:
    return ActivityOut(
        id=a.id, title=a.title, description=a.description, unit_id=a.unit_id,
        starts_at=zoned(a.starts_at, zone), ends_at=zoned(a.ends_at, zone), points_per_hour=a.points_per_hour,
        capacity=a.capacity, min_minutes=a.min_minutes, max_points=a.max_points, needs_approval=a.needs_approval,
        no_checkout=a.no_checkout, cancelled_at=zoned(a.cancelled_at, zone) if a.cancelled_at else None,
        created_at=zoned(a.created_at, zone), counts=counts(row),
    )


def attendance(r: AttendanceRecord, zone: ZoneInfo) -> AttendanceOut:
    return AttendanceOut(
        activity_id=r.activity_id, volunteer_id=r.volunteer_id, status=r.status, seat=r.seat,
        checked_in_at=zoned(r.checked_in_at, zone),
        checked_out_at=zoned(r.checked_out_at, zone) if r.checked_out_at else None,
        minutes=r.minutes, points=r.points, transaction_id=r.transaction_id,
    )


def attendance_row(row: dict[str, Any], zone: ZoneInfo) -> AttendanceOut:
    return AttendanceOut(
        activity_id=row["activity_id"], volunteer_id=row["volunteer_id"], status=row["status"], seat=row["seat"],
        checked_in_at=from_row_time(row["checked_in_at"], zone),
        checked_out_at=from_row_time(row["checked_out_at"], zone) if row["checked_out_at"] else None,
        minutes=int(row["minutes"]), points=int(row["points"]),
    )


def code(activity_id: Any, c: ActivityCode, now: Any, zone: ZoneInfo) -> ActivityCodeOut:
    return ActivityCodeOut(
        activity_id=activity_id, code=c.code, window=c.window, valid_from=zoned(c.valid_from, zone),
        rotates_at=zoned(c.rotates_at, zone), accepted_until=zoned(c.accepted_until, zone),
        refresh_in=max(0.0, (c.rotates_at - now).total_seconds()),
    )
