"""Reading the ledger's stored events with plain SQL, for a projection that must catch up fast.

The library's reader builds a ``Notification`` object per row and its mapper a domain event per
row; that alone caps a catch-up at some tens of thousands of events per second. A projection that
needs a few fields of a few topics reads ``(id, topic, originator id, version, state)`` rows here,
filtered by topic in SQL, and decodes only what it needs from the stored JSON (the library's JSON
transcoder: UUIDs as ``{"_type_": "uuid_hex", "_data_": …}``, datetimes as ``datetime_iso``).

A page is a range of notification ids, ``(after, end]``. ``end`` is at most the highest id in the
log when the page is read: on PostgreSQL every insert into the events table holds its EXCLUSIVE
lock until it commits, so once an id is visible no lower id can still appear, and a position may
move to ``end`` even when no row in the range has a wanted topic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from eventsourcing.persistence import StoredEvent

from ledger.application import Ledger
from projections.db import Tx


class RawEvent(NamedTuple):
    id: int
    topic: str
    originator_id: str
    originator_version: int
    state: bytes

    def stored(self) -> StoredEvent:
        """For the library's mapper (rare topics are decoded whole)."""
        from uuid import UUID

        return StoredEvent(UUID(self.originator_id), self.originator_version, self.topic, self.state)


class RawLog:
    """The ledger's events table, read inside a projection's own transaction."""

    def __init__(self, ledger: Ledger, *, postgres: bool) -> None:
        self.postgres = postgres
        recorder: Any = ledger.recorder
        if postgres:
            table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
            self._max = f"SELECT max(notification_id) AS n FROM {table}"
            self._page = (
                f"SELECT notification_id AS id, topic, originator_id::text AS oid, originator_version AS v, state "
                f"FROM {table} WHERE notification_id > %s AND notification_id <= %s AND topic = ANY(%s) "
                "ORDER BY notification_id"
            )
        else:
            table = recorder.events_table_name
            self._max = f"SELECT max(rowid) AS n FROM {table}"
            self._page = (
                f"SELECT rowid AS id, topic, originator_id AS oid, originator_version AS v, state "
                f"FROM {table} WHERE rowid > %s AND rowid <= %s AND topic IN ({{marks}}) ORDER BY rowid"
            )

    def end(self, tx: Tx) -> int:
        row = tx.one(self._max)
        return int(row["n"]) if row and row["n"] is not None else 0

    def page(self, tx: Tx, after: int, span: int, topics: Sequence[str]) -> tuple[list[RawEvent], int]:
        """The events with a wanted topic in ``(after, end]``, where ``end`` is at most
        ``after + span`` and at most the log's last id; and ``end``."""
        end = min(after + span, self.end(tx))
        if end <= after:
            return [], after
        if self.postgres:
            rows = tx.all(self._page, (after, end, list(topics)))
        else:
            rows = tx.all(self._page.format(marks=", ".join(["%s"] * len(topics))), (after, end, *topics))
        return [RawEvent(int(r["id"]), r["topic"], str(r["oid"]), int(r["v"]), bytes(r["state"])) for r in rows], end
