"""Units and volunteers as rows, for listings, scope checks and roll-ups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger.domain import Unit, Volunteer
from projections.accounts import iso
from projections.base import Projection
from projections.db import Tx


class DirectoryProjection(Projection):
    name = "directory"
    event_classes = (Unit.Created, Unit.Moved, Volunteer.Registered, Volunteer.Moved)  # type: ignore[attr-defined]
    tables = ("units", "volunteers")

    # Structure events only: read filtered by topic in SQL (a few rows of a long log), each
    # decoded by the library's mapper (``Projection.apply_raw``).
    reads_raw = True
    batch_size = 20_000

    def schema(self, *, postgres: bool) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS units ("
            "id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, parent_id TEXT, created_at TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS units_parent ON units (parent_id)",
            "CREATE TABLE IF NOT EXISTS volunteers ("
            "id TEXT PRIMARY KEY, name TEXT NOT NULL, unit_id TEXT NOT NULL, member_no TEXT, "
            "phone_last4 TEXT, registered_at TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS volunteers_unit ON volunteers (unit_id)",
        ]

    def apply(self, tx: Tx, batch: Sequence[tuple[int, Any]]) -> None:
        registered: list[tuple[Any, ...]] = []  # consecutive registrations, written in one go
        for _, e in batch:
            if isinstance(e, Volunteer.Registered):  # type: ignore[attr-defined]
                registered.append((str(e.originator_id), e.name, str(e.unit_id), e.member_no, e.phone_last4, iso(e.at)))
                continue
            _register(tx, registered)
            registered = []
            if isinstance(e, Unit.Created):  # type: ignore[attr-defined]
                tx.execute(
                    "INSERT INTO units (id, name, kind, parent_id, created_at) VALUES (%s, %s, %s, %s, %s)",
                    (str(e.originator_id), e.name, e.kind, str(e.parent_id) if e.parent_id else None, iso(e.at)),
                )
            elif isinstance(e, Unit.Moved):  # type: ignore[attr-defined]
                tx.execute("UPDATE units SET parent_id = %s WHERE id = %s", (str(e.parent_id), str(e.originator_id)))
            elif isinstance(e, Volunteer.Moved):  # type: ignore[attr-defined]
                tx.execute("UPDATE volunteers SET unit_id = %s WHERE id = %s", (str(e.unit_id), str(e.originator_id)))
        _register(tx, registered)


def _register(tx: Tx, rows: Sequence[tuple[Any, ...]]) -> None:
    tx.bulk_insert(
        "volunteers",
        [("id", "text"), ("name", "text"), ("unit_id", "text"), ("member_no", "text"), ("phone_last4", "text"), ("registered_at", "text")],
        rows,
    )
