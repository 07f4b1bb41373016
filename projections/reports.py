"""A unit's year in figures, for the street office's yearly report (issue 19).

Read from the read models and the ledger's postings table, in one read transaction, into a plain
``YearReport`` that the JSON, the charts and the PDF all print from, so they cannot disagree:

- issued, earned, redeemed and minutes (hours served) are the leaderboards' totals (``lb_totals``)
  for the year and for each month, the same figures ``GET /v1/units`` shows; active volunteers are
  counted as there (points or minutes in the period), by ``directory_queries.unit_figures``;
- expired points are read from the postings table (to ``expired:<unit>`` minus back from it, for the
  units of the subtree, by the postings' local day);
- volunteers registered, activities held (not cancelled, by their start in the configured zone),
  shops and their redemptions (statement lines: redemptions less reversals) are read from the
  directory, attendance and alliance read models;
- welfare days are the batches whose transactions were issued by a unit of the subtree, one per
  batch id, from the postings table;
- role models are the year's points board of the unit (names masked unless asked for in full);
- integrity: the daily root of the hash chain at the year's last day (or today's, in the current
  year), and the outcome of verify when one is handed in.

"Units below" are the unit's children, each with the figures of its own subtree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from ledger import chain
from ledger.codec import utc_text
from ledger.postings import TABLE as SQLITE_POSTINGS
from projections import boards
from projections import directory_queries as dq
from projections import verifications
from projections.db import Tx
from projections.leaderboards import queries as lb
from projections.leaderboards.tables import DEPTH, period_code, select_in

ROLE_MODELS = 10
MONTHS = tuple(range(1, 13))


class YearOutOfRange(ValueError):
    """The year is in the future, or before the ledger's first event."""

    def __init__(self, year: int, first: int, last: int) -> None:
        super().__init__(f"year {year} is outside {first}…{last} (the ledger's first year to this year)")
        self.year, self.first, self.last = year, first, last


class UnitUnknown(LookupError):
    """No such unit in the read models (yet)."""


@dataclass
class Figures:
    """The key figures of a unit (and its subtree) for a period."""

    volunteers: int = 0  # registered by the period's end, living in the subtree
    new_volunteers: int = 0  # registered during the period
    active: int = 0  # with points or minutes in the period
    minutes: int = 0
    activities: int = 0
    issued: int = 0
    earned: int = 0
    redeemed: int = 0
    expired: int = 0
    shops: int = 0  # registered by the period's end
    redemptions: int = 0  # redemptions less reversals
    welfare_days: int = 0

    @property
    def hours(self) -> float:
        return round(self.minutes / 60, 1)


@dataclass
class MonthFigures:
    month: int
    minutes: int = 0
    issued: int = 0
    earned: int = 0
    redeemed: int = 0
    expired: int = 0
    active: int = 0
    activities: int = 0
    redemptions: int = 0
    redemption_points: int = 0

    @property
    def hours(self) -> float:
        return round(self.minutes / 60, 1)


@dataclass
class UnitLine:
    """One unit below the report's unit, with the year's figures of its subtree."""

    id: str
    name: str
    kind: str
    volunteers: int
    active: int
    minutes: int
    issued: int
    earned: int
    redeemed: int
    activities: int

    @property
    def hours(self) -> float:
        return round(self.minutes / 60, 1)


@dataclass
class RoleModel:
    rank: int
    name: str
    home: str
    points: int
    minutes: int


@dataclass
class ActivityRow:
    """Activities held in a unit below (or the unit itself) per month, January first."""

    unit: str
    by_month: list[int]

    @property
    def total(self) -> int:
        return sum(self.by_month)


@dataclass
class Batch:
    id: str
    title: str
    day: str
    lines: int
    volunteers: int
    points: int
    minutes: int


@dataclass
class Shop:
    id: str
    name: str
    unit: str
    redemptions: int
    points: int  # net: redemptions less reversals


@dataclass
class Integrity:
    day: str  # the day whose root is shown
    root: str  # hex
    last_notification_id: int | None
    events_in_year: int
    verified: str  # "passed", "failed" or "not_verified"
    verify_detail: str = ""


