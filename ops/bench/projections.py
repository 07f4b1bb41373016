"""``moralbank bench projections``: every projection rebuilt from empty, on the log of ``bench
leaderboards`` (a street of communities, compounds and buildings, volunteers, credits and one in
fifty a reversal, over one year, filled in bulk through the journal).

In the same run: the read-only reference (every notification read and decoded by the library,
nothing applied), and for the projections that now read the postings table (accounts, alliance,
leaderboards) the path before it (``--old``: the library's reader and mapper for accounts and the
alliance, the events' JSON decoded in the server for the leaderboards).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from ops.bench.leaderboards import YEAR_START, _fill, _read_only, _row, bench_store
from ops.bench.report import emit


def _old(follower: Any) -> Any:
    """The same projection on the path before the postings table, or None."""
    from projections.accounts import AccountsProjection
    from projections.alliance import AllianceProjection
    from projections.base import Follower

    p = follower.projection
    if isinstance(p, AccountsProjection):
        return Follower(follower.ledger, follower.db, AccountsProjection(use_postings=False))
    if isinstance(p, AllianceProjection):
        return Follower(follower.ledger, follower.db, AllianceProjection(use_postings=False))
    if p.name == "leaderboards":
        import copy

        other = copy.copy(p)
        other.from_json = True
        return Follower(follower.ledger, follower.db, other)
    return None


def _count(db: Any, tables: tuple[str, ...]) -> int:
    with db.read() as tx:
        return sum(int(tx.one(f"SELECT COUNT(*) AS n FROM {t}")["n"]) for t in tables)  # type: ignore[index]


def bench_projections(
    events: Annotated[int, typer.Option(min=1, help="Posting events in the log.")] = 1_000_000,
    volunteers: Annotated[int, typer.Option(min=1, help="Volunteers, spread over the buildings.")] = 100_000,
    communities: Annotated[int, typer.Option(min=1)] = 5,
    compounds: Annotated[int, typer.Option(min=1, help="Compounds per community.")] = 20,
    buildings: Annotated[int, typer.Option(min=1, help="Buildings per compound.")] = 10,
    old: Annotated[bool, typer.Option(help="Also rebuild on the path before the postings table.")] = True,
    seed: Annotated[int, typer.Option()] = 7,
    database_url: Annotated[str | None, typer.Option(help="An empty PostgreSQL (or SQLite) store; default: a throwaway cluster.")] = None,
    out: Annotated[Path | None, typer.Option(help="JSON report path.")] = None,
) -> None:
    """Every projection rebuilt from empty (target: each < 60 s on 10⁶ events), beside the references."""
    from ledger.clock import ManualClock

    with ExitStack() as stack:
        url, store, svc = bench_store(stack, database_url, "proj", ManualClock(YEAR_START))
        ledger = svc.ledger
        typer.echo(f"filling {store}: {events:,} events, {volunteers:,} volunteers …", err=True)
        t0 = time.perf_counter()
        _fill(svc, communities, compounds, buildings, volunteers, events, seed)
        fill_s = time.perf_counter() - t0
        end = ledger.max_notification_id()
        typer.echo(f"filled in {fill_s:.0f} s; {end:,} notifications", err=True)

        rows: list[dict[str, Any]] = []
        wanted = set().union(*(f.projection.topics() for f in svc.followers))
        n, s = _read_only(ledger, wanted, 0, end, 5000)
        rows.append(_row("reference: read + decode every notification, apply nothing", n, s))
        total = 0.0
        for f in svc.followers:
            typer.echo(f"rebuilding {f.name} …", err=True)
            t0 = time.perf_counter()
            n = f.rebuild()
            s = time.perf_counter() - t0
            total += s
            rows.append(_row(f"{f.name} rebuilt from empty", n, s, note=f"{_count(svc.db, f.projection.tables):,} rows"))
            if old and (before := _old(f)) is not None:
                typer.echo(f"rebuilding {f.name} the old way …", err=True)
                t0 = time.perf_counter()
                n = before.rebuild()
                rows.append(_row(f"  before: {f.name} on the old path", n, time.perf_counter() - t0))
                f.rebuild()  # leave the rows of the path now
        rows.append(_row("every projection rebuilt, one after another", end, total))
        emit(
            "projections",
            rows,
            meta={"store": store, "events": events, "volunteers": volunteers, "notifications": end, "fill_seconds": round(fill_s, 1)},
            out=out,
        )
