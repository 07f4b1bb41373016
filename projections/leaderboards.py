"""Leaderboards of role models (道德榜样) and unit roll-ups, by unit and period.

Rows (ids are UUID hex):
- ``lb_board``: per unit, period and volunteer, the points earned and minutes served by
  that volunteer while their home was the unit or under it. A credit in a building counts
  for the building and every ancestor (compound, community, street).
- ``lb_totals``: per unit and period, the points issued from the issuing accounts of the
  unit and its descendants, and the points earned, redeemed and minutes served by
  volunteers whose home was the unit or under it.
- ``lb_units``, ``lb_volunteers``: this projection's own copy of the tree (each unit with
  its ancestry) and of each volunteer's current home, so it is exactly-once on its own
  position and needs no other projection.

Attribution is fixed when the event is applied: a volunteer who moves home keeps their
earlier figures where they were earned and adds later ones to the new home; a unit moved
under another parent keeps its earlier figures in its old ancestors, later ones roll up to
the new ones. A reversal (or a batch reversal) counts in the period in which it is recorded,
like any other posting: it lowers that period's figures and all time (a period's figures are
what was recorded in it, net). It also counts where the volunteer's home is when it is
recorded (a reversal after a move lowers the new home's figures). Redemptions do not lower "points earned".

Every (unit, period, volunteer) that an earning event touches gets a row, even when a
reversal later brings it to zero, so the rows do not depend on how the log was batched
(a rebuild gives the same rows); boards show only values above zero.

Catch-up is batched: a batch's figures are added up in memory and written with one
upsert per table (one text parameter split by the server on PostgreSQL, ``executemany``
on SQLite).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from ledger.domain import LedgerTransaction, Unit, Volunteer
from projections.base import Projection
from projections.boards import METRICS, PERIODS, period_keys
from projections.db import Tx

DEFAULT_ZONE = "Asia/Shanghai"
_ISSUING = "issuing:"
_VOLUNTEER = "volunteer:"
_MERCHANT = "merchant:"
_CHUNK = 500


@dataclass
class _Unit:
    name: str
    kind: str
    parent: str | None
    ancestry: list[str]  # the unit first, then its parent, … up to the root
    seq: int


class LeaderboardsProjection(Projection):
    name = "leaderboards"
    event_classes = (
        Unit.Created,  # type: ignore[attr-defined]
        Unit.Moved,  # type: ignore[attr-defined]
        Volunteer.Registered,  # type: ignore[attr-defined]
        Volunteer.Moved,  # type: ignore[attr-defined]
        LedgerTransaction.Recorded,  # type: ignore[attr-defined]
    )
    tables = ("lb_board", "lb_totals", "lb_units", "lb_volunteers")

    def __init__(self, zone: str = DEFAULT_ZONE) -> None:
        self.zone_name = zone
        self.zone = ZoneInfo(zone)

    def schema(self, *, postgres: bool) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS lb_units ("
            "unit_id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, parent_id TEXT, "
            "ancestry TEXT NOT NULL, seq BIGINT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS lb_units_parent ON lb_units (parent_id, seq)",
            "CREATE TABLE IF NOT EXISTS lb_volunteers ("
            "volunteer_id TEXT PRIMARY KEY, name TEXT NOT NULL, home_unit_id TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS lb_board ("
            "unit_id TEXT NOT NULL, period_kind TEXT NOT NULL, period_start TEXT NOT NULL, "
            "volunteer_id TEXT NOT NULL, points BIGINT NOT NULL, minutes BIGINT NOT NULL, "
            "PRIMARY KEY (unit_id, period_kind, period_start, volunteer_id))",
            "CREATE INDEX IF NOT EXISTS lb_board_points "
            "ON lb_board (unit_id, period_kind, period_start, points DESC, volunteer_id)",
            "CREATE INDEX IF NOT EXISTS lb_board_minutes "
            "ON lb_board (unit_id, period_kind, period_start, minutes DESC, volunteer_id)",
            "CREATE TABLE IF NOT EXISTS lb_totals ("
            "unit_id TEXT NOT NULL, period_kind TEXT NOT NULL, period_start TEXT NOT NULL, "
            "issued BIGINT NOT NULL, earned BIGINT NOT NULL, redeemed BIGINT NOT NULL, minutes BIGINT NOT NULL, "
            "PRIMARY KEY (unit_id, period_kind, period_start))",
        ]

    # ---------------------------------------------------------------- applying

    def apply(self, tx: Tx, batch: Sequence[tuple[int, Any]]) -> None:
        volunteer_ids, unit_ids = self._referenced(batch)
        volunteers = _load_volunteers(tx, volunteer_ids)
        unit_ids.update(home for _, home in volunteers.values())
        units = _load_units(tx, unit_ids)
        dirty_units: set[str] = set()
        dirty_volunteers: set[str] = set()
        board: dict[tuple[str, str, str, str], list[int]] = {}
        totals: dict[tuple[str, str, str], list[int]] = {}
        # (unit, period keys) -> [issued, earned, redeemed, minutes], rolled up to the
        # ancestors in one go (before a unit moves, and at the end)
        pending: dict[tuple[str, tuple[tuple[str, str], ...]], list[int]] = {}

        for seq, e in batch:
            if isinstance(e, LedgerTransaction.Recorded):  # type: ignore[attr-defined]
                self._record(e, units, volunteers, board, pending)
            elif isinstance(e, Unit.Created):  # type: ignore[attr-defined]
                uid = e.originator_id.hex
                parent = e.parent_id.hex if e.parent_id else None
                above = units[parent].ancestry if parent in units else []
                units[uid] = _Unit(e.name, e.kind, parent, [uid, *above], seq)
                dirty_units.add(uid)
            elif isinstance(e, Unit.Moved):  # type: ignore[attr-defined]
                _roll_up(pending, units, totals)
                dirty_units.update(_move_unit(tx, units, e.originator_id.hex, e.parent_id.hex))
            elif isinstance(e, Volunteer.Registered):  # type: ignore[attr-defined]
                volunteers[e.originator_id.hex] = (e.name, e.unit_id.hex)
                dirty_volunteers.add(e.originator_id.hex)
            elif isinstance(e, Volunteer.Moved):  # type: ignore[attr-defined]
                vid = e.originator_id.hex
                if vid in volunteers:
                    volunteers[vid] = (volunteers[vid][0], e.unit_id.hex)
                    dirty_volunteers.add(vid)
        _roll_up(pending, units, totals)

        _write_units(tx, [(u, units[u]) for u in sorted(dirty_units)])
        tx.executemany(
            "INSERT INTO lb_volunteers (volunteer_id, name, home_unit_id) VALUES (%s, %s, %s) "
            "ON CONFLICT (volunteer_id) DO UPDATE SET home_unit_id = excluded.home_unit_id",
            [(v, *volunteers[v]) for v in sorted(dirty_volunteers)],
        )
        _upsert_adding(
            tx, "lb_board", ("unit_id", "period_kind", "period_start", "volunteer_id"), ("points", "minutes"),
            sorted(k + tuple(v) for k, v in board.items()),  # type: ignore[operator]
        )
        _upsert_adding(
            tx, "lb_totals", ("unit_id", "period_kind", "period_start"), ("issued", "earned", "redeemed", "minutes"),
            sorted(k + tuple(v) for k, v in totals.items()),  # type: ignore[operator]
        )

    @staticmethod
    def _referenced(batch: Sequence[tuple[int, Any]]) -> tuple[set[str], set[str]]:
        """Volunteers and units whose stored rows this batch needs."""
        volunteers: set[str] = set()
        units: set[str] = set()
        for _, e in batch:
            if isinstance(e, LedgerTransaction.Recorded):  # type: ignore[attr-defined]
                for p in e.postings:
                    for account in (p["source"], p["destination"]):
                        if account.startswith(_VOLUNTEER):
                            volunteers.add(account[10:])
                        elif account.startswith(_ISSUING):
                            units.add(account[8:])
            elif isinstance(e, Unit.Created):  # type: ignore[attr-defined]
                if e.parent_id:
                    units.add(e.parent_id.hex)
            elif isinstance(e, Unit.Moved):  # type: ignore[attr-defined]
                units.update((e.originator_id.hex, e.parent_id.hex))
            elif isinstance(e, (Volunteer.Registered, Volunteer.Moved)):  # type: ignore[attr-defined]
                units.add(e.unit_id.hex)
                volunteers.add(e.originator_id.hex)
        return volunteers, units

    def _record(
        self,
        e: Any,
        units: dict[str, _Unit],
        volunteers: dict[str, tuple[str, str]],
        board: dict[tuple[str, str, str, str], list[int]],
        pending: dict[tuple[str, tuple[tuple[str, str], ...]], list[int]],
    ) -> None:
        """One transaction, any number of postings: per volunteer the net points earned
        (flows from issuing accounts), redeemed (net flows to merchants) and minutes
        (the transaction's minutes follow the sign of what was earned; a posting's own
        ``minutes`` follow its direction); per issuing unit the net points issued."""
        earned: dict[str, list[int]] = {}  # volunteer -> [earned, redeemed, own minutes]
        issued: dict[str, int] = defaultdict(int)
        for p in e.postings:
            src, dst, amount = p["source"], p["destination"], p["amount"]
            if src.startswith(_ISSUING):
                issued[src[8:]] += amount
                if dst.startswith(_VOLUNTEER):
                    row = earned.setdefault(dst[10:], [0, 0, 0])
                    row[0] += amount
                    row[2] += p.get("minutes", 0)
            elif dst.startswith(_ISSUING):
                issued[dst[8:]] -= amount
                if src.startswith(_VOLUNTEER):
                    row = earned.setdefault(src[10:], [0, 0, 0])
                    row[0] -= amount
                    row[2] -= p.get("minutes", 0)
            elif dst.startswith(_MERCHANT) and src.startswith(_VOLUNTEER):
                earned.setdefault(src[10:], [0, 0, 0])[1] += amount
            elif src.startswith(_MERCHANT) and dst.startswith(_VOLUNTEER):
                earned.setdefault(dst[10:], [0, 0, 0])[1] -= amount
        keys = period_keys(e.at, self.zone)
        for vid, (points, redeemed, own_minutes) in earned.items():
            minutes = own_minutes + (e.minutes if points > 0 else -e.minutes if points < 0 else 0)
            known = volunteers.get(vid)
            home = known[1] if known else None
            if home not in units:
                continue  # not a volunteer this projection knows: nowhere to count it
            if points:
                for uid in units[home].ancestry:  # type: ignore[index]
                    for kind, start in keys:
                        row = board.get((uid, kind, start, vid))
                        if row is None:
                            board[(uid, kind, start, vid)] = [points, minutes]
                        else:
                            row[0] += points
                            row[1] += minutes
            t = pending.get((home, keys))  # type: ignore[arg-type]
            if t is None:
                pending[(home, keys)] = [0, points, redeemed, minutes]  # type: ignore[index]
            else:
                t[1] += points
                t[2] += redeemed
                t[3] += minutes
        for uid, amount in issued.items():
            if amount and uid in units:
                t = pending.get((uid, keys))
                if t is None:
                    pending[(uid, keys)] = [amount, 0, 0, 0]
                else:
                    t[0] += amount


def _roll_up(
    pending: dict[tuple[str, tuple[tuple[str, str], ...]], list[int]],
    units: dict[str, _Unit],
    totals: dict[tuple[str, str, str], list[int]],
) -> None:
    """Add each unit's pending figures to it and every ancestor, then forget them."""
    for (uid, keys), figures in pending.items():
        for above in units[uid].ancestry:
            for kind, start in keys:
                t = totals.get((above, kind, start))
                if t is None:
                    totals[(above, kind, start)] = list(figures)
                else:
                    for i in range(4):
                        t[i] += figures[i]
    pending.clear()


