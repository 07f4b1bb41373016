"""The outcome of each ``moralbank verify`` of the store, kept so that a yearly report can say
whether the ledger it draws from was checked, when, and up to which event (the API cannot run a
full verify per request). Rows are only added."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from projections.db import Database, Tx

TABLE = "verify_runs"


@dataclass(frozen=True)
class Verification:
    at: datetime
    log_end: int  # the last event the run checked
    ok: bool
    violations: int


def record(db: Database, at: datetime, log_end: int, ok: bool, violations: int) -> None:
    with db.transaction() as tx:
        if db.is_postgres:  # processes starting together: one CREATE at a time
            tx.execute("SELECT pg_advisory_xact_lock(hashtext('moralbank projections schema'))")
        tx.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (at TEXT NOT NULL, log_end BIGINT NOT NULL, "
            "ok BOOLEAN NOT NULL, violations INTEGER NOT NULL)"
        )
        tx.execute(f"INSERT INTO {TABLE} (at, log_end, ok, violations) VALUES (%s, %s, %s, %s)",
                   (at.astimezone(timezone.utc).isoformat(), log_end, ok, violations))


def last(tx: Tx) -> Verification | None:
    """The latest run, or None when verify never ran on this store."""
    if tx.is_postgres:
        exists = tx.one("SELECT to_regclass(%s) IS NOT NULL AS e", (TABLE,))
    else:
        exists = tx.one("SELECT count(*) > 0 AS e FROM sqlite_master WHERE type = 'table' AND name = %s", (TABLE,))
    if not exists or not exists["e"]:
        return None
    row = tx.one(f"SELECT at, log_end, ok, violations FROM {TABLE} ORDER BY at DESC, log_end DESC LIMIT 1")
    if row is None:
        return None
    return Verification(datetime.fromisoformat(row["at"]), int(row["log_end"]), bool(row["ok"]), int(row["violations"]))
