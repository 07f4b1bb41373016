"""Read-your-writes: a write answers with its position in the log; a later read by the same
principal waits (bounded) until the projections it reads have applied it.

- Every 2xx answer to a request that recorded events carries ``Log-Position``: the notification
  id of the last event it recorded (``ledger.positions``).
- The position is also kept, before the answer leaves, in ``read_positions`` (one row per
  subject: ``token:<id>`` of the writer, and ``volunteer:<id>`` / ``merchant:<id>`` of the
  accounts its movement touched, so a payer whose pay code a till redeemed is covered too). Every
  ``serve`` process reads the same table: the next read may land on any of them.
- A read of a route in ``READS`` by a principal waits until the projections that route reads have
  applied the greatest of: the principal's kept positions and the ``Read-After`` header. It polls
  the projections' tracking rows (one indexed read, every few milliseconds; a projection worker in
  another process moves them), for at most ``bound`` seconds; then answers anyway with
  ``Stale: true``. Every read that had something to wait for carries ``Projection-Position``.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import re
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import MutableHeaders

from ledger import positions

from api import problems
from projections.base import applied_position
from projections.db import Database
from projections.replicas import ReadRoute, read_route

log = logging.getLogger(__name__)

LOG_POSITION = "Log-Position"
READ_AFTER = "Read-After"
STALE = "Stale"
PROJECTION_POSITION = "Projection-Position"
TABLE = "read_positions"
BOUND = 2.0  # seconds a read waits at most
POSITION_PATTERN = "^[0-9]{1,18}$"

ACCOUNTS = ("accounts",)
ALLIANCE = ("alliance",)
BOARDS = ("leaderboards",)
ATTENDANCE = ("attendance",)
DIRECTORY = ("directory", "leaderboards")

# The routes that read projections, by template, and which projections each reads.
READS: dict[str, tuple[str, ...]] = {
    "/v1/me/account": ACCOUNTS,
    "/v1/me/entries": ACCOUNTS,
    "/v1/volunteers/{volunteer_id}/account": ACCOUNTS,
    "/v1/volunteers/{volunteer_id}/entries": ACCOUNTS,
    "/v1/merchants/{merchant_id}/statement": ALLIANCE,
    "/v1/leaderboards": BOARDS,
    "/v1/units": DIRECTORY,
    "/v1/units/{unit_id}": DIRECTORY,
    "/v1/volunteers": DIRECTORY,
    "/v1/activities": ATTENDANCE,
    "/v1/activities/{activity_id}/attendances": ATTENDANCE,
}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


@dataclass
class Seen:
    """What one request learnt on the way: who called, and what its read waited for."""

    subjects: set[str] = field(default_factory=set)
    applied: int | None = None  # the projections' position the read answered at
    stale: bool = False


_seen: ContextVar[Seen | None] = ContextVar("moralbank_seen", default=None)


def subjects_of(token_id: Any, account: str | None) -> set[str]:
    return {f"token:{token_id}"} | ({account} if account else set())


class Consistency:
    """The positions kept per subject, and the bounded wait. ``poll``: the first pause between
    reads of the tracking rows (it grows to ``max_poll``)."""

    def __init__(self, db: Database, *, bound: float = BOUND, poll: float = 0.002, max_poll: float = 0.02) -> None:
        self.db = db
        self.bound = bound
        self.poll = poll
        self.max_poll = max_poll
        self.head: Callable[[], int] = lambda: 1 << 62  # the log's end (set by create_app)
        self._ready = False
        # Positions to keep, written by one thread, many requests' at once (``keep``).
        self._queue: queue.Queue[tuple[Sequence[str], int, asyncio.AbstractEventLoop, asyncio.Future[None]] | None] = queue.Queue()
        self._keeper: threading.Thread | None = None
        self._lock = threading.Lock()

    def setup(self) -> None:
        """Create the positions table. A server may start while its store is down (``/readyz``
        says so): then the table is made by the first request that needs it."""
        with self.db.transaction() as tx:
            if self.db.is_postgres:  # processes starting together: one CREATE at a time
                tx.execute("SELECT pg_advisory_xact_lock(hashtext('moralbank projections schema'))")
            tx.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (subject TEXT PRIMARY KEY, position BIGINT NOT NULL)")
        self._ready = True

    def try_setup(self) -> None:
        try:
            self.setup()
        except Exception:  # noqa: BLE001 - the store is unreachable now; readiness reports it
            log.warning("could not create %s yet; the first request that needs it will", TABLE, exc_info=True)

    def _ensure(self) -> None:
        if not self._ready:
            self.setup()

    def remember(self, subjects: Sequence[str], position: int) -> None:
        """Keep ``position`` as these subjects' last write (never moving one back)."""
        if subjects:
            self._upsert({s: position for s in subjects})

    async def keep(self, subjects: Sequence[str], position: int) -> None:
        """``remember``, shared: the rows of every request answering meanwhile go to the store in
        one statement and one commit, by one thread (requests paying at one till, or of one busy
        volunteer, each upserting the same row in a transaction of its own, waited for each other's
        row lock and commit). Returns once kept; raises what the store raised."""
        if not subjects:
            return
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._start()
        self._queue.put((subjects, position, loop, done))
        await done

    def _start(self) -> None:
        if self._keeper is None:
            with self._lock:
                if self._keeper is None:
                    self._keeper = threading.Thread(target=self._keep_loop, name="read-positions", daemon=True)
                    self._keeper.start()

    def _keep_loop(self) -> None:
        while (first := self._queue.get()) is not None:
            waiting = [first]
            while len(waiting) < 1000:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                waiting.append(more)
            merged: dict[str, int] = {}
            for subjects, position, _, _ in waiting:
                for subject in subjects:
                    merged[subject] = max(position, merged.get(subject, 0))
            error: BaseException | None = None
            try:
                self._upsert(merged)
            except Exception as e:  # noqa: BLE001 - handed to each waiting request
                error = e
            for _, _, loop, done in waiting:
                try:
                    loop.call_soon_threadsafe(_settle, done, error)
                except RuntimeError:  # that request's loop is closed: nobody waits
                    pass

    def close(self) -> None:
        with self._lock:
            if self._keeper is not None:
                self._queue.put(None)
                self._keeper.join(timeout=5)
                self._keeper = None

    def _upsert(self, positions_by_subject: dict[str, int]) -> None:
        self._ensure()
        rows = sorted(positions_by_subject.items())  # one order for every writer: no deadlock between two
        values = ", ".join(["(%s, %s)"] * len(rows))
        with self.db.transaction() as tx:
            tx.execute(
                f"INSERT INTO {TABLE} (subject, position) VALUES {values} ON CONFLICT (subject) DO UPDATE "
                f"SET position = excluded.position WHERE {TABLE}.position < excluded.position",
                [v for row in rows for v in row],
            )

    def last_write(self, subjects: Sequence[str]) -> int:
        if not subjects:
            return 0
        self._ensure()
        marks = ", ".join(["%s"] * len(subjects))
        with self.db.primary() as tx:
            row = tx.one(f"SELECT max(position) AS p FROM {TABLE} WHERE subject IN ({marks})", tuple(subjects))
        return int(row["p"]) if row and row["p"] is not None else 0

    def applied(self, projections: Sequence[str]) -> int:
        with self.db.primary() as tx:
            return applied_position(tx, projections)

    def wait(self, target: int, projections: Sequence[str]) -> tuple[int, bool]:
        """Until these projections have applied ``target``, or ``bound`` seconds. Returns their
        position and whether it is short of the target (stale). A target past the log's end
        (nobody wrote there) is the log's end."""
        applied = self.applied(projections)
        if applied >= target:
            return applied, False
        target = min(target, self.head())
        deadline = time.monotonic() + self.bound
        pause = self.poll
        while applied < target:
            left = deadline - time.monotonic()
            if left <= 0:
                return applied, True
            time.sleep(min(pause, left))
            pause = min(self.max_poll, pause * 1.5)
            applied = self.applied(projections)
        return applied, False