# ---------------------------------------------------------------- loading and writing


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(ids)
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i : i + _CHUNK]


def _select_in(tx: Tx, sql: str, ids: Iterable[str]) -> list[dict[str, Any]]:
    """``sql`` has one ``{marks}`` for an IN list."""
    rows: list[dict[str, Any]] = []
    for chunk in _chunks(ids):
        rows.extend(tx.all(sql.format(marks=", ".join(["%s"] * len(chunk))), chunk))
    return rows


def _load_volunteers(tx: Tx, ids: set[str]) -> dict[str, tuple[str, str]]:
    rows = _select_in(tx, "SELECT volunteer_id, name, home_unit_id FROM lb_volunteers WHERE volunteer_id IN ({marks})", ids)
    return {r["volunteer_id"]: (r["name"], r["home_unit_id"]) for r in rows}


def _unit_of(row: dict[str, Any]) -> _Unit:
    return _Unit(row["name"], row["kind"], row["parent_id"], row["ancestry"].split(","), int(row["seq"]))


def _load_units(tx: Tx, ids: set[str]) -> dict[str, _Unit]:
    rows = _select_in(tx, "SELECT * FROM lb_units WHERE unit_id IN ({marks})", ids)
    return {r["unit_id"]: _unit_of(r) for r in rows}


