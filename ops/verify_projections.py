"""Invariant 5 for ``moralbank verify``: every projection is at the log's end, and each of its
tables holds what a rebuild up to that end would give, computed in SQL and compared in the server.

Where the rows a rebuild would give come from, per projection (the first that applies):
1. the projection module's own ``expected_rows(tx, end)`` (``ops.verify.expected_of``);
2. on PostgreSQL, SELECTs: over the postings table for the accounts (balances and entries, the
   projection's largest tables: ``projections.expected_accounts``), over the structure events'
   JSON for the directory (``projections.expected_directory``);
3. the projection rebuilt in temporary tables of the same read transaction by its own catch-up
   path (``projections.expected.shadowed``: set-based SQL over the postings table on PostgreSQL
   for leaderboards and alliance statements; the structure events of attendance through the
   library's mapper, few rows of a long log; on SQLite, every projection).

On PostgreSQL a table is compared with its expected rows by ONE full join on the table's primary
key (whole rows compared; the expected SELECT gives the table's columns and types), or EXCEPT ALL
both ways for a table without one; only the differences come back. On SQLite both are read and compared as
multisets here (SQLite has no EXCEPT ALL; its stores are small).

This runs on its own connection while the pass over the log reads and replays on another: the
server compares while Python hashes.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import psycopg

from projections.base import Follower
from projections.db import Database, Tx
from projections.expected import shadowed
from projections.expected_accounts import expected_sql as accounts_sql
from projections.expected_directory import expected_sql as directory_sql
from projections.rawlog import RawLog

EXAMPLES = 3
PROJECTIONS = 5  # the invariant's number

Expected = Callable[[Any, int], Mapping[str, "str | Iterable[Mapping[str, Any]]"]]
Add = Callable[[int, str], None]

IN_SQL = {"accounts": accounts_sql, "directory": directory_sql}  # PostgreSQL: projections whose expected rows are SELECTs


def expected_of(projection: Any) -> Expected | None:
    """The projection module's ``expected_rows(tx, end)``, if it offers one: per table of the
    projection, the rows a rebuild from the log up to ``end`` would give: a SELECT text (compared
    with the table in the server) or the rows themselves."""
    module = sys.modules.get(type(projection).__module__)
    found = getattr(module, "expected_rows", None)
    return found if callable(found) else None


def check_projections(ledger: Any, db: Database, followers: Iterable[Follower], end: int, add: Add,
                      timings: dict[str, float] | None = None) -> dict[str, int]:
    """Positions and rows of every projection against the log up to ``end``; returns the positions
    (and the seconds of each in ``timings``)."""
    positions: dict[str, int] = {}
    for f in followers:
        started = time.perf_counter()
        position = f.position()
        positions[f.name] = position
        if position != end:
            add(PROJECTIONS, f"projection {f.name} is at position {position}, the log ends at {end}")
        try:
            _check_one(ledger, db, f, end, add)
        except (sqlite3.Error, psycopg.Error) as e:
            add(PROJECTIONS, f"projection {f.name}: its rows could not be compared with a rebuild: {e}")
        if timings is not None:
            timings[f"projection {f.name}"] = time.perf_counter() - started
    return positions


def _check_one(ledger: Any, db: Database, f: Follower, end: int, add: Add) -> None:
    projection = f.projection
    hook = expected_of(projection)
    with db.read() as tx:
        if tx.is_postgres:
            tx.execute("SET LOCAL jit = off")  # compiling these statements costs more than running them
            tx.execute("SET LOCAL work_mem = '256MB'")
        if hook is not None:
            for table, want in hook(tx, end).items():
                _compare(tx, add, f.name, table, want, {}, "a rebuild computed from the postings")
        elif tx.is_postgres and projection.name in IN_SQL:
            raw = RawLog(ledger, postgres=True)
            for table, (select, params) in IN_SQL[projection.name](tx, raw, end).items():
                _compare(tx, add, f.name, table, select, params, "a rebuild computed from the postings")
        else:
            with shadowed(ledger, tx, projection, end) as copies:
                for table, copy in copies.items():
                    _compare(tx, add, f.name, f"{'public.' if tx.is_postgres else 'main.'}{table}",
                             f"SELECT * FROM {copy}", {}, "a rebuild from scratch", shown=table)


def _compare(tx: Tx, add: Add, name: str, table: str, want: Any, params: Mapping[str, Any], what: str,
             *, shown: str | None = None) -> None:
    shown = shown or table
    if isinstance(want, str) and tx.is_postgres:
        extra, missing = _differences_pg(tx, table, want, params)
    else:
        rows = tx.all(want, params or ()) if isinstance(want, str) else [dict(r) for r in want]
        have = Counter(tuple(sorted(r.items())) for r in tx.all(f"SELECT * FROM {table}"))
        should = Counter(tuple(sorted(r.items())) for r in rows)
        extra = [dict(r) for r in (have - should).elements()]
        missing = [dict(r) for r in (should - have).elements()]
    if not extra and not missing:
        return
    add(PROJECTIONS, f"projection {name}: table {shown} differs from {what} "
                     f"({len(extra)} row(s) only in the store, {len(missing)} only in the rebuild)")
    for row in sorted(extra, key=str)[:EXAMPLES]:
        add(PROJECTIONS, f"  {shown} has {show(row)}")
    for row in sorted(missing, key=str)[:EXAMPLES]:
        add(PROJECTIONS, f"  {shown} should have {show(row)}")


def _primary_key(tx: Tx, table: str) -> list[str]:
    rows = tx.all(
        "SELECT a.attname AS name FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)",
        (table,),
    )
    return [r["name"] for r in rows]


def _differences_pg(tx: Tx, table: str, want: str, params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows only in ``table``, rows only in ``want``), computed in the server."""
    key = _primary_key(tx, table)
    if not key:
        extra = tx.all(f"(SELECT * FROM {table}) EXCEPT ALL ({want})", params or None)  # type: ignore[arg-type]
        missing = tx.all(f"({want}) EXCEPT ALL (SELECT * FROM {table})", params or None)  # type: ignore[arg-type]
        return extra, missing
    on = " AND ".join(f"h.{k} = w.{k}" for k in key)
    rows = tx.all(
        f"SELECT CASE WHEN h.{key[0]} IS NULL THEN NULL ELSE to_jsonb(h) END AS have, "
        f"CASE WHEN w.{key[0]} IS NULL THEN NULL ELSE to_jsonb(w) END AS want "
        f"FROM {table} h FULL JOIN ({want}) w ON {on} "
        f"WHERE h.{key[0]} IS NULL OR w.{key[0]} IS NULL OR ROW(h.*) IS DISTINCT FROM ROW(w.*)",
        params or None,  # type: ignore[arg-type]
    )
    return [r["have"] for r in rows if r["have"] is not None], [r["want"] for r in rows if r["want"] is not None]


def show(row: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}={v!r}" for k, v in sorted(row.items())) + "}"
