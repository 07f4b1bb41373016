"""The ``moralbank`` command line.

Output convention: what a script wants (an id, a secret, an export) goes to stdout; messages,
tables and progress go to stderr, except for listing commands whose table is the output.
Exit codes: 0 ok, 1 refused or failed (a ledger rule, verify found violations), 2 usage or a
store that must not be used this way (import into a non-empty store).
"""

from __future__ import annotations

import logging

import os
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.table import Table
from rich.tree import Tree

from api.context import Services
from ledger.accounts import volunteer_account
from ledger.application import ROLES
from ledger.rules import UNIT_KINDS
from ops.batch_cli import batch_app
from ops.bench.cli import bench_app
from ops.cli_common import caught_up, err, fail, load_settings, out, parse_uuid, services_for, store_label
from ops.projecting import EXPIRE_EVERY, ExpiryThread, Progress, catch_up, follow_until_signalled, progress, timed

app = typer.Typer(
    name="moralbank",
    help="道德银行 moral bank: an event-sourced points ledger for community volunteering.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
tokens_app = typer.Typer(help="Access tokens (admin, organizer, volunteer, merchant).", no_args_is_help=True)
units_app = typer.Typer(help="The community tree: street, community, compound, building, station.", no_args_is_help=True)
volunteers_app = typer.Typer(help="Volunteers and their points.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")
app.add_typer(units_app, name="units")
app.add_typer(volunteers_app, name="volunteers")
app.add_typer(bench_app, name="bench")
app.add_typer(batch_app, name="batch")
lots_app = typer.Typer(help="Lots of points (expiry by lot, fund lineage).", no_args_is_help=True)
app.add_typer(lots_app, name="lots")


# ------------------------------------------------------------------------------ serve


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (PostgreSQL).")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the HTTP API (and, with SQLite, the projections in the same process)."""
    import uvicorn

    from ops.asgi import runs_projections_inprocess

    settings = load_settings()
    inprocess = runs_projections_inprocess(settings)
    if inprocess and workers > 1:
        err.print(
            f"[yellow]note:[/] projections run inside the server with {store_label(settings)}; "
            "only one process may run them, so serving with 1 worker "
            "(set MORALBANK_INPROCESS_PROJECTIONS=false and run `moralbank project` to use more)."
        )
        workers = 1
    if workers > 1 and settings.create_tables:
        # Create the schema once here, so the workers need not race to do it.
        from ops.wiring import build_services, close_services

        close_services(build_services(settings))
        os.environ["MORALBANK_CREATE_TABLES"] = "false"
    print_urls(host, port)
    err.print(
        f"store: {store_label(settings)}; projections: "
        + ("in this process" if inprocess else "run `moralbank project` beside this server")
    )
    # Several workers: prometheus-client's multiprocess mode, in a directory of this run
    # (a scrape of any worker sums every worker's counters); set before the workers start.
    metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="moralbank-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run("ops.asgi:app_factory", factory=True, host=host, port=port, workers=workers, log_level=log_level,
                    access_log=False)  # the JSON request log (api.requestlog) replaces it
    finally:
        if metrics_dir is not None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
            shutil.rmtree(metrics_dir, ignore_errors=True)


def print_urls(host: str, port: int) -> None:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown}:{port}"
    err.print(f"API docs:  {base}/docs", highlight=False)
    err.print(f"OpenAPI:   {base}/openapi.json", highlight=False)
    err.print(f"API:       {base}/v1/…   health: {base}/healthz   metrics: {base}/metrics", highlight=False)
    err.print(f"Role models (public board): {base}/pages/leaderboard   big screen: {base}/pages/leaderboard?screen=1", highlight=False)
    err.print(f"Shop till (merchant token): {base}/pages/till   volunteer's pay code: {base}/pages/volunteer", highlight=False)
    err.print(f"Activity screen (organizer): {base}/pages/activity-screen   volunteer's phone: {base}/pages/volunteer", highlight=False)


