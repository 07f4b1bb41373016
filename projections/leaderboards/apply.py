"""The leaderboards' Python path: events applied one by one, their figures added up in memory
for a step (``Step``) and merged into the tables in the step's transaction.

On SQLite every transaction comes this way; on PostgreSQL the structure events (a unit or a
volunteer created or moved) and runs shorter than the projection's ``sql_min_run`` do, the
longer runs of transactions go to ``projections.leaderboards.sql``. Transactions are read from the
ledger's postings table (``projections.postings``); registrations are decoded here from their JSON
(``ledger.codec``), without the library's mapper (a catch-up meets one per volunteer), and so are
transactions on the old path (``use_sql = False``) and in a scratch rebuild from a file.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from eventsourcing.utils import get_topic

from ledger.domain import LedgerTransaction, Volunteer
from ledger.codec import data_of, state_of
from projections.db import Tx
from projections.leaderboards.tables import DEPTH, Chain, chunks, select_in
from projections.postings import transactions
from projections.rawlog import RawEvent, Run

_ISSUING = "issuing:"
_VOLUNTEER = "volunteer:"
_MERCHANT = "merchant:"
RECORDED = get_topic(LedgerTransaction.Recorded)  # type: ignore[attr-defined]
_REGISTERED = get_topic(Volunteer.Registered)  # type: ignore[attr-defined]

# (period kind, start) pairs and their period codes
Keys = tuple[tuple[tuple[str, str], ...], tuple[int, ...]]


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


class Registered(NamedTuple):
    """A volunteer's registration, decoded from its stored JSON without the library's mapper (a
    catch-up meets one per volunteer: 10⁵ of them here)."""

    vid: str
    name: str
    home: str


def decoded(e: Any) -> Any:
    """A domain event (the library's reader) as the raw reader's decoding gives it."""
    if isinstance(e, LedgerTransaction.Recorded):  # type: ignore[attr-defined]
        return (e.postings, e.minutes, e.at.isoformat())
    return e


def _transaction(state: bytes) -> tuple[list[dict[str, Any]], int, str]:
    """A transaction's postings, minutes and ISO time, from its stored state."""
    d = state_of(state)
    return d["postings"], d["minutes"], data_of(d["at"])


def decode_raw(events: Sequence[RawEvent | Run], mapper: Any, tx: Tx | None = None, min_run: int = 1) -> Iterator[tuple[int, Any]]:
    """(id, what to apply): a decoded transaction, a domain event, or a run for the SQL statement
    (PostgreSQL, at least ``min_run`` long); any other run is read here from the postings table,
    one decoded transaction per position."""
    for r in events:
        if isinstance(r, Run):
            if tx is None or (tx.is_postgres and r.count >= min_run):
                yield r.lo, r
                continue
            for t in transactions(tx, r):
                yield t.position, (t.postings, t.minutes, t.at.isoformat())
        elif r.topic == RECORDED:
            yield r.id, _transaction(r.state)
        elif r.topic == _REGISTERED:
            d = state_of(r.state)
            # (ids as UUID.hex gives them: the stored unit id is that already)
            yield r.id, Registered(r.originator_id.replace("-", "").lower(), d["name"], data_of(d["unit_id"]))
        else:
            yield r.id, mapper.to_domain_event(r.stored())


def volunteers_in(batch: Sequence[tuple[int, Any]]) -> set[str]:
    """The volunteers whose accounts the decoded transactions of ``batch`` touch."""
    return {
        account[10:]
        for _, e in batch if type(e) is tuple  # a decoded transaction (not a Run or a Registered)
        for p in e[0] for account in (p["source"], p["destination"]) if account.startswith(_VOLUNTEER)
    }


class Step:
    """One step's figures, added up in memory, and the rows they go to."""

    def __init__(self, keys_of: Callable[[str], Keys], tx: Tx) -> None:
        self.keys_of = keys_of  # (period kind, start) pairs and their codes for an ISO instant
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

    def add_unit(self, uid: str, name: str, kind: str, parent: str | None, seq: int) -> None:
        above = self.units[parent].ancestry if parent in self.units else []
        self.units[uid] = _Unit(name, kind, parent, [uid, *above], seq)
        self.dirty_units.add(uid)
        self.chains.clear()

    def register(self, vid: str, name: str, home: str, seq: int) -> None:
        self.people[vid] = _Person(name, home, seq, False)
        self.dirty_people.add(vid)

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
        keys, codes = self.keys_of(at)
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
        for chunk in chunks(under):
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


def _load_people(tx: Tx, ids: Sequence[str]) -> dict[str, _Person]:
    sql = "SELECT volunteer_id, name, home_unit_id, n, mover FROM lb_people WHERE volunteer_id "
    if getattr(tx, "_sqlite", True):
        rows = select_in(tx, sql + "IN ({marks})", ids)
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
