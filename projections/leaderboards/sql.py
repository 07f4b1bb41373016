"""The leaderboards' SQL path, on PostgreSQL: a run of transactions (a range of ids of the
events table, between two structure events) applied by ONE statement (``RUN_SQL``) that reads the
range's rows of the ledger's postings table (columns, no JSON), adds the figures up exactly as the Python path does
(``projections.leaderboards.apply``) and merges them into ``lb_seg``, ``lb_moved`` and
``lb_totals``, in the step's transaction. A long run that finds ``lb_seg`` empty (a rebuild, a
first catch-up) writes a new table without indexes and builds them afterwards (``_bulk_run``),
which costs a third of keeping them row by row.
"""

from __future__ import annotations

from typing import Any

from projections.db import Tx
from projections.leaderboards.tables import SEG_COLUMNS, SEG_INDEXES, SEG_KEY
from projections.rawlog import Run

# The postings of the transactions at positions lo…hi, read from the ledger's postings table
# ({postings}: columns written with the events, no JSON): per posting, the volunteer and issuing
# unit it concerns (ids as hex) and what it adds to their figures.
POSTINGS_SQL = """
  SELECT q.position AS id, q.txn_minutes AS tmin, (q.at AT TIME ZONE %(zone)s)::date AS d,
         CASE WHEN q.source_kind = 'issuing' THEN CASE WHEN q.destination_kind = 'volunteer' THEN replace(q.destination_id::text, '-', '') END
              WHEN q.destination_kind = 'issuing' THEN CASE WHEN q.source_kind = 'volunteer' THEN replace(q.source_id::text, '-', '') END
              WHEN q.destination_kind = 'merchant' AND q.source_kind = 'volunteer' THEN replace(q.source_id::text, '-', '')
              WHEN q.source_kind = 'merchant' AND q.destination_kind = 'volunteer' THEN replace(q.destination_id::text, '-', '')
         END AS vid,
         CASE WHEN q.source_kind = 'issuing' THEN replace(q.source_id::text, '-', '')
              WHEN q.destination_kind = 'issuing' THEN replace(q.destination_id::text, '-', '') END AS issuer,
         CASE WHEN q.source_kind = 'issuing' THEN q.amount
              WHEN q.destination_kind = 'issuing' THEN -q.amount ELSE 0 END AS earned,
         CASE WHEN q.source_kind = 'issuing' OR q.destination_kind = 'issuing' THEN 0
              WHEN q.destination_kind = 'merchant' THEN q.amount ELSE -q.amount END AS redeemed,
         CASE WHEN q.source_kind = 'issuing' THEN q.line_minutes
              WHEN q.destination_kind = 'issuing' THEN -q.line_minutes ELSE 0 END AS own
  FROM {postings} q
  WHERE q.position BETWEEN %(lo)s AND %(hi)s
"""

# The old source of the same rows (before the postings table): the transactions with ids lo…hi of
# the events table, their JSON decoded in the server, each field once. Kept for the bench (the
# path before) and for comparing the two.
JSON_POSTINGS_SQL = """
  SELECT e.notification_id AS id, r.minutes AS tmin, ((r.at->>'_data_')::timestamptz AT TIME ZONE %(zone)s)::date AS d,
         CASE WHEN starts_with(q.source, 'issuing:') THEN CASE WHEN starts_with(q.destination, 'volunteer:') THEN substr(q.destination, 11) END
              WHEN starts_with(q.destination, 'issuing:') THEN CASE WHEN starts_with(q.source, 'volunteer:') THEN substr(q.source, 11) END
              WHEN starts_with(q.destination, 'merchant:') AND starts_with(q.source, 'volunteer:') THEN substr(q.source, 11)
              WHEN starts_with(q.source, 'merchant:') AND starts_with(q.destination, 'volunteer:') THEN substr(q.destination, 11)
         END AS vid,
         CASE WHEN starts_with(q.source, 'issuing:') THEN substr(q.source, 9)
              WHEN starts_with(q.destination, 'issuing:') THEN substr(q.destination, 9) END AS issuer,
         CASE WHEN starts_with(q.source, 'issuing:') THEN q.amount
              WHEN starts_with(q.destination, 'issuing:') THEN -q.amount ELSE 0 END AS earned,
         CASE WHEN starts_with(q.source, 'issuing:') OR starts_with(q.destination, 'issuing:') THEN 0
              WHEN starts_with(q.destination, 'merchant:') THEN q.amount ELSE -q.amount END AS redeemed,
         CASE WHEN starts_with(q.source, 'issuing:') THEN coalesce(q.minutes, 0)
              WHEN starts_with(q.destination, 'issuing:') THEN -coalesce(q.minutes, 0) ELSE 0 END AS own
  FROM {events} e
  CROSS JOIN LATERAL json_to_record(convert_from(e.state, 'UTF8')::json) AS r(minutes bigint, at json, postings json)
  CROSS JOIN LATERAL json_to_recordset(r.postings) AS q(source text, destination text, amount bigint, minutes bigint)
  WHERE e.notification_id BETWEEN %(lo)s AND %(hi)s AND e.topic = %(topic)s
"""

