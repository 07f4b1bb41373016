"""``moralbank bench leaderboards``: the leaderboards projection's catch-up and the board query.

One store (a throwaway PostgreSQL cluster unless ``--database-url``), filled in bulk with a
street of 5 communities × 20 compounds × 10 buildings, ``--volunteers`` volunteers spread over
the buildings, and ``--events`` posting events (credits, and one in fifty a reversal of an
earlier credit) spread over one year, saved a thousand per transaction with the balance guard's
deltas, exactly as ``Ledger.post`` records them.

Catch-up from the postings table (the path now), in the same run, against:
- the path before it (each run's events' JSON decoded in the server, ``from_json``);
- reading the same notifications and decoding them, without applying them: through the
  library (notification objects and mapper), and with this projection's own SQL reader;
- the straightforward build: one transaction per event (one row upserted and the tracking
  position moved), and this projection itself fed one event per transaction — both on a
  sample of the log; then the timed catch-up is a rebuild from the start of the log.

Query: p50/p99 of a board (any unit, period, metric, ``at`` inside the year, 50 rows),
the SQL alone and the whole API view (unit, ancestors, children, board).
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

import typer

from ops.bench.fill import award, register_volunteers, reversal, save
from ops.bench.report import emit

YEAR_START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _services(url: str, var: Path, clock: Any) -> Any:
    from ops.settings import Settings
    from ops.wiring import build_services

    return build_services(Settings(database_url=url, var_dir=var, secret_key="bench-signing-key-0123456789"), clock=clock)


def bench_store(stack: ExitStack, database_url: str | None, name: str, clock: Any) -> tuple[str, str, Any]:
    """The store of one bench run: ``database_url``, or a database in a throwaway PostgreSQL
    cluster stopped with ``stack``; its services, closed with ``stack``. Returns (url, label, services)."""
    from ops.pgcluster import PgCluster
    from ops.wiring import close_services


    var = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"mb-bench-{name}-")))
    if database_url is None:
        cluster = PgCluster()
        cluster.start()
        stack.callback(cluster.stop)
        url = cluster.create_database(f"{name}_{uuid.uuid4().hex[:8]}")
    else:
        url = database_url
    svc = _services(url, var, clock)
    stack.callback(close_services, svc)
    return url, "PostgreSQL" if url.startswith("postgres") else "SQLite", svc


def _fill(svc: Any, communities: int, compounds: int, buildings: int, volunteers: int, events: int, seed: int) -> dict[str, list[Any]]:
    from ledger.accounts import Posting

    rnd = random.Random(seed)
    ledger = svc.ledger
    levels: dict[str, list[Any]] = {"street": [], "community": [], "compound": [], "building": []}
    street = ledger.create_unit("青禾街道", "street", None).id
    levels["street"].append(street)
    community_of: dict[Any, Any] = {}
    for c in range(communities):
        community = ledger.create_unit(f"第{c + 1}社区", "community", street).id
        levels["community"].append(community)
        for k in range(compounds):
            compound = ledger.create_unit(f"第{c + 1}社区{k + 1}号小区", "compound", community).id
            levels["compound"].append(compound)
            for b in range(buildings):
                building = ledger.create_unit(f"{c + 1}-{k + 1}-{b + 1}号楼", "building", compound).id
                levels["building"].append(building)
                community_of[building] = community
    homes = [levels["building"][i % len(levels["building"])] for i in range(volunteers)]
    # (volunteer id, issuing community)
    people = [(vid, community_of[home]) for vid, home in zip(register_volunteers(ledger, homes, YEAR_START), homes)]

    step = timedelta(days=365) / max(events, 1)
    credits: list[tuple[Any, list[Posting]]] = []
    recorded: list[Any] = []
    for i in range(events):
        at = YEAR_START + step * i
        if credits and i % 50 == 49:
            original, postings = credits.pop(rnd.randrange(len(credits)))
            recorded.append(reversal(ledger.journal, original, postings, at))
        else:
            volunteer, issuing = people[rnd.randrange(len(people))]
            r = award(ledger.journal, i, volunteer, issuing, rnd.randint(5, 40), at)
            recorded.append(r)
            if len(credits) < 50_000:
                credits.append((r.transaction.id, r.transaction.postings))
        if len(recorded) == 1000 or i == events - 1:
            save(ledger.journal, recorded)
            recorded = []
    return levels


def _read_only(ledger: Any, topics: set[str], after: int, end: int, page: int) -> tuple[int, float]:
    """Select and decode the notifications, apply nothing."""
    mapper = ledger.mapper
    n = 0
    t0 = time.perf_counter()
    position = after
    while position < end:
        batch = ledger.recorder.select_notifications(position, page, inclusive_of_start=False)
        if not batch:
            break
        for note in batch:
            if note.topic in topics:
                mapper.to_domain_event(note)
        n += len(batch)
        position = batch[-1].id
    return n, time.perf_counter() - t0


def _read_raw(ledger: Any, db: Any, topics: set[str], end: int, page: int) -> tuple[int, float]:
    """What this projection's own reader does before applying: SQL pages of stored events,
    topics filtered in SQL, each transaction's JSON state decoded."""
    from ledger.codec import state_of
    from projections.rawlog import RawLog

    raw = RawLog(ledger, postgres=db.is_postgres)
    wanted = sorted(topics)
    t0 = time.perf_counter()
    position = 0
    with db.read() as tx:
        while position < end:
            events, position = raw.page(tx, position, page, wanted)
            for e in events:
                state_of(e.state)
    return position, time.perf_counter() - t0