# ------------------------------------------------------------------------------ project


def _progress_table(rows: list[Progress]) -> Table:
    table = Table("projection", "position", "log end", "lag")
    for p in rows:
        table.add_row(p.name, str(p.position), str(p.log_end), str(p.lag))
    return table


@app.command()
def project(
    once: Annotated[bool, typer.Option("--once", help="Catch up once and exit.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Notifications per transaction.")] = 1000,
    poll: Annotated[float, typer.Option(min=0.001, help="Seconds between polls when caught up.")] = 0.1,
    report_every: Annotated[float, typer.Option(min=0.1, help="Seconds between progress lines.")] = 5.0,
    expire_every: Annotated[
        float, typer.Option(min=0, help="Seconds between scheduled expiry runs while following (0: none).")
    ] = EXPIRE_EVERY,
) -> None:
    """Run every projection follower until SIGTERM/SIGINT (with the scheduled expiry runs), or
    catch up once (--once)."""
    settings = load_settings()
    with services_for(settings) as svc:
        for f in svc.followers:
            f.batch_size = batch_size
        if once:
            for f in svc.followers:
                n, seconds = timed(lambda f=f: catch_up(f))  # type: ignore[misc]
                err.print(f"{f.name}: applied {n} notification(s) in {seconds:.2f}s, at {f.position()}")
            return
        err.print(f"following {', '.join(f.name for f in svc.followers)} on {store_label(settings)}; Ctrl-C to stop")
        try:
            err.print(_progress_table(progress(svc.followers)))
        except Exception as e:  # the store may be restarting: the followers wait for it on their own
            err.print(f"[yellow]note:[/] no progress to show yet ({type(e).__name__}: {e})", highlight=False)

        def report(rows: list[Progress]) -> None:
            err.print("  ".join(f"{p.name} {p.position}/{p.log_end} (lag {p.lag})" for p in rows), highlight=False)

        follow_until_signalled(
            svc.followers, poll=poll, report_every=report_every, report=report, expiry=ExpiryThread(svc.ledger, expire_every)
        )
        err.print("stopped;", "  ".join(f"{p.name} at {p.position}" for p in progress(svc.followers)))


# ------------------------------------------------------------------------------ expire


@app.command()
def expire(
    at: Annotated[str | None, typer.Option(help="Expire as of this time (RFC 3339; default now).")] = None,
    chunk: Annotated[
        int | None, typer.Option(min=1, max=5000, help="Lots per store transaction (default: 100 on PostgreSQL, set-based; 50 on SQLite).")
    ] = None,
) -> None:
    """Expire every lot past its last day with points left: one transaction per lot, from the
    volunteer to the issuing unit's expired account. Safe to repeat or to run beside others."""
    import time
    from datetime import datetime

    from ledger.lots.expiry import expire_due

    when = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            fail("--at must be an RFC 3339 time, e.g. 2027-01-01T00:00:00+08:00", 2)
        if when.tzinfo is None:
            fail("--at needs an offset, e.g. +08:00", 2)
    with services_for() as svc:
        started = time.perf_counter()
        report = expire_due(svc.ledger, now=when, chunk=chunk)
    err.print(
        f"expired {report.lots} lot(s), {report.points} point(s) (last day before {report.day}) in {report.chunks} "
        f"transaction(s), {time.perf_counter() - started:.2f} s",
        highlight=False,
    )


@lots_app.command("open-legacy")
def lots_open_legacy(
    chunk: Annotated[int, typer.Option(min=1, max=5000, help="Volunteers per store transaction.")] = 200,
) -> None:
    """Open a never-expiring lot (funded by the volunteer's home unit) for every volunteer whose
    balance exceeds their open lots: points credited before lots existed. One event per volunteer,
    in the log; safe to repeat or to run beside redemptions (it opens nothing twice). ``moralbank
    expire`` and the scheduled runs do it first, once per process."""
    import time

    from ledger.lots.legacy import open_legacy

    with services_for() as svc:
        started = time.perf_counter()
        report = open_legacy(svc.ledger, chunk=chunk)
    err.print(
        f"opened {report.volunteers} lot(s) of before lots, {report.points} point(s), in {report.saves} "
        f"transaction(s), {time.perf_counter() - started:.2f} s",
        highlight=False,
    )


