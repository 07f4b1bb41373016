"""Pure rules of the leaderboards: periods cut in the zone, ranks with ties, masked names."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from projections.boards import ALL_START, mask_name, period_end, period_keys, period_start, ranks

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("at", "week", "month", "year"),
    [
        # Sunday 23:59 belongs to the week that began on Monday; Monday 00:00 starts the next
        (local("2026-11-22T23:59:59"), "2026-11-16", "2026-11-01", "2026-01-01"),
        (local("2026-11-23T00:00:00"), "2026-11-23", "2026-11-01", "2026-01-01"),
        # the same Monday 00:00 in Shanghai is still Sunday in UTC: the zone decides
        (datetime(2026, 11, 22, 16, 0, tzinfo=timezone.utc), "2026-11-23", "2026-11-01", "2026-01-01"),
        (datetime(2026, 11, 22, 15, 59, 59, tzinfo=timezone.utc), "2026-11-16", "2026-11-01", "2026-01-01"),
        # month end, and a week that spans two months
        (local("2026-11-30T23:59:59"), "2026-11-30", "2026-11-01", "2026-01-01"),
        (local("2026-12-01T00:00:00"), "2026-11-30", "2026-12-01", "2026-01-01"),
        (local("2026-02-28T12:00:00"), "2026-02-23", "2026-02-01", "2026-01-01"),
        (local("2028-02-29T12:00:00"), "2028-02-28", "2028-02-01", "2028-01-01"),
        # year end, and a week that spans two years
        (local("2026-12-31T23:59:59"), "2026-12-28", "2026-12-01", "2026-01-01"),
        (local("2027-01-01T00:00:00"), "2026-12-28", "2027-01-01", "2027-01-01"),
        (datetime(2026, 12, 31, 16, 0, tzinfo=timezone.utc), "2026-12-28", "2027-01-01", "2027-01-01"),
    ],
)
def test_period_keys_cut_in_the_zone(at: datetime, week: str, month: str, year: str) -> None:
    assert period_keys(at, SHANGHAI) == (("week", week), ("month", month), ("year", year), ("all", ALL_START))


@pytest.mark.parametrize(
    ("kind", "day", "start", "end"),
    [
        ("week", date(2026, 11, 22), date(2026, 11, 16), date(2026, 11, 23)),
        ("week", date(2026, 11, 23), date(2026, 11, 23), date(2026, 11, 30)),
        ("month", date(2026, 12, 15), date(2026, 12, 1), date(2027, 1, 1)),
        ("month", date(2026, 1, 31), date(2026, 1, 1), date(2026, 2, 1)),
        ("year", date(2026, 6, 1), date(2026, 1, 1), date(2027, 1, 1)),
        ("all", date(2026, 6, 1), None, None),
    ],
)
def test_period_start_and_end(kind: str, day: date, start: date | None, end: date | None) -> None:
    assert period_start(kind, day) == start
    assert period_end(kind, start) == end


def test_unknown_period() -> None:
    with pytest.raises(ValueError):
        period_start("fortnight", date(2026, 1, 1))


@pytest.mark.parametrize(
    ("values", "position", "previous", "expected"),
    [
        ([], 0, None, []),
        ([50], 0, None, [1]),
        ([50, 40, 40, 30], 0, None, [1, 2, 2, 4]),
        ([50, 50, 50], 0, None, [1, 1, 1]),
        ([9, 8, 8, 8, 7, 7, 1], 0, None, [1, 2, 2, 2, 5, 5, 7]),
        # a later page: the tie that crosses the page boundary keeps its rank
        ([40, 30], 2, (40, 2), [2, 4]),
        ([40, 40], 3, (40, 1), [1, 1]),
        ([30, 30, 20], 10, (31, 9), [11, 11, 13]),
    ],
)
def test_ranks_share_ties_and_skip(
    values: list[int], position: int, previous: tuple[int, int] | None, expected: list[int]
) -> None:
    assert ranks(values, position=position, previous=previous) == expected


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张小明", "张*明"),
        ("李四", "李*"),
        ("欧阳娜娜", "欧**娜"),
        ("王", "王"),
        ("", ""),
        ("  赵德胜 ", "赵*胜"),
        ("Ann Lee", "A*****e"),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked
