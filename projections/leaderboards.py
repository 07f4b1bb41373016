"""Leaderboards of role models (道德榜样) and unit roll-ups, by unit and period.

What a board shows: per unit, period and volunteer, the points earned and minutes served by
that volunteer while their home was the unit or under it. A credit in a building counts for the
building and every ancestor (compound, community, street).

How it is stored (integer keys: a unit's and a volunteer's number is the notification id of
their creation; a period is ``kind * 10**8 + yyyymmdd``):
- ``lb_seg``: one row per (period, volunteer) for a volunteer whose home chain never changed,
  with the chain itself as columns ``a0`` (the root) … ``a3`` (0 below the home). The row counts
  for every unit of the chain: the street's board is the rows with ``a0`` = the street, a
  building's those with its whole chain. Most volunteers never move, so this is one row where
  per-unit rows would be four.
- ``lb_moved``: per (unit, period, volunteer), for the few volunteers whose chain changed (they
  moved home, or a unit above their home moved). When that happens their ``lb_seg`` rows are
  spread over the units of their old chain here, once, so a volunteer's figures are in exactly
  one of the two tables and a board never needs to add rows up.
- ``lb_totals``: per unit and period, the points issued from the issuing accounts of the unit and
  its descendants, and the points earned, redeemed and minutes served by volunteers whose home
  was the unit or under it.
- ``lb_units``, ``lb_people``: this projection's own copy of the tree (each unit with its
  ancestry) and of each volunteer's current home, so it is exactly-once on its own position and
  needs no other projection.

Attribution is fixed when the event is applied: a volunteer who moves home keeps their earlier
figures where they were earned and adds later ones to the new home; a unit moved under another
parent keeps its earlier figures in its old ancestors, later ones roll up to the new ones. A
reversal (or a batch reversal) counts in the period in which it is recorded, like any other
posting: it lowers that period's figures and all time (a period's figures are what was recorded
in it, net). It also counts where the volunteer's home is when it is recorded (a reversal after a
move lowers the new home's figures). Redemptions do not lower "points earned".

Every (unit, period, volunteer) that an earning event touches gets a row, even when a reversal
later brings it to zero, so the rows do not depend on how the log was batched (a rebuild gives
the same rows); boards show only values above zero. Inside a tie, volunteers are listed in the
order they were registered.

Catch-up reads the stored events with SQL (``projections.rawlog``). On SQLite it decodes only the
postings, minutes and time of a transaction, adds a step's figures up in memory (tens of
thousands of events) and merges them with one statement per table, in the transaction that moves
the position. On PostgreSQL the transactions never reach Python: the reader gives each run of
them between two structure events (a unit or a volunteer created or moved, which go through the
Python logic above) as a range of ids, and ONE statement (``_RUN_SQL``) reads that range of the
events table, decodes the JSON in the server, adds the figures up exactly as ``_Step.record``
does and merges them into ``lb_seg``, ``lb_moved`` and ``lb_totals``, in the same transaction.
Figures pending in memory are written first, so the order of the log is kept. Both paths give
the same rows (tested on the same log). A long run that finds ``lb_seg`` empty (a rebuild, a
first catch-up) writes a new table without indexes and builds them afterwards (``_bulk_run``),
which costs a third of keeping them row by row.
"""

from __future__ import annotations

import heapq
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.utils import get_topic

from ledger.domain import LedgerTransaction, Unit, Volunteer
from projections.base import Projection
from projections.boards import METRICS, PERIODS, period_keys
from projections.db import Tx
from projections.rawlog import RawEvent, Run

DEFAULT_ZONE = "Asia/Shanghai"
_ISSUING = "issuing:"
_VOLUNTEER = "volunteer:"
_MERCHANT = "merchant:"
_CHUNK = 500
DEPTH = 4  # street → community → compound → building (a station sits at depth 1 to 3)
_RECORDED = get_topic(LedgerTransaction.Recorded)  # type: ignore[attr-defined]
_REGISTERED = get_topic(Volunteer.Registered)  # type: ignore[attr-defined]
_KIND_CODE = {kind: i + 1 for i, kind in enumerate(PERIODS)}
_SCALE = 100_000_000
# Boards of units this close to the root read the rows already in value order and keep those
# under the unit; deeper (smaller) units read their own rows and sort them.
_ORDERED_DEPTH = 1

Chain = tuple[int, int, int, int]

_SEG_COLUMNS = (
    "a0 BIGINT NOT NULL, a1 BIGINT NOT NULL, a2 BIGINT NOT NULL, a3 BIGINT NOT NULL, p INTEGER NOT NULL, "
    "volunteer BIGINT NOT NULL, points BIGINT NOT NULL, minutes BIGINT NOT NULL"
)
_SEG_KEY = "(a0, a1, a2, p, a3, volunteer)"
_SEG_INDEXES = (("points", "(p, points DESC, volunteer)"), ("minutes", "(p, minutes DESC, volunteer)"))


