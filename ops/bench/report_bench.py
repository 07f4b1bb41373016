"""``moralbank bench report``: a street's yearly report (figures, charts, PDF) on a big store.

One store (a throwaway PostgreSQL cluster unless ``--database-url``) filled as ``bench leaderboards``
fills it (a street of 5 × 20 × 10 buildings, ``--volunteers`` volunteers, ``--events`` posting events
over one year, through the journal's helpers in ``ops.bench.fill``), every projection caught up;
then the street's report, timed by stage, beside a reference doing the least of the same work: one
scan of the year's postings summing amounts and minutes (the floor of any report that reads the
year's movements). Target: the whole report (figures + charts + PDF) under 10 s on PostgreSQL.
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from ops.bench.leaderboards import YEAR_START, _fill, bench_store
from ops.bench.report import emit


def _row(what: str, seconds: float, note: str = "") -> dict[str, Any]:
    return {"what": what, "seconds": round(seconds, 3), "note": note}


def bench_report(
    events: Annotated[int, typer.Option(min=1, help="Posting events in the log.")] = 1_000_000,
    volunteers: Annotated[int, typer.Option(min=1, help="Volunteers, spread over the buildings.")] = 100_000,
    lang: Annotated[str, typer.Option(help="zh or en.")] = "zh",
    seed: Annotated[int, typer.Option()] = 7,
    database_url: Annotated[str | None, typer.Option(help="An empty PostgreSQL (or SQLite) store; default: a throwaway cluster.")] = None,
    out: Annotated[Path | None, typer.Option(help="JSON report path.")] = None,
) -> None:
    """Yearly report of a street with N volunteers and M events: seconds per stage, beside a postings scan."""
    from datetime import datetime, timezone

    from api.reports import build, charts, pdf
    from ledger.clock import ManualClock
    from ops.projecting import catch_up

    with ExitStack() as stack:
        clock = ManualClock(YEAR_START)
        url, store, svc = bench_store(stack, database_url, "rp", clock)
        typer.echo(f"filling {store}: {events:,} events, {volunteers:,} volunteers …", err=True)
        t0 = time.perf_counter()
        levels = _fill(svc, 5, 20, 10, volunteers, events, seed)
        typer.echo(f"filled in {time.perf_counter() - t0:.0f} s; catching up the projections …", err=True)
        t0 = time.perf_counter()
        for f in svc.followers:
            catch_up(f)
        typer.echo(f"caught up in {time.perf_counter() - t0:.0f} s", err=True)
        if store == "PostgreSQL":
            with svc.db.transaction() as tx:
                tx.execute("ANALYZE")
        clock.advance(days=365)  # the report of a finished year
        now = datetime(2027, 1, 5, tzinfo=timezone.utc)
        street = levels["street"][0]
        postings = build.postings_table(svc.ledger, svc.db.is_postgres)

        rows: list[dict[str, Any]] = []
        t0 = time.perf_counter()
        with svc.db.read() as tx:
            ref = tx.one(f"SELECT COUNT(*) AS n, SUM(amount) AS a, SUM(txn_minutes) AS m FROM {postings} WHERE day >= %s AND day < %s",
                         ("2026-01-01", "2027-01-01"))
        rows.append(_row("reference: one scan of the year's postings (count, sums)", time.perf_counter() - t0, f"{int(ref['n']):,} rows"))  # type: ignore[index]
        t_all = time.perf_counter()
        t0 = time.perf_counter()
        r = build.figures(svc.db, svc.ledger, street, 2026, svc.settings.zone, now)
        rows.append(_row("figures (projections.reports, one read transaction)", time.perf_counter() - t0,
                         f"{r.figures.volunteers:,} volunteers, {r.figures.earned:,} points earned"))
        t0 = time.perf_counter()
        pngs = charts.all_pngs(r, lang)
        rows.append(_row(f"{len(pngs)} charts (matplotlib, PNG)", time.perf_counter() - t0))
        t0 = time.perf_counter()
        document = pdf.render(r, lang, pngs)
        rows.append(_row("PDF (fpdf2, CJK subset embedded)", time.perf_counter() - t0, f"{len(document):,} bytes"))
        total = time.perf_counter() - t_all
        rows.append(_row("whole report: figures + charts + PDF (target < 10 s)", total, "OK" if total < 10 else "OVER"))
        load = os.getloadavg()
        emit("report", rows, meta={"store": store, "events": events, "volunteers": volunteers,
                                   "loadavg": [round(x, 2) for x in load]}, out=out)
        typer.echo(f"load average while measured: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", err=True)
