"""``moralbank bench expiry``: an expiry run over many lots on PostgreSQL, beside a plain UPDATE of
the same rows in the same run, and how long redemptions waited while it ran.

The store is filled through the journal (credits of many volunteers per transaction, each posting
opening a lot whose last day has passed by the time of the run, plus one never-expiring lot per
volunteer so that redemptions always have points to draw). Then, in the same run:
- reference: ``UPDATE`` of a copy of the lots table setting every due lot's remaining to 0, one
  statement (the floor of any expiry: no events, no checks);
- before: ``expire_due`` by the journal's path (one transaction per lot, ``--journal-chunk`` lots per
  store transaction) over the first ``--journal-lots`` due lots (a sample: it is ~100x slower);
- after: ``expire_due`` set-based (``ledger.lots.pg_expiry``, ``--chunk`` lots per database call)
  over the rest; each database call is timed (it holds the events table's lock: the longest a
  redemption can wait on it);
while a thread keeps redeeming 1 point of random volunteers through the journal; each redemption's
time is measured, before the runs (idle) and during each. The 1-minute load average is recorded by
phase (the machine is shared: compare ratios within one run).
"""

from __future__ import annotations

import os
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


def _row(what: str, **values: Any) -> dict[str, Any]:
    """One table row; every row has the same columns (None: does not apply)."""
    row: dict[str, Any] = {"what": what}
    for key in ("lots", "seconds", "lots_per_s", "pct_of_update", "redemptions", "p50_ms", "p99_ms", "max_ms",
                "errors", "lock_held_p99_ms", "lock_held_max_ms", "load_1m"):
        row[key] = values.get(key)
    return row


