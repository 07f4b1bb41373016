"""``moralbank bench verify``: how fast ``moralbank verify`` checks a log, beside reading it.

One store (a throwaway PostgreSQL cluster unless ``--database-url``), filled in bulk: a street of
5 communities, ``--volunteers`` volunteers (default ``--events // 20``), and ``--events`` posting
events (credits, one in fifty a reversal of an earlier credit), saved a thousand per transaction
with the balance guard's deltas (and the hash chain), as ``Ledger.post`` records them; the
projections are caught up. A ``--database-url`` that already holds a log is measured as it is
(no fill), so one large fill serves several runs.

Measured in the same run, on the same rows, with the load average beside each figure (the
machines are shared):
- reference: every stored event with its chain row read by one streamed query (the read verify's
  pass makes), nothing checked; and the same in pages of 5 000 (the reader before);
- ``verify``: the whole check of the store, and its parts: the pass (read, hash, replay, here) and,
  beside it in the server, the postings against the events and each projection against a rebuild;
- ``export`` and ``verify --file`` of that export (no database).
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

import typer

from ops.bench.fill import award, register_volunteers, reversal, save
from ops.bench.report import emit

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def fill(svc: Any, events: int, *, volunteers: int | None = None, seed: int = 7, per_save: int = 1000) -> None:

    rnd = random.Random(seed)
    ledger = svc.ledger
    clock = svc.clock
    street = ledger.create_unit("青禾街道", "street", None).id
    communities = [ledger.create_unit(f"第{c + 1}社区", "community", street).id for c in range(5)]
    homes = [communities[i % len(communities)] for i in range(volunteers or max(events // 20, 10))]
    people = list(zip(register_volunteers(ledger, homes, START), homes))
    step = timedelta(days=90) / max(events, 1)
    saved: list[Any] = []  # credits already recorded, that a later reversal may undo (at most 50 000 kept)
    recorded: list[Any] = []
    originals: list[Any] = []
    fresh: list[Any] = []
    for i in range(events):
        at = START + step * i
        if saved and i % 50 == 49:
            original = saved.pop(rnd.randrange(len(saved)))
            r = reversal(ledger.journal, original.id, original.postings, at)
            original.mark_reversed(reversal_id=r.transaction.id, at=at)  # as Ledger.reverse does
            originals.append(original)
        else:
            volunteer, issuing = people[rnd.randrange(len(people))]
            r = award(ledger.journal, i, volunteer, issuing, rnd.randint(5, 40), at)
            fresh.append(r.transaction)
        recorded.append(r)
        if len(recorded) + len(originals) >= per_save or i == events - 1:
            if hasattr(clock, "set"):
                clock.set(at)
            save(ledger.journal, recorded, *originals)
            room = 50_000 - len(saved)
            saved += fresh[:room]
            recorded, originals, fresh = [], [], []


def read_streamed(ledger: Any) -> int:
    """The reference: every stored event with its chain row, read by the one streamed query of
    verify's pass (``ops.verify_pass``), nothing checked."""
    from ops.verify_pass import FETCH, _open_streams

    end = ledger.max_notification_id()
    n = 0
    with ledger.recorder.datastore.transaction(commit=False) as c:
        log, _ = _open_streams(c, ledger.recorder, end, not hasattr(c, "sqlite_cursor"), with_postings=False)
        while rows := log.fetchmany(FETCH):
            n += len(rows)
        log.close()
    return n


def read_all(ledger: Any, page: int = 5000) -> int:
    """The reader before: every stored event (and its chain row) read in pages with SQL,
    nothing checked."""
    recorder = ledger.recorder
    end = ledger.max_notification_id()
    n = after = 0
    while after < end:
        rows = recorder.select_chained_events(after, end, page)
        if not rows:
            break
        n += len(rows)
        after = rows[-1][0]
    return n


def bench_verify(
    events: Annotated[int, typer.Option(min=100, max=2_000_000, help="Posting events in the log.")] = 100_000,
    volunteers: Annotated[int | None, typer.Option(min=10, help="Volunteers (default: events / 20).")] = None,
    database_url: Annotated[str | None, typer.Option(help="A PostgreSQL database to use (else a throwaway cluster); one that holds a log already is measured as it is.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Where to write the JSON (default var/bench/).")] = None,
) -> None:
    """Verify (store and export file) beside reading the same rows without checking."""
    from ledger.clock import ManualClock
    from ops.bench.leaderboards import bench_store
    from ops.projecting import catch_up
    from ops.transfer import export_log
    from ops.verify import verify
    from ops.verify_file import verify_file

    filled = projected = 0.0
    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        _url, label, svc = bench_store(stack, database_url, "verify", ManualClock(START))
        var = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mb-bench-verify-")))
        if svc.ledger.max_notification_id() == 0:
            typer.echo(f"filling {events} events …", err=True)
            t0 = time.perf_counter()
            fill(svc, events, volunteers=volunteers)
            filled = time.perf_counter() - t0
        t0 = time.perf_counter()
        for f in svc.followers:
            catch_up(f)
        projected = time.perf_counter() - t0
        total = svc.ledger.max_notification_id()
        typer.echo(f"{total} events ({filled:.1f} s to fill), projected in {projected:.1f} s; measuring …", err=True)

        def row(what: str, n: int, seconds: float, reference: float | None = None) -> dict[str, Any]:
            rows.append({"what": what, "events": n, "seconds": round(seconds, 3), "events_per_s": round(n / seconds, 1) if seconds else 0.0,
                         "x_reference": round(seconds / reference, 2) if reference else 1.0,
                         "load_1m": round(os.getloadavg()[0], 1)})
            return rows[-1]

        t0 = time.perf_counter()
        read = read_streamed(svc.ledger)
        read_s = time.perf_counter() - t0
        row("reference: every row with its chain row, one streamed query, no checks", read, read_s)
        t0 = time.perf_counter()
        paged = read_all(svc.ledger)
        row("reference: the same in pages of 5 000 (the reader before)", paged, time.perf_counter() - t0, read_s)
        report = verify(svc, catch_up_first=False)
        if not report.ok:
            raise SystemExit(f"verify found violations in a clean bench store: {report.violations[:3]}")
        row(f"verify of the store ({label}: chain, replay, postings, guard, lots, projections)", report.events, report.seconds, read_s)
        for part, seconds in report.timings.items():
            where = "here" if part in ("pass", "tables") else "in the server, beside the pass"
            row(f"  of which {part} ({where})", report.events, seconds, read_s)
        dump = var / "export.jsonl"
        t0 = time.perf_counter()
        with dump.open("w", encoding="utf8") as out:
            export_log(svc.ledger, out)
        row("export (JSON lines with the chain)", report.events, time.perf_counter() - t0, read_s)
        file_report = verify_file(dump)
        if not file_report.ok:
            raise SystemExit(f"verify --file found violations in a clean export: {file_report.violations[:3]}")
        row("verify --file (no database)", file_report.events, file_report.seconds, read_s)

    emit("verify", rows, meta={"events": total, "volunteers": report.volunteer_accounts, "store": label,
                               "fill_seconds": round(filled, 1), "projection_seconds": round(projected, 1),
                               "transactions": report.transactions, "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
                               "cpus": os.cpu_count()}, out=json_out)
