"""Running welfare-day batches: upload (spool + check), run chunk by chunk, resume, reverse.

The write path (why it is fast and exactly-once):
- one ``LedgerTransaction.Recorded`` per chunk of lines (not one aggregate per line), saved in
  ONE store transaction with the batch's ``ChunkPosted`` event, the credited volunteers' balance
  deltas (the guard table, applied in bulk) and the chunk's paid line keys (a keyed table);
- credits need no read of a balance; volunteers and member numbers are looked up in bulk (their
  events by primary key, one query per chunk; a member number's owner never changes, so it is cached);
- a killed run resumes at the first chunk the batch did not record; a second runner of the same
  batch conflicts on the batch's version and skips ahead; a line key paid by a concurrent batch
  conflicts on the key table and the chunk is decided again.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.utils import get_topic

from ledger import rules
from ledger.accounts import Posting, issuing_account, volunteer_account
from ledger.application import Ledger
from ledger.batches.files import MEDIA_TYPES, inspect, lines_as_written, records
from ledger.batches.rules import BATCH, BATCH_REVERSAL, CHUNK_LINES, DEFAULT_CAP, Line, Refusal, batch_fingerprint, duplicate_key, paid_key, parse_line, refusal
from ledger.batches import setbased_pg
from ledger.batches.domain import Batch
from ledger.batches.errors import BatchFileMissing, BatchRunning
from ledger.batches.spool import MAX_UPLOAD_BYTES, Spooled, spool
from ledger.domain import LedgerTransaction, MemberNumber, Volunteer
from ledger.errors import ConcurrentChange, IdempotencyConflict, InsufficientPoints, InvalidRequest, LedgerError, LineKeyPaid, NotFound
from ledger.journal import Movement, attempts
from ledger.codec import state_of, uuid_of

log = logging.getLogger(__name__)

_CACHE_MAX = 500_000
STARTED = get_topic(Batch.Started)  # type: ignore[attr-defined]
ENDED = (get_topic(Batch.Finished), get_topic(Batch.Failed))  # type: ignore[attr-defined]
REGISTERED = get_topic(Volunteer.Registered)  # type: ignore[attr-defined]
MOVED = get_topic(Volunteer.Moved)  # type: ignore[attr-defined]
CLAIMED = get_topic(MemberNumber.Claimed)  # type: ignore[attr-defined]


@dataclass
class Submitted:
    batch: Batch
    created: bool  # False: the same upload was made before (the first batch is returned)


@dataclass
class ReversalResult:
    batch: Batch
    reversed_lines: list[int] = field(default_factory=list)
    points: int = 0
    refused: list[Refusal] = field(default_factory=list)
    transactions: list[UUID] = field(default_factory=list)


@dataclass
class _Decision:
    postings: list[Posting]
    details: list[dict[str, Any]]  # per posting: its line, key, minutes and memo
    minutes: int
    refused: list[Refusal]

    @property
    def points(self) -> int:
        return sum(p.amount for p in self.postings)


@dataclass
class _Prepared:
    lines: list[Line]
    refused: list[Refusal]  # by the rules of the line alone (and duplicates)
    decision: _Decision


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


class BatchService:
    def __init__(self, ledger: Ledger, spool_dir: Path, *, chunk_lines: int = CHUNK_LINES, sync_lines: int = 1000) -> None:
        self.ledger = ledger
        self.spool_dir = Path(spool_dir)
        self.chunk_lines = chunk_lines
        self.sync_lines = sync_lines  # the API runs batches this small before it answers
        self.throttle = 0.0  # seconds between chunks, to leave the store to other writers
        # The set-based path (``setbased_pg``) where the store allows it (PostgreSQL); False: the
        # chunk-by-chunk Python path everywhere (tests compare the two).
        self.set_based = True
        # Called after this runner recorded a chunk (batch id, chunk number, credited lines,
        # credited points, refusal codes): how operations count batch lines without the ledger
        # importing them.
        self.on_chunk: Callable[[UUID, int, int, int, list[str]], None] | None = None
        self._members: dict[str, UUID | None] = {}  # a member number names one volunteer for good
        self._lock = threading.Lock()
        self._threads: dict[UUID, threading.Thread] = {}
        self._stop = threading.Event()

    # ------------------------------------------------------------------ upload

    def spool(self, source: Iterable[bytes] | BinaryIO, *, max_bytes: int = MAX_UPLOAD_BYTES) -> Spooled:
        """An upload, kept in this service's spool directory (``ledger.batches.spool``).
        Raises UploadTooLarge."""
        return spool(self.spool_dir, source, max_bytes=max_bytes)

    def spool_file(self, source: Path) -> Spooled:
        with source.open("rb") as f:
            return self.spool(f)

    def submit(
        self,
        spooled: Spooled,
        fmt: str,
        *,
        key: str,
        title: str,
        unit_id: UUID,
        scope: Sequence[UUID] | None,
        actor: str,
        cap: int = DEFAULT_CAP,
    ) -> Submitted:
        """Check the whole file, then record the batch (it runs later: ``run`` or ``start``).

        Raises BadBatchFile, BatchTooLarge, InvalidRequest (title, format), InvalidAmount (cap),
        NotFound (unit), IdempotencyConflict (the key was used for another upload).
        """
        try:
            if fmt not in set(MEDIA_TYPES.values()):
                raise InvalidRequest(f"unknown batch format {fmt!r}")
            title = title.strip()
            if not title or len(title) > 100 or not title.isprintable():
                raise InvalidRequest("a batch title of 1 to 100 printable characters is required")
            rules.check_points(cap)
            self.ledger.get_unit(unit_id)
            fingerprint = batch_fingerprint(unit_id, title, cap, spooled.sha256)
            batch_id = Batch.create_id(key)
            existing = self._find(batch_id)
            if existing is not None:
                return self._same(existing, fingerprint, key)
            encoding, count = inspect(spooled.path, fmt)
            name = f"{batch_id.hex}-{spooled.sha256[:16]}.{fmt}"
            target = self.spool_dir / name
            os.replace(spooled.path, target)
            _fsync_dir(self.spool_dir)
            batch = Batch(
                key=key, title=title, unit_id=unit_id, scope=list(scope) if scope is not None else None, cap=cap,
                source={"file": name, "format": fmt, "encoding": encoding, "sha256": spooled.sha256, "bytes": spooled.size},
                lines_total=count, chunk_lines=self.chunk_lines, fingerprint=fingerprint, actor=actor,
                at=self.ledger.clock.now(),
            )
            try:
                self.ledger.save(batch)
            except IntegrityError:
                return self._same(self.get(batch_id), fingerprint, key)
            return Submitted(batch, created=True)
        finally:
            spooled.path.unlink(missing_ok=True)

    def _same(self, existing: Batch, fingerprint: str, key: str) -> Submitted:
        if existing.fingerprint != fingerprint:
            raise IdempotencyConflict("this batch key was already used for a different upload", key=key)
        return Submitted(existing, created=False)

    def _find(self, batch_id: UUID) -> Batch | None:
        try:
            return self.get(batch_id)
        except NotFound:
            return None

    def get(self, batch_id: UUID) -> Batch:
        """Raises NotFound."""
        return self.ledger.load(Batch, batch_id, "batch")

    def lines_as_written(self, batch: Batch, lines: Iterable[int]) -> tuple[list[str], dict[int, list[str]]] | None:
        """The header of the batch's file and the given lines' cells, as written (``files.lines_as_written``);
        None when this server no longer holds the file as it was uploaded."""
        try:
            path = self._checked_file(batch)
        except BatchFileMissing:
            return None
        return lines_as_written(path, batch.source["format"], batch.source["encoding"], lines)

    # ------------------------------------------------------------------ running

    def run(self, batch_id: UUID, *, progress: Callable[[Batch], None] | None = None) -> Batch:
        """Credit every chunk not yet recorded, then finish. Safe to call again at any time
        (after a crash, from two processes): each chunk is recorded exactly once.

        While chunk k is being written, chunk k+1 is read, checked and looked up in a second
        thread (its database reads overlap the write). Raises NotFound, BatchFileMissing,
        ConcurrencyExhausted.
        """
        batch = self.get(batch_id)
        if batch.done:
            return batch
        path = self._checked_file(batch)
        if self.set_based and setbased_pg.usable(self):
            return setbased_pg.run(self, batch, path, progress)
        seen: set[bytes] = set()
        in_scope: dict[UUID, bool] = {}
        first = batch.chunks_done
        snapshot = batch  # only its fixed attributes (id, unit, scope, cap, file) are read ahead

        def prepare(chunk_no: int, recs: list[tuple[int, dict[str, Any] | None]]) -> _Prepared | None:
            lines, refused = self._parse(recs, snapshot.cap, seen)  # depends on the file only
            if chunk_no < first:
                return None
            return _Prepared(lines, refused, self._decide(snapshot, lines, refused, in_scope))

        source = records(path, batch.source["format"], batch.source["encoding"])
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-ahead") as ahead:
            queued: list[tuple[int, int, Future[_Prepared | None]]] = []
            chunks = enumerate(_chunks(source, batch.chunk_lines))
            while True:
                nxt = next(chunks, None)
                if nxt is not None:
                    queued.append((nxt[0], len(nxt[1]), ahead.submit(prepare, nxt[0], nxt[1])))
                    if len(queued) < 2:
                        continue
                if not queued:
                    break
                chunk_no, n_records, future = queued.pop(0)
                prepared = future.result()
                if prepared is None:
                    continue
                batch = self._post_chunk(batch, chunk_no, n_records, prepared, in_scope)
                if progress is not None:
                    progress(batch)
                if batch.done or self._stop.is_set() or (self.throttle and self._stop.wait(self.throttle)):
                    for _, _, f in queued:
                        f.cancel()
                    return batch
        batch = self.ledger.update(lambda: self.get(batch_id), lambda b: b.finish(at=self.ledger.clock.now()))
        if progress is not None:
            progress(batch)
        return batch

    def _checked_file(self, batch: Batch) -> Path:
        path = self.spool_dir / batch.source["file"]
        if not path.exists():
            raise BatchFileMissing("the batch's file is not in this server's spool directory", file=str(path))
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        if digest.hexdigest() != batch.source["sha256"]:
            raise BatchFileMissing("the batch's spooled file was changed", file=str(path))
        return path

    @staticmethod
    def _parse(recs: list[tuple[int, dict[str, Any] | None]], cap: int, seen: set[bytes]) -> tuple[list[Line], list[Refusal]]:
        lines: list[Line] = []
        refused: list[Refusal] = []
        for number, fields in recs:
            parsed = refusal(number, "malformed_line") if fields is None else parse_line(number, fields, cap=cap)
            if isinstance(parsed, Refusal):
                refused.append(parsed)
                continue
            dup = duplicate_key(parsed)
            if dup in seen:
                refused.append(refusal(number, "duplicate_line"))
                continue
            seen.add(dup)
            lines.append(parsed)
        return lines, refused

    def _decide(self, batch: Batch, lines: list[Line], parse_refused: list[Refusal], in_scope: dict[UUID, bool]) -> _Decision:
        """Which lines of a chunk are credited (the postings), and why the others are not."""
        owners, refused = self._resolve(batch, lines, in_scope)
        keys = {ln.line: paid_key(batch.unit_id, batch.source["sha256"], ln) for ln in lines if ln.line in owners}
        paid = self.ledger.recorder.select_paid_line_keys(list(keys.values())) if keys else set()  # type: ignore[attr-defined]
        source = issuing_account(batch.unit_id)
        postings: list[Posting] = []
        details: list[dict[str, Any]] = []
        minutes = 0
        for ln in lines:
            owner = owners.get(ln.line)
            if owner is None:
                continue
            key = keys[ln.line]
            if key in paid:
                refused.append(refusal(ln.line, "already_paid", ln.line_key or ""))
                continue
            postings.append(Posting(source, volunteer_account(owner), ln.points))
            detail: dict[str, Any] = {"minutes": ln.minutes, "line": ln.line, "key": key}
            if ln.memo:
                detail["memo"] = ln.memo
            details.append(detail)
            minutes += ln.minutes
        return _Decision(postings, details, minutes, sorted(parse_refused + refused))

    def _post_chunk(self, batch: Batch, chunk_no: int, n_records: int, prepared: _Prepared, in_scope: dict[UUID, bool]) -> Batch:
        """Record one chunk with the batch's progress, in one store transaction; decide again
        after a conflict (another runner, or a line key another batch paid meanwhile)."""
        decision = prepared.decision
        for _ in attempts("batch chunks"):
            if batch.done or batch.chunks_done > chunk_no:
                return batch  # another runner of this batch recorded it
            key = f"batch:{batch.id}:chunk:{chunk_no}"
            txn_id = LedgerTransaction.create_id(key) if decision.postings else None
            batch.post_chunk(
                chunk_no, n_records, len(decision.postings), decision.points, decision.minutes, decision.refused,
                txn_id, self.ledger.clock.now(),
            )
            try:
                if decision.postings:
                    movement = Movement(
                        key, BATCH, decision.postings, memo=batch.title,
                        fingerprint=rules.fingerprint(["batch", str(batch.id), chunk_no]), actor=batch.actor,
                        unit_id=batch.unit_id, details=decision.details, paid_line_keys=[d["key"] for d in decision.details],
                    )
                    if self.ledger.journal.post(movement, also_save=[batch]).replayed:
                        raise ConcurrentChange("another runner recorded this chunk")
                else:
                    self.ledger.journal.commit(batch)
            except (ConcurrentChange, LineKeyPaid):
                batch = self.get(batch.id)
                if not (batch.done or batch.chunks_done > chunk_no):
                    decision = self._decide(batch, prepared.lines, prepared.refused, in_scope)
                continue
            if self.on_chunk is not None:
                self.on_chunk(batch.id, chunk_no, len(decision.postings), decision.points, [r.code for r in decision.refused])
            return batch
        raise AssertionError("unreachable")

    def _resolve(self, batch: Batch, lines: list[Line], in_scope: dict[UUID, bool]) -> tuple[dict[int, UUID], list[Refusal]]:
        """Each line's volunteer, or why not (unknown, outside the organizer's units)."""
        members = {ln.member_no for ln in lines if ln.member_no is not None} - self._members.keys()
        if members:
            found = {}
            claims = {MemberNumber.create_id(m): m for m in members}
            for claim, owner in self._last_uuids(list(claims), [CLAIMED], "volunteer_id").items():
                found[claims[claim]] = owner
            self._remember(self._members, {m: found.get(m) for m in members})
        # A volunteer's unit can change (a move), so it is read for every chunk: the
        # registration and any moves, in version order, the last one wins.
        ids = {ln.volunteer_id or self._members.get(ln.member_no or "") for ln in lines} - {None}
        units = self._last_uuids(list(ids), [REGISTERED, MOVED], "unit_id")
        owners: dict[int, UUID] = {}
        refused: list[Refusal] = []
        for ln in lines:
            vid = ln.volunteer_id or self._members.get(ln.member_no or "")
            unit = units.get(vid) if vid else None
            if vid is None or unit is None:
                refused.append(refusal(ln.line, "unknown_volunteer", str(ln.volunteer_id or ln.member_no)))
                continue
            if batch.scope is not None:
                if unit not in in_scope:
                    in_scope[unit] = rules.within_scope(self.ledger.unit_ancestry(unit), batch.scope)
                if not in_scope[unit]:
                    refused.append(refusal(ln.line, "volunteer_out_of_scope"))
                    continue
            owners[ln.line] = vid
        return owners, refused

    def _last_uuids(self, ids: list[UUID], topics: list[str], attribute: str) -> dict[UUID, UUID]:
        """Per aggregate, a UUID attribute of its last event among ``topics``: read by the
        database from the stored JSON when it can (plain JSON state), else event by event."""
        mapper = self.ledger.mapper
        if not ids:
            return {}
        found: dict[UUID, UUID] = {}
        if mapper.cipher is None and mapper.compressor is None:
            parsed: dict[str, UUID] = {}  # thousands of lines name a handful of units
            try:
                for originator, value in self.ledger.recorder.select_last_uuids(ids, topics, attribute).items():  # type: ignore[attr-defined]
                    if value is None:
                        raise ValueError(attribute)
                    found[originator] = parsed.get(value) or parsed.setdefault(value, UUID(hex=value))
                return found
            except ValueError:  # not the transcoder's form after all: read the events
                found.clear()
        for stored in self.ledger.recorder.select_events_of(ids):  # type: ignore[attr-defined]
            if stored.topic in topics:
                found[stored.originator_id] = uuid_of(self._state(stored)[attribute])  # type: ignore[assignment]
        return found

    def _state(self, stored: StoredEvent) -> dict[str, Any]:
        """An event's attributes without building the event: plain JSON when the store neither
        compresses nor encrypts (thousands per chunk; the full mapper costs several times more)."""
        mapper = self.ledger.mapper
        if mapper.cipher is None and mapper.compressor is None:
            return state_of(stored.state)
        return dict(mapper.to_domain_event(stored).__dict__)

    def _remember(self, cache: dict[Any, Any], found: dict[Any, Any]) -> None:
        # Only positive answers are kept: a volunteer registered a moment later must be found.
        with self._lock:
            if len(cache) > _CACHE_MAX:
                cache.clear()
            cache.update({k: v for k, v in found.items() if v is not None})

    # ------------------------------------------------------------------ background

    def start(self, batch_id: UUID) -> bool:
        """Run a batch in a background thread of this process (once at a time)."""
        with self._lock:
            running = self._threads.get(batch_id)
            if running is not None and running.is_alive():
                return False
            t = threading.Thread(target=self._run_logged, args=(batch_id,), name=f"batch-{batch_id}", daemon=True)
            self._threads[batch_id] = t
        t.start()
        return True

    def _run_logged(self, batch_id: UUID) -> None:
        try:
            batch = self.run(batch_id)
            log.info("batch %s %s: %s of %s lines credited", batch_id, batch.status, batch.accepted, batch.lines_total)
        except LedgerError as e:
            log.warning("batch %s stopped: %s", batch_id, e.message)
        except Exception:
            log.exception("batch %s failed; it resumes at the next start", batch_id)

    def unfinished(self) -> list[UUID]:
        started: dict[UUID, None] = {}
        ended: set[UUID] = set()
        for n in self.ledger.iter_notifications(topics=[STARTED, *ENDED]):
            if n.topic == STARTED:
                started[n.originator_id] = None  # type: ignore[index]
            else:
                ended.add(n.originator_id)  # type: ignore[arg-type]
        return [b for b in started if b not in ended]

    def resume_all(self) -> list[UUID]:
        """Start every unfinished batch whose file is here (at start-up, after a crash)."""
        ids = self.unfinished()
        for batch_id in ids:
            self.start(batch_id)
        return ids

    def wait(self, batch_id: UUID, timeout: float | None = None) -> Batch:
        t = self._threads.get(batch_id)
        if t is not None:
            t.join(timeout)
        return self.get(batch_id)

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for t in list(self._threads.values()):
            t.join(timeout)

    # ------------------------------------------------------------------ reversal

    def reverse(
        self, batch_id: UUID, lines: Sequence[int] | None = None, *, memo: str = "", actor: str = ""
    ) -> ReversalResult:
        """Compensate a finished batch's credited lines (all of them, or the given ones). A line
        whose volunteer has spent the points is refused, so is one not credited or reversed already.

        Raises NotFound, BatchRunning, ConcurrencyExhausted.
        """
        batch = self.get(batch_id)
        if not batch.done:
            raise BatchRunning("the batch is still crediting; reverse it when it has finished")
        credited: dict[int, dict[str, Any]] = {}
        for txn_id in batch.transactions:
            for p in self.ledger.get_transaction(txn_id).postings_data:
                credited[int(p["line"])] = p  # type: ignore[call-overload]
        result = ReversalResult(batch)
        if lines is None:
            targets = [ln for ln in sorted(credited) if ln not in batch.reversed_lines]
        else:
            targets = sorted(set(lines))
            for ln in targets:
                if ln not in credited:
                    result.refused.append(refusal(ln, "not_credited"))
                elif ln in batch.reversed_lines:
                    result.refused.append(refusal(ln, "already_reversed"))
            targets = [ln for ln in targets if ln in credited and ln not in batch.reversed_lines]
        for part in _chunks(targets, self.chunk_lines):
            self._reverse_part(batch_id, [credited[ln] for ln in part], memo, actor, result)
        result.batch = self.get(batch_id)
        result.refused.sort()
        return result

    def _reverse_part(
        self, batch_id: UUID, wanted: list[dict[str, Any]], memo: str, actor: str, result: ReversalResult
    ) -> None:
        for _ in attempts("batch reversals"):
            batch = self.get(batch_id)
            todo = [p for p in wanted if p["line"] not in batch.reversed_lines]
            balances = self.ledger.recorder.select_balances_of(sorted({p["destination"] for p in todo}))  # type: ignore[attr-defined]
            postings: list[Posting] = []
            details: list[dict[str, Any]] = []
            refused: list[Refusal] = []
            for p in todo:
                account, amount = p["destination"], p["amount"]
                if balances.get(account, 0) < amount:
                    refused.append(refusal(p["line"], "points_spent", f"balance {balances.get(account, 0)} < {amount}"))
                    continue
                balances[account] -= amount
                postings.append(Posting(account, p["source"], amount))
                details.append({"minutes": p.get("minutes", 0), "line": p["line"], "reverses": p["key"]})
            lines = [d["line"] for d in details]
            points = sum(p.amount for p in postings)
            key = f"batch:{batch.id}:reversal:{batch.version}"
            txn_id = LedgerTransaction.create_id(key) if postings else None
            batch.record_reversal(txn_id, lines, points, refused, self.ledger.clock.now())
            try:
                if postings:
                    movement = Movement(
                        key, BATCH_REVERSAL, postings, memo=memo or f"撤销 {batch.title}",
                        fingerprint=rules.fingerprint(["batch_reversal", str(batch.id), batch.version]),
                        actor=actor, unit_id=batch.unit_id, details=details,
                    )
                    if self.ledger.journal.post(movement, also_save=[batch]).replayed:
                        continue  # a concurrent reversal of this batch got there first
                else:
                    self.ledger.journal.commit(batch)
            except (ConcurrentChange, InsufficientPoints):
                continue  # decide again on fresh balances
            result.reversed_lines += lines
            result.points += points
            result.refused += refused
            if txn_id is not None:
                result.transactions.append(txn_id)
            return
        raise AssertionError("unreachable")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

