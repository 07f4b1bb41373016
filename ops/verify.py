"""``moralbank verify``: replay the whole event log and check the invariants of DESIGN.md.

0. the hash chain (``ledger.chain``): every event's chain row holds the digest of its content and
   the hash that chains it onto the event before it; the first event where it breaks is named;
1. replaying transactions in log order, no volunteer account is ever below zero;
2. the replayed balances sum to zero; each replayed balance, earned, redeemed, minutes and
   entry count equals the ``balances`` projection row; each volunteer's replayed balance equals
   the write side's guarded balance (and the guard holds nothing else);
3. every transaction id is ``LedgerTransaction.create_id(key)``, no key appears twice, no
   original is reversed twice, and each reversal undoes exactly its original's postings; each
   activity attendance is paid at most once, by its own key's transaction, with the points and
   minutes it recorded, and no activity holds more seats than its capacity;
4. every pay code was spent at most once and before it expired;
5. every projection's position is the log's end, and its rows are what a rebuild would give:
   computed in SQL by the projection's own ``expected_rows(tx, end)`` where its module offers one
   (from the postings table and the structure events; compared in the server), else by replaying
   the same events into the same projection class over a scratch in-memory SQLite database.

One pass over the log, in pages of raw rows read with SQL (event and chain row together); the
checks of 0 to 4 decode the stored JSON themselves (``ops.replay``), and only the events a
projection wants are handed to it. Run it on a quiet store: events recorded while it runs are
outside the replay and reported as a warning.
"""

from __future__ import annotations

import copy
import sqlite3
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from api.context import Services
from ledger.accounts import is_volunteer
from ledger.chain import GENESIS, event_digest, link
from ledger.codec import state_of
from ledger.domain import LedgerTransaction
from ledger.postings import PostingRow, rows_of_stored
from ops.projecting import catch_up
from ledger.lots.audit import LOTS, LotAudit
from ops.replay import Replay
from projections.base import Follower, Projection, TrackingConflict
from projections.db import Database

RECORDED = get_topic(LedgerTransaction.Recorded)  # type: ignore[attr-defined]
REVERSED = get_topic(LedgerTransaction.Reversed)  # type: ignore[attr-defined]
_FIELDS = ("balance", "earned", "redeemed", "minutes", "entries")
_SCRATCH_BATCH = 1000
_EXAMPLES = 3
CHAIN = 0  # the hash chain's number in reports, beside invariants 1 to 5


@dataclass(frozen=True)
class Violation:
    invariant: int
    message: str

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.message}"


@dataclass
class LedgerTotals:
    """What a replay of the log adds up, and what it found wrong (the store's verify and
    ``verify --file`` report the same figures)."""

    events: int = 0
    transactions: int = 0
    reversals: int = 0
    accounts: int = 0
    volunteer_accounts: int = 0
    points_held: int = 0  # by volunteers
    points_issued: int = 0  # net, by all issuing accounts
    points_redeemed: int = 0  # net, held by merchants
    violations: list[Violation] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.violations

    def by_invariant(self) -> Counter[int]:
        return Counter(v.invariant for v in self.violations)

    def add(self, invariant: int, message: str) -> None:
        self.violations.append(Violation(invariant, message))

    def figures(self) -> list[tuple[str, object]]:
        """(label, value) rows for a summary table."""
        return [
            ("events", self.events),
            ("transactions", self.transactions),
            ("reversals", self.reversals),
            ("accounts", self.accounts),
            ("volunteer accounts", self.volunteer_accounts),
            ("points held by volunteers", self.points_held),
            ("points issued (net)", self.points_issued),
            ("points redeemed (net)", self.points_redeemed),
        ]


@dataclass
class VerifyReport(LedgerTotals):
    log_end: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


Expected = Callable[[Any, int], Mapping[str, "str | Iterable[Mapping[str, Any]]"]]


def expected_of(projection: Projection) -> Expected | None:
    """The projection module's ``expected_rows(tx, end)``, if it offers one: per table of the
    projection, the rows a rebuild from the log up to ``end`` would give, computed in SQL (from the
    postings table and the structure events) in ``tx``: a SELECT text (compared with the table in
    the server) or the rows themselves. The one place verify looks for them."""
    module = sys.modules.get(type(projection).__module__)
    found = getattr(module, "expected_rows", None)
    return found if callable(found) else None


