"""The one pass of ``moralbank verify`` over the store: every event with its chain row, and the
postings rows beside them, each read by ONE query streamed in large fetches (PostgreSQL: a
server-side cursor; SQLite: one cursor), in log order.

Per event: the chain (digest of its content, and the hash that links it onto the one before it;
the first break is named, the rest of the log is still replayed), the replay of invariants 1 to 4
and 6 (``ops.replay``), and, for a transaction, its postings rows against the rows its event gives
(``ledger.postings.rows_of``). Each event's stored JSON is decoded once, for the replay and the
postings both; the chain digest is taken over the stored bytes and the originator id as the store
gives its text (no UUID object per event).
"""

from __future__ import annotations

import hashlib
import uuid
from bisect import bisect_right
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any
from uuid import UUID

from psycopg.rows import tuple_row

from ledger.chain import GENESIS
from ledger.codec import from_utc_text, state_of
from ledger.postings import COLUMNS, TABLE as SQLITE_POSTINGS, PostingRow, rows_of_stored
from ops.replay import RECORDED, Replay

FETCH = 20_000  # rows per fetch from the server: few round trips, bounded memory
CHAIN = 0


class _Stream:
    """Rows of one ordered query, fetched ``FETCH`` at a time, taken up to a position."""

    def __init__(self, cursor: Any, convert: Callable[[Sequence[Any]], Any] | None = None) -> None:
        self._cur = cursor
        self._convert = convert
        self._rows: list[Any] = []
        self._keys: list[int] = []
        self._done = False

    def fetch(self) -> list[Any]:
        rows = self._cur.fetchmany(FETCH)
        return [self._convert(r) for r in rows] if self._convert else rows

    def upto(self, position: int) -> list[Any]:
        """The rows whose first column is at most ``position``, in order."""
        out: list[Any] = []
        while True:
            if not self._rows:
                if self._done:
                    return out
                self._rows = self.fetch()
                if not self._rows:
                    self._done = True
                    return out
                self._keys = [r[0] for r in self._rows]
            cut = bisect_right(self._keys, position)
            out += self._rows[:cut]
            if cut < len(self._rows):
                self._rows, self._keys = self._rows[cut:], self._keys[cut:]
                return out
            self._rows, self._keys = [], []


def _sqlite_posting(r: Sequence[Any]) -> PostingRow:
    """A postings row as the SQLite store holds it (texts), typed as ``PostingRow``."""
    return PostingRow(
        r[0], r[1], UUID(r[2]), r[3], r[4], r[5], UUID(r[6]), r[7], UUID(r[8]), r[9], r[10], r[11],
        UUID(r[12]) if r[12] else None, UUID(r[13]) if r[13] else None, r[14], r[15], r[16],
        from_utc_text(r[17]), date.fromisoformat(r[18]),
    )


def _open_streams(c: Any, recorder: Any, end: int, postgres: bool, *, with_postings: bool) -> tuple[Any, _Stream | None]:
    """The events-with-chain cursor and (``with_postings``) the postings stream, both up to ``end``."""
    columns = ", ".join(COLUMNS)
    if postgres:
        schema = recorder.datastore.schema
        events = f'"{schema}"."{recorder.events_table_name}"'
        chain = f'"{schema}"."{recorder.chain_table}"'
        postings = f'"{schema}"."{recorder.postings_table}"'
        tag = uuid.uuid4().hex[:8]
        log = c.connection.cursor(name=f"verify_log_{tag}", row_factory=tuple_row)
        log.execute(
            "SELECT e.notification_id, e.topic, e.originator_id::text, e.originator_version, e.state, c.digest, c.hash "
            f"FROM {events} e LEFT JOIN {chain} c ON c.notification_id = e.notification_id "
            "WHERE e.notification_id <= %s ORDER BY e.notification_id",
            (end,),
        )
        if not with_postings:
            return log, None
        rows = c.connection.cursor(name=f"verify_postings_{tag}", row_factory=tuple_row)
        rows.execute(f"SELECT {columns} FROM {postings} WHERE position <= %s ORDER BY position, seq", (end,))
        return log, _Stream(rows, lambda r: PostingRow(*r))
    from ledger.chain import CHAIN_TABLE

    conn = getattr(c, "sqlite_cursor", c).connection  # the library's cursor wraps sqlite3's
    log = conn.cursor()
    log.execute(
        "SELECT e.rowid, e.topic, e.originator_id, e.originator_version, e.state, c.digest, c.hash "
        f"FROM {recorder.events_table_name} e LEFT JOIN {CHAIN_TABLE} c ON c.notification_id = e.rowid "
        "WHERE e.rowid <= ? ORDER BY e.rowid",
        (end,),
    )
    if not with_postings:
        return log, None
    rows = conn.cursor()
    rows.execute(f"SELECT {columns} FROM {SQLITE_POSTINGS} WHERE position <= ? ORDER BY position, seq", (end,))
    return log, _Stream(rows, _sqlite_posting)


