"""A small SQL gateway for read models on either store.

SQL is written once with ``%s`` placeholders; on SQLite they become ``?``. Rows come back
as dicts. Writes run in one transaction each; SQLite's ``BEGIN IMMEDIATE`` takes the write
lock up front so a read-then-write inside it cannot act on a stale snapshot.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from ledger.store.postgres import POOL_RECONNECT_SECONDS, POOL_TIMEOUT_SECONDS
from ledger.store import is_postgres, sqlite_path
from projections.replicas import ReadRoute, Standbys, read_route


class Tx:
    """One transaction's cursor, with the same calls on both stores."""

    def __init__(self, cursor: Any, *, sqlite: bool) -> None:
        self._cur = cursor
        self._sqlite = sqlite

    @property
    def is_postgres(self) -> bool:
        return not self._sqlite

    def _sql(self, sql: str) -> str:
        return sql.replace("%s", "?") if self._sqlite else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._cur.execute(self._sql(sql), params)
        return int(self._cur.rowcount)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._cur.executemany(self._sql(sql), rows)

    def bulk_insert(
        self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]], *, suffix: str = ""
    ) -> None:
        """Many rows in one statement. On PostgreSQL each column travels as ONE text parameter
        that the server splits (``string_to_array`` + ``unnest``): far cheaper than a parameter
        per row or per array element for thousands of rows. ``columns`` are (name, SQL type);
        values must not contain the control characters \x1e / \x1f (names and memos never do).
        ``suffix`` is e.g. an ``ON CONFLICT`` clause. On SQLite: ``executemany``.
        """
        if not rows:
            return
        names = ", ".join(name for name, _ in columns)
        if self._sqlite:
            marks = ", ".join("?" * len(columns))
            self._cur.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}) {suffix}", rows)
            return
        # A leading separator, dropped by [2:], so that one empty string stays one element.
        arrays = ", ".join(f"(string_to_array(%s, E'\\x1f', E'\\x1e'))[2:]::{kind}[]" for _, kind in columns)
        params = [
            "".join("\x1f" + ("\x1e" if row[i] is None else str(row[i])) for row in rows) for i in range(len(columns))
        ]
        self._cur.execute(f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {suffix}", params)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self._cur.execute(self._sql(sql), params)
        if self._sqlite:
            cols = [d[0] for d in self._cur.description or ()]
            return [dict(zip(cols, row, strict=True)) for row in self._cur.fetchall()]
        return list(self._cur.fetchall())

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None


class Database:
    """Connections to the read models, in the same database as the ledger; on PostgreSQL, reads
    of projections may go to hot standbys (``read_urls``, see ``projections.replicas``)."""

    def __init__(self, url: str, *, pool_size: int = 10, read_urls: Sequence[str] = ()) -> None:
        self.url = url
        self.is_postgres = is_postgres(url)
        if read_urls and not self.is_postgres:
            raise ValueError("read replicas need PostgreSQL: MORALBANK_READ_DATABASE_URLS is set for a SQLite store")
        self.standbys = Standbys(read_urls, pool_size=pool_size) if read_urls else None
        if self.is_postgres:
            self._pool: ConnectionPool | None = ConnectionPool(
                url.replace("postgres://", "postgresql://", 1),
                min_size=1,
                max_size=pool_size,
                kwargs={"row_factory": dict_row},
                open=True,
                # After PostgreSQL restarts, the pool's idle connections are dead: check each
                # one handed out, and wait and reconnect as the ledger's pool does.
                check=ConnectionPool.check_connection,
                timeout=POOL_TIMEOUT_SECONDS * 10,
                reconnect_timeout=POOL_RECONNECT_SECONDS,
            )
        else:
            self._pool = None
            self._path = sqlite_path(url)
            if self._path == ":memory:":
                self._path = "file::memory:?mode=memory&cache=shared"
            self._local = threading.local()
            self._opened: list[sqlite3.Connection] = []
            self._lock = threading.Lock()

    def _sqlite_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path, timeout=30, isolation_level=None, check_same_thread=False, uri=self._path.startswith("file:"))
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._opened.append(conn)
        return conn

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Tx]:
        if self._pool is not None:
            with self._pool.connection() as conn, conn.transaction(force_rollback=not write):
                yield Tx(conn.cursor(), sqlite=False)
            return
        conn = self._sqlite_conn()
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield Tx(cur, sqlite=True)
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit() if write else conn.rollback()
        finally:
            cur.close()

    def read(self) -> Any:
        """A read-only transaction: of a standby when this request reads projections and one has
        caught up with what it must see (``replicas.read_route``), else of the primary."""
        route = read_route.get()
        if self.standbys is None or route is None or not route.active:
            return self.transaction(write=False)
        return self._routed(route)

    def primary(self) -> Any:
        """A read-only transaction of the primary, whatever the request."""
        return self.transaction(write=False)

    @contextmanager
    def _routed(self, route: ReadRoute) -> Iterator[Tx]:
        assert self.standbys is not None
        with self.standbys.connection(route, _applied) as conn:
            if conn is None:
                self.standbys.count("primary")
                with self.transaction(write=False) as tx:
                    yield tx
                return
            self.standbys.count("standby")
            with conn.transaction(force_rollback=True):
                yield Tx(conn.cursor(), sqlite=False)

    def ping(self) -> None:
        with self.read() as tx:
            tx.one("SELECT 1 AS ok")

    def close(self) -> None:
        if self.standbys is not None:
            self.standbys.close()
        if self._pool is not None:
            self._pool.close()
        else:
            with self._lock:
                for conn in self._opened:
                    conn.close()
                self._opened.clear()
            self._local = threading.local()


def _applied(cursor: Any, names: Sequence[str]) -> int:
    from projections.base import applied_position  # base builds on this module

    return applied_position(Tx(cursor, sqlite=False), names)
