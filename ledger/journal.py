"""The journal: the one door through which points move.

Every point movement (a scan's credit, a redemption, a payment, a manual credit, a reversal, a
welfare-day chunk, and later expiry) is built here as a ``LedgerTransaction`` (``transaction``:
the only place one is made), guarded here (the volunteers' balance deltas and the paid batch line
keys go to the store with the events, in one transaction) and committed here, by one group
committer for every caller.

Why one committer: on PostgreSQL every insert transaction takes the events table's EXCLUSIVE lock,
so the rate of small saves is bounded by transactions per second however many clients wait. The
committer thread takes whatever work is queued and saves it in one ``Application.save``: each
command keeps its own events (its own keys, so its own ids), and the balance deltas are summed per
account for the write-time guard. Credits are saved before debits within a group, so every
volunteer's running balance in log order goes up, then down to a final figure that the guard
checks: it never dips below zero in between, and invariant 1 holds event by event.

A group whose save is refused (a guard violation, a key or version already recorded, a paid line
key) leaves nothing behind; each of its commands is then saved on its own, which gives each the
answer it would have had alone. Work touching an aggregate that another piece of the same group
touches is saved on its own too.

Callers see domain errors only: ``InsufficientPoints``, ``IdempotencyConflict``,
``ConcurrentChange`` (decide again from a fresh load), ``LineKeyPaid``.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from ledger import positions, rules
from ledger.accounts import Posting
from ledger.clock import Clock
from ledger.domain import LedgerTransaction
from ledger.postings import PostingRow, rows_of
from ledger.errors import ConcurrencyExhausted, ConcurrentChange, IdempotencyConflict, InsufficientPoints, InvalidRequest, LineKeyPaid
from ledger.store.common import BalanceGuardViolation, LineKeyConflict

DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")
GROUP_MAX = 500  # commands per store transaction
ATTEMPTS = 40  # decisions per command before ConcurrencyExhausted
MAX_KEY = 300


class Store(Protocol):
    """What the journal needs of the application: its save (with the write-time options), its
    repository and its clock."""

    clock: Clock
    repository: Any

    def save(self, *objs: Any, **kwargs: Any) -> Any: ...


def attempts(what: str = "changes") -> Iterator[int]:
    """The one retry policy of optimistic concurrency: a command that lost a race (a version, a
    stock, a seat) reloads and decides again, a little later each time (jitter, so that the
    losers of one race do not meet again), up to ``ATTEMPTS`` times."""
    for attempt in range(ATTEMPTS):
        if attempt > 1:
            time.sleep(random.uniform(0, min(0.05, 0.002 * attempt)))  # noqa: S311 - jitter, not security
        yield attempt
    raise ConcurrencyExhausted(f"too many concurrent {what}; try again")


@dataclass(frozen=True)
class Movement:
    """Points that move together, once per key.

    ``details``: per posting, extra fields stored with it (a batch line's number, key, minutes,
    memo). ``paid_line_keys``: batch line keys this movement pays, each at most once in the store.
    """

    key: str
    kind: str
    postings: Sequence[Posting]
    minutes: int = 0
    memo: str = ""
    fingerprint: str = ""
    actor: str = ""
    unit_id: UUID | None = None
    reverses: UUID | None = None
    details: Sequence[Mapping[str, Any]] | None = None
    paid_line_keys: Sequence[str] = ()


@dataclass(frozen=True)
class PostingResult:
    transaction: LedgerTransaction
    replayed: bool  # True when the key had been used before with the same request


@dataclass
class Recorded:
    """A built transaction and what the store writes and checks with it."""

    transaction: LedgerTransaction
    deltas: list[tuple[str, int]]
    line_keys: list[tuple[str, UUID]]
    rows: list[PostingRow]


def merged(parts: Sequence[Sequence[tuple[str, int]]]) -> list[tuple[str, int]]:
    """One delta per account, sorted (concurrent writers touch guard rows in the same order)."""
    total: dict[str, int] = defaultdict(int)
    for deltas in parts:
        for account, delta in deltas:
            total[account] += delta
    return sorted((a, d) for a, d in total.items() if d)


@dataclass
class _Work:
    events: list[Any]
    deltas: list[tuple[str, int]]
    line_keys: list[tuple[str, UUID]]
    rows: list[PostingRow]
    prepare: Callable[[], Sequence[Any]] | None = None  # late events, made just before the save
    undo: Callable[[], None] | None = None  # the save failed: give back what prepare took
    future: Future[int] = field(default_factory=Future)  # the log position of the save
    late: "_Work | None" = None  # what prepare made

    def add(self, items: Sequence[Any]) -> "_Work":
        """Collect the items' events once (a retry saves the same events again), and what the
        built transactions among them bring."""
        parts = [self.deltas]
        for item in items:
            if isinstance(item, Recorded):
                parts.append(item.deltas)
                self.line_keys += item.line_keys
                self.rows += item.rows
                item = item.transaction
            collect = getattr(item, "collect_events", None)
            self.events += collect() if collect is not None else [item]
        self.deltas = merged(parts)
        return self

    @property
    def debits(self) -> bool:
        return any(d < 0 for _, d in self.deltas)

    def whole(self, late: Sequence[Any]) -> "_Work":
        """This work with the items ``prepare`` made."""
        if not late:
            return self
        return _Work(list(self.events), list(self.deltas), list(self.line_keys), list(self.rows)).add(late)

    def ids(self) -> set[UUID]:
        return {e.originator_id for e in self.events}


class Journal:
    """The point-movement path of one ledger. Each method's docstring lists what it raises."""

    def __init__(self, store: Store, *, zone: ZoneInfo = DEFAULT_ZONE, group_max: int = GROUP_MAX) -> None:
        self.store = store
        self.zone = zone  # where a posting's local day is cut
        self.group_max = group_max
        self._queue: queue.Queue[_Work | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Observers of every save that reaches the store (tests prove no movement goes around).
        self.on_save: list[Callable[[list[Any]], None]] = []

    # ---------------------------------------------------------------- building

    def transaction(self, movement: Movement, *, at: datetime | None = None) -> Recorded:
        """The ledger transaction of a movement, checked by the posting rules. ``at``: when it
        happened, for a bulk fill of the past (benchmarks); else the clock's now.
        Raises InvalidRequest, InvalidAmount."""
        m = movement
        if not m.key or len(m.key) > MAX_KEY:
            raise InvalidRequest(f"an idempotency key of 1 to {MAX_KEY} characters is required")
        rules.check_postings(m.postings)
        minutes = rules.check_minutes(m.minutes)
        memo = rules.check_text(m.memo, "memo", max_length=500, required=False)
        stored = [p.as_dict() for p in m.postings]
        if m.details is not None:
            stored = [{**p, **d} for p, d in zip(stored, m.details, strict=True)]
        txn = LedgerTransaction(
            key=m.key,
            kind=m.kind,
            postings=stored,
            minutes=minutes,
            memo=memo,
            fingerprint=m.fingerprint or rules.fingerprint([m.kind, stored, minutes, memo]),
            actor=m.actor,
            unit_id=m.unit_id,
            reverses=m.reverses,
            at=at or self.store.clock.now(),
        )
        rows = rows_of(txn.id, {**txn.__dict__, "postings": stored}, self.zone)
        return Recorded(txn, rules.guarded_deltas(m.postings), [(k, txn.id) for k in m.paid_line_keys], rows)

    # ---------------------------------------------------------------- recording

    def post(self, movement: Movement, *, also_save: Sequence[Any] = (), grouped: bool = True) -> PostingResult:
        """Record a movement once per key, with aggregates that commit or fail with it.

        Raises InvalidRequest/InvalidAmount (rules), InsufficientPoints (a volunteer would go
        below zero), IdempotencyConflict (the key was used for a different request),
        ConcurrentChange (an aggregate saved alongside changed meanwhile: decide again),
        LineKeyPaid (a batch line key was paid meanwhile).
        """
        recorded = self.transaction(movement)
        txn = recorded.transaction
        try:
            self.commit(recorded, *also_save, grouped=grouped)
        except ConcurrentChange:
            return self._replay(txn)
        return PostingResult(txn, replayed=False)

    def _replay(self, attempted: LedgerTransaction) -> PostingResult:
        try:
            first = self.store.repository.get(attempted.id)
        except AggregateNotFoundError:
            raise ConcurrentChange("something this request changes was changed by another request") from None
        if first.fingerprint != attempted.fingerprint:
            raise IdempotencyConflict("this idempotency key was already used for a different request", key=attempted.key)
        return PostingResult(first, replayed=True)

    def commit(
        self,
        *items: Any,
        prepare: Callable[[], Sequence[Any]] | None = None,
        undo: Callable[[], None] | None = None,
        grouped: bool = True,
    ) -> None:
        """Save in one store transaction: built transactions (``Recorded``, with their guarded
        deltas, paid line keys and posting rows) and aggregates (or events), sharing the
        transaction with whatever else is waiting when ``grouped``. ``prepare`` makes items at
        the last moment in the committer (a seat number), ``undo`` gives back what it took when
        the save fails.

        Raises ConcurrentChange (a version or key was recorded meanwhile), InsufficientPoints,
        LineKeyPaid, and what ``prepare`` raises.
        """
        work = _Work([], [], [], [], prepare, undo)
        work.add(items)
        if grouped:
            self._start()
            self._queue.put(work)
            position = work.future.result()  # saved by the committer thread, on this caller's behalf
        else:
            position = self._alone(work)
        # read-your-writes: where this caller's movement is in the log, and whose accounts it moved
        positions.note(position, (f"{k}:{i.hex}" for r in work.rows for k, i in ((r.source_kind, r.source_id), (r.destination_kind, r.destination_id))))

    def close(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join(timeout=10)
                self._thread = None

    # ---------------------------------------------------------------- the store

    def _save(
        self, events: list[Any], deltas: list[tuple[str, int]], line_keys: list[tuple[str, UUID]], rows: list[PostingRow]
    ) -> int:
        """The one call that hands point movements to the store; returns the notification id of
        the last event recorded. Raises ConcurrentChange, InsufficientPoints, LineKeyPaid."""
        try:
            recordings = self.store.save(*events, balance_deltas=deltas, line_keys=line_keys, postings=rows)
        except BalanceGuardViolation as e:
            raise InsufficientPoints("not enough points", accounts=e.accounts) from None
        except LineKeyConflict:
            raise LineKeyPaid("a batch line key was paid meanwhile") from None
        except IntegrityError:
            raise ConcurrentChange("recorded meanwhile by another request") from None
        for observe in self.on_save:
            observe(events)
        return positions.last_of(recordings or ())

    def _alone(self, work: _Work) -> int:
        whole = work.whole(work.prepare() if work.prepare is not None else ())
        try:
            return self._save(whole.events, whole.deltas, whole.line_keys, whole.rows)
        except (ConcurrentChange, InsufficientPoints, LineKeyPaid):
            if work.undo is not None:
                work.undo()
            raise

    # ---------------------------------------------------------------- the committer

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="journal-committer", daemon=True)
                    self._thread.start()

    def _loop(self) -> None:
        while (batch := self._take()) is not None:
            try:
                self._commit(batch)
            except BaseException as e:  # noqa: BLE001 - hand any failure to the waiting commands
                for w in batch:
                    if not w.future.done():
                        w.future.set_exception(e)

    def _take(self) -> list[_Work] | None:
        """Wait for one piece of work, then take what else is already waiting. None: stop."""
        first = self._queue.get()
        if first is None:
            return None
        batch = [first]
        while len(batch) < self.group_max:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                self._queue.put(None)
                break
            batch.append(more)
        return batch

    def _commit(self, batch: list[_Work]) -> None:
        group: list[_Work] = []
        alone: list[_Work] = []
        ids: set[UUID] = set()
        for w in batch:
            mine = w.ids()
            if len(batch) == 1 or mine & ids:
                alone.append(w)
                continue
            try:
                w.late = w.whole(w.prepare() if w.prepare is not None else ())
            except Exception as e:  # noqa: BLE001 - the command's own refusal (e.g. ActivityFull)
                w.future.set_exception(e)
                continue
            ids |= mine
            group.append(w)
        if len(group) == 1:
            w = group[0]
            if w.undo is not None:
                w.undo()
            alone.insert(0, w)
        elif group:
            wholes = sorted((w.late or w for w in group), key=lambda w: w.debits)  # credits first: no running balance dips below zero
            try:
                position = self._save(
                    [e for w in wholes for e in w.events],
                    merged([w.deltas for w in wholes]),
                    [k for w in wholes for k in w.line_keys],
                    [r for w in wholes for r in w.rows],
                )
            except (ConcurrentChange, InsufficientPoints, LineKeyPaid):
                for w in reversed(group):
                    if w.undo is not None:
                        w.undo()
                alone = group + alone  # nothing was recorded; each on its own
            else:
                for w in group:
                    w.future.set_result(position)
        for w in alone:
            try:
                position = self._alone(w)
            except Exception as e:  # noqa: BLE001 - the command's own answer, raised in its thread
                w.future.set_exception(e)
            else:
                w.future.set_result(position)