class _Scratch:
    """The same projection classes, fed the same events, over an in-memory SQLite database (the
    projections that compute their expected rows in SQL are not fed: their topics are empty)."""

    def __init__(self, followers: Sequence[Follower]) -> None:
        # A uniquely named shared-cache memory database: every connection of this Database
        # sees it, no other verify run does, and it vanishes when closed.
        self.db = Database(f"sqlite:///file:verify-{uuid.uuid4().hex}?mode=memory&cache=shared")
        # copies, not fresh instances: a projection may carry settings (the leaderboards zone)
        self.projections: list[Projection] = [copy.copy(f.projection) for f in followers]
        self.pending: list[list[tuple[int, Any]]] = [[] for _ in self.projections]
        self.topics = [set() if expected_of(p) is not None else p.topics() for p in self.projections]
        for p in self.projections:
            with self.db.transaction() as tx:
                for statement in p.schema(postgres=False):
                    tx.execute(statement)

        self.wanted: set[str] = set().union(*self.topics) if self.topics else set()
        self.raw = [bool(getattr(p, "reads_raw", False)) for p in self.projections]

    def feed(self, notification_id: int, topic: str, originator_id: str, version: int, state: bytes, mapper: Any) -> None:
        """One stored event, for the projections that want its topic: as the raw row to one that
        reads raw events, as the library's domain event (decoded once) to the others."""
        event: Any = None
        for i, topics in enumerate(self.topics):
            if topic not in topics:
                continue
            if self.raw[i]:
                from projections.rawlog import RawEvent  # only projections that read raw rows need it

                self.pending[i].append(RawEvent(notification_id, topic, str(originator_id), version, state))
            else:
                if event is None:
                    event = mapper.to_domain_event(StoredEvent(uuid.UUID(str(originator_id)), version, topic, state))
                self.pending[i].append((notification_id, event))
            if len(self.pending[i]) >= _SCRATCH_BATCH:
                self._flush(i, mapper)

    def _flush(self, i: int, mapper: Any) -> None:
        if self.pending[i]:
            with self.db.transaction() as tx:
                if self.raw[i]:
                    self.projections[i].apply_raw(tx, self.pending[i], mapper)
                else:
                    self.projections[i].apply(tx, self.pending[i])
            self.pending[i] = []

    def finish(self, mapper: Any) -> None:
        for i in range(len(self.projections)):
            self._flush(i, mapper)

    def close(self) -> None:
        self.db.close()


def _rows(db: Database, table: str) -> Counter[tuple[tuple[str, Any], ...]]:
    with db.read() as tx:
        return Counter(tuple(sorted(row.items())) for row in tx.all(f"SELECT * FROM {table}"))


def _show(row: tuple[tuple[str, Any], ...]) -> str:
    return "{" + ", ".join(f"{k}={v!r}" for k, v in row) + "}"


def _compare_tables(report: VerifyReport, name: str, live: Database, scratch: Database, tables: Iterable[str]) -> None:
    for table in tables:
        have, want = _rows(live, table), _rows(scratch, table)
        if have == want:
            continue
        extra, missing = have - want, want - have
        report.add(
            5,
            f"projection {name}: table {table} differs from a rebuild from scratch "
            f"({sum(extra.values())} row(s) only in the store, {sum(missing.values())} only in the rebuild)",
        )
        for row in list(extra)[:_EXAMPLES]:
            report.add(5, f"  {table} has {_show(row)}")
        for row in list(missing)[:_EXAMPLES]:
            report.add(5, f"  {table} should have {_show(row)}")


def verify(services: Services, *, catch_up_first: bool = True, page: int = 5000) -> VerifyReport:
    """Check the invariants; never raises for a broken store, it reports."""
    started = time.perf_counter()
    report = VerifyReport()
    ledger = services.ledger

    if catch_up_first:
        for f in services.followers:
            try:
                catch_up(f)
            except (sqlite3.Error, psycopg.Error, TrackingConflict) as e:
                report.add(5, f"projection {f.name}: catch-up failed after position {f.position()}: {e}")

    end = ledger.max_notification_id()
    report.log_end = end
    scratch = _Scratch(services.followers)
    replay = Replay(report.add, services.ledger.zone)
    try:
        _read_log(ledger, report, replay, scratch, end, page)
        replay.finish()
        scratch.finish(ledger.mapper)
        report.events = replay.events
        report.transactions = replay.transactions
        report.reversals = replay.reversals
        report.accounts = len(replay.accounts)
        report.volunteer_accounts = replay.volunteer_accounts()
        report.points_held = replay.points_held()
        report.points_issued = replay.points_issued()
        report.points_redeemed = replay.points_redeemed()
        _check_line_key_table(services, report, replay.line_keys)
        _check_balances(services, report, replay.accounts)
        _check_lots(services, report, replay.lots)
        _check_projections(services, report, scratch, end)
    finally:
        scratch.close()

    if ledger.max_notification_id() != end:
        report.warnings.append(
            f"the log grew from {end} to {ledger.max_notification_id()} during verify; "
            "projection comparisons may be off — rerun on a quiet store"
        )
    report.seconds = time.perf_counter() - started
    return report


