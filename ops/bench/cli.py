"""The ``moralbank bench`` command group. Each benchmark module adds its command here."""

from __future__ import annotations

import typer

bench_app = typer.Typer(help="Benchmarks: our figure beside its references, in the same run.", no_args_is_help=True)
from ops.bench import leaderboards as _leaderboards  # noqa: E402,F401  (registers `bench leaderboards`)
from ops.bench import batch as _batch  # noqa: E402,F401  (registers `bench batch`)
from ops.bench import scans as _scans  # noqa: E402,F401  (registers `bench scans`)
from ops.bench import redeem as _redeem  # noqa: E402,F401  (registers `bench redeem`)
from ops.bench import verify as _verify  # noqa: E402,F401  (registers `bench verify`)