def _one_row_per_event(ledger: Any, db: Any, topics: set[str], after: int, count: int) -> tuple[int, float]:
    """The straightforward build's floor: per event, one transaction that upserts one row and
    moves the tracking position."""
    from projections.base import TRACKING_TABLE

    with db.transaction() as tx:
        tx.execute("CREATE TABLE IF NOT EXISTS naive_board (volunteer TEXT PRIMARY KEY, points BIGINT NOT NULL)")
        tx.execute(
            f"CREATE TABLE IF NOT EXISTS {TRACKING_TABLE} (projection TEXT PRIMARY KEY, application_name TEXT NOT NULL, notification_id BIGINT NOT NULL)"
        )
        tx.execute(f"INSERT INTO {TRACKING_TABLE} VALUES ('naive', 'bench', 0) ON CONFLICT (projection) DO NOTHING")
    notes = ledger.recorder.select_notifications(after, count, inclusive_of_start=False)
    mapper = ledger.mapper
    t0 = time.perf_counter()
    for note in notes:
        with db.transaction() as tx:
            tx.execute(f"UPDATE {TRACKING_TABLE} SET notification_id = %s WHERE projection = 'naive'", (note.id,))
            if note.topic in topics:
                e = mapper.to_domain_event(note)
                p = e.postings[0]
                tx.execute(
                    "INSERT INTO naive_board (volunteer, points) VALUES (%s, %s) ON CONFLICT (volunteer) "
                    "DO UPDATE SET points = naive_board.points + excluded.points",
                    (p["destination"], p["amount"]),
                )
    return len(notes), time.perf_counter() - t0


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def _decode_floor(ledger: Any, db: Any, zone: str, *, from_json: bool) -> float:
    """Seconds to read every transaction's postings in PostgreSQL, as a catch-up step does, and
    only add them up: from the postings table's columns, or (``from_json``) decoding the events'
    JSON as the path before it did. The least the SQL path pays to read the log."""
    from projections.leaderboards.apply import RECORDED
    from projections.leaderboards.sql import JSON_POSTINGS_SQL, POSTINGS_SQL
    from projections.rawlog import RawLog

    raw = RawLog(ledger, postgres=True)
    source = (JSON_POSTINGS_SQL if from_json else POSTINGS_SQL).format(events=raw.table, postings=raw.postings)
    # every column is used, so the planner computes each (an unused one it would skip)
    sql = (
        "SELECT count(*) AS n, sum(earned) AS e, sum(redeemed) AS r, sum(own) AS o, sum(tmin) AS m, "
        f"max(d) AS d, max(vid) AS v, max(issuer) AS i FROM ({source}) AS p"
    )
    with db.transaction() as tx:
        tx.execute("SET LOCAL jit = off")
        t0 = time.perf_counter()
        tx.one(sql, {"lo": 0, "hi": ledger.max_notification_id(), "topic": RECORDED, "zone": zone})
        return time.perf_counter() - t0


