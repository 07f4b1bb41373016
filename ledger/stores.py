"""From one database URL to the eventsourcing environment for the ledger."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from ledger.persistence import POOL_TIMEOUT_SECONDS, PostgresLedgerRecorder, SQLiteLedgerRecorder


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
