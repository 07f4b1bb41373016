"""`moralbank bench redeem` runs (a tiny smoke run over HTTP with wrk, not a timing)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ops.cli import app


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_bench_redeem_smoke(database_url: str, tmp_path: Path) -> None:
    out = tmp_path / "redeem.json"
    result = CliRunner().invoke(
        app,
        [
            "bench", "redeem", "--seconds", "1", "--clients", "4", "--threads", "1", "--volunteers", "6", "--hot", "2",
            "--lines", "200", "--no-references", "--database-url", database_url, "--out", str(out),
            "--open-rate", "40", "--open-seconds", "1",
        ],
    )
    assert result.exit_code == 0, (result.output, result.exception)
    doc = json.loads(out.read_text())
    (ours,) = doc["rows"]
    assert ours["build"] == "ours" and ours["errors"] == 0 and ours["requests"] > 0
    assert doc["meta"]["verify_ok"] and doc["meta"]["redemptions_recorded"] >= ours["requests"]
    # open loop at 25 % and 50 % of the given rate: fresh pay codes, each answered
    opened = doc["meta"]["open_loop"]
    assert [(r["build"], r["offered/s"]) for r in opened] == [("ours", 10.0), ("ours", 20.0)]
    assert all(r["errors"] == 0 and r["answered/s"] > 0 for r in opened), opened
