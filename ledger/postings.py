"""One typed row per posting: a write-time index of the events.

The journal writes, in the same store transaction as a ``LedgerTransaction.Recorded`` event, one
row per posting of it: where it is in the log, which transaction and key, its kind, source and
destination (account kind and owner), amount, minutes, the transaction's unit, what it reverses,
the batch line, the memo, the time and the local day in the configured zone. Projections and
verify read these columns instead of decoding JSON. Nothing ever updates or deletes a row; an
import rebuilds them from the events with the same function, and verify proves they equal the
events (``rows_of``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple
from uuid import UUID
from zoneinfo import ZoneInfo

from ledger.accounts import parse_account
from ledger.codec import time_of, uuid_of

TABLE = "ledger_postings"


class PostingRow(NamedTuple):
    position: int  # the notification id of the transaction's Recorded event (0 until recorded)
    seq: int  # the posting's place in its transaction
    transaction_id: UUID
    key: str
    kind: str
    source_kind: str
    source_id: UUID
    destination_kind: str
    destination_id: UUID
    amount: int
    line_minutes: int  # a batch line's own minutes
    txn_minutes: int  # the transaction's minutes (they follow the earned points)
    unit_id: UUID | None  # the transaction's unit
    reverses: UUID | None  # the transaction this one reverses
    line: int | None  # a batch line's number in its file
    line_key: str | None  # a batch line's paid key, or the one a batch reversal line takes back
    memo: str  # the posting's own memo, else the transaction's
    at: datetime
    day: date  # ``at``'s day in the configured zone


COLUMNS = PostingRow._fields


def rows_of(
    transaction_id: UUID,
    state: Mapping[str, Any],
    zone: ZoneInfo,
    position: int = 0,
) -> list[PostingRow]:
    """The rows of one transaction, from its Recorded event's attributes (``key``, ``kind``,
    ``postings``, ``minutes``, ``memo``, ``unit_id``, ``reverses``, ``at``: as the aggregate has
    them, or decoded from the store by ``ledger.codec``)."""
    at: datetime = state["at"]
    day = at.astimezone(zone).date()
    rows = []
    for seq, p in enumerate(state["postings"]):
        source_kind, source_id = parse_account(p["source"])
        destination_kind, destination_id = parse_account(p["destination"])
        rows.append(
            PostingRow(
                position, seq, transaction_id, state["key"], state["kind"], source_kind, source_id,
                destination_kind, destination_id, int(p["amount"]), int(p.get("minutes", 0)), int(state["minutes"]),
                state["unit_id"], state["reverses"], p.get("line"), p.get("key", p.get("reverses")),
                p.get("memo", state["memo"]), at, day,
            )
        )
    return rows


def placed(rows: Sequence[PostingRow], positions: Mapping[UUID, int]) -> list[PostingRow]:
    """The rows with their transactions' positions in the log, once recorded."""
    return [r._replace(position=positions[r.transaction_id]) for r in rows]


def rows_of_stored(transaction_id: UUID, state: Mapping[str, Any], zone: ZoneInfo, position: int = 0) -> list[PostingRow]:
    """``rows_of`` from a Recorded event's stored attributes (decoded JSON, ``ledger.codec``)."""
    decoded = {
        **state,
        "unit_id": uuid_of(state.get("unit_id")),
        "reverses": uuid_of(state.get("reverses")),
        "at": time_of(state["at"]),
    }
    return rows_of(transaction_id, decoded, zone, position)
