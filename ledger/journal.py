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

Lots (``ledger.lots``): every credit posting to a volunteer opens a lot (its expiry by the issuing
unit's policy, asked of the ledger and cached here for ``POLICY_SECONDS``); every debit posting from
a volunteer draws from the volunteer's open lots, soonest expiry first, then oldest; a reversal gives
back to the lots its original drew from (straight on to expiry for a lot whose last day has passed).
All of it is decided here, at write time, on the lots as read with the account's lot version, and
stored in the postings' own fields. The store checks, in the save's transaction, that each version
decided on is still current; if not, the save is refused (``LotsChanged``) and this journal decides
those movements again from fresh lots, keeping the other items' events: callers never see it.
Within a group, work that checks a volunteer's lots never shares the save with other work touching
that volunteer's lots (they would be decided on the same view).

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
from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from ledger import positions, rules
from ledger.accounts import Posting, expired_account, is_volunteer
from ledger.clock import Clock
from ledger.domain import LedgerTransaction
from ledger.lots import rules as lot_rules
from ledger.lots.model import LotWrites, View, expiry_key, fifo, issuing_unit_of, lot_id, writes_of
from ledger.postings import PostingRow, rows_of
from ledger.errors import ConcurrencyExhausted, ConcurrentChange, IdempotencyConflict, InsufficientPoints, InvalidRequest, LineKeyPaid
from ledger.store.common import BalanceGuardViolation, LineKeyConflict, LotsChanged

DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")
GROUP_MAX = 500  # commands per store transaction
ATTEMPTS = 40  # decisions per command before ConcurrencyExhausted
MAX_KEY = 300
POLICY_SECONDS = 1.0  # how long a process keeps a unit's effective expiry policy


class Store(Protocol):
    """What the journal needs of the application: its save (with the write-time options), its
    repository, its recorder (the volunteers' lots are read from it) and its clock."""

    clock: Clock
    repository: Any
    recorder: Any

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
    ``lot``: an expiry of this one lot: its debit posting takes all that is left of the lot
    (decided, like any drawing, on the lots as read; nothing left: nothing is recorded).
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
    lot: str | None = None


@dataclass(frozen=True)
class PostingResult:
    transaction: LedgerTransaction
    replayed: bool  # True when the key had been used before with the same request


@dataclass
class Recorded:
    """A built transaction and what the store writes and checks with it. When the lots it was
    decided on changed before the save, the journal decides it again in place (``movement``);
    ``dropped``: an expiry that found nothing left to expire records nothing."""

    transaction: LedgerTransaction
    deltas: list[tuple[str, int]]
    line_keys: list[tuple[str, UUID]]
    rows: list[PostingRow]
    lots: LotWrites = field(default_factory=LotWrites)
    movement: Movement | None = None
    events: list[Any] | None = None  # the transaction's events, collected once
    dropped: bool = False

    def take_events(self) -> list[Any]:
        if self.events is None:
            self.events = [] if self.dropped else list(self.transaction.collect_events())
        return self.events


def merged(parts: Sequence[Sequence[tuple[str, int]]]) -> list[tuple[str, int]]:
    """One delta per account, sorted (concurrent writers touch guard rows in the same order)."""
    total: dict[str, int] = defaultdict(int)
    for deltas in parts:
        for account, delta in deltas:
            total[account] += delta
    return sorted((a, d) for a, d in total.items() if d)


@dataclass
class _Work:
    parts: list[Any] = field(default_factory=list)  # built transactions (Recorded), and other items' events
    prepare: Callable[[], Sequence[Any]] | None = None  # late events, made just before the save
    undo: Callable[[], None] | None = None  # the save failed: give back what prepare took
    future: Future[int] = field(default_factory=Future)  # the log position of the save
    late: "_Work | None" = None  # what prepare made

    def add(self, items: Sequence[Any]) -> "_Work":
        """Collect the items' events once (a retry saves the same events again); a built
        transaction stays whole, so that it can be decided again."""
        for item in items:
            if isinstance(item, Recorded):
                item.take_events()
                self.parts.append(item)
            else:
                collect = getattr(item, "collect_events", None)
                self.parts.append(list(collect()) if collect is not None else [item])
        return self

    @property
    def recorded(self) -> list[Recorded]:
        return [p for p in self.parts if isinstance(p, Recorded) and not p.dropped]

    @property
    def events(self) -> list[Any]:
        return [e for p in self.parts for e in (p.take_events() if isinstance(p, Recorded) else p)]

    @property
    def deltas(self) -> list[tuple[str, int]]:
        return merged([r.deltas for r in self.recorded])

    @property
    def line_keys(self) -> list[tuple[str, UUID]]:
        return [k for r in self.recorded for k in r.line_keys]

    @property
    def rows(self) -> list[PostingRow]:
        return [row for r in self.recorded for row in r.rows]

    @property
    def lots(self) -> LotWrites:
        out = LotWrites()
        for r in self.recorded:
            out.add(r.lots)
        return out

    @property
    def debits(self) -> bool:
        return any(d < 0 for _, d in self.deltas)

    def whole(self, late: Sequence[Any]) -> "_Work":
        """This work with the items ``prepare`` made."""
        if not late:
            return self
        return _Work(list(self.parts)).add(late)

    def ids(self) -> set[UUID]:
        return {e.originator_id for e in self.events}


def _take(views: dict[str, View], accounts: Mapping[str, int], drawings: Sequence[Any]) -> None:
    """A drawing decided on these views, taken out of them (the next decision draws after it)."""
    drawn: dict[str, int] = defaultdict(int)
    for d in drawings:
        drawn[d.lot] += d.amount
    for account in accounts:
        view = views[account]
        view.lots = [lot._replace(remaining=lot.remaining - drawn.get(lot.lot, 0)) for lot in view.lots]
        view.lots = [lot for lot in view.lots if lot.remaining > 0]


class Journal:
    """The point-movement path of one ledger. Each method's docstring lists what it raises."""

    def __init__(self, store: Store, *, zone: ZoneInfo = DEFAULT_ZONE, group_max: int = GROUP_MAX) -> None:
        self.store = store
        self.zone = zone  # where a posting's local day and a lot's last day are cut
        self.group_max = group_max
        self._policies: dict[UUID, tuple[lot_rules.Policy, float]] = {}
        self._queue: queue.Queue[_Work | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Observers of every save that reaches the store (tests prove no movement goes around).
        self.on_save: list[Callable[[list[Any]], None]] = []

    # ---------------------------------------------------------------- building

    def transaction(self, movement: Movement, *, at: datetime | None = None, views: dict[str, View] | None = None) -> Recorded:
        """The ledger transaction of a movement, checked by the posting rules, with its lots
        decided (``views``: volunteers' lots as read, shared by movements decided together;
        else read here). ``at``: when it happened, for a bulk fill of the past (benchmarks);
        else the clock's now. Raises InvalidRequest, InvalidAmount."""
        m = movement
        if not m.key or len(m.key) > MAX_KEY:
            raise InvalidRequest(f"an idempotency key of 1 to {MAX_KEY} characters is required")
        rules.check_postings(m.postings)
        minutes = rules.check_minutes(m.minutes)
        memo = rules.check_text(m.memo, "memo", max_length=500, required=False)
        stored = [p.as_dict() for p in m.postings]
        if m.details is not None:
            stored = [{**p, **d} for p, d in zip(stored, m.details, strict=True)]
        fingerprint = m.fingerprint or rules.fingerprint([m.kind, stored, minutes, memo])  # the request, not its drawing
        at = at or self.store.clock.now()
        txn_id = LedgerTransaction.create_id(m.key)
        decided = self._decide(m, txn_id, stored, at, views)
        if decided is None:  # an expiry with nothing left to expire
            return Recorded(None, [], [], [], movement=m, dropped=True)  # type: ignore[arg-type]
        stored, checks, tails = decided
        txn = LedgerTransaction(
            key=m.key,
            kind=m.kind,
            postings=stored,
            minutes=minutes,
            memo=memo,
            fingerprint=fingerprint,
            actor=m.actor,
            unit_id=m.unit_id,
            reverses=m.reverses,
            at=at,
        )
        rows = rows_of(txn.id, {**txn.__dict__, "postings": stored}, self.zone)
        lots = writes_of(txn.id, stored)
        lots.checks, lots.tails = checks, tails
        deltas = rules.guarded_deltas([Posting.from_dict(p) for p in stored])
        return Recorded(txn, deltas, [(k, txn.id) for k in m.paid_line_keys], rows, lots, m)

    def transactions(self, movements: Sequence[Movement], *, at: datetime | None = None) -> list[Recorded]:
        """Movements decided together on one read of their volunteers' lots (an expiry run's
        chunk), each drawing after the ones before it."""
        accounts = sorted({p.source for m in movements for p in m.postings if is_volunteer(p.source)})
        only = [m.lot for m in movements if m.lot is not None]
        views = self.views(accounts, only if len(only) == len(movements) else None)
        return [self.transaction(m, at=at, views=views) for m in movements]

    def views(self, accounts: Sequence[str], lots: Sequence[str] | None = None) -> dict[str, View]:
        """Volunteers' open lots (only these ``lots``, for expiries: a volunteer may hold
        thousands), as read now, with their accounts' lot versions."""
        if not accounts:
            return {}
        return self.store.recorder.select_lot_views(list(accounts), lots)  # type: ignore[attr-defined,no-any-return]

    def policy(self, unit_id: UUID) -> lot_rules.Policy:
        """The effective expiry policy of an issuing unit, as the ledger says, kept for
        ``POLICY_SECONDS`` (so a change reaches every process within a second)."""
        now = time.monotonic()
        hit = self._policies.get(unit_id)
        if hit is not None and now - hit[1] < POLICY_SECONDS:
            return hit[0]
        ask = getattr(self.store, "effective_expiry_policy", None)
        policy = ask(unit_id) if ask is not None else lot_rules.NEVER_POLICY
        self._policies[unit_id] = (policy, now)
        return policy

    def forget_policies(self) -> None:
        self._policies.clear()

    def _decide(
        self, m: Movement, txn_id: UUID, stored: list[dict[str, Any]], at: datetime, views: dict[str, View] | None
    ) -> tuple[list[dict[str, Any]], dict[str, int], dict[str, tuple[bool, date] | None]] | None:
        """The postings with their lots: ``opens`` on a credit to a volunteer, ``draws`` on a debit
        from one, ``restores`` on a reversal's posting back to one (the original posting's
        drawing), plus, per issuing unit, one posting straight on to its expired account for the
        lots given back after their last day. And the lot version of each account drawn from."""
        if not any(is_volunteer(p["source"]) or is_volunteer(p["destination"]) for p in stored):
            return stored, {}, {}
        out = [dict(p) for p in stored]
        debtors = sorted({p["source"] for p in out if is_volunteer(p["source"])})
        if views is None:
            views = self.views(debtors)
        elif missing := [a for a in debtors if a not in views]:
            views.update(self.views(missing))
        original = self._original_postings(m.reverses) if m.reverses is not None else []
        checks: dict[str, int] = {}
        tails: dict[str, tuple[bool, date] | None] = {}
        lapsed: dict[tuple[str, str], list[list[Any]]] = {}
        for seq, p in enumerate(out):
            source, destination = p["source"], p["destination"]
            if is_volunteer(destination):
                before = original[seq] if seq < len(original) else None
                if before is not None and before["source"] == destination and before["destination"] == source and "draws" in before:
                    p["restores"] = [list(d) for d in before["draws"]]
                    ends = self.store.recorder.select_lots_by_id([d[0] for d in before["draws"]])  # type: ignore[attr-defined]
                    for lot, unit, amount in before["draws"]:
                        if lot in ends and lot_rules.is_expired(ends[lot].expires_on, at, self.zone):
                            lapsed.setdefault((destination, unit), []).append([lot, unit, amount])
                elif before is not None and before["source"] == destination and before["destination"] == source:
                    # gives back a debit of before lots (no drawing): such points never lapse and
                    # their lot is funded by the volunteer's home unit (ledger.lots.legacy)
                    unit = self._home_unit(destination) or issuing_unit_of(p, m.unit_id)
                    p["opens"] = {"lot": lot_id(txn_id, seq), "unit": unit.hex, "expires_on": None}
                else:
                    unit = issuing_unit_of(p, m.unit_id)
                    last = lot_rules.last_day(self.policy(unit), at, self.zone)
                    p["opens"] = {"lot": lot_id(txn_id, seq), "unit": unit.hex, "expires_on": last.isoformat() if last else None}
            if is_volunteer(source):
                view = views[source]
                checks[source] = view.version
                if m.lot is None:
                    order_keys = {lot.lot: expiry_key(lot.expires_on) for lot in view.lots}
                    p["draws"] = fifo(view, int(p["amount"]))
                    short = sum(d[2] for d in p["draws"]) < int(p["amount"])
                    tail = order_keys[p["draws"][-1][0]] if p["draws"] else (False, date.min)
                    tails[source] = None if short or tails.get(source, tail) is None else max(tails.get(source, tail), tail)  # type: ignore[type-var]
                    continue
                tails.setdefault(source, (False, date.min))  # one lot, all that is left: no FIFO
                found = next((lot for lot in view.lots if lot.lot == m.lot and lot.remaining), None)
                if found is None:
                    return None
                view.lots.remove(found)
                p["amount"] = found.remaining
                p["draws"] = [[found.lot, found.unit_id.hex, found.remaining]]
        for (volunteer, unit), draws in lapsed.items():
            out.append({"source": volunteer, "destination": expired_account(UUID(unit)), "amount": sum(d[2] for d in draws), "draws": draws})
        return out, checks, tails

    def _home_unit(self, account: str) -> UUID | None:
        get = getattr(self.store, "get_volunteer", None)
        return get(UUID(hex=account.partition(":")[2])).unit_id if get is not None else None

    def _original_postings(self, transaction_id: UUID) -> list[dict[str, Any]]:
        try:
            original = self.store.repository.get(transaction_id)
        except AggregateNotFoundError:
            return []
        return list(getattr(original, "postings_data", []))

    def _decide_again(self, work: _Work) -> None:
        """The work's movements that drew on lots, decided again from fresh lots (in place)."""
        again = [r for r in work.parts if isinstance(r, Recorded) and not r.dropped and r.lots.checks]
        only = [r.movement.lot for r in again if r.movement is not None and r.movement.lot is not None]
        views = self.views(sorted({a for r in again for a in r.lots.checks}), only if len(only) == len(again) else None)
        for r in again:
            assert r.movement is not None
            fresh = self.transaction(r.movement, at=r.transaction.at, views=views)
            r.transaction, r.deltas, r.line_keys, r.rows, r.lots, r.dropped = (
                fresh.transaction, fresh.deltas, fresh.line_keys, fresh.rows, fresh.lots, fresh.dropped,
            )
            r.events = None
            r.take_events()

    # ---------------------------------------------------------------- recording

    def post(self, movement: Movement, *, also_save: Sequence[Any] = (), grouped: bool = True) -> PostingResult:
        """Record a movement once per key, with aggregates that commit or fail with it.

        Raises InvalidRequest/InvalidAmount (rules), InsufficientPoints (a volunteer would go
        below zero), IdempotencyConflict (the key was used for a different request),
        ConcurrentChange (an aggregate saved alongside changed meanwhile: decide again),
        LineKeyPaid (a batch line key was paid meanwhile).
        """
        recorded = self.transaction(movement)
        if recorded.dropped:
            raise InsufficientPoints("nothing left to move")
        try:
            self.commit(recorded, *also_save, grouped=grouped)
        except ConcurrentChange:
            return self._replay(recorded.transaction)
        if recorded.dropped:
            raise InsufficientPoints("nothing left to move")
        return PostingResult(recorded.transaction, replayed=False)

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
        work = _Work([], prepare, undo)
        work.add(items)
        if grouped:
            self._start()
            self._queue.put(work)
            position = work.future.result()  # saved by the committer thread, on this caller's behalf
        else:
            position = self._alone(work)
        # read-your-writes: where this caller's movement is in the log, and whose accounts it moved
        positions.note(position, (f"{k}:{i.hex}" for r in work.rows for k, i in ((r.source_kind, r.source_id), (r.destination_kind, r.destination_id))))

    def recorded_by_store(self, events: Callable[[], list[Any]]) -> None:
        """A movement the store built and recorded itself, in one transaction of its own (a
        welfare-day chunk on PostgreSQL: ``ledger.batches.setbased_pg``): its events, as recorded,
        go to the observers of every save like any other save's (read only when observed)."""
        if self.on_save:
            recorded = events()
            for observe in self.on_save:
                observe(recorded)

    def close(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join(timeout=10)
                self._thread = None

    # ---------------------------------------------------------------- the store

    def _save(
        self,
        events: list[Any],
        deltas: list[tuple[str, int]],
        line_keys: list[tuple[str, UUID]],
        rows: list[PostingRow],
        lots: LotWrites | None = None,
    ) -> int:
        """The one call that hands point movements to the store; returns the notification id of
        the last event recorded. Raises ConcurrentChange, InsufficientPoints, LineKeyPaid,
        LotsChanged (decide those movements again)."""
        if not events:
            return 0
        try:
            recordings = self.store.save(*events, balance_deltas=deltas, line_keys=line_keys, postings=rows, lots=lots or None)
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
            for _ in attempts("changes to the same points"):
                try:
                    return self._save(whole.events, whole.deltas, whole.line_keys, whole.rows, whole.lots)
                except LotsChanged:
                    self._decide_again(whole)
            raise AssertionError("unreachable")
        except (ConcurrentChange, InsufficientPoints, LineKeyPaid, ConcurrencyExhausted):
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

    def _decide_together(self, works: Sequence[_Work]) -> set[int]:
        """The FIFO drawings of a batch's pieces, decided again here on one read of their
        volunteers' lots, each after the ones before it (as ``transactions`` does): decisions made
        in the callers' threads on the same lots, or before the last group moved them, would each
        have to be saved alone, one transaction at a time (a hot volunteer paying at many tills).
        Returns the pieces so decided (by id): they share a save whatever their lots."""
        drawers = [
            (w, r) for w in works if w.prepare is None for r in w.parts
            if isinstance(r, Recorded) and not r.dropped and r.lots.checks and r.movement is not None and r.movement.lot is None
        ]
        if len(drawers) < 2:
            return set()
        views = self.views(sorted({a for _, r in drawers for a in r.lots.checks}))
        shared: set[str] = set()
        for _, r in drawers:
            assert r.movement is not None
            checks = r.lots.checks
            current = not checks.keys() & shared and all(views[a].version == v for a, v in checks.items())
            shared |= checks.keys()
            if current and all(d.amount > 0 for d in r.lots.drawings):
                _take(views, checks, r.lots.drawings)  # decided on these very lots: kept, and drawn from the view
                continue
            fresh = self.transaction(r.movement, at=r.transaction.at, views=views)
            r.transaction, r.deltas, r.line_keys, r.rows, r.lots, r.dropped = (
                fresh.transaction, fresh.deltas, fresh.line_keys, fresh.rows, fresh.lots, fresh.dropped,
            )
            r.events = None
            r.take_events()
        return {id(w) for w, _ in drawers}

    def _commit(self, batch: list[_Work]) -> None:
        group: list[_Work] = []
        alone: list[_Work] = []
        ids: set[UUID] = set()
        group_lots = LotWrites()  # what the group's pieces decided on and change of volunteers' lots
        apart_lots = LotWrites()  # the same, of the group's pieces not decided together
        together = self._decide_together(batch) if len(batch) > 1 else set()
        for w in batch:
            mine = w.ids()
            lots = w.lots
            if len(batch) == 1 or mine & ids or not lots.fits_beside(apart_lots if id(w) in together else group_lots):
                if id(w) in together:
                    self._decide_again(w)  # it was decided after pieces that this save will not hold
                alone.append(w)
                continue
            try:
                w.late = w.whole(w.prepare() if w.prepare is not None else ())
            except Exception as e:  # noqa: BLE001 - the command's own refusal (e.g. ActivityFull)
                w.future.set_exception(e)
                continue
            ids |= mine
            group_lots.add(lots)
            if id(w) not in together:
                apart_lots.add(lots)
            group.append(w)
        if together and any(id(w) in together for w in alone):
            # Some were decided after pieces now saved apart: those left decided again, among themselves.
            members = [w for w in group if id(w) in together]
            self._decide_together(members)
            if len(members) == 1 or not all(w.lots.fits_beside(apart_lots) for w in members):
                for w in members:
                    group.remove(w)
                    self._decide_again(w)
                    alone.append(w)
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
                    LotWrites().add_all(w.lots for w in wholes),
                )
            except (ConcurrentChange, InsufficientPoints, LineKeyPaid, LotsChanged):
                for w in reversed(group):
                    if w.undo is not None:
                        w.undo()
                    if id(w) in together:
                        self._decide_again(w)  # decided after others that are now saved on their own
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
