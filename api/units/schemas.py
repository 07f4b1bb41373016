"""Bodies of the unit routes."""

from __future__ import annotations

from datetime import date, datetime
from datetime import date as date_
from typing import Literal
from uuid import UUID

from pydantic import Field, StrictInt

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
    expired: int = Field(
        0,
        description="points issued by this unit and the units under it that lapsed (expired lots), net of any taken "
        "back; read from the ledger's postings, not from the leaderboards (points earned still count on boards)",
    )


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


class ExpiryPolicyIn(In):
    kind: Literal["never", "months", "year_after_next"] = Field(
        description="never: points do not lapse; months: N months after the credit; year_after_next: Dec 31 of the year after next"
    )
    months: StrictInt | None = Field(None, description="for `months` only: 1 to 240 (the day clipped to a shorter month's end)")


class ExpiryPolicy(Out):
    kind: str
    months: int | None


class ExpiryPolicyOut(Out):
    unit_id: UUID
    own: ExpiryPolicy | None = Field(description="this unit's own policy (null: it sets none and inherits)")
    effective: ExpiryPolicy = Field(description="the policy credits issued by this unit get now")
    source_unit_id: UUID | None = Field(
        description="the unit whose policy is effective: this unit, its nearest ancestor that sets one, or null (the default: never)"
    )
    source_unit_name: str | None


class ExpiringDay(Out):
    date: date_ = Field(description="the last day of the lots (in the configured zone); their points lapse at its end")
    points: int
    volunteers: int = Field(description="volunteers holding points that lapse that day")


class ExpiringOut(Out):
    unit_id: UUID
    start: date = Field(alias="from", description="today, in the configured zone")
    end: date = Field(alias="to", description="the last day counted: from + days - 1")
    timezone: str
    total: int = Field(description="points of volunteers under this unit that lapse from `from` to `to`, unless spent first")
    days: list[ExpiringDay] = Field(description="per last day, soonest first; days with nothing to lapse are left out")
    overdue: int = Field(description="points in lots past their last day that the next expiry run takes")
