"""``moralbank batch …``: welfare-day batches from the command line (import with a progress bar,
show, resume after a crash, reverse)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ledger.batches.files import CSV, NDJSON
from ledger.batches.rules import DEFAULT_CAP
from ledger.batches.domain import Batch
from ops.cli_common import caught_up, err, fail, out, parse_uuid, services_for

batch_app = typer.Typer(help="Welfare-day batches (公益日批量发放): bulk credits from CSV or JSON lines.", no_args_is_help=True)


def _summary(b: Batch) -> Table:
    table = Table("what", "value", title=f"batch {b.id}")
    for label, value in [
        ("title", b.title), ("unit", str(b.unit_id)), ("status", b.status),
        ("lines done / total", f"{b.lines_done} / {b.lines_total}"), ("credited lines", b.accepted),
        ("refused lines", len(b.refused)), ("points credited", b.points), ("minutes", b.minutes),
        ("reversed lines", len(b.reversed_lines)), ("reversed points", b.reversed_points),
        ("file", f"{b.source['format']} {b.source['encoding']} {b.source['bytes']} bytes"),
        ("started", b.started_at.isoformat()), ("finished", b.finished_at.isoformat() if b.finished_at else "-"),
    ]:
        table.add_row(label, str(value))
    return table


def _refused_table(rows: list[list[Any]], limit: int, title: str) -> Table:
    table = Table("line", "code", "reason", title=title)
    for line, code, message in rows[:limit]:
        table.add_row(str(line), code, message)
    return table


def _run_with_bar(batches: Any, batch: Batch) -> Batch:
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(file=sys.stderr), transient=False,
    ) as bar:
        task = bar.add_task(batch.title, total=batch.lines_total, completed=batch.lines_done)
        done = batches.run(batch.id, progress=lambda b: bar.update(task, completed=b.lines_done))
        bar.update(task, completed=done.lines_done)
    return done  # type: ignore[no-any-return]


@batch_app.command("import")
def batch_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A CSV (header row) or JSON-lines file.")],
    unit: Annotated[str, typer.Option(help="The issuing unit's id.")],
    title: Annotated[str, typer.Option(help="The batch's title, e.g. 学雷锋公益日.")],
    cap: Annotated[int, typer.Option(min=1, help="Most points one line may carry.")] = DEFAULT_CAP,
    key: Annotated[str | None, typer.Option(help="Batch key (default: the file's content, so a re-import is the same batch).")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="csv or ndjson (default: from the file name).")] = None,
    chunk_lines: Annotated[int | None, typer.Option(min=1, help="Lines per chunk (one transaction each).")] = None,
    throttle: Annotated[float, typer.Option(min=0, help="Seconds to pause between chunks.")] = 0.0,
    show_refused: Annotated[int, typer.Option(help="Refused lines to print at most.")] = 20,
) -> None:
    """Credit volunteers from a file; prints the batch id. Importing the same file again
    credits nothing new (it is the same batch; an unfinished one resumes)."""
    unit_id = parse_uuid(unit, "--unit")
    fmt = fmt or (NDJSON if file.suffix.lower() in (".ndjson", ".jsonl") else CSV)
    if fmt not in (CSV, NDJSON):
        fail("--format must be csv or ndjson", 2)
    with services_for() as svc:
        batches = svc.batches
        if chunk_lines:
            batches.chunk_lines = chunk_lines
        batches.throttle = throttle
        spooled = batches.spool_file(file)
        # The same default key as the API's: the same file for the same unit is one batch.
        batch_key = f"cli:{key}" if key else f"content:{unit_id}:{spooled.sha256}"
        submitted = batches.submit(
            spooled, fmt, key=batch_key, title=title, unit_id=unit_id, scope=None, actor="cli", cap=cap
        )
        if not submitted.created:
            err.print(f"this file was imported before as batch {submitted.batch.id} ({submitted.batch.status})")
        typer.echo(str(submitted.batch.id))
        batch = _run_with_bar(batches, submitted.batch)
        caught_up(svc)
    err.print(_summary(batch))
    if batch.refused:
        err.print(_refused_table(batch.refused, show_refused, f"{len(batch.refused)} refused line(s)"))
    if batch.status != "finished":
        raise typer.Exit(1)


@batch_app.command("show")
def batch_show(
    batch_id: Annotated[str, typer.Argument(help="The batch's id.")],
    refused: Annotated[int, typer.Option(help="Refused lines to print at most.")] = 50,
    csv_out: Annotated[bool, typer.Option("--csv", help="Print every refused line as CSV instead.")] = False,
) -> None:
    """A batch's status, totals and refused lines."""
    bid = parse_uuid(batch_id, "BATCH_ID")
    with services_for() as svc:
        batch = svc.batches.get(bid)
    if csv_out:
        w = csv.writer(sys.stdout)
        w.writerow(["line", "code", "reason"])
        w.writerows(batch.refused)
        return
    out.print(_summary(batch))
    if batch.refused:
        out.print(_refused_table(batch.refused, refused, f"{len(batch.refused)} refused line(s)"))
    if batch.reversal_refused:
        out.print(_refused_table(batch.reversal_refused, refused, "lines not reversed"))


@batch_app.command("resume")
def batch_resume() -> None:
    """Finish every batch that a crash or a stop interrupted (each line is paid exactly once)."""
    with services_for() as svc:
        ids = svc.batches.unfinished()
        if not ids:
            err.print("no unfinished batch")
        for bid in ids:
            batch = _run_with_bar(svc.batches, svc.batches.get(bid))
            err.print(f"batch {bid}: {batch.status}, {batch.accepted} of {batch.lines_total} lines credited")
        caught_up(svc)


@batch_app.command("reverse")
def batch_reverse(
    batch_id: Annotated[str, typer.Argument(help="The batch's id.")],
    line: Annotated[list[int] | None, typer.Option("--line", help="A line number to reverse (repeatable); none: all.")] = None,
    memo: Annotated[str, typer.Option(help="Why.")] = "",
) -> None:
    """Reverse a batch (compensating transactions); lines whose points were spent are refused."""
    bid: UUID = parse_uuid(batch_id, "BATCH_ID")
    with services_for() as svc:
        result = svc.batches.reverse(bid, line or None, memo=memo, actor="cli")
        caught_up(svc)
    err.print(f"reversed {len(result.reversed_lines)} line(s), {result.points} point(s)")
    if result.refused:
        out.print(_refused_table([list(r) for r in result.refused], 50, f"{len(result.refused)} line(s) not reversed"))