def _settle(done: "asyncio.Future[None]", error: BaseException | None) -> None:
    if done.cancelled():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


def position_of(header: str | None) -> int | None:
    """A ``Read-After`` value: a position, or None for anything else (a hint, never refused)."""
    if header is None or not re.fullmatch(POSITION_PATTERN, header.strip()):
        return None
    return int(header)


def note_principal(subjects: set[str]) -> None:
    seen = _seen.get()
    if seen is not None:
        seen.subjects |= subjects


def read_after(consistency: Consistency, route_path: str | None, method: str, subjects: set[str], requested: int | None) -> None:
    """The wait of one read (``GET`` of a route in ``READS``), in the request's thread. Then the
    request's reads may go to a standby that has applied as much (``projections.replicas``)."""
    projections = READS.get(route_path or "")
    if method not in ("GET", "HEAD") or projections is None:
        return
    target = max(requested or 0, consistency.last_write(sorted(subjects)))
    if target > 0:
        applied, stale = consistency.wait(target, projections)
        seen = _seen.get()
        if seen is not None:
            seen.applied, seen.stale = applied, stale
    route = read_route.get()
    if route is not None:
        route.active, route.floor, route.projections = True, max(target, 0), projections


class ConsistencyMiddleware:
    """Opens the request's ``Written`` and ``Seen``; as the answer starts, keeps a 2xx write's
    position for its subjects and adds the headers."""

    def __init__(self, app: ASGIApp, consistency: Consistency) -> None:
        self.app = app
        self.consistency = consistency

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = Seen()
        token = _seen.set(seen)
        route_token = read_route.set(ReadRoute())  # set here, so the request's threads share it
        try:
            with positions.watch() as written:

                async def send_with_positions(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        await self._headers(message, written, seen)
                    await send(message)

                await self.app(scope, receive, send_with_positions)
        finally:
            read_route.reset(route_token)
            _seen.reset(token)

    async def _headers(self, message: Message, written: positions.Written, seen: Seen) -> None:
        headers = MutableHeaders(scope=message)
        if 200 <= message["status"] < 300 and written.position:
            subjects = sorted(seen.subjects | written.accounts)
            try:
                await self.consistency.keep(subjects, written.position)
            except Exception:  # the write is recorded: answer it; the client still has the header
                log.warning("could not keep the write position of %s", subjects, exc_info=True)
            headers[LOG_POSITION] = str(written.position)
        if seen.applied is not None:
            headers[PROJECTION_POSITION] = str(seen.applied)
            if seen.stale:
                headers[STALE] = "true"


# ---------------------------------------------------------------- the OpenAPI document

WRITE_HEADERS = {
    LOG_POSITION: {
        "description": "The position in the log of the last event this request recorded. Send it as "
        "`Read-After` to read after this write elsewhere; reads by the same token (or of the accounts "
        "this write moved) wait for it on their own.",
        "schema": {"type": "string", "pattern": POSITION_PATTERN},
    }
}
READ_HEADERS = {
    PROJECTION_POSITION: {
        "description": "The log position up to which the projections this read shows had applied, when "
        "the read had a position to wait for (the caller's last write, or `Read-After`).",
        "schema": {"type": "string", "pattern": POSITION_PATTERN},
    },
    STALE: {
        "description": "`true` when the projections had not reached that position within about 2 s: the "
        "answer may not show the caller's last write yet.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}


def document(schema: dict[str, Any]) -> None:
    """Add the response headers to every 2xx answer: ``Log-Position`` to writes, the two read
    headers to the routes in ``READS``."""
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            extra = READ_HEADERS if method == "get" and path in READS else WRITE_HEADERS if method != "get" else None
            if extra is None:
                continue
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    response.setdefault("headers", {}).update(extra)
    _problem_422(schema)


def _problem_422(schema: dict[str, Any]) -> None:
    """``Read-After`` is a parameter of every route with a principal, so FastAPI documents its
    default 422 where a route had none of its own: it is the problem 422 of every other route."""
    default = {"$ref": "#/components/schemas/HTTPValidationError"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
            if responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema") == default:
                responses["422"] = problems.responses(422)[422]
    if "HTTPValidationError" not in str(schema.get("paths", {})):
        components = schema.get("components", {}).get("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
