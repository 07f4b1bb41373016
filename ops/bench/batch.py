"""``moralbank bench batch``: a welfare-day batch beside PostgreSQL COPY and the straightforward build.

In one run, on one store:
- COPY: the file's rows into a plain table (``COPY … FROM STDIN (FORMAT csv)``) — the limit;
  and the same rows into a table whose primary key is the line key: the least any batch must also
  do to never pay a line twice (a unique index the database checks at write time), so the gap
  between the two is the part of the limit no write path can reach;
- batch, by the set-based path (``ledger.batches.setbased_pg``) and by the chunk-by-chunk Python
  path, each on a file of its own (its own line keys): upload (spool + check) to every line
  credited (write side committed), and then to every line visible in balances (the accounts
  projection caught up) — each in a fresh child process, whose peak RSS is reported, so memory is
  that of the batch alone; at each size asked for (``--lines`` repeated: 100 000 and 1 000 000);
- straightforward: one ``Ledger.credit`` per line (load unit and volunteer, save one transaction),
  then the projection, on a sample of the lines (its rate per line does not depend on the count).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import resource
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from ops.bench.report import emit


def _services(url: str, var: Path) -> Any:
    from ops.settings import Settings
    from ops.wiring import build_services

    return build_services(Settings(database_url=url, var_dir=var, secret_key="bench-signing-key-0123456789"))


def _seed(url: str, var: Path, volunteers: int) -> tuple[str, list[str]]:
    """A street and ``volunteers`` volunteers (one in ten with a member number), saved in bulk."""
    from ledger.domain import MemberNumber, Volunteer
    from ops.projecting import catch_up
    from ops.wiring import close_services

    svc = _services(url, var)
    try:
        ledger = svc.ledger
        street = ledger.create_unit("青禾街道", "street", None)
        refs: list[str] = []
        now = ledger.clock.now()
        for start in range(0, volunteers, 1000):
            objs: list[Any] = []
            for i in range(start, min(volunteers, start + 1000)):
                member = f"QH{i:07d}" if i % 10 == 0 else None
                v = Volunteer(name=f"志愿者{i}", unit_id=street.id, phone_last4=None, member_no=member, at=now)
                objs.append(v)
                if member:
                    objs.append(MemberNumber(member_no=member, volunteer_id=v.id))
                refs.append(member or str(v.id))
            ledger.save(*objs)
        for f in svc.followers:
            catch_up(f)
        return str(street.id), refs
    finally:
        close_services(svc)


def _write_file(path: Path, refs: list[str], lines: int, seed: int) -> None:
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("volunteer,points,minutes,line_key,memo\n")
        for i in range(lines):
            f.write(f"{refs[i % len(refs)]},{rnd.randint(1, 50)},{rnd.choice((0, 60, 120, 240))},WD-{seed}-{i},公益日清扫\n")


_PLAIN = "volunteer text, points int, minutes int, line_key text, memo text"
_KEYED = "volunteer text, points int, minutes int, line_key text PRIMARY KEY, memo text"


def _copy_rate(url: str, path: Path, columns: str = _PLAIN, repeats: int = 3) -> tuple[float, int]:
    """The median of ``repeats`` COPYs of the file into a fresh table (one takes a tenth of a
    second at 100 000 lines, so a single run is mostly noise)."""
    import statistics

    import psycopg

    times: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(repeats):
            conn.execute(f"CREATE TABLE bench_copy ({columns})")
            started = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy("COPY bench_copy FROM STDIN (FORMAT csv, HEADER true)") as copy, path.open("rb") as f:
                    while block := f.read(1 << 20):
                        copy.write(block)
            times.append(time.perf_counter() - started)
            n = conn.execute("SELECT count(*) FROM bench_copy").fetchone()[0]  # type: ignore[index]
            conn.execute("DROP TABLE bench_copy")
    return statistics.median(times), int(n)


def _peak_mb() -> float:
    """This process's peak resident memory since the last ``_reset_peak`` (Linux VmHWM), else
    since it started (getrusage)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> bool:
    """Start the peak over from the present size (Linux: write 5 to clear_refs), so a peak
    reached while loading services is not taken for the batch's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _batch_child(url: str, var: str, path: str, unit_id: str, set_based: bool, queue: Any) -> None:
    """In a fresh process: upload to credited, then to visible in balances, by the set-based path
    (PostgreSQL) or the chunk-by-chunk Python path."""
    from ledger.batches.files import CSV
    from ops.projecting import catch_up
    from ops.wiring import close_services

    svc = _services(url, Path(var))
    try:
        accounts = next(f for f in svc.followers if f.name == "accounts")
        catch_up(accounts)
        batches = svc.batches
        batches.set_based = set_based
        reset = _reset_peak()
        baseline = _peak_mb()  # after a reset: the resident size now
        started = time.perf_counter()
        spooled = batches.spool_file(Path(path))
        submitted = batches.submit(
            spooled, CSV, key=f"bench:{uuid.uuid4()}", title="公益日 bench", unit_id=uuid.UUID(unit_id), scope=None,
            actor="bench",
        )
        uploaded = time.perf_counter()
        batch = batches.run(submitted.batch.id)
        credited = time.perf_counter()
        rss_credited = _peak_mb()
        catch_up(accounts)
        visible = time.perf_counter()
        queue.put({
            "upload": uploaded - started, "credited": credited - started, "visible": visible - started,
            "accepted": batch.accepted, "refused": len(batch.refused), "status": batch.status,
            "baseline_mb": baseline, "credited_mb": rss_credited,
            "visible_mb": _peak_mb(), "peak_reset": reset,
        })
    finally:
        close_services(svc)


def _run_batch(url: str, var: Path, path: Path, unit_id: str, set_based: bool) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_batch_child, args=(url, str(var), str(path), unit_id, set_based, queue))
    child.start()
    got: dict[str, Any] = queue.get(timeout=7200)
    child.join()
    return got


def _straightforward(url: str, var: Path, path: Path, unit_id: str, sample: int) -> tuple[float, int]:
    import csv

    from ledger.domain import MemberNumber
    from ops.projecting import catch_up
    from ops.wiring import close_services

    svc = _services(url, var)
    try:
        ledger = svc.ledger
        accounts = next(f for f in svc.followers if f.name == "accounts")
        catch_up(accounts)
        run = uuid.uuid4().hex[:8]
        with path.open(encoding="utf-8", newline="") as f:
            rows = [r for _, r in zip(range(sample), csv.DictReader(f))]
        unit = uuid.UUID(unit_id)
        started = time.perf_counter()
        for row in rows:
            ref = row["volunteer"]
            try:
                volunteer_id = uuid.UUID(ref)
            except ValueError:
                volunteer_id = ledger.repository.get(MemberNumber.create_id(ref)).volunteer_id
            ledger.credit(
                f"plain:{run}:{row['line_key']}", unit, volunteer_id, int(row["points"]),
                minutes=int(row["minutes"]), memo=row["memo"],
            )
        catch_up(accounts)
        return time.perf_counter() - started, len(rows)
    finally:
        close_services(svc)


def bench_batch(
    lines: Annotated[list[int] | None, typer.Option(min=1, max=1_000_000, help="Lines in the batch file (repeat for several sizes).")] = None,
    database_url: Annotated[str | None, typer.Option(help="A PostgreSQL database to use (else a throwaway cluster).")] = None,
    straightforward_lines: Annotated[int, typer.Option(min=0, help="Lines credited the straightforward way (a sample).")] = 3000,
    python_path: Annotated[bool, typer.Option(help="Also run the chunk-by-chunk Python path at each size.")] = True,
    out: Annotated[Path | None, typer.Option(help="Where to write the JSON (default var/bench/).")] = None,
) -> None:
    """Welfare-day batch: lines/s (upload → credited → visible in balances) of the set-based and the
    Python paths beside COPY and the straightforward build, at each size, with peak RSS."""
    from ops.pgcluster import PgCluster

    sizes = sorted(set(lines or [100_000]))
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    meta: dict[str, Any] = {"store": "postgresql", "sizes": sizes}
    with ExitStack() as stack:
        if database_url is None:
            cluster = stack.enter_context(PgCluster())
            database_url = cluster.create_database("bench_batch")
        var = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mb-bench-")))
        volunteers = min(max(sizes), 100_000)
        typer.echo(f"seeding {volunteers} volunteers …", err=True)
        unit_id, refs = _seed(database_url, var, volunteers)
        seed = 0
        for n in sizes:
            files = {}
            for what in ("set-based", "python") if python_path else ("set-based",):
                seed += 1  # each run its own line keys
                files[what] = var / f"welfare-day-{n}-{seed}.csv"
                _write_file(files[what], refs, n, seed=seed)
            typer.echo(f"{n} lines: COPY …", err=True)
            copy_s, copied = _copy_rate(database_url, files["set-based"])
            keyed_s, keyed = _copy_rate(database_url, files["set-based"], _KEYED)
            runs = {}
            for what, path in files.items():
                typer.echo(f"{n} lines: {what} batch …", err=True)
                runs[what] = _run_batch(database_url, var, path, unit_id, what == "set-based")
                path.unlink()
            copy_rate, keyed_rate = copied / copy_s, keyed / keyed_s

            def row(what: str, count: int, seconds: float, mb: float | None = None) -> dict[str, Any]:
                rate = count / seconds
                return {
                    "what": what, "lines": count, "seconds": round(seconds, 3), "lines/s": round(rate, 1),
                    "% of COPY": round(100 * rate / copy_rate, 1), "% of keyed COPY": round(100 * rate / keyed_rate, 1),
                    "peak RSS MB": round(mb, 1) if mb is not None else "-",
                }

            rows += [
                row("COPY into a plain table (limit)", copied, copy_s),
                row("COPY into a table keyed by line key (floor of any batch)", keyed, keyed_s),
            ]
            for what, got in runs.items():
                rows += [
                    row(f"{what} batch: upload → credited", n, got["credited"], got["credited_mb"]),
                    row(f"{what} batch: upload → visible in balances", n, got["visible"], got["visible_mb"]),
                ]
                meta[f"{what} {n}"] = {
                    "upload_seconds": round(got["upload"], 3), "rss_before_batch_mb": round(got["baseline_mb"], 1),
                    "peak_measured_from_batch_start": got["peak_reset"], "accepted": got["accepted"],
                    "refused": got["refused"], "status": got["status"],
                }
        if straightforward_lines:
            sample_n = min(min(sizes), straightforward_lines)
            typer.echo(f"straightforward on {sample_n} lines …", err=True)
            sample = var / "sample.csv"
            _write_file(sample, refs, sample_n, seed=seed + 1)
            plain_s, plain_n = _straightforward(database_url, var, sample, unit_id, straightforward_lines)
            rate = plain_n / plain_s
            rows.append({
                "what": "straightforward: credit() per line + projection", "lines": plain_n, "seconds": round(plain_s, 3),
                "lines/s": round(rate, 1), "% of COPY": "-", "% of keyed COPY": "-", "peak RSS MB": "-",
            })
    big, small = max(sizes), min(sizes)
    if big != small:
        peaks = {r["lines"]: r["peak RSS MB"] for r in rows if r["what"] == "set-based batch: upload → credited"}
        meta["set-based peak RSS ratio"] = round(peaks[big] / peaks[small], 3)
    meta["load average before"] = [round(x, 2) for x in load_before]
    meta["load average after"] = [round(x, 2) for x in os.getloadavg()]
    meta["accepted"] = meta[f"set-based {small}"]["accepted"]
    emit("batch", rows, meta=meta, out=out)
