"""Activities and who attended them: who is in, who has left, minutes and points.

The organizer's screen reads its live counts from ``activities``; the activity pages list
``attendances``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger.activities.rules import CREDITED, IN, PENDING
from ledger.activities.domain import Activity, AttendanceRecord
from ledger.codec import utc_text
from projections.base import Projection
from projections.db import Tx

_ACTIVITY_OF = "(SELECT activity_id FROM attendances WHERE id = %s)"


class AttendanceProjection(Projection):
    name = "attendance"
    event_classes = (
        Activity.Created,  # type: ignore[attr-defined]
        Activity.Cancelled,  # type: ignore[attr-defined]
        AttendanceRecord.CheckedIn,  # type: ignore[attr-defined]
        AttendanceRecord.CheckedOut,  # type: ignore[attr-defined]
        AttendanceRecord.ScanNoted,  # type: ignore[attr-defined]
        AttendanceRecord.Redecided,  # type: ignore[attr-defined]
        AttendanceRecord.Approved,  # type: ignore[attr-defined]
        AttendanceRecord.Rejected,  # type: ignore[attr-defined]
    )
    tables = ("activities", "attendances")

    # Structure events only: read filtered by topic in SQL (a few rows of a long log), each
    # decoded by the library's mapper (``Projection.apply_raw``).
    reads_raw = True
    batch_size = 20_000

    def schema(self, *, postgres: bool) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS activities ("
            "id TEXT PRIMARY KEY, title TEXT NOT NULL, unit_id TEXT NOT NULL, "
            "starts_at TEXT NOT NULL, ends_at TEXT NOT NULL, points_per_hour BIGINT NOT NULL, "
            "capacity BIGINT, needs_approval BOOLEAN NOT NULL, cancelled BOOLEAN NOT NULL, "
            "checked_in BIGINT NOT NULL, checked_out BIGINT NOT NULL, pending BIGINT NOT NULL, "
            "points BIGINT NOT NULL, minutes BIGINT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS activities_unit ON activities (unit_id, starts_at)",
            "CREATE TABLE IF NOT EXISTS attendances ("
            "id TEXT PRIMARY KEY, activity_id TEXT NOT NULL, volunteer_id TEXT NOT NULL, seat BIGINT, "
            "status TEXT NOT NULL, checked_in_at TEXT NOT NULL, checked_out_at TEXT, "
            "minutes BIGINT NOT NULL, points BIGINT NOT NULL, settled BOOLEAN NOT NULL)",
            "CREATE INDEX IF NOT EXISTS attendances_activity ON attendances (activity_id, status)",
        ]

    def apply(self, tx: Tx, batch: Sequence[tuple[int, Any]]) -> None:
        for _, e in batch:
            att = str(e.originator_id)
            if isinstance(e, Activity.Created):  # type: ignore[attr-defined]
                tx.execute(
                    "INSERT INTO activities (id, title, unit_id, starts_at, ends_at, points_per_hour, capacity, "
                    "needs_approval, cancelled, checked_in, checked_out, pending, points, minutes) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 0, 0, 0, 0, 0)",
                    (att, e.title, str(e.unit_id), utc_text(e.starts_at), utc_text(e.ends_at), e.points_per_hour,
                     e.capacity, bool(e.needs_approval), False),
                )
            elif isinstance(e, Activity.Cancelled):  # type: ignore[attr-defined]
                tx.execute("UPDATE activities SET cancelled = %s WHERE id = %s", (True, att))
            elif isinstance(e, AttendanceRecord.CheckedIn):  # type: ignore[attr-defined]
                tx.execute(
                    "INSERT INTO attendances (id, activity_id, volunteer_id, seat, status, checked_in_at, "
                    "checked_out_at, minutes, points, settled) VALUES (%s, %s, %s, %s, %s, %s, NULL, 0, 0, %s)",
                    (att, str(e.activity_id), str(e.volunteer_id), e.seat, IN, utc_text(e.at), False),
                )
                tx.execute("UPDATE activities SET checked_in = checked_in + 1 WHERE id = %s", (str(e.activity_id),))
            elif isinstance(e, AttendanceRecord.CheckedOut):  # type: ignore[attr-defined]
                tx.execute(
                    "UPDATE attendances SET status = %s, checked_out_at = %s, minutes = %s, points = %s, settled = %s "
                    "WHERE id = %s",
                    (e.status, utc_text(e.at), e.minutes, e.points, bool(e.settled), att),
                )
                if getattr(e, "checked_in_at", None) is not None:  # a check-in scan synced late moved it earlier
                    tx.execute("UPDATE attendances SET checked_in_at = %s WHERE id = %s", (utc_text(e.checked_in_at), att))
                credited = e.status == CREDITED
                tx.execute(
                    "UPDATE activities SET checked_out = checked_out + 1, pending = pending + %s, "
                    f"points = points + %s, minutes = minutes + %s WHERE id = {_ACTIVITY_OF}",
                    (int(e.status == PENDING), e.points if credited else 0, e.minutes if credited else 0, att),
                )
            elif isinstance(e, AttendanceRecord.ScanNoted):  # type: ignore[attr-defined]
                tx.execute("UPDATE attendances SET checked_in_at = %s WHERE id = %s", (utc_text(e.checked_in_at), att))
            elif isinstance(e, AttendanceRecord.Redecided):  # type: ignore[attr-defined]
                self._redecided(tx, att, e)
            elif isinstance(e, AttendanceRecord.Approved):  # type: ignore[attr-defined]
                tx.execute(
                    "UPDATE activities SET pending = pending - 1, "
                    "points = points + (SELECT points FROM attendances WHERE id = %s), "
                    f"minutes = minutes + (SELECT minutes FROM attendances WHERE id = %s) WHERE id = {_ACTIVITY_OF}",
                    (att, att, att),
                )
                tx.execute("UPDATE attendances SET status = %s WHERE id = %s", (CREDITED, att))
            elif isinstance(e, AttendanceRecord.Rejected):  # type: ignore[attr-defined]
                tx.execute(f"UPDATE activities SET pending = pending - 1 WHERE id = {_ACTIVITY_OF}", (att,))
                tx.execute("UPDATE attendances SET status = %s WHERE id = %s", ("rejected", att))


    @staticmethod
    def _redecided(tx: Tx, att: str, e: Any) -> None:
        """A late scan changed a decided outcome: the activity's figures lose the old outcome's
        and gain the new one's; the attendance row takes the new times and figures."""
        old = tx.one("SELECT status, minutes, points FROM attendances WHERE id = %s", (att,))
        if old is None:
            return
        before, after = old["status"] == CREDITED, e.status == CREDITED
        tx.execute(
            "UPDATE activities SET pending = pending + %s, points = points + %s, minutes = minutes + %s "
            f"WHERE id = {_ACTIVITY_OF}",
            (
                int(e.status == PENDING) - int(old["status"] == PENDING),
                (e.points if after else 0) - (int(old["points"]) if before else 0),
                (e.minutes if after else 0) - (int(old["minutes"]) if before else 0),
                att,
            ),
        )
        tx.execute(
            "UPDATE attendances SET status = %s, checked_in_at = %s, checked_out_at = %s, minutes = %s, points = %s, "
            "settled = %s WHERE id = %s",
            (e.status, utc_text(e.checked_in_at), utc_text(e.checked_out_at), e.minutes, e.points, bool(e.settled), att),
        )


# ---------------------------------------------------------------- queries


def activity_counts(tx: Tx, activity_id: str) -> dict[str, Any] | None:
    return tx.one("SELECT * FROM activities WHERE id = %s", (activity_id,))


def attendances(tx: Tx, activity_id: str, *, status: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    if status is None:
        return tx.all(
            "SELECT * FROM attendances WHERE activity_id = %s ORDER BY checked_in_at, id LIMIT %s", (activity_id, limit)
        )
    return tx.all(
        "SELECT * FROM attendances WHERE activity_id = %s AND status = %s ORDER BY checked_in_at, id LIMIT %s",
        (activity_id, status, limit),
    )


def activities_in(tx: Tx, unit_ids: Sequence[str] | None, *, limit: int = 100) -> list[dict[str, Any]]:
    """Newest first; ``None`` for every unit."""
    if unit_ids is None:
        return tx.all("SELECT * FROM activities ORDER BY starts_at DESC, id LIMIT %s", (limit,))
    if not unit_ids:
        return []
    marks = ", ".join(["%s"] * len(unit_ids))
    return tx.all(
        f"SELECT * FROM activities WHERE unit_id IN ({marks}) ORDER BY starts_at DESC, id LIMIT %s",
        (*unit_ids, limit),
    )
