"""``moralbank bench verify``: how fast ``moralbank verify`` checks a log, beside reading it.

One store (a throwaway PostgreSQL cluster unless ``--database-url``), filled in bulk: a street of
5 communities, ``--events // 20`` volunteers, and ``--events`` posting events (credits, one in
fifty a reversal of an earlier credit), saved a thousand per transaction with the balance guard's
deltas (and the hash chain), as ``Ledger.post`` records them; the projections are caught up.

Measured in the same run, on the same rows:
- reference: reading every stored event in pages with SQL, without checking anything;
- ``verify``: the whole check of the store (chain, replay, guard, projections rebuilt in a
  scratch database and compared);
- ``export`` and ``verify --file`` of that export (no database).
"""

from __future__ import annotations

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


def fill(svc: Any, events: int, *, seed: int = 7, per_save: int = 1000) -> None:

    rnd = random.Random(seed)
    ledger = svc.ledger
    clock = svc.clock
    street = ledger.create_unit("青禾街道", "street", None).id
    communities = [ledger.create_unit(f"第{c + 1}社区", "community", street).id for c in range(5)]
    homes = [communities[i % len(communities)] for i in range(max(events // 20, 10))]
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


def read_all(ledger: Any, page: int = 5000) -> int:
    """The reference: every stored event (and its chain row) read in pages with SQL, as verify
    reads them, nothing checked."""
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
    database_url: Annotated[str | None, typer.Option(help="A PostgreSQL database to use (else a throwaway cluster).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Where to write the JSON (default var/bench/).")] = None,
) -> None:
    """Verify (store and export file) beside reading the same rows without checking."""
    from ledger.clock import ManualClock
    from ops.pgcluster import PgCluster
    from ops.projecting import catch_up
    from ops.settings import Settings
    from ops.transfer import export_log
    from ops.verify import verify
    from ops.verify_file import verify_file
    from ops.wiring import build_services, close_services

    with ExitStack() as stack:
        if database_url is None:
            cluster = stack.enter_context(PgCluster())
            database_url = cluster.create_database("bench_verify")
        var = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mb-bench-")))
        settings = Settings(database_url=database_url, var_dir=var, secret_key="bench-signing-key-0123456789")
        svc = build_services(settings, clock=ManualClock(START))
        stack.callback(close_services, svc)
        typer.echo(f"filling {events} events …", err=True)
        t0 = time.perf_counter()
        fill(svc, events)
        filled = time.perf_counter() - t0
        t0 = time.perf_counter()
        for f in svc.followers:
            catch_up(f)
        projected = time.perf_counter() - t0
        total = svc.ledger.max_notification_id()
        typer.echo(f"{total} events in {filled:.1f} s, projected in {projected:.1f} s; measuring …", err=True)

        t0 = time.perf_counter()
        read = read_all(svc.ledger)
        read_s = time.perf_counter() - t0
        report = verify(svc, catch_up_first=False)
        if not report.ok:
            raise SystemExit(f"verify found violations in a clean bench store: {report.violations[:3]}")
        dump = var / "export.jsonl"
        t0 = time.perf_counter()
        with dump.open("w", encoding="utf8") as out:
            export_log(svc.ledger, out)
        export_s = time.perf_counter() - t0
        file_report = verify_file(dump)
        if not file_report.ok:
            raise SystemExit(f"verify --file found violations in a clean export: {file_report.violations[:3]}")

    def row(what: str, n: int, seconds: float) -> dict[str, Any]:
        return {"what": what, "events": n, "seconds": round(seconds, 3), "events_per_s": round(n / seconds, 1),
                "x_read_time": round(seconds / read_s, 2)}

    rows = [
        row("reference: read every row (SQL pages), no checks", read, read_s),
        row("verify (store: chain, replay, guard, projections)", report.events, report.seconds),
        row("export (JSON lines with the chain)", report.events, export_s),
        row("verify --file (no database)", file_report.events, file_report.seconds),
    ]
    emit("verify", rows, meta={"events": total, "fill_seconds": round(filled, 1), "projection_seconds": round(projected, 1),
                               "transactions": report.transactions}, out=json_out)
