"""The one reader of the library's stored forms, and the one UTC text format.

The library's JSON transcoder stores an event's state as JSON in which a UUID is
``{"_type_": "uuid_hex", "_data_": "<hex>"}`` and a datetime ``{"_type_": "datetime_iso",
"_data_": "<iso>"}``. Readers that must be fast (batch look-ups, projections catching up, verify)
decode rows here without building domain events; everything else uses the library's mapper.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

_UTC_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def state_of(state: bytes | str) -> dict[str, Any]:
    """An event's attributes, as stored (plain JSON: the store neither compresses nor encrypts)."""
    return json.loads(state)  # type: ignore[no-any-return]


def data_of(value: Any) -> Any:
    """The plain value of a transcoded one (``{"_type_": …, "_data_": v}`` -> ``v``)."""
    return value["_data_"] if isinstance(value, dict) else value


def uuid_of(value: Any) -> UUID | None:
    """A UUID as the transcoder stores it, as text, or as itself; None for None."""
    if value is None or isinstance(value, UUID):
        return value
    return UUID(data_of(value))


def time_of(value: Any) -> datetime:
    """A datetime as the transcoder stores it, or as ISO text."""
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(data_of(value))


def utc_text(at: datetime) -> str:
    """Fixed-width UTC text, so that text order is time order (SQLite columns, read models)."""
    return at.astimezone(timezone.utc).strftime(_UTC_FORMAT)


def from_utc_text(text: str) -> datetime:
    return datetime.strptime(text, _UTC_FORMAT).replace(tzinfo=timezone.utc)