def _redemption_row(what: str, times: list[float], errors: int, load: float) -> dict[str, Any]:
    return _row(what, redemptions=len(times), p50_ms=_ms(times, 0.5), p99_ms=_ms(times, 0.99), max_ms=_ms(times, 1.0),
                errors=errors, load_1m=load)


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def bench_expiry(
    lots: Annotated[int, typer.Option(min=1000, max=5_000_000, help="Lots due at the run.")] = 1_000_000,
    volunteers: Annotated[int, typer.Option(min=10, help="Volunteers holding them.")] = 10_000,
    chunk: Annotated[int, typer.Option(min=1, max=5000, help="Lots per database call of the set-based run.")] = 100,
    journal_lots: Annotated[
        int, typer.Option(min=0, help="Lots expired by the journal's path (the build before, on a sample of the same store, in rounds).")
    ] = 20_000,
    journal_chunk: Annotated[int, typer.Option(min=1, max=5000, help="Lots per store transaction of the journal's path.")] = 50,
    rounds: Annotated[int, typer.Option(min=1, max=100, help="Rounds of both paths, in turn (a shared machine's load falls on both).")] = 4,
    database_url: Annotated[str | None, typer.Option(help="A PostgreSQL database to use (else a throwaway cluster).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Where to write the JSON (default var/bench/).")] = None,
) -> None:
    """An expiry run beside a plain UPDATE of the same rows, and how long redemptions waited: the
    journal's path on a sample of the due lots, then the set-based run (PostgreSQL) on the rest,
    in the same run, with redemptions timed idle and during each."""
    from ledger.application import Ledger
    from ledger.clock import ManualClock
    from ledger.lots import pg_expiry
    from ledger.lots.expiry import expire_due
    from ledger.lots.legacy import open_legacy
    from ledger.store import ledger_env
    from ops.pgcluster import PgCluster

    loads: dict[str, float] = {"start": _load()}
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
            c.execute(f"ANALYZE bench_lots_copy; ANALYZE {table}")
        typer.echo(f"filled in {filled:.1f} s; measuring …", err=True)
        loads["filled"] = _load()

        t0 = time.perf_counter()
        legacy = open_legacy(ledger)  # what every run does first, once per process: nothing to open here
        legacy_s = time.perf_counter() - t0
        ledger.legacy_lots_opened = True

        idle = Redeemer(ledger, ids)
        idle.start()
        time.sleep(3)
        idle_times = idle.stop()
        idle_load = _load()

        t0 = time.perf_counter()
        with ledger.recorder.datastore.transaction(commit=True) as c:
            c.execute("UPDATE bench_lots_copy SET remaining = 0 WHERE remaining > 0 AND expires_on < %s",
                      ((START + timedelta(days=60)).date(),))
            updated = c.rowcount
        update_s = time.perf_counter() - t0
        update_rate = updated / update_s
        update_load = _load()

        # Rounds: the journal's path on journal_lots / rounds lots, then the set-based path on its share
        # of the rest, again and again, so a change of the machine's load falls on both alike.
        set_share = max(1, (lots - journal_lots) // rounds)
        plans = [
            ("journal", f"journal's path (before): {journal_chunk} lots per store transaction, {journal_lots} due lots "
                        f"in {rounds} round(s)", {"set_based": False, "chunk": journal_chunk}, journal_lots // rounds),
            ("sql", f"set-based (after): {chunk} lots per database call, the rest in {rounds} round(s)",
             {"set_based": True, "chunk": chunk}, set_share),
        ]
        totals: dict[str, list[Any]] = {key: [what, 0, 0, 0.0, [], 0, [], []] for key, what, _kw, _n in plans}
        for r in range(rounds):
            for key, _what, kwargs, share in plans:
                if share == 0:
                    continue
                last = r == rounds - 1 and key == "sql"
                pg_expiry.TIMINGS = calls = []  # (lock wait, call, commit) per database call of the set-based run
                busy = Redeemer(ledger, ids)
                busy.start()
                t0 = time.perf_counter()
                try:
                    report = expire_due(ledger, **kwargs, max_lots=None if last else share)
                finally:
                    pg_expiry.TIMINGS = None
                t = totals[key]
                t[3] += time.perf_counter() - t0
                t[4] += busy.stop()
                t[1] += report.lots
                t[2] += report.points
                t[5] += busy.errors
                t[6] += calls
                t[7].append(_load())
        runs = [(t[0], t[1], t[2], t[3], t[4], t[5], round(statistics.fmean(t[7]), 2) if t[7] else None, t[6])
                for t in totals.values() if t[1]]
        loads["end"] = _load()

    rows = [
        _row("reference: one UPDATE of the same rows (copy of the lots table)", lots=updated, seconds=round(update_s, 2),
             lots_per_s=round(update_rate, 1), pct_of_update=100.0, load_1m=update_load),
        _redemption_row("redemptions, no run (idle)", idle_times, idle.errors, idle_load),
    ]
    for what, expired, _points, run_s, busy_times, errors, load, calls in runs:
        rate = expired / run_s if run_s else 0.0
        held = [call + commit for _wait, call, commit in calls]  # the events table's lock is held from the call to the commit
        rows.append(_row(what, lots=expired, seconds=round(run_s, 2), lots_per_s=round(rate, 1),
                         pct_of_update=round(100 * rate / update_rate, 2), load_1m=load,
                         lock_held_p99_ms=_ms(held, 0.99) if held else None, lock_held_max_ms=_ms(held, 1.0) if held else None))
        rows.append(_redemption_row("  redemptions during it", busy_times, errors, load))
    emit("expiry", rows, meta={
        "lots": lots, "volunteers": volunteers, "chunk": chunk, "journal_chunk": journal_chunk, "journal_lots": journal_lots,
        "fill_seconds": round(filled, 1), "load_1m": loads, "legacy_check_seconds": round(legacy_s, 3),
        "legacy_lots_opened": legacy.volunteers,
        "points_expired": sum(r[2] for r in runs), "rounds": rounds,
        "set_based_calls_ms": {
            part: {"p50": _ms(values, 0.5), "p99": _ms(values, 0.99), "max": _ms(values, 1.0)}
            for part, values in zip(("lock_wait", "call", "commit"), zip(*runs[-1][7], strict=True), strict=True)
        } if runs and runs[-1][7] else None,
    }, out=json_out)
