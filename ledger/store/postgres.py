"""The ledger's PostgreSQL recorder (see ``ledger.store`` for what it adds to the library's)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.errors import DuplicateObject
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from ledger.chain import ChainRow, recorded_at_list
from ledger.postings import COLUMNS, PostingRow, placed
from ledger.store.common import BalanceGuardViolation, LineKeyConflict, positions_of


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
        self._init_postings()

    def _init_postings(self) -> None:
        self.postings_table = self.events_table_name.removesuffix("_events") + "_postings"
        table = SQL("{0}.{1}").format(Identifier(self.datastore.schema), Identifier(self.postings_table))
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (position bigint NOT NULL, seq integer NOT NULL, "
                "transaction_id uuid NOT NULL, key text NOT NULL, kind text NOT NULL, source_kind text NOT NULL, "
                "source_id uuid NOT NULL, destination_kind text NOT NULL, destination_id uuid NOT NULL, "
                "amount bigint NOT NULL, line_minutes integer NOT NULL, txn_minutes integer NOT NULL, unit_id uuid, "
                "reverses uuid, line integer, line_key text, memo text NOT NULL, at timestamptz NOT NULL, "
                "day date NOT NULL, PRIMARY KEY (position, seq))"
            ).format(table)
        )
        columns = SQL(", ").join(Identifier(c) for c in COLUMNS)
        types = ("bigint", "integer", "uuid", "text", "text", "text", "uuid", "text", "uuid", "bigint", "integer",
                 "integer", "uuid", "uuid", "integer", "text", "text", "timestamptz", "date")
        self.insert_postings_statement = SQL("INSERT INTO {0} ({1}) SELECT * FROM unnest({2})").format(
            table, columns, SQL(", ").join(SQL("%s::" + t + "[]") for t in types)
        )
        self.select_postings_statement = SQL(
            "SELECT {1} FROM {0} WHERE position > %s AND position <= %s ORDER BY position, seq LIMIT %s"
        ).format(table, columns)

    def select_postings(self, after: int, stop: int, limit: int) -> list[PostingRow]:
        """Posting rows of the transactions after a position, up to ``stop``, in log order."""
        with self.datastore.transaction(commit=False) as c:
            c.row_factory = tuple_row
            c.execute(self.select_postings_statement, (after, stop, limit))
            return [PostingRow(*r) for r in c.fetchall()]

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
        rows: Sequence[PostingRow] = kwargs.get("postings") or ()
        if rows and ids:
            # One array per column (no sync: a failure here is the database's and aborts all).
            curs.execute(self.insert_postings_statement, [list(col) for col in zip(*placed(rows, positions_of(stored_events, ids, rows)), strict=True)])
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
