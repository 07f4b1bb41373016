"""The set-based welfare-day batch on PostgreSQL: the same batch, the same events and report as
``service.BatchService``'s chunk-by-chunk path, with the lines moved by the database.

How a run goes (one connection of the pool, held for the run):
1. **Stage.** The file is read once, a record at a time, by the same pure rules as the Python path
   (``files.records``, ``rules.parse_line``: the CSV dialects, encodings and per-line checks stay
   one piece of code), and each record is streamed by ``COPY`` into a temporary table, refused or
   not, with its paid line key (blake2b has no PostgreSQL builtin). Nothing per line stays in
   Python: memory is flat as the file grows.
2. **Resolve, as joins over the whole file:** duplicates (a window over the line's identity,
   earliest wins, among the lines the rules let through), member numbers (their claim's last
   event), each volunteer's unit (the last registration or move event), scope (the few distinct
   units are judged by the ledger's own ``unit_ancestry``).
3. **Post each chunk in one transaction**, under the events table's EXCLUSIVE lock that every
   writer of this store takes first (so notification ids commit in order, and no line key can be
   paid by anyone else meanwhile): lines already paid are refused by a join on the line keys; the
   chunk's ``LedgerTransaction.Recorded`` event is built by the server (the posting objects
   aggregated into the state the library's JSON transcoder would write, around a head and tail
   the transcoder did write), then the batch's ``ChunkPosted`` (built by the aggregate, so the
   report is the Python path's), NOTIFY, the hash chain (the recorder's own function), the paid
   line keys, the balance guard rows (credits, with the lot version moved on), one lot per credit
   with its last day by the unit's policy, and one postings row per line — all by
   ``INSERT … SELECT``, in one round trip.

A killed run leaves whole chunks only; a new run stages the file again and resumes at the batch's
next chunk. Two runners of one batch: the second sees the batch's version moved on under the lock
and skips ahead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple
from uuid import UUID

import psycopg
from eventsourcing.utils import get_topic
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier, Literal

from ledger import positions, rules
from ledger.batches.domain import Batch
from ledger.batches.files import records
from ledger.batches.rules import BATCH, Line, Refusal, paid_key, parse_line, refusal
from ledger.domain import LedgerTransaction, MemberNumber, Volunteer
from ledger.journal import attempts
from ledger.lots import rules as lot_rules

if TYPE_CHECKING:
    from ledger.batches.service import BatchService

# Temporary tables (one set per session, dropped after the run): the file's lines, the member
# numbers' owners, the volunteers' units, and the chunk being posted with each line's verdict.
STAGE, CLAIMS, OWNERS, CHUNK = "mb_batch_lines", "mb_batch_claims", "mb_batch_owners", "mb_batch_chunk"
REGISTERED = get_topic(Volunteer.Registered)  # type: ignore[attr-defined]
MOVED = get_topic(Volunteer.Moved)  # type: ignore[attr-defined]
CLAIMED = get_topic(MemberNumber.Claimed)  # type: ignore[attr-defined]
RECORDED = get_topic(LedgerTransaction.Recorded)  # type: ignore[attr-defined]
TRANSACTION = get_topic(LedgerTransaction)
POSTINGS_MARK = b'"postings":[]'
# Compiling a chunk's statements costs more than running them (their estimates are large).
_NO_JIT = SQL("SET LOCAL jit = off")
# A chunk's few thousand lines look their volunteers, members and paid keys up by index: a hash
# join would read the whole line keys table for every chunk (quadratic in the file's length).
_BY_INDEX = SQL("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")

# What makes two lines of one file the same line (``rules.duplicate_key`` before its hash).
_SAME_LINE = (
    "CASE WHEN line_key IS NOT NULL THEN 'k:' || line_key ELSE 'c:' || coalesce(volunteer_id::text, 'member:' || member_no)"
    " || '|' || points || '|' || minutes || '|' || memo END"
)


def usable(service: "BatchService") -> bool:
    """The set-based path needs PostgreSQL and events stored as the JSON transcoder writes them."""
    from ledger.store.postgres import PostgresLedgerRecorder

    mapper = service.ledger.mapper
    return isinstance(service.ledger.recorder, PostgresLedgerRecorder) and mapper.cipher is None and mapper.compressor is None


def run(service: "BatchService", batch: Batch, path: Any, progress: Callable[[Batch], None] | None) -> Batch:
    """Credit every chunk of the batch not yet recorded (see the module's docstring).

    The run has a session of its own (not one of the pool's): its temporary tables need local
    buffers sized to the file, which a session can only be given before it first uses one; and
    they go with the session, whatever happens to the run."""
    params = {k: v for k, v in service.ledger.recorder.datastore.pool.kwargs.items() if k != "row_factory"}
    with psycopg.connect(**params, autocommit=True, row_factory=tuple_row) as conn:
        conn.execute(SQL("SET temp_buffers = {0}").format(Literal(f"{_temp_buffers_kb(batch.lines_total)}kB")))
        run_on = _Run(service, batch, conn)
        run_on.stage(path)
        run_on.resolve()
        return run_on.post_all(progress)


def _temp_buffers_kb(lines: int) -> int:
    """Room for the staged lines and their look-ups in memory (a chunk read from disk each time
    cost more than the rest of its work): ~0.4 kB a line, 16 MB to 1 GB."""
    return min(1 << 20, max(16 << 10, lines * 2 // 5))


class _Run:
    def __init__(self, service: "BatchService", batch: Batch, conn: psycopg.Connection[Any]) -> None:
        self.service = service
        self.ledger = service.ledger
        self.batch = batch
        self.conn = conn
        r = self.ledger.recorder
        schema = Identifier(r.datastore.schema)
        self.t = {
            "stage": Identifier(STAGE),
            "claims": Identifier(CLAIMS),
            "owners": Identifier(OWNERS),
            "chunk": Identifier(CHUNK),
            "events": SQL("{0}.{1}").format(schema, Identifier(r.events_table_name)),
            "keys": SQL("{0}.{1}").format(schema, Identifier(r.line_keys_table)),
            "balances": SQL("{0}.{1}").format(schema, Identifier(r.balances_table)),
            "lots": SQL("{0}.{1}").format(schema, Identifier(r.lots_table)),
            "postings": SQL("{0}.{1}").format(schema, Identifier(r.postings_table)),
            "channel": Identifier(r.channel_name),
        }
        self.chain_append = r.chain_append_statement
        self.lock = r.lock_table_statements
        self.records_total = 0

    def q(self, text: str, **more: Any) -> Any:
        return SQL(text).format(**self.t, **more)

    # ------------------------------------------------------------------ 1. stage

    def stage(self, path: Any) -> None:
        b = self.batch
        with self.conn.transaction():
            self.conn.execute(self.q(
                "CREATE TEMP TABLE IF NOT EXISTS {stage} (rec integer PRIMARY KEY, line integer NOT NULL, "
                "refusal text, message text, detail text, volunteer_id uuid, claim uuid, member_no text, points integer, "
                "minutes integer, line_key text, memo text, paid_key text, owner uuid, unit uuid)"
            ))
            self.conn.execute(self.q("TRUNCATE {stage}"))
            with self.conn.cursor().copy(self.q(
                "COPY {stage} (rec, line, refusal, message, volunteer_id, claim, member_no, points, minutes, line_key, "
                "memo, paid_key, owner) FROM STDIN"
            )) as copy:
                for row in _staged_rows(records(path, b.source["format"], b.source["encoding"]), b.unit_id, b.source["sha256"], b.cap):
                    copy.write_row(row)
                    self.records_total += 1
            self.conn.execute(self.q("ANALYZE {stage}"))  # temporary tables are never analysed by autovacuum

    # ------------------------------------------------------------------ 2. resolve

    def resolve(self) -> None:
        """Duplicates (marked on the few duplicate lines), then each member number's owner and
        each named volunteer's unit once (small tables, one row per distinct one), and scope."""
        c = self.conn
        with c.transaction():
            c.execute(_NO_JIT)
            c.execute(self.q(
                "UPDATE {stage} s SET refusal = 'duplicate_line' FROM (SELECT rec, row_number() OVER "
                "(PARTITION BY {same} ORDER BY rec) AS n FROM {stage} WHERE refusal IS NULL) d WHERE s.rec = d.rec AND d.n > 1",
                same=SQL(_SAME_LINE),
            ))
            # A member number's owner: its claim's last Claimed event. A volunteer's unit: the last
            # registration or move (the Python path's ``_last_uuids``, read as JSON by the server).
            c.execute(self.q("DROP TABLE IF EXISTS {claims}; DROP TABLE IF EXISTS {owners}"))
            c.execute(self.q(
                "CREATE TEMP TABLE {claims} AS SELECT DISTINCT ON (originator_id) originator_id AS claim, "
                "(convert_from(state, 'UTF8')::json -> 'volunteer_id' ->> '_data_')::uuid AS owner FROM {events} "
                "WHERE originator_id IN (SELECT claim FROM {stage} WHERE refusal IS NULL AND claim IS NOT NULL) AND topic = %s "
                "ORDER BY originator_id, originator_version DESC"
            ), (CLAIMED,))
            c.execute(self.q(
                "CREATE TEMP TABLE {owners} AS SELECT DISTINCT ON (originator_id) originator_id AS owner, "
                "(convert_from(state, 'UTF8')::json -> 'unit_id' ->> '_data_')::uuid AS unit, false AS outside FROM {events} "
                "WHERE originator_id IN (SELECT owner FROM {stage} WHERE refusal IS NULL AND owner IS NOT NULL "
                "UNION SELECT owner FROM {claims}) AND topic = ANY(%s) ORDER BY originator_id, originator_version DESC"
            ), ([REGISTERED, MOVED],))
            c.execute(self.q("ALTER TABLE {claims} ADD PRIMARY KEY (claim); ALTER TABLE {owners} ADD PRIMARY KEY (owner)"))
            c.execute(self.q("ANALYZE {claims}; ANALYZE {owners}"))
            if self.batch.scope is not None:
                units = [r[0] for r in c.execute(self.q("SELECT DISTINCT unit FROM {owners} WHERE unit IS NOT NULL"))]
                outside = [u for u in units if not rules.within_scope(self.ledger.unit_ancestry(u), self.batch.scope)]
                if outside:
                    c.execute(self.q("UPDATE {owners} SET outside = true WHERE unit = ANY(%s)"), (outside,))
            c.execute(self.q(
                "CREATE TEMP TABLE IF NOT EXISTS {chunk} (rec integer, line integer, verdict text, message text, detail text, "
                "owner uuid, account text, points integer, minutes integer, memo text, paid_key text, seq integer)"
            ))

    # ------------------------------------------------------------------ 3. post

    def post_all(self, progress: Callable[[Batch], None] | None) -> Batch:
        service, size = self.service, self.batch.chunk_lines
        chunks = (self.records_total + size - 1) // size
        while self.batch.chunks_done < chunks:
            self.batch = self.post(self.batch.chunks_done)
            if progress is not None:
                progress(self.batch)
            if self.batch.done or service._stop.is_set() or (service.throttle and service._stop.wait(service.throttle)):
                return self.batch
        batch = self.ledger.update(lambda: service.get(self.batch.id), lambda b: b.finish(at=self.ledger.clock.now()))
        if progress is not None:
            progress(batch)
        return batch

    def post(self, chunk_no: int) -> Batch:
        """One chunk in one transaction; after a conflict (another runner), the batch as stored."""
        for _ in attempts("batch chunks"):
            batch = self.batch
            if batch.done or batch.chunks_done > chunk_no:
                return batch
            try:
                with self.conn.transaction():
                    posted = self._post_locked(batch, chunk_no)
            except (psycopg.errors.UniqueViolation, psycopg.errors.LockNotAvailable, _Moved):
                # another runner, or the events table held past the lock timeout (the library's
                # saves retry that too): load the batch as stored and decide the chunk again
                self.batch = self.service.get(batch.id)
                continue
            self._after_commit(posted)
            if self.service.on_chunk is not None:
                self.service.on_chunk(batch.id, chunk_no, posted.accepted, posted.points, posted.codes)
            return batch
        raise AssertionError("unreachable")

    def _after_commit(self, posted: "_Posted") -> None:
        """What the journal does after any save: read-your-writes learns where the chunk is in the
        log (and whose accounts it credited, when they are few), and the observers of every save
        see its events."""
        accounts = [r[0] for r in self.conn.execute(self.q(
            "SELECT DISTINCT account FROM {chunk} WHERE verdict IS NULL LIMIT %s"), (positions.MAX_ACCOUNTS + 1,))]
        positions.note(posted.position, accounts)
        recorder, mapper = self.ledger.recorder, self.ledger.mapper

        def events() -> list[Any]:
            stored = recorder.select_events(posted.transaction_id) if posted.transaction_id is not None else []
            return [mapper.to_domain_event(e) for e in stored] + [posted.chunk_event]

        self.ledger.journal.recorded_by_store(events)

    def _post_locked(self, batch: Batch, chunk_no: int) -> "_Posted":
        c, size = self.conn, batch.chunk_lines
        lo, hi = chunk_no * size, (chunk_no + 1) * size
        for statement in self.lock:
            c.execute(statement)
        c.execute(_NO_JIT)
        c.execute(_BY_INDEX)
        stored = c.execute(self.q("SELECT max(originator_version) FROM {events} WHERE originator_id = %s"), (batch.id,)).fetchone()
        if stored is None or stored[0] != batch.version:
            raise _Moved
        # Each line of the chunk with its verdict: the rules' or a duplicate's (staged), unknown,
        # outside the scope, already paid (joined now, under the lock), else credited (NULL).
        c.execute(self.q("TRUNCATE {chunk}"))
        c.execute(self.q(
            "INSERT INTO {chunk} SELECT rec, line, verdict, message, CASE verdict WHEN 'unknown_volunteer' THEN "
            "coalesce(volunteer_id::text, member_no) WHEN 'already_paid' THEN coalesce(line_key, '') END, "
            "owner, 'volunteer:' || replace(owner::text, '-', ''), points, minutes, memo, paid_key, "
            "CASE WHEN verdict IS NULL THEN row_number() OVER (PARTITION BY verdict IS NULL ORDER BY rec) - 1 END "
            "FROM (SELECT s.rec, s.line, s.message, s.volunteer_id, s.member_no, s.line_key, s.points, s.minutes, s.memo, "
            "s.paid_key, o.owner, CASE WHEN s.refusal IS NOT NULL THEN s.refusal "
            "WHEN o.unit IS NULL THEN 'unknown_volunteer' WHEN o.outside THEN 'volunteer_out_of_scope' "
            "WHEN k.key IS NOT NULL THEN 'already_paid' END AS verdict "
            "FROM {stage} s LEFT JOIN {claims} m ON m.claim = s.claim LEFT JOIN {owners} o ON o.owner = coalesce(s.owner, m.owner) "
            "LEFT JOIN {keys} k ON k.key = s.paid_key "
            "WHERE s.rec >= %s AND s.rec < %s) x"
        ), (lo, hi))
        lines, accepted, points, minutes = c.execute(self.q(
            "SELECT count(*), count(*) FILTER (WHERE verdict IS NULL), coalesce(sum(points) FILTER (WHERE verdict IS NULL), 0), "
            "coalesce(sum(minutes) FILTER (WHERE verdict IS NULL), 0) FROM {chunk}"
        )).fetchone()
        refused = [
            Refusal(line, code, message) if message is not None else refusal(line, code, detail or "")
            for line, code, message, detail in c.execute(self.q(
                "SELECT line, verdict, message, detail FROM {chunk} WHERE verdict IS NOT NULL ORDER BY line"
            ))
        ]
        key = f"batch:{batch.id}:chunk:{chunk_no}"
        txn_id = LedgerTransaction.create_id(key) if accepted else None
        now = self.ledger.clock.now()
        batch.post_chunk(chunk_no, int(lines), int(accepted), int(points), int(minutes), sorted(refused), txn_id, now)
        domain_event = batch.collect_events()[0]
        chunk_event = self.ledger.mapper.to_stored_event(domain_event)
        with c.pipeline():
            new = 1
            if txn_id is not None:
                self._insert_transaction(batch, key, txn_id, now)
                new = 2
            last = c.execute(self.q(
                "INSERT INTO {events} (originator_id, originator_version, topic, state) VALUES (%s, %s, %s, %s) RETURNING notification_id"
            ), (chunk_event.originator_id, chunk_event.originator_version, chunk_event.topic, chunk_event.state))
            c.execute(self.q("NOTIFY {channel}"))
            c.execute(self.chain_append, (new, [now]))
        position = last.fetchone()[0]  # type: ignore[index]
        return _Posted(int(accepted), int(points), [r.code for r in refused], int(position), txn_id, domain_event)

    def _insert_transaction(self, batch: Batch, key: str, txn_id: UUID, at: datetime) -> None:
        """The chunk's ``Recorded`` event and the rows that index it, by the server."""
        c, unit = self.conn, batch.unit_id
        head, tail = self._state_around_postings(batch, key, at)
        last = lot_rules.last_day(self.ledger.journal.policy(unit), at, self.ledger.journal.zone)
        expires = f'"{last.isoformat()}"' if last else "null"
        accepted = self.q("SELECT * FROM {chunk} WHERE verdict IS NULL")
        # One posting object per line, in the key order ``Journal.transaction`` writes them.
        posting = (
            "'{{\"source\":\"issuing:' || %(u)s || '\",\"destination\":\"' || account || "
            "'\",\"amount\":' || points || ',\"minutes\":' || minutes || ',\"line\":' || line || ',\"key\":' || to_json(paid_key)::text || "
            "CASE WHEN memo <> '' THEN ',\"memo\":' || to_json(memo)::text ELSE '' END || "
            "',\"opens\":{{\"lot\":\"' || %(t)s || '.' || seq || '\",\"unit\":\"' || %(u)s || '\",\"expires_on\":' || %(e)s || '}}}}'"
        )
        args = {"u": unit.hex, "t": txn_id.hex, "e": expires, "id": txn_id, "head": head, "tail": tail,
                "topic": RECORDED, "key": key, "title": batch.title, "at": at, "expires": last}
        c.execute(self.q(
            "INSERT INTO {events} (originator_id, originator_version, topic, state) "
            "SELECT %(id)s, 1, %(topic)s, %(head)s || convert_to(coalesce(string_agg(" + posting + ", ',' ORDER BY rec), ''), 'UTF8') || %(tail)s "
            "FROM ({accepted}) a",
            accepted=accepted,
        ), args)
        position = "(SELECT notification_id FROM {events} WHERE originator_id = %(id)s AND originator_version = 1)"
        c.execute(self.q("INSERT INTO {keys} (key, transaction_id) SELECT paid_key, %(id)s FROM ({accepted}) a",
                         accepted=accepted), args)
        c.execute(self.q(
            "INSERT INTO {balances} AS t (account, balance, lot_version) "
            "SELECT account, sum(points), 1 FROM ({accepted}) a GROUP BY account ORDER BY 1 "
            "ON CONFLICT (account) DO UPDATE SET balance = t.balance + excluded.balance, lot_version = t.lot_version + 1",
            accepted=accepted,
        ), args)
        c.execute(self.q(
            "INSERT INTO {lots} (lot, account, unit_id, amount, remaining, expires_on, position, seq) "
            "SELECT %(t)s || '.' || seq, account, %(u)s::uuid, points, points, "
            "%(expires)s::date, " + position + ", seq FROM ({accepted}) a",
            accepted=accepted,
        ), args)
        c.execute(self.q(
            "INSERT INTO {postings} (position, seq, transaction_id, key, kind, source_kind, source_id, destination_kind, "
            "destination_id, amount, line_minutes, txn_minutes, unit_id, reverses, line, line_key, memo, at, day) "
            "SELECT " + position + ", seq, %(id)s, %(key)s, '" + BATCH + "', 'issuing', %(u)s::uuid, 'volunteer', owner, points, "
            "minutes, 0, %(u)s::uuid, NULL, line, paid_key, CASE WHEN memo <> '' THEN memo ELSE %(title)s END, %(at)s, %(day)s::date "
            "FROM ({accepted}) a",
            accepted=accepted,
        ), {**args, "day": at.astimezone(self.ledger.journal.zone).date()})

    def _state_around_postings(self, batch: Batch, key: str, at: datetime) -> tuple[bytes, bytes]:
        """The ``Recorded`` event's state as the transcoder writes it, cut where the postings go:
        every field but the postings is encoded by the library, in the aggregate's order."""
        memo = rules.check_text(batch.title, "memo", max_length=500, required=False)
        state = {
            "timestamp": datetime.now(timezone.utc), "originator_topic": TRANSACTION, "key": key, "kind": BATCH,
            "postings": [], "minutes": 0, "memo": memo,
            "fingerprint": rules.fingerprint(["batch", str(batch.id), int(key.rsplit(":", 1)[1])]),
            "actor": batch.actor, "unit_id": batch.unit_id, "reverses": None, "at": at,
        }
        raw = self.ledger.mapper.transcoder.encode(state)
        head, mark, tail = raw.partition(POSTINGS_MARK)
        assert mark, "the transcoder wrote the postings otherwise"
        return head + b'"postings":[', b"]" + tail


class _Posted(NamedTuple):
    accepted: int
    points: int
    codes: list[str]  # the refusals' codes
    position: int  # the notification id of the chunk's last event
    transaction_id: UUID | None
    chunk_event: Any  # the batch's ChunkPosted


class _Moved(Exception):
    """The batch was moved on by another runner since it was loaded."""


def _staged_rows(recs: Iterator[tuple[int, dict[str, Any] | None]], unit_id: UUID, sha256: str, cap: int) -> Iterator[tuple[Any, ...]]:
    """One staging row per record: refused by the line's own rules (with the message), or its
    fields, member claim id, paid key and owner (the volunteer id it names, if it names one)."""
    for rec, (number, fields) in enumerate(recs):
        parsed: Line | Refusal = refusal(number, "malformed_line") if fields is None else parse_line(number, fields, cap=cap)
        if isinstance(parsed, Refusal):
            yield (rec, number, parsed.code, parsed.message, None, None, None, None, None, None, None, None, None)
            continue
        ln = parsed
        claim = MemberNumber.create_id(ln.member_no) if ln.member_no is not None else None
        yield (rec, number, None, None, ln.volunteer_id, claim, ln.member_no, ln.points, ln.minutes, ln.line_key, ln.memo,
               paid_key(unit_id, sha256, ln), ln.volunteer_id)

