"""Bodies of the directory routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from api.schemas import Out


class UnitFigures(Out):
    period: Literal["week", "month", "year", "all"]
    start: date | None = Field(description="first local day of the period (null: all time)")
    end: date | None = Field(description="first local day after the period (null: all time)")
    issued: int = Field(description="points issued from this unit and the units under it, net of reversals")
    earned: int = Field(description="points earned by volunteers living in this unit or under it")
    redeemed: int = Field(description="points those volunteers redeemed at merchants")
    minutes: int = Field(description="minutes those volunteers served")
    active: int = Field(description="volunteers living here or under it with points or minutes in the period")


class UnitNode(Out):
    id: UUID
    name: str
    kind: str
    parent_id: UUID | None = Field(description="null for a root; for an organizer, its own units' parents may be outside the list")
    path: list[str] = Field(description="names from the root down to this unit")
    figures: list[UnitFigures] = Field(description="this week, month, year and all time")


class UnitTree(Out):
    units: list[UnitNode] = Field(description="every unit visible to the caller, parents before children (from the read model)")


class VolunteerRow(Out):
    id: UUID
    name: str
    unit_id: UUID
    unit_path: list[str] = Field(description="names of the home unit's path from the root")
    member_no: str | None
    phone_last4: str | None
    registered_at: datetime


class VolunteerPage(Out):
    items: list[VolunteerRow]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null at the end")