def _write_floor(db: Any) -> tuple[int, float]:
    """Seconds to write the board rows the catch-up ended with into an empty copy of ``lb_seg``
    the cheapest way (sorted, in bulk, its three indexes built afterwards): the least any build
    of these rows pays to store them."""
    from projections.leaderboards.tables import SEG_INDEXES, SEG_KEY

    with db.transaction() as tx:
        t0 = time.perf_counter()
        tx.execute("CREATE TABLE bench_seg (LIKE lb_seg)")
        n = tx.execute(f"INSERT INTO bench_seg SELECT * FROM lb_seg ORDER BY {SEG_KEY[1:-1]}")
        tx.execute(f"ALTER TABLE bench_seg ADD PRIMARY KEY {SEG_KEY}")
        for _, columns in SEG_INDEXES:
            tx.execute(f"CREATE INDEX ON bench_seg {columns}")
        seconds = time.perf_counter() - t0
        tx.execute("DROP TABLE bench_seg")
    return int(n), seconds


def _row(what: str, n: int, seconds: float, *, p50: float | None = None, p99: float | None = None, note: str = "") -> dict[str, Any]:
    return {
        "what": what,
        "n": n,
        "seconds": round(seconds, 2),
        "per_s": round(n / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": "-" if p50 is None else round(p50, 2),
        "p99_ms": "-" if p99 is None else round(p99, 2),
        "note": note,
    }


def bench_leaderboards(
    events: Annotated[int, typer.Option(min=1, help="Posting events in the log.")] = 1_000_000,
    volunteers: Annotated[int, typer.Option(min=1, help="Volunteers, spread over the buildings.")] = 100_000,
    communities: Annotated[int, typer.Option(min=1)] = 5,
    compounds: Annotated[int, typer.Option(min=1, help="Compounds per community.")] = 20,
    buildings: Annotated[int, typer.Option(min=1, help="Buildings per compound.")] = 10,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Notifications per catch-up transaction (default: the projection's own step on the store).")] = None,
    sample: Annotated[int, typer.Option(min=1, help="Events fed to the straightforward builds.")] = 3000,
    queries: Annotated[int, typer.Option(min=1, help="Board queries timed.")] = 2000,
    seed: Annotated[int, typer.Option()] = 7,
    database_url: Annotated[str | None, typer.Option(help="An empty PostgreSQL (or SQLite) store; default: a throwaway cluster.")] = None,
    out: Annotated[Path | None, typer.Option(help="JSON report path.")] = None,
) -> None:
    """Leaderboards: catch-up rate and board query latency, beside the references."""
    from eventsourcing.utils import get_topic

    from api.leaderboards import leaderboard
    from ledger.clock import ManualClock
    from ledger.domain import LedgerTransaction
    from projections import boards
    from projections.leaderboards import queries as lb

    with ExitStack() as stack:
        url, store, svc = bench_store(stack, database_url, "lb", ManualClock(YEAR_START))
        ledger = svc.ledger
        follower = next(f for f in svc.followers if f.name == "leaderboards")
        batch_size = batch_size or follower.batch_size
        follower.batch_size = batch_size
        typer.echo(f"filling {store}: {events:,} events, {volunteers:,} volunteers …", err=True)
        t0 = time.perf_counter()
        levels = _fill(svc, communities, compounds, buildings, volunteers, events, seed)
        fill_s = time.perf_counter() - t0
        end = ledger.max_notification_id()
        topics = follower.projection.topics()
        recorded = {get_topic(LedgerTransaction.Recorded)}  # type: ignore[attr-defined]
        first_posting = end - events  # the notifications before it are the tree and volunteers
        typer.echo(f"filled in {fill_s:.0f} s; {end:,} notifications", err=True)

        rows: list[dict[str, Any]] = []
        n, s = _read_only(ledger, topics, 0, end, 5000)
        rows.append(_row("read + decode notifications, apply nothing (library reader)", n, s))
        n, s = _read_raw(ledger, svc.db, topics, end, 5000)
        rows.append(_row("read rows with SQL + decode JSON, apply nothing (our reader)", n, s))

        n, s = _one_row_per_event(ledger, svc.db, recorded, first_posting, sample)
        rows.append(_row("straightforward: 1 row + tracking per event, 1 txn each", n, s, note="sample"))
        while follower.position() < first_posting:  # the tree and the volunteers, in big steps
            follower.batch_size = min(batch_size, first_posting - follower.position())
            follower.step()
        follower.batch_size = 1
        t0 = time.perf_counter()
        done = 0
        while done < sample and follower.step():
            done += 1
        rows.append(_row("this projection fed 1 event per txn", done, time.perf_counter() - t0, note="sample"))
        follower.batch_size = batch_size

        projection = follower.projection
        if store == "PostgreSQL":  # the path before the postings table, in the same run
            typer.echo("catching up the old way (JSON decoded in the server) …", err=True)
            projection.from_json = True
            t0 = time.perf_counter()
            n = follower.rebuild()
            rows.append(_row(f"before: catch-up decoding the events' JSON in SQL, {batch_size} per txn", n, time.perf_counter() - t0))
            projection.from_json = False
        typer.echo("catching up …", err=True)
        t0 = time.perf_counter()
        n = follower.rebuild()  # from scratch: drops the sample's rows, replays the whole log
        catch_up_s = time.perf_counter() - t0
        with svc.db.read() as tx:
            board_rows = sum(int(tx.one(f"SELECT COUNT(*) AS n FROM {t}")["n"]) for t in ("lb_seg", "lb_moved"))  # type: ignore[index]
        rows.append(_row(f"leaderboards catch-up from the postings table, {batch_size} per txn", n, catch_up_s, note=f"{board_rows:,} board rows"))
        if store == "PostgreSQL":
            with svc.db.transaction() as tx:
                for table in follower.projection.tables:
                    tx.execute(f"ANALYZE {table}")
            s = _decode_floor(ledger, svc.db, svc.settings.zone.key, from_json=True)
            rows.append(_row("floor: decode every posting's JSON in SQL, no writes", events, s))
            s = _decode_floor(ledger, svc.db, svc.settings.zone.key, from_json=False)
            rows.append(_row("floor: read every postings row in SQL, no writes", events, s))
            seg_rows, s = _write_floor(svc.db)
            rows.append(_row("floor: write lb_seg's final rows in bulk, indexes after", seg_rows, s, note="rows"))

        rnd = random.Random(seed + 1)
        kinds = list(levels)
        sql_times: dict[str, list[float]] = {k: [] for k in kinds}
        view_times: list[float] = []
        nonempty = 0
        for i in range(queries):
            level = kinds[i % len(kinds)]
            unit = rnd.choice(levels[level])
            period = rnd.choice(boards.PERIODS)
            metric = rnd.choice(boards.METRICS)
            at = YEAR_START + timedelta(seconds=rnd.randrange(365 * 86400))
            start = boards.start_key(boards.period_start(period, at.astimezone(svc.settings.zone).date()))
            t0 = time.perf_counter()
            with svc.db.read() as tx:
                got = lb.board(tx, unit.hex, period, start, metric, 50)
            sql_times[level].append(time.perf_counter() - t0)
            nonempty += bool(got)
            t0 = time.perf_counter()
            leaderboard(svc.db, ledger, None, unit_id=unit, metric=metric, period=period, at=at, zone=svc.settings.zone, limit=50, cursor=None)
            view_times.append(time.perf_counter() - t0)
        every = [t for ts in sql_times.values() for t in ts]
        p50, p99 = _percentiles(every)
        rows.append(_row("board query (SQL), any unit and period, 50 rows", len(every), sum(every), p50=p50, p99=p99, note=f"{nonempty} non-empty"))
        for level in kinds:
            p50, p99 = _percentiles(sql_times[level])
            rows.append(_row(f"  … {level} boards", len(sql_times[level]), sum(sql_times[level]), p50=p50, p99=p99))
        p50, p99 = _percentiles(view_times)
        rows.append(_row("API view (unit, ancestors, children, board)", len(view_times), sum(view_times), p50=p50, p99=p99))

        emit(
            "leaderboards",
            rows,
            meta={
                "store": store, "events": events, "volunteers": volunteers, "notifications": end,
                "tree": f"1 street × {communities} communities × {compounds} compounds × {buildings} buildings",
                "batch_size": batch_size, "fill_seconds": round(fill_s, 1), "board_rows": board_rows,
                "catch_up_events_per_s": round(n / catch_up_s, 1),
            },
            out=out,
        )
