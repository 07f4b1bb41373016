"""The leaderboards projection: its tables, and each step's events dispatched to the Python path
(``apply``: structure events, short runs, every transaction on SQLite) or the SQL path (``sql``:
long runs of transactions on PostgreSQL), in log order, in the step's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ledger.domain import LedgerTransaction, Unit, Volunteer
from projections.base import Projection
from projections.boards import period_keys
from projections.db import Tx
from projections.leaderboards import sql
from projections.leaderboards.apply import RECORDED, Keys, Registered, Step, decode_raw, decoded, volunteers_in
from projections.leaderboards.tables import TABLES, period_code, schema
from projections.rawlog import RawEvent, Run

DEFAULT_ZONE = "Asia/Shanghai"


class LeaderboardsProjection(Projection):
    name = "leaderboards"
    event_classes = (
        Unit.Created,  # type: ignore[attr-defined]
        Unit.Moved,  # type: ignore[attr-defined]
        Volunteer.Registered,  # type: ignore[attr-defined]
        Volunteer.Moved,  # type: ignore[attr-defined]
        LedgerTransaction.Recorded,  # type: ignore[attr-defined]
    )
    tables = TABLES
    reads_raw = True
    batch_size = 50_000
    # Transactions are read from the ledger's postings table as runs of positions: on PostgreSQL
    # applied by one SQL statement per run, on SQLite in Python (False: every transaction's JSON
    # decoded in Python, the old path; for comparing the two).
    use_sql = True
    # On PostgreSQL, runs decode the events' JSON in the server instead of reading the postings
    # table (the path before the postings table; for the bench).
    from_json = False
    # Shorter runs go through Python all the same: the statement costs tens of milliseconds
    # whatever the run's length (a live follower's steps hold a few transactions).
    sql_min_run = 1000
    # A run this long into an empty lb_seg (a rebuild, a first catch-up) writes a new table and
    # builds its indexes afterwards (``_bulk_run``): a third of the time of keeping them.
    bulk_min_run = 100_000

    def __init__(self, zone: str = DEFAULT_ZONE) -> None:
        self.zone_name = zone
        self.zone = ZoneInfo(zone)
        self._periods: dict[str, Keys] = {}
        self.sql_runs = 0  # runs applied in SQL, and their transactions (to see the path taken)
        self.sql_events = 0
        self.bulk_runs = 0  # of those, runs written into a new lb_seg (``_bulk_run``)

    def sql_topic(self, *, postgres: bool) -> str | None:
        return RECORDED if self.use_sql else None

    def step_size(self, *, postgres: bool) -> int:
        """Far behind on PostgreSQL, long steps: the transactions never reach Python (only the
        structure events do, held for the step), each step upserts a volunteer's 'all' and
        'year' rows again, and a rebuild's first step writes lb_seg in bulk. On a 10⁶-event log:
        51 s in one step, 60 s in steps of 10⁶, 87 s in steps of 250 000."""
        return 2_000_000 if postgres and self.use_sql else self.batch_size

    def schema(self, *, postgres: bool) -> list[str]:
        return schema()

    # ---------------------------------------------------------------- applying

    def apply(self, tx: Tx, batch: Sequence[tuple[int, Any]]) -> None:
        """Domain events (the library's reader), turned into what the raw reader gives."""
        self._apply(tx, [(seq, decoded(e)) for seq, e in batch])

    def apply_raw(self, tx: Tx, events: Sequence[RawEvent | Run], mapper: Any) -> None:
        self._apply(tx, decode_raw(events, mapper, tx, self.sql_min_run))

    def _apply(self, tx: Tx, events: Iterable[tuple[int, Any]]) -> None:
        batch = list(events)
        step = Step(self.keys_of, tx)
        step.preload(volunteers_in(batch))
        for seq, e in batch:
            if isinstance(e, Registered):  # (NamedTuples: before the decoded transactions' tuples)
                step.register(e.vid, e.name, e.home, seq)
            elif isinstance(e, Run):
                step.flush()  # what is pending comes first in the log
                if not step.tuned:
                    sql.tune(tx)
                    step.tuned = True
                if sql.apply_run(tx, e, self.zone_name, bulk_min_run=self.bulk_min_run, from_json=self.from_json):
                    self.bulk_runs += 1
                self.sql_runs += 1
                self.sql_events += e.count
            elif isinstance(e, tuple):
                step.record(*e)
            elif isinstance(e, Unit.Created):  # type: ignore[attr-defined]
                step.add_unit(e.originator_id.hex, e.name, e.kind, e.parent_id.hex if e.parent_id else None, seq)
            elif isinstance(e, Unit.Moved):  # type: ignore[attr-defined]
                step.move_unit(e.originator_id.hex, e.parent_id.hex)
            elif isinstance(e, Volunteer.Registered):  # type: ignore[attr-defined]
                step.register(e.originator_id.hex, e.name, e.unit_id.hex, seq)
            elif isinstance(e, Volunteer.Moved):  # type: ignore[attr-defined]
                step.move_volunteer(e.originator_id.hex, e.unit_id.hex)
        step.flush()

    def keys_of(self, at: str) -> Keys:
        """(period kind, start) pairs and their codes for an ISO instant. Cached by minute and
        offset: the local day cannot change inside a minute (zone offsets are whole minutes)."""
        cut = at[:16] + at[-6:]
        got = self._periods.get(cut)
        if got is None:
            keys = period_keys(datetime.fromisoformat(at), self.zone)
            got = self._periods[cut] = (keys, tuple(period_code(k, s) for k, s in keys))
        return got
