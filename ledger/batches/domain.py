"""The welfare-day batch aggregate: one upload's progress and report.

The class keeps the module name its events were first recorded under (``ledger.batches``): an
event's topic is stored in the log and in the hash chain, so it must not change with a file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from ledger.domain import NAMESPACE

from ledger.batches.rules import FAILED, FINISHED, RUNNING, Refusal

TOPIC_MODULE = "ledger.batches"

class Batch(Aggregate):
    """One upload's progress and report. The credited lines live in the batch transactions."""

    __module__ = TOPIC_MODULE

    @staticmethod
    def create_id(key: str) -> UUID:
        return uuid5(NAMESPACE, "batch:" + key)

    @event("Started")
    def __init__(
        self,
        key: str,
        title: str,
        unit_id: UUID,
        scope: list[UUID] | None,
        cap: int,
        source: dict[str, Any],
        lines_total: int,
        chunk_lines: int,
        fingerprint: str,
        actor: str,
        at: datetime,
    ) -> None:
        self.key = key
        self.title = title
        self.unit_id = unit_id
        self.scope = scope  # None: an admin's batch, every unit
        self.cap = cap
        self.source = source  # {"file", "format", "encoding", "sha256", "bytes"}
        self.lines_total = lines_total
        self.chunk_lines = chunk_lines
        self.fingerprint = fingerprint
        self.actor = actor
        self.started_at = at
        self.status = RUNNING
        self.finished_at: datetime | None = None
        self.failure: str | None = None
        self.chunks_done = 0
        self.lines_done = 0
        self.accepted = 0
        self.points = 0
        self.minutes = 0
        self.refused: list[list[Any]] = []
        self.transactions: list[UUID] = []
        self.reversed_lines: set[int] = set()
        self.reversed_points = 0
        self.reversal_refused: list[list[Any]] = []

    @event("ChunkPosted")
    def _chunk_posted(
        self, chunk: int, lines: int, accepted: int, points: int, minutes: int,
        refused: list[list[Any]], transaction_id: UUID | None, at: datetime,
    ) -> None:
        self.chunks_done = chunk + 1
        self.lines_done += lines
        self.accepted += accepted
        self.points += points
        self.minutes += minutes
        self.refused.extend(refused)
        if transaction_id is not None:
            self.transactions.append(transaction_id)

    def post_chunk(
        self, chunk: int, lines: int, accepted: int, points: int, minutes: int,
        refused: list[Refusal], transaction_id: UUID | None, at: datetime,
    ) -> None:
        if self.status != RUNNING or chunk != self.chunks_done:
            raise ValueError(f"chunk {chunk} is not the batch's next chunk ({self.chunks_done})")
        self._chunk_posted(chunk, lines, accepted, points, minutes, [list(r) for r in refused], transaction_id, at)

    @event("Finished")
    def _finished(self, at: datetime) -> None:
        self.status = FINISHED
        self.finished_at = at

    def finish(self, at: datetime) -> None:
        if self.status == RUNNING:
            self._finished(at)

    @event("Failed")
    def _failed(self, reason: str, at: datetime) -> None:
        self.status = FAILED
        self.failure = reason
        self.finished_at = at

    def fail(self, reason: str, at: datetime) -> None:
        if self.status == RUNNING:
            self._failed(reason, at)

    @event("LinesReversed")
    def _lines_reversed(
        self, transaction_id: UUID | None, lines: list[int], points: int, refused: list[list[Any]], at: datetime
    ) -> None:
        self.reversed_lines.update(lines)
        self.reversed_points += points
        self.reversal_refused.extend(refused)

    def record_reversal(
        self, transaction_id: UUID | None, lines: list[int], points: int, refused: list[Refusal], at: datetime
    ) -> None:
        if set(lines) & self.reversed_lines:
            raise ValueError("a line is reversed at most once")
        self._lines_reversed(transaction_id, sorted(lines), points, [list(r) for r in refused], at)

    @property
    def done(self) -> bool:
        return self.status != RUNNING
