"""`moralbank bench scans` runs (a tiny smoke run over HTTP with wrk, not a timing)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ops.cli import app


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_bench_scans_smoke(pg_cluster: Any, tmp_path: Path) -> None:
    out = tmp_path / "scans.json"
    url = pg_cluster.create_database("bench_scans_smoke")
    result = CliRunner().invoke(
        app,
        ["bench", "scans", "--volunteers", "400", "--seconds", "1", "--clients", "8", "--threads", "1",
         "--no-references", "--database-url", url, "--open-rate", "40", "--open-seconds", "1", "--out", str(out)],
    )
    assert result.exit_code == 0, (result.output, result.exception)
    rows = json.loads(out.read_text())["rows"]
    assert [(r["build"], r["phase"]) for r in rows] == [("ours", "check-in"), ("ours", "check-out")]
    assert all(r["requests"] > 0 and r["errors"] == 0 for r in rows), rows
    # open loop: check-in and check-out at 25 % and 50 % of the given rate, each answered
    opened = json.loads(out.read_text())["meta"]["open_loop"]
    assert [(r["phase"], r["offered/s"]) for r in opened] == [
        ("check-in at 25%", 10.0), ("check-in at 50%", 20.0), ("check-out at 25%", 10.0), ("check-out at 50%", 20.0)
    ]
    assert all(r["errors"] == 0 and r["answered/s"] > 0 and r["p99 ms"] <= r["max ms"] for r in opened), opened
