"""The ledger's recorders: eventsourcing's sqlite and postgres application recorders, plus the
one write-time invariant (a volunteer balance never below zero), checked in the same
transaction that records the events.

The application passes ``balance_deltas=[(account, delta), …]`` to ``save()``; the library hands
keyword arguments through to the recorder. The recorder applies them to ``ledger_balances``
after the events are inserted (so a repeated idempotency key fails first, as a duplicate), and
the row's CHECK constraint refuses any volunteer balance below zero, rolling back the events
too. On PostgreSQL the insert already holds the events table's EXCLUSIVE lock, so this adds
no new serialisation; on SQLite the database lock serialises writers anyway.

Welfare-day batches pass ``line_keys=[(key, transaction_id), …]`` as well: each paid batch line's
key goes into ``ledger_line_keys`` (primary key) in the same transaction, so a line key pays at
most once without costing one event (one aggregate) per line. A key already there raises
``LineKeyConflict`` from the database and rolls everything back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from psycopg.sql import SQL, Identifier

BALANCES_TABLE = "ledger_balances"
LINE_KEYS_TABLE = "ledger_line_keys"
_IN_CHUNK = 500  # parameters per IN (…) on SQLite


class BalanceGuardViolation(Exception):
    """A posting would take a guarded account below zero; the whole save was rolled back."""

    def __init__(self, accounts: Sequence[str]) -> None:
        super().__init__(f"balance would go below zero: {', '.join(accounts)}")
        self.accounts = list(accounts)


class LineKeyConflict(Exception):
    """A batch line key was paid already (by a concurrent batch); the whole save was rolled back."""


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {BALANCES_TABLE} ("
            "account TEXT PRIMARY KEY, "
            "balance INTEGER NOT NULL CHECK (balance >= 0)) WITHOUT ROWID",
            f"CREATE TABLE IF NOT EXISTS {LINE_KEYS_TABLE} ("
            "key TEXT PRIMARY KEY, transaction_id TEXT NOT NULL) WITHOUT ROWID",
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        line_keys: Sequence[tuple[str, Any]] = kwargs.get("line_keys") or ()
        if line_keys:
            try:
                c.executemany(
                    f"INSERT INTO {LINE_KEYS_TABLE} (key, transaction_id) VALUES (?, ?)", [(k, str(t)) for k, t in line_keys]
                )
            except sqlite3.IntegrityError as e:
                raise LineKeyConflict(str(e)) from e
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

    def _select_in(self, sql: str, values: Sequence[Any]) -> list[Any]:
        rows: list[Any] = []
        with self.datastore.transaction(commit=False) as c:
            for i in range(0, len(values), _IN_CHUNK):
                part = values[i : i + _IN_CHUNK]
                c.execute(sql.format(", ".join("?" * len(part))), part)
                rows += c.fetchall()
        return rows

    def select_balances_of(self, accounts: Sequence[str]) -> dict[str, int]:
        rows = self._select_in(f"SELECT account, balance FROM {BALANCES_TABLE} WHERE account IN ({{}})", accounts)
        return {row["account"]: row["balance"] for row in rows}

    def select_paid_line_keys(self, keys: Sequence[str]) -> set[str]:
        return {row["key"] for row in self._select_in(f"SELECT key FROM {LINE_KEYS_TABLE} WHERE key IN ({{}})", keys)}

    def select_line_keys(self) -> list[str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT key FROM {LINE_KEYS_TABLE}")
            return [row["key"] for row in c.fetchall()]

    def select_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every event of each of these aggregates, by aggregate and version (one query per
        few hundred ids)."""
        rows = self._select_in(
            f"SELECT originator_id, originator_version, topic, state FROM {self.events_table_name} "
            "WHERE originator_id IN ({}) ORDER BY originator_id, originator_version",
            [i.hex for i in originator_ids],
        )
        return [StoredEvent(UUID(r["originator_id"]), r["originator_version"], r["topic"], r["state"]) for r in rows]


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
            "INSERT INTO {0} (account, balance) SELECT unnest(string_to_array(%s, E'\\n')), 0 "
            "ON CONFLICT (account) DO NOTHING"
        ).format(table)
        self.apply_deltas_statement = SQL(
            "UPDATE {0} AS t SET balance = t.balance + d.delta "
            "FROM unnest(string_to_array(%s, E'\\n'), string_to_array(%s, E'\\n')::bigint[]) AS d(account, delta) "
            "WHERE t.account = d.account"
        ).format(table)
        # Credits only (the common case, and every batch chunk): one upsert, no row to open first.
        self.apply_credits_statement = SQL(
            "INSERT INTO {0} AS t (account, balance) "
            "SELECT * FROM unnest(string_to_array(%s, E'\\n'), string_to_array(%s, E'\\n')::bigint[]) "
            "ON CONFLICT (account) DO UPDATE SET balance = t.balance + excluded.balance"
        ).format(table)
        self.select_balances_statement = SQL("SELECT account, balance FROM {0}").format(table)
        self.select_balances_of_statement = SQL(
            "SELECT account, balance FROM {0} WHERE account = ANY(string_to_array(%s, E'\\n'))"
        ).format(table)
        self.line_keys_table = self.events_table_name.removesuffix("_events") + "_line_keys"
        keys = SQL("{0}.{1}").format(Identifier(self.datastore.schema), Identifier(self.line_keys_table))
        self.sql_create_statements.append(
            SQL("CREATE TABLE IF NOT EXISTS {0} (key text PRIMARY KEY, transaction_id uuid NOT NULL)").format(keys)
        )
        self.insert_line_keys_statement = SQL(
            "INSERT INTO {0} (key, transaction_id) "
            "SELECT * FROM unnest(string_to_array(%s, E'\\n'), string_to_array(%s, E'\\n')::uuid[])"
        ).format(keys)
        self.select_paid_line_keys_statement = SQL("SELECT key FROM {0} WHERE key = ANY(string_to_array(%s, E'\\n'))").format(keys)
        self.select_line_keys_statement = SQL("SELECT key FROM {0}").format(keys)
        events = SQL("{0}.{1}").format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        self.select_events_of_statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {0} "
            "WHERE originator_id = ANY(string_to_array(%s, ',')::uuid[]) ORDER BY originator_id, originator_version"
        ).format(events)

    def _fetch_ids_after_insert_events(
        self, curs: psycopg.Cursor[Any], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        line_keys: Sequence[tuple[str, Any]] = kwargs.get("line_keys") or ()
        if line_keys:
            try:
                curs.execute(
                    self.insert_line_keys_statement,
                    ("\n".join(k for k, _ in line_keys), "\n".join(str(t) for _, t in line_keys)),
                )
                curs.connection._pipeline.sync()  # noqa: SLF001 - surface a duplicate key here
            except psycopg.errors.UniqueViolation as e:
                raise LineKeyConflict(str(e)) from e
        deltas: Sequence[tuple[str, int]] = kwargs.get("balance_deltas") or ()
        if deltas:
            accounts = [a for a, _ in deltas]
            # Accounts and amounts travel as one text each (the server splits them): cheaper
            # than an array parameter of thousands of elements.
            joined = "\n".join(accounts), "\n".join(str(d) for _, d in deltas)
            try:
                if all(d > 0 for _, d in deltas):
                    curs.execute(self.apply_credits_statement, joined)
                else:
                    curs.execute(self.open_rows_statement, joined[:1])
                    curs.execute(self.apply_deltas_statement, joined)
                curs.connection._pipeline.sync()  # noqa: SLF001 - surface a CHECK violation here
            except psycopg.errors.CheckViolation as e:
                raise BalanceGuardViolation(accounts) from e
        return ids

    def select_balances(self) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.select_balances_statement)
            return {row["account"]: row["balance"] for row in c.fetchall()}

    def select_balances_of(self, accounts: Sequence[str]) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.select_balances_of_statement, ("\n".join(accounts),))
            return {row["account"]: row["balance"] for row in c.fetchall()}

    def select_paid_line_keys(self, keys: Sequence[str]) -> set[str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.select_paid_line_keys_statement, ("\n".join(keys),))
            return {row["key"] for row in c.fetchall()}

    def select_line_keys(self) -> list[str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.select_line_keys_statement)
            return [row["key"] for row in c.fetchall()]

    def select_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every event of each of these aggregates, by aggregate and version, in one query."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.select_events_of_statement, (",".join(str(i) for i in originator_ids),))
            return [
                StoredEvent(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"]))
                for r in c.fetchall()
            ]
