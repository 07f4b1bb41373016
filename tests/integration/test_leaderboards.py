"""The leaderboards projection on both stores: roll-up up the whole tree, period boundaries in
Asia/Shanghai, reversals, redemptions, a volunteer who moves, a unit that moves, rebuild
(through the CLI) and random event sequences against a from-scratch computation."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from typer.testing import CliRunner

from ledger import rules
from ledger.accounts import Posting, issuing_account, merchant_account, volunteer_account
from ledger.domain import LedgerTransaction, Unit, Volunteer
from ledger.errors import AlreadyReversed, InsufficientPoints
from projections.leaderboards import queries as lb
from projections.base import snapshot_rows

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def follower(services: Any) -> Any:
    return next(f for f in services.followers if f.name == "leaderboards")


def board(services: Any, unit: Any, kind: str = "all", start: str = "", metric: str = "points") -> dict[str, int]:
    """volunteer id hex -> value, for values above zero."""
    services.catch_up()
    with services.db.read() as tx:
        return {r["volunteer_id"]: int(r["value"]) for r in lb.board(tx, unit.hex, kind, start, metric, 1000)}


def periods_of(services: Any, unit: Any, volunteer: Any) -> set[tuple[str, str]]:
    services.catch_up()
    with services.db.read() as tx:
        rows = lb.board_rows(tx)
    return {(kind, start) for (u, kind, start, v) in rows if (u, v) == (unit.hex, volunteer.hex)}


def totals(services: Any, unit: Any, kind: str = "all", start: str = "") -> dict[str, int]:
    services.catch_up()
    with services.db.read() as tx:
        return lb.totals(tx, unit.hex, [(kind, start)])[(kind, start)]


def test_rollup_periods_reversals_redemptions_and_moves(services: Any, clock: Any, monkeypatch: Any, database_url: str) -> None:
    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None).id
    willow = ledger.create_unit("柳岸社区", "community", street).id
    maple = ledger.create_unit("枫桥社区", "community", street).id
    garden = ledger.create_unit("柳岸花园", "compound", willow).id
    b1 = ledger.create_unit("柳岸花园1号楼", "building", garden).id
    b2 = ledger.create_unit("枫桥北里2号楼", "building", ledger.create_unit("枫桥北里", "compound", maple).id).id
    station = ledger.create_unit("柳岸社区邻里驿站", "station", willow).id
    ming = ledger.register_volunteer("张小明", b1).id
    hua = ledger.register_volunteer("李文华", station).id

    # -- roll-up: a credit in a building counts for its compound, community and street
    clock.set(local("2026-11-20T10:00:00"))
    ledger.credit("r1", willow, ming, 10, minutes=60)
    ledger.credit("r2", street, hua, 4, minutes=30)
    for unit in (b1, garden, willow, street):
        assert board(services, unit)[ming.hex] == 10
        assert board(services, unit, metric="minutes")[ming.hex] == 60
    for unit in (maple, b2, station):
        assert ming.hex not in board(services, unit)
    assert board(services, station) == {hua.hex: 4}
    assert board(services, willow) == {ming.hex: 10, hua.hex: 4}
    assert board(services, street, "week", "2026-11-16") == {ming.hex: 10, hua.hex: 4}
    # issued counts where the points came from; earned where the volunteer lives
    assert totals(services, street) == {"issued": 14, "earned": 14, "redeemed": 0, "minutes": 90}
    assert totals(services, willow) == {"issued": 10, "earned": 14, "redeemed": 0, "minutes": 90}
    assert totals(services, maple) == {"issued": 0, "earned": 0, "redeemed": 0, "minutes": 0}

    # -- period boundaries, cut in Asia/Shanghai: one fresh volunteer per instant
    cases = [
        ("2026-11-22T23:59:00", {("week", "2026-11-16"), ("month", "2026-11-01"), ("year", "2026-01-01")}),
        ("2026-11-23T00:00:00", {("week", "2026-11-23"), ("month", "2026-11-01"), ("year", "2026-01-01")}),
        ("2026-11-30T23:59:00", {("week", "2026-11-30"), ("month", "2026-11-01"), ("year", "2026-01-01")}),
        ("2026-12-01T00:00:00", {("week", "2026-11-30"), ("month", "2026-12-01"), ("year", "2026-01-01")}),
        ("2026-12-31T23:59:00", {("week", "2026-12-28"), ("month", "2026-12-01"), ("year", "2026-01-01")}),
        ("2027-01-01T00:00:00", {("week", "2026-12-28"), ("month", "2027-01-01"), ("year", "2027-01-01")}),
    ]
    for i, (at, expected) in enumerate(cases):
        clock.set(local(at))
        v = ledger.register_volunteer(f"边界{i}", b2).id
        ledger.credit(f"edge{i}", maple, v, 1)
        assert periods_of(services, street, v) == expected | {("all", "")}, at

    # -- a reversal lowers the figures again (in the period it is recorded); a redemption does not
    clock.set(local("2026-11-20T12:00:00"))
    wrong = ledger.credit("r3", willow, ming, 7, minutes=20).transaction.id
    assert board(services, street)[ming.hex] == 17
    ledger.reverse(wrong)
    assert board(services, street)[ming.hex] == 10
    assert board(services, street, metric="minutes")[ming.hex] == 60
    shop = uuid.uuid4()
    ledger.post("spend1", "redemption", [Posting(volunteer_account(ming), merchant_account(shop), 6)])
    assert board(services, street)[ming.hex] == 10
    assert totals(services, willow)["redeemed"] == 6
    assert totals(services, willow)["earned"] == 14

    # -- a volunteer moves: later points count for the new home, earlier ones stay
    ledger.move_volunteer(ming, b2)
    ledger.credit("r4", maple, ming, 5, minutes=15)
    assert board(services, b1)[ming.hex] == 10
    assert board(services, b2)[ming.hex] == 5
    assert board(services, willow)[ming.hex] == 10
    assert board(services, maple)[ming.hex] == 5
    assert board(services, street)[ming.hex] == 15  # one row per volunteer where both homes meet

    # -- a unit moves: later points roll up to the new ancestors
    ledger.move_unit(garden, maple)
    other = ledger.register_volunteer("王建国", b1).id
    ledger.credit("r5", maple, other, 3)
    assert board(services, maple)[other.hex] == 3
    assert other.hex not in board(services, willow)
    assert board(services, willow)[ming.hex] == 10  # earlier figures stay where they were

    # -- `moralbank rebuild leaderboards` gives identical rows
    before = snapshot_rows(services.db, follower(services).projection)
    assert len(before["lb_seg"]) + len(before["lb_moved"]) > 30
    monkeypatch.setenv("MORALBANK_DATABASE_URL", database_url)
    monkeypatch.delenv("MORALBANK_BOOTSTRAP_TOKEN", raising=False)
    from ops.cli import app

    result = CliRunner().invoke(app, ["rebuild", "leaderboards"])
    assert result.exit_code == 0, result.output
    assert "leaderboards" in result.stdout
    assert snapshot_rows(services.db, follower(services).projection) == before


def test_many_postings_in_one_transaction(services: Any, clock: Any) -> None:
    """A welfare-day chunk: one event, many postings, each line with its own minutes."""
    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None).id
    community = ledger.create_unit("春晖社区", "community", street).id
    people = [ledger.register_volunteer(f"志愿者{i}", community).id for i in range(30)]
    postings = [Posting(issuing_account(street), volunteer_account(v), 10 + i) for i, v in enumerate(people)]
    ledger.post("welfare", "award", postings, minutes=120)
    # the event shape of a batch chunk: a posting may carry its own minutes
    lines = [{**Posting(issuing_account(street), volunteer_account(v), 2).as_dict(), "minutes": 30} for v in people[:5]]
    save_chunk(ledger, clock, "chunk", lines, kind="award", unit_id=street)
    expected = {v.hex: 10 + i + (2 if i < 5 else 0) for i, v in enumerate(people)}
    assert board(services, community) == expected
    assert board(services, street, metric="minutes") == {v.hex: 120 + (30 if i < 5 else 0) for i, v in enumerate(people)}
    assert totals(services, street)["issued"] == sum(expected.values())


# ---------------------------------------------------------------- against a from-scratch computation


def from_scratch(ledger: Any, zone: ZoneInfo) -> tuple[dict[tuple[str, ...], tuple[int, int]], dict[tuple[str, ...], tuple[int, ...]]]:
    """Board and totals from the event log, the slow obvious way (non-zero rows only)."""
    parent: dict[str, str | None] = {}
    home: dict[str, str] = {}
    board_rows: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0])
    total_rows: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0, 0, 0])

    def chain(unit: str | None) -> list[str]:
        out = []
        while unit is not None:
            out.append(unit)
            unit = parent.get(unit)
        return out

    def keys(at: datetime) -> list[tuple[str, str]]:
        d = at.astimezone(zone).date()
        return [
            ("week", (d - timedelta(days=d.weekday())).isoformat()),
            ("month", d.replace(day=1).isoformat()),
            ("year", d.replace(month=1, day=1).isoformat()),
            ("all", ""),
        ]

    for n in ledger.iter_notifications():
        e = ledger.mapper.to_domain_event(n)
        if isinstance(e, (Unit.Created, Unit.Moved)):  # type: ignore[attr-defined]
            parent[e.originator_id.hex] = e.parent_id.hex if e.parent_id else None
        elif isinstance(e, (Volunteer.Registered, Volunteer.Moved)):  # type: ignore[attr-defined]
            home[e.originator_id.hex] = e.unit_id.hex
        elif isinstance(e, LedgerTransaction.Recorded):  # type: ignore[attr-defined]
            postings = [Posting.from_dict(p) for p in e.postings]
            accounts = {a for p in postings for a in (p.source, p.destination)}
            for account in accounts:
                kind, _, owner = account.partition(":")
                if kind == "issuing":
                    issued = sum(p.amount if p.source == account else -p.amount for p in postings if account in (p.source, p.destination))
                    for u in chain(owner):
                        for k in keys(e.at):
                            total_rows[(u, *k)][0] += issued
                if kind != "volunteer":
                    continue
                earned = sum(rules.earned_and_redeemed(account, p)[0] for p in postings)
                redeemed = sum(rules.earned_and_redeemed(account, p)[1] for p in postings)
                # a batch chunk's line may carry its own minutes: they follow that line's points
                own = sum(
                    int(p.get("minutes") or 0) * (1 if p["destination"] == account else -1)
                    for p in e.postings
                    if account in (p["source"], p["destination"]) and "issuing:" in (p["source"][:8], p["destination"][:8])
                )
                minutes = own + rules.minutes_for(account, postings, e.minutes)
                for u in chain(home.get(owner)):
                    for k in keys(e.at):
                        if earned:
                            board_rows[(u, *k, owner)][0] += earned
                            board_rows[(u, *k, owner)][1] += minutes
                        t = total_rows[(u, *k)]
                        t[1] += earned
                        t[2] += redeemed
                        t[3] += minutes
    return (
        {k: (v[0], v[1]) for k, v in board_rows.items() if any(v)},
        {k: tuple(v) for k, v in total_rows.items() if any(v)},
    )


def stored(services: Any) -> tuple[dict[tuple[str, ...], tuple[int, int]], dict[tuple[str, ...], tuple[int, ...]]]:
    with services.db.read() as tx:
        b = lb.board_rows(tx)
        t = tx.all("SELECT * FROM lb_totals")
    return (
        {k: v for k, v in b.items() if any(v)},
        {
            (r["unit_id"], r["period_kind"], r["period_start"]): tuple(int(r[c]) for c in ("issued", "earned", "redeemed", "minutes"))
            for r in t
            if r["issued"] or r["earned"] or r["redeemed"] or r["minutes"]
        },
    )


operation = st.one_of(
    st.tuples(st.just("credit"), st.integers(0, 5), st.integers(0, 4), st.integers(1, 40), st.integers(0, 180)),
    st.tuples(st.just("batch"), st.lists(st.integers(0, 5), min_size=1, max_size=4, unique=True), st.integers(1, 20), st.integers(0, 90)),
    # a welfare-day chunk: lines with their own minutes, sometimes taken back line by line
    st.tuples(st.just("chunk"), st.lists(st.tuples(st.integers(0, 5), st.integers(1, 20), st.integers(0, 240)), min_size=1, max_size=4),
              st.booleans()),
    st.tuples(st.just("reverse"), st.integers(0, 30)),
    st.tuples(st.just("redeem"), st.integers(0, 5), st.integers(1, 30)),
    st.tuples(st.just("move"), st.integers(0, 5), st.integers(0, 4)),
    st.tuples(st.just("move_unit"),),
    st.tuples(st.just("wait"), st.integers(1, 24 * 12)),
    st.tuples(st.just("catch_up"),),
)


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(operation, min_size=1, max_size=25), batch_size=st.sampled_from([1, 3, 7, 1000]))
def test_random_sequences_match_a_from_scratch_computation(services: Any, clock: Any, ops: list[tuple[Any, ...]], batch_size: int) -> None:
    ledger = services.ledger
    follower(services).batch_size = batch_size
    projection = follower(services).projection
    projection.sql_min_run = 1  # on PostgreSQL every run of transactions through the SQL statement
    clock.set(local("2026-12-27T20:00:00"))  # a Sunday evening near the end of a month and a year
    street = ledger.create_unit("街道", "street", None).id
    communities = [ledger.create_unit(f"社区{i}", "community", street).id for i in range(2)]
    compounds = [ledger.create_unit(f"小区{i}", "compound", communities[i % 2]).id for i in range(2)]
    units = [street, *communities, *compounds]  # issuing units and homes
    people = [ledger.register_volunteer(f"人{i}", units[i % len(units)]).id for i in range(6)]
    credits: list[Any] = []
    for n, op in enumerate(ops):
        kind = op[0]
        if kind == "credit":
            credits.append(ledger.credit(f"{uuid.uuid4()}", units[op[2]], people[op[1]], op[3], minutes=op[4]).transaction.id)
        elif kind == "batch":
            postings = [Posting(issuing_account(street), volunteer_account(people[i]), op[2]) for i in op[1]]
            credits.append(ledger.post(f"{uuid.uuid4()}", "award", postings, minutes=op[3]).transaction.id)
        elif kind == "chunk":
            issuing = issuing_account(units[n % len(units)])
            lines = [{**Posting(issuing, volunteer_account(people[i]), points).as_dict(), "minutes": m} for i, points, m in op[1]]
            save_chunk(ledger, clock, f"{uuid.uuid4()}", lines)
            if op[2]:  # the first line's reversal, with its minutes, as a batch reversal writes it
                i, points, m = op[1][0]
                back = [{**Posting(volunteer_account(people[i]), issuing, points).as_dict(), "minutes": m}]
                try:
                    save_chunk(ledger, clock, f"{uuid.uuid4()}", back)
                except InsufficientPoints:
                    pass
        elif kind == "reverse" and credits:
            try:
                ledger.reverse(credits[op[1] % len(credits)])
            except (AlreadyReversed, InsufficientPoints):
                pass
        elif kind == "redeem":
            try:
                ledger.post(f"{uuid.uuid4()}", "redemption", [Posting(volunteer_account(people[op[1]]), merchant_account(street), op[2])])
            except InsufficientPoints:
                pass
        elif kind == "move":
            ledger.move_volunteer(people[op[1]], units[op[2]])
        elif kind == "move_unit":
            ledger.move_unit(compounds[n % 2], communities[(n // 2) % 2])
        elif kind == "wait":
            clock.advance(hours=op[1])
        elif kind == "catch_up":
            services.catch_up()
    services.catch_up()
    assert stored(services) == from_scratch(ledger, SHANGHAI)
    # (the examples share the services: both counts are of everything so far)
    assert projection.sql_events == (recorded_count(ledger) if services.db.is_postgres else 0)


def save_chunk(
    ledger: Any, clock: Any, key: str, lines: list[dict[str, Any]], *, kind: str = "batch", minutes: int = 0, unit_id: Any = None,
) -> None:
    """A transaction shaped like a welfare-day batch chunk (a line may carry its own minutes),
    built and saved by the journal (with its posting rows) as the batch service does."""
    from ledger.journal import Movement

    details = [{k: v for k, v in p.items() if k not in ("source", "destination", "amount")} for p in lines]
    movement = Movement(
        key, kind, [Posting.from_dict(p) for p in lines], minutes=minutes, fingerprint="f", actor="t", unit_id=unit_id,
        details=details,
    )
    ledger.journal.commit(ledger.journal.transaction(movement, at=clock.now()), grouped=False)


def recorded_count(ledger: Any) -> int:
    from eventsourcing.utils import get_topic

    topic = get_topic(LedgerTransaction.Recorded)  # type: ignore[attr-defined]
    return sum(1 for n in ledger.iter_notifications() if n.topic == topic)


def test_random_sequences_go_through_sql_on_postgres_only(services: Any, clock: Any, store: str) -> None:
    """The path taken: on PostgreSQL every transaction is applied by the SQL statement (the
    random-sequence test above therefore checks that path against the from-scratch rows), on
    SQLite none."""
    ledger = services.ledger
    projection = follower(services).projection
    projection.sql_min_run = 1
    street = ledger.create_unit("街道", "street", None).id
    people = [ledger.register_volunteer(f"人{i}", street).id for i in range(3)]
    for i in range(5):
        ledger.credit(f"c{i}", street, people[i % 3], 5 + i, minutes=10)
    ledger.move_volunteer(people[0], ledger.create_unit("社区", "community", street).id)
    ledger.credit("c5", street, people[0], 2)
    services.catch_up()
    assert recorded_count(ledger) == 6
    assert projection.sql_events == (6 if store == "postgres" else 0)
    assert projection.sql_runs == (2 if store == "postgres" else 0)  # the move splits the transactions in two runs
    assert board(services, street) == {people[0].hex: 5 + 8 + 2, people[1].hex: 6 + 9, people[2].hex: 7}
    # shorter runs than sql_min_run are read and applied in Python
    projection.sql_min_run = 3
    ledger.credit("c6", street, people[1], 1)
    ledger.credit("c7", street, people[2], 1)
    services.catch_up()
    assert projection.sql_events == (6 if store == "postgres" else 0)
    assert board(services, street) == {people[0].hex: 15, people[1].hex: 16, people[2].hex: 8}


def test_a_long_run_into_an_empty_board_table_is_written_in_bulk(services: Any, clock: Any, store: str) -> None:
    """A rebuild's run into an empty lb_seg goes into a new table that takes lb_seg's place:
    the same rows as the Python path, the same indexes and key afterwards, and later runs
    merge into it as usual."""
    if store != "postgres":
        pytest.skip("the SQL path is PostgreSQL's")
    ledger = services.ledger
    build_mixed_log(ledger, clock)
    f = follower(services)
    projection = f.projection

    def shape() -> list[tuple[str, str]]:
        with services.db.read() as tx:
            rows = tx.all(
                "SELECT indexname AS name, indexdef AS def FROM pg_indexes WHERE tablename = 'lb_seg' "
                "UNION ALL SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'lb_seg'::regclass "
                "ORDER BY 1, 2"
            )
        return [(r["name"], r["def"]) for r in rows]

    schema = shape()
    assert ("lb_seg_pkey", "PRIMARY KEY (a0, a1, a2, p, a3, volunteer)") in schema and len(schema) == 4
    projection.use_sql = False
    f.rebuild()
    by_python = snapshot_rows(services.db, projection)

    projection.use_sql = True
    projection.sql_min_run = projection.bulk_min_run = 1
    for batch_size in (50_000, 7):  # one run; runs cut anywhere (only the first finds lb_seg empty)
        f.batch_size = batch_size
        before = projection.bulk_runs
        f.rebuild()
        assert projection.bulk_runs == before + 1
        assert snapshot_rows(services.db, projection) == by_python, batch_size
        assert shape() == schema
    # later transactions merge into the new table
    street = ledger.create_unit("后来街道", "street", None).id
    people = [ledger.register_volunteer(f"后来{i}", street).id for i in range(3)]
    for i, v in enumerate(people * 2):
        ledger.credit(f"later-{i}", street, v, 3 + i, minutes=10)
    f.catch_up()
    after = snapshot_rows(services.db, projection)
    projection.use_sql = False
    f.rebuild()
    assert snapshot_rows(services.db, projection) == after


def build_mixed_log(ledger: Any, clock: Any) -> dict[str, Any]:
    """Moves, unit moves, reversals, batch chunk events with many postings (and their reversal
    line by line), redemptions and a reversed redemption, instants on both sides of a week's
    start in Asia/Shanghai, transactions to volunteers the projection does not know."""
    clock.set(local("2026-12-27T23:59:00"))  # a Sunday, the last week of the year
    street = ledger.create_unit("青禾街道", "street", None).id
    communities = [ledger.create_unit(f"社区{i}", "community", street).id for i in range(3)]
    compounds = [ledger.create_unit(f"小区{i}", "compound", communities[i % 3]).id for i in range(4)]
    buildings = [ledger.create_unit(f"楼{i}", "building", compounds[i % 4]).id for i in range(6)]
    station = ledger.create_unit("驿站", "station", compounds[1]).id
    homes = [*buildings, station, communities[2], street]
    people = [ledger.register_volunteer(f"志愿者{i}", homes[i % len(homes)]).id for i in range(40)]
    shop = uuid.uuid4()
    credits: list[Any] = []

    def chunk(key: str, lines: list[dict[str, Any]]) -> None:
        save_chunk(ledger, clock, key, lines, unit_id=street)

    for round_ in range(3):
        for i, v in enumerate(people):
            issuing = communities[i % 3] if i % 2 else street
            credits.append(ledger.credit(f"r{round_}-{i}", issuing, v, 5 + (i * 7 + round_) % 30, minutes=15 * (i % 4)).transaction.id)
        clock.advance(seconds=60)  # Sunday 23:59 → Monday 00:00 (then on through the week)
        lines = [{**Posting(issuing_account(compounds[j % 4]), volunteer_account(v), 3 + j % 5).as_dict(), "minutes": 20 + j}
                 for j, v in enumerate(people)]
        chunk(f"welfare{round_}", lines)
        if round_ == 0:  # the batch's reversal, line by line with minutes, for some lines
            back = [{**Posting(volunteer_account(v), issuing_account(compounds[j % 4]), 3 + j % 5).as_dict(), "minutes": 20 + j}
                    for j, v in enumerate(people) if j % 3 == 0]
            chunk("welfare-back", back)
        ledger.post(f"multi{round_}", "award", [Posting(issuing_account(street), volunteer_account(v), 4) for v in people[::5]], minutes=45)
        for v in people[1:12:3]:
            ledger.post(f"spend{round_}-{v.hex}", "redemption", [Posting(volunteer_account(v), merchant_account(shop), 2)])
        ledger.reverse(credits[round_ * 13])
        ledger.reverse(credits[round_ * 13 + 5])
        ledger.post(f"refund{round_}", "refund", [Posting(merchant_account(shop), volunteer_account(people[1]), 1)])
        ledger.post(f"stranger{round_}", "award", [Posting(issuing_account(street), volunteer_account(uuid.uuid4()), 3)], minutes=5)
        if round_ == 0:
            ledger.move_volunteer(people[3], buildings[5])
            ledger.move_volunteer(people[4], station)
        elif round_ == 1:
            ledger.move_unit(compounds[0], communities[1])
            ledger.credit("between", street, people[0], 2)  # a run of one transaction
            people.append(ledger.register_volunteer("新来的", buildings[0]).id)
        clock.advance(days=2, hours=23, minutes=59)
    return {"street": street, "people": people}


@pytest.mark.parametrize("store", ["postgres"])
def test_sql_path_and_python_path_give_identical_rows(services: Any, clock: Any, store: str) -> None:
    ledger = services.ledger
    build_mixed_log(ledger, clock)
    f = follower(services)
    projection = f.projection
    recorded = recorded_count(ledger)

    projection.use_sql = False
    f.rebuild()
    assert projection.sql_events == 0
    by_python = snapshot_rows(services.db, projection)
    assert len(by_python["lb_moved"]) > 10 and len(by_python["lb_seg"]) > 100

    projection.use_sql = True
    projection.sql_min_run = 1
    for batch_size in (50_000, 7):  # one step; and steps cutting runs anywhere
        f.batch_size = batch_size
        before = projection.sql_events
        f.rebuild()
        assert projection.sql_events - before == recorded
        assert snapshot_rows(services.db, projection) == by_python, batch_size
    # runs shorter than sql_min_run, read and decoded in Python among longer ones in SQL
    projection.sql_min_run = 20
    f.batch_size = 50_000
    before = projection.sql_events
    f.rebuild()
    assert 0 < projection.sql_events - before < recorded
    assert snapshot_rows(services.db, projection) == by_python
