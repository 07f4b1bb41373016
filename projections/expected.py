"""What a rebuild of a projection up to a position would give, computed inside one read
transaction, without touching its tables (for verify: compare with the rows the projection holds).

The projection's tables are shadowed by empty temporary ones of the same shape (unqualified names
find the temporary schema first, on both stores), the log up to ``end`` is applied to them by the
projection's own catch-up path (for those that read the postings table: set-based SQL on
PostgreSQL), the rows are read, and the temporary tables dropped.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from projections.base import Projection
from projections.db import Tx
from projections.rawlog import RawEvent, RawLog, Run


def expected_rows(ledger: Any, tx: Tx, projection: Projection, end: int) -> dict[str, list[dict[str, Any]]]:
    """Rows per table, sorted as ``base.snapshot_rows`` sorts them, of ``projection`` rebuilt
    from the log up to ``end``. Only for projections that read raw (``reads_raw``)."""
    with shadowed(ledger, tx, projection, end) as tables:
        return {
            table: sorted(tx.all(f"SELECT * FROM {shadow}"), key=lambda r: [str(v) for v in r.values()])
            for table, shadow in tables.items()
        }


@contextmanager
def shadowed(ledger: Any, tx: Tx, projection: Projection, end: int) -> Iterator[dict[str, str]]:
    """``projection`` rebuilt from the log up to ``end`` in temporary tables of ``tx``: yields,
    per table, the qualified name of its rebuilt copy (for verify to compare in the server with
    the table the projection holds); the copies are dropped afterwards."""
    if not projection.reads_raw:
        raise ValueError(f"{projection.name}: only a projection that reads the log with SQL is computed here")
    p = copy.copy(projection)
    if hasattr(p, "bulk_min_run"):
        p.bulk_min_run = 2**62  # the bulk path swaps tables by name: not in a shadow
    temp = "pg_temp." if tx.is_postgres else "temp."
    for table in p.tables:
        if tx.is_postgres:
            tx.execute(f"CREATE TEMP TABLE {table} (LIKE public.{table} INCLUDING ALL)")
        else:
            columns = tx.one("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", (table,))
            assert columns is not None, table
            tx.execute(columns["sql"].replace("CREATE TABLE IF NOT EXISTS", "CREATE TEMP TABLE", 1).replace("CREATE TABLE", "CREATE TEMP TABLE", 1))
    try:
        raw = RawLog(ledger, postgres=tx.is_postgres)
        topics = sorted(p.topics())
        run_topic = p.sql_topic(postgres=tx.is_postgres)
        if run_topic is None:
            items: list[RawEvent | Run] = list(raw.page(tx, 0, end, topics)[0])
        else:
            items = raw.page_runs(tx, 0, end, topics, run_topic)[0]
        p.apply_raw(tx, items, ledger.mapper)
        yield {table: f"{temp}{table}" for table in p.tables}
    finally:
        for table in p.tables:
            tx.execute(f"DROP TABLE {temp}{table}")
