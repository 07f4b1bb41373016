"""A short soak (the CI-sized run of ``moralbank bench soak``): serve with two workers, a
projection worker, a primary and a streaming standby, a mixed load while the three are killed and
started again; every 2xx is in the ledger exactly once and verify passes (the command fails
otherwise, and the JSON says why)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ops.pgcluster import PgCluster


@pytest.mark.slow
def test_a_short_soak_with_kills_keeps_every_answer_once(tmp_path: Path, pg_cluster: PgCluster) -> None:
    # pg_cluster: only to fail (with CI set) or skip where PostgreSQL is missing; the soak starts its own pair.
    out = tmp_path / "soak.json"
    cli = str(Path(sys.executable).with_name("moralbank"))
    run = subprocess.run(
        [cli, "bench", "soak", "--operations", "400", "--clients", "6", "--workers", "2", "--volunteers", "30",
         "--kill-every", "3", "--seed", "7", "--out", str(out)],
        capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    doc = json.loads(out.read_text())
    meta = doc["meta"]
    assert meta["operations"] == 400 and meta["no_answer"] == 0 and meta["verify_exit"] == 0
    assert sum(meta["kills"].values()) >= 1, meta["kills"]  # something was killed while clients waited
    checks = meta["checks"]
    assert checks["unexplained"] == {} and checks["missing_from_ledger"] == 0 and checks["answered_twice"] == 0
    assert checks["answered_2xx_transactions"] > 50 and checks["batches_finished_whole"] == checks["batches"]
    assert {row["kind"] for row in doc["rows"]} >= {"scan", "redeem", "credit", "read"}
