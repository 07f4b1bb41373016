"""The yearly report as JSON: the same figures the PDF and the charts print (projections.reports)."""

from __future__ import annotations

from pydantic import BaseModel


class FiguresOut(BaseModel):
    volunteers: int
    new_volunteers: int
    active: int
    minutes: int
    hours: float
    activities: int
    issued: int
    earned: int
    redeemed: int
    expired: int
    shops: int
    redemptions: int
    welfare_days: int


class MonthOut(BaseModel):
    month: int
    minutes: int
    hours: float
    issued: int
    earned: int
    redeemed: int
    expired: int
    active: int
    activities: int
    redemptions: int
    redemption_points: int


class UnitLineOut(BaseModel):
    id: str
    name: str
    kind: str
    volunteers: int
    active: int
    minutes: int
    hours: float
    issued: int
    earned: int
    redeemed: int
    activities: int


class RoleModelOut(BaseModel):
    rank: int
    name: str
    home: str
    points: int
    minutes: int


class ActivityRowOut(BaseModel):
    unit: str
    by_month: list[int]
    total: int


class BatchOut(BaseModel):
    id: str
    title: str
    day: str
    lines: int
    volunteers: int
    points: int
    minutes: int


class ShopOut(BaseModel):
    id: str
    name: str
    unit: str
    redemptions: int
    points: int


class IntegrityOut(BaseModel):
    day: str
    root: str
    last_notification_id: int | None
    events_in_year: int
    verified: str
    verify_detail: str


class YearReportOut(BaseModel):
    unit_id: str
    unit_name: str
    unit_kind: str
    path: list[str]
    year: int
    zone: str
    generated_at: str
    complete: bool
    empty: bool
    figures: FiguresOut
    months: list[MonthOut]
    units_below: list[UnitLineOut]
    role_models: list[RoleModelOut]
    names_masked: bool
    activities_by_unit: list[ActivityRowOut]
    batches: list[BatchOut]
    shops: list[ShopOut]
    integrity: IntegrityOut
