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
    assert rows["leaderboards catch-up, 100 per txn"]["n"] == doc["meta"]["notifications"]
    assert doc["meta"]["board_rows"] > 0
    if doc["meta"]["store"] == "PostgreSQL":  # the floors: the same events decoded, the same rows written
        assert rows["floor: decode every posting in SQL, no writes"]["n"] == 300
        assert rows["floor: write lb_seg's final rows in bulk, indexes after"]["n"] > 0