@dataclass
class YearReport:
    unit_id: str
    unit_name: str
    unit_kind: str
    year: int
    zone: str
    generated_at: str
    complete: bool  # the year is over
    figures: Figures
    months: list[MonthFigures]
    units_below: list[UnitLine]
    role_models: list[RoleModel]
    names_masked: bool
    activities_by_unit: list[ActivityRow]
    batches: list[Batch]
    shops: list[Shop]
    integrity: Integrity
    path: list[str] = field(default_factory=list)  # names from the root down to the unit

    @property
    def empty(self) -> bool:
        """Nothing happened in the unit this year (no points, minutes, activities nor redemptions)."""
        f = self.figures
        return not (f.minutes or f.issued or f.earned or f.redeemed or f.expired or f.activities or f.redemptions or f.active)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["empty"] = self.empty
        out["figures"]["hours"] = self.figures.hours
        for m, row in zip(self.months, out["months"], strict=True):
            row["hours"] = m.hours
        for u, row in zip(self.units_below, out["units_below"], strict=True):
            row["hours"] = u.hours
        for a, row in zip(self.activities_by_unit, out["activities_by_unit"], strict=True):
            row["total"] = a.total
        return out


def _last_verification(tx: Tx, zone: ZoneInfo) -> tuple[str, str]:
    """(status, detail) of the store's last ``moralbank verify``: when it ran and up to which event."""
    run = verifications.last(tx)
    if run is None:
        return "not_verified", ""
    detail = f"{run.at.astimezone(zone):%Y-%m-%d %H:%M} · #{run.log_end:,}"
    return ("passed", detail) if run.ok else ("failed", f"{detail} · {run.violations}")


# ---------------------------------------------------------------- the year's bounds


def first_year(recorder: Any, zone: ZoneInfo) -> int | None:
    """The year (in the zone) of the ledger's first event, None for an empty ledger."""
    rows = recorder.select_chain(0, 1)
    return rows[0].recorded_at.astimezone(zone).year if rows else None


def check_year(year: int, *, first: int | None, today: date) -> None:
    """Raises YearOutOfRange."""
    lowest = first if first is not None else today.year
    if not lowest <= year <= today.year:
        raise YearOutOfRange(year, lowest, today.year)


