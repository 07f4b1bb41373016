"""`moralbank bench leaderboards` runs (a tiny smoke run, not a timing)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ops.cli import app


def test_bench_leaderboards_smoke(database_url: str, tmp_path: Path) -> None:
    out = tmp_path / "lb.json"
    result = CliRunner().invoke(
        app,
        [
            "bench", "leaderboards", "--events", "300", "--volunteers", "40", "--communities", "2", "--compounds", "2",
            "--buildings", "2", "--sample", "20", "--queries", "20", "--batch-size", "100",
            "--database-url", database_url, "--out", str(out),
        ],
    )
    assert result.exit_code == 0, (result.output, result.exception)
    doc = json.loads(out.read_text())
    rows = {r["what"]: r for r in doc["rows"]}
    assert rows["leaderboards catch-up from the postings table, 100 per txn"]["n"] == doc["meta"]["notifications"]
    assert doc["meta"]["board_rows"] > 0
    if doc["meta"]["store"] == "PostgreSQL":  # the floors: the same events decoded, the same rows written
        assert rows["before: catch-up decoding the events' JSON in SQL, 100 per txn"]["n"] == doc["meta"]["notifications"]
        assert rows["floor: decode every posting's JSON in SQL, no writes"]["n"] == 300
        assert rows["floor: read every postings row in SQL, no writes"]["n"] == 300
        assert rows["floor: write lb_seg's final rows in bulk, indexes after"]["n"] > 0


def test_bench_projections_smoke(database_url: str, tmp_path: Path) -> None:
    out = tmp_path / "proj.json"
    result = CliRunner().invoke(
        app,
        [
            "bench", "projections", "--events", "300", "--volunteers", "40", "--communities", "2", "--compounds", "2",
            "--buildings", "2", "--database-url", database_url, "--out", str(out),
        ],
    )
    assert result.exit_code == 0, (result.output, result.exception)
    doc = json.loads(out.read_text())
    rows = {r["what"]: r for r in doc["rows"]}
    for name in ("accounts", "alliance", "leaderboards", "directory", "attendance"):
        assert rows[f"{name} rebuilt from empty"]["n"] == doc["meta"]["notifications"]
    assert rows["  before: accounts on the old path"]["n"] == doc["meta"]["notifications"]
