"""The ledger's PostgreSQL recorder (see ``ledger.store`` for what it adds to the library's)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import date, datetime
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
from ledger.lots.model import Lot, LotWrites, View
from ledger.store.common import BalanceGuardViolation, LineKeyConflict, LotsChanged, positions_of, transaction_positions

LOTS_CHANGED = "MB001"  # the SQLSTATE the lots function raises when a decision's version moved on


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
                "balance bigint NOT NULL CHECK (balance >= 0), lot_version bigint NOT NULL DEFAULT 0)"
            ).format(table)
        )
        # A store made before lots: its guard rows get their lots' version.
        self.sql_create_statements.append(
            SQL("ALTER TABLE {0} ADD COLUMN IF NOT EXISTS lot_version bigint NOT NULL DEFAULT 0").format(table)
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
        self._init_lots(table)

    def _init_lots(self, balances: Any) -> None:
        prefix = self.events_table_name.removesuffix("_events")
        self.lots_table, self.drawings_table = f"{prefix}_lots", f"{prefix}_drawings"
        schema = Identifier(self.datastore.schema)
        lots = SQL("{0}.{1}").format(schema, Identifier(self.lots_table))
        drawings = SQL("{0}.{1}").format(schema, Identifier(self.drawings_table))
        function = SQL("{0}.{1}").format(schema, Identifier(f"{prefix}_lots_apply"))
        self.sql_create_statements += [
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (lot text PRIMARY KEY, account text NOT NULL, unit_id uuid NOT NULL, "
                "amount bigint NOT NULL, remaining bigint NOT NULL CHECK (remaining >= 0 AND remaining <= amount), "
                "expires_on date, position bigint NOT NULL, seq integer NOT NULL)"
            ).format(lots),
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (account) WHERE remaining > 0").format(
                Identifier(f"{self.lots_table}_open"), lots
            ),
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (expires_on, lot) WHERE remaining > 0").format(
                Identifier(f"{self.lots_table}_due"), lots
            ),
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (position bigint NOT NULL, seq integer NOT NULL, lot text NOT NULL, "
                "unit_id uuid NOT NULL, amount bigint NOT NULL, PRIMARY KEY (position, seq, lot))"
            ).format(drawings),
            # lineage by funding unit (unit_settlement)
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (unit_id)").format(Identifier(f"{self.drawings_table}_unit"), drawings),
            # One round trip, inside the insert's transaction (under the events table's lock): the
            # versions decided on must still be current (else SQLSTATE MB001, which aborts all),
            # then the lots opened, drawn and given back (CHECK: never below zero), and the drawings.
            SQL(
                "CREATE OR REPLACE FUNCTION {function}(p_accounts text[], p_versions bigint[], p_bumps text[], "
                "o_lot text[], o_account text[], o_unit uuid[], o_amount bigint[], o_expires date[], o_position bigint[], "
                "o_seq integer[], d_position bigint[], d_seq integer[], d_lot text[], d_unit uuid[], d_amount bigint[]) "
                "RETURNS void LANGUAGE plpgsql AS $body$\n"
                "DECLARE v_n integer; v_m integer;\n"
                "BEGIN\n"
                "  IF cardinality(p_accounts) > 0 THEN\n"
                "    INSERT INTO {balances} (account, balance) SELECT unnest(p_accounts), 0 ON CONFLICT (account) DO NOTHING;\n"
                "    UPDATE {balances} AS t SET lot_version = t.lot_version + 1\n"
                "      FROM unnest(p_accounts, p_versions) AS c(account, v) WHERE t.account = c.account AND t.lot_version = c.v;\n"
                "    GET DIAGNOSTICS v_n = ROW_COUNT;\n"
                "    IF v_n <> cardinality(p_accounts) THEN RAISE EXCEPTION 'lots changed meanwhile' USING ERRCODE = '{code}'; END IF;\n"
                "  END IF;\n"
                "  IF cardinality(p_bumps) > 0 THEN\n"
                "    UPDATE {balances} SET lot_version = lot_version + 1 WHERE account = ANY(p_bumps);\n"
                "  END IF;\n"
                "  IF cardinality(o_lot) > 0 THEN\n"
                "    INSERT INTO {lots} (lot, account, unit_id, amount, remaining, expires_on, position, seq)\n"
                "      SELECT l, a, u, m, m, e, p, s FROM unnest(o_lot, o_account, o_unit, o_amount, o_expires, o_position, o_seq)\n"
                "      AS x(l, a, u, m, e, p, s);\n"
                "  END IF;\n"
                "  IF cardinality(d_lot) > 0 THEN\n"
                "    UPDATE {lots} AS t SET remaining = t.remaining - d.amount FROM (SELECT lot, sum(amount) AS amount\n"
                "      FROM unnest(d_lot, d_amount) AS y(lot, amount) GROUP BY lot) AS d WHERE t.lot = d.lot;\n"
                "    GET DIAGNOSTICS v_n = ROW_COUNT;\n"
                "    SELECT count(DISTINCT z.l) INTO v_m FROM unnest(d_lot) AS z(l);\n"
                "    IF v_n <> v_m THEN RAISE EXCEPTION 'a drawn lot is missing' USING ERRCODE = '{code}'; END IF;\n"
                "    INSERT INTO {drawings} (position, seq, lot, unit_id, amount)\n"
                "      SELECT * FROM unnest(d_position, d_seq, d_lot, d_unit, d_amount);\n"
                "  END IF;\n"
                "END\n"
                "$body$"
            ).format(function=function, balances=balances, lots=lots, drawings=drawings, code=SQL(LOTS_CHANGED)),
        ]
        self.lots_apply_statement = SQL(
            "SELECT {0}(%s::text[], %s::bigint[], %s::text[], %s::text[], %s::text[], %s::uuid[], %s::bigint[], "
            "%s::date[], %s::bigint[], %s::integer[], %s::bigint[], %s::integer[], %s::text[], %s::uuid[], %s::bigint[])"
        ).format(function)
        self._lot_columns = SQL("lot, account, unit_id, amount, remaining, expires_on, position, seq")
        self.select_lot_versions_statement = SQL(
            "SELECT account, lot_version FROM {0} WHERE account = ANY(%s::text[])"
        ).format(balances)
        self.select_all_lot_versions_statement = SQL("SELECT account, lot_version FROM {0}").format(balances)
        self.select_open_lots_statement = SQL(
            "SELECT {1} FROM {0} WHERE account = ANY(%s::text[]) AND remaining > 0"
        ).format(lots, self._lot_columns)
        self.select_open_lots_by_id_statement = SQL(
            "SELECT {1} FROM {0} WHERE lot = ANY(%s::text[]) AND remaining > 0"
        ).format(lots, self._lot_columns)
        self.select_lots_by_id_statement = SQL("SELECT {1} FROM {0} WHERE lot = ANY(%s::text[])").format(lots, self._lot_columns)
        self.select_due_lots_statement = SQL(
            "SELECT {1} FROM {0} WHERE remaining > 0 AND expires_on < %s AND (expires_on, lot) > (%s::date, %s) "
            "ORDER BY expires_on, lot LIMIT %s"
        ).format(lots, self._lot_columns)
        self.select_lots_statement = SQL("SELECT {1} FROM {0} WHERE lot > %s ORDER BY lot LIMIT %s").format(lots, self._lot_columns)
        self.select_account_lots_statement = SQL(
            "SELECT {1} FROM {0} WHERE account = %s AND lot > %s ORDER BY lot LIMIT %s"
        ).format(lots, self._lot_columns)
        self.select_drawings_statement = SQL(
            "SELECT position, seq, lot, unit_id, amount FROM {0} WHERE position > %s AND position <= %s "
            "ORDER BY position, seq, lot LIMIT %s"
        ).format(drawings)

    def _apply_lots(self, curs: psycopg.Cursor[Any], lots: LotWrites, at: dict[UUID, int]) -> None:
        """One call of the lots function: checks (each moves its version on) or changes."""
        checks = sorted(lots.checks.items())
        o, d = lots.opens, lots.drawings
        params = (
            [a for a, _ in checks], [v for _, v in checks], sorted(lots.bumps),
            [x.lot for x in o], [x.account for x in o], [str(x.unit_id) for x in o], [x.amount for x in o],
            [x.expires_on for x in o], [at[x.transaction_id] for x in o], [x.seq for x in o],
            [at[x.transaction_id] for x in d], [x.seq for x in d], [x.lot for x in d], [str(x.unit_id) for x in d],
            [x.amount for x in d],
        )
        try:
            curs.execute(self.lots_apply_statement, params)
            curs.connection._pipeline.sync()  # noqa: SLF001 - surface a changed version here
        except (psycopg.errors.CheckViolation, psycopg.errors.RaiseException) as e:
            raise LotsChanged([a for a, _ in checks]) from e
        except psycopg.DatabaseError as e:
            if e.sqlstate == LOTS_CHANGED:
                raise LotsChanged([a for a, _ in checks]) from e
            raise

    def select_lot_views(self, accounts: Sequence[str], lots: Sequence[str] | None = None) -> dict[str, View]:
        """Each account's open lots (only ``lots``, when given) and the version they were read at
        (accounts never credited: version 0, no lots), read in one transaction."""
        out: dict[str, View] = {}
        with self.datastore.transaction(commit=False) as c:
            c.row_factory = tuple_row
            c.execute(self.select_lot_versions_statement, (list(accounts),))
            for account, version in c.fetchall():
                out[account] = View(version, [])
            if lots is None:
                c.execute(self.select_open_lots_statement, (list(accounts),))
            else:
                c.execute(self.select_open_lots_by_id_statement, (list(lots),))
            for r in c.fetchall():
                out.setdefault(r[1], View(0, [])).lots.append(Lot(*r))
        return {a: out.get(a, View(0, [])) for a in accounts}

    def select_lots_by_id(self, lots: Sequence[str]) -> dict[str, Lot]:
        with self.datastore.transaction(commit=False) as c:
            c.row_factory = tuple_row
            c.execute(self.select_lots_by_id_statement, (list(lots),))
            return {r[0]: Lot(*r) for r in c.fetchall()}

    def select_due_lots(self, before: date, after: tuple[date | None, str] = (None, ""), limit: int = 200) -> list[Lot]:
        """Lots with points left whose last day is before ``before``, by (last day, lot), after a
        (last day, lot) cursor."""
        with self.datastore.transaction(commit=False) as c:
            c.row_factory = tuple_row
            c.execute(self.select_due_lots_statement, (before, after[0] or date.min, after[1], limit))
            return [Lot(*r) for r in c.fetchall()]

    def select_lots(self, after: str = "", limit: int = 10_000, account: str | None = None) -> list[Lot]:
        """Every lot (or one account's), by id, after a lot id: verify and the views read them."""
        with self.datastore.transaction(commit=False) as c:
            c.row_factory = tuple_row
            if account is None:
                c.execute(self.select_lots_statement, (after, limit))
            else:
                c.execute(self.select_account_lots_statement, (account, after, limit))
            return [Lot(*r) for r in c.fetchall()]

    def select_drawings(self, after: int, stop: int, limit: int) -> list[tuple[int, int, str, UUID, int]]:
        """Drawing rows ``(position, seq, lot, unit, amount)`` after a position, up to ``stop``."""
        with self.datastore.transaction(commit=False) as c:
            c.row_factory = tuple_row
            c.execute(self.select_drawings_statement, (after, stop, limit))
            return c.fetchall()  # type: ignore[return-value]

    def select_lot_versions(self) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as c:
            c.row_factory = tuple_row
            c.execute(self.select_all_lot_versions_statement)
            return dict(c.fetchall())

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
        # expired points per unit (unit roll-ups): only the expiry postings are indexed
        for side in ("destination", "source"):
            self.sql_create_statements.append(
                SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} ({2}, day) WHERE {3} = 'expired'").format(
                    Identifier(f"{self.postings_table}_expired_{side[:3]}"), table, Identifier(f"{side}_id"), Identifier(f"{side}_kind")
                )
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
        lots: LotWrites | None = kwargs.get("lots")
        if lots and lots.checks and ids:
            # Before the guard: a decision made on stale lots is decided again, not refused.
            self._apply_lots(curs, LotWrites(checks=lots.checks), {})
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
        if lots and ids:
            at = transaction_positions(
                stored_events, ids, {o.transaction_id for o in lots.opens} | {d.transaction_id for d in lots.drawings}
            )
            self._apply_lots(curs, LotWrites({}, lots.bumps - lots.checks.keys(), lots.opens, lots.drawings), at)
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