def _month_start(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def _utc(day: date, zone: ZoneInfo) -> str:
    return utc_text(chain.day_bounds(day, zone)[0])


# ---------------------------------------------------------------- reading


@dataclass
class _Scope:
    unit: dict[str, Any]
    units: dict[str, dict[str, Any]]  # hex id -> lb_units row, the unit and all below
    children: list[dict[str, Any]]
    below: dict[str, set[str]]  # child hex -> its subtree (hex)

    def dashed(self, ids: Sequence[str] | set[str] | None = None) -> list[str]:
        return [str(UUID(hex=u)) for u in (self.units if ids is None else ids)]


def _scope(tx: Tx, unit_hex: str) -> _Scope:
    unit = lb.unit_row(tx, unit_hex)
    if unit is None:
        raise UnitUnknown(unit_hex)
    rows = tx.all("SELECT unit_id, name, kind, parent_id, ancestry, seq FROM lb_units ORDER BY seq")
    units = {r["unit_id"]: r for r in rows if unit_hex in r["ancestry"].split(",")}
    children = [r for r in rows if r["parent_id"] == unit_hex]
    below = {c["unit_id"]: {u for u, r in units.items() if c["unit_id"] in r["ancestry"].split(",")} for c in children}
    return _Scope(unit, units, children, below)


class _Postings:
    """The ledger's postings table, on either store (ids: uuid on PostgreSQL, hex on SQLite)."""

    def __init__(self, tx: Tx, table: str) -> None:
        self.tx, self.table, self.pg = tx, table, tx.is_postgres

    def day(self, d: date) -> Any:
        return d if self.pg else d.isoformat()

    def where_units(self, column: str, units: set[str]) -> tuple[str, list[Any]]:
        if self.pg:
            return f"{column} = ANY(%s::uuid[])", [[str(UUID(hex=u)) for u in units]]
        return f"{column} IN ({', '.join(['%s'] * len(units))})", sorted(units)

    def all(self, sql: str, units: set[str], column: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        """``sql`` with ``{units}`` for the condition on ``column``; SQLite: in chunks of units."""
        if not units:
            return []
        if self.pg:
            cond, bound = self.where_units(column, units)
            return self.tx.all(sql.format(units=cond, table=self.table), [*bound, *params])
        out: list[dict[str, Any]] = []
        ordered = sorted(units)
        for i in range(0, len(ordered), 400):
            cond, bound = self.where_units(column, set(ordered[i : i + 400]))
            out += self.tx.all(sql.format(units=cond, table=self.table), [*bound, *params])
        return out


def _expired_by_month(p: _Postings, units: set[str], year: int) -> dict[int, int]:
    out: dict[int, int] = dict.fromkeys(MONTHS, 0)
    lo, hi = p.day(date(year, 1, 1)), p.day(date(year + 1, 1, 1))
    for side, sign in (("destination", 1), ("source", -1)):
        rows = p.all(
            f"SELECT substr(CAST(day AS TEXT), 6, 2) AS m, SUM(amount) AS n FROM {{table}} "
            f"WHERE {side}_kind = 'expired' AND {{units}} AND day >= %s AND day < %s "
            "GROUP BY substr(CAST(day AS TEXT), 6, 2)",
            units, f"{side}_id", [lo, hi],
        )
        for r in rows:
            out[int(r["m"])] += sign * int(r["n"] or 0)
    return out


def _batches(p: _Postings, units: set[str], year: int) -> list[Batch]:
    rows = p.all(
        "SELECT substr(key, 1, 42) AS b, MIN(day) AS day, MIN(memo) AS title, COUNT(*) AS lines, "
        "COUNT(DISTINCT destination_id) AS volunteers, SUM(amount) AS points, SUM(line_minutes) AS minutes "
        "FROM {table} WHERE kind = 'batch' AND source_kind = 'issuing' AND destination_kind = 'volunteer' "
        "AND {units} AND day >= %s AND day < %s GROUP BY substr(key, 1, 42)",
        units, "unit_id", [p.day(date(year, 1, 1)), p.day(date(year + 1, 1, 1))],
    )
    merged: dict[str, Batch] = {}
    for r in rows:  # SQLite: one row per chunk of units; add them up
        bid = r["b"].removeprefix("batch:")
        b = merged.get(bid)
        day = str(r["day"])
        if b is None:
            merged[bid] = Batch(bid, r["title"] or "", day, int(r["lines"]), int(r["volunteers"]), int(r["points"]), int(r["minutes"] or 0))
        else:
            b.day, b.lines, b.volunteers = min(b.day, day), b.lines + int(r["lines"]), b.volunteers + int(r["volunteers"])
            b.points += int(r["points"])
            b.minutes += int(r["minutes"] or 0)
    return sorted(merged.values(), key=lambda b: (b.day, b.id))


def _count_in(tx: Tx, sql: str, ids: Sequence[str], params: Sequence[Any]) -> list[dict[str, Any]]:
    """``sql`` with one ``{marks}`` IN list (chunked), its other parameters after the list."""
    out: list[dict[str, Any]] = []
    ordered = sorted(ids)
    for i in range(0, len(ordered), 400):
        part = ordered[i : i + 400]
        out += tx.all(sql.format(marks=", ".join(["%s"] * len(part))), [*part, *params])
    return out


def year_report(
    tx: Tx,
    recorder: Any,
    unit_id: UUID,
    year: int,
    zone: ZoneInfo,
    now: datetime,
    *,
    full_names: bool = False,
    verified: tuple[str, str] | None = None,
    postings_table: str | None = None,
) -> YearReport:
    """The report of ``unit_id`` for ``year`` (checked with ``check_year`` by the caller).
    ``verified``: (status, detail) of a verify run, else "not_verified". Raises UnitUnknown."""
    today = now.astimezone(zone).date()
    scope = _scope(tx, unit_id.hex)
    p = _Postings(tx, postings_table or SQLITE_POSTINGS)
    ystart, yend = date(year, 1, 1), date(year + 1, 1, 1)
    lo, hi = _utc(ystart, zone), _utc(yend, zone)
    month_keys = [("month", _month_start(year, m).isoformat()) for m in MONTHS]
    year_key = ("year", ystart.isoformat())
    all_figures = dq.unit_figures(tx, [year_key, *month_keys])
    zero = {"issued": 0, "earned": 0, "redeemed": 0, "minutes": 0, "active": 0}

    def fig(unit_hex: str, key: tuple[str, str]) -> dict[str, int]:
        return all_figures.get((unit_hex, *key), zero)

    hexes = set(scope.units)
    dashed = scope.dashed()
    uhex = unit_id.hex

    # volunteers registered (by the year's end, and during it), per unit
    vol_rows = []
    ordered = sorted(dashed)
    for i in range(0, len(ordered), 400):
        part = ordered[i : i + 400]
        vol_rows += tx.all(
            "SELECT unit_id, COUNT(*) AS n, SUM(CASE WHEN registered_at >= %s THEN 1 ELSE 0 END) AS new FROM volunteers "
            f"WHERE unit_id IN ({', '.join(['%s'] * len(part))}) AND registered_at < %s GROUP BY unit_id",
            [lo, *part, hi],
        )
    volunteers_by_unit = {UUID(r["unit_id"]).hex: (int(r["n"]), int(r["new"] or 0)) for r in vol_rows}

    # activities held, per unit and month (by start, in the zone)
    activities: dict[tuple[str, int], int] = {}
    for m in MONTHS:
        a, b = _utc(_month_start(year, m), zone), _utc(_month_start(year, m + 1), zone)
        for r in _count_in(
            tx,
            "SELECT unit_id, COUNT(*) AS n FROM activities WHERE unit_id IN ({marks}) AND starts_at >= %s "
            "AND starts_at < %s AND cancelled = %s GROUP BY unit_id",
            dashed, [a, b, False],
        ):
            activities[(UUID(r["unit_id"]).hex, m)] = int(r["n"])

    # the alliance: shops in the subtree, their statement lines in the year
    shops_rows = _count_in(
        tx,
        "SELECT id, name, unit_id, registered_at FROM alliance_merchants WHERE unit_id IN ({marks}) AND registered_at < %s",
        dashed, [hi],
    )
    shop_ids = [r["id"] for r in shops_rows]
    per_shop: dict[str, tuple[int, int]] = {}
    for r in _count_in(
        tx,
        "SELECT merchant_id, SUM(CASE WHEN kind = 'redemption' THEN 1 WHEN kind = 'reversal' THEN -1 ELSE 0 END) AS n, "
        "SUM(points) AS pts FROM statement_lines WHERE merchant_id IN ({marks}) AND at >= %s AND at < %s GROUP BY merchant_id",
        shop_ids, [lo, hi],
    ):
        per_shop[r["merchant_id"]] = (int(r["n"] or 0), int(r["pts"] or 0))
    red_month: dict[int, tuple[int, int]] = {}
    for m in MONTHS:
        a, b = _utc(_month_start(year, m), zone), _utc(_month_start(year, m + 1), zone)
        n = pts = 0
        for r in _count_in(
            tx,
            "SELECT SUM(CASE WHEN kind = 'redemption' THEN 1 WHEN kind = 'reversal' THEN -1 ELSE 0 END) AS n, "
            "SUM(points) AS pts FROM statement_lines WHERE merchant_id IN ({marks}) AND at >= %s AND at < %s",
            shop_ids, [a, b],
        ):
            n += int(r["n"] or 0)
            pts += int(r["pts"] or 0)
        red_month[m] = (n, pts)

    expired = _expired_by_month(p, hexes, year)
    batches = _batches(p, hexes, year)

    # the months
    months = []
    for m, key in zip(MONTHS, month_keys, strict=True):
        f = fig(uhex, key)
        months.append(
            MonthFigures(
                month=m, minutes=f["minutes"], issued=f["issued"], earned=f["earned"], redeemed=f["redeemed"],
                expired=expired[m], active=f["active"], activities=sum(activities.get((u, m), 0) for u in hexes),
                redemptions=red_month[m][0], redemption_points=red_month[m][1],
            )
        )
    yf = fig(uhex, year_key)
    figures = Figures(
        volunteers=sum(volunteers_by_unit.get(u, (0, 0))[0] for u in hexes),
        new_volunteers=sum(volunteers_by_unit.get(u, (0, 0))[1] for u in hexes),
        active=yf["active"], minutes=yf["minutes"], activities=sum(m.activities for m in months),
        issued=yf["issued"], earned=yf["earned"], redeemed=yf["redeemed"], expired=sum(expired.values()),
        shops=len(shops_rows), redemptions=sum(n for n, _ in per_shop.values()), welfare_days=len(batches),
    )

    units_below = []
    for c in scope.children:
        sub = scope.below[c["unit_id"]]
        cf = fig(c["unit_id"], year_key)
        units_below.append(
            UnitLine(
                id=str(UUID(hex=c["unit_id"])), name=c["name"], kind=c["kind"],
                volunteers=sum(volunteers_by_unit.get(u, (0, 0))[0] for u in sub), active=cf["active"],
                minutes=cf["minutes"], issued=cf["issued"], earned=cf["earned"], redeemed=cf["redeemed"],
                activities=sum(n for (u, _), n in activities.items() if u in sub),
            )
        )

    activity_rows = []
    own = [activities.get((uhex, m), 0) for m in MONTHS]
    if any(own):
        activity_rows.append(ActivityRow(scope.unit["name"], own))
    for c in scope.children:
        sub = scope.below[c["unit_id"]]
        row = [sum(activities.get((u, m), 0) for u in sub) for m in MONTHS]
        if any(row):
            activity_rows.append(ActivityRow(c["name"], row))

    board = lb.board(tx, uhex, "year", ystart.isoformat(), "points", ROLE_MODELS)
    minutes_of = _minutes_of(tx, scope.unit, ystart.isoformat(), [r["volunteer_id"] for r in board])
    ranks = boards.ranks([int(r["value"]) for r in board])
    role_models = [
        RoleModel(
            rank=rank, name=r["name"] if full_names else boards.mask_name(r["name"]), home=r["home_name"] or "",
            points=int(r["value"]), minutes=minutes_of.get(r["volunteer_id"], 0),
        )
        for rank, r in zip(ranks, board, strict=True)
    ]

    unit_names = {u: r["name"] for u, r in scope.units.items()}
    shops = sorted(
        (
            Shop(id=r["id"], name=r["name"], unit=unit_names.get(UUID(r["unit_id"]).hex, ""),
                 redemptions=per_shop.get(r["id"], (0, 0))[0], points=per_shop.get(r["id"], (0, 0))[1])
            for r in shops_rows
        ),
        key=lambda s: (-s.points, s.name, s.id),
    )

    last_day = min(yend - timedelta(days=1), today)
    root = chain.daily_roots(recorder, last_day, last_day, zone)[0]
    start, end = chain.day_bounds(ystart, zone)[0], chain.day_bounds(last_day, zone)[1]
    status, detail = verified if verified is not None else _last_verification(tx, zone)
    integrity = Integrity(
        day=last_day.isoformat(), root=root.root.hex(), last_notification_id=root.last_notification_id,
        events_in_year=recorder.count_chain_between(start, end), verified=status, verify_detail=detail,
    )
    path_rows = lb.units_named(tx, scope.unit["ancestry"].split(","))
    path = [path_rows[a]["name"] for a in reversed(scope.unit["ancestry"].split(",")) if a in path_rows]
    return YearReport(
        unit_id=str(unit_id), unit_name=scope.unit["name"], unit_kind=scope.unit["kind"], year=year, zone=zone.key,
        generated_at=now.astimezone(zone).isoformat(timespec="seconds"), complete=today >= yend, figures=figures,
        months=months, units_below=units_below, role_models=role_models, names_masked=not full_names,
        activities_by_unit=activity_rows, batches=batches, shops=shops, integrity=integrity, path=path,
    )


def _minutes_of(tx: Tx, unit: dict[str, Any], start: str, volunteers: list[str]) -> dict[str, int]:
    """The year's minutes of these volunteers (the role models) as the unit's minutes board has them."""
    if not volunteers:
        return {}
    people = {
        int(r["n"]): r["volunteer_id"]
        for r in select_in(tx, "SELECT volunteer_id, n FROM lb_people WHERE volunteer_id IN ({marks})", volunteers)
    }
    code = period_code("year", start)
    seq = int(unit["seq"])
    depth = len(unit["ancestry"].split(",")) - 1
    marks = ", ".join(["%s"] * len(people))
    rows = tx.all(
        f"SELECT volunteer, minutes FROM lb_seg WHERE p = %s AND a{depth} = %s AND volunteer IN ({marks})", [code, seq, *people]
    ) if depth < DEPTH else []
    rows += tx.all(f"SELECT volunteer, minutes FROM lb_moved WHERE unit = %s AND p = %s AND volunteer IN ({marks})", [seq, code, *people])
    return {people[int(r["volunteer"])]: int(r["minutes"]) for r in rows}
