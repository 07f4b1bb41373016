"""Expiry policies and dates: pure rules.

A unit's policy is one of: never; N months after the credit; the end of the year after next.
A lot's last day is a date in the configured zone; the lot expires at the end of that day, so it
is expired at any instant whose local day is after it. N months after Jan 31 is the last day of
February (the day is clipped to the month's length, leap years included).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ledger.errors import InvalidRequest

NEVER = "never"
MONTHS = "months"
YEAR_AFTER_NEXT = "year_after_next"
KINDS = (NEVER, MONTHS, YEAR_AFTER_NEXT)
MAX_MONTHS = 240


@dataclass(frozen=True)
class Policy:
    kind: str = NEVER
    months: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "months": self.months}

    @classmethod
    def from_dict(cls, d: Any) -> "Policy":
        if d is None:
            return NEVER_POLICY
        return cls(str(d["kind"]), d.get("months"))


NEVER_POLICY = Policy()


def check_policy(kind: object, months: object = None) -> Policy:
    """Raises InvalidRequest for anything but a known kind (with 1..240 months for ``months``)."""
    if kind not in KINDS:
        raise InvalidRequest(f"policy must be one of {', '.join(KINDS)}", field="kind")
    if kind == MONTHS:
        if not isinstance(months, int) or isinstance(months, bool) or not 1 <= months <= MAX_MONTHS:
            raise InvalidRequest(f"months must be a whole number from 1 to {MAX_MONTHS}", field="months")
        return Policy(MONTHS, months)
    if months is not None:
        raise InvalidRequest("months is only for the 'months' policy", field="months")
    return Policy(str(kind))


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, clipped to the end of a shorter month."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def last_day(policy: Policy, credited_at: datetime, zone: ZoneInfo) -> date | None:
    """The last day (in ``zone``) of a lot credited at ``credited_at``; None: it never expires."""
    if policy.kind == NEVER:
        return None
    day = credited_at.astimezone(zone).date()
    if policy.kind == MONTHS:
        return add_months(day, int(policy.months or 0))
    if policy.kind == YEAR_AFTER_NEXT:
        return date(day.year + 2, 12, 31)
    raise ValueError(f"unknown policy {policy.kind!r}")


def is_expired(last: date | None, at: datetime, zone: ZoneInfo) -> bool:
    """Whether a lot with this last day is expired at ``at`` (its day in ``zone`` is after it)."""
    return last is not None and at.astimezone(zone).date() > last


def expires_at(last: date, zone: ZoneInfo) -> datetime:
    """The instant a lot expires: the start of the day after its last day, in ``zone``."""
    return datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)


def today(at: datetime, zone: ZoneInfo) -> date:
    return at.astimezone(zone).date()