# One run of LedgerTransaction.Recorded events (ids %(lo)s to %(hi)s of the events table), applied
# in PostgreSQL exactly as ``Step.record`` and ``Step.flush`` (``apply.py``) apply them in Python:
# - ``f``: every posting (the JSON parsed once per event), with its transaction's minutes and local
#   day (cut in %(zone)s), the volunteer it concerns, the issuing unit, and its signed figures;
# - ``v``: per transaction and volunteer, points earned (flows from or back to issuing accounts,
#   with the posting's own minutes), redeemed (net flows to merchants), and minutes = own minutes
#   plus the transaction's, following the sign of the points;
# - ``i``: per transaction and issuing unit, the net points issued (rows only when not zero);
# - ``w``: ``v`` for volunteers this projection knows (and whose home it knows), with their number
#   and home; ``days``: each local day's period codes and starts; ``coded``: per volunteer and
#   period code, the figures of the transactions with points not zero, and where they count;
# - ``anc``/``homes``: each unit's ancestry from ``lb_units`` (the unit first) and its chain of
#   unit numbers, root first, padded with 0 (``whole`` as ``Step.chain`` is not None);
#   ``place``: each volunteer's home and chain, and whether their rows go to ``lb_moved``;
# then ``lb_seg`` ({seg}: a new table for ``_bulk_run``, where {merge} is empty) gets the rows of non-movers with a whole chain, ``lb_moved`` those of the
# others (one per unit of the ancestry), both only for points not zero, and ``lb_totals`` every
# volunteer's and issuing unit's figures rolled up to every ancestor (zeros included, as Python
# writes them).
_RUN_SQL = """
WITH f AS MATERIALIZED (
{{source}}), v AS (
  SELECT id, d, vid, sum(earned)::bigint AS points, sum(redeemed)::bigint AS redeemed,
         (sum(own) + sign(sum(earned))::bigint * min(tmin))::bigint AS minutes
  FROM f WHERE vid IS NOT NULL GROUP BY id, d, vid
), i AS (
  SELECT d, issuer AS unit, sum(amount)::bigint AS issued FROM (
    SELECT id, d, issuer, sum(earned)::bigint AS amount FROM f WHERE issuer IS NOT NULL GROUP BY id, d, issuer
  ) AS per_txn WHERE amount <> 0 GROUP BY d, issuer
), anc AS MATERIALIZED (
  SELECT u.unit_id AS home, x.aid AS unit, a.seq, x.ord, cardinality(string_to_array(u.ancestry, ',')) AS len
  FROM lb_units u CROSS JOIN LATERAL unnest(string_to_array(u.ancestry, ',')) WITH ORDINALITY AS x(aid, ord)
  LEFT JOIN lb_units a ON a.unit_id = x.aid
), homes AS (
  SELECT home, max(len) <= 4 AND count(seq) = count(*) AS whole,
         coalesce(max(seq) FILTER (WHERE ord = len), 0) AS a0, coalesce(max(seq) FILTER (WHERE ord = len - 1), 0) AS a1,
         coalesce(max(seq) FILTER (WHERE ord = len - 2), 0) AS a2, coalesce(max(seq) FILTER (WHERE ord = len - 3), 0) AS a3
  FROM anc GROUP BY home
), days AS MATERIALIZED (  -- each local day's period codes and starts, computed once
  SELECT d, ws,
         100000000 + (date_part('year', ws) * 10000 + date_part('month', ws) * 100 + date_part('day', ws))::int AS pw,
         200000000 + (date_part('year', d) * 10000 + date_part('month', d) * 100 + 1)::int AS pm,
         300000000 + (date_part('year', d) * 10000 + 101)::int AS py,
         to_char(ws, 'YYYY-MM-DD') AS sw, to_char(d, 'YYYY-MM-01') AS sm, to_char(d, 'YYYY-01-01') AS sy
  FROM (SELECT d, d - (date_part('isodow', d)::int - 1) AS ws FROM (SELECT DISTINCT d FROM f) AS x) AS y
), w AS MATERIALIZED (
  SELECT v.d, v.points, v.redeemed, v.minutes, pe.n, pe.home_unit_id AS home
  FROM v JOIN lb_people pe ON pe.volunteer_id = v.vid JOIN homes h ON h.home = pe.home_unit_id
), place AS MATERIALIZED (  -- each volunteer's place, joined by hash (not looked up per board row)
  SELECT pe.n, pe.home_unit_id AS home, pe.mover <> 0 OR NOT h.whole AS moved, h.a0, h.a1, h.a2, h.a3
  FROM lb_people pe JOIN homes h ON h.home = pe.home_unit_id
), coded AS MATERIALIZED (  -- the board rows' figures per volunteer and period, with the volunteer's place
  SELECT c.n, c.p, c.points, c.minutes, pl.home, pl.moved, pl.a0, pl.a1, pl.a2, pl.a3
  FROM (
    SELECT e.n, k.p, sum(e.points)::bigint AS points, sum(e.minutes)::bigint AS minutes
    FROM (SELECT n, d, sum(points)::bigint AS points, sum(minutes)::bigint AS minutes FROM w WHERE points <> 0 GROUP BY n, d) AS e
    JOIN days ON days.d = e.d
    CROSS JOIN LATERAL (VALUES (days.pw), (days.pm), (days.py), (400000000)) AS k(p)
    GROUP BY e.n, k.p
  ) AS c JOIN place pl ON pl.n = c.n
), seg AS (
  INSERT INTO {seg} (a0, a1, a2, a3, p, volunteer, points, minutes)
  SELECT a0, a1, a2, a3, p, n, points, minutes FROM coded WHERE NOT moved ORDER BY a0, a1, a2, p, a3, n
  {merge}
), moved AS (
  INSERT INTO lb_moved (unit, p, volunteer, points, minutes)
  SELECT a.seq, c.p, c.n, c.points, c.minutes FROM coded c JOIN anc a ON a.home = c.home
  WHERE c.moved AND a.seq IS NOT NULL ORDER BY 1, 2, 3
  ON CONFLICT (unit, p, volunteer) DO UPDATE
  SET points = lb_moved.points + excluded.points, minutes = lb_moved.minutes + excluded.minutes
), per_period AS (  -- per unit and period: the totals' figures, before the roll-up
  SELECT t.unit, k.kind, k.start, sum(t.issued)::bigint AS issued, sum(t.earned)::bigint AS earned,
         sum(t.redeemed)::bigint AS redeemed, sum(t.minutes)::bigint AS minutes
  FROM (
    SELECT home AS unit, d, 0::bigint AS issued, sum(points)::bigint AS earned, sum(redeemed)::bigint AS redeemed,
           sum(minutes)::bigint AS minutes
    FROM w GROUP BY home, d
    UNION ALL
    SELECT unit, d, issued, 0, 0, 0 FROM i
  ) AS t JOIN days ON days.d = t.d
  CROSS JOIN LATERAL (VALUES ('week', days.sw), ('month', days.sm), ('year', days.sy), ('all', '')) AS k(kind, start)
  GROUP BY t.unit, k.kind, k.start
)
INSERT INTO lb_totals (unit_id, period_kind, period_start, issued, earned, redeemed, minutes)
SELECT a.unit, t.kind, t.start, sum(t.issued), sum(t.earned), sum(t.redeemed), sum(t.minutes)
FROM per_period t JOIN anc a ON a.home = t.unit
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
ON CONFLICT (unit_id, period_kind, period_start) DO UPDATE
SET issued = lb_totals.issued + excluded.issued, earned = lb_totals.earned + excluded.earned,
    redeemed = lb_totals.redeemed + excluded.redeemed, minutes = lb_totals.minutes + excluded.minutes
"""
RUN_SQL = _RUN_SQL.replace("{{source}}", POSTINGS_SQL)
JSON_RUN_SQL = _RUN_SQL.replace("{{source}}", JSON_POSTINGS_SQL)


