"""Expiry dates, table by table: month ends, leap years, the end of the year after next, and the
day's edge in Asia/Shanghai and in a zone west of UTC."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from ledger.errors import InvalidRequest
from ledger.lots.model import Lot, View, fifo
from ledger.lots.rules import MONTHS, NEVER, YEAR_AFTER_NEXT, Policy, add_months, check_policy, expires_at, is_expired, last_day

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
UTC = timezone.utc


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year
        (date(2026, 1, 30), 1, date(2026, 2, 28)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2027, 8, 31), 6, date(2028, 2, 29)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2028, 2, 29), 48, date(2032, 2, 29)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 5, 17), 240, date(2046, 5, 17)),
    ],
)
def test_months_clip_to_the_end_of_the_month(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


@pytest.mark.parametrize(
    ("policy", "at", "zone", "expected"),
    [
        (Policy(NEVER), datetime(2026, 5, 1, tzinfo=UTC), SH, None),
        (Policy(MONTHS, 1), datetime(2026, 1, 31, 3, 0, tzinfo=UTC), SH, date(2026, 2, 28)),
        # 2026-01-31 17:00 UTC is already Feb 1 in Shanghai: one month later is Mar 1
        (Policy(MONTHS, 1), datetime(2026, 1, 31, 17, 0, tzinfo=UTC), SH, date(2026, 3, 1)),
        # 2026-02-01 03:00 UTC is still Jan 31 in New York: one month later is Feb 28
        (Policy(MONTHS, 1), datetime(2026, 2, 1, 3, 0, tzinfo=UTC), NY, date(2026, 2, 28)),
        (Policy(MONTHS, 12), datetime(2028, 2, 29, 12, tzinfo=UTC), SH, date(2029, 2, 28)),
        (Policy(YEAR_AFTER_NEXT), datetime(2026, 1, 1, 0, 0, tzinfo=SH), SH, date(2028, 12, 31)),
        (Policy(YEAR_AFTER_NEXT), datetime(2026, 12, 31, 23, 59, tzinfo=SH), SH, date(2028, 12, 31)),
        # Dec 31 16:00 UTC is Jan 1 in Shanghai: the year after next moves on
        (Policy(YEAR_AFTER_NEXT), datetime(2026, 12, 31, 16, 0, tzinfo=UTC), SH, date(2029, 12, 31)),
        # Jan 1 03:00 UTC is still Dec 31 in New York
        (Policy(YEAR_AFTER_NEXT), datetime(2027, 1, 1, 3, 0, tzinfo=UTC), NY, date(2028, 12, 31)),
    ],
)
def test_last_day(policy: Policy, at: datetime, zone: ZoneInfo, expected: date | None) -> None:
    assert last_day(policy, at, zone) == expected


@pytest.mark.parametrize(
    ("last", "at", "zone", "expired"),
    [
        (None, datetime(2099, 1, 1, tzinfo=UTC), SH, False),
        (date(2026, 2, 28), datetime(2026, 2, 28, 15, 59, 59, tzinfo=UTC), SH, False),  # 23:59:59 in Shanghai
        (date(2026, 2, 28), datetime(2026, 2, 28, 16, 0, 0, tzinfo=UTC), SH, True),  # midnight in Shanghai
        (date(2026, 2, 28), datetime(2026, 3, 1, 4, 59, 59, tzinfo=UTC), NY, False),  # 23:59:59 in New York
        (date(2026, 2, 28), datetime(2026, 3, 1, 5, 0, 0, tzinfo=UTC), NY, True),
        (date(2026, 7, 31), datetime(2026, 8, 1, 3, 59, 59, tzinfo=UTC), NY, False),  # summer time, UTC-4
        (date(2026, 7, 31), datetime(2026, 8, 1, 4, 0, 0, tzinfo=UTC), NY, True),
    ],
)
def test_a_lot_expires_at_the_end_of_its_last_day(last: date | None, at: datetime, zone: ZoneInfo, expired: bool) -> None:
    assert is_expired(last, at, zone) is expired


def test_expires_at_is_the_next_midnight_in_the_zone() -> None:
    assert expires_at(date(2026, 2, 28), SH).astimezone(UTC) == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)
    assert expires_at(date(2026, 2, 28), NY).astimezone(UTC) == datetime(2026, 3, 1, 5, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "months", "ok"),
    [("never", None, True), ("months", 6, True), ("year_after_next", None, True), ("months", 0, False),
     ("months", 241, False), ("months", None, False), ("months", True, False), ("never", 3, False), ("weekly", None, False)],
)
def test_check_policy(kind: str, months: object, ok: bool) -> None:
    if ok:
        assert check_policy(kind, months).kind == kind
    else:
        with pytest.raises(InvalidRequest):
            check_policy(kind, months)


def test_fifo_draws_soonest_expiry_first_never_last_then_oldest() -> None:
    from uuid import uuid4

    u = uuid4()
    lots = [
        Lot("never", "v", u, 5, 5, None, 1, 0),
        Lot("late", "v", u, 5, 5, date(2027, 1, 1), 2, 0),
        Lot("soon-new", "v", u, 5, 5, date(2026, 6, 1), 4, 0),
        Lot("soon-old", "v", u, 5, 5, date(2026, 6, 1), 3, 0),
    ]
    view = View(7, lots)
    assert fifo(view, 12) == [["soon-old", u.hex, 5], ["soon-new", u.hex, 5], ["late", u.hex, 2]]
    assert fifo(view, 8) == [["late", u.hex, 3], ["never", u.hex, 5]]
    assert view.lots == []
