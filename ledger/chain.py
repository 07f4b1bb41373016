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
