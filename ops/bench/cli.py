"""The ``moralbank bench`` command group: each benchmark module's command, added by name."""

from __future__ import annotations

import typer

from ops.bench.batch import bench_batch
from ops.bench.expiry import bench_expiry
from ops.bench.leaderboards import bench_leaderboards
from ops.bench.projections import bench_projections
from ops.bench.redeem import bench_redeem
from ops.bench.report_bench import bench_report
from ops.bench.ryw import bench_ryw
from ops.bench.scans import bench_scans
from ops.bench.soak import bench_soak
from ops.bench.verify import bench_verify

bench_app = typer.Typer(help="Benchmarks: our figure beside its references, in the same run.", no_args_is_help=True)
bench_app.command("leaderboards")(bench_leaderboards)
bench_app.command("projections")(bench_projections)
bench_app.command("batch")(bench_batch)
bench_app.command("scans")(bench_scans)
bench_app.command("redeem")(bench_redeem)
bench_app.command("verify")(bench_verify)
bench_app.command("ryw")(bench_ryw)
bench_app.command("expiry")(bench_expiry)
bench_app.command("report")(bench_report)
bench_app.command("soak")(bench_soak)
