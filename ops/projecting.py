"""Running the projection followers from the command line: catch up once, or follow the log
until SIGTERM/SIGINT (``moralbank project``)."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType

from projections.base import Follower, TrackingConflict

log = logging.getLogger(__name__)


def catch_up(follower: Follower) -> int:
    """Apply every pending notification; returns how many were covered.

    Another worker may be following the same projection (``moralbank project`` beside a
    CLI command): its batches win the compare-and-set, ours are refused and re-read.
    """
    total = 0
    while True:
        try:
            n = follower.step()
        except TrackingConflict:
            continue
        if not n:
            return total
        total += n


@dataclass(frozen=True)
class Progress:
    name: str
    position: int
    log_end: int

    @property
    def lag(self) -> int:
        return max(0, self.log_end - self.position)


def progress(followers: Sequence[Follower]) -> list[Progress]:
    if not followers:
        return []
    end = followers[0].ledger.max_notification_id()
    return [Progress(f.name, f.position(), end) for f in followers]


def follow_until_signalled(
    followers: Sequence[Follower],
    *,
    poll: float = 0.1,
    report_every: float = 5.0,
    report: Callable[[list[Progress]], None] = lambda _: None,
) -> None:
    """Run each follower in its own thread until SIGTERM or SIGINT; a batch in flight
    finishes (or rolls back) before the threads stop, so a stop is always clean."""
    from ops.wiring import ProjectionThreads  # wiring imports api.context; keep it lazy

    threads = ProjectionThreads(list(followers), poll=poll)
    stop = threads.stop_event

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        threads.start()
        last: list[Progress] | None = None
        while not stop.wait(report_every):
            try:
                now = progress(followers)
            except Exception:
                # The store is down or restarting: the followers wait and retry on their own
                # (Follower.run), and so does this report; the worker must not exit.
                log.warning("projection progress unavailable; retrying", exc_info=True)
                continue
            if now != last:
                report(now)
                last = now
    finally:
        threads.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    start = time.perf_counter()
    n = fn()
    return n, time.perf_counter() - start

