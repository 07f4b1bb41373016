"""Projection machinery: follow the ledger's notifications and commit each batch of rows
together with the projection's position (an eventsourcing ``Tracking`` record) in one
transaction.

Exactly once: the position is advanced by compare-and-set as the first statement of the
transaction (it takes the row's write lock), so a second worker or a restarted one that
read from an old position fails and rolls back instead of applying events twice.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic

from ledger.application import Ledger
from projections.db import Database, Tx
from projections.rawlog import RawEvent, RawLog, Run

log = logging.getLogger(__name__)

TRACKING_TABLE = "projection_tracking"


class TrackingConflict(Exception):
    """Another worker moved this projection's position first; nothing was applied."""


class Projection(ABC):
    name: ClassVar[str]
    event_classes: ClassVar[tuple[type, ...]]
    tables: ClassVar[tuple[str, ...]]
    # Notifications per step unless the follower is told otherwise.
    batch_size: ClassVar[int] = 1000
    # True: the follower reads stored events with SQL and calls ``apply_raw`` (see rawlog).
    reads_raw: ClassVar[bool] = False

    @abstractmethod
    def schema(self, *, postgres: bool) -> list[str]:
        """CREATE statements (idempotent)."""

    @abstractmethod
    def apply(self, tx: Tx, batch: Sequence[tuple[int, Any]]) -> None:
        """Apply (notification id, domain event) pairs, in order, inside ``tx``."""

    def apply_raw(self, tx: Tx, events: Sequence[RawEvent | Run], mapper: Any) -> None:
        """Apply stored events of this projection's topics (and runs of its ``sql_topic``), in
        order, inside ``tx``. By default: each stored event through the library's mapper, then
        ``apply`` (a projection of a few topics then reads only those rows of the log, filtered
        in SQL, instead of every notification)."""
        if any(isinstance(e, Run) for e in events):
            raise NotImplementedError(f"{self.name} applies no runs")
        self.apply(tx, [(e.id, mapper.to_domain_event(e.stored())) for e in events if isinstance(e, RawEvent)])

    def step_size(self, *, postgres: bool) -> int:
        """Notifications per step unless the follower is told otherwise."""
        return self.batch_size

    def sql_topic(self, *, postgres: bool) -> str | None:
        """A topic this projection applies set-based in SQL on this store: the raw reader then
        gives its events as ``Run``s (id ranges, no state) to ``apply_raw``."""
        return None

    def topics(self) -> set[str]:
        return {get_topic(cls) for cls in self.event_classes}


def _schema_one_at_a_time(db: Database, tx: Tx) -> None:
    """Processes that start together would create the same tables at the same moment (a
    duplicate pg_type row on PostgreSQL): their schema transactions run one at a time."""
    if db.is_postgres:
        tx.execute("SELECT pg_advisory_xact_lock(hashtext('moralbank projections schema'))")


def create_tracking_table(db: Database) -> None:
    with db.transaction() as tx:
        _schema_one_at_a_time(db, tx)
        tx.execute(
            f"CREATE TABLE IF NOT EXISTS {TRACKING_TABLE} ("
            "projection TEXT PRIMARY KEY, application_name TEXT NOT NULL, notification_id BIGINT NOT NULL)"
        )