def _read_log(ledger: Any, report: VerifyReport, replay: Replay, scratch: _Scratch, end: int, page: int) -> None:
    """One pass over ``(0, end]``: the chain checked row by row (the first break is reported, the
    rest of the log is still replayed), every row fed to the replay and to the scratch projections."""
    recorder = ledger.recorder
    mapper = ledger.mapper
    wanted = scratch.wanted
    h = GENESIS
    intact = True
    after = previous = 0
    while after < end:
        rows = recorder.select_chained_events(after, end, page)
        if not rows:
            break
        expected: list[PostingRow] = []
        for nid, topic, oid, version, state, digest, chained in rows:
            state = bytes(state)
            if topic == RECORDED:
                expected += rows_of_stored(uuid.UUID(str(oid)), state_of(state), ledger.zone, nid)
            if intact:
                d = event_digest(oid, version, topic, state)
                if digest is None:
                    intact = False
                    report.add(CHAIN, f"event {nid} ({topic}, {_uuid_text(oid)} v{version}) has no hash chain row")
                elif d != bytes(digest):
                    intact = False
                    report.add(
                        CHAIN,
                        f"event {nid} ({topic}, {_uuid_text(oid)} v{version}) was altered after it was recorded: "
                        "its content no longer matches its chain digest",
                    )
                else:
                    h = link(h, d)
                    if h != bytes(chained):
                        intact = False
                        report.add(
                            CHAIN,
                            f"the hash chain breaks at event {nid} ({_uuid_text(oid)} v{version}): it does not follow "
                            f"event {previous or 'none'} (an event was removed or reordered before it, or the chain "
                            "was edited)",
                        )
            previous = nid
            replay.feed(nid, topic, oid, state)
            if topic in wanted:
                scratch.feed(nid, topic, oid, version, state, mapper)
        _check_postings(report, expected, recorder.select_postings(after, rows[-1][0], 2**31))
        after = rows[-1][0]
    beyond = recorder.select_chain(end, 1)
    if intact and beyond and ledger.max_notification_id() == end:
        report.add(CHAIN, f"the chain records event {beyond[0].notification_id}, after the log's last event {end}: "
                          "events were removed at the end")


def _check_postings(report: VerifyReport, expected: list[PostingRow], recorded: list[PostingRow]) -> None:
    """The postings table holds exactly the rows its transactions' events give (invariant 2: it
    is an index of the events, never a second truth)."""
    if recorded == expected:
        return
    want, have = Counter(expected), Counter(recorded)
    for row in list(have - want)[:_EXAMPLES]:
        report.add(2, f"postings row at {row.position}/{row.seq} (key {row.key!r}) does not match its event: {_posting(row)}")
    for row in list(want - have)[:_EXAMPLES]:
        report.add(2, f"postings row at {row.position}/{row.seq} (key {row.key!r}) is missing: its event gives {_posting(row)}")
    if have == want:
        report.add(2, "postings rows are out of log order")


def _posting(row: PostingRow) -> str:
    return ", ".join(f"{k}={v}" for k, v in row._asdict().items() if k not in ("position", "seq", "key"))


def _uuid_text(oid: Any) -> str:
    return str(uuid.UUID(str(oid)))


def _check_line_key_table(services: Services, report: VerifyReport, line_keys: dict[str, tuple[str, int]]) -> None:
    recorded = set(services.ledger.recorder.select_line_keys())  # type: ignore[attr-defined]
    if recorded != set(line_keys):
        missing, extra = set(line_keys) - recorded, recorded - set(line_keys)
        report.add(
            3,
            f"the paid line keys table differs from the log: {len(missing)} key(s) missing "
            f"(e.g. {sorted(missing)[:_EXAMPLES]}), {len(extra)} extra (e.g. {sorted(extra)[:_EXAMPLES]})",
        )


