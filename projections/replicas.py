"""Reads of projections from PostgreSQL hot standbys (``MORALBANK_READ_DATABASE_URLS``).

A standby replays the primary's WAL, the projections' tracking rows included, so it knows how far
its copy of each projection has applied the log. A request that reads projections says so
(``ReadRoute``: which projections, and the least position it must see — the caller's last write,
as read-your-writes decided). A standby serves it only when its tracking rows have reached that
position; otherwise, or when no standby answers, the primary does. A standby that fails is left
alone for ``RETRY_SECONDS`` and then tried again. Writes, the projection worker and everything that
does not say it reads projections use the primary.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0  # a standby that failed is tried again after this
CONNECT_TIMEOUT_SECONDS = 1.0  # waiting longer than this for a standby costs more than the primary


@dataclass
class ReadRoute:
    """One request's reads of projections: ``active`` once the request is known to read only
    projections; ``floor`` the position the answer must include."""

    active: bool = False
    floor: int = 0
    projections: tuple[str, ...] = ()


read_route: ContextVar[ReadRoute | None] = ContextVar("moralbank_read_route", default=None)


@dataclass
class Standby:
    url: str
    pool: ConnectionPool
    down_until: float = 0.0
    applied: dict[tuple[str, ...], int] = field(default_factory=dict)  # the greatest position seen, per set

    @property
    def name(self) -> str:
        return self.url.rsplit("@", 1)[-1]


class Standbys:
    """The standbys of one primary, picked in turn."""

    def __init__(self, urls: Sequence[str], *, pool_size: int) -> None:
        self.members = [Standby(u, _pool(u, pool_size)) for u in urls]
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self.reads: dict[str, int] = {"primary": 0, "standby": 0}

    def count(self, source: str) -> None:
        with self._lock:
            self.reads[source] = self.reads.get(source, 0) + 1

    @contextmanager
    def connection(self, route: ReadRoute, applied_position: Any) -> Iterator[Any]:
        """A connection of a standby that has applied ``route.floor`` of ``route.projections``, or
        None (the caller reads the primary). Failures before the read starts fall back silently."""
        start = next(self._turn)
        now = time.monotonic()
        for i in range(len(self.members)):
            standby = self.members[(start + i) % len(self.members)]
            if standby.down_until > now:
                continue
            held = ExitStack()
            try:
                conn = held.enter_context(standby.pool.connection(timeout=CONNECT_TIMEOUT_SECONDS))
                caught_up = self._caught_up(standby, conn, route, applied_position)
            except (psycopg.Error, PoolTimeout) as e:
                standby.down_until = time.monotonic() + RETRY_SECONDS
                log.warning("standby %s unavailable, reading the primary for %.0f s: %s", standby.name, RETRY_SECONDS, e)
                with suppress(Exception):  # the connection is gone either way
                    held.close()
                continue
            if not caught_up:
                held.close()
                continue
            with held:
                yield conn
            return
        yield None

    @staticmethod
    def _caught_up(standby: Standby, conn: Any, route: ReadRoute, applied_position: Any) -> bool:
        if route.floor <= 0:
            return True
        key = route.projections
        if standby.applied.get(key, -1) >= route.floor:
            return True
        with conn.transaction(force_rollback=True):
            applied = applied_position(conn.cursor(), key)
        standby.applied[key] = max(standby.applied.get(key, 0), applied)
        return applied >= route.floor

    def close(self) -> None:
        for standby in self.members:
            standby.pool.close()


def _pool(url: str, size: int) -> ConnectionPool:
    return ConnectionPool(
        url.replace("postgres://", "postgresql://", 1),
        min_size=0,  # a standby that is down at start must not hold the server up
        max_size=size,
        kwargs={"row_factory": dict_row, "connect_timeout": 2},
        open=True,
        check=ConnectionPool.check_connection,
        timeout=CONNECT_TIMEOUT_SECONDS,
    )
