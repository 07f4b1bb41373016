"""Bodies of the leaderboard routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from api.schemas import Out

Metric = Literal["points", "minutes"]
Period = Literal["week", "month", "year", "all"]


class BoardUnit(Out):
    id: UUID
    name: str
    kind: str


class BoardRow(Out):
    rank: int = Field(description="competition rank: equal values share a rank and the next rank skips (1, 2, 2, 4)")
    name: str = Field(description="masked (张*明) unless the caller organizes this unit")
    volunteer_id: UUID | None = Field(description="only with full names")
    home_unit: BoardUnit | None = Field(description="the volunteer's current home unit")
    value: int = Field(description="points earned or minutes served in the period, net of reversals")


class LeaderboardOut(Out):
    unit: BoardUnit
    ancestors: list[BoardUnit] = Field(description="parent first, up to the root")
    children: list[BoardUnit] = Field(description="units directly under this one (boards of their own)")
    metric: Metric
    period: Period
    at: datetime = Field(description="the instant whose period is shown")
    period_start: date | None = Field(description="first local day of the period (null: all time)")
    period_end: date | None = Field(description="first local day after the period (null: all time)")
    names: Literal["masked", "full"]
    items: list[BoardRow] = Field(
        description="highest value first; inside a tie, in the order the volunteers were registered (stable); only values above zero"
    )
    next_cursor: str | None = Field(description="pass as ?cursor= (with the same other parameters) for the next page")