def _check_lots(services: Services, report: VerifyReport, audit: LotAudit) -> None:
    """The lots table equals the lots replayed from the log (invariant 6), and the drawings table
    holds, per lot, what the log's drawings took from it."""
    recorder: Any = services.ledger.recorder
    stored: dict[str, Any] = {}
    after = ""
    while page := recorder.select_lots(after, 10_000):
        stored.update((lot.lot, lot) for lot in page)
        after = page[-1].lot
    shown = 0
    for lot in sorted(stored.keys() | audit.lots.keys()):
        want, got = audit.lots.get(lot), stored.get(lot)
        same = want is not None and got is not None and (got.account, got.unit_id.hex, got.amount, got.remaining, got.expires_on) == tuple(want)
        if not same and shown < _EXAMPLES:
            report.add(LOTS, f"lot {lot}: the lots table has {got}, the log says {want}")
        shown += not same
    if shown > _EXAMPLES:
        report.add(LOTS, f"{shown} lots of the lots table differ from the log")
    taken: dict[str, int] = defaultdict(int)
    rows = 0
    end = services.ledger.max_notification_id()
    for start in range(0, end, 100_000):  # windows of the log, each read whole
        for _position, _seq, lot, _unit, amount in recorder.select_drawings(start, start + 100_000, 2**31):
            taken[lot] += amount
            rows += 1
    if rows != audit.drawing_rows:
        report.add(LOTS, f"the drawings table holds {rows} rows, the log's drawings {audit.drawing_rows}")
    wrong = [lot for lot, (_a, _u, amount, remaining, _l) in audit.lots.items() if taken.get(lot, 0) != amount - remaining]
    if wrong:
        report.add(LOTS, f"the drawings table does not add up to what {len(wrong)} lot(s) gave, e.g. {wrong[0]}")


def _check_balances(services: Services, report: VerifyReport, accounts: dict[str, Any]) -> None:
    rows: dict[str, dict[str, int]] = {}
    with services.db.read() as tx:
        for row in tx.all("SELECT account, balance, earned, redeemed, minutes, entries FROM balances"):
            account = row.pop("account")
            rows[account] = {k: int(v) for k, v in row.items()}
    for account, acct in sorted(accounts.items()):
        want = acct.as_dict()
        have = rows.get(account)
        if have is None:
            report.add(2, f"{account}: no balances row; replay gives {want}")
        elif have != want:
            diff = ", ".join(f"{k} {have[k]} (replay {want[k]})" for k in _FIELDS if have[k] != want[k])
            report.add(2, f"{account}: balances row differs from the replay: {diff}")
    for account in sorted(set(rows) - set(accounts)):
        report.add(2, f"{account}: balances row {rows[account]} for an account no transaction touched")

    guarded = services.ledger.guarded_balances()
    for account, acct in sorted(accounts.items()):
        if is_volunteer(account) and guarded.get(account, 0) != acct.balance:
            report.add(
                2, f"{account}: the write side guards {guarded.get(account, 0)} but the replay gives {acct.balance}"
            )
    for account in sorted(set(guarded) - {a for a in accounts if is_volunteer(a)}):
        report.add(2, f"{account}: the write side guards {guarded[account]} for an account the replay does not hold")


def _check_projections(services: Services, report: VerifyReport, scratch: _Scratch, end: int) -> None:
    for f, proj in zip(services.followers, scratch.projections, strict=True):
        position = f.position()
        report.positions[f.name] = position
        if position != end:
            report.add(5, f"projection {f.name} is at position {position}, the log ends at {end}")
        expected = expected_of(proj)
        if expected is None:
            _compare_tables(report, f.name, services.db, scratch.db, proj.tables)
        else:
            _compare_expected(report, f.name, services.db, expected, end)


def _compare_expected(report: VerifyReport, name: str, db: Database, expected: Expected, end: int) -> None:
    """Each table against the rows its projection computes in SQL: on PostgreSQL both ways with
    EXCEPT ALL in the server (only the differences come back), else as multisets here."""
    with db.read() as tx:
        for table, want in expected(tx, end).items():
            if isinstance(want, str) and db.is_postgres:
                extra = tx.all(f"(SELECT * FROM {table}) EXCEPT ALL ({want})")
                missing = tx.all(f"({want}) EXCEPT ALL (SELECT * FROM {table})")
            else:
                rows = tx.all(want) if isinstance(want, str) else want
                have = Counter(tuple(sorted(r.items())) for r in tx.all(f"SELECT * FROM {table}"))
                should = Counter(tuple(sorted(dict(r).items())) for r in rows)
                extra = [dict(r) for r in (have - should).elements()]
                missing = [dict(r) for r in (should - have).elements()]
            if not extra and not missing:
                continue
            report.add(
                5,
                f"projection {name}: table {table} differs from a rebuild computed from the postings "
                f"({len(extra)} row(s) only in the store, {len(missing)} only in the rebuild)",
            )
            for row in extra[:_EXAMPLES]:
                report.add(5, f"  {table} has {_show(tuple(sorted(row.items())))}")
            for row in missing[:_EXAMPLES]:
                report.add(5, f"  {table} should have {_show(tuple(sorted(row.items())))}")
