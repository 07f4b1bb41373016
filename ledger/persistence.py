"""The ledger's recorders: eventsourcing's sqlite and postgres application recorders, plus the
one write-time invariant (a volunteer balance never below zero), checked in the same
transaction that records the events.

The application passes ``balance_deltas=[(account, delta), …]`` to ``save()``; the library hands
keyword arguments through to the recorder. The recorder applies them to ``ledger_balances``
after the events are inserted (so a repeated idempotency key fails first, as a duplicate), and
the row's CHECK constraint refuses any volunteer balance below zero, rolling back the events
too. On PostgreSQL the insert already holds the events table's EXCLUSIVE lock, so this adds
no new serialisation; on SQLite the database lock serialises writers anyway.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from psycopg.sql import SQL, Identifier

BALANCES_TABLE = "ledger_balances"


class BalanceGuardViolation(Exception):
    """A posting would take a guarded account below zero; the whole save was rolled back."""

    def __init__(self, accounts: Sequence[str]) -> None:
        super().__init__(f"balance would go below zero: {', '.join(accounts)}")
        self.accounts = list(accounts)


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {BALANCES_TABLE} ("
            "account TEXT PRIMARY KEY, "
            "balance INTEGER NOT NULL CHECK (balance >= 0)) WITHOUT ROWID",
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        deltas: Sequence[tuple[str, int]] = kwargs.get("balance_deltas") or ()
        for account, delta in deltas:
            try:
                if delta > 0:
                    c.execute(
                        f"INSERT INTO {BALANCES_TABLE} (account, balance) VALUES (?, ?) "
                        "ON CONFLICT (account) DO UPDATE SET balance = balance + excluded.balance",
                        (account, delta),
                    )
                else:
                    # A debit needs a row: an account never credited has nothing to give.
                    c.execute(f"UPDATE {BALANCES_TABLE} SET balance = balance + ? WHERE account = ?", (delta, account))
                    if c.sqlite_cursor.rowcount != 1:
                        raise BalanceGuardViolation([account])
            except sqlite3.IntegrityError as e:
                raise BalanceGuardViolation([account]) from e
        return ids

    def select_balances(self) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT account, balance FROM {BALANCES_TABLE}")
            return {row["account"]: row["balance"] for row in c.fetchall()}


class PostgresLedgerRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.balances_table = self.events_table_name.removesuffix("_events") + "_balances"
        table = SQL("{0}.{1}").format(Identifier(self.datastore.schema), Identifier(self.balances_table))
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} ("
                "account text PRIMARY KEY, "
                "balance bigint NOT NULL CHECK (balance >= 0))"
            ).format(table)
        )
        # Every error here must come from the database, never from Python: the library
        # commits the pipeline's transaction before re-raising an exception that left the
        # transaction healthy. A CHECK violation aborts it, so nothing is recorded.
        self.open_rows_statement = SQL(
            "INSERT INTO {0} (account, balance) SELECT unnest(%s::text[]), 0 ON CONFLICT (account) DO NOTHING"
        ).format(table)
        self.apply_deltas_statement = SQL(
            "UPDATE {0} AS t SET balance = t.balance + d.delta "
            "FROM unnest(%s::text[], %s::bigint[]) AS d(account, delta) WHERE t.account = d.account"
        ).format(table)
        self.select_balances_statement = SQL("SELECT account, balance FROM {0}").format(table)

    def _fetch_ids_after_insert_events(
        self, curs: psycopg.Cursor[Any], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        deltas: Sequence[tuple[str, int]] = kwargs.get("balance_deltas") or ()
        if deltas:
            accounts = [a for a, _ in deltas]
            try:
                curs.execute(self.open_rows_statement, (accounts,))
                curs.execute(self.apply_deltas_statement, (accounts, [d for _, d in deltas]))
                curs.connection._pipeline.sync()  # noqa: SLF001 - surface a CHECK violation here
            except psycopg.errors.CheckViolation as e:
                raise BalanceGuardViolation(accounts) from e
        return ids

    def select_balances(self) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.select_balances_statement)
            return {row["account"]: row["balance"] for row in c.fetchall()}
