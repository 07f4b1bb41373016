"""``moralbank verify``: replay the whole event log and check the invariants of DESIGN.md.

1. replaying transactions in log order, no volunteer account is ever below zero;
2. the replayed balances sum to zero; each replayed balance, earned, redeemed, minutes and
   entry count equals the ``balances`` projection row; each volunteer's replayed balance equals
   the write side's guarded balance (and the guard holds nothing else);
3. every transaction id is ``LedgerTransaction.create_id(key)``, no key appears twice, no
   original is reversed twice, and each reversal undoes exactly its original's postings; each
   activity attendance is paid at most once, by its own key's transaction, with the points and
   minutes it recorded, and no activity holds more seats than its capacity (``ops.verify_attendance``);
5. every projection's position is the log's end, and replaying the same events into the same
   projection classes over a scratch in-memory SQLite database gives the same rows.

4. every pay code was spent at most once and before it expired (``ops.verify_alliance``);

One pass over the log, in pages; only transaction and projection events are decoded. Run it on
a quiet store: events recorded while it runs are outside the replay and reported as a warning.
"""

from __future__ import annotations

import copy
import sqlite3
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.utils import get_topic

from api.context import Services
from ledger import rules
from ledger.accounts import ISSUING, MERCHANT, Posting, account_kind, is_volunteer
from ledger.application import REVERSAL
from ledger.batches import BATCH, BATCH_KINDS, BATCH_REVERSAL
from ledger.domain import LedgerTransaction
from ledger.errors import InvalidRequest
from ops.projecting import catch_up
from ops.verify_alliance import check_pay_codes
from ops.verify_attendance import check_attendances
from projections.base import Follower, Projection, TrackingConflict
from projections.db import Database

RECORDED = get_topic(LedgerTransaction.Recorded)  # type: ignore[attr-defined]
REVERSED = get_topic(LedgerTransaction.Reversed)  # type: ignore[attr-defined]
_FIELDS = ("balance", "earned", "redeemed", "minutes", "entries")
_SCRATCH_BATCH = 1000
_EXAMPLES = 3


@dataclass(frozen=True)
class Violation:
    invariant: int
    message: str

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.message}"


@dataclass
class VerifyReport:
    log_end: int = 0
    events: int = 0
    transactions: int = 0
    reversals: int = 0
    accounts: int = 0
    volunteer_accounts: int = 0
    points_held: int = 0  # by volunteers
    points_issued: int = 0  # net, by all issuing accounts
    points_redeemed: int = 0  # net, held by merchants
    positions: dict[str, int] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.violations

    def by_invariant(self) -> Counter[int]:
        return Counter(v.invariant for v in self.violations)

    def add(self, invariant: int, message: str) -> None:
        self.violations.append(Violation(invariant, message))


class _Account:
    __slots__ = _FIELDS

    def __init__(self) -> None:
        self.balance = self.earned = self.redeemed = self.minutes = self.entries = 0

    def as_dict(self) -> dict[str, int]:
        return {f: getattr(self, f) for f in _FIELDS}


class _Scratch:
    """The same projection classes, fed the same events, over an in-memory SQLite database."""

    def __init__(self, followers: Sequence[Follower]) -> None:
        # A uniquely named shared-cache memory database: every connection of this Database
        # sees it, no other verify run does, and it vanishes when closed.
        self.db = Database(f"sqlite:///file:verify-{uuid.uuid4().hex}?mode=memory&cache=shared")
        # copies, not fresh instances: a projection may carry settings (the leaderboards zone)
        self.projections: list[Projection] = [copy.copy(f.projection) for f in followers]
        self.pending: list[list[tuple[int, Any]]] = [[] for _ in self.projections]
        self.topics = [p.topics() for p in self.projections]
        for p in self.projections:
            with self.db.transaction() as tx:
                for statement in p.schema(postgres=False):
                    tx.execute(statement)

    def wanted(self, topic: str) -> bool:
        return any(topic in t for t in self.topics)

    def feed(self, notification_id: int, topic: str, event: Any) -> None:
        for i, topics in enumerate(self.topics):
            if topic in topics:
                self.pending[i].append((notification_id, event))
                if len(self.pending[i]) >= _SCRATCH_BATCH:
                    self._flush(i)

    def _flush(self, i: int) -> None:
        if self.pending[i]:
            with self.db.transaction() as tx:
                self.projections[i].apply(tx, self.pending[i])
            self.pending[i] = []

    def finish(self) -> None:
        for i in range(len(self.projections)):
            self._flush(i)

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


