"""The hash chain over the event log: anyone holding the events can recompute it.

Each stored event n, in the log's order, gets

    d_n = sha256(f"{originator_id}\\n{originator_version}\\n{topic}\\n".encode() + state)
    h_n = sha256(h_{n-1} + d_n),  h_0 = 32 zero bytes

``originator_id`` is the UUID's canonical text (lowercase, hyphens) and ``state`` the stored
bytes. The notification id is left out on purpose: an import may renumber the log, and the
chain must come through an export and an import unchanged. The recorders (``ledger.persistence``)
record d_n and h_n, with the time the event was recorded, in the same transaction as the event.
A day's root is h of the last event recorded on or before the end of that day.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

GENESIS = bytes(32)
CHAIN_TABLE = "ledger_chain"


def event_digest(originator_id: UUID | str, originator_version: int, topic: str, state: bytes) -> bytes:
    head = f"{UUID(str(originator_id))}\n{originator_version}\n{topic}\n".encode()
    return hashlib.sha256(head + state).digest()


def link(previous: bytes, digest: bytes) -> bytes:
    return hashlib.sha256(previous + digest).digest()


def fold(previous: bytes, digests: Iterable[bytes]) -> bytes:
    for d in digests:
        previous = link(previous, d)
    return previous


@dataclass(frozen=True)
class ChainRow:
    notification_id: int
    recorded_at: datetime
    digest: bytes
    hash: bytes


@dataclass(frozen=True)
class DailyRoot:
    day: date
    root: bytes  # GENESIS when nothing was recorded by the end of the day
    last_notification_id: int | None
    events: int  # recorded during the day


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a day in the zone, in UTC."""
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def day_of(at: datetime, zone: ZoneInfo) -> date:
    return at.astimezone(zone).date()


def recorded_at_list(value: Any, count: int) -> list[datetime | None]:
    """The ``recorded_at`` save option, one time for the whole save or one per event."""
    if isinstance(value, (list, tuple)):
        return list(value) if value else [None]
    return [value]


MAX_ROOT_DAYS = 366


def daily_roots(recorder: Any, first: date, last: date, zone: ZoneInfo) -> list[DailyRoot]:
    """The root of each day from ``first`` to ``last`` (inclusive). Raises ValueError for an
    empty or too long range."""
    if last < first:
        raise ValueError("the range ends before it starts")
    if (last - first).days + 1 > MAX_ROOT_DAYS:
        raise ValueError(f"at most {MAX_ROOT_DAYS} days at once")
    out: list[DailyRoot] = []
    day = first
    while day <= last:
        start, end = day_bounds(day, zone)
        head = recorder.select_chain_before(end)
        out.append(
            DailyRoot(
                day=day,
                root=head.hash if head else GENESIS,
                last_notification_id=head.notification_id if head else None,
                events=recorder.count_chain_between(start, end),
            )
        )
        day += timedelta(days=1)
    return out


@dataclass(frozen=True)
class Proof:
    """What one needs to check that an event is in a day's root: fold the event's digest onto
    ``previous``, then each of ``following``; the result is ``root``."""

    notification_id: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes
    recorded_at: datetime
    day: date
    previous: bytes
    following: list[bytes]
    root: bytes
    last_notification_id: int

    def check(self) -> bool:
        h = link(self.previous, event_digest(self.originator_id, self.originator_version, self.topic, self.state))
        return fold(h, self.following) == self.root


def prove(recorder: Any, originator_id: UUID, originator_version: int, zone: ZoneInfo, *, page: int = 10_000) -> Proof | None:
    """The proof that an event is in the root of the day it was recorded (the day's root so far,
    when the day is not over). None when the event is not recorded (or not chained yet)."""
    nid = recorder.select_notification_id_of(originator_id, originator_version)
    if nid is None:
        return None
    rows = recorder.select_chain(nid - 1, 1, stop=nid)
    if not rows:
        return None
    row = rows[0]
    previous = recorder.select_chain_before_id(nid)
    day = day_of(row.recorded_at, zone)
    _, end = day_bounds(day, zone)
    head = recorder.select_chain_before(end)
    following: list[bytes] = []
    after = nid
    while after < head.notification_id:
        rows = recorder.select_chain(after, page, stop=head.notification_id)
        if not rows:
            break
        following += [r.digest for r in rows]
        after = rows[-1].notification_id
    stored = recorder.select_events(originator_id, gt=originator_version - 1, lte=originator_version)
    return Proof(
        notification_id=nid,
        originator_id=originator_id,
        originator_version=originator_version,
        topic=stored[0].topic,
        state=stored[0].state,
        recorded_at=row.recorded_at,
        day=day,
        previous=previous.hash if previous else GENESIS,
        following=following,
        root=head.hash,
        last_notification_id=head.notification_id,
    )
