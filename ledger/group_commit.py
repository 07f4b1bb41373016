"""Group commit for ``Ledger.post``: debits that arrive while a transaction is in flight share
the next one.

On PostgreSQL every insert transaction takes the events table's EXCLUSIVE lock, so the rate of
single-posting saves is bounded by transactions per second, however many clients wait. A
committer thread takes whatever posts are queued and saves them in one ``Application.save``:
the same ``LedgerTransaction.Recorded`` events (each with its own key, so its own id), the same
aggregates saved alongside, and the volunteers' balance deltas summed per account for the
write-time guard.

Only volunteer debits are grouped (each request's guarded deltas are all negative): the sum of
a batch's debits on an account can only pass the guard if every running balance in log order
stays at or above zero, so invariant 1 holds event by event. Anything else, a batch of one, and
every request of a batch whose save was refused (a guard violation, a repeated key, a version
conflict on something saved alongside) go through ``Ledger.post`` one by one, which gives each
request exactly the answer it would have had on its own.
"""

from __future__ import annotations

import queue
import threading
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from ledger import rules
from ledger.accounts import Posting
from ledger.application import Ledger, PostingResult
from ledger.domain import LedgerTransaction
from ledger.errors import InvalidRequest
from ledger.store.common import BalanceGuardViolation

BATCH_MAX = 200


@dataclass
class _Post:
    key: str
    kind: str
    postings: Sequence[Posting]
    options: dict[str, Any]
    future: Future[PostingResult] = field(default_factory=Future)


def _merged(parts: Sequence[Sequence[tuple[str, int]]]) -> list[tuple[str, int]]:
    total: dict[str, int] = defaultdict(int)
    for deltas in parts:
        for account, delta in deltas:
            total[account] += delta
    return sorted((a, d) for a, d in total.items() if d)


def take_batch(q: "queue.Queue[Any]", limit: int) -> list[Any] | None:
    """Wait for one piece of work, then take what else is already waiting, up to ``limit``.
    None means stop (a ``None`` on the queue; it is put back for the next reader)."""
    first = q.get()
    if first is None:
        return None
    batch = [first]
    while len(batch) < limit:
        try:
            more = q.get_nowait()
        except queue.Empty:
            break
        if more is None:
            q.put(None)
            break
        batch.append(more)
    return batch


def commit_or_fail(commit: Any, batch: list[Any]) -> None:
    """Run ``commit(batch)``; any failure goes to every request still waiting on it."""
    try:
        commit(batch)
    except BaseException as e:  # noqa: BLE001 - hand any failure to the waiting requests
        for w in batch:
            if not w.future.done():
                w.future.set_exception(e)


class GroupPoster:
    """``post()`` with the signature and answers of ``Ledger.post``."""

    def __init__(self, ledger: Ledger, *, batch_max: int = BATCH_MAX) -> None:
        self.ledger = ledger
        self.batch_max = batch_max
        self._queue: queue.Queue[_Post | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def post(self, key: str, kind: str, postings: Sequence[Posting], **options: Any) -> PostingResult:
        """Raises what ``Ledger.post`` raises."""
        deltas = rules.guarded_deltas(postings)
        if not deltas or any(d >= 0 for _, d in deltas):
            return self.ledger.post(key, kind, postings, **options)
        self._start()
        work = _Post(key, kind, postings, options)
        self._queue.put(work)
        return work.future.result()

    def close(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join(timeout=10)
                self._thread = None

    # ---------------------------------------------------------------- the committer

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="ledger-group-commit", daemon=True)
                    self._thread.start()

    def _loop(self) -> None:
        while (batch := take_batch(self._queue, self.batch_max)) is not None:
            commit_or_fail(self._commit, batch)

    def _transaction(self, w: _Post) -> LedgerTransaction:
        """What ``Ledger.post`` records, checked by the same rules. Raises InvalidRequest."""
        o = w.options
        if not w.key or len(w.key) > 300:
            raise InvalidRequest("an idempotency key of 1 to 300 characters is required")
        rules.check_postings(w.postings)
        minutes = rules.check_minutes(o.get("minutes", 0))
        memo = rules.check_text(o.get("memo", ""), "memo", max_length=500, required=False)
        as_dicts = [p.as_dict() for p in w.postings]
        return LedgerTransaction(
            key=w.key,
            kind=w.kind,
            postings=as_dicts,
            minutes=minutes,
            memo=memo,
            fingerprint=o.get("fingerprint") or rules.fingerprint([w.kind, as_dicts, minutes, memo]),
            actor=o.get("actor", ""),
            unit_id=o.get("unit_id"),
            reverses=o.get("reverses"),
            at=self.ledger.clock.now(),
        )

    def _commit(self, batch: list[_Post]) -> None:
        ready: list[tuple[_Post, LedgerTransaction]] = []
        ids: set[UUID] = set()
        alone: list[_Post] = []
        for w in batch:
            also: Sequence[Any] = w.options.get("also_save", ())
            mine = {LedgerTransaction.create_id(w.key), *(a.id for a in also)}
            if len(batch) == 1 or mine & ids:
                alone.append(w)  # the same key or aggregate twice in one batch: one by one
                continue
            try:
                txn = self._transaction(w)
            except InvalidRequest as e:
                w.future.set_exception(e)
                continue
            ids |= mine
            ready.append((w, txn))
        if len(ready) == 1:
            alone += [w for w, _ in ready]
        elif ready:
            also = [a for w, _ in ready for a in w.options.get("also_save", ())]
            pending = [list(a.pending_events) for a in also]  # a failed save has collected them
            try:
                self.ledger.save(
                    *[x for w, txn in ready for x in (txn, *w.options.get("also_save", ()))],
                    balance_deltas=_merged([rules.guarded_deltas(w.postings) for w, _ in ready]),
                )
            except (BalanceGuardViolation, IntegrityError):
                for a, events in zip(also, pending, strict=True):
                    a.pending_events[:] = events
                alone += [w for w, _ in ready]  # nothing was recorded; each on its own
            else:
                for w, txn in ready:
                    w.future.set_result(PostingResult(txn, replayed=False))
        for w in alone:
            try:
                w.future.set_result(self.ledger.post(w.key, w.kind, w.postings, **w.options))
            except Exception as e:  # noqa: BLE001 - the request's own answer, raised in its thread
                w.future.set_exception(e)
