"""Days and instants as the API reads them, and as it writes them (in the configured zone).

Read: text only, as /openapi.json documents them
(``format: date`` and ``format: date-time``).

Pydantic's lax mode also reads a number, or a string of digits, as a Unix time: ``?to=0`` was
1970-01-01 and ``{"starts_at": 1800000000}`` an instant in 2027. Such input is refused with
422 ``validation_error``, like any other input that breaks the document.

Both lie in the years 1900 to 9000 (an instant with an offset: in UTC too). At the edges of
Python's calendar (year 1, year 9999) converting to the server's zone, or stepping to the
next day, week or year of a period, overflowed into a 500; an offer's ``ends_at`` of
9999-12-31T23:59:59Z was even stored, and every later list of that shop's offers failed.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BeforeValidator

FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9000, 12, 31)

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}.*", re.DOTALL)


def _day_text(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise ValueError("expected a day as YYYY-MM-DD")
    return value


def _instant_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _INSTANT.fullmatch(value):
        raise ValueError("expected an instant as RFC 3339 text (YYYY-MM-DDTHH:MM:SS+08:00)")
    return value


def _day_in_range(value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"expected a day from {FIRST_DAY} to {LAST_DAY}")
    return value


def _instant_in_range(value: datetime) -> datetime:
    # The local day first: converting year 1 (or 9999) to UTC can overflow itself.
    if not FIRST_DAY <= value.date() <= LAST_DAY or (
        value.tzinfo is not None and not FIRST_DAY <= value.astimezone(timezone.utc).date() <= LAST_DAY
    ):
        raise ValueError(f"expected an instant from {FIRST_DAY} to {LAST_DAY}")
    return value


Day = Annotated[date, BeforeValidator(_day_text), AfterValidator(_day_in_range)]
Instant = Annotated[datetime, BeforeValidator(_instant_text), AfterValidator(_instant_in_range)]


def zoned(dt: datetime, zone: ZoneInfo) -> datetime:
    """An instant in the configured zone (RFC 3339 with offset in a reply)."""
    try:
        return dt.astimezone(zone)
    except OverflowError:  # at the edge of the calendar (stored before input was bounded)
        return dt


def from_row_time(text: str, zone: ZoneInfo) -> datetime:
    """Read models store UTC text like ``2026-11-02T01:00:00.000000Z``."""
    return zoned(datetime.fromisoformat(text), zone)