def read_log(
    ledger: Any,
    end: int,
    replay: Replay,
    add: Callable[[int, str], None],
    check_postings: Callable[[list[PostingRow], list[PostingRow]], None] | None,
    *,
    postgres: bool,
) -> None:
    """The pass over ``(0, end]`` (see the module's docstring); violations go to ``add``, the
    postings of each fetch of events to ``check_postings(expected, recorded)`` (None: the postings
    are compared elsewhere, ``ops.verify_postings``)."""
    recorder = ledger.recorder
    zone = ledger.zone
    handlers = Replay._handlers
    sha256 = hashlib.sha256
    h = GENESIS
    intact = True
    previous = 0
    with recorder.datastore.transaction(commit=False) as c:
        log, postings = _open_streams(c, recorder, end, postgres, with_postings=check_postings is not None)
        while rows := log.fetchmany(FETCH):
            expected: list[PostingRow] = []
            for nid, topic, oid, version, state, digest, chained in rows:
                state = bytes(state)
                if len(oid) != 36:  # the canonical text the chain hashes (SQLite may hold another form)
                    oid = str(UUID(oid))
                if intact:
                    d = sha256(f"{oid}\n{version}\n{topic}\n".encode() + state).digest()
                    if digest is None:
                        intact = False
                        add(CHAIN, f"event {nid} ({topic}, {oid} v{version}) has no hash chain row")
                    elif d != bytes(digest):
                        intact = False
                        add(CHAIN, f"event {nid} ({topic}, {oid} v{version}) was altered after it was recorded: "
                                   "its content no longer matches its chain digest")
                    else:
                        h = sha256(h + d).digest()
                        if h != bytes(chained):
                            intact = False
                            add(CHAIN, f"the hash chain breaks at event {nid} ({oid} v{version}): it does not follow "
                                       f"event {previous or 'none'} (an event was removed or reordered before it, or the "
                                       "chain was edited)")
                previous = nid
                event = _feed(replay, handlers, nid, topic, oid, state)
                if topic == RECORDED and postings is not None:
                    if event is None:  # undecodable (reported by the replay): its rows cannot be derived
                        continue
                    try:
                        expected += rows_of_stored(UUID(oid), event, zone, nid)
                    except (ValueError, TypeError, KeyError, AttributeError):
                        continue  # a malformed posting, reported by the replay
            if postings is not None and check_postings is not None:
                check_postings(expected, postings.upto(rows[-1][0]))
        rest = postings.upto(2**62) if postings is not None else []  # rows after the last event read: none may exist
        if rest and check_postings is not None:
            check_postings([], rest)
        log.close()
    beyond = recorder.select_chain(end, 1)
    if intact and beyond and ledger.max_notification_id() == end:
        add(CHAIN, f"the chain records event {beyond[0].notification_id}, after the log's last event {end}: "
                   "events were removed at the end")


def _feed(replay: Replay, handlers: dict[str, Any], nid: int, topic: str, oid: str, state: bytes) -> dict[str, Any] | None:
    """``Replay.feed``, returning the decoded event (None for a topic no check needs), so that the
    postings are derived from the same decoding."""
    replay.events += 1
    handler = handlers.get(topic)
    if handler is None:
        return None
    try:
        event = state_of(state)
        handler(replay, nid, UUID(oid), event)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        replay.add(2, f"event {nid} ({topic}) cannot be decoded: {e!r}")
        return None
    return event

