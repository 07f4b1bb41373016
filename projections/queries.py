"""Read-side queries used by the API and the CLI."""

from __future__ import annotations

from typing import Any

from projections.db import Database

EMPTY_BALANCE = {"balance": 0, "earned": 0, "redeemed": 0, "minutes": 0, "entries": 0}


def balance(db: Database, account: str) -> dict[str, int]:
    with db.read() as tx:
        row = tx.one("SELECT balance, earned, redeemed, minutes, entries FROM balances WHERE account = %s", (account,))
    return {k: int(v) for k, v in row.items()} if row else dict(EMPTY_BALANCE)


def all_balances(db: Database) -> dict[str, dict[str, int]]:
    with db.read() as tx:
        rows = tx.all("SELECT account, balance, earned, redeemed, minutes, entries FROM balances")
    return {r.pop("account"): {k: int(v) for k, v in r.items()} for r in rows}


def entries(db: Database, account: str, *, before: int | None, limit: int) -> list[dict[str, Any]]:
    """Newest first; ``before`` is the cursor (a sequence number)."""
    with db.read() as tx:
        if before is None:
            return tx.all("SELECT * FROM entries WHERE account = %s ORDER BY seq DESC LIMIT %s", (account, limit))
        return tx.all(
            "SELECT * FROM entries WHERE account = %s AND seq < %s ORDER BY seq DESC LIMIT %s",
            (account, before, limit),
        )


def units(db: Database, *, parent_id: str | None = None) -> list[dict[str, Any]]:
    with db.read() as tx:
        if parent_id is None:
            return tx.all("SELECT * FROM units ORDER BY created_at, id")
        return tx.all("SELECT * FROM units WHERE parent_id = %s ORDER BY created_at, id", (parent_id,))


def volunteers(db: Database, *, unit_id: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    with db.read() as tx:
        if unit_id is None:
            return tx.all("SELECT * FROM volunteers ORDER BY registered_at, id LIMIT %s", (limit,))
        return tx.all(
            "SELECT * FROM volunteers WHERE unit_id = %s ORDER BY registered_at, id LIMIT %s", (unit_id, limit)
        )
