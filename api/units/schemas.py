"""Bodies of the unit routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from api.schemas import In, Name, Out, UnitKind


class UnitIn(In):
    name: Name
    kind: UnitKind
    parent_id: UUID | None = None


class MoveUnitIn(In):
    parent_id: UUID


class UnitRef(Out):
    id: UUID
    name: str
    kind: str


class UnitPeriodTotals(Out):
    period: Literal["week", "month", "year", "all"]
    start: date | None = Field(description="first local day of the period (null: all time)")
    end: date | None = Field(description="first local day after the period (null: all time)")
    issued: int = Field(description="points issued from the issuing accounts of this unit and the units under it, net of reversals")
    earned: int = Field(description="points earned by volunteers whose home was this unit or under it, net of reversals")
    redeemed: int = Field(description="points those volunteers redeemed at merchants, net of reversals")
    minutes: int = Field(description="minutes those volunteers served")


class UnitOut(Out):
    id: UUID
    name: str
    kind: str
    parent_id: UUID | None
    created_at: datetime
    ancestors: list[UnitRef] = Field(description="parent first, up to the root")
    children: list[UnitRef] = Field(description="from the read model (eventually consistent)")
    totals: list[UnitPeriodTotals] = Field(
        default_factory=list,
        description="roll-ups under this unit for the current week, month, year and all time "
        "(GET /v1/units/{id} only; from the read model)",
    )
