"""Leaderboards of role models (道德榜样) and unit roll-ups, by unit and period.

What a board shows: per unit, period and volunteer, the points earned and minutes served by
that volunteer while their home was the unit or under it. A credit in a building counts for the
building and every ancestor (compound, community, street).

How it is stored (integer keys: a unit's and a volunteer's number is the notification id of
their creation; a period is ``kind * 10**8 + yyyymmdd``):
- ``lb_seg``: one row per (period, volunteer) for a volunteer whose home chain never changed,
  with the chain itself as columns ``a0`` (the root) … ``a3`` (0 below the home). The row counts
  for every unit of the chain: the street's board is the rows with ``a0`` = the street, a
  building's those with its whole chain. Most volunteers never move, so this is one row where
  per-unit rows would be four.
- ``lb_moved``: per (unit, period, volunteer), for the few volunteers whose chain changed (they
  moved home, or a unit above their home moved). When that happens their ``lb_seg`` rows are
  spread over the units of their old chain here, once, so a volunteer's figures are in exactly
  one of the two tables and a board never needs to add rows up.
- ``lb_totals``: per unit and period, the points issued from the issuing accounts of the unit and
  its descendants, and the points earned, redeemed and minutes served by volunteers whose home
  was the unit or under it.
- ``lb_units``, ``lb_people``: this projection's own copy of the tree (each unit with its
  ancestry) and of each volunteer's current home, so it is exactly-once on its own position and
  needs no other projection.

Attribution is fixed when the event is applied: a volunteer who moves home keeps their earlier
figures where they were earned and adds later ones to the new home; a unit moved under another
parent keeps its earlier figures in its old ancestors, later ones roll up to the new ones. A
reversal (or a batch reversal) counts in the period in which it is recorded, like any other
posting: it lowers that period's figures and all time (a period's figures are what was recorded
in it, net). It also counts where the volunteer's home is when it is recorded (a reversal after a
move lowers the new home's figures). Redemptions do not lower "points earned".

Every (unit, period, volunteer) that an earning event touches gets a row, even when a reversal
later brings it to zero, so the rows do not depend on how the log was batched (a rebuild gives
the same rows); boards show only values above zero. Inside a tie, volunteers are listed in the
order they were registered.

Catch-up reads the log with SQL (``projections.rawlog``): the structure events (a unit or a
volunteer created or moved) as stored events, decoded and applied by the Python logic above, and
the transactions between two of them as *runs* of positions, read from the ledger's postings table
(one typed row per posting, written with the events: no JSON). On SQLite a run's rows are read and
added up in memory (``Step.record``) and merged with one statement per table, in the transaction
that moves the position. On PostgreSQL the transactions never reach Python: ONE statement per run
(``sql.RUN_SQL``) reads the run's postings rows, adds the figures up exactly as ``Step.record``
does and merges them into ``lb_seg``, ``lb_moved`` and ``lb_totals``, in the same transaction.
Figures pending in memory are written first, so the order of the log is kept. Both paths give
the same rows as the old one (every transaction's JSON decoded; ``use_sql = False``), tested on
one random log. A long run that finds ``lb_seg`` empty (a rebuild, a first catch-up) writes a new
table without indexes and builds them afterwards (``sql._bulk_run``), which costs a third of
keeping them row by row.

Modules: ``tables`` (the tables, ``lb_seg``'s key and indexes, period codes), ``projection`` (the
projection, dispatching each step's events to one path or the other), ``apply`` (the Python
path), ``sql`` (the SQL path), ``queries`` (reading boards and totals).
"""

from projections.leaderboards.projection import DEFAULT_ZONE, LeaderboardsProjection
from projections.leaderboards.queries import board, board_rows, children, default_unit, hex_id, totals, unit_row, units_named
from projections.leaderboards.tables import DEPTH, period_code, period_of

__all__ = [
    "DEFAULT_ZONE", "DEPTH", "LeaderboardsProjection", "board", "board_rows", "children", "default_unit", "hex_id",
    "period_code", "period_of", "totals", "unit_row", "units_named",
]
