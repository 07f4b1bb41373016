"""Days and instants as the API reads them: text only, as /openapi.json documents them
(``format: date`` and ``format: date-time``).

Pydantic's lax mode also reads a number, or a string of digits, as a Unix time: ``?to=0`` was
1970-01-01 and ``{"starts_at": 1800000000}`` an instant in 2027. Such input is refused with
422 ``validation_error``, like any other input that breaks the document.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

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


Day = Annotated[date, BeforeValidator(_day_text)]
Instant = Annotated[datetime, BeforeValidator(_instant_text)]
