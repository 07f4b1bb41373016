"""The one codec of paging cursors: opaque URL-safe text that only this server makes.

A cursor is a prefix naming its kind and version, then colon-separated fields, in unpadded
URL-safe base64. Whatever was not made here (another prefix, the wrong number of fields, a
field that does not parse) is refused with ``InvalidCursor``, never a 500.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from api.problems import InvalidCursor

T = TypeVar("T")

SEQ = "seq:"  # a sequence number of a read model's rows (entries, merchants, offers)
NOT_OURS = "this cursor was not made by this server"


def encode(prefix: str, *fields: object) -> str:
    text = prefix + ":".join(str(f) for f in fields)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(prefix: str, cursor: str, parse: Callable[[list[str]], T]) -> T:
    """The fields of a cursor, parsed by ``parse`` (which raises ValueError for what it
    refuses). Raises InvalidCursor."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if not text.startswith(prefix):
            raise ValueError(text)
        return parse(text.removeprefix(prefix).split(":"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor(NOT_OURS) from None


def encode_seq(seq: int) -> str:
    return encode(SEQ, seq)


def _seq(fields: list[str]) -> int:
    (digits,) = fields
    if not digits.isdigit() or len(digits) > 18:
        raise ValueError(digits)
    return int(digits)


def decode_seq(cursor: str) -> int:
    """Raises InvalidCursor."""
    return decode(SEQ, cursor, _seq)


def page_of(rows: Sequence[dict[str, Any]], limit: int) -> tuple[Sequence[dict[str, Any]], str | None]:
    """Rows fetched as ``limit + 1``: the page's rows and the cursor of the next page (None
    at the end), by the ``seq`` of the page's last row."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_seq(int(rows[-1]["seq"]))
