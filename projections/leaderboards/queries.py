"""Reading the leaderboards: a unit's board for a period and metric, its totals, the units
around it (for the API's pages), and every stored figure (for tests and checks)."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from projections.boards import METRICS, PERIODS
from projections.db import Tx
from projections.leaderboards.tables import DEPTH, period_code, period_of, select_in

# Boards of units this close to the root read the rows already in value order and keep those
# under the unit; deeper (smaller) units read their own rows and sort them.
_ORDERED_DEPTH = 1


def hex_id(unit_id: UUID | str) -> str:
    return unit_id.hex if isinstance(unit_id, UUID) else UUID(unit_id).hex


def unit_row(tx: Tx, unit_id: str) -> dict[str, Any] | None:
    return tx.one("SELECT unit_id, name, kind, parent_id, ancestry, seq FROM lb_units WHERE unit_id = %s", (unit_id,))


def default_unit(tx: Tx) -> dict[str, Any] | None:
    """The board shown when no unit is asked for: the first root unit (the street)."""
    return tx.one("SELECT unit_id, name, kind, parent_id, ancestry, seq FROM lb_units WHERE parent_id IS NULL ORDER BY seq LIMIT 1")


def children(tx: Tx, unit_id: str) -> list[dict[str, Any]]:
    return tx.all("SELECT unit_id, name, kind FROM lb_units WHERE parent_id = %s ORDER BY seq", (unit_id,))


def units_named(tx: Tx, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    rows = select_in(tx, "SELECT unit_id, name, kind, seq FROM lb_units WHERE unit_id IN ({marks})", set(ids))
    return {r["unit_id"]: r for r in rows}


def board(
    tx: Tx, unit_id: str, kind: str, start: str, metric: str, limit: int, after: tuple[int, str] | None = None
) -> list[dict[str, Any]]:
    """Rows with a value above zero, highest first; inside a tie in the order the volunteers
    were registered. ``after`` is the (value, volunteer id) of the last row already shown."""
    if metric not in METRICS or kind not in PERIODS:
        raise ValueError(f"unknown metric or period: {metric!r}, {kind!r}")
    unit = unit_row(tx, unit_id)
    if unit is None:
        return []
    ancestry = unit["ancestry"].split(",")
    named = units_named(tx, ancestry)
    if any(a not in named for a in ancestry):
        return []
    chain = [int(named[a]["seq"]) for a in reversed(ancestry)]
    code = period_code(kind, start)
    cond = f"{metric} > 0"
    bound: list[Any] = []
    if after is not None:
        person = tx.one("SELECT n FROM lb_people WHERE volunteer_id = %s", (after[1],))
        cond += f" AND ({metric} < %s OR ({metric} = %s AND volunteer > %s))"
        bound = [after[0], after[0], int(person["n"]) if person else 0]
    order = f"ORDER BY {metric} DESC, volunteer LIMIT %s"
    depth = len(chain) - 1
    if len(chain) > DEPTH:
        seg: list[dict[str, Any]] = []
    elif depth <= _ORDERED_DEPTH:
        seg = tx.all(
            f"SELECT volunteer, {metric} AS value FROM lb_seg WHERE p = %s AND a{depth} = %s AND {cond} {order}",
            [code, chain[depth], *bound, limit],
        )
    else:
        prefix = " AND ".join(f"a{i} = %s" for i in range(min(depth + 1, 3)))
        tail = " AND a3 = %s" if depth == 3 else ""
        seg = tx.all(
            f"SELECT volunteer, {metric} AS value FROM lb_seg WHERE {prefix} AND p = %s{tail} AND {cond} {order}",
            [*chain[:3], code, *chain[3:], *bound, limit],
        )
    moved = tx.all(
        f"SELECT volunteer, {metric} AS value FROM lb_moved WHERE unit = %s AND p = %s AND {cond} {order}",
        [chain[depth], code, *bound, limit],
    )
    top = list(heapq.merge(
        [(-int(r["value"]), int(r["volunteer"])) for r in seg],
        [(-int(r["value"]), int(r["volunteer"])) for r in moved],
    ))[:limit]
    if not top:
        return []
    marks = ", ".join(["%s"] * len(top))
    people = {
        int(r["n"]): r
        for r in tx.all(
            "SELECT v.n, v.volunteer_id, v.name, v.home_unit_id, u.name AS home_name, u.kind AS home_kind "
            f"FROM lb_people v LEFT JOIN lb_units u ON u.unit_id = v.home_unit_id WHERE v.n IN ({marks})",
            [n for _, n in top],
        )
    }
    return [
        {
            "volunteer_id": people[n]["volunteer_id"], "value": -value, "name": people[n]["name"],
            "home_unit_id": people[n]["home_unit_id"], "home_name": people[n]["home_name"], "home_kind": people[n]["home_kind"],
        }
        for value, n in top
    ]


def board_rows(tx: Tx) -> dict[tuple[str, str, str, str], tuple[int, int]]:
    """Every stored figure as (unit id, period kind, period start, volunteer id) -> (points,
    minutes), whichever table holds it (for tests and checks; reads everything)."""
    units = {int(r["seq"]): r["unit_id"] for r in tx.all("SELECT unit_id, seq FROM lb_units")}
    people = {int(r["n"]): r["volunteer_id"] for r in tx.all("SELECT volunteer_id, n FROM lb_people")}
    out: dict[tuple[str, str, str, str], tuple[int, int]] = {}
    for r in tx.all("SELECT * FROM lb_seg"):
        for i in range(DEPTH):
            if r[f"a{i}"]:
                out[(units[int(r[f"a{i}"])], *period_of(int(r["p"])), people[int(r["volunteer"])])] = (int(r["points"]), int(r["minutes"]))
    for r in tx.all("SELECT * FROM lb_moved"):
        key = (units[int(r["unit"])], *period_of(int(r["p"])), people[int(r["volunteer"])])
        assert key not in out, f"a volunteer's figures in both tables: {key}"
        out[key] = (int(r["points"]), int(r["minutes"]))
    return out


def totals(tx: Tx, unit_id: str, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, int]]:
    """Per (period kind, start): issued, earned, redeemed, minutes (zeros where nothing happened)."""
    out: dict[tuple[str, str], dict[str, int]] = {}
    for kind, start in keys:
        row = tx.one(
            "SELECT issued, earned, redeemed, minutes FROM lb_totals "
            "WHERE unit_id = %s AND period_kind = %s AND period_start = %s",
            (unit_id, kind, start),
        )
        out[(kind, start)] = {k: int(v) for k, v in row.items()} if row else dict.fromkeys(("issued", "earned", "redeemed", "minutes"), 0)
    return out


def expired_by_day(tx: Tx, postings: str, unit_id: str) -> dict[str, int]:
    """Points that lapsed (to ``expired:<unit>``, less any taken back from it) per local day
    (ISO text), for the issuing units of ``unit_id``'s subtree (the unit itself included): the
    lots those units funded. Read from the ledger's postings table (``postings``: its name, schema
    qualified on PostgreSQL), whose partial indexes hold only expiry postings; the subtree from
    ``lb_units``. Roll-ups count them beside ``issued``; boards never do (points earned stay)."""
    ids = "unit_id::uuid" if tx.is_postgres else "unit_id"
    sub = f"SELECT {ids} FROM lb_units WHERE ',' || ancestry || ',' LIKE %s"
    rows = tx.all(
        f"SELECT day, sum(n) AS n FROM ("
        f"SELECT day, amount AS n FROM {postings} WHERE destination_kind = 'expired' AND destination_id IN ({sub}) "
        f"UNION ALL SELECT day, -amount AS n FROM {postings} WHERE source_kind = 'expired' AND source_id IN ({sub})"
        f") AS x GROUP BY day",
        (f"%,{unit_id},%", f"%,{unit_id},%"),
    )
    return {str(r["day"]): int(r["n"] or 0) for r in rows}


def expired_in(by_day: dict[str, int], start: str, end: str | None) -> int:
    """``expired_by_day`` summed over the local days ``start`` (ISO; "" for all time) to ``end`` (excluded)."""
    return sum(n for day, n in by_day.items() if day >= start and (end is None or day < end))
