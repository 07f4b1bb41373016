"""What the leaderboards store: the tables, ``lb_seg``'s key and indexes, and period codes.

Integer keys: a unit's and a volunteer's number is the notification id of their creation; a
period is ``kind * 10**8 + yyyymmdd``. A chain is a home's unit numbers, root first, padded with 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from projections.boards import PERIODS
from projections.db import Tx

DEPTH = 4  # street → community → compound → building (a station sits at depth 1 to 3)
_KIND_CODE = {kind: i + 1 for i, kind in enumerate(PERIODS)}
_SCALE = 100_000_000
_CHUNK = 500

Chain = tuple[int, int, int, int]

SEG_COLUMNS = (
    "a0 BIGINT NOT NULL, a1 BIGINT NOT NULL, a2 BIGINT NOT NULL, a3 BIGINT NOT NULL, p INTEGER NOT NULL, "
    "volunteer BIGINT NOT NULL, points BIGINT NOT NULL, minutes BIGINT NOT NULL"
)
SEG_KEY = "(a0, a1, a2, p, a3, volunteer)"
SEG_INDEXES = (("points", "(p, points DESC, volunteer)"), ("minutes", "(p, minutes DESC, volunteer)"))

TABLES = ("lb_seg", "lb_moved", "lb_totals", "lb_units", "lb_people")


def schema() -> list[str]:
    return [
        "CREATE TABLE IF NOT EXISTS lb_units ("
        "unit_id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, parent_id TEXT, "
        "ancestry TEXT NOT NULL, seq BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS lb_units_parent ON lb_units (parent_id, seq)",
        "CREATE TABLE IF NOT EXISTS lb_people ("
        "volunteer_id TEXT PRIMARY KEY, name TEXT NOT NULL, home_unit_id TEXT NOT NULL, "
        "n BIGINT NOT NULL UNIQUE, mover INTEGER NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS lb_seg ({SEG_COLUMNS}, PRIMARY KEY {SEG_KEY})",
        *(f"CREATE INDEX IF NOT EXISTS lb_seg_{name} ON lb_seg {columns}" for name, columns in SEG_INDEXES),
        "CREATE TABLE IF NOT EXISTS lb_moved ("
        "unit BIGINT NOT NULL, p INTEGER NOT NULL, volunteer BIGINT NOT NULL, "
        "points BIGINT NOT NULL, minutes BIGINT NOT NULL, PRIMARY KEY (unit, p, volunteer))",
        "CREATE TABLE IF NOT EXISTS lb_totals ("
        "unit_id TEXT NOT NULL, period_kind TEXT NOT NULL, period_start TEXT NOT NULL, "
        "issued BIGINT NOT NULL, earned BIGINT NOT NULL, redeemed BIGINT NOT NULL, minutes BIGINT NOT NULL, "
        "PRIMARY KEY (unit_id, period_kind, period_start))",
    ]


def period_code(kind: str, start: str) -> int:
    return _KIND_CODE[kind] * _SCALE + (int(start.replace("-", "")) if start else 0)


def period_of(code: int) -> tuple[str, str]:
    kind, day = PERIODS[code // _SCALE - 1], code % _SCALE
    return kind, (f"{day // 10000:04d}-{day // 100 % 100:02d}-{day % 100:02d}" if day else "")


def chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(ids)
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i : i + _CHUNK]


def select_in(tx: Tx, sql: str, ids: Iterable[str]) -> list[dict[str, Any]]:
    """``sql`` has one ``{marks}`` for an IN list."""
    rows: list[dict[str, Any]] = []
    for chunk in chunks(ids):
        rows.extend(tx.all(sql.format(marks=", ".join(["%s"] * len(chunk))), chunk))
    return rows
