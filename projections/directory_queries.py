"""Reading the directory for the console: the units under some units, volunteers found by
name, member number or phone's last four (paged by registration), and each unit's figures for
the current periods (the leaderboards' totals, and how many volunteers were active)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from projections.db import Tx
from projections.leaderboards.tables import DEPTH, period_code, select_in


def units_under(tx: Tx, roots: Iterable[str]) -> set[str]:
    """The roots and every unit below them (ids as text)."""
    units = set(roots)
    frontier = list(units)
    while frontier:
        children = [r["id"] for r in select_in(tx, "SELECT id FROM units WHERE parent_id IN ({marks})", frontier)]
        frontier = [c for c in children if c not in units]
        units.update(frontier)
    return units


def all_units(tx: Tx) -> list[dict[str, Any]]:
    return tx.all("SELECT id, name, kind, parent_id, created_at FROM units ORDER BY created_at, id")


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_volunteers(
    tx: Tx, *, q: str | None, units: Sequence[str] | None, after: tuple[str, str] | None, limit: int
) -> list[dict[str, Any]]:
    """Volunteers in ``units`` (None: everywhere) whose name holds ``q``, or whose member number
    or phone's last four is ``q``; in the order they registered; ``after``: the (registered_at,
    id) of the last row already shown. Fetch ``limit + 1`` to learn whether a page follows."""
    where: list[str] = []
    params: list[Any] = []
    if q:
        where.append("(LOWER(name) LIKE LOWER(%s) ESCAPE '\\' OR member_no = %s OR phone_last4 = %s)")
        params += [_like(q), q, q]
    if after is not None:
        where.append("(registered_at > %s OR (registered_at = %s AND id > %s))")
        params += [after[0], after[0], after[1]]
    if units is not None:
        if not units:
            return []
        where.append(f"unit_id IN ({', '.join(['%s'] * len(units))})")
        params += list(units)
    sql = "SELECT id, name, unit_id, member_no, phone_last4, registered_at FROM volunteers"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return tx.all(sql + " ORDER BY registered_at, id LIMIT %s", [*params, limit])


def unit_figures(tx: Tx, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str, str], dict[str, int]]:
    """(unit id as hex, period kind, period start) → issued, earned, redeemed, minutes and
    active (volunteers with points or minutes in the period), for every unit with any."""
    wanted = {period_code(kind, start): (kind, start) for kind, start in keys}
    codes = list(wanted)
    marks = ", ".join(["%s"] * len(codes))
    out: dict[tuple[str, str, str], dict[str, int]] = {}
    zero = {"issued": 0, "earned": 0, "redeemed": 0, "minutes": 0, "active": 0}
    cond = " OR ".join(["(period_kind = %s AND period_start = %s)"] * len(keys))
    for r in tx.all(
        f"SELECT unit_id, period_kind, period_start, issued, earned, redeemed, minutes FROM lb_totals WHERE {cond}",
        [v for key in keys for v in key],
    ):
        row = out.setdefault((r["unit_id"], r["period_kind"], r["period_start"]), dict(zero))
        for k in ("issued", "earned", "redeemed", "minutes"):
            row[k] = int(r[k])
    seqs = {int(r["seq"]): r["unit_id"] for r in tx.all("SELECT unit_id, seq FROM lb_units")}
    active = "(points > 0 OR minutes > 0)"
    counts: list[dict[str, Any]] = []
    for i in range(DEPTH):
        counts += tx.all(
            f"SELECT a{i} AS unit, p, COUNT(*) AS n FROM lb_seg WHERE p IN ({marks}) AND a{i} <> 0 AND {active} "
            f"GROUP BY a{i}, p",
            codes,
        )
    counts += tx.all(
        f"SELECT unit, p, COUNT(*) AS n FROM lb_moved WHERE p IN ({marks}) AND {active} GROUP BY unit, p", codes
    )
    for r in counts:
        unit = seqs.get(int(r["unit"]))
        if unit is None:
            continue
        kind, start = wanted[int(r["p"])]
        out.setdefault((unit, kind, start), dict(zero))["active"] += int(r["n"])
    return out
