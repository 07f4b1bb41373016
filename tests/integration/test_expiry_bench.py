"""``moralbank bench expiry`` runs end to end on a small store: the UPDATE reference, the journal's
path and the set-based path in rounds, redemptions timed; every row has the same columns."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from ops.cli import app


def test_bench_expiry_smoke(pg_cluster: Any, tmp_path: Path) -> None:
    url = pg_cluster.create_database(f"bench_expiry_{uuid.uuid4().hex[:8]}")
    out = tmp_path / "expiry.json"
    result = CliRunner().invoke(app, [
        "bench", "expiry", "--lots", "1000", "--volunteers", "40", "--journal-lots", "200", "--rounds", "2",
        "--database-url", url, "--json", str(out),
    ])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    rows = {r["what"].split(":")[0].strip(): r for r in doc["rows"]}
    assert rows["journal's path (before)"]["lots"] == 200
    assert rows["set-based (after)"]["lots"] + 200 <= 1000 and rows["set-based (after)"]["lots"] > 500  # redemptions empty a few
    assert rows["set-based (after)"]["lock_held_max_ms"] is not None
    assert len({tuple(r) for r in doc["rows"]}) == 1  # one column set
    assert doc["meta"]["rounds"] == 2 and "load_1m" in doc["meta"]
