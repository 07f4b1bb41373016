"""What a rebuild of the directory projection (``units``, ``volunteers``) up to a position gives,
as two SELECTs over the structure events' stored JSON, on PostgreSQL: for verify to compare with
the rows held, in the server (no event decoded in Python: a street of 10^5 volunteers is 10^5
registrations).

As ``projections.directory`` applies them: a unit or a volunteer as created, with the parent or
the home of its last move; ids as UUID text, times as fixed-width UTC text (``ledger.codec``).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.utils import get_topic

from ledger.domain import Unit, Volunteer
from projections.db import Tx
from projections.postings import UTC_TEXT_SQL

_UNIT_CREATED = get_topic(Unit.Created)  # type: ignore[attr-defined]
_UNIT_MOVED = get_topic(Unit.Moved)  # type: ignore[attr-defined]
_REGISTERED = get_topic(Volunteer.Registered)  # type: ignore[attr-defined]
_MOVED = get_topic(Volunteer.Moved)  # type: ignore[attr-defined]


def _uuid_text(value: str) -> str:
    """A stored UUID ({"_type_": "uuid_hex", "_data_": hex}) as the projection writes it."""
    return f"(coalesce({value}->>'_data_', {value}#>>'{{}}'))::uuid::text"


def _events(topic: str) -> str:
    return (f"SELECT notification_id AS n, originator_id::text AS id, convert_from(state, 'UTF8')::json AS s "
            f"FROM {{events}} WHERE topic = '{topic}' AND notification_id <= %(end)s")


def _last(topic: str, column: str) -> str:
    """The value of ``column`` (a UUID) in each aggregate's last event of ``topic``."""
    value = _uuid_text(f"s->'{column}'")
    return f"SELECT DISTINCT ON (id) id, {value} AS value FROM ({_events(topic)}) AS m ORDER BY id, n DESC"


def expected_sql(tx: Tx, raw: Any, end: int) -> dict[str, tuple[str, dict[str, Any]]]:
    """Per table, a SELECT (columns and types as the table's) and its parameters."""
    at = UTC_TEXT_SQL.format("(c.s->'at'->>'_data_')::timestamptz")
    parent, home = _uuid_text("c.s->'parent_id'"), _uuid_text("c.s->'unit_id'")
    units = (
        f"SELECT c.id, c.s->>'name' AS name, c.s->>'kind' AS kind, "
        f"coalesce(m.value, {parent}) AS parent_id, {at} AS created_at "
        f"FROM ({_events(_UNIT_CREATED)}) AS c LEFT JOIN ({_last(_UNIT_MOVED, 'parent_id')}) AS m ON m.id = c.id"
    )
    volunteers = (
        f"SELECT c.id, c.s->>'name' AS name, coalesce(m.value, {home}) AS unit_id, "
        f"c.s->>'member_no' AS member_no, c.s->>'phone_last4' AS phone_last4, {at} AS registered_at "
        f"FROM ({_events(_REGISTERED)}) AS c LEFT JOIN ({_last(_MOVED, 'unit_id')}) AS m ON m.id = c.id"
    )
    params = {"end": end}
    return {
        "units": (units.replace("{events}", raw.table), params),
        "volunteers": (volunteers.replace("{events}", raw.table), params),
    }