# ------------------------------------------------------------------------------ tokens


@tokens_app.command("create")
def tokens_create(
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
    name: Annotated[str, typer.Option(help="Whose token this is.")],
    unit: Annotated[list[str] | None, typer.Option("--unit", help="A unit id in scope (repeatable).")] = None,
    subject: Annotated[str | None, typer.Option(help="The volunteer or merchant id (for those roles).")] = None,
) -> None:
    """Issue a token; its secret is printed (to stdout) this once and never again."""
    if role not in ROLES:
        fail(f"--role must be one of {', '.join(ROLES)}", 2)
    unit_ids = [parse_uuid(u, "--unit") for u in unit or []]
    subject_id = parse_uuid(subject, "--subject") if subject else None
    if role in ("volunteer", "merchant") and subject_id is None:
        fail(f"a {role} token needs --subject (the {role}'s id)", 2)
    if role == "organizer" and not unit_ids:
        fail("an organizer token needs at least one --unit (its scope)", 2)
    with services_for() as svc:
        issued = svc.ledger.issue_token(role, name, unit_ids=unit_ids, subject_id=subject_id)
    typer.echo(issued.secret)
    err.print(f"token {issued.token.id} ({role}, {name}); the secret above is shown only this once.", highlight=False)


@tokens_app.command("list")
def tokens_list() -> None:
    """Every token ever issued (secrets are never stored)."""
    with services_for() as svc:
        tokens = svc.ledger.list_tokens()
    table = Table("id", "role", "name", "units", "subject", "ends with", "issued", "status")
    for t in tokens:
        table.add_row(
            str(t.id), t.role, t.name, "\n".join(map(str, t.unit_ids)) or "-", str(t.subject_id or "-"),
            "…" + t.hint, t.issued_at.strftime("%Y-%m-%d %H:%M"),
            "active" if t.active else f"revoked {t.revoked_at:%Y-%m-%d %H:%M}",
        )
    out.print(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[str, typer.Argument(help="The token's id (see `tokens list`).")]) -> None:
    """Revoke a token: it stops working at once."""
    tid = parse_uuid(token_id, "TOKEN_ID")
    with services_for() as svc:
        token = svc.ledger.revoke_token(tid)
    err.print(f"revoked token {token.id} ({token.role}, {token.name})", highlight=False)


# ------------------------------------------------------------------------------ units


@units_app.command("create")
def units_create(
    name: Annotated[str, typer.Argument(help="The unit's name, e.g. 青禾街道.")],
    kind: Annotated[str, typer.Option(help=f"One of: {', '.join(UNIT_KINDS)}.")],
    parent: Annotated[str | None, typer.Option(help="The parent unit's id (none for a street).")] = None,
) -> None:
    """Add a unit to the community tree; prints its id."""
    parent_id = parse_uuid(parent, "--parent") if parent else None
    with services_for() as svc:
        u = svc.ledger.create_unit(name, kind, parent_id)
    typer.echo(str(u.id))
    err.print(f"created {kind} {name}", highlight=False)


