"""verify compares every projection's tables with what a rebuild would give (computed in SQL and
compared in the server on PostgreSQL): a row altered, missing or extra in a projection's table
makes verify fail with invariant 5 and name the projection, the table and the row. On each store,
over a log holding every kind of point movement (``movements.every_kind``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from movements import every_kind
from ops.verify import verify

# projection, table, its key, a column to alter (a number, or a text), and the unique columns to
# change for a copy of a row that no rebuild gives
TABLES = [
    ("accounts", "balances", ("account",), "earned", ("account",)),
    ("accounts", "entries", ("account", "seq"), "amount", ("seq",)),
    ("leaderboards", "lb_totals", ("unit_id", "period_kind", "period_start"), "earned", ("period_start",)),
    ("leaderboards", "lb_seg", ("a0", "a1", "a2", "p", "a3", "volunteer"), "points", ("volunteer",)),
    ("leaderboards", "lb_people", ("volunteer_id",), "name", ("volunteer_id", "n")),
    ("alliance", "statement_lines", ("transaction_id",), "points", ("transaction_id",)),
    ("directory", "volunteers", ("id",), "name", ("id",)),
    ("attendance", "attendances", ("id",), "minutes", ("id",)),
]


@pytest.fixture
def every(services: Any, clock: Any, tmp_path: Path) -> Any:
    every_kind(services, clock, tmp_path)
    services.catch_up()
    report = verify(services)
    assert report.ok, report.violations
    return services


def _first(services: Any, table: str, key: tuple[str, ...]) -> dict[str, Any]:
    with services.db.read() as tx:
        row = tx.one(f"SELECT * FROM {table} ORDER BY {', '.join(key)}")
    assert row is not None, f"{table} is empty: the fill should give it rows"
    return row


def _where(key: tuple[str, ...]) -> str:
    return " AND ".join(f"{k} = %s" for k in key)


def _changed(value: Any) -> Any:
    return value + 1_000_003 if isinstance(value, int) else f"{value}-x"


@pytest.mark.parametrize("damage", ["altered", "missing", "extra"])
@pytest.mark.parametrize(("projection", "table", "key", "column", "renamed"), TABLES, ids=[t[1] for t in TABLES])
def test_a_damaged_projection_row_is_named(every: Any, damage: str, projection: str, table: str,
                                           key: tuple[str, ...], column: str, renamed: tuple[str, ...]) -> None:
    services = every
    row = _first(services, table, key)
    at = tuple(row[k] for k in key)
    with services.db.transaction() as tx:
        if damage == "altered":
            assert tx.execute(f"UPDATE {table} SET {column} = %s WHERE {_where(key)}", (_changed(row[column]), *at)) == 1
        elif damage == "missing":
            assert tx.execute(f"DELETE FROM {table} WHERE {_where(key)}", at) == 1
        else:
            copy = {**row, **{c: _changed(row[c]) for c in renamed}}
            tx.execute(f"INSERT INTO {table} ({', '.join(copy)}) VALUES ({', '.join(['%s'] * len(copy))})", tuple(copy.values()))
    report = verify(services, catch_up_first=False)
    # (balances are also compared with the replay of the log: invariant 2 as well)
    assert {v.invariant for v in report.violations} == ({2, 5} if table == "balances" else {5}), report.violations
    messages = [v.message for v in report.violations]
    counts = {"altered": "(1 row(s) only in the store, 1 only in the rebuild)",
              "missing": "(0 row(s) only in the store, 1 only in the rebuild)",
              "extra": "(1 row(s) only in the store, 0 only in the rebuild)"}[damage]
    assert any(f"projection {projection}: table {table} differs" in m and counts in m for m in messages), messages
    shown = str(row[column]) if damage != "extra" else str(_changed(row[renamed[0]]))
    named = [m for m in messages if m.lstrip().startswith(f"{table} has") or m.lstrip().startswith(f"{table} should have")]
    assert named and any(shown in m for m in named), messages


def test_moves_verify_and_a_wrong_home_is_named(services: Any) -> None:
    """Units and volunteers moved (twice): the rebuilt directory has each one's last place; a
    volunteer shown at an old home is named."""
    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    east, west = (ledger.create_unit(name, "community", street.id) for name in ("东社区", "西社区"))
    compound = ledger.create_unit("一号小区", "compound", east.id)
    ledger.move_unit(compound.id, west.id)
    lin = ledger.register_volunteer("林晓梅", compound.id, member_no="QH-9")
    ledger.credit("moves:lin", street.id, lin.id, 12, minutes=30)
    ledger.move_volunteer(lin.id, east.id)
    ledger.move_volunteer(lin.id, west.id)
    services.catch_up()
    report = verify(services)
    assert report.ok, report.violations
    with services.db.transaction() as tx:
        assert tx.execute("UPDATE volunteers SET unit_id = %s WHERE id = %s", (str(east.id), str(lin.id))) == 1
    messages = [v.message for v in verify(services).violations]
    assert any("projection directory: table volunteers differs" in m for m in messages), messages
    assert any("volunteers should have" in m and str(west.id) in m for m in messages), messages
