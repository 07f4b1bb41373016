"""Invariant 2 for the postings table, on PostgreSQL: its rows equal the rows the events give,
compared in the server (on the connection that compares the projections, beside the pass).

``WANT_SQL`` is ``ledger.postings.rows_of`` in SQL: per ``LedgerTransaction.Recorded`` event up to
a position, one row per posting of its stored JSON, typed as the table's columns. A full join on
``(position, seq)`` gives only the rows that differ: a row of the table with no equal row in the
events "does not match its event", a row the events give that the table lacks "is missing" (the
messages ``ops.verify`` writes on SQLite, where the pass compares the rows in Python).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledger.postings import COLUMNS, PostingRow
from projections.db import Tx

# An account's owner as a uuid, NULL if it is none (the replay reports a malformed posting; the
# cast must not fail the comparison).
_OWNER = "CASE WHEN split_part({0}, ':', 2) ~ '^[0-9a-fA-F]{{32}}$' THEN split_part({0}, ':', 2)::uuid END"
# A uuid or a datetime as the library's transcoder stores it ({"_type_": …, "_data_": …}) or plain.
_DATA = "coalesce({0}->>'_data_', {0}#>>'{{}}')"

WANT_SQL = f"""
SELECT e.notification_id::bigint AS position, (x.ord - 1)::integer AS seq, e.originator_id AS transaction_id,
       r.key, r.kind, split_part(q.source, ':', 1) AS source_kind, {_OWNER.format('q.source')} AS source_id,
       split_part(q.destination, ':', 1) AS destination_kind, {_OWNER.format('q.destination')} AS destination_id,
       q.amount::bigint AS amount, coalesce(q.minutes, 0)::integer AS line_minutes, r.minutes::integer AS txn_minutes,
       ({_DATA.format('r.unit_id')})::uuid AS unit_id, ({_DATA.format('r.reverses')})::uuid AS reverses,
       q.line::integer AS line, CASE WHEN x.p::jsonb ? 'key' THEN q.key ELSE q.reverses END AS line_key,
       CASE WHEN x.p::jsonb ? 'memo' THEN q.memo ELSE r.memo END AS memo,
       ({_DATA.format('r.at')})::timestamptz AS at, (({_DATA.format('r.at')})::timestamptz AT TIME ZONE %(zone)s)::date AS day
FROM {{events}} e
CROSS JOIN LATERAL json_to_record(convert_from(e.state, 'UTF8')::json)
     AS r(key text, kind text, minutes bigint, memo text, unit_id json, reverses json, at json, postings json)
CROSS JOIN LATERAL json_array_elements(r.postings) WITH ORDINALITY AS x(p, ord)
CROSS JOIN LATERAL json_to_record(x.p) AS q(source text, destination text, amount bigint, minutes bigint, line bigint,
                                            key text, reverses text, memo text)
WHERE e.topic = %(topic)s AND e.notification_id <= %(end)s
"""

_N = len(COLUMNS)
_HAVE = ", ".join(f"h.{c}" for c in COLUMNS)
_WANT = ", ".join(f"w.{c}" for c in COLUMNS)
_BOTH = ", ".join([f"h.{c} AS h_{c}" for c in COLUMNS] + [f"w.{c} AS w_{c}" for c in COLUMNS])

DIFF_SQL = f"""
SELECT h.position IS NOT NULL AS held, w.position IS NOT NULL AS given, {_BOTH}
FROM (SELECT * FROM {{postings}} WHERE position <= %(end)s) h
FULL JOIN ({WANT_SQL}) w ON w.position = h.position AND w.seq = h.seq
WHERE h.position IS NULL OR w.position IS NULL OR ROW({_HAVE}) IS DISTINCT FROM ROW({_WANT})
ORDER BY coalesce(h.position, w.position), coalesce(h.seq, w.seq)
LIMIT 1000
"""


def compare(tx: Tx, events: str, postings: str, topic: str, zone: str, end: int,
            check: Callable[[list[PostingRow], list[PostingRow]], None]) -> None:
    """The rows that differ (at most a thousand), handed to ``check(expected, recorded)``."""
    rows: list[dict[str, Any]] = tx.all(DIFF_SQL.replace("{events}", events).replace("{postings}", postings),
                                        {"end": end, "topic": topic, "zone": zone})
    recorded, expected = [], []
    for r in rows:
        values = list(r.values())[2:]
        if r["held"]:
            recorded.append(PostingRow(*values[:_N]))
        if r["given"]:
            expected.append(PostingRow(*values[_N:]))
    if recorded or expected:
        check(expected, recorded)
