"""`moralbank bench verify` runs (a tiny smoke run, not a timing)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ops.cli import app


def test_bench_verify_smoke(database_url: str, tmp_path: Path) -> None:
    out = tmp_path / "verify.json"
    result = CliRunner().invoke(
        app, ["bench", "verify", "--events", "500", "--database-url", database_url, "--json", str(out)]
    )
    assert result.exit_code == 0, (result.output, result.exception)
    doc = json.loads(out.read_text())
    rows = {r["what"]: r for r in doc["rows"]}
    # every stored event is read by the reference, checked by both verifies and exported
    assert {r["events"] for r in rows.values()} == {doc["meta"]["events"]}
    assert doc["meta"]["events"] > 500 and doc["meta"]["transactions"] >= 500