def verify(services: Services, *, catch_up_first: bool = True, page: int = 1000) -> VerifyReport:
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
    try:
        accounts = _replay(services, report, scratch, end, page)
        scratch.finish()
        _check_balances(services, report, accounts)
        _check_projections(services, report, scratch, end)
        check_pay_codes(ledger, end, report.add)
        check_attendances(ledger, end, report.add)
    finally:
        scratch.close()

    if ledger.max_notification_id() != end:
        report.warnings.append(
            f"the log grew from {end} to {ledger.max_notification_id()} during verify; "
            "projection comparisons may be off — rerun on a quiet store"
        )
    report.seconds = time.perf_counter() - started
    return report


def _replay(services: Services, report: VerifyReport, scratch: _Scratch, end: int, page: int) -> dict[str, _Account]:
    ledger = services.ledger
    mapper = ledger.mapper
    accounts: dict[str, _Account] = defaultdict(_Account)
    keys: dict[str, UUID] = {}
    recorded: dict[UUID, tuple[str, list[Posting]]] = {}  # id -> (kind, postings)
    reversal_of: dict[UUID, list[UUID]] = defaultdict(list)  # original -> reversal transactions
    marked: dict[UUID, list[UUID]] = defaultdict(list)  # original -> reversal ids it was marked with
    line_keys: dict[str, tuple[str, int]] = {}  # paid batch line key -> (volunteer account, amount)
    reversed_lines: set[str] = set()
    total = 0

    for n in ledger.iter_notifications(page=page):
        if n.id > end:
            break
        report.events += 1
        if n.topic != RECORDED and n.topic != REVERSED and not scratch.wanted(n.topic):
            continue
        try:
            event = mapper.to_domain_event(n)
        except (ValueError, TypeError, KeyError) as e:
            report.add(2, f"event {n.id} ({n.topic}) cannot be decoded: {e}")
            continue
        scratch.feed(n.id, n.topic, event)

        if n.topic == REVERSED:
            marked[event.originator_id].append(event.reversal_id)
            continue
        if n.topic != RECORDED:
            continue

        txn_id: UUID = event.originator_id
        report.transactions += 1
        if txn_id != LedgerTransaction.create_id(event.key):
            report.add(3, f"transaction {txn_id} (event {n.id}) does not derive from its key {event.key!r}")
        if event.key in keys:
            report.add(3, f"key {event.key!r} moved points twice: {keys[event.key]} and {txn_id}")
        keys[event.key] = txn_id
        try:
            postings = [Posting.from_dict(p) for p in event.postings]
            for p in postings:
                rules.check_points(p.amount, cap=2**62)
        except (ValueError, TypeError, KeyError, InvalidRequest) as e:
            report.add(2, f"transaction {txn_id} (event {n.id}) has a malformed posting: {e}")
            continue
        # Batch chunks are never reversed whole (their lines are, by key): keep no postings.
        recorded[txn_id] = (event.kind, postings if event.kind not in BATCH_KINDS else [])
        if event.reverses is not None:
            report.reversals += 1
            reversal_of[event.reverses].append(txn_id)
            original = recorded.get(event.reverses)
            if original is None:
                report.add(3, f"reversal {txn_id} (event {n.id}) reverses {event.reverses}, not recorded before it")
            elif original[0] == REVERSAL:
                report.add(3, f"reversal {txn_id} reverses another reversal {event.reverses}")
            elif sorted(rules.net_deltas(p.reversed() for p in original[1]).items()) != sorted(
                rules.net_deltas(postings).items()
            ):
                report.add(3, f"reversal {txn_id} does not exactly undo {event.reverses}")

        figures = rules.account_figures(event.postings, event.minutes)
        if sum(f[0] for f in figures.values()) != 0:
            report.add(2, f"transaction {txn_id} (event {n.id}) does not balance")
        for account, (delta, earned, redeemed, minutes, _, _) in figures.items():
            acct = accounts[account]
            acct.balance += delta
            total += delta
            acct.entries += 1
            acct.earned += earned
            acct.redeemed += redeemed
            if is_volunteer(account):
                acct.minutes += minutes
                if acct.balance < 0:
                    report.add(
                        1, f"{account} is at {acct.balance} after transaction {txn_id} (event {n.id}, key {event.key!r})"
                    )
        if event.kind in BATCH_KINDS:
            _check_line_keys(report, line_keys, reversed_lines, txn_id, event.kind, event.postings)

    if total != 0:
        report.add(2, f"the replayed balances sum to {total}, not 0")
    for original, reversals in reversal_of.items():
        if len(reversals) > 1:
            report.add(3, f"transaction {original} was reversed {len(reversals)} times: {', '.join(map(str, reversals))}")
    for original, marks in marked.items():
        if len(marks) > 1:
            report.add(3, f"transaction {original} was marked reversed {len(marks)} times")
        for mark in marks:
            if mark not in reversal_of.get(original, []):
                report.add(3, f"transaction {original} is marked reversed by {mark}, which is no reversal of it")
    for original, reversals in reversal_of.items():
        for r in reversals:
            if r not in marked.get(original, []):
                report.add(3, f"reversal {r} of {original} is not marked on the original")

    _check_line_key_table(services, report, line_keys)
    report.accounts = len(accounts)
    report.volunteer_accounts = sum(1 for a in accounts if is_volunteer(a))
    report.points_held = sum(a.balance for k, a in accounts.items() if is_volunteer(k))
    report.points_issued = -sum(a.balance for k, a in accounts.items() if account_kind(k) == ISSUING)
    report.points_redeemed = sum(a.balance for k, a in accounts.items() if account_kind(k) == MERCHANT)
    return accounts