@units_app.command("list")
def units_list() -> None:
    """The community tree."""
    from projections import queries

    with services_for() as svc:
        rows = queries.units(caught_up(svc).db)
        with svc.db.read() as tx:
            counts = {r["unit_id"]: int(r["n"]) for r in tx.all("SELECT unit_id, COUNT(*) AS n FROM volunteers GROUP BY unit_id")}
    children: dict[str | None, list[dict[str, Any]]] = {}
    ids = {r["id"] for r in rows}
    for r in rows:
        children.setdefault(r["parent_id"] if r["parent_id"] in ids else None, []).append(r)
    if not rows:
        err.print("no units yet; create a street: moralbank units create 青禾街道 --kind street")
        return

    def label(r: dict[str, Any]) -> str:
        n = counts.get(r["id"], 0)
        return f"[bold]{r['name']}[/] [dim]{r['kind']} {r['id']}[/]" + (f"  {n} volunteer(s)" if n else "")

    def grow(node: Tree, parent_id: str) -> None:
        for r in children.get(parent_id, []):
            grow(node.add(label(r)), r["id"])

    for root in children.get(None, []):
        tree = Tree(label(root))
        grow(tree, root["id"])
        out.print(tree)


# ------------------------------------------------------------------------------ volunteers


@volunteers_app.command("create")
def volunteers_create(
    name: Annotated[str, typer.Argument(help="The volunteer's name.")],
    unit: Annotated[str, typer.Option(help="The unit (usually a building) the volunteer lives in.")],
    member_no: Annotated[str | None, typer.Option(help="A unique member number.")] = None,
    phone_last4: Annotated[str | None, typer.Option(help="Last four digits of the phone number.")] = None,
) -> None:
    """Register a volunteer; prints the id."""
    unit_id = parse_uuid(unit, "--unit")
    if phone_last4 is not None and not (len(phone_last4) == 4 and phone_last4.isdigit()):
        fail("--phone-last4 must be four digits", 2)
    with services_for() as svc:
        v = svc.ledger.register_volunteer(name, unit_id, member_no=member_no, phone_last4=phone_last4)
    typer.echo(str(v.id))
    err.print(f"registered {name}", highlight=False)


