"""Reading the ledger's stored events with plain SQL, for a projection that must catch up fast.

The library's reader builds a ``Notification`` object per row and its mapper a domain event per
row; that alone caps a catch-up at some tens of thousands of events per second. A projection that
needs a few fields of a few topics reads ``(id, topic, originator id, version, state)`` rows here,
filtered by topic in SQL, and decodes only what it needs from the stored JSON with
``ledger.codec``.

A projection that applies one topic set-based in SQL (the leaderboards on PostgreSQL) can ask for
that topic as *runs* instead of rows: a ``Run`` is a maximal range of ids holding only events of
that topic among the wanted ones, and the projection reads their state in the server; no state of
those events travels to Python.

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
from ledger.postings import TABLE as POSTINGS_TABLE
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


class Run(NamedTuple):
    """Events of one topic, ``lo`` to ``hi`` inclusive, with no other wanted event between them
    (for a projection to read in SQL from ``table``)."""

    lo: int
    hi: int
    count: int
    size: int  # bytes of stored state
    table: str
    topic: str
    postings: str = ""  # the ledger's postings table (one row per posting of these transactions)


class RawLog:
    """The ledger's events table, read inside a projection's own transaction."""

    def __init__(self, ledger: Ledger, *, postgres: bool) -> None:
        self.postgres = postgres
        recorder: Any = ledger.recorder
        if postgres:
            table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
            self.table = table
            self.postings = f'"{recorder.datastore.schema}"."{recorder.postings_table}"'
            # Runs of one topic: number the other wanted events in order; the events of the topic
            # between the same two others are one run.
            self._runs = (
                "SELECT min(id) AS lo, max(id) AS hi, count(*) AS n, sum(size) AS size FROM ("
                "SELECT notification_id AS id, topic, octet_length(state) AS size, "
                "count(*) FILTER (WHERE topic <> %s) OVER (ORDER BY notification_id) AS run "
                f"FROM {table} WHERE notification_id > %s AND notification_id <= %s AND topic = ANY(%s)) AS e "
                "WHERE topic = %s GROUP BY run ORDER BY lo"
            )
            self._max = f"SELECT max(notification_id) AS n FROM {table}"
            self._page = (
                f"SELECT notification_id AS id, topic, originator_id::text AS oid, originator_version AS v, state "
                f"FROM {table} WHERE notification_id > %s AND notification_id <= %s AND topic = ANY(%s) "
                "ORDER BY notification_id"
            )
        else:
            table = recorder.events_table_name
            self.table = table
            self.postings = POSTINGS_TABLE
            self._ids = (
                f"SELECT rowid AS id, length(state) AS size FROM {table} "
                "WHERE rowid > %s AND rowid <= %s AND topic = %s ORDER BY rowid"
            )
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
        return _raw_events(rows), end

    def page_runs(self, tx: Tx, after: int, span: int, topics: Sequence[str], run_topic: str) -> tuple[list[RawEvent | Run], int]:
        """Like ``page``, but the events of ``run_topic`` come as ``Run``s, in id order among the
        other events (their state is not read: the postings table holds what they move)."""
        end = min(after + span, self.end(tx))
        if end <= after:
            return [], after
        others = [t for t in topics if t != run_topic]
        if self.postgres:
            rows = tx.all(self._page, (after, end, others)) if others else []
            items: list[RawEvent | Run] = list(_raw_events(rows))
            runs = [
                Run(int(r["lo"]), int(r["hi"]), int(r["n"]), int(r["size"]), self.table, run_topic, self.postings)
                for r in tx.all(self._runs, (run_topic, after, end, list(topics), run_topic))
            ]
        else:
            items, _ = self.page(tx, after, end - after, others) if others else ([], end)
            runs = _runs_between(tx.all(self._ids, (after, end, run_topic)), [e.id for e in items], self.table, run_topic, self.postings)
        if runs:
            items = sorted(items + runs, key=lambda item: item.id if isinstance(item, RawEvent) else item.lo)  # type: ignore[union-attr]
        return items, end


def _runs_between(ids: Sequence[dict[str, Any]], others: Sequence[int], table: str, topic: str, postings: str) -> list[RawEvent | Run]:
    """Ids of one topic (in order) cut into runs at the ids of the other events (in order)."""
    runs: list[RawEvent | Run] = []
    k = 0
    for r in ids:
        i, size = int(r["id"]), int(r["size"])
        cut = False
        while k < len(others) and others[k] < i:
            k += 1
            cut = True
        last = runs[-1] if runs else None
        if isinstance(last, Run) and not cut:
            runs[-1] = last._replace(hi=i, count=last.count + 1, size=last.size + size)
        else:
            runs.append(Run(i, i, 1, size, table, topic, postings))
    return runs


def _raw_events(rows: Sequence[dict[str, Any]]) -> list[RawEvent]:
    return [RawEvent(int(r["id"]), r["topic"], str(r["oid"]), int(r["v"]), bytes(r["state"])) for r in rows]