def period_code(kind: str, start: str) -> int:
    return _KIND_CODE[kind] * _SCALE + (int(start.replace("-", "")) if start else 0)


def period_of(code: int) -> tuple[str, str]:
    kind, day = PERIODS[code // _SCALE - 1], code % _SCALE
    return kind, (f"{day // 10000:04d}-{day // 100 % 100:02d}-{day % 100:02d}" if day else "")


@dataclass
class _Unit:
    name: str
    kind: str
    parent: str | None
    ancestry: list[str]  # the unit first, then its parent, … up to the root
    seq: int


@dataclass
class _Person:
    name: str
    home: str
    n: int
    mover: bool


class LeaderboardsProjection(Projection):
    name = "leaderboards"
    event_classes = (
        Unit.Created,  # type: ignore[attr-defined]
        Unit.Moved,  # type: ignore[attr-defined]
        Volunteer.Registered,  # type: ignore[attr-defined]
        Volunteer.Moved,  # type: ignore[attr-defined]
        LedgerTransaction.Recorded,  # type: ignore[attr-defined]
    )
    tables = ("lb_seg", "lb_moved", "lb_totals", "lb_units", "lb_people")
    reads_raw = True
    batch_size = 50_000
    # On PostgreSQL, transactions are applied by one SQL statement per run (False: the Python
    # path, as on SQLite; for comparing the two).
    use_sql = True
    # Shorter runs go through Python all the same: the statement costs tens of milliseconds
    # whatever the run's length (a live follower's steps hold a few transactions).
    sql_min_run = 1000
    # A run this long into an empty lb_seg (a rebuild, a first catch-up) writes a new table and
    # builds its indexes afterwards (``_bulk_run``): a third of the time of keeping them.
    bulk_min_run = 100_000

    def __init__(self, zone: str = DEFAULT_ZONE) -> None:
        self.zone_name = zone
        self.zone = ZoneInfo(zone)
        self._periods: dict[str, tuple[tuple[tuple[str, str], ...], tuple[int, ...]]] = {}
        self.sql_runs = 0  # runs applied in SQL, and their transactions (to see the path taken)
        self.sql_events = 0
        self.bulk_runs = 0  # of those, runs written into a new lb_seg (``_bulk_run``)

    def sql_topic(self, *, postgres: bool) -> str | None:
        return _RECORDED if postgres and self.use_sql else None

    def step_size(self, *, postgres: bool) -> int:
        """Far behind on PostgreSQL, long steps: the transactions never reach Python (only the
        structure events do, held for the step), each step upserts a volunteer's 'all' and
        'year' rows again, and a rebuild's first step writes lb_seg in bulk. On a 10⁶-event log:
        51 s in one step, 60 s in steps of 10⁶, 87 s in steps of 250 000."""
        return 2_000_000 if self.sql_topic(postgres=postgres) else self.batch_size

    def schema(self, *, postgres: bool) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS lb_units ("
            "unit_id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, parent_id TEXT, "
            "ancestry TEXT NOT NULL, seq BIGINT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS lb_units_parent ON lb_units (parent_id, seq)",
            "CREATE TABLE IF NOT EXISTS lb_people ("
            "volunteer_id TEXT PRIMARY KEY, name TEXT NOT NULL, home_unit_id TEXT NOT NULL, "
            "n BIGINT NOT NULL UNIQUE, mover INTEGER NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS lb_seg ({_SEG_COLUMNS}, PRIMARY KEY {_SEG_KEY})",
            *(f"CREATE INDEX IF NOT EXISTS lb_seg_{name} ON lb_seg {columns}" for name, columns in _SEG_INDEXES),
            "CREATE TABLE IF NOT EXISTS lb_moved ("
            "unit BIGINT NOT NULL, p INTEGER NOT NULL, volunteer BIGINT NOT NULL, "
            "points BIGINT NOT NULL, minutes BIGINT NOT NULL, PRIMARY KEY (unit, p, volunteer))",
            "CREATE TABLE IF NOT EXISTS lb_totals ("
            "unit_id TEXT NOT NULL, period_kind TEXT NOT NULL, period_start TEXT NOT NULL, "
            "issued BIGINT NOT NULL, earned BIGINT NOT NULL, redeemed BIGINT NOT NULL, minutes BIGINT NOT NULL, "
            "PRIMARY KEY (unit_id, period_kind, period_start))",
        ]

    # ---------------------------------------------------------------- applying

    def apply(self, tx: Tx, batch: Sequence[tuple[int, Any]]) -> None:
        """Domain events (the library's reader), turned into what the raw reader gives."""
        self._apply(tx, [(seq, _decoded(e)) for seq, e in batch])

    def apply_raw(self, tx: Tx, events: Sequence[RawEvent | Run], mapper: Any) -> None:
        self._apply(tx, _decode_raw(events, mapper, tx, self.sql_min_run))

    def _apply(self, tx: Tx, events: Iterable[tuple[int, Any]]) -> None:
        batch = list(events)
        step = _Step(self, tx)
        step.preload({
            account[10:]
            for _, e in batch if type(e) is tuple  # a decoded transaction (not a Run or a _Registered)
            for p in e[0] for account in (p["source"], p["destination"]) if account.startswith(_VOLUNTEER)
        })
        for seq, e in batch:
            if isinstance(e, _Registered):  # (NamedTuples: before the decoded transactions' tuples)
                step.people[e.vid] = _Person(e.name, e.home, seq, False)
                step.dirty_people.add(e.vid)
            elif isinstance(e, Run):
                step.flush()  # what is pending comes first in the log
                if not step.tuned:
                    # JIT would compile this statement for seconds, every time; its aggregates
                    # want more memory than the default rather than spilling to disk.
                    tx.execute("SET LOCAL jit = off")
                    tx.execute("SET LOCAL work_mem = '128MB'")
                    step.tuned = True
                params = {"lo": e.lo, "hi": e.hi, "topic": e.topic, "zone": self.zone_name}
                if e.count >= self.bulk_min_run and tx.one("SELECT NOT EXISTS (SELECT 1 FROM lb_seg) AS empty")["empty"]:  # type: ignore[index]
                    _bulk_run(tx, e, params)
                    self.bulk_runs += 1
                else:
                    tx.execute(_RUN_SQL.format(events=e.table, seg="lb_seg", merge=_SEG_MERGE), params)
                self.sql_runs += 1
                self.sql_events += e.count
            elif isinstance(e, tuple):
                step.record(*e)
            elif isinstance(e, Unit.Created):  # type: ignore[attr-defined]
                uid = e.originator_id.hex
                parent = e.parent_id.hex if e.parent_id else None
                above = step.units[parent].ancestry if parent in step.units else []
                step.units[uid] = _Unit(e.name, e.kind, parent, [uid, *above], seq)
                step.dirty_units.add(uid)
                step.chains.clear()
            elif isinstance(e, Unit.Moved):  # type: ignore[attr-defined]
                step.move_unit(e.originator_id.hex, e.parent_id.hex)
            elif isinstance(e, Volunteer.Registered):  # type: ignore[attr-defined]
                vid = e.originator_id.hex
                step.people[vid] = _Person(e.name, e.unit_id.hex, seq, False)
                step.dirty_people.add(vid)
            elif isinstance(e, Volunteer.Moved):  # type: ignore[attr-defined]
                step.move_volunteer(e.originator_id.hex, e.unit_id.hex)
        step.flush()

    def keys_of(self, at: str) -> tuple[tuple[tuple[str, str], ...], tuple[int, ...]]:
        """(period kind, start) pairs and their codes for an ISO instant. Cached by minute and
        offset: the local day cannot change inside a minute (zone offsets are whole minutes)."""
        cut = at[:16] + at[-6:]
        got = self._periods.get(cut)
        if got is None:
            keys = period_keys(datetime.fromisoformat(at), self.zone)
            got = self._periods[cut] = (keys, tuple(period_code(k, s) for k, s in keys))
        return got


class _Registered(NamedTuple):
    """A volunteer's registration, decoded from its stored JSON without the library's mapper (a
    catch-up meets one per volunteer: 10⁵ of them here)."""

    vid: str
    name: str
    home: str


def _decoded(e: Any) -> Any:
    if isinstance(e, LedgerTransaction.Recorded):  # type: ignore[attr-defined]
        return (e.postings, e.minutes, e.at.isoformat())
    return e


def _decode_raw(events: Sequence[RawEvent | Run], mapper: Any, tx: Tx | None = None, min_run: int = 1) -> Iterator[tuple[int, Any]]:
    """(id, what to apply): a decoded transaction, a domain event, or a run long enough for SQL
    (a shorter one is read here and decoded)."""
    loads = json.loads
    for r in events:
        if isinstance(r, Run):
            if r.count >= min_run or tx is None:
                yield r.lo, r
                continue
            for row in tx.all(
                f"SELECT notification_id AS id, state FROM {r.table} "
                "WHERE notification_id BETWEEN %s AND %s AND topic = %s ORDER BY notification_id",
                (r.lo, r.hi, r.topic),
            ):
                d = loads(bytes(row["state"]))
                yield int(row["id"]), (d["postings"], d["minutes"], d["at"]["_data_"])
        elif r.topic == _RECORDED:
            d = loads(r.state)
            yield r.id, (d["postings"], d["minutes"], d["at"]["_data_"])
        elif r.topic == _REGISTERED:
            d = loads(r.state)
            # (ids as UUID.hex gives them: the stored unit id is that already)
            yield r.id, _Registered(r.originator_id.replace("-", "").lower(), d["name"], d["unit_id"]["_data_"])
        else:
            yield r.id, mapper.to_domain_event(r.stored())


class _Step:
    """One step's figures, added up in memory, and the rows they go to."""

    def __init__(self, projection: LeaderboardsProjection, tx: Tx) -> None:
        self.projection = projection
        self.tx = tx
        self.units = _load_units(tx)
        self.people: dict[str, _Person | None] = {}
        self.dirty_units: set[str] = set()
        self.dirty_people: set[str] = set()
        self.chains: dict[str, Chain | None] = {}
        self.seg: dict[tuple[Chain, int, int], list[int]] = {}
        self.moved: dict[tuple[int, int, int], list[int]] = {}
        # (unit, period keys) -> [issued, earned, redeemed, minutes], rolled up once per flush
        self.pending: dict[tuple[str, tuple[tuple[str, str], ...]], list[int]] = {}
        self.totals: dict[tuple[str, str, str], list[int]] = {}
        self.tuned = False  # the transaction's settings for the SQL path are made

    # -- what is known about units and volunteers

    def chain(self, uid: str) -> Chain | None:
        """The home's chain of unit numbers, root first, padded with 0."""
        if uid not in self.chains:
            unit = self.units.get(uid)
            if unit is None or len(unit.ancestry) > DEPTH or any(a not in self.units for a in unit.ancestry):
                self.chains[uid] = None
            else:
                seqs = [self.units[a].seq for a in reversed(unit.ancestry)]
                self.chains[uid] = tuple(seqs + [0] * (DEPTH - len(seqs)))  # type: ignore[assignment]
        return self.chains[uid]

    def person(self, vid: str) -> _Person | None:
        if vid not in self.people:
            self.people.update(_load_people(self.tx, [vid]))
            self.people.setdefault(vid, None)
        return self.people[vid]

    def preload(self, vids: Iterable[str]) -> None:
        missing = [v for v in vids if v not in self.people]
        if missing:
            found = _load_people(self.tx, missing)
            for v in missing:
                self.people[v] = found.get(v)

    # -- events

    def record(self, postings: list[dict[str, Any]], txn_minutes: int, at: str) -> None:
        """One transaction, any number of postings: per volunteer the net points earned (flows
        from issuing accounts), redeemed (net flows to merchants) and minutes (the transaction's
        minutes follow the sign of what was earned; a posting's own ``minutes`` follow its
        direction); per issuing unit the net points issued."""
        earned: dict[str, list[int]] = {}  # volunteer -> [earned, redeemed, own minutes]
        issued: dict[str, int] = defaultdict(int)
        for p in postings:
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
        keys, codes = self.projection.keys_of(at)
        for vid, (points, redeemed, own_minutes) in earned.items():
            minutes = own_minutes + (txn_minutes if points > 0 else -txn_minutes if points < 0 else 0)
            person = self.person(vid)
            if person is None or person.home not in self.units:
                continue  # not a volunteer this projection knows: nowhere to count it
            if points:
                chain = None if person.mover else self.chain(person.home)
                if chain is not None:
                    for code in codes:
                        _add(self.seg, (chain, code, person.n), points, minutes)
                else:
                    for uid in self.units[person.home].ancestry:
                        unit = self.units[uid].seq
                        for code in codes:
                            _add(self.moved, (unit, code, person.n), points, minutes)
            t = self.pending.get((person.home, keys))
            if t is None:
                self.pending[(person.home, keys)] = [0, points, redeemed, minutes]
            else:
                t[1] += points
                t[2] += redeemed
                t[3] += minutes
        for uid, amount in issued.items():
            if amount and uid in self.units:
                t = self.pending.get((uid, keys))
                if t is None:
                    self.pending[(uid, keys)] = [amount, 0, 0, 0]
                else:
                    t[0] += amount

    def move_volunteer(self, vid: str, home: str) -> None:
        person = self.person(vid)
        if person is None:
            return
        if not person.mover:
            self.flush()
            chain = self.chain(person.home)
            if chain is not None:
                _spread(self.tx, chain, len(self.units[person.home].ancestry), person.n)
            person.mover = True
        person.home = home
        self.dirty_people.add(vid)

    def move_unit(self, uid: str, parent: str) -> None:
        """Everyone whose home is under the unit becomes a mover (their rows spread out under the
        old chain), then the unit and everything under it get their new ancestry."""
        if uid not in self.units:
            return
        self.flush()
        chain = self.chain(uid)
        under = [other for other, u in self.units.items() if uid in u.ancestry]
        if chain is not None:
            _spread(self.tx, chain, len(self.units[uid].ancestry), None)
        for chunk in _chunks(under):
            self.tx.execute(
                f"UPDATE lb_people SET mover = 1 WHERE home_unit_id IN ({', '.join(['%s'] * len(chunk))})", chunk
            )
        for person in self.people.values():
            if person is not None and person.home in under:
                person.mover = True
        above = self.units[parent].ancestry if parent in self.units else []
        for other in under:
            u = self.units[other]
            u.ancestry = [*u.ancestry[: u.ancestry.index(uid) + 1], *above]
            self.dirty_units.add(other)
        self.units[uid].parent = parent
        self.chains.clear()

    # -- writing

    def flush(self) -> None:
        _roll_up(self.pending, self.units, self.totals)
        _write_units(self.tx, [(u, self.units[u]) for u in sorted(self.dirty_units)])
        people = [(v, self.people[v]) for v in sorted(self.dirty_people)]
        self.tx.bulk_insert(
            "lb_people",
            (("volunteer_id", "text"), ("name", "text"), ("home_unit_id", "text"), ("n", "bigint"), ("mover", "integer")),
            [(v, p.name, p.home, p.n, int(p.mover)) for v, p in people if p is not None],
            suffix="ON CONFLICT (volunteer_id) DO UPDATE SET home_unit_id = excluded.home_unit_id, mover = excluded.mover",
        )
        _upsert_adding(
            self.tx, "lb_seg", ("a0", "a1", "a2", "a3", "p", "volunteer"), ("points", "minutes"),
            sorted((*chain, code, n, *v) for (chain, code, n), v in self.seg.items()),
            conflict=("a0", "a1", "a2", "p", "a3", "volunteer"), integer_keys=True,
        )
        _upsert_adding(
            self.tx, "lb_moved", ("unit", "p", "volunteer"), ("points", "minutes"),
            sorted((*k, *v) for k, v in self.moved.items()), integer_keys=True,
        )
        _upsert_adding(
            self.tx, "lb_totals", ("unit_id", "period_kind", "period_start"), ("issued", "earned", "redeemed", "minutes"),
            sorted(k + tuple(v) for k, v in self.totals.items()),  # type: ignore[operator]
        )
        self.dirty_units.clear()
        self.dirty_people.clear()
        self.seg.clear()
        self.moved.clear()
        self.totals.clear()


# The postings of the transactions with ids lo…hi, each field decoded once: per posting, the
# volunteer and issuing unit it concerns and what it adds to their figures.
_POSTINGS_SQL = """
  SELECT e.notification_id AS id, r.minutes AS tmin, ((r.at->>'_data_')::timestamptz AT TIME ZONE %(zone)s)::date AS d,
         CASE WHEN starts_with(q.source, 'issuing:') THEN CASE WHEN starts_with(q.destination, 'volunteer:') THEN substr(q.destination, 11) END
              WHEN starts_with(q.destination, 'issuing:') THEN CASE WHEN starts_with(q.source, 'volunteer:') THEN substr(q.source, 11) END
              WHEN starts_with(q.destination, 'merchant:') AND starts_with(q.source, 'volunteer:') THEN substr(q.source, 11)
              WHEN starts_with(q.source, 'merchant:') AND starts_with(q.destination, 'volunteer:') THEN substr(q.destination, 11)
         END AS vid,
         CASE WHEN starts_with(q.source, 'issuing:') THEN substr(q.source, 9)
              WHEN starts_with(q.destination, 'issuing:') THEN substr(q.destination, 9) END AS issuer,
         CASE WHEN starts_with(q.source, 'issuing:') THEN q.amount
              WHEN starts_with(q.destination, 'issuing:') THEN -q.amount ELSE 0 END AS earned,
         CASE WHEN starts_with(q.source, 'issuing:') OR starts_with(q.destination, 'issuing:') THEN 0
              WHEN starts_with(q.destination, 'merchant:') THEN q.amount ELSE -q.amount END AS redeemed,
         CASE WHEN starts_with(q.source, 'issuing:') THEN coalesce(q.minutes, 0)
              WHEN starts_with(q.destination, 'issuing:') THEN -coalesce(q.minutes, 0) ELSE 0 END AS own
  FROM {events} e
  CROSS JOIN LATERAL json_to_record(convert_from(e.state, 'UTF8')::json) AS r(minutes bigint, at json, postings json)
  CROSS JOIN LATERAL json_to_recordset(r.postings) AS q(source text, destination text, amount bigint, minutes bigint)
  WHERE e.notification_id BETWEEN %(lo)s AND %(hi)s AND e.topic = %(topic)s
"""

# One run of LedgerTransaction.Recorded events (ids %(lo)s to %(hi)s of the events table), applied
# in PostgreSQL exactly as ``_Step.record`` and ``_Step.flush`` apply them in Python:
# - ``f``: every posting (the JSON parsed once per event), with its transaction's minutes and local
#   day (cut in %(zone)s), the volunteer it concerns, the issuing unit, and its signed figures;
# - ``v``: per transaction and volunteer, points earned (flows from or back to issuing accounts,
#   with the posting's own minutes), redeemed (net flows to merchants), and minutes = own minutes
#   plus the transaction's, following the sign of the points;
# - ``i``: per transaction and issuing unit, the net points issued (rows only when not zero);
# - ``w``: ``v`` for volunteers this projection knows (and whose home it knows), with their number
#   and home; ``days``: each local day's period codes and starts; ``coded``: per volunteer and
#   period code, the figures of the transactions with points not zero, and where they count;
# - ``anc``/``homes``: each unit's ancestry from ``lb_units`` (the unit first) and its chain of
#   unit numbers, root first, padded with 0 (``whole`` as ``_Step.chain`` is not None);
#   ``place``: each volunteer's home and chain, and whether their rows go to ``lb_moved``;
# then ``lb_seg`` ({seg}: a new table for ``_bulk_run``, where {merge} is empty) gets the rows of non-movers with a whole chain, ``lb_moved`` those of the
# others (one per unit of the ancestry), both only for points not zero, and ``lb_totals`` every
# volunteer's and issuing unit's figures rolled up to every ancestor (zeros included, as Python
# writes them).
_RUN_SQL = """
WITH f AS MATERIALIZED (
""" + _POSTINGS_SQL + """), v AS (
  SELECT id, d, vid, sum(earned)::bigint AS points, sum(redeemed)::bigint AS redeemed,
         (sum(own) + sign(sum(earned))::bigint * min(tmin))::bigint AS minutes
  FROM f WHERE vid IS NOT NULL GROUP BY id, d, vid
), i AS (
  SELECT d, issuer AS unit, sum(amount)::bigint AS issued FROM (
    SELECT id, d, issuer, sum(earned)::bigint AS amount FROM f WHERE issuer IS NOT NULL GROUP BY id, d, issuer
  ) AS per_txn WHERE amount <> 0 GROUP BY d, issuer
), anc AS MATERIALIZED (
  SELECT u.unit_id AS home, x.aid AS unit, a.seq, x.ord, cardinality(string_to_array(u.ancestry, ',')) AS len
  FROM lb_units u CROSS JOIN LATERAL unnest(string_to_array(u.ancestry, ',')) WITH ORDINALITY AS x(aid, ord)
  LEFT JOIN lb_units a ON a.unit_id = x.aid
), homes AS (
  SELECT home, max(len) <= 4 AND count(seq) = count(*) AS whole,
         coalesce(max(seq) FILTER (WHERE ord = len), 0) AS a0, coalesce(max(seq) FILTER (WHERE ord = len - 1), 0) AS a1,
         coalesce(max(seq) FILTER (WHERE ord = len - 2), 0) AS a2, coalesce(max(seq) FILTER (WHERE ord = len - 3), 0) AS a3
  FROM anc GROUP BY home
), days AS MATERIALIZED (  -- each local day's period codes and starts, computed once
  SELECT d, ws,
         100000000 + (date_part('year', ws) * 10000 + date_part('month', ws) * 100 + date_part('day', ws))::int AS pw,
         200000000 + (date_part('year', d) * 10000 + date_part('month', d) * 100 + 1)::int AS pm,
         300000000 + (date_part('year', d) * 10000 + 101)::int AS py,
         to_char(ws, 'YYYY-MM-DD') AS sw, to_char(d, 'YYYY-MM-01') AS sm, to_char(d, 'YYYY-01-01') AS sy
  FROM (SELECT d, d - (date_part('isodow', d)::int - 1) AS ws FROM (SELECT DISTINCT d FROM f) AS x) AS y
), w AS MATERIALIZED (
  SELECT v.d, v.points, v.redeemed, v.minutes, pe.n, pe.home_unit_id AS home
  FROM v JOIN lb_people pe ON pe.volunteer_id = v.vid JOIN homes h ON h.home = pe.home_unit_id
), place AS MATERIALIZED (  -- each volunteer's place, joined by hash (not looked up per board row)
  SELECT pe.n, pe.home_unit_id AS home, pe.mover <> 0 OR NOT h.whole AS moved, h.a0, h.a1, h.a2, h.a3
  FROM lb_people pe JOIN homes h ON h.home = pe.home_unit_id
), coded AS MATERIALIZED (  -- the board rows' figures per volunteer and period, with the volunteer's place
  SELECT c.n, c.p, c.points, c.minutes, pl.home, pl.moved, pl.a0, pl.a1, pl.a2, pl.a3
  FROM (
    SELECT e.n, k.p, sum(e.points)::bigint AS points, sum(e.minutes)::bigint AS minutes
    FROM (SELECT n, d, sum(points)::bigint AS points, sum(minutes)::bigint AS minutes FROM w WHERE points <> 0 GROUP BY n, d) AS e
    JOIN days ON days.d = e.d
    CROSS JOIN LATERAL (VALUES (days.pw), (days.pm), (days.py), (400000000)) AS k(p)
    GROUP BY e.n, k.p
  ) AS c JOIN place pl ON pl.n = c.n
), seg AS (
  INSERT INTO {seg} (a0, a1, a2, a3, p, volunteer, points, minutes)
  SELECT a0, a1, a2, a3, p, n, points, minutes FROM coded WHERE NOT moved ORDER BY a0, a1, a2, p, a3, n
  {merge}
), moved AS (
  INSERT INTO lb_moved (unit, p, volunteer, points, minutes)
  SELECT a.seq, c.p, c.n, c.points, c.minutes FROM coded c JOIN anc a ON a.home = c.home
  WHERE c.moved AND a.seq IS NOT NULL ORDER BY 1, 2, 3
  ON CONFLICT (unit, p, volunteer) DO UPDATE
  SET points = lb_moved.points + excluded.points, minutes = lb_moved.minutes + excluded.minutes
), per_period AS (  -- per unit and period: the totals' figures, before the roll-up
  SELECT t.unit, k.kind, k.start, sum(t.issued)::bigint AS issued, sum(t.earned)::bigint AS earned,
         sum(t.redeemed)::bigint AS redeemed, sum(t.minutes)::bigint AS minutes
  FROM (
    SELECT home AS unit, d, 0::bigint AS issued, sum(points)::bigint AS earned, sum(redeemed)::bigint AS redeemed,
           sum(minutes)::bigint AS minutes
    FROM w GROUP BY home, d
    UNION ALL
    SELECT unit, d, issued, 0, 0, 0 FROM i
  ) AS t JOIN days ON days.d = t.d
  CROSS JOIN LATERAL (VALUES ('week', days.sw), ('month', days.sm), ('year', days.sy), ('all', '')) AS k(kind, start)
  GROUP BY t.unit, k.kind, k.start
)
INSERT INTO lb_totals (unit_id, period_kind, period_start, issued, earned, redeemed, minutes)
SELECT a.unit, t.kind, t.start, sum(t.issued), sum(t.earned), sum(t.redeemed), sum(t.minutes)
FROM per_period t JOIN anc a ON a.home = t.unit
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
ON CONFLICT (unit_id, period_kind, period_start) DO UPDATE
SET issued = lb_totals.issued + excluded.issued, earned = lb_totals.earned + excluded.earned,
    redeemed = lb_totals.redeemed + excluded.redeemed, minutes = lb_totals.minutes + excluded.minutes
"""


_SEG_MERGE = """ON CONFLICT (a0, a1, a2, p, a3, volunteer) DO UPDATE
  SET points = lb_seg.points + excluded.points, minutes = lb_seg.minutes + excluded.minutes"""


def _bulk_run(tx: Tx, run: Run, params: dict[str, Any]) -> None:
    """Apply ``run`` while ``lb_seg`` is empty: its rows go into a new table without indexes
    (each row is new: one per volunteer and period), whose key and indexes are then built in
    one sort each, and the new table takes ``lb_seg``'s place, all in the step's transaction.
    Readers see the empty table until the step commits; the swap at the end holds the
    exclusive lock only for the rest of the step."""
    tx.execute(f"CREATE TABLE lb_seg_build ({_SEG_COLUMNS})")
    tx.execute(_RUN_SQL.format(events=run.table, seg="lb_seg_build", merge=""), params)
    tx.execute(f"ALTER TABLE lb_seg_build ADD CONSTRAINT lb_seg_build_pkey PRIMARY KEY {_SEG_KEY}")
    for name, columns in _SEG_INDEXES:
        tx.execute(f"CREATE INDEX lb_seg_build_{name} ON lb_seg_build {columns}")
    tx.execute("DROP TABLE lb_seg")
    tx.execute("ALTER TABLE lb_seg_build RENAME TO lb_seg")
    for name in ("pkey", *(name for name, _ in _SEG_INDEXES)):
        tx.execute(f"ALTER INDEX lb_seg_build_{name} RENAME TO lb_seg_{name}")


def _add(rows: dict[Any, list[int]], key: Any, points: int, minutes: int) -> None:
    row = rows.get(key)
    if row is None:
        rows[key] = [points, minutes]
    else:
        row[0] += points
        row[1] += minutes


def _spread(tx: Tx, chain: Chain, depth: int, volunteer: int | None) -> None:
    """Move the ``lb_seg`` rows under the first ``depth`` units of ``chain`` (of one volunteer,
    or of all) to ``lb_moved``, one row per unit of their chain."""
    where = " AND ".join(f"a{i} = %s" for i in range(depth))
    params: list[Any] = list(chain[:depth])
    if volunteer is not None:
        where += " AND volunteer = %s"
        params.append(volunteer)
    for i in range(DEPTH):
        tx.execute(
            f"INSERT INTO lb_moved (unit, p, volunteer, points, minutes) "
            f"SELECT a{i}, p, volunteer, points, minutes FROM lb_seg WHERE {where} AND a{i} <> 0",
            params,
        )
    tx.execute(f"DELETE FROM lb_seg WHERE {where}", params)


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


def _load_people(tx: Tx, ids: Sequence[str]) -> dict[str, _Person]:
    sql = "SELECT volunteer_id, name, home_unit_id, n, mover FROM lb_people WHERE volunteer_id "
    if getattr(tx, "_sqlite", True):
        rows = _select_in(tx, sql + "IN ({marks})", ids)
    else:  # one array parameter rather than thousands
        rows = tx.all(sql + "= ANY(%s)", (list(ids),))
    return {r["volunteer_id"]: _Person(r["name"], r["home_unit_id"], int(r["n"]), bool(r["mover"])) for r in rows}


def _unit_of(row: dict[str, Any]) -> _Unit:
    return _Unit(row["name"], row["kind"], row["parent_id"], row["ancestry"].split(","), int(row["seq"]))


def _load_units(tx: Tx) -> dict[str, _Unit]:
    """The whole tree (a neighbourhood has hundreds or thousands of units, not millions)."""
    return {r["unit_id"]: _unit_of(r) for r in tx.all("SELECT * FROM lb_units")}


def _write_units(tx: Tx, units: list[tuple[str, _Unit]]) -> None:
    tx.executemany(
        "INSERT INTO lb_units (unit_id, name, kind, parent_id, ancestry, seq) VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (unit_id) DO UPDATE SET parent_id = excluded.parent_id, ancestry = excluded.ancestry",
        [(uid, u.name, u.kind, u.parent, ",".join(u.ancestry), u.seq) for uid, u in units],
    )


def _upsert_adding(
    tx: Tx, table: str, keys: Sequence[str], values: Sequence[str], rows: list[tuple[Any, ...]],
    *, conflict: Sequence[str] | None = None, integer_keys: bool = False,
) -> None:
    """Insert rows, or add their values to the rows already there (one statement per table
    on PostgreSQL). Keys are unique among ``rows``."""
    if not rows:
        return
    columns = ", ".join((*keys, *values))
    adding = ", ".join(f"{v} = {table}.{v} + excluded.{v}" for v in values)
    on_conflict = f"ON CONFLICT ({', '.join(conflict or keys)}) DO UPDATE SET {adding}"
    if not getattr(tx, "_sqlite", True):  # PostgreSQL (Tx has no public flag for the store)
        # One text parameter, split by the server: far cheaper on the client than arrays
        # (psycopg quotes array elements one by one). Ids, kinds and dates hold no comma.
        cast = "::bigint" if integer_keys else ""
        fields = [f"f[{i + 1}]{cast}" for i in range(len(keys))] + [f"f[{len(keys) + i + 1}]::bigint" for i in range(len(values))]
        tx.execute(
            f"INSERT INTO {table} ({columns}) SELECT {', '.join(fields)} FROM "
            f"(SELECT string_to_array(line, ',') AS f FROM string_to_table(%s, E'\\n') AS line) AS lines {on_conflict}",
            ("\n".join(",".join(map(str, row)) for row in rows),),
        )
    else:
        marks = ", ".join(["%s"] * (len(keys) + len(values)))
        tx.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks}) {on_conflict}", rows)


# ---------------------------------------------------------------- queries


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
    rows = _select_in(tx, "SELECT unit_id, name, kind, seq FROM lb_units WHERE unit_id IN ({marks})", set(ids))
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
