"""Pure rules of the leaderboards: periods cut in the configured zone, ranks with ties, and
names masked for a public board. No I/O; table-tested in tests/unit/test_boards.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

WEEK, MONTH, YEAR, ALL = "week", "month", "year", "all"
PERIODS = (WEEK, MONTH, YEAR, ALL)
POINTS, MINUTES = "points", "minutes"
METRICS = (POINTS, MINUTES)
# The "all time" period has one bucket; its start is stored as this text.
ALL_START = ""


def period_start(kind: str, day: date) -> date | None:
    """The first local day of the period of ``kind`` holding ``day`` (weeks start on Monday);
    None for all time."""
    if kind == WEEK:
        return day - timedelta(days=day.weekday())
    if kind == MONTH:
        return day.replace(day=1)
    if kind == YEAR:
        return day.replace(month=1, day=1)
    if kind == ALL:
        return None
    raise ValueError(f"unknown period {kind!r}")


def period_end(kind: str, start: date | None) -> date | None:
    """The first local day after the period (exclusive end); None for all time."""
    if start is None:
        return None
    if kind == WEEK:
        return start + timedelta(days=7)
    if kind == MONTH:
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    if kind == YEAR:
        return date(start.year + 1, 1, 1)
    raise ValueError(f"unknown period {kind!r}")


def start_key(start: date | None) -> str:
    """How a period's start is stored: ``YYYY-MM-DD``, or ``ALL_START`` for all time."""
    return ALL_START if start is None else start.isoformat()


@lru_cache(maxsize=4096)
def _keys_of_day(day: date) -> tuple[tuple[str, str], ...]:
    return tuple((kind, start_key(period_start(kind, day))) for kind in PERIODS)


def period_keys(at: datetime, zone: ZoneInfo) -> tuple[tuple[str, str], ...]:
    """Every (period kind, stored start) that the instant ``at`` counts for, cut in ``zone``."""
    return _keys_of_day(at.astimezone(zone).date())


def mask_name(name: str) -> str:
    """A public board shows 张*明 rather than 张小明: the first and last characters stay, the
    middle ones become ``*``; a two-character name keeps its first (李*); one stays as is."""
    chars = list(name.strip())
    if len(chars) <= 1:
        return "".join(chars)
    if len(chars) == 2:
        return chars[0] + "*"
    return chars[0] + "*" * (len(chars) - 2) + chars[-1]


def ranks(values: Sequence[int], *, position: int = 0, previous: tuple[int, int] | None = None) -> list[int]:
    """Competition ranks (1, 2, 2, 4) of values sorted from high to low.

    ``position`` is how many rows came before (on earlier pages) and ``previous`` the
    (value, rank) of the last of them, so a tie across a page boundary keeps its rank.
    """
    out: list[int] = []
    last_value, last_rank = previous if previous is not None else (None, 0)
    for i, value in enumerate(values, start=position + 1):
        rank = last_rank if value == last_value else i
        out.append(rank)
        last_value, last_rank = value, rank
    return out
