"""The store: one database URL to the library's environment, and the ledger's recorders
(``sqlite``, ``postgres``): eventsourcing's sqlite and postgres application recorders, plus the
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

from pathlib import Path
from urllib.parse import unquote, urlparse

from ledger.store.postgres import POOL_TIMEOUT_SECONDS, PostgresLedgerRecorder
from ledger.store.sqlite import SQLiteLedgerRecorder


def _topic(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def sqlite_path(url: str) -> str:
    """``sqlite:///var/x.db`` is relative, ``sqlite:////abs/x.db`` absolute, ``sqlite://:memory:`` memory."""
    if not url.startswith("sqlite://"):
        raise ValueError(f"unsupported database URL: {url!r}")
    rest = url[len("sqlite://") :]
    if rest in (":memory:", "/:memory:"):
        return ":memory:"
    return rest[1:] if rest.startswith("/") else rest


def ledger_env(url: str, *, pool_size: int = 10, max_overflow: int = 20, create_tables: bool = True) -> dict[str, str]:
    """Raises ValueError for a URL that names no supported store.

    ``create_tables=False`` for processes started beside a running system: on PostgreSQL the
    library's schema statements lock the events table, and run from many processes at once
    while others write, they were seen to stall each other.
    """
    create = "y" if create_tables else "n"
    if is_postgres(url):
        u = urlparse(url)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(u.path.lstrip("/")),
            "POSTGRES_HOST": u.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(u.port or 5432),
            "POSTGRES_USER": unquote(u.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(u.password or ""),
            "POSTGRES_POOL_SIZE": str(pool_size),
            "POSTGRES_MAX_OVERFLOW": str(max_overflow),
            "POSTGRES_CONN_MAX_AGE": "600",
            "POSTGRES_PRE_PING": "y",
            "POSTGRES_CONNECT_TIMEOUT": str(POOL_TIMEOUT_SECONDS),
            "POSTGRES_LOCK_TIMEOUT": "10",
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "30",
            "APPLICATION_RECORDER_TOPIC": _topic(PostgresLedgerRecorder),
            "CREATE_TABLE": create,
        }
    path = sqlite_path(url)
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": path if path != ":memory:" else "file::memory:?mode=memory&cache=shared",
        "SQLITE_LOCK_TIMEOUT": "30",
        "APPLICATION_RECORDER_TOPIC": _topic(SQLiteLedgerRecorder),
        "CREATE_TABLE": create,
    }
