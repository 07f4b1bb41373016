"""The ledger's SQLite recorder (see ``ledger.store`` for what it adds to the library's)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date, datetime, timezone
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from ledger.chain import CHAIN_TABLE, GENESIS, ChainRow, event_digest, link, recorded_at_list
from ledger.codec import from_utc_text, utc_text
from ledger.postings import COLUMNS, PostingRow, placed
from ledger.postings import TABLE as POSTINGS_TABLE
from ledger.lots.model import Lot, LotWrites, View, net_by_lot
from ledger.store.common import (
    BALANCES_TABLE,
    DRAWINGS_TABLE,
    LINE_KEYS_TABLE,
    LOTS_TABLE,
    BalanceGuardViolation,
    LineKeyConflict,
    LotsChanged,
    positions_of,
    transaction_positions,
)

_IN_CHUNK = 500  # parameters per IN (…) on SQLite


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {BALANCES_TABLE} ("
            "account TEXT PRIMARY KEY, "
            "balance INTEGER NOT NULL CHECK (balance >= 0), lot_version INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID",
            f"CREATE TABLE IF NOT EXISTS {LINE_KEYS_TABLE} ("
            "key TEXT PRIMARY KEY, transaction_id TEXT NOT NULL) WITHOUT ROWID",
            f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} ("
            "notification_id INTEGER PRIMARY KEY, recorded_at TEXT NOT NULL, "
            "digest BLOB NOT NULL, hash BLOB NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {CHAIN_TABLE}_recorded_at ON {CHAIN_TABLE} (recorded_at, notification_id)",
            f"CREATE TABLE IF NOT EXISTS {POSTINGS_TABLE} ("
            "position INTEGER NOT NULL, seq INTEGER NOT NULL, transaction_id TEXT NOT NULL, key TEXT NOT NULL, "
            "kind TEXT NOT NULL, source_kind TEXT NOT NULL, source_id TEXT NOT NULL, destination_kind TEXT NOT NULL, "
            "destination_id TEXT NOT NULL, amount INTEGER NOT NULL, line_minutes INTEGER NOT NULL, "
            "txn_minutes INTEGER NOT NULL, unit_id TEXT, reverses TEXT, line INTEGER, line_key TEXT, memo TEXT NOT NULL, "
            "at TEXT NOT NULL, day TEXT NOT NULL, PRIMARY KEY (position, seq)) WITHOUT ROWID",
            f"CREATE TABLE IF NOT EXISTS {LOTS_TABLE} ("
            "lot TEXT PRIMARY KEY, account TEXT NOT NULL, unit_id TEXT NOT NULL, amount INTEGER NOT NULL, "
            "remaining INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= amount), expires_on TEXT, "
            "position INTEGER NOT NULL, seq INTEGER NOT NULL) WITHOUT ROWID",
            f"CREATE INDEX IF NOT EXISTS {LOTS_TABLE}_open ON {LOTS_TABLE} (account) WHERE remaining > 0",
            f"CREATE INDEX IF NOT EXISTS {LOTS_TABLE}_due ON {LOTS_TABLE} (expires_on, lot) WHERE remaining > 0",
            f"CREATE TABLE IF NOT EXISTS {DRAWINGS_TABLE} ("
            "position INTEGER NOT NULL, seq INTEGER NOT NULL, lot TEXT NOT NULL, unit_id TEXT NOT NULL, "
            "amount INTEGER NOT NULL, PRIMARY KEY (position, seq, lot)) WITHOUT ROWID",
            # lineage by funding unit; expired points per unit (roll-ups): only the expiry postings
            f"CREATE INDEX IF NOT EXISTS {DRAWINGS_TABLE}_unit ON {DRAWINGS_TABLE} (unit_id)",
            f"CREATE INDEX IF NOT EXISTS {POSTINGS_TABLE}_expired_in ON {POSTINGS_TABLE} (destination_id, day) "
            "WHERE destination_kind = 'expired'",
            f"CREATE INDEX IF NOT EXISTS {POSTINGS_TABLE}_expired_out ON {POSTINGS_TABLE} (source_id, day) "
            "WHERE source_kind = 'expired'",
        ]

    def _create_table(self, c: SQLiteCursor) -> None:
        super()._create_table(c)
        # A store made before lots: its guard rows get their lots' version.
        c.execute(f"SELECT name FROM pragma_table_info('{BALANCES_TABLE}')")
        if "lot_version" not in {r[0] for r in c.fetchall()}:
            c.execute(f"ALTER TABLE {BALANCES_TABLE} ADD COLUMN lot_version INTEGER NOT NULL DEFAULT 0")

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if ids:
            self._extend_chain(c, stored_events, ids, kwargs.get("recorded_at"))
        rows: Sequence[PostingRow] = kwargs.get("postings") or ()
        if rows and ids:
            self._insert_postings(c, placed(rows, positions_of(stored_events, ids, rows)))
        line_keys: Sequence[tuple[str, Any]] = kwargs.get("line_keys") or ()
        if line_keys:
            try:
                c.executemany(
                    f"INSERT INTO {LINE_KEYS_TABLE} (key, transaction_id) VALUES (?, ?)", [(k, str(t)) for k, t in line_keys]
                )
            except sqlite3.IntegrityError as e:
                raise LineKeyConflict(str(e)) from e
        lots: LotWrites | None = kwargs.get("lots")
        if lots and ids:
            self._check_lots(c, lots)  # before the guard: a stale decision is decided again, not refused
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
        if lots and ids:
            self._write_lots(c, lots, stored_events, ids)
        return ids

    @staticmethod
    def _check_lots(c: SQLiteCursor, lots: LotWrites) -> None:
        """Each version a decision was made on is still current (else LotsChanged); it moves on."""
        for account, version in sorted(lots.checks.items()):
            # an account never credited has version 0 (its row opened here; the guard then refuses)
            c.execute(f"INSERT OR IGNORE INTO {BALANCES_TABLE} (account, balance) VALUES (?, 0)", (account,))
            c.execute(
                f"UPDATE {BALANCES_TABLE} SET lot_version = lot_version + 1 WHERE account = ? AND lot_version = ?",
                (account, version),
            )
            if c.sqlite_cursor.rowcount != 1:
                raise LotsChanged([account])

    @staticmethod
    def _write_lots(c: SQLiteCursor, lots: LotWrites, stored_events: Sequence[StoredEvent], ids: Sequence[int]) -> None:
        """The lots opened, drawn and given back (their accounts' versions move on), and one
        drawing row per lot a posting touched."""
        for account in sorted(lots.bumps - lots.checks.keys()):
            c.execute(f"UPDATE {BALANCES_TABLE} SET lot_version = lot_version + 1 WHERE account = ?", (account,))
        at = transaction_positions(
            stored_events, ids, {o.transaction_id for o in lots.opens} | {d.transaction_id for d in lots.drawings}
        )
        if lots.opens:
            c.executemany(
                f"INSERT INTO {LOTS_TABLE} (lot, account, unit_id, amount, remaining, expires_on, position, seq) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(o.lot, o.account, o.unit_id.hex, o.amount, o.amount, o.expires_on.isoformat() if o.expires_on else None,
                  at[o.transaction_id], o.seq) for o in lots.opens],
            )
        try:
            for lot, amount in sorted(net_by_lot(lots.drawings).items()):
                c.execute(f"UPDATE {LOTS_TABLE} SET remaining = remaining - ? WHERE lot = ?", (amount, lot))
                if c.sqlite_cursor.rowcount != 1:
                    raise LotsChanged([lot])
        except sqlite3.IntegrityError as e:
            raise LotsChanged() from e
        if lots.drawings:
            c.executemany(
                f"INSERT INTO {DRAWINGS_TABLE} (position, seq, lot, unit_id, amount) VALUES (?, ?, ?, ?, ?)",
                [(at[d.transaction_id], d.seq, d.lot, d.unit_id.hex, d.amount) for d in lots.drawings],
            )

    @staticmethod
    def _lot(r: Sequence[Any]) -> Lot:
        return Lot(r[0], r[1], UUID(r[2]), r[3], r[4], date.fromisoformat(r[5]) if r[5] else None, r[6], r[7])

    _LOT = "lot, account, unit_id, amount, remaining, expires_on, position, seq"

    def select_lot_views(self, accounts: Sequence[str], lots: Sequence[str] | None = None) -> dict[str, View]:
        """Each account's open lots (only ``lots``, when given) and the version they were read at
        (accounts never credited: version 0, no lots), read in one transaction."""
        out: dict[str, View] = {}
        with self.datastore.transaction(commit=False) as c:
            for i in range(0, len(accounts), _IN_CHUNK):
                part = list(accounts[i : i + _IN_CHUNK])
                marks = ", ".join("?" * len(part))
                c.execute(f"SELECT account, lot_version FROM {BALANCES_TABLE} WHERE account IN ({marks})", part)
                for account, version in c.fetchall():
                    out[account] = View(version, [])
                if lots is None:
                    c.execute(f"SELECT {self._LOT} FROM {LOTS_TABLE} WHERE account IN ({marks}) AND remaining > 0", part)
                    for r in c.fetchall():
                        out.setdefault(r[1], View(0, [])).lots.append(self._lot(r))
            for i in range(0, len(lots or ()), _IN_CHUNK):
                part = list(lots[i : i + _IN_CHUNK])  # type: ignore[index]
                c.execute(f"SELECT {self._LOT} FROM {LOTS_TABLE} WHERE lot IN ({', '.join('?' * len(part))}) AND remaining > 0", part)
                for r in c.fetchall():
                    out.setdefault(r[1], View(0, [])).lots.append(self._lot(r))
        return {a: out.get(a, View(0, [])) for a in accounts}

    def select_lots_by_id(self, lots: Sequence[str]) -> dict[str, Lot]:
        out: dict[str, Lot] = {}
        with self.datastore.transaction(commit=False) as c:
            for i in range(0, len(lots), _IN_CHUNK):
                part = list(lots[i : i + _IN_CHUNK])
                c.execute(f"SELECT {self._LOT} FROM {LOTS_TABLE} WHERE lot IN ({', '.join('?' * len(part))})", part)
                out.update((r[0], self._lot(r)) for r in c.fetchall())
        return out

    def select_due_lots(self, before: date, after: tuple[date | None, str] = (None, ""), limit: int = 200) -> list[Lot]:
        """Lots with points left whose last day is before ``before``, by (last day, lot), after a
        (last day, lot) cursor."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT {self._LOT} FROM {LOTS_TABLE} WHERE remaining > 0 AND expires_on < ? "
                "AND (expires_on, lot) > (?, ?) ORDER BY expires_on, lot LIMIT ?",
                (before.isoformat(), after[0].isoformat() if after[0] else "", after[1], limit),
            )
            return [self._lot(r) for r in c.fetchall()]

    def select_lots(self, after: str = "", limit: int = 10_000, account: str | None = None) -> list[Lot]:
        """Every lot (or one account's), by id, after a lot id: verify and the views read them."""
        with self.datastore.transaction(commit=False) as c:
            if account is None:
                c.execute(f"SELECT {self._LOT} FROM {LOTS_TABLE} WHERE lot > ? ORDER BY lot LIMIT ?", (after, limit))
            else:
                c.execute(
                    f"SELECT {self._LOT} FROM {LOTS_TABLE} WHERE account = ? AND lot > ? ORDER BY lot LIMIT ?",
                    (account, after, limit),
                )
            return [self._lot(r) for r in c.fetchall()]

    def select_drawings(self, after: int, stop: int, limit: int) -> list[tuple[int, int, str, UUID, int]]:
        """Drawing rows ``(position, seq, lot, unit, amount)`` after a position, up to ``stop``."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT position, seq, lot, unit_id, amount FROM {DRAWINGS_TABLE} WHERE position > ? AND position <= ? "
                "ORDER BY position, seq, lot LIMIT ?",
                (after, stop, limit),
            )
            return [(r[0], r[1], r[2], UUID(r[3]), r[4]) for r in c.fetchall()]

    def select_lot_versions(self) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT account, lot_version FROM {BALANCES_TABLE}")
            return {r[0]: r[1] for r in c.fetchall()}

    @staticmethod
    def _insert_postings(c: SQLiteCursor, rows: Sequence[PostingRow]) -> None:
        c.executemany(
            f"INSERT INTO {POSTINGS_TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            [
                (r.position, r.seq, r.transaction_id.hex, r.key, r.kind, r.source_kind, r.source_id.hex, r.destination_kind,
                 r.destination_id.hex, r.amount, r.line_minutes, r.txn_minutes, r.unit_id.hex if r.unit_id else None,
                 r.reverses.hex if r.reverses else None, r.line, r.line_key, r.memo, utc_text(r.at), r.day.isoformat())
                for r in rows
            ],
        )

    def select_postings(self, after: int, stop: int, limit: int) -> list[PostingRow]:
        """Posting rows of the transactions after a position, up to ``stop``, in log order."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT {', '.join(COLUMNS)} FROM {POSTINGS_TABLE} WHERE position > ? AND position <= ? "
                "ORDER BY position, seq LIMIT ?",
                (after, stop, limit),
            )
            return [
                PostingRow(
                    r[0], r[1], UUID(r[2]), r[3], r[4], r[5], UUID(r[6]), r[7], UUID(r[8]), r[9], r[10], r[11],
                    UUID(r[12]) if r[12] else None, UUID(r[13]) if r[13] else None, r[14], r[15], r[16],
                    from_utc_text(r[17]), date.fromisoformat(r[18]),
                )
                for r in c.fetchall()
            ]

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
            last_at = max(last_at, utc_text(at or datetime.now(timezone.utc)))
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
            return [ChainRow(r[0], from_utc_text(r[1]), bytes(r[2]), bytes(r[3])) for r in c.fetchall()]

    def select_chain_before(self, before: datetime) -> ChainRow | None:
        """The last chain row recorded strictly before a time."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT notification_id, recorded_at, digest, hash FROM {CHAIN_TABLE} WHERE recorded_at < ? "
                "ORDER BY recorded_at DESC, notification_id DESC LIMIT 1",
                (utc_text(before),),
            )
            r = c.fetchone()
            return ChainRow(r[0], from_utc_text(r[1]), bytes(r[2]), bytes(r[3])) if r else None

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
            return ChainRow(r[0], from_utc_text(r[1]), bytes(r[2]), bytes(r[3])) if r else None

    def count_chain_between(self, start: datetime, end: datetime) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT COUNT(*) FROM {CHAIN_TABLE} WHERE recorded_at >= ? AND recorded_at < ?",
                (utc_text(start), utc_text(end)),
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