class Follower:
    """Keeps one projection up to date with one ledger."""

    def __init__(self, ledger: Ledger, db: Database, projection: Projection, *, batch_size: int | None = None) -> None:
        self.ledger = ledger
        self.db = db
        self.projection = projection
        self.batch_size = batch_size or projection.step_size(postgres=db.is_postgres)
        self._topics = projection.topics()
        # Events can be large (a welfare-day chunk holds thousands of postings): a step applies
        # at most about this many bytes of stored state, and reads fewer rows after big ones.
        self.max_bytes = 4 << 20
        self._limit = self.batch_size
        self._raw = RawLog(ledger, postgres=db.is_postgres) if projection.reads_raw else None

    @property
    def name(self) -> str:
        return self.projection.name

    def setup(self) -> None:
        create_tracking_table(self.db)
        with self.db.transaction() as tx:
            _schema_one_at_a_time(self.db, tx)
            for statement in self.projection.schema(postgres=self.db.is_postgres):
                tx.execute(statement)
            tx.execute(
                f"INSERT INTO {TRACKING_TABLE} (projection, application_name, notification_id) "
                "VALUES (%s, %s, 0) ON CONFLICT (projection) DO NOTHING",
                (self.name, self.ledger.name),
            )

    def tracking(self) -> Tracking:
        with self.db.read() as tx:
            row = tx.one(f"SELECT notification_id FROM {TRACKING_TABLE} WHERE projection = %s", (self.name,))
        return Tracking(self.ledger.name, int(row["notification_id"]) if row else 0)

    def position(self) -> int:
        return self.tracking().notification_id

    def lag(self) -> int:
        return max(0, self.ledger.max_notification_id() - self.position())

    def step(self) -> int:
        """Apply the next batch; returns how many notifications it covered."""
        if self._raw is not None:
            return self._raw_step()
        start = self.position()
        notifications = self.ledger.recorder.select_notifications(
            start, min(self._limit, self.batch_size), inclusive_of_start=False
        )
        if not notifications:
            return 0
        notifications = self._within_budget(notifications)
        mapper = self.ledger.mapper
        batch = [(n.id, mapper.to_domain_event(n)) for n in notifications if n.topic in self._topics]
        end = Tracking(self.ledger.name, notifications[-1].id)
        with self.db.transaction() as tx:
            self._move_position(tx, start, end.notification_id)
            if batch:
                self.projection.apply(tx, batch)
        return len(notifications)

    def _move_position(self, tx: Tx, start: int, end: int) -> None:
        """Move the position from ``start`` to ``end`` in ``tx``, only if it is still at
        ``start``: a second worker applying the same step fails here (exactly once)."""
        moved = tx.execute(
            f"UPDATE {TRACKING_TABLE} SET notification_id = %s WHERE projection = %s AND notification_id = %s",
            (end, self.name, start),
        )
        if moved != 1:
            raise TrackingConflict(f"{self.name}: position moved past {start} by another worker")

    def _raw_step(self) -> int:
        """Read up to ``batch_size`` notification ids' worth of events (and at most about
        ``8 * max_bytes`` of state) with SQL, in pages, and apply them in one transaction with
        the position. Events of the projection's ``sql_topic`` come as runs of ids, their state
        counted at an eighth."""
        assert self._raw is not None
        start = self.position()
        topics = sorted(self._topics)
        in_sql = self.projection.sql_topic(postgres=self.db.is_postgres)
        with self.db.transaction() as tx:
            events: list[RawEvent | Run] = []
            end, size = start, 0
            while end - start < self.batch_size and size < 8 * self.max_bytes:
                span = min(5000, start + self.batch_size - end)
                if in_sql is None:
                    page, reached = self._raw.page(tx, end, span, topics)
                else:  # few rows come back: read the rest of the step at once
                    page, reached = self._raw.page_runs(tx, end, start + self.batch_size - end, topics, in_sql)
                if reached == end:
                    break
                if page and events and isinstance(page[0], Run) and isinstance(events[-1], Run):
                    last, first = events[-1], page[0]  # nothing of interest between them: one run
                    events[-1] = last._replace(hi=first.hi, count=last.count + first.count, size=last.size + first.size)
                    page = page[1:]
                events += page
                # state applied in the server costs far less per byte than state decoded here
                size += sum(len(e.state) if isinstance(e, RawEvent) else e.size // 8 for e in page)
                end = reached
            if end == start:
                return 0
            self._move_position(tx, start, end)
            if events:
                self.projection.apply_raw(tx, events, self.ledger.mapper)
        return end - start

    def _within_budget(self, notifications: Sequence[Any]) -> Sequence[Any]:
        """The leading notifications whose states fit in ``max_bytes`` (at least one); the next
        read asks for about as many rows as fit, given this read's mean size."""
        size = 0
        for i, n in enumerate(notifications):
            size += len(n.state)
            if size > self.max_bytes and i > 0:
                notifications = notifications[:i]
                break
        mean = max(1, size // len(notifications))
        self._limit = max(1, min(self.batch_size, self.max_bytes // mean))
        return notifications

    def catch_up(self) -> int:
        total = 0
        while n := self.step():
            total += n
        return total

    def rebuild(self) -> int:
        """Drop the rows and the position in one transaction, then replay from the start."""
        with self.db.transaction() as tx:
            if self.db.is_postgres:  # DELETE would leave every old row dead in the tables and indexes
                tx.execute(f"TRUNCATE {', '.join(self.projection.tables)}")
            else:
                for table in self.projection.tables:
                    tx.execute(f"DELETE FROM {table}")
            tx.execute(f"UPDATE {TRACKING_TABLE} SET notification_id = 0 WHERE projection = %s", (self.name,))
        return self.catch_up()

    def run(self, stop: threading.Event, *, poll: float = 0.1) -> None:
        """Follow until ``stop`` is set. Errors are logged and retried after a pause: a bad
        event halts the projection at that event rather than skipping it."""
        while not stop.is_set():
            try:
                if self.step():
                    continue
            except TrackingConflict:
                log.warning("projection %s: another worker is ahead; re-reading", self.name)
                continue
            except Exception:
                log.exception("projection %s failed; retrying", self.name)
                stop.wait(1.0)
                continue
            stop.wait(poll)


def snapshot_rows(db: Database, projection: Projection) -> dict[str, list[dict[str, Any]]]:
    """All rows of a projection's tables, in a stable order (for rebuild comparisons)."""
    out: dict[str, list[dict[str, Any]]] = {}
    with db.read() as tx:
        for table in projection.tables:
            rows = tx.all(f"SELECT * FROM {table}")
            out[table] = sorted(rows, key=lambda r: [str(v) for v in r.values()])
    return out


def applied_position(tx: Tx, names: Sequence[str]) -> int:
    """The position up to which every one of these projections has applied the log: the least of
    their tracking positions (0 when one of them has none yet). One indexed read (read-your-writes
    polls it)."""
    marks = ", ".join(["%s"] * len(names))
    row = tx.one(
        f"SELECT count(*) AS n, min(notification_id) AS least FROM {TRACKING_TABLE} WHERE projection IN ({marks})", tuple(names)
    )
    if row is None or int(row["n"]) < len(set(names)):
        return 0
    return int(row["least"])