def _move_unit(tx: Tx, units: dict[str, _Unit], uid: str, parent: str) -> set[str]:
    """New ancestry for the unit and everything under it; returns the ids changed."""
    for row in tx.all("SELECT * FROM lb_units WHERE ancestry LIKE %s", (f"%{uid}%",)):
        units.setdefault(row["unit_id"], _unit_of(row))  # a newer copy from this batch wins
    if uid not in units:
        return set()
    above = units[parent].ancestry if parent in units else []
    changed: set[str] = set()
    for other_id, other in units.items():
        if uid in other.ancestry:
            cut = other.ancestry.index(uid)
            other.ancestry = [*other.ancestry[: cut + 1], *above]
            changed.add(other_id)
    units[uid].parent = parent
    return changed


def _write_units(tx: Tx, units: list[tuple[str, _Unit]]) -> None:
    tx.executemany(
        "INSERT INTO lb_units (unit_id, name, kind, parent_id, ancestry, seq) VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (unit_id) DO UPDATE SET parent_id = excluded.parent_id, ancestry = excluded.ancestry",
        [(uid, u.name, u.kind, u.parent, ",".join(u.ancestry), u.seq) for uid, u in units],
    )


def _upsert_adding(tx: Tx, table: str, keys: Sequence[str], values: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Insert rows, or add their values to the rows already there (one statement per batch
    on PostgreSQL)."""
    if not rows:
        return
    columns = ", ".join((*keys, *values))
    adding = ", ".join(f"{v} = {table}.{v} + excluded.{v}" for v in values)
    conflict = f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {adding}"
    if not getattr(tx, "_sqlite", True):  # PostgreSQL (Tx has no public flag for the store)
        # One text parameter, split by the server: far cheaper on the client than arrays
        # (psycopg quotes array elements one by one). Ids, kinds and dates hold no comma.
        fields = [f"f[{i + 1}]" for i in range(len(keys))] + [f"f[{len(keys) + i + 1}]::bigint" for i in range(len(values))]
        tx.execute(
            f"INSERT INTO {table} ({columns}) SELECT {', '.join(fields)} FROM "
            f"(SELECT string_to_array(line, ',') AS f FROM string_to_table(%s, E'\\n') AS line) AS lines {conflict}",
            ("\n".join(",".join(map(str, row)) for row in rows),),
        )
    else:
        marks = ", ".join(["%s"] * (len(keys) + len(values)))
        tx.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks}) {conflict}", rows)


# ---------------------------------------------------------------- queries


def hex_id(unit_id: UUID | str) -> str:
    return unit_id.hex if isinstance(unit_id, UUID) else UUID(unit_id).hex


def unit_row(tx: Tx, unit_id: str) -> dict[str, Any] | None:
    return tx.one("SELECT unit_id, name, kind, parent_id, ancestry FROM lb_units WHERE unit_id = %s", (unit_id,))


def default_unit(tx: Tx) -> dict[str, Any] | None:
    """The board shown when no unit is asked for: the first root unit (the street)."""
    return tx.one("SELECT unit_id, name, kind, parent_id, ancestry FROM lb_units WHERE parent_id IS NULL ORDER BY seq LIMIT 1")


def children(tx: Tx, unit_id: str) -> list[dict[str, Any]]:
    return tx.all("SELECT unit_id, name, kind FROM lb_units WHERE parent_id = %s ORDER BY seq", (unit_id,))


def units_named(tx: Tx, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    rows = _select_in(tx, "SELECT unit_id, name, kind FROM lb_units WHERE unit_id IN ({marks})", set(ids))
    return {r["unit_id"]: r for r in rows}


def board(
    tx: Tx, unit_id: str, kind: str, start: str, metric: str, limit: int, after: tuple[int, str] | None = None
) -> list[dict[str, Any]]:
    """Rows with a value above zero, highest first; inside a tie by volunteer id.
    ``after`` is the (value, volunteer id) of the last row already shown."""
    if metric not in METRICS or kind not in PERIODS:
        raise ValueError(f"unknown metric or period: {metric!r}, {kind!r}")
    where = f"b.unit_id = %s AND b.period_kind = %s AND b.period_start = %s AND b.{metric} > 0"
    params: list[Any] = [unit_id, kind, start]
    if after is not None:
        where += f" AND (b.{metric} < %s OR (b.{metric} = %s AND b.volunteer_id > %s))"
        params += [after[0], after[0], after[1]]
    return tx.all(
        f"SELECT b.volunteer_id, b.{metric} AS value, v.name, v.home_unit_id, u.name AS home_name, u.kind AS home_kind "
        f"FROM lb_board b JOIN lb_volunteers v ON v.volunteer_id = b.volunteer_id "
        f"LEFT JOIN lb_units u ON u.unit_id = v.home_unit_id "
        f"WHERE {where} ORDER BY b.{metric} DESC, b.volunteer_id LIMIT %s",
        [*params, limit],
    )


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