@volunteers_app.command("list")
def volunteers_list(
    unit: Annotated[str | None, typer.Option(help="Only volunteers of this unit.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 1000,
) -> None:
    """Volunteers with their balances."""
    from projections import queries

    unit_id = str(parse_uuid(unit, "--unit")) if unit else None
    with services_for() as svc:
        caught_up(svc)
        rows = queries.volunteers(svc.db, unit_id=unit_id, limit=limit)
        balances = queries.all_balances(svc.db)
        unit_names = {u["id"]: u["name"] for u in queries.units(svc.db)}
    table = Table("id", "name", "unit", "member no", "phone", "balance", "earned", "minutes")
    for v in rows:
        b = balances.get(volunteer_account(UUID(v["id"])), {})
        table.add_row(
            v["id"], v["name"], unit_names.get(v["unit_id"], v["unit_id"]), v["member_no"] or "-",
            f"…{v['phone_last4']}" if v["phone_last4"] else "-",
            str(b.get("balance", 0)), str(b.get("earned", 0)), str(b.get("minutes", 0)),
        )
    out.print(table)
    err.print(f"{len(rows)} volunteer(s)")


# ------------------------------------------------------------------------------ verify


@app.command()
def verify(
    catch_up_first: Annotated[bool, typer.Option("--catch-up/--no-catch-up", help="Catch the projections up first.")] = True,
    max_shown: Annotated[int, typer.Option(help="Violations to print at most.")] = 50,
    file: Annotated[
        Path | None,
        typer.Option("--file", exists=True, dir_okay=False, help="Check an export instead of the store (no database needed)."),
    ] = None,
) -> None:
    """Replay the whole log and check the ledger's invariants and its hash chain; exit 1 on any violation."""
    from ops.verify import verify as run_verify

    if file is not None:
        _verify_file(file, max_shown)
        return
    with services_for() as svc:
        report = run_verify(svc, catch_up_first=catch_up_first)
        _remember_verify(svc, report)
    summary = Table("what", "count", title="moralbank verify")
    for label, value in [
        *report.figures(),
        *((f"projection {k} position", v) for k, v in report.positions.items()),
        ("log end", report.log_end),
        ("seconds", f"{report.seconds:.2f}"),
    ]:
        summary.add_row(label, str(value))
    out.print(summary)
    for w in report.warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False)
    if report.ok:
        out.print("[green]OK[/]: invariants 1 to 5 hold.")
        return
    counts = ", ".join(f"invariant {k}: {n}" for k, n in sorted(report.by_invariant().items()))
    out.print(f"[bold red]{len(report.violations)} violation(s)[/] ({counts})", highlight=False)
    for v in report.violations[:max_shown]:
        out.print(str(v), highlight=False, markup=False)
    if len(report.violations) > max_shown:
        out.print(f"… and {len(report.violations) - max_shown} more", highlight=False)
    raise typer.Exit(1)


def _remember_verify(svc: Any, report: Any) -> None:
    """Keep the run's outcome: yearly reports say when the store was last verified, up to where."""
    from projections import verifications

    verifications.record(svc.db, svc.clock.now(), report.log_end, report.ok, len(report.violations))


def _verify_file(file: Path, max_shown: int) -> None:
    from ops.verify_file import verify_file

    report = verify_file(file)
    summary = Table("what", "count", title=f"moralbank verify --file {file.name}")
    for label, value in [
        *report.figures(),
        ("chain head", report.chain_head),
        ("seconds", f"{report.seconds:.2f}"),
    ]:
        summary.add_row(label, str(value))
    out.print(summary)
    if report.first_break is not None:
        out.print(f"[bold red]the hash chain breaks[/] at the first damaged event — {report.first_break}", highlight=False)
    if report.ok:
        out.print("[green]OK[/]: the hash chain is whole; invariants 1 to 4 hold. Compare the chain head with a published root.")
        return
    counts = ", ".join(f"{'chain' if k == 0 else f'invariant {k}'}: {n}" for k, n in sorted(report.by_invariant().items()))
    out.print(f"[bold red]{len(report.violations)} violation(s)[/] ({counts})", highlight=False)
    for v in report.violations[:max_shown]:
        out.print(str(v), highlight=False, markup=False)
    if len(report.violations) > max_shown:
        out.print(f"… and {len(report.violations) - max_shown} more", highlight=False)
    raise typer.Exit(1)


# ------------------------------------------------------------------------------ export / import


@app.command()
def export(
    out_file: Annotated[str, typer.Option("--out", help="A file, or - for stdout.")] = "-",
) -> None:
    """Write the whole event log as JSON lines (lossless)."""
    from ops.transfer import export_log

    with services_for() as svc:
        if out_file == "-":
            result = export_log(svc.ledger, sys.stdout)
            sys.stdout.flush()
        else:
            path = Path(out_file)
            tmp = path.with_name(path.name + ".partial")
            with tmp.open("w", encoding="utf8") as f:
                result = export_log(svc.ledger, f)
            os.replace(tmp, path)
    err.print(f"exported {result.events} event(s) up to {result.log_end} in {result.seconds:.2f}s")


@app.command("import")
def import_(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A file written by export.")]) -> None:
    """Load an export into an EMPTY store, then catch the projections up."""
    from ops.transfer import BadExportFile, ImportRefused, TransferError, import_log

    settings = load_settings(bootstrap_token=None)  # a bootstrap token would make the store non-empty
    with services_for(settings) as svc:
        try:
            result = import_log(svc, file)
        except (ImportRefused, BadExportFile) as e:
            fail(str(e), 2)
        except TransferError as e:
            fail(str(e), 1)
    err.print(
        f"imported {result.events} event(s) ({result.transactions} transaction(s)) in {result.seconds:.2f}s"
        + (f"; {result.renumbered} notification id(s) renumbered (the source log had gaps)" if result.renumbered else "")
    )
    for name, n in result.projections.items():
        err.print(f"  projection {name}: {n} notification(s) applied")


# ------------------------------------------------------------------------------ rebuild


@app.command()
def rebuild(
    name: Annotated[str | None, typer.Argument(help="The projection to rebuild.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Rebuild every projection.")] = False,
) -> None:
    """Drop a projection's rows and replay the log into it."""
    with services_for() as svc:
        names = [f.name for f in svc.followers]
        if all_ == (name is not None):
            fail(f"name one projection or give --all; projections: {', '.join(names)}", 2)
        chosen = svc.followers if all_ else [f for f in svc.followers if f.name == name]
        if not chosen:
            fail(f"no projection named {name!r}; projections: {', '.join(names)}", 2)
        table = Table("projection", "notifications", "rows", "seconds", title="rebuild")
        for f in chosen:
            n, seconds = timed(f.rebuild)
            with svc.db.read() as tx:
                rows = sum(int(tx.one(f"SELECT COUNT(*) AS n FROM {t}")["n"]) for t in f.projection.tables)  # type: ignore[index]
            table.add_row(f.name, str(n), str(rows), f"{seconds:.2f}")
    out.print(table)


# ------------------------------------------------------------------------------ demo


@app.command()
def report(
    unit: Annotated[str, typer.Option("--unit", help="The unit's id.")],
    year: Annotated[int | None, typer.Option("--year", help="The year (default: this year).")] = None,
    out_dir: Annotated[Path, typer.Option("--out", file_okay=False, help="Directory for the PDF, PNG charts and JSON.")] = Path("."),
    lang: Annotated[str, typer.Option("--lang", help="zh (default) or en.")] = "zh",
    full_names: Annotated[bool, typer.Option("--full-names", help="Role models' full names (an admin's copy).")] = False,
    run_verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Run verify first and print its outcome in the report.")] = False,
) -> None:
    """A unit's yearly report: report-<year>-<unit>-<lang>.pdf, .json and one PNG per chart."""
    import json

    from api.reports import build, charts, pdf
    from projections.reports import UnitUnknown, YearOutOfRange

    if lang not in ("zh", "en"):
        fail("--lang is zh or en", 2)
    unit_id = parse_uuid(unit, "--unit")
    with services_for() as svc:
        caught_up(svc)
        verified = None
        if run_verify:
            from ops.verify import verify as verify_store

            result = verify_store(svc, catch_up_first=False)
            _remember_verify(svc, result)
            verified = ("passed", "") if result.ok else ("failed", f"{len(result.violations)} violation(s)")
        now = svc.clock.now()
        the_year = year or now.astimezone(svc.settings.zone).year
        try:
            r = build.figures(svc.db, svc.ledger, unit_id, the_year, svc.settings.zone, now, full_names=full_names, verified=verified)
        except YearOutOfRange as e:
            fail(str(e), 1)
        except UnitUnknown:
            fail(f"no unit {unit_id} in the read models", 1)
        pngs = charts.all_pngs(r, lang)
        document = pdf.render(r, lang, pngs)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"report-{the_year}-{unit_id}-{lang}"
    Path(f"{stem}.pdf").write_bytes(document)
    Path(f"{stem}.json").write_text(json.dumps(r.as_json(), ensure_ascii=False, indent=2), encoding="utf-8")
    for name, data in pngs.items():
        Path(f"{stem}-{name}.png").write_bytes(data)
    err.print(f"{r.unit_name} {the_year}: " + ("no activity this year; " if r.empty else "") + f"{stem}.pdf, .json and {len(pngs)} charts", highlight=False)
    out.print(f"{stem}.pdf", highlight=False, markup=False)


@app.command()
def demo(
    serve_after: Annotated[bool, typer.Option("--serve", help="Start serving when the data is in.")] = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="Delete an existing SQLite demo store first.")] = False,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    volunteers: Annotated[int, typer.Option(min=1, max=20_000, help="How many volunteers to make up.")] = 2000,
) -> None:
    """A store filled with a made-up neighbourhood (青禾街道), and tokens to look around with."""
    import time

    from ledger.clock import ManualClock
    from ledger.store import sqlite_path
    from ops.demo import ROLE_PAGES, build_neighbourhood, existing_neighbourhood, issue_demo_tokens

    settings = load_settings()
    if fresh:
        if settings.is_postgres:
            fail("--fresh deletes SQLite files only; for PostgreSQL point MORALBANK_DATABASE_URL at an empty database", 2)
        path = sqlite_path(settings.database_url)
        if path != ":memory:":
            for suffix in ("", "-wal", "-shm"):
                Path(path + suffix).unlink(missing_ok=True)
    admin_secret = settings.bootstrap_token.get_secret_value() if settings.bootstrap_token else None
    clock = ManualClock(datetime.now(timezone.utc))
    # The demo's made-up commands (thousands) are not logged line by line: the page addresses and
    # tokens printed at the end must stay on screen. Serving afterwards logs as always.
    commands_log = logging.getLogger("moralbank.commands")
    level = commands_log.level
    commands_log.setLevel(logging.WARNING)
    with services_for(settings.model_copy(update={"bootstrap_token": None}), clock=clock) as svc:
        existing = svc.ledger.max_notification_id()
        if existing:
            err.print(
                f"{store_label(settings)} already holds {existing} event(s); keeping it "
                "(--fresh starts over). Issuing new demo tokens."
            )
            result = existing_neighbourhood(caught_up(svc))
        else:
            err.print(f"building the demo neighbourhood in {store_label(settings)} …")
            started = time.perf_counter()
            result = build_neighbourhood(svc, clock, volunteers=volunteers)
        issue_demo_tokens(svc, result, admin_secret=admin_secret)
        caught_up(svc)
        routes = _routes(svc)
    commands_log.setLevel(level)

    if not existing:
        err.print(
            f"{len(result.units)} units, {len(result.volunteers)} volunteers, {result.activities} activities "
            f"with {result.scans} scans, a welfare day of {result.batch_lines} batch lines, {result.transactions} "
            f"credits, {len(result.merchants)} shops with {result.redemptions} redemptions, {result.reversals} "
            f"reversals; built and projected in {time.perf_counter() - started:.1f} s",
            highlight=False,
        )
    if routes:
        out.print("API routes:")
        for method, path, summary in routes:
            out.print(f"  {method:<7} {path:<44} {summary}", highlight=False, markup=False)
    # The tokens last, beside the page addresses, so they are on screen when serving starts.
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    out.print("demo tokens (send as Authorization: Bearer <token>, or paste into the page):")
    for role, secret in result.tokens.items():
        out.print(f"  {role:<10} {result.token_names[role]}", highlight=False)
        out.print(f"             page:  http://{shown}:{port}{ROLE_PAGES[role]}", highlight=False, markup=False)
        out.print(f"             token: {secret}", highlight=False, markup=False)
        if role in result.signin_paths:
            out.print(f"             or sign in once by link: http://{shown}:{port}{result.signin_paths[role]}", highlight=False, markup=False)
    out.print(f"  public     role models: http://{shown}:{port}/pages/leaderboard", highlight=False, markup=False)
    if not serve_after:
        print_urls(host, port)  # serve prints them itself
    if serve_after:
        serve(host=host, port=port, workers=1, log_level="info")
    else:
        err.print("start the server with: moralbank serve")


def _routes(svc: Services) -> list[tuple[str, str, str]]:
    """(methods, path, summary) of every documented route, from the app's OpenAPI document."""
    try:
        from api.app import create_app
    except ImportError:
        return []
    routes = []
    for path, operations in create_app(svc).openapi().get("paths", {}).items():
        for method, op in operations.items():
            routes.append((method.upper(), path, str(op.get("summary", ""))))
    return sorted(routes, key=lambda r: (r[1], r[0]))


def main() -> None:
    from ops.logs import configure

    configure()
    app()


if __name__ == "__main__":
    main()