def _check_line_keys(
    report: VerifyReport,
    line_keys: dict[str, tuple[str, int]],
    reversed_lines: set[str],
    txn_id: UUID,
    kind: str,
    postings: Sequence[dict[str, Any]],
) -> None:
    """Invariant 3 for welfare-day batches: a line key pays once; a reversed line is reversed
    once, by exactly its amount, back to where it came from."""
    for p in postings:
        if kind == BATCH and "key" in p:
            if p["key"] in line_keys:
                report.add(3, f"batch line key {p['key']!r} paid twice (again in {txn_id})")
            line_keys[p["key"]] = (p["destination"], p["amount"])
        elif kind == BATCH_REVERSAL and "reverses" in p:
            paid = line_keys.get(p["reverses"])
            if paid is None:
                report.add(3, f"batch reversal {txn_id} reverses line {p['reverses']!r}, never paid before it")
            elif p["reverses"] in reversed_lines:
                report.add(3, f"batch line {p['reverses']!r} reversed twice (again in {txn_id})")
            elif paid != (p["source"], p["amount"]):
                report.add(3, f"batch reversal {txn_id} does not exactly undo line {p['reverses']!r}")
            reversed_lines.add(p["reverses"])


def _check_line_key_table(services: Services, report: VerifyReport, line_keys: dict[str, tuple[str, int]]) -> None:
    recorded = set(services.ledger.recorder.select_line_keys())  # type: ignore[attr-defined]
    if recorded != set(line_keys):
        missing, extra = set(line_keys) - recorded, recorded - set(line_keys)
        report.add(
            3,
            f"the paid line keys table differs from the log: {len(missing)} key(s) missing "
            f"(e.g. {sorted(missing)[:_EXAMPLES]}), {len(extra)} extra (e.g. {sorted(extra)[:_EXAMPLES]})",
        )


def _check_balances(services: Services, report: VerifyReport, accounts: dict[str, _Account]) -> None:
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
        _compare_tables(report, f.name, services.db, scratch.db, proj.tables)
