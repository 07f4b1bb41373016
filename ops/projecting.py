"""Running the projection followers from the command line: catch up once, or follow the log
until SIGTERM/SIGINT (``moralbank project``); and the scheduled expiry run that the projection
worker (and ``serve`` on SQLite) keeps beside them (``ExpiryThread``)."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType

from ledger.lots.expiry import expire_due
from projections.base import Follower, TrackingConflict

log = logging.getLogger(__name__)
EXPIRE_EVERY = 300.0  # seconds between scheduled expiry runs


class ExpiryThread:
    """``expire_due`` at start and every ``every`` seconds until stopped. A run is safe beside any
    other (a lot expires once, by its key), so several processes running it is harmless."""

    def __init__(self, ledger: object, every: float = EXPIRE_EVERY, stop_event: threading.Event | None = None) -> None:
        self.ledger, self.every = ledger, every
        self.stop_event = stop_event or threading.Event()
        self.thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> "ExpiryThread":
        if self.every > 0:
            self.thread = threading.Thread(target=self._loop, name="expiry", daemon=True)
            self.thread.start()
        return self

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                report = expire_due(self.ledger, stop=self.stop_event)
                self.runs += 1
                if report.lots:
                    log.info("expired %d lot(s), %d point(s), due before %s", report.lots, report.points, report.day)
            except Exception:  # the store may be down: try again at the next run
                log.warning("expiry run failed; trying again later", exc_info=True)
            self.stop_event.wait(self.every)

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=10)


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
    expiry: ExpiryThread | None = None,
) -> None:
    """Run each follower in its own thread until SIGTERM or SIGINT (and the scheduled expiry
    runs, when given); a batch in flight finishes (or rolls back) before the threads stop, so a
    stop is always clean."""
    from ops.wiring import ProjectionThreads  # wiring imports api.context; keep it lazy

    threads = ProjectionThreads(list(followers), poll=poll)
    stop = threads.stop_event
    if expiry is not None:
        expiry.stop_event = stop

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        threads.start()
        if expiry is not None:
            expiry.start()
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
        if expiry is not None:
            expiry.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    start = time.perf_counter()
    n = fn()
    return n, time.perf_counter() - start

