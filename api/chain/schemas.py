"""Request and response models of the hash chain: daily roots and proofs (``ledger.chain``)."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import Field

from api.schemas import Out

HEX = r"^[0-9a-f]{64}$"


class DailyRootOut(Out):
    day: date = Field(description="a day in the server's zone")
    root: str = Field(pattern=HEX, description="hex SHA-256 chain hash of the last event recorded by the end of the day (64 zeros when none)")
    last_notification_id: int | None = Field(description="that event's notification id; null when none")
    events: int = Field(ge=0, description="events recorded during the day")
    complete: bool = Field(description="false while the day is not over (the root may still move)")


class DailyRootsOut(Out):
    zone: str
    items: list[DailyRootOut] = Field(description="one per day, oldest first")


class ProvenEventOut(Out):
    notification_id: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: str = Field(description="the stored state bytes as UTF-8 text, exactly as hashed")
    recorded_at: datetime


class ProofOut(Out):
    day: date
    zone: str
    event: ProvenEventOut
    previous_hash: str = Field(pattern=HEX, description="chain hash of the event before (64 zeros for the first)")
    following_digests: list[str] = Field(description="digests of the day's later events, in order (hex)")
    root: str = Field(pattern=HEX, description="the day's root (so far, when the day is not over)")
    last_notification_id: int
    complete: bool = Field(description="false while the day is not over")