_SEG_MERGE = """ON CONFLICT (a0, a1, a2, p, a3, volunteer) DO UPDATE
  SET points = lb_seg.points + excluded.points, minutes = lb_seg.minutes + excluded.minutes"""


def _bulk_run(tx: Tx, run: Run, params: dict[str, Any], statement: str) -> None:
    """Apply ``run`` while ``lb_seg`` is empty: its rows go into a new table without indexes
    (each row is new: one per volunteer and period), whose key and indexes are then built in
    one sort each, and the new table takes ``lb_seg``'s place, all in the step's transaction.
    Readers see the empty table until the step commits; the swap at the end holds the
    exclusive lock only for the rest of the step."""
    tx.execute(f"CREATE TABLE lb_seg_build ({SEG_COLUMNS})")
    tx.execute(statement.format(events=run.table, postings=run.postings, seg="lb_seg_build", merge=""), params)
    tx.execute(f"ALTER TABLE lb_seg_build ADD CONSTRAINT lb_seg_build_pkey PRIMARY KEY {SEG_KEY}")
    for name, columns in SEG_INDEXES:
        tx.execute(f"CREATE INDEX lb_seg_build_{name} ON lb_seg_build {columns}")
    tx.execute("DROP TABLE lb_seg")
    tx.execute("ALTER TABLE lb_seg_build RENAME TO lb_seg")
    for name in ("pkey", *(name for name, _ in SEG_INDEXES)):
        tx.execute(f"ALTER INDEX lb_seg_build_{name} RENAME TO lb_seg_{name}")


def tune(tx: Tx) -> None:
    """The transaction's settings for the run statement, made once per step."""
    # JIT would compile this statement for seconds, every time; its aggregates
    # want more memory than the default rather than spilling to disk.
    tx.execute("SET LOCAL jit = off")
    tx.execute("SET LOCAL work_mem = '128MB'")


def apply_run(tx: Tx, run: Run, zone: str, *, bulk_min_run: int, from_json: bool = False) -> bool:
    """Apply one run of transactions (local days cut in ``zone``) from the postings table (or,
    ``from_json``, from the events' JSON: the old path); True when it went into a new ``lb_seg``
    (``_bulk_run``: the run is at least ``bulk_min_run`` long and ``lb_seg`` empty)."""
    params = {"lo": run.lo, "hi": run.hi, "topic": run.topic, "zone": zone}
    statement = JSON_RUN_SQL if from_json else RUN_SQL
    if run.count >= bulk_min_run and tx.one("SELECT NOT EXISTS (SELECT 1 FROM lb_seg) AS empty")["empty"]:  # type: ignore[index]
        _bulk_run(tx, run, params, statement)
        return True
    tx.execute(statement.format(events=run.table, postings=run.postings, seg="lb_seg", merge=_SEG_MERGE), params)
    return False
