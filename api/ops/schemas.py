"""Bodies of the ops routes and the event feed."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from api.schemas import Out


class EventOut(Out):
    id: int
    originator_id: UUID
    originator_version: int
    topic: str
    data: dict[str, Any]


class EventPage(Out):
    items: list[EventOut]
    next_after: int = Field(description="pass as ?after= for the next page")


class Health(Out):
    status: Literal["ok"]


class ProjectionStatus(Out):
    position: int
    lag: int


class Readiness(Out):
    status: Literal["ready"]
    last_notification_id: int
    projections: dict[str, ProjectionStatus]
