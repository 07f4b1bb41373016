"""``moralbank bench expiry``: an expiry run over many lots on PostgreSQL, beside a plain UPDATE of
the same rows in the same run, and how long redemptions waited while it ran.

The store is filled through the journal (credits of many volunteers per transaction, each posting
opening a lot whose last day has passed by the time of the run, plus one never-expiring lot per
volunteer so that redemptions always have points to draw). Then, in the same run:
- reference: ``UPDATE`` of a copy of the lots table setting every due lot's remaining to 0, one
  statement (the floor of any expiry: no events, no checks);
- ours: ``expire_due`` (one transaction per lot, ``CHUNK`` lots per store transaction), while a
  thread keeps redeeming 1 point of random volunteers through the journal; each redemption's time
  is measured, before the run (idle) and during it.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

import typer

from ops.bench.fill import register_volunteers
from ops.bench.report import emit

START = datetime(2026, 1, 1, 2, tzinfo=timezone.utc)


def _fill(ledger: Any, street: uuid.UUID, never: uuid.UUID, volunteers: list[uuid.UUID], lots: int, per_save: int = 2000) -> None:
    from ledger.accounts import Posting, issuing_account, volunteer_account
    from ledger.journal import Movement

    journal = ledger.journal
    for i, v in enumerate(volunteers):  # points that never lapse: redemptions always find some
        if i % per_save == 0:
            part = volunteers[i : i + per_save]
            journal.commit(journal.transaction(
                Movement(f"seed:{i}", "award", [Posting(issuing_account(never), volunteer_account(x), 1000) for x in part], unit_id=never),
                at=START,
            ), grouped=False)
    done = 0
    while done < lots:
        n = min(per_save, lots - done)
        postings = [Posting(issuing_account(street), volunteer_account(volunteers[(done + k) % len(volunteers)]), 1 + (done + k) % 5)
                    for k in range(n)]
        journal.commit(journal.transaction(Movement(f"lots:{done}", "award", postings, unit_id=street), at=START), grouped=False)
        done += n


class Redeemer(threading.Thread):
    """Redeems 1 point of a random volunteer, again and again, timing each."""

    def __init__(self, ledger: Any, volunteers: list[uuid.UUID]) -> None:
        super().__init__(name="bench-redeemer", daemon=True)
        self.ledger, self.volunteers = ledger, volunteers
        self.stop_event = threading.Event()
        self.times: list[float] = []
        self.errors = 0

    def run(self) -> None:
        from ledger.accounts import Posting, merchant_account, volunteer_account
        from ledger.errors import LedgerError
        from ledger.journal import Movement

        shop = merchant_account(uuid.uuid4())
        rnd = random.Random(3)
        while not self.stop_event.is_set():
            v = rnd.choice(self.volunteers)
            t0 = time.perf_counter()
            try:
                self.ledger.journal.post(Movement(f"bench-pay:{uuid.uuid4()}", "redemption", [Posting(volunteer_account(v), shop, 1)]))
            except LedgerError:
                self.errors += 1
            self.times.append(time.perf_counter() - t0)

    def stop(self) -> list[float]:
        self.stop_event.set()
        self.join(30)
        return self.times


def _ms(times: list[float], q: float) -> float:
    if not times:
        return 0.0
    ordered = sorted(times)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def bench_expiry(
    lots: Annotated[int, typer.Option(min=1000, max=5_000_000, help="Lots due at the run.")] = 1_000_000,
    volunteers: Annotated[int, typer.Option(min=10, help="Volunteers holding them.")] = 10_000,
    chunk: Annotated[int, typer.Option(min=1, max=5000, help="Lots per store transaction.")] = 50,
    database_url: Annotated[str | None, typer.Option(help="A PostgreSQL database to use (else a throwaway cluster).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Where to write the JSON (default var/bench/).")] = None,
) -> None:
    """An expiry run beside a plain UPDATE of the same rows, and the longest a redemption waited."""
    from ledger.application import Ledger
    from ledger.clock import ManualClock
    from ledger.lots.expiry import expire_due
    from ops.pgcluster import PgCluster
    from ledger.store import ledger_env

    with ExitStack() as stack:
        if database_url is None:
            cluster = stack.enter_context(PgCluster())
            database_url = cluster.create_database("bench_expiry")
        stack.enter_context(tempfile.TemporaryDirectory(prefix="mb-bench-"))
        clock = ManualClock(START)
        ledger = Ledger(ledger_env(database_url), clock=clock)
        stack.callback(ledger.close)
        street = ledger.create_unit("街道", "street", None)
        never = ledger.create_unit("社区", "community", street.id)
        ledger.set_expiry_policy(street.id, "months", 1)
        ledger.set_expiry_policy(never.id, "never")
        ids = register_volunteers(ledger, [never.id] * volunteers, START)
        typer.echo(f"filling {lots} lots of {volunteers} volunteers …", err=True)
        t0 = time.perf_counter()
        _fill(ledger, street.id, never.id, ids, lots)
        filled = time.perf_counter() - t0
        clock.set(START + timedelta(days=60))
        table = ledger.recorder.lots_table
        with ledger.recorder.datastore.transaction(commit=True) as c:
            c.execute(f"DROP TABLE IF EXISTS bench_lots_copy; CREATE TABLE bench_lots_copy AS SELECT * FROM {table}")
        typer.echo(f"filled in {filled:.1f} s; measuring …", err=True)

        idle = Redeemer(ledger, ids)
        idle.start()
        time.sleep(3)
        idle_times = idle.stop()

        t0 = time.perf_counter()
        with ledger.recorder.datastore.transaction(commit=True) as c:
            c.execute("UPDATE bench_lots_copy SET remaining = 0 WHERE remaining > 0 AND expires_on < %s",
                      ((START + timedelta(days=60)).date(),))
            updated = c.rowcount
        update_s = time.perf_counter() - t0

        busy = Redeemer(ledger, ids)
        busy.start()
        t0 = time.perf_counter()
        report = expire_due(ledger, chunk=chunk)
        run_s = time.perf_counter() - t0
        busy_times = busy.stop()

    rows = [
        {"what": "reference: one UPDATE of the same rows (copy of the lots table)", "lots": updated,
         "seconds": round(update_s, 2), "lots_per_s": round(updated / update_s, 1)},
        {"what": f"expiry run: one transaction per lot, {chunk} per store transaction", "lots": report.lots,
         "seconds": round(run_s, 2), "lots_per_s": round(report.lots / run_s, 1), "x_update_time": round(run_s / update_s, 1)},
        {"what": "redemption, no run (idle): p50 / p99 / max ms", "redemptions": len(idle_times),
         "p50_ms": _ms(idle_times, 0.5), "p99_ms": _ms(idle_times, 0.99), "max_ms": _ms(idle_times, 1.0)},
        {"what": "redemption during the run: p50 / p99 / max ms", "redemptions": len(busy_times),
         "p50_ms": _ms(busy_times, 0.5), "p99_ms": _ms(busy_times, 0.99), "max_ms": _ms(busy_times, 1.0),
         "errors": busy.errors, "mean_ms": round(1000 * statistics.fmean(busy_times), 1) if busy_times else 0},
    ]
    emit("expiry", rows, meta={"lots": lots, "volunteers": volunteers, "chunk": chunk, "fill_seconds": round(filled, 1),
                               "points_expired": report.points}, out=json_out)
