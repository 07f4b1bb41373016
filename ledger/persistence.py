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

Every save also extends the hash chain (``ledger.chain``) in the same transaction: one row per
event in ``ledger_chain`` (PostgreSQL: ``<app>_chain``) with its digest, its chain hash and the
time it was recorded (the ``recorded_at`` save option, one time or one per event, kept
monotonic). The chain covers every event after the last chained one, so a log written before
the chain existed is chained by its first save afterwards.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import psycopg
from psycopg.errors import DuplicateObject
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from ledger.chain import CHAIN_TABLE, GENESIS, ChainRow, event_digest, link, recorded_at_list

BALANCES_TABLE = "ledger_balances"
LINE_KEYS_TABLE = "ledger_line_keys"
_IN_CHUNK = 500  # parameters per IN (…) on SQLite


def _sqlite_time(at: datetime) -> str:
    # Fixed width UTC text, so that text order is time order.
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _from_sqlite_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


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
            f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} ("
            "notification_id INTEGER PRIMARY KEY, recorded_at TEXT NOT NULL, "
            "digest BLOB NOT NULL, hash BLOB NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {CHAIN_TABLE}_recorded_at ON {CHAIN_TABLE} (recorded_at, notification_id)",
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if ids:
            self._extend_chain(c, stored_events, ids, kwargs.get("recorded_at"))
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

    def _extend_chain(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], ids: Sequence[int], recorded_at: Any
    ) -> None:
        """Chain every event after the chain's head: this save's, and any recorded before the
        chain existed (the database's write lock is held, so the head cannot move meanwhile)."""
        c.execute(f"SELECT notification_id, recorded_at, hash FROM {CHAIN_TABLE} ORDER BY notification_id DESC LIMIT 1")
        head = c.fetchone()
        last_id, last_at, h = (head[0], head[1], bytes(head[2])) if head else (0, "", GENESIS)
        times = recorded_at_list(recorded_at, len(ids))
        todo: list[tuple[int, Any, int, str, bytes, datetime | None]] = []
        if ids[0] > last_id + 1:
            c.execute(
                f"SELECT rowid, originator_id, originator_version, topic, state FROM {self.events_table_name} "
                "WHERE rowid > ? AND rowid < ? ORDER BY rowid",
                (last_id, ids[0]),
            )
            todo += [(r[0], r[1], r[2], r[3], bytes(r[4]), times[0]) for r in c.fetchall()]
        for i, (nid, s) in enumerate(zip(ids, stored_events, strict=True)):
            todo.append((nid, s.originator_id, s.originator_version, s.topic, s.state, times[i] if len(times) > 1 else times[0]))
        rows = []
        for nid, oid, version, topic, state, at in todo:
            d = event_digest(oid, version, topic, state)
            h = link(h, d)
            # Monotonic, so that "recorded on or before the end of a day" cuts the chain once.
            last_at = max(last_at, _sqlite_time(at or datetime.now(timezone.utc)))
            rows.append((nid, last_at, d, h))
        c.executemany(f"INSERT INTO {CHAIN_TABLE} (notification_id, recorded_at, digest, hash) VALUES (?, ?, ?, ?)", rows)

    def select_chain(self, after: int, limit: int, stop: int | None = None) -> list[ChainRow]:
        """Chain rows after a notification id, in order."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT notification_id, recorded_at, digest, hash FROM {CHAIN_TABLE} "
                "WHERE notification_id > ? AND notification_id <= ? ORDER BY notification_id LIMIT ?",
                (after, stop if stop is not None else 2**62, limit),
            )
            return [ChainRow(r[0], _from_sqlite_time(r[1]), bytes(r[2]), bytes(r[3])) for r in c.fetchall()]

    def select_chain_before(self, before: datetime) -> ChainRow | None:
        """The last chain row recorded strictly before a time."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT notification_id, recorded_at, digest, hash FROM {CHAIN_TABLE} WHERE recorded_at < ? "
                "ORDER BY recorded_at DESC, notification_id DESC LIMIT 1",
                (_sqlite_time(before),),
            )
            r = c.fetchone()
            return ChainRow(r[0], _from_sqlite_time(r[1]), bytes(r[2]), bytes(r[3])) if r else None

    def select_chained_events(self, after: int, stop: int, limit: int) -> list[tuple[int, str, str, int, bytes, Any, Any]]:
        """Raw rows ``(id, topic, originator id text, version, state, digest, hash)`` in log order
        (digest and hash None for an event with no chain row): one query per page, no objects."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT e.rowid, e.topic, e.originator_id, e.originator_version, e.state, c.digest, c.hash "
                f"FROM {self.events_table_name} e LEFT JOIN {CHAIN_TABLE} c ON c.notification_id = e.rowid "
                "WHERE e.rowid > ? AND e.rowid <= ? ORDER BY e.rowid LIMIT ?",
                (after, stop, limit),
            )
            return [tuple(r) for r in c.fetchall()]  # type: ignore[misc]

    def select_chain_before_id(self, notification_id: int) -> ChainRow | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT notification_id, recorded_at, digest, hash FROM {CHAIN_TABLE} WHERE notification_id < ? "
                "ORDER BY notification_id DESC LIMIT 1",
                (notification_id,),
            )
            r = c.fetchone()
            return ChainRow(r[0], _from_sqlite_time(r[1]), bytes(r[2]), bytes(r[3])) if r else None

    def count_chain_between(self, start: datetime, end: datetime) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT COUNT(*) FROM {CHAIN_TABLE} WHERE recorded_at >= ? AND recorded_at < ?",
                (_sqlite_time(start), _sqlite_time(end)),
            )
            return int(c.fetchone()[0])

    def select_notification_id_of(self, originator_id: UUID, originator_version: int) -> int | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT rowid FROM {self.events_table_name} WHERE originator_id = ? AND originator_version = ?",
                (originator_id.hex, originator_version),
            )
            r = c.fetchone()
            return int(r[0]) if r else None

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

    def select_last_uuids(self, originator_ids: Sequence[UUID], topics: Sequence[str], attribute: str) -> dict[UUID, str]:
        """Per aggregate, a UUID attribute (as hex) of its last event among ``topics``, read
        from the stored JSON by the database. Only for a store that neither compresses nor
        encrypts."""
        rows = self._select_in(
            f"SELECT originator_id, topic, json_extract(CAST(state AS TEXT), '$.{attribute}._data_') AS value "
            f"FROM {self.events_table_name} WHERE originator_id IN ({{}}) ORDER BY originator_id, originator_version",
            [i.hex for i in originator_ids],
        )
        wanted = set(topics)
        return {UUID(r["originator_id"]): r["value"] for r in rows if r["topic"] in wanted}


# When PostgreSQL is down, a request must not hang: a connection is waited for at most this long.
# The library's default was 30 s and its recorder tries 10 times, so a request waited minutes;
# now a read or write gives up after about 12 s and the API answers 503 ``store_unavailable``.
POOL_TIMEOUT_SECONDS = 1
# psycopg-pool retries a failed connect with exponential backoff (1, 2, 4, 8 … s) until this many
# seconds have passed, then gives up and the next request starts again at 1 s; left at its
# default (5 min), a pool came back up to the outage's length again after the server did.
POOL_RECONNECT_SECONDS = 3.0


class PostgresLedgerRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        # Processes that start together would replace the same functions (the library's and
        # ours) at the same moment ("tuple concurrently updated"): the whole schema
        # transaction runs one process at a time.
        self.schema_lock_statement = SQL("SELECT pg_advisory_xact_lock(hashtext({0}))").format(self.events_table_name)
        self.sql_create_statements.insert(0, self.schema_lock_statement)
        # The library builds its pool without this setting.
        self.datastore.pool.reconnect_timeout = POOL_RECONNECT_SECONDS
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
        # Filtered by id only (by topic in Python): the planner then always takes the primary key.
        # The value is cut out of the JSON text at its key (a key inside a string value would be
        # escaped, so it cannot match): parsing thousands of states costs far more, on either side.
        self.select_last_uuids_statement = SQL(
            "SELECT originator_id, topic, CASE WHEN p > 0 THEN convert_from(substr(state, p + %s, 32), 'UTF8') END "
            "AS value FROM (SELECT originator_id, originator_version, topic, state, position(%s::bytea in state) AS p "
            "FROM {0} WHERE originator_id = ANY(string_to_array(%s, ',')::uuid[])) AS s "
            "ORDER BY originator_id, originator_version"
        ).format(events)

        self._init_chain(events)

    def create_table(self) -> None:
        # The library creates its composite types each in a transaction of its own, before the
        # schema transaction and so outside its lock; two processes starting together raced
        # there too (a duplicate pg_type row). They are created first here, one process at a
        # time; the library then finds them (DuplicateObject, which it expects).
        for statement in self.sql_create_statements:
            if "CREATE TYPE" in statement.as_string():
                with self.datastore.transaction(commit=True) as curs, contextlib.suppress(DuplicateObject):
                    curs.execute(self.schema_lock_statement, prepare=False)
                    curs.execute(statement, prepare=False)
        super().create_table()

    def _init_chain(self, events: Any) -> None:
        prefix = self.events_table_name.removesuffix("_events")
        self.chain_table = f"{prefix}_chain"
        chain = SQL("{0}.{1}").format(Identifier(self.datastore.schema), Identifier(self.chain_table))
        function = SQL("{0}.{1}").format(Identifier(self.datastore.schema), Identifier(f"{prefix}_chain_append"))
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (notification_id bigint PRIMARY KEY, "
                "recorded_at timestamptz NOT NULL, digest bytea NOT NULL, hash bytea NOT NULL)"
            ).format(chain)
        )
        self.sql_create_statements.append(
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (recorded_at, notification_id)").format(
                Identifier(f"{self.chain_table}_recorded_at"), chain
            )
        )
        # The chain is computed by the server, inside the insert's transaction, under the
        # events table's EXCLUSIVE lock: no round trip, and any failure is the database's
        # (which aborts the transaction). d_n and h_n as in ledger.chain; p_new is this save's
        # event count and p_at its recorded_at times (one, or one per event).
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {function}(p_new integer, p_at timestamptz[]) RETURNS void "
                "LANGUAGE plpgsql AS $body$\n"
                "DECLARE\n"
                "  h bytea; last_id bigint; last_at timestamptz; total integer; i integer := 0; at timestamptz;\n"
                "  r record; ids bigint[] := '{{}}'; ats timestamptz[] := '{{}}'; ds bytea[] := '{{}}'; hs bytea[] := '{{}}';\n"
                "BEGIN\n"
                "  SELECT notification_id, hash, recorded_at INTO last_id, h, last_at FROM {chain}\n"
                "    ORDER BY notification_id DESC LIMIT 1;\n"
                "  IF last_id IS NULL THEN last_id := 0; h := decode(repeat('00', 32), 'hex'); END IF;\n"
                "  SELECT count(*) INTO total FROM {events} WHERE notification_id > last_id;\n"
                "  FOR r IN SELECT notification_id, sha256(convert_to(originator_id::text || E'\\n' ||\n"
                "      originator_version::text || E'\\n' || topic || E'\\n', 'UTF8') || state) AS d\n"
                "    FROM {events} WHERE notification_id > last_id ORDER BY notification_id LOOP\n"
                "    i := i + 1;\n"
                "    at := coalesce(p_at[greatest(1, least(i - (total - p_new), array_length(p_at, 1)))], clock_timestamp());\n"
                "    last_at := greatest(at, last_at);\n"
                "    h := sha256(h || r.d);\n"
                "    ids := ids || r.notification_id; ats := ats || last_at; ds := ds || r.d; hs := hs || h;\n"
                "  END LOOP;\n"
                "  INSERT INTO {chain} (notification_id, recorded_at, digest, hash) SELECT * FROM unnest(ids, ats, ds, hs);\n"
                "END\n"
                "$body$"
            ).format(function=function, chain=chain, events=events)
        )
        self.chain_append_statement = SQL("SELECT {0}(%s, %s::timestamptz[])").format(function)
        columns = SQL("SELECT notification_id, recorded_at, digest, hash FROM {0} ").format(chain)
        self.select_chain_statement = columns + SQL(
            "WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id LIMIT %s"
        )
        self.select_chain_before_statement = columns + SQL(
            "WHERE recorded_at < %s ORDER BY recorded_at DESC, notification_id DESC LIMIT 1"
        )
        self.select_chained_events_statement = SQL(
            "SELECT e.notification_id, e.topic, e.originator_id::text, e.originator_version, e.state, c.digest, c.hash "
            "FROM {0} e LEFT JOIN {1} c ON c.notification_id = e.notification_id "
            "WHERE e.notification_id > %s AND e.notification_id <= %s ORDER BY e.notification_id LIMIT %s"
        ).format(events, chain)
        self.select_chain_before_id_statement = columns + SQL(
            "WHERE notification_id < %s ORDER BY notification_id DESC LIMIT 1"
        )
        self.count_chain_between_statement = SQL(
            "SELECT COUNT(*) AS n FROM {0} WHERE recorded_at >= %s AND recorded_at < %s"
        ).format(chain)
        self.select_notification_id_of_statement = SQL(
            "SELECT notification_id FROM {0} WHERE originator_id = %s AND originator_version = %s"
        ).format(events)

    def _fetch_ids_after_insert_events(
        self, curs: psycopg.Cursor[Any], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if stored_events:
            # No sync: the result rides with the next one, or the commit.
            curs.execute(
                self.chain_append_statement,
                (len(stored_events), recorded_at_list(kwargs.get("recorded_at"), len(stored_events))),
            )
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

    @staticmethod
    def _chain_row(r: Any) -> ChainRow:
        return ChainRow(r["notification_id"], r["recorded_at"], bytes(r["digest"]), bytes(r["hash"]))

    def select_chain(self, after: int, limit: int, stop: int | None = None) -> list[ChainRow]:
        """Chain rows after a notification id, in order."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.select_chain_statement, (after, stop if stop is not None else 2**62, limit))
            return [self._chain_row(r) for r in c.fetchall()]

    def select_chain_before(self, before: datetime) -> ChainRow | None:
        """The last chain row recorded strictly before a time."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.select_chain_before_statement, (before,))
            r = c.fetchone()
            return self._chain_row(r) if r else None

    def select_chained_events(self, after: int, stop: int, limit: int) -> list[tuple[int, str, str, int, bytes, Any, Any]]:
        """Raw rows ``(id, topic, originator id text, version, state, digest, hash)`` in log order
        (digest and hash None for an event with no chain row): one query per page, no objects."""
        with self.datastore.transaction(commit=False) as c:
            c.row_factory = tuple_row
            c.execute(self.select_chained_events_statement, (after, stop, limit))
            return c.fetchall()  # type: ignore[return-value]

    def select_chain_before_id(self, notification_id: int) -> ChainRow | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.select_chain_before_id_statement, (notification_id,))
            r = c.fetchone()
            return self._chain_row(r) if r else None

    def count_chain_between(self, start: datetime, end: datetime) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.count_chain_between_statement, (start, end))
            return int(c.fetchone()["n"])

    def select_notification_id_of(self, originator_id: UUID, originator_version: int) -> int | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.select_notification_id_of_statement, (originator_id, originator_version))
            r = c.fetchone()
            return int(r["notification_id"]) if r else None

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

    def select_last_uuids(self, originator_ids: Sequence[UUID], topics: Sequence[str], attribute: str) -> dict[UUID, str]:
        """Per aggregate, a UUID attribute (as hex) of its last event among ``topics``, read
        from the stored JSON by the database (thousands of ids, one query, no JSON in Python).
        Only for a store that neither compresses nor encrypts; a value that is not 32 hex
        digits means the state is not in the JSON transcoder's form."""
        needle = f'"{attribute}":{{"_type_":"uuid_hex","_data_":"'.encode()
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self.select_last_uuids_statement,
                (len(needle), needle, ",".join(str(i) for i in originator_ids)),
            )
            wanted = set(topics)
            return {r["originator_id"]: r["value"] for r in c.fetchall() if r["topic"] in wanted}
