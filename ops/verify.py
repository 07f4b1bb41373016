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
5. every projection's position is the log's end, and its rows are what a rebuild would give,
   computed in SQL and compared in the server (``ops.verify_projections``), on a connection of its
   own while the pass over the log runs.

One pass over the log (``ops.verify_pass``): every event with its chain row, and the postings rows
beside them, each read by one query streamed in large fetches; each event's stored JSON decoded
once (``ops.replay`` checks 1 to 4 and 6, ``ledger.postings`` gives its rows). Run it on a quiet
store: events recorded while it runs are outside the replay and reported as a warning.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from eventsourcing.utils import get_topic

from api.context import Services
from ledger.accounts import is_volunteer
from ledger.domain import LedgerTransaction
from ledger.postings import PostingRow
from ops.projecting import catch_up
from ledger.lots.audit import LOTS, LotAudit
from ops.replay import Replay
from ops.verify_pass import read_log
from ops.verify_postings import compare as compare_postings
from projections.rawlog import RawLog
from ops.verify_projections import Expected, check_projections, expected_of
from projections.base import TrackingConflict

__all__ = ["CHAIN", "Expected", "LedgerTotals", "VerifyReport", "Violation", "expected_of", "verify"]

RECORDED = get_topic(LedgerTransaction.Recorded)  # type: ignore[attr-defined]
REVERSED = get_topic(LedgerTransaction.Reversed)  # type: ignore[attr-defined]
_FIELDS = ("balance", "earned", "redeemed", "minutes", "entries")
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

    def take_totals(self, replay: Any) -> None:
        """The figures a finished replay (``ops.replay``) adds up."""
        self.events = replay.events
        self.transactions = replay.transactions
        self.reversals = replay.reversals
        self.accounts = len(replay.accounts)
        self.volunteer_accounts = replay.volunteer_accounts()
        self.points_held = replay.points_held()
        self.points_issued = replay.points_issued()
        self.points_redeemed = replay.points_redeemed()

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
    # seconds by part: "pass" (the log read, hashed and replayed here), "postings" and
    # "projection <name>" (compared in the server, beside the pass), "tables" (guard, keys, lots)
    timings: dict[str, float] = field(default_factory=dict)


def verify(services: Services, *, catch_up_first: bool = True) -> VerifyReport:
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
    postgres = services.db.is_postgres
    beside = _Beside(lambda add: _in_the_server(services, end, add, report.timings))
    replay = Replay(report.add, services.ledger.zone)
    t0 = time.perf_counter()
    # SQLite: the pass compares the postings rows itself; PostgreSQL: the server does, beside it
    read_log(ledger, end, replay, report.add, None if postgres else lambda want, have: _check_postings(report.add, want, have),
             postgres=postgres)
    replay.finish()
    report.timings["pass"] = time.perf_counter() - t0
    report.take_totals(replay)
    t0 = time.perf_counter()
    _check_line_key_table(services, report, replay.line_keys)
    _check_balances(services, report, replay.accounts)
    _check_lots(services, report, replay.lots)
    report.timings["tables"] = time.perf_counter() - t0
    report.positions = beside.join(report)

    if ledger.max_notification_id() != end:
        report.warnings.append(
            f"the log grew from {end} to {ledger.max_notification_id()} during verify; "
            "projection comparisons may be off — rerun on a quiet store"
        )
    report.seconds = time.perf_counter() - started
    return report


def _in_the_server(services: Services, end: int, add: Callable[[int, str], None], timings: dict[str, float]) -> dict[str, int]:
    """What the server compares while the pass runs: the postings table with the events (on
    PostgreSQL), then every projection with its rebuild."""
    ledger = services.ledger
    t0 = time.perf_counter()
    if services.db.is_postgres:
        raw = RawLog(ledger, postgres=True)
        try:
            with services.db.read() as tx:
                tx.execute("SET LOCAL jit = off")
                tx.execute("SET LOCAL work_mem = '256MB'")
                compare_postings(tx, raw.table, raw.postings, RECORDED, ledger.zone.key, end,
                                 lambda want, have: _check_postings(add, want, have))
        except psycopg.Error as e:
            add(2, f"the postings table could not be compared with the events: {e}")
        timings["postings"] = time.perf_counter() - t0
    return check_projections(ledger, services.db, services.followers, end, add, timings)


class _Beside:
    """The projections' check, run on a thread of its own (its SQL runs in the server while the
    pass hashes and replays here); its violations join the report after the pass's."""

    def __init__(self, check: Callable[[Callable[[int, str], None]], dict[str, int]]) -> None:
        self._found: list[Violation] = []
        self._positions: dict[str, int] = {}
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._positions = check(lambda invariant, message: self._found.append(Violation(invariant, message)))
            except BaseException as e:  # handed to the caller's thread by join
                self._error = e

        self._thread = threading.Thread(target=run, name="verify-projections", daemon=True)
        self._thread.start()

    def join(self, report: VerifyReport) -> dict[str, int]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        report.violations += self._found
        return self._positions


def _check_postings(add: Callable[[int, str], None], expected: list[PostingRow], recorded: list[PostingRow]) -> None:
    """The postings table holds exactly the rows its transactions' events give (invariant 2: it
    is an index of the events, never a second truth)."""
    if recorded == expected:
        return
    want, have = Counter(expected), Counter(recorded)
    for row in list(have - want)[:_EXAMPLES]:
        add(2, f"postings row at {row.position}/{row.seq} (key {row.key!r}) does not match its event: {_posting(row)}")
    for row in list(want - have)[:_EXAMPLES]:
        add(2, f"postings row at {row.position}/{row.seq} (key {row.key!r}) is missing: its event gives {_posting(row)}")
    if have == want:
        add(2, "postings rows are out of log order")


def _posting(row: PostingRow) -> str:
    return ", ".join(f"{k}={v}" for k, v in row._asdict().items() if k not in ("position", "seq", "key"))


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
